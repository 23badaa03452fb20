"""Streamlit wiring for the leaderboard pages (the only module here that imports Streamlit).

Pages in `dashboards/` call one `page_*` function each. Loading goes through
`st.cache_data` keyed on the folder path and the (path, mtime, size) fingerprint
of the files it reads, so an unchanged folder is not re-parsed and a new or
edited result file shows up on the next rerun.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable
from urllib.parse import quote

import streamlit as st

from wrapper import settings
from wrapper.leaderboard import figures, loaders, tables

EVAL_HINT = "autorerank eval <run-id>"


# ---------------------------------------------------------------------------
# cached pure loaders (keyed on path + file fingerprints)


@st.cache_data(show_spinner="Reading results…", max_entries=16)
def _results_cached(results_dir: str, fingerprint: tuple) -> loaders.LoadedResults:
    return loaders.load_results(results_dir)


@st.cache_data(show_spinner=False, max_entries=16)
def _runs_cached(runs_dir: str, fingerprint: tuple) -> loaders.LoadedRuns:
    return loaders.load_runs(runs_dir)


@st.cache_data(show_spinner=False, max_entries=4)
def _reference_cached(path: str, mtime_ns: int) -> tuple[list[dict], list[loaders.Problem]]:
    return loaders.load_reference(path)


@st.cache_data(show_spinner=False, max_entries=64)
def _metrics_cached(path: str, mtime_ns: int, size: int) -> tuple[list[dict], list[loaders.Problem]]:
    return loaders.load_metrics(path)


def _mtime(path: Path) -> tuple[int, int]:
    try:
        st_ = path.stat()
        return st_.st_mtime_ns, st_.st_size
    except OSError:
        return 0, 0


@dataclass
class Data:
    results_dir: Path
    runs_dir: Path
    results: loaders.LoadedResults
    runs: dict[str, loaders.RunInfo]
    reference: list[dict]
    problems: list[loaders.Problem] = field(default_factory=list)

    @property
    def has_results(self) -> bool:
        return bool(self.results.rows)


def load_data() -> Data:
    results_dir = settings.results_dir()
    runs_dir = settings.runs_dir()
    results = _results_cached(str(results_dir.resolve()), loaders.results_fingerprint(results_dir))
    runs = _runs_cached(str(runs_dir.resolve()), loaders.runs_fingerprint(runs_dir))
    ref_path = loaders.REFERENCE_CSV
    reference, ref_problems = _reference_cached(str(ref_path), _mtime(ref_path)[0])
    return Data(results_dir, runs_dir, results, runs.runs, reference, [*results.problems, *runs.problems, *ref_problems])


# ---------------------------------------------------------------------------
# shared widgets


def show_problems(problems: list[loaders.Problem], limit: int = 5) -> None:
    """One visible warning per skipped file (the first `limit`, the rest in an expander)."""
    for problem in problems[:limit]:
        st.warning(str(problem), icon=":material/warning:")
    if len(problems) > limit:
        with st.expander(f"{len(problems) - limit} more files had problems"):
            for problem in problems[limit:]:
                st.text(str(problem))


def safe_chart(build: Callable[..., Any], *args: Any, **kwargs: Any) -> bool:
    """Render an altair chart; on any error show "couldn't produce plot: <reason>" instead."""
    try:
        chart = build(*args, **kwargs)
        st.altair_chart(chart, width="content")
    except Exception as exc:  # a broken chart must never break the page
        st.warning(f"couldn't produce plot: {exc}")
        return False
    return True


def _keep(key: str) -> None:
    """Copy a widget's value to a plain session key so it survives page switches."""
    st.session_state[f"_kept_{key}"] = st.session_state[key]


def _kept(key: str, default: Any, allowed: list | None = None) -> Any:
    value = st.session_state.get(f"_kept_{key}", default)
    if allowed is not None:
        if isinstance(value, list):
            value = [v for v in value if v in allowed]
        elif value not in allowed:
            value = default
    return value


@dataclass
class View:
    """What the sidebar selected: the filtered long frame, the unfiltered one (for base lookups), the metric."""

    df: Any
    all: Any
    metric: str
    filters: tables.Filters


