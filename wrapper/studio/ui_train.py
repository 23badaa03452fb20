"""The Train page: dataset, base model, task, key params (preset) -> the config's YAML -> a train job ->
live curves, the gate's verdict; and a button for AutoTrain's own UI."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from wrapper import procs, settings
from wrapper.errors import AutoRerankError
from wrapper.leaderboard import figures, tables
from wrapper.leaderboard.ui import safe_chart
from wrapper.studio import data, jobs, training
from wrapper.studio.ui_common import current_job, guarded, job_header, job_log, live, show_error, stop_button

OTHER_MODEL = "other (a folder or Hub id)"
PARAM_LABELS = {"epochs": "Epochs", "lr": "Learning rate", "batch_size": "Batch size",
                "max_seq_length": "Max tokens", "max_steps": "Max steps (optional)",
                "num_train_epochs": "Epochs", "learning_rate": "Learning rate",
                "per_device_train_batch_size": "Batch size", "train_group_size": "Passages per query",
                "query_max_len": "Query max tokens", "passage_max_len": "Passage max tokens"}


def _choices() -> tuple[data.DatasetInfo, str, str] | None:
    prepared = [d for d in data.datasets() if not d.manifest.get("eval_only")]
    if not prepared:
        st.info("No prepared dataset yet: prepare one on the Data page first.", icon=":material/info:")
        st.page_link("studio_pages/data.py", label="Go to Data", icon=":material/dataset:")
        return None
    names = [str(d.path) for d in prepared]
    c1, c2, c3 = st.columns(3)
    picked = c1.selectbox("Prepared dataset", names, key="train_dataset", help="data/<name>/ written by prepare")
    dataset = prepared[names.index(picked)]
    options = [*training.BASE_MODEL_CHOICES, OTHER_MODEL]
    base = c2.selectbox("Base model", options, key="train_base",
                        help="bundled = all-MiniLM-L6-v2, shipped with autorerank (works offline); the BAAI / "
                             "maidalun1020 rerankers need the Hugging Face Hub")
    if base == OTHER_MODEL:
        base = c2.text_input("Model folder or Hub id", key="train_base_other").strip()
        if not base:
            return None
    recommended = guarded(_recommended, str(dataset.path), base)
    if recommended is None:
        return None
    tasks = [training.RECOMMENDED, *training.tasks()]
    task = c3.selectbox("Task", tasks, index=0, key="train_task",
                        help="; ".join(f"{p}* {t}" for p, t in training.TASK_HELP.items()))
    if task == training.RECOMMENDED:
        task = recommended[0]
        c3.caption(f"**{task}**: {recommended[1]}")
    else:
        c3.caption(training.task_help(task))
    return dataset, base, task


@st.cache_data(show_spinner="reading the base model ...")
def _recommended(dataset: str, base: str) -> tuple[str, str]:
    return training.recommended_task(dataset, base)


@st.cache_data(show_spinner="timing a few training steps on this machine ...")
def _sizing(dataset: str, base: str, task: str, params: tuple) -> list[str]:
    return training.sizing_lines(dataset, base_model=base, task=task, params=dict(params))


def _params(dataset: data.DatasetInfo, base: str, task: str) -> tuple[str, dict, bool] | None:
    preset = guarded(training.preset_params, base, task)
    if preset is None:
        return None
    st.caption(f"Preset **{preset.pop('preset')}** for {training.family(task)} training; change what you need.")
    key = f"{base}|{task}"
    shown = training.KEY_PARAMS[training.family(task)]
    cols = st.columns(len(shown))
    params = dict(preset)
    for col, name in zip(cols, shown):
        value = preset.get(name)
        label = PARAM_LABELS.get(name, name)
        if name in ("lr", "learning_rate"):
            params[name] = col.number_input(label, min_value=0.0, value=float(value), format="%.1e", step=1e-5,
                                            key=f"p_{name}|{key}")
        elif value is None or isinstance(value, int):
            params[name] = col.number_input(label, min_value=1, value=value, step=1, key=f"p_{name}|{key}",
                                            placeholder="no limit" if value is None else None)
        else:
            params[name] = col.number_input(label, value=float(value), key=f"p_{name}|{key}")
    c1, c2 = st.columns([2, 1])
    name = c1.text_input("Config name", value=training.config_name(dataset.path, base, task), key=f"train_name|{key}",
                         help="autotrain_configs/<name>.yml and the run id's suffix (letters, digits, hyphens)")
    general = c2.toggle("General-domain check", value=True, key="train_general",
                        help="after training, the gate also checks that the model did not forget general "
                             "ranking (the small English + Chinese set shipped with autorerank); off is faster")
    return name, params, general


def _launch(dataset: data.DatasetInfo, base: str, task: str, name: str, params: dict, general: bool,
            busy: bool) -> None:
    yaml_text = guarded(training.render_yaml, dataset.path, name=name, base_model=base, task=task, params=params)
    if yaml_text is None:
        return
    with st.expander(f"Config: autotrain_configs/{name}.yml (what `autorerank config` writes)", expanded=True):
        st.code(yaml_text, language="yaml")
    sizing = guarded(_sizing, str(dataset.path), base, task, tuple(sorted(
        (k, v) for k, v in params.items() if v is not None)))
    if sizing:
        st.markdown("**On this machine:**\n" + "\n".join(f"- {line}" for line in sizing))
    if st.button("Start training", key="start_train", type="primary", icon=":material/play_arrow:", disabled=busy,
                 help="writes the config, then runs `autorerank train` as a job (you can leave the page)"):
        try:
            config = training.write_config(dataset.path, name=name, base_model=base, task=task, params=params)
            run_id = training.new_run_id(name)
            job = jobs.start("train", training.train_argv(config, run_id, general=general),
                             meta={"run_id": run_id, "run_dir": str(settings.runs_dir() / run_id),
                                   "config": str(config)})
            st.session_state["train_job"] = job.id
            st.rerun()
        except AutoRerankError as exc:
            show_error(exc)


def run_panel(job: jobs.Job) -> None:
    """The watched run: state, steps, curves from metrics.jsonl, the gate's verdict (status.json)."""
    def body() -> bool:
        current = jobs.load(job.id) or job
        run = training.read_run(current.meta.get("run_dir", ""))
        job_header(current, f"training run {current.meta.get('run_id')}")
        if run is None:
            st.progress(0.0, text="starting (loading the model) ...")
        else:
            done, total = run.steps
            if run.state == "running":
                st.progress(min(1.0, (done or 0) / total) if total else 0.0,
                            text=f"step {done or 0} / {total or '?'}")
            elif run.state == "succeeded" and current.running and not run.gate:
                st.info("Training finished; the gate is comparing the fine-tune with its base model ...",
                        icon=":material/hourglass_top:")
            elif run.state in ("failed", "interrupted"):
                st.error(f"Run {run.state}: {run.status.get('cause') or jobs.error_text(current) or 'see the log'}")
            frame = tables.metrics_frame(run.metrics)
            if frame.empty:
                st.caption("no loss logged yet")
            else:
                safe_chart(figures.training_curve, frame)
            if run.gate:
                level, text = training.verdict_words(run.gate)
                getattr(st, level)(text)
        if current.state == "failed" and run is None:
            st.error(jobs.error_text(current) or "the job failed: see the log", icon=":material/error:")
        stop_button(current, "stop_train")
        job_log(current)
        return current.running

    live(body, running=job.running)


