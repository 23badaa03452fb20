"""The Train page's "Find the best model for me": `autorerank auto` as a job, its trials live, the pick."""

from __future__ import annotations

import streamlit as st

from wrapper.studio import data, jobs, training
from wrapper.studio.ui_common import current_job, job_header, job_log, live, stop_button


def auto_section(dataset: data.DatasetInfo, base: str, general: bool) -> None:
    st.subheader("Find the best model for me")
    st.caption("`autorerank auto`: trains several recipes within your time budget, compares them on queries held "
               "out of the training data, lets the regression gate judge each on the untouched validation split, "
               "and picks the best one that improved without forgetting (or tells you to keep the base).")
    job = current_job("auto", "auto_job")
    c1, c2 = st.columns([1, 2])
    minutes = c1.number_input("Time budget (minutes)", min_value=2, max_value=24 * 60, value=6, step=1,
                              key="auto_minutes", help="everything included: trials, gates, a merge if needed")
    busy = job is not None and job.running
    if c2.button("Find the best model for me", key="start_auto", type="primary", icon=":material/auto_awesome:",
                 disabled=busy, help=f"runs `autorerank auto {dataset.path} --budget {minutes}m --base-model {base}`"):
        name = training.auto_name(dataset.path, base)
        job = jobs.start("auto", training.auto_argv(dataset.path, base, minutes, general=general),
                         meta={"auto_id": name, "dataset": str(dataset.path), "base": base})
        st.session_state["auto_job"] = job.id
        st.rerun()
    if job is not None:
        auto_panel(job)


def auto_panel(job: jobs.Job) -> None:
    """The search as it goes: one row per finished trial, then the pick with its verdict."""
    def body() -> bool:
        current = jobs.load(job.id) or job
        job_header(current, f"auto run {current.meta.get('auto_id')}")
        record = training.read_auto(current.meta.get("auto_id", ""))
        if record is None:
            st.progress(0.0, text="carving the selection split, timing the base model ...")
        else:
            budget, spent = record.get("budget_s") or 1, record.get("elapsed_s") or 0
            st.progress(min(1.0, spent / budget), text=f"{spent:.0f} s of {budget:.0f} s")
            frame = training.trials_frame(record)
            if frame.empty:
                st.caption("the first trial is training ...")
            else:
                st.dataframe(frame, hide_index=True, width="stretch", key="auto_trials",
                             column_config={"selection MAP": st.column_config.NumberColumn(format="%.4f"),
                                            "Δ held-out": st.column_config.NumberColumn(format="%+.4f")})
            pick = record.get("pick")
            if pick:
                if pick["run_id"] == "base":
                    st.warning(f"Keep the base model. {pick['why']}", icon=":material/shield:")
                else:
                    st.success(f"Pick: **{pick['run_id']}** ({pick['verdict']}): {pick['why']}. Model: "
                               f"`{pick['model']}`", icon=":material/verified:")
        if current.state == "failed":
            st.error(jobs.error_text(current) or "the search failed: see the log", icon=":material/error:")
        stop_button(current, "stop_auto")
        job_log(current)
        return current.running

    live(body, running=job.running)