def sidebar(data: Data, *, with_filters: bool = True) -> View:
    """Metric switch, reference toggle and the filters."""
    sb = st.sidebar
    labels = list(loaders.METRICS.values())
    metric_label = sb.radio(
        "Metric", labels, index=labels.index(_kept("metric", labels[0], labels)), key="metric",
        on_change=_keep, args=("metric",), horizontal=True,
        help="main score = each task's own main metric (MAP for the C-MTEB reranking tasks)",
    )
    include_ref = sb.toggle(
        "Published reference rows", value=_kept("show_reference", True), key="show_reference",
        on_change=_keep, args=("show_reference",), help="C-MTEB MAP x100 published by the model authors",
    )
    df = everything = tables.combine(data.results, data.reference, include_reference=include_ref)
    filters = tables.Filters()
    if with_filters and not df.empty:
        opts = tables.filter_options(df)
        sb.markdown("**Filters**")
        names = {"tasks": "Task", "languages": "Language", "kinds": "Model kind", "base_models": "Base model", "datasets": "Dataset"}
        for attr, title in names.items():
            key = f"filter_{attr}"
            chosen = sb.multiselect(
                title, opts[attr], default=_kept(key, [], opts[attr]), key=key, on_change=_keep, args=(key,),
                placeholder="all",
            )
            setattr(filters, attr, chosen)
        df = tables.apply_filters(df, filters)
    sb.button("Reload results", icon=":material/refresh:", key="reload", width="stretch",
              help="re-read changed files (unchanged files come from the cache)")
    sb.caption(f"results: `{data.results_dir}`  \nruns: `{data.runs_dir}`")
    return View(df, everything, tables.metric_key(metric_label), filters)


def _no_results(data: Data) -> None:
    st.info(
        f"**No results yet**: run `{EVAL_HINT}` (or `autorerank demo`) to evaluate a model; "
        f"its scores appear here. Reading `{data.results_dir}`."
    )


# ---------------------------------------------------------------------------
# pages


def _page(title: str, with_filters: bool = True):
    """Every page's start: its title, the data, the sidebar's view and the problems found reading it."""
    st.title(title)
    data = load_data()
    view = sidebar(data, with_filters=with_filters)
    show_problems(data.problems)
    return data, view, view.df, view.metric


def page_leaderboard() -> None:
    data, view, df, metric = _page(":material/leaderboard: Reranker leaderboard")
    if not data.has_results:
        _no_results(data)
    label = loaders.METRICS[metric]
    st.caption(
        f"**{label}** x100 per task from the mteb result files · Rank: most tasks covered, then mean · "
        "Δ vs base: mean change against the model it was fine-tuned from · Gate: the run's regression-gate verdict"
    )
    table = tables.leaderboard_table(df, metric, data.runs, bases=view.all)
    if table.empty:
        if data.has_results:
            st.info("No rows match the filters.")
        return
    evaluated = table[table["Type"] != tables.ROLE_LABEL["reference"]]
    fine = evaluated[evaluated["Type"] == "fine-tune"]
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Models evaluated", len(evaluated))
    c2.metric("Tasks shown", len([c for c in table.columns if c not in tables.LEADERBOARD_FIXED]))
    gates = fine["Gate"].value_counts()
    c3.metric("Fine-tunes that passed the gate", f"{gates.get(tables.VERDICTS['improved'][0], 0)} / {len(fine)}")
    bad = sum(gates.get(tables.VERDICTS[v][0], 0) for v in tables.BAD_VERDICTS)
    c4.metric("Regressed or collapsed", int(bad), help="fine-tunes the regression gate rejected: never count them as wins")

    shown = table.assign(**{"Base model": table["Base model"].map(lambda name: name.split("/")[-1] if name else "")})
    shown.insert(2, "Details", [
        None if kind == tables.ROLE_LABEL["reference"] else f"model?model={quote(str(name), safe='')}"
        for name, kind in zip(table["Model"], table["Type"])
    ])
    st.dataframe(
        tables.style_leaderboard(shown),
        hide_index=True,
        width="stretch",
        column_config={
            "Rank": st.column_config.TextColumn("Rank", width=50),
            "Model": st.column_config.TextColumn("Model", width="large"),
            "Details": st.column_config.LinkColumn("Details", display_text="open", width=60,
                                                   help="evaluation details, run config and training curve"),
            "Type": st.column_config.TextColumn("Type", width=80),
            "Kind": st.column_config.TextColumn("Kind", width=100),
            "Base model": st.column_config.TextColumn("Base model", width=130, help="the model it was fine-tuned from"),
            "Gate": st.column_config.TextColumn("Gate", width=105, help="the run's regression-gate verdict (status.json)"),
            "Tasks": st.column_config.TextColumn("Tasks", width=55, help="tasks this model has scores for"),
            **{
                task: st.column_config.NumberColumn(task.removeprefix("AutoRerank-"), width=120, help=f"{task} ({label} x100)")
                for task in table.columns if task not in tables.LEADERBOARD_FIXED
            },
        },
    )
    st.download_button(
        "Download CSV", tables.to_csv_bytes(table), file_name=f"autorerank-leaderboard-{metric}.csv",
        mime="text/csv", key="download_csv", icon=":material/download:",
    )

    tab_tasks, tab_compare = st.tabs(["Per task", "Fine-tuned vs base"])
    with tab_tasks:
        safe_chart(figures.per_task_bars, df, metric)
    with tab_compare:
        safe_chart(figures.base_vs_finetuned, tables.compare_table(df, metric, data.runs, bases=view.all))