def _autotrain_ui(choice) -> None:
    st.subheader("AutoTrain's own UI")
    job = current_job("ui", "ui_job")
    url = f"http://{procs.LOCALHOST}:{procs.DEFAULT_UI_PORT}/"
    if job is not None and job.running:
        st.markdown(f"Running: [{url}]({url}) (offline mode without the Hub; see its log for the mode).")
        stop_button(job, "stop_ui")
    elif st.button("Start AutoTrain's UI", key="start_ui", icon=":material/open_in_new:",
                   help="`autorerank ui`: AutoTrain's web UI on 127.0.0.1:8080, for those who prefer it; for a "
                        "reranker base it opens on Text Regression with this dataset's pair CSVs"):
        reranker = choice is not None and choice[2] == "text_regression"
        job = jobs.start("ui", training.ui_argv(dataset_dir=choice[0].path if reranker else None,
                                                base_model=choice[1] if reranker else None))
        st.session_state["ui_job"] = job.id
        st.rerun()
    if job is not None and job.state != "running":
        st.caption(f"Last start: {job.state}")
        job_log(job)


def page_train() -> None:
    st.title(":material/model_training: Train")
    st.caption("Pick a prepared dataset, a base model and a task; check the config; train; watch the curves and "
               "the regression gate's verdict (`autorerank config` + `autorerank train`).")
    job = current_job("train", "train_job")
    choice = _choices()
    if choice is not None:
        dataset, base, task = choice
        picked = _params(dataset, base, task)
        if picked is not None:
            name, params, general = picked
            _launch(dataset, base, task, name, params, general, busy=job is not None and job.running)
    if job is not None:
        st.subheader("Training run")
        run_panel(job)
    if choice is not None:
        from wrapper.studio.ui_auto import auto_section

        auto_section(choice[0], choice[1], st.session_state.get("train_general", True))
    _autotrain_ui(choice)
    st.caption(f"configs: `{settings.configs_dir()}` · runs: `{Path(settings.runs_dir())}`")
