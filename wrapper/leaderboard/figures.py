"""Pure figure building (altair). Each builder returns a chart or raises ValueError
with a reason the page shows as "couldn't produce plot: <reason>".
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wrapper.leaderboard.loaders import METRICS
from wrapper.leaderboard.tables import AMBER, GREEN, GREY, NOT_GATED, RED, ROLE_LABEL, VERDICTS, metric_key

if TYPE_CHECKING:
    import altair as alt
    import pandas as pd

ROLE_COLOURS = {
    "fine-tune": "#0969da",
    "base": "#8c959f",
    "external": "#bf8700",
    ROLE_LABEL["reference"]: "#d0d7de",
}
GATE_COLOURS = {
    VERDICTS["improved"][0]: GREEN,
    VERDICTS["no_better"][0]: AMBER,
    VERDICTS["regressed"][0]: RED,
    VERDICTS["collapsed"][0]: "#82071e",
    VERDICTS["inconclusive"][0]: GREY,
    NOT_GATED: GREY,
}


def per_task_bars(df: "pd.DataFrame", metric: str = "main_score", *, max_models: int = 25) -> "alt.Chart":
    """One small bar chart per task: models sorted by score, coloured by type (fine-tune/base/...)."""
    import altair as alt

    metric = metric_key(metric)
    data = df[df[metric].notna()] if not df.empty else df
    if data.empty:
        raise ValueError(f"no {METRICS[metric]} scores to plot for the current filters")
    data = data.assign(
        score=(data[metric].astype(float) * 100).round(2),
        type=data["role"].map(lambda r: ROLE_LABEL.get(r, r)),
    )[["model_label", "task_label", "score", "type", "kind"]]
    top = data.groupby("model_label")["score"].mean().nlargest(max_models).index
    data = data[data["model_label"].isin(top)]
    label = f"{METRICS[metric]} x100"
    colours = alt.Scale(domain=list(ROLE_COLOURS), range=list(ROLE_COLOURS.values()))
    n_models = data["model_label"].nunique()
    base = alt.Chart(data).encode(
        y=alt.Y("model_label:N", sort="-x", title=None, axis=alt.Axis(labelLimit=230)),
        x=alt.X("score:Q", title=label, scale=alt.Scale(domain=[0, 100])),
    )
    bars = base.mark_bar(cornerRadiusEnd=3).encode(
        color=alt.Color("type:N", scale=colours, legend=alt.Legend(title="type", orient="top")),
        tooltip=["model_label", "task_label", "kind", "type", alt.Tooltip("score:Q", format=".2f")],
    )
    text = base.mark_text(align="left", dx=3, fontSize=11).encode(text=alt.Text("score:Q", format=".1f"))
    return (
        (bars + text)
        .properties(width=250, height=max(60, 22 * n_models))
        .facet(facet=alt.Facet("task_label:N", title=None, header=alt.Header(labelFontWeight="bold", labelFontSize=13)), columns=2)
        .resolve_scale(y="independent")
    )


def base_vs_finetuned(compare: "pd.DataFrame", *, width: int = 560) -> "alt.Chart":
    """Dumbbell chart per task: base score (grey dot) -> fine-tuned score (dot coloured by the gate verdict)."""
    import altair as alt
    import pandas as pd

    if compare.empty:
        raise ValueError("no fine-tune has its base model evaluated on the same task yet")
    cols = ["Model", "Task", "Δ", "Gate", "Base model"]
    points = pd.concat(
        [
            compare[cols].assign(which="base", score=compare["Base"], colour_key="base"),
            compare[cols].assign(which="fine-tuned", score=compare["Fine-tuned"], colour_key=compare["Gate"]),
        ],
        ignore_index=True,
    )
    colours = alt.Scale(domain=["base", *GATE_COLOURS], range=["#8c959f", *GATE_COLOURS.values()])
    legend = alt.Legend(title="base / gate verdict", orient="right")
    y = alt.Y("Model:N", title=None, axis=alt.Axis(labelLimit=320))
    base = alt.Chart(points)
    rule = base.mark_rule(strokeWidth=3, opacity=0.45).encode(
        y=y, x=alt.X("min(score):Q", title="score x100", scale=alt.Scale(zero=False, nice=True)), x2="max(score):Q",
        color=alt.Color("Gate:N", scale=colours, legend=legend),
    )
    dots = base.mark_circle(size=150, opacity=1).encode(
        y=y,
        x=alt.X("score:Q"),
        color=alt.Color("colour_key:N", scale=colours, legend=legend),
        tooltip=["Model", "Task", "which", alt.Tooltip("score:Q", format=".2f"), alt.Tooltip("Δ:Q", format="+.2f"), "Gate", "Base model"],
    )
    return (
        alt.layer(rule, dots)
        .properties(width=width, height=alt.Step(28))
        .facet(facet=alt.Facet("Task:N", title=None, header=alt.Header(labelFontWeight="bold", labelFontSize=13, labelAnchor="start")), columns=1)
        .resolve_scale(y="independent")
    )


def training_curve(frame: "pd.DataFrame") -> "alt.Chart":
    """Loss, learning rate and eval_* metrics against the step, one panel each."""
    import altair as alt

    if frame.empty:
        raise ValueError("metrics.jsonl has no logged loss / learning_rate / eval_* values")
    order = ["loss", "learning_rate"] + sorted(s for s in frame["series"].unique() if s not in ("loss", "learning_rate"))
    order = [s for s in order if s in set(frame["series"])]
    line = (
        alt.Chart(frame)
        .mark_line(point=True)
        .encode(
            x=alt.X("step:Q", title="step"),
            y=alt.Y("value:Q", title=None, scale=alt.Scale(zero=False)),
            color=alt.Color("series:N", legend=None),
            tooltip=["series", "step", "epoch", alt.Tooltip("value:Q", format=".4g")],
        )
        .properties(width=230, height=160)
    )
    return line.facet(facet=alt.Facet("series:N", sort=order, title=None), columns=3).resolve_scale(y="independent")