def page_compare() -> None:
    data, view, df, metric = _page(":material/compare_arrows: Fine-tuned vs base")
    if not data.has_results:
        _no_results(data)
        return
    compare = tables.compare_table(df, metric, data.runs, bases=view.all)
    st.caption(
        f"{loaders.METRICS[metric]} x100 of every fine-tune against its base model on the same task and split. "
        "Green = up, red = down; a run the regression gate marked regressed or collapsed is never shown as a success."
    )
    if compare.empty:
        st.info("No fine-tune has its base model evaluated on the same task yet: evaluate both with `autorerank eval`.")
        return
    safe_chart(figures.base_vs_finetuned, compare)
    shown = compare.assign(**{"Base model": compare["Base model"].map(lambda name: str(name).split("/")[-1])})
    st.dataframe(
        tables.style_compare(shown), hide_index=True, width="stretch",
        column_config={
            "Model": st.column_config.TextColumn("Model", width=300),
            "Task": st.column_config.TextColumn("Task", width=200),
            "Base model": st.column_config.TextColumn("Base model", width=130),
            "Gate": st.column_config.TextColumn("Gate", width=105),
            "Δ": st.column_config.NumberColumn("Δ", width=70, help="fine-tuned minus base, x100"),
        },
    )
    st.download_button(
        "Download CSV", tables.to_csv_bytes(compare.drop(columns=["success"])),
        file_name=f"autorerank-vs-base-{metric}.csv", mime="text/csv", key="download_compare_csv", icon=":material/download:",
    )
    gates = []
    for model in compare["Model"].unique():
        row = df[df["model_label"] == model].iloc[0].to_dict()
        run = tables.run_for(row, data.runs)
        gate = run.gate if run else {}
        gates.append({
            "Model": model, "Gate": tables.gate_label(gate.get("verdict") if gate else None),
            "Gate metric": gate.get("metric", ""), "Base": gate.get("base"), "Fine-tuned": gate.get("fine_tuned"),
            **tables.gate_summary(gate),
            "Spread": gate.get("spread"), "Advice": gate.get("advice", "" if run else "no run folder found for this model"),
        })
    st.subheader("Regression gate (from each run's status.json)")
    st.dataframe(
        tables.style_gates(gates), hide_index=True, width="stretch",
        column_config={
            "Model": st.column_config.TextColumn("Model", width="large"),
            **{c: st.column_config.NumberColumn(c, format="%.4f", width=90) for c in ("Base", "Fine-tuned", "Spread")},
            "Advice": st.column_config.TextColumn("Advice", width="large"),
        },
    )
    from wrapper.leaderboard.auto import auto_table

    trials = auto_table(data.runs)
    if not trials.empty:
        st.subheader("Auto runs: the trials of each search, best selection MAP first")
        st.dataframe(trials, hide_index=True, width="stretch", key="auto_trials",
                     column_config={"Selection MAP": st.column_config.NumberColumn(format="%.4f")})


