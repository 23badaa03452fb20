"""The Playground: a query and candidate passages, ranked by the base and one or two fine-tunes side by side."""

from __future__ import annotations

import re

import streamlit as st

from wrapper import settings
from wrapper.dataset import Dataset
from wrapper.errors import AutoRerankError
from wrapper.studio import data, playground, training
from wrapper.studio.ui_common import guarded, show_error


@st.cache_resource(show_spinner="Loading the model ...", max_entries=4)
def _scorer(model: str, runs_dir: str):
    """A loaded model (kept across reruns and pages; one per model)."""
    from wrapper.serve.scorer import load_scorer

    return load_scorer(model, precision="fp32", runs=runs_dir)


def _held_out_picker() -> None:
    prepared = data.datasets()
    if not prepared:
        st.caption("No prepared dataset: type a query and passages instead.")
        return
    names = [str(d.path) for d in prepared]
    c1, c2 = st.columns([2, 1])
    picked = c1.selectbox("Dataset", names, key="pg_dataset")
    dataset = prepared[names.index(picked)]
    split = c2.selectbox("Split", guarded(lambda p: Dataset.open(p).splits, dataset.path) or [], key="pg_split")
    records = guarded(playground.held_out, dataset.path, split) if split else None
    if not records:
        return
    labels = [f"{r['query_id']}: {r['query'][:90]}" for r in records]
    choice = st.selectbox("Held-out query", labels, key="pg_query_pick")
    if st.button("Use this query", key="pg_use_query", icon=":material/input:"):
        record = records[labels.index(choice)]
        st.session_state["pg_query"] = record["query"]
        st.session_state["pg_passages"] = "\n".join(record["candidates"])
        st.session_state["pg_positives"] = sorted(record["positives"])
        st.rerun()


def page_playground() -> None:
    st.title(":material/science: Playground")
    st.caption("Type a query and candidate passages (one per line), or pick a held-out query; the base model and "
               "your fine-tunes rank them side by side.")
    runs = training.model_choices()[:-1]
    c1, c2 = st.columns(2)
    finetunes = c1.multiselect("Fine-tunes (one or two runs)", runs, default=runs[:1], max_selections=2,
                               key="pg_models", help="finished training runs, newest first")
    base_default = (playground.base_of(finetunes[0]) if finetunes else None) or settings.BUNDLED_MODEL_LABEL
    base = c2.text_input("Base model", value=base_default, key=f"pg_base|{','.join(finetunes)}",
                         help="the model the fine-tunes started from (from the run); any run id, folder or Hub id")
    with st.expander("Pick a held-out query", expanded=not st.session_state.get("pg_query")):
        _held_out_picker()
    query = st.text_input("Query", key="pg_query")
    text = st.text_area("Candidate passages, one per line", key="pg_passages", height=200)
    if not st.button("Rank", key="pg_rank", type="primary", icon=":material/sort:"):
        return
    try:
        passages = playground.passages_from_text(text)
        playground.check_inputs(query, passages)
        rankings = []
        short = {m: re.sub(r"^\d{8}-\d{6}-", "", m) for m in finetunes}
        labels = {m: short[m] if list(short.values()).count(short[m]) == 1 else m for m in finetunes}
        for label, model in [("base", base), *[(labels[m], m) for m in finetunes]]:
            scorer = _scorer(model, str(settings.runs_dir()))
            rankings.append(playground.Ranking(label, playground.score(scorer, query, passages)))
    except AutoRerankError as exc:
        show_error(exc)
        return
    positives = set(st.session_state.get("pg_positives") or []) & set(passages) or None
    moved = playground.top_changes(rankings)
    st.metric("Passages that moved", f"{moved} / {len(passages)}",
              help="passages the last fine-tune ranks at a different place than the base")
    st.dataframe(playground.compare(rankings, passages, positives), hide_index=True, width="stretch", key="pg_table",
                 column_config={"passage": st.column_config.TextColumn("passage", width="large")})
