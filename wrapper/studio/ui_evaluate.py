"""The Evaluate page: runs or models x a prepared dataset's held-out split -> `autorerank eval` jobs -> results/."""

from __future__ import annotations

import streamlit as st

from wrapper import settings
from wrapper.dataset import Dataset
from wrapper.errors import AutoRerankError
from wrapper.studio import data, jobs, training
from wrapper.studio.ui_common import guarded, job_header, job_log, live, show_error, stop_button


def _results_for(models: list[str]) -> list[dict]:
    """Rows of results/ for these models (a run id matches `autorerank/<run-id>` and its base)."""
    from wrapper.leaderboard.loaders import load_results

    loaded = load_results(settings.results_dir())
    wanted = {f"autorerank/{m}" for m in models} | set(models) | {settings.BUNDLED_MODEL_ID if "bundled" in models else ""}
    bases = {row.get("base_model_name") for row in loaded.rows if row.get("model_name") in wanted}
    rows = []
    for row in loaded.rows:
        if row.get("model_name") in wanted or row.get("model_name") in bases:
            rows.append({"model": row["model_name"], "role": row.get("role"), "task": row["task"],
                         "split": row.get("split"), "MAP": row.get("map_at_1000"), "MRR@10": row.get("mrr_at_10"),
                         "nDCG@10": row.get("ndcg_at_10")})
    return sorted(rows, key=lambda r: (r["task"], r["role"] != "base", r["model"]))


def page_evaluate() -> None:
    st.title(":material/fact_check: Evaluate")
    st.caption("Score runs or models on a prepared dataset's held-out split with MTEB (`autorerank eval`). "
               "A run is evaluated with its base model, so the leaderboard shows the before and after.")
    models = training.model_choices()
    prepared = data.datasets()
    if not prepared:
        st.info("No prepared dataset yet: prepare one on the Data page first.", icon=":material/info:")
        return
    c1, c2, c3 = st.columns([2, 2, 1])
    chosen = c1.multiselect("Runs or models", models, default=models[:1], key="eval_models",
                            help="finished training runs (newest first) and the bundled model")
    other = c1.text_input("Or a model folder / Hub id", key="eval_other").strip()
    names = [str(d.path) for d in prepared]
    picked = c2.selectbox("Dataset", names, key="eval_dataset")
    dataset = prepared[names.index(picked)]
    splits = guarded(lambda p: Dataset.open(p).splits, dataset.path) or []
    split = c3.selectbox("Held-out split", splits, key="eval_split")
    with st.expander("Also built-in MTEB / C-MTEB tasks (optional)"):
        tasks = st.text_input("Tasks", key="eval_tasks", placeholder="T2Reranking, MMarcoReranking or cmteb-rerank",
                              help="comma-separated tasks or groups of `autorerank eval --list-tasks`; they need the "
                                   "Hugging Face Hub or local copies of the dataset repos")
        mteb_data = st.text_input("Local copies (folder)", key="eval_mteb_data",
                                  help="--mteb-data: a folder with DIR/<repo name>/README.md ... for offline use")
    targets = [*chosen, *([other] if other else [])]
    running = [j for j in jobs.history("eval") if j.running]
    if st.button("Evaluate", key="run_eval", type="primary", icon=":material/play_arrow:",
                 disabled=not targets or not split or bool(running),
                 help="one `autorerank eval` job per model; results land in results/ and on the leaderboard"):
        try:
            started = [jobs.start("eval", training.eval_argv(m, dataset.path, split, tasks=tasks,
                                                                      mteb_data=mteb_data),
                                  meta={"model": m, "dataset": str(dataset.path), "split": split}).id for m in targets]
            st.session_state["eval_jobs"] = started
            st.rerun()
        except AutoRerankError as exc:
            show_error(exc)
    watched = [j for j in (jobs.load(i) for i in st.session_state.get("eval_jobs", [])) if j is not None]
    if not watched:
        watched = running or jobs.history("eval")[:1]
    if watched:
        st.subheader("Evaluation jobs")
        ids = [j.id for j in watched]

        def body() -> bool:
            current = [jobs.load(i) for i in ids]
            for job in current:
                if job is None:
                    continue
                job_header(job, f"eval {job.meta.get('model')}")
                if job.running:
                    done = jobs.progress(job)
                    st.progress(done[1] if done else 0.0, text=f"{done[0]}: {done[1]:.0%}" if done else "loading ...")
                    stop_button(job, f"stop_eval_{job.id}")
                elif job.state == "failed":
                    st.error(jobs.error_text(job) or "evaluation failed: see the log", icon=":material/error:")
                job_log(job)
            return any(j is not None and j.running for j in current)

        live(body, running=any(j.running for j in watched))
        finished = [j.meta.get("model") for j in watched if j.state == "succeeded"]
        if finished:
            st.subheader("Results")
            st.dataframe(_results_for(finished), hide_index=True, width="stretch", key="eval_results")
            st.page_link("leaderboard_pages/overview.py", label="Open the leaderboard", icon=":material/leaderboard:")