def page_model() -> None:
    data, view, df, metric = _page(":material/search_insights: Model details", with_filters=False)
    if not data.has_results:
        _no_results(data)
        return
    evaluated = df[~df["is_reference"].astype(bool)]
    models = sorted(evaluated["model_label"].unique(), key=lambda m: (not m.startswith("autorerank/"), m))
    wanted = st.query_params.get("model")
    index = models.index(wanted) if wanted in models else 0
    model = st.selectbox("Model", models, index=index, key="model_select")
    st.query_params["model"] = model
    rows = evaluated[evaluated["model_label"] == model]
    first = rows.iloc[0].to_dict()
    run = tables.run_for(first, data.runs)
    verdict = run.verdict if run else None
    role = first["role"]

    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Kind", first["kind"])
    c2.metric("Role", role)
    c3.metric(f"Mean {loaders.METRICS[metric]}", f"{rows[metric].mean() * 100:.2f}" if rows[metric].notna().any() else "–")
    if role == "fine-tune":
        c4.metric("Gate", tables.gate_label(verdict))
        st.caption(f"Fine-tuned from `{first['base_model_name']}` @ `{first['base_model_revision'] or '?'}`")

    st.subheader("Evaluation")
    st.dataframe(
        tables.evaluation_details(evaluated, model), hide_index=True, width="stretch",
        column_config={c: st.column_config.NumberColumn(c, format="%.2f") for c in ("main", "MAP", "MRR@10", "NDCG@10")},
    )

    if role != "fine-tune":
        meta = data.results.meta.get((first["model_name"], first["revision"]))
        if meta:
            with st.expander("autorerank/metadata.json"):
                st.json(meta)
        return
    st.subheader("Training run")
    if run is None:
        st.info(f"No run folder `{first['run_id']}` under `{data.runs_dir}`: training details are unavailable.")
        return
    status = run.status
    gate = run.gate
    if gate:
        def num(key: str, fmt: str = ".4f") -> str:
            value = gate.get(key)
            return format(value, fmt) if isinstance(value, (int, float)) else "?"

        summary = tables.gate_summary(gate)
        text = (f"**Gate: {tables.gate_label(verdict)}** on `{gate.get('metric')}`: base {num('base')} → "
                f"fine-tuned {num('fine_tuned')} (Δ [95% CI] {summary['In-domain Δ [95% CI]']}, "
                f"score spread {num('spread')}).  \n"
                f"General domain: {summary['General Δ [95% CI]']}.  \n"
                f"{gate.get('advice') or ''}")
        (st.success if verdict == "improved" else st.error if verdict in tables.BAD_VERDICTS else st.warning)(text)
    facts = {k: status.get(k) for k in ("run_id", "state", "backend", "task", "kind", "base_model", "dataset",
                                        "created_at", "started_at", "ended_at", "exit_code", "cause", "model")}
    steps = status.get("steps") or {}
    facts["steps"] = f"{steps.get('done', '?')} / {steps.get('total', '?')}" if isinstance(steps, dict) else str(steps)
    left, right = st.columns([2, 3])
    with left:
        st.markdown("**status.json**")
        st.dataframe(
            [{"field": k, "value": "" if v is None else str(v)} for k, v in facts.items()],
            hide_index=True, width="stretch",
        )
    with right:
        st.markdown("**config.yml** (as run)")
        st.code(run.config_text or "# config.yml missing", language="yaml")
    st.markdown("**Training curve** (`metrics.jsonl`)")
    metrics_path = Path(run.path) / "metrics.jsonl"
    records, problems = _metrics_cached(str(metrics_path), *_mtime(metrics_path))
    show_problems(problems)
    safe_chart(figures.training_curve, tables.metrics_frame(records))
