"""The Data page: a raw file (uploaded or typed) -> preview -> column mapping -> prepare (a job) -> the manifest."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from wrapper.errors import AutoRerankError
from wrapper.studio import data, jobs
from wrapper.studio.ui_common import current_job, guarded, job_header, job_log, live, show_error, stop_button

FORMATS = ["auto", "pairs", "triplets", "listwise", "positives", "squad", "beir"]
ROLE_LABELS = {"query": "Query column", "passage": "Passage column", "label": "Label column",
               "pos": "Positive column", "neg": "Negative column"}


def _source_picker() -> Path | None:
    upload_tab, path_tab = st.tabs(["Upload a file", "A file or folder on this machine"])
    with upload_tab:
        uploaded = st.file_uploader(
            "Your data (CSV, TSV, JSONL, JSON, Parquet; gzip welcome)", key="upload",
            help="saved under data/raw/uploads/ in the project folder, and nowhere else")
        if uploaded is not None and st.session_state.get("_uploaded_id") != uploaded.file_id:
            saved = guarded(data.save_upload, uploaded.name, uploaded.getvalue())
            if saved is not None:
                st.session_state["_uploaded_id"] = uploaded.file_id
                st.session_state["source"] = str(saved)
    with path_tab:
        typed = st.text_input("Path", key="source_path", placeholder="data/raw/sample/pairs.csv or ~/datasets/scifact",
                              help="a data file or a BEIR folder; it is only read, never changed")
        if st.button("Use this path", key="use_path", icon=":material/folder_open:"):
            try:
                st.session_state["source"] = str(data.check_path(typed))
            except AutoRerankError as exc:
                st.session_state.pop("source", None)
                show_error(exc)
    source = st.session_state.get("source")
    return Path(source) if source else None


def _inspect(source: Path) -> data.Inspection | None:
    st.subheader("What prepare sees")
    raw = guarded(data.peek, source)  # a file prepare cannot read at all: its message, nothing else
    if raw is None:
        return None
    slot, problem = st.empty(), None
    try:
        detected = data.inspect_source(source) if not raw.format else raw
    except AutoRerankError as exc:  # readable, but the format is unclear: the user can name the columns
        detected, problem = None, exc
    default = detected.format if detected else "auto"
    fmt = st.selectbox("Format", FORMATS, index=FORMATS.index(default), key=f"format::{source}",
                       help="detected from the file's shape; pairs = (query, passage, label), triplets = (query, "
                            "positive, negative), listwise = (query, pos[], neg[]), positives = (query, positive)")
    chosen: dict[str, str] = {}
    mapping = detected.mapping if detected and fmt == detected.format else {}
    if raw.columns and fmt not in ("squad", "beir"):
        cols = st.columns(len(data.ROLE_FLAGS))
        for col, role in zip(cols, data.ROLE_FLAGS):
            options = ["(auto)"] + raw.columns
            current = mapping.get(role)
            picked = col.selectbox(ROLE_LABELS[role], options, key=f"col_{role}::{source}",
                                   index=options.index(current) if current in options else 0,
                                   help=f"prepare's {data.ROLE_FLAGS[role]}")
            if picked != "(auto)" and picked != mapping.get(role):
                chosen[role] = picked
    if detected is None and fmt == "auto" and not chosen:
        with slot:
            show_error(problem)
        if raw.rows:
            st.dataframe(raw.rows, hide_index=True, width="stretch", key="preview")
        return None
    view = detected if (detected and fmt == detected.format and not chosen) else guarded(
        data.inspect_source, source, fmt=fmt, columns=chosen)
    if view is None:
        return None
    c1, c2, c3 = st.columns(3)
    c1.metric("File kind", view.kind)
    c2.metric("Format", view.format)
    c3.metric("Columns used", ", ".join(f"{r}={c}" for r, c in view.mapping.items()) or "-")
    for note in view.notes:
        st.caption(note)
    if view.rows:
        st.dataframe(view.rows, hide_index=True, width="stretch", key="preview")
    st.session_state["_chosen"] = {"fmt": fmt, "columns": chosen}
    return view


def _options(source: Path, columns: list[str] | None = None) -> tuple[str, dict, bool]:
    st.subheader("Prepare options")
    specs = data.option_help()
    name = st.text_input("Dataset name", value=data.dataset_name(source), key=f"name::{source}",
                         help="the folder data/<name>/ and the evaluation task AutoRerank-<name>-<split>")
    c1, c2, c3 = st.columns(3)
    values = {
        "val_ratio": c1.number_input("Validation share", 0.01, 1.0, float(specs["val_ratio"]["default"]), 0.05,
                                     key="opt_val_ratio", help=specs["val_ratio"]["help"]),
        "test_ratio": c2.number_input("Test share", 0.0, 0.9, float(specs["test_ratio"]["default"]), 0.05,
                                      key="opt_test_ratio", help=specs["test_ratio"]["help"]),
        "num_negatives": c3.number_input("Negatives per query", 1, 100, int(specs["num_negatives"]["default"]),
                                         key="opt_num_negatives", help=specs["num_negatives"]["help"]),
    }
    c1, c2, c3 = st.columns(3)
    values["mine"] = c1.toggle("Mine hard negatives", value=bool(specs["mine"]["default"]), key="opt_mine",
                               help=specs["mine"]["help"] + " (encodes every passage with the miner: the slow step)")
    values["label_threshold"] = c2.number_input("Label threshold", value=None, key="opt_label_threshold",
                                                placeholder="auto", help=specs["label_threshold"]["help"])
    values["seed"] = c3.number_input("Seed", value=int(specs["seed"]["default"]), step=1, key="opt_seed",
                                     help=specs["seed"]["help"])
    values["miner"] = st.text_input("Miner", value=str(specs["miner"]["default"]), key="opt_miner",
                                    help=specs["miner"]["help"])
    c1, c2 = st.columns(2)
    values["group_by"] = c1.selectbox("Group split by", ["none", "passage", "article", *(columns or [])],
                                      key="opt_group_by", help=specs["group_by"]["help"])
    corpus = c2.text_input("Extra passages (--corpus)", value="", key="opt_corpus", placeholder="path, path, ...",
                           help=specs["corpus"]["help"] + " Comma-separated paths.")
    values["corpus"] = [p.strip() for p in corpus.split(",") if p.strip()]
    exists = (data.DATA_DIR / name).exists()
    overwrite = st.checkbox(f"Replace data/{name}/", value=False, key="opt_overwrite", disabled=not exists,
                            help="a prepared dataset of that name exists") if exists else False
    return name, values, overwrite


def _manifest(info: data.DatasetInfo, where: str) -> None:
    facts = data.manifest_facts(info.manifest)
    st.markdown(f"#### `{info.path}`")
    c1, c2, c3 = st.columns(3)
    c1.metric("Rows read", f"{facts['rows_read']:,}")
    c2.metric("Rows used", f"{facts['rows_used']:,}")
    c3.metric("Rows skipped", f"{facts['rows_skipped']:,}")
    if facts["skipped_by_reason"]:
        st.markdown("**Skipped, by reason**")
        st.dataframe([{"reason": k, "rows": v} for k, v in facts["skipped_by_reason"].items()], hide_index=True)
    left, right = st.columns(2)
    left.markdown("**Splits**")
    left.dataframe(facts["splits"], hide_index=True, key=f"{where}_splits")
    right.markdown("**Hard-negative mining**")
    if facts["mining"]:
        right.dataframe([{"": k, "value": str(v)} for k, v in facts["mining"].items()], hide_index=True)
    else:
        right.caption("off, or not needed (labelled negatives were enough)")
    st.markdown("**prepare's summary** (with its hints)")
    st.code(data.summary(info), language=None)
    st.markdown("**A sample of the training triplets**")
    st.dataframe(guarded(data.sample_triplets, info.path) or [], hide_index=True, width="stretch",
                 key=f"{where}_triplets")


def _job_panel(job: jobs.Job) -> None:
    def body() -> bool:
        current = jobs.load(job.id) or job
        job_header(current, "prepare")
        if current.running:
            done = jobs.progress(current)
            st.progress(done[1] if done else 0.0, text=f"{done[0]}: {done[1]:.0%}" if done else "starting ...")
            stop_button(current, "stop_prepare")
        elif current.state == "failed":
            st.error(jobs.error_text(current) or "prepare failed: see the log", icon=":material/error:")
        job_log(current, expanded=current.state == "failed" and not jobs.error_text(current))
        return current.running

    live(body, running=job.running)
    if job.state == "succeeded":
        out = Path(job.meta.get("out", ""))
        found = [d for d in data.datasets() if d.path.resolve() == out.resolve()]
        if found:
            st.success(f"Prepared `{out}`", icon=":material/check_circle:")
            _manifest(found[0], "job")
            st.page_link("studio_pages/train.py", label="Next: train on it", icon=":material/model_training:")


def page_data() -> None:
    st.title(":material/dataset: Data")
    st.caption("Upload a raw file or name one; check what prepare detects; prepare it into train / validation "
               "sets with hard negatives (`autorerank prepare`).")
    source = _source_picker()
    job = current_job("prepare", "prepare_job")
    if source is not None:
        st.caption(f"Source: `{source}`")
        view = _inspect(source)
        if view is not None:
            name, values, overwrite = _options(source, view.columns)
            chosen = st.session_state.get("_chosen", {})
            running = job is not None and job.running
            if st.button("Prepare", key="run_prepare", type="primary", icon=":material/play_arrow:", disabled=running,
                         help="runs `autorerank prepare` as a job; you can leave the page and come back"):
                try:
                    out = data.DATA_DIR / data.dataset_name(name)
                    argv = data.prepare_argv([source], out, fmt=chosen.get("fmt", "auto"),
                                             columns=chosen.get("columns"), options=values, overwrite=overwrite)
                    job = jobs.start("prepare", argv, meta={"out": str(out), "source": str(source)})
                    st.session_state["prepare_job"] = job.id
                except AutoRerankError as exc:
                    show_error(exc)
    if job is not None:
        st.subheader("Prepare job")
        _job_panel(job)
    prepared = data.datasets()
    if prepared:
        with st.expander(f"Prepared datasets ({len(prepared)})"):
            names = [str(d.path) for d in prepared]
            pick = st.selectbox("Dataset", names, key="look_dataset")
            _manifest(prepared[names.index(pick)], "look")
