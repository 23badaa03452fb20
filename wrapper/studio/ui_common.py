"""Streamlit pieces every studio page uses: the job panel (state, progress, log, stop) and error display."""

from __future__ import annotations

from typing import Callable

import streamlit as st

from wrapper.errors import AutoRerankError
from wrapper.studio import jobs

REFRESH_SECONDS = 1.5
STATE_ICON = {"running": ":material/progress_activity:", "succeeded": ":material/check_circle:",
              "failed": ":material/error:", "stopped": ":material/stop_circle:", "ended": ":material/help:"}


def show_error(exc: BaseException) -> None:
    """A known error as its own message (prepare's InputError text, ...), never a traceback."""
    st.error(str(exc), icon=":material/error:")


def guarded(func: Callable, *args, **kwargs):
    """Call `func`; an AutoRerankError is shown as its message and None is returned."""
    try:
        return func(*args, **kwargs)
    except AutoRerankError as exc:
        show_error(exc)
        return None


def current_job(kind: str, session_key: str, **meta) -> jobs.Job | None:
    """The job this page watches: the one it started in this session, else the newest of its kind
    (so a reload, or a second browser tab, re-attaches to a running job)."""
    job_id = st.session_state.get(session_key)
    job = jobs.load(job_id) if job_id else None
    return job or jobs.latest(kind, **meta)


def job_header(job: jobs.Job, what: str) -> None:
    state = job.state
    st.markdown(f"{STATE_ICON.get(state, '')} **{what}** `{job.id}`: **{state}**"
                + (f" (exit code {job.exit_code})" if job.exit_code not in (None, 0) else ""))


def job_log(job: jobs.Job, *, expanded: bool = False, lines: int = 40) -> None:
    text = jobs.log_text(job)
    with st.expander("Log", expanded=expanded):
        st.code("\n".join(text.splitlines()[-lines:]) or "(nothing logged yet)", language=None)
        st.caption(f"`{job.log}` · command: `{' '.join(job.argv[1:])}`")


def stop_button(job: jobs.Job, key: str) -> None:
    if job.running and st.button("Stop", key=key, icon=":material/stop:", help="stop the job and everything it started"):
        jobs.stop(job)
        st.rerun()


def live(body: Callable[[], bool], *, running: bool) -> None:
    """Run `body` (it returns whether its job still runs) in a fragment that reruns every
    REFRESH_SECONDS while the job runs; when it ends, the whole page reruns once."""
    if not running:
        body()
        return

    def tick() -> None:
        if not body():
            st.rerun(scope="app")

    st.fragment(tick, run_every=REFRESH_SECONDS)()
