"""Pure table building: filters, the models x tasks leaderboard, fine-tune vs base deltas.

Input is the long frame from `loaders` (one row per model x revision x task x
split, scores on mteb's 0-1 scale). Tables shown to users carry scores x100
(the C-MTEB convention) rounded to 2 decimals.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from wrapper.leaderboard.loaders import METRICS, ROW_COLUMNS, LoadedResults, RunInfo

if TYPE_CHECKING:
    import pandas as pd

#: gate verdict -> (label shown, is it a success)
VERDICTS: dict[str, tuple[str, bool]] = {
    "improved": ("▲ improved", True),
    "forgot": ("⚠ forgot", False),
    "no_better": ("= no better", False),
    "regressed": ("▼ regressed", False),
    "collapsed": ("✖ collapsed", False),
    "inconclusive": ("? inconclusive", False),
}
NOT_GATED = "· not gated"
BAD_VERDICTS = frozenset({"regressed", "collapsed", "forgot"})
#: verdicts under which a positive delta is not shown as a gain
UNTRUSTED_VERDICTS = BAD_VERDICTS | {"inconclusive"}

GREEN, RED, AMBER, GREY = "#1a7f37", "#cf222e", "#9a6700", "#6e7781"
GREEN_BG, RED_BG, AMBER_BG = "#dafbe1", "#ffebe9", "#fff8c5"

#: the leaderboard's non-task columns
LEADERBOARD_FIXED = ("Rank", "Model", "Type", "Kind", "Base model", "Gate", "Mean", "Δ vs base", "Tasks")
ROLE_ORDER = {"fine-tune": 0, "base": 1, "external": 2, "reference": 3}
ROLE_LABEL = {"fine-tune": "fine-tune", "base": "base", "external": "external", "reference": "reference"}


def metric_key(label_or_key: str) -> str:
    """'MAP' or 'map_at_1000' -> 'map_at_1000' (raises ValueError naming the choices)."""
    if label_or_key in METRICS:
        return label_or_key
    for key, label in METRICS.items():
        if label == label_or_key:
            return key
    raise ValueError(f"unknown metric {label_or_key!r}; choose one of {list(METRICS.values())}")


def combine(results: LoadedResults, reference_rows: Iterable[dict] = (), *, include_reference: bool = True) -> "pd.DataFrame":
    """The long frame of evaluated rows (+ reference rows), with `model_label` and `task_label`."""
    import pandas as pd

    rows = list(results.rows) + (list(reference_rows) if include_reference else [])
    df = pd.DataFrame(rows, columns=ROW_COLUMNS)
    return add_labels(df)


def add_labels(df: "pd.DataFrame") -> "pd.DataFrame":
    import pandas as pd

    df = df.copy()
    if df.empty:
        df["model_label"] = pd.Series(dtype=object)
        df["task_label"] = pd.Series(dtype=object)
        return df
    revs = df.groupby("model_name")["revision"].nunique()
    multi = set(revs[revs > 1].index)
    df["model_label"] = [
        f"{name} @ {str(rev)[:8]}" if name in multi else name for name, rev in zip(df["model_name"], df["revision"])
    ]
    splits = df.groupby("task")["split"].nunique()
    multi_split = set(splits[splits > 1].index)
    df["task_label"] = [f"{t} [{s}]" if t in multi_split else t for t, s in zip(df["task"], df["split"])]
    return df


# ---------------------------------------------------------------------------
# filters


@dataclass
class Filters:
    """Empty list = no filter on that facet."""

    tasks: list[str] = field(default_factory=list)
    languages: list[str] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    base_models: list[str] = field(default_factory=list)
    datasets: list[str] = field(default_factory=list)


def family(row: Mapping[str, Any]) -> str:
    """The base model a row belongs to: its base for a fine-tune, else itself."""
    base = row.get("base_model_name")
    return str(base) if isinstance(base, str) and base else str(row.get("model_name"))


def filter_options(df: "pd.DataFrame") -> dict[str, list[str]]:
    if df.empty:
        return {"tasks": [], "languages": [], "kinds": [], "base_models": [], "datasets": []}
    langs = sorted({lang for ls in df["languages"] for lang in (ls or [])})
    return {
        "tasks": sorted(df["task_label"].unique()),
        "languages": langs,
        "kinds": sorted(df["kind"].dropna().unique()),
        "base_models": sorted({family(r) for r in df[["model_name", "base_model_name"]].to_dict("records")}),
        "datasets": sorted(df["dataset"].dropna().astype(str).unique()),
    }


def apply_filters(df: "pd.DataFrame", filters: Filters) -> "pd.DataFrame":
    if df.empty:
        return df
    mask = df["model_name"].notna()
    if filters.tasks:
        mask &= df["task_label"].isin(filters.tasks)
    if filters.languages:
        wanted = set(filters.languages)
        mask &= df["languages"].map(lambda ls: bool(wanted.intersection(ls or [])))
    if filters.kinds:
        mask &= df["kind"].isin(filters.kinds)
    if filters.base_models:
        fam = df["base_model_name"].fillna(df["model_name"])
        mask &= fam.isin(filters.base_models)
    if filters.datasets:
        mask &= df["dataset"].astype(str).isin(filters.datasets)
    return df[mask]


# ---------------------------------------------------------------------------
# gate verdicts


def run_for(row: Mapping[str, Any], runs: Mapping[str, RunInfo]) -> RunInfo | None:
    run_id = row.get("run_id")
    return runs.get(str(run_id)) if run_id else None


def verdict_for(row: Mapping[str, Any], runs: Mapping[str, RunInfo]) -> str | None:
    """The regression gate's verdict from the model's run status.json (None: no gate)."""
    run = run_for(row, runs)
    return run.verdict if run else None


def gate_label(verdict: str | None, role: str | None = "fine-tune") -> str:
    if role != "fine-tune":
        return ""
    if verdict is None:
        return NOT_GATED
    return VERDICTS.get(verdict, (f"? {verdict}", False))[0]


def _x100(value: Any) -> float:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return float("nan")
    return round(float(value) * 100.0, 2)


# ---------------------------------------------------------------------------
# leaderboard (models x tasks)


def leaderboard_table(
    df: "pd.DataFrame", metric: str = "main_score", runs: Mapping[str, RunInfo] | None = None,
    bases: "pd.DataFrame | None" = None,
) -> "pd.DataFrame":
    """One row per model: rank, model, gate, mean, delta vs base, one column per task, type, kind, base.

    Rank orders evaluated models by the number of shown tasks they cover, then by
    the mean over those tasks; published reference rows are listed after them,
    unranked. Scores are x100. `bases` is where base-model scores are looked up
    for "Δ vs base" (default `df`; pass the unfiltered frame so that filtering on
    e.g. cross-encoders still compares them with their bi-encoder base).
    """
    import pandas as pd

    metric = metric_key(metric)
    runs = runs or {}
    columns = list(LEADERBOARD_FIXED)
    scored = df[df[metric].notna()] if not df.empty else df
    if scored.empty:
        return pd.DataFrame(columns=columns)
    tasks = sorted(scored["task_label"].unique())
    pivot = scored.pivot_table(index="model_label", columns="task_label", values=metric, aggfunc="mean")
    firsts = scored.drop_duplicates("model_label").set_index("model_label")
    deltas = compare_table(df, metric, runs, bases=bases)
    mean_delta = deltas.groupby("Model")["Δ"].mean() if not deltas.empty else pd.Series(dtype=float)

    info = firsts.reindex(pivot.index)
    roles = info["role"].astype(object)
    verdicts = {label: verdict_for({"run_id": rid}, runs) for label, rid in info["run_id"].items() if isinstance(rid, str)}
    counts = pivot.notna().sum(axis=1)
    table = pd.DataFrame(
        {
            "Model": pivot.index,
            "Type": [ROLE_LABEL.get(r, r) for r in roles],
            "Kind": info["kind"].to_numpy(),
            "Base model": [b if isinstance(b, str) else "" for b in info["base_model_name"]],
            "Gate": [gate_label(verdicts.get(label), role) for label, role in zip(pivot.index, roles)],
            "Mean": (pivot.mean(axis=1) * 100).round(2).to_numpy(),
            "Δ vs base": mean_delta.reindex(pivot.index).round(2).to_numpy(),
            "Tasks": [f"{c}/{len(tasks)}" for c in counts],
            "_n": counts.to_numpy(),
            "_ref": info["is_reference"].astype(bool).to_numpy(),
            "_role": [ROLE_ORDER.get(r, 9) for r in roles],
        }
    )
    for task in tasks:
        table[task] = (pivot[task] * 100).round(2).to_numpy()
    table = table.sort_values(["_ref", "_n", "Mean", "_role", "Model"], ascending=[True, False, False, True, True], na_position="last")
    ranks, n = [], 0
    for is_ref in table["_ref"]:
        if is_ref:
            ranks.append("—")
        else:
            n += 1
            ranks.append(str(n))
    table.insert(0, "Rank", ranks)
    table = table.drop(columns=["_n", "_ref", "_role"]).reset_index(drop=True)
    return table[["Rank", "Model", "Gate", "Mean", "Δ vs base", *tasks, "Type", "Kind", "Base model", "Tasks"]]


# ---------------------------------------------------------------------------
# fine-tune vs base


def compare_table(
    df: "pd.DataFrame", metric: str = "main_score", runs: Mapping[str, RunInfo] | None = None,
    bases: "pd.DataFrame | None" = None,
) -> "pd.DataFrame":
    """One row per fine-tune x task that has its base evaluated on the same task/split.

    The base is the row of `base_model_name` at `base_model_revision` (any
    revision of it when that one was not evaluated). Columns: Model, Task, Base
    model, Base, Fine-tuned, Δ (x100), Gate, verdict, success. `success` is True
    only when the gate said "improved" (never for regressed/collapsed, whatever
    the delta on a single task). Bases are looked up in `bases` (default `df`).
    """
    import pandas as pd

    metric = metric_key(metric)
    runs = runs or {}
    columns = ["Model", "Task", "Base model", "Base", "Fine-tuned", "Δ", "Gate", "verdict", "success", "Kind"]
    if df.empty:
        return pd.DataFrame(columns=columns)
    ft = df[(df["role"] == "fine-tune") & df["base_model_name"].notna() & df[metric].notna()]
    pool = df if bases is None or bases.empty else bases
    bases = pool[~pool["is_reference"].astype(bool) & pool[metric].notna()]
    if ft.empty or bases.empty:
        return pd.DataFrame(columns=columns)
    keys = ["task", "split"]
    exact = bases[["model_name", "revision", *keys, metric]].drop_duplicates(["model_name", "revision", *keys]).rename(
        columns={"model_name": "base_model_name", "revision": "base_model_revision", metric: "_exact"}
    )
    anyrev = bases[["model_name", *keys, metric]].drop_duplicates(["model_name", *keys]).rename(
        columns={"model_name": "base_model_name", metric: "_any"}
    )
    left = ft[["model_label", "task_label", "base_model_name", "base_model_revision", "run_id", "kind", *keys, metric]]
    merged = left.merge(exact, on=["base_model_name", "base_model_revision", *keys], how="left").merge(
        anyrev, on=["base_model_name", *keys], how="left"
    )
    merged["_base"] = merged["_exact"].astype(float).fillna(merged["_any"].astype(float))
    merged = merged[merged["_base"].notna()]
    if merged.empty:
        return pd.DataFrame(columns=columns)
    verdicts = [verdict_for({"run_id": rid}, runs) if isinstance(rid, str) else None for rid in merged["run_id"]]
    ft_scores = merged[metric].astype(float)
    return pd.DataFrame(
        {
            "Model": merged["model_label"].to_numpy(),
            "Task": merged["task_label"].to_numpy(),
            "Base model": merged["base_model_name"].to_numpy(),
            "Base": (merged["_base"] * 100).round(2).to_numpy(),
            "Fine-tuned": (ft_scores * 100).round(2).to_numpy(),
            "Δ": ((ft_scores - merged["_base"]) * 100).round(2).to_numpy(),
            "Gate": [gate_label(v) for v in verdicts],
            "verdict": verdicts,
            "success": [v == "improved" for v in verdicts],
            "Kind": merged["kind"].to_numpy(),
        },
        columns=columns,
    )


# ---------------------------------------------------------------------------
# colours (pandas Styler, rendered by st.dataframe)


def delta_colour(delta: Any, verdict: str | None) -> str:
    """CSS for a delta cell: green up, red down; never green for a regressed/collapsed/inconclusive run."""
    if delta is None or (isinstance(delta, float) and math.isnan(delta)):
        return ""
    if verdict in UNTRUSTED_VERDICTS:
        return f"color: {RED}; font-weight: 600" if delta < 0 else f"color: {GREY}"
    if delta > 0:
        return f"color: {GREEN}; font-weight: 600"
    if delta < 0:
        return f"color: {RED}; font-weight: 600"
    return f"color: {GREY}"


def gate_colour(label: str) -> str:
    if not isinstance(label, str) or not label:
        return ""
    if label == VERDICTS["improved"][0]:
        return f"background-color: {GREEN_BG}; color: {GREEN}"
    if label in (VERDICTS["regressed"][0], VERDICTS["collapsed"][0], VERDICTS["forgot"][0]):
        return f"background-color: {RED_BG}; color: {RED}; font-weight: 600"
    if label == VERDICTS["no_better"][0]:
        return f"background-color: {AMBER_BG}; color: {AMBER}"
    return f"color: {GREY}"


def _fmt_delta(delta: Any, ci: Any) -> str:
    if not isinstance(delta, (int, float)):
        return ""
    text = f"{delta:+.4f}"
    if isinstance(ci, (list, tuple)) and len(ci) == 2 and all(isinstance(x, (int, float)) for x in ci):
        text += f" [{ci[0]:+.4f}, {ci[1]:+.4f}]"
    return text


def gate_summary(gate: Mapping[str, Any] | None) -> dict[str, str]:
    """A stored gate verdict as display strings: in-domain Δ and the general sets' Δ, each with its
    95% interval, side by side (pure; the worst general set first)."""
    gate = gate or {}
    general = [g for g in gate.get("general") or [] if isinstance(g, Mapping)]
    scored = sorted((g for g in general if isinstance(g.get("delta"), (int, float))), key=lambda g: g["delta"])
    rest = [g for g in general if not isinstance(g.get("delta"), (int, float))]
    parts = [f"{g.get('name')}: {_fmt_delta(g['delta'], g.get('ci'))} {g.get('verdict', '')}".strip() for g in scored]
    parts += [f"{g.get('name')}: {g.get('verdict', '?')}" for g in rest]
    return {
        "In-domain Δ [95% CI]": _fmt_delta(gate.get("delta"), gate.get("ci")),
        "General Δ [95% CI]": "; ".join(parts) if parts else ("not checked" if gate else ""),
    }


def _label_to_verdict(label: str) -> str | None:
    for verdict, (text, _) in VERDICTS.items():
        if text == label:
            return verdict
    return None


def style_leaderboard(table: "pd.DataFrame"):
    """A Styler: coloured gate and delta cells, 2-decimal scores, reference rows greyed."""
    score_cols = [c for c in table.select_dtypes("number").columns if c != "Δ vs base"]

    def row_style(row):
        styles = [""] * len(row)
        if row.get("Type") == ROLE_LABEL["reference"]:
            styles = [f"color: {GREY}; font-style: italic"] * len(row)
        cols = list(row.index)
        if "Gate" in cols:
            styles[cols.index("Gate")] = gate_colour(row["Gate"])
        if "Δ vs base" in cols:
            styles[cols.index("Δ vs base")] = delta_colour(row["Δ vs base"], _label_to_verdict(row.get("Gate", "")))
        return styles

    return table.style.apply(row_style, axis=1).format("{:.2f}", subset=score_cols, na_rep="–").format(
        "{:+.2f}", subset=[c for c in ("Δ vs base",) if c in table.columns], na_rep="–"
    )


def style_compare(table: "pd.DataFrame"):
    shown = table.drop(columns=["verdict", "success"])

    def row_style(row):
        verdict = table.loc[row.name, "verdict"]
        cols = list(row.index)
        styles = [""] * len(row)
        styles[cols.index("Δ")] = delta_colour(row["Δ"], verdict)
        styles[cols.index("Gate")] = gate_colour(row["Gate"])
        return styles

    return shown.style.apply(row_style, axis=1).format("{:.2f}", subset=["Base", "Fine-tuned"], na_rep="–").format(
        "{:+.2f}", subset=["Δ"], na_rep="–"
    )


def style_gates(gates: list[dict]):
    """The per-run gate table, gate cell coloured."""
    import pandas as pd

    frame = pd.DataFrame(gates)
    if frame.empty:
        return frame.style
    return frame.style.map(gate_colour, subset=["Gate"])


def to_csv_bytes(table: "pd.DataFrame") -> bytes:
    return table.to_csv(index=False).encode("utf-8")


# ---------------------------------------------------------------------------
# drill-down


def evaluation_details(df: "pd.DataFrame", model_label: str) -> "pd.DataFrame":
    """Per task of one model: all three metrics (x100) and how it was evaluated."""
    import pandas as pd

    sub = df[df["model_label"] == model_label]
    cols = {
        "task_label": "Task", "split": "Split", "main_score_name": "Main score",
        "main_score": "main", "map_at_1000": "MAP", "mrr_at_10": "MRR@10", "ndcg_at_10": "NDCG@10",
        "dataset": "Dataset", "dataset_hash": "Dataset hash", "languages": "Languages",
        "mteb_version": "mteb", "precision": "Precision", "batch_size": "Batch size",
        "wall_time_s": "Wall time (s)", "evaluated_at": "Evaluated at", "path": "File",
    }
    out = sub[list(cols)].rename(columns=cols).copy()
    for c in ("main", "MAP", "MRR@10", "NDCG@10"):
        out[c] = out[c].map(_x100)
    out["Languages"] = out["Languages"].map(lambda ls: ", ".join(ls or []))
    out["Dataset hash"] = out["Dataset hash"].map(lambda h: str(h)[:12] if isinstance(h, str) else "")
    return pd.DataFrame(out).reset_index(drop=True)


def metrics_frame(records: list[dict]) -> "pd.DataFrame":
    """Long frame (step, series, value) of loss / learning_rate / eval_* from metrics.jsonl records."""
    import pandas as pd

    out = []
    for i, rec in enumerate(records):
        step = rec.get("step", i)
        for key, value in rec.items():
            if key in ("step", "epoch") or isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            if key == "loss" or key == "learning_rate" or key.startswith("eval_"):
                if isinstance(value, float) and math.isnan(value):
                    continue
                out.append({"step": step, "epoch": rec.get("epoch"), "series": key, "value": float(value)})
    return pd.DataFrame(out, columns=["step", "epoch", "series", "value"])
