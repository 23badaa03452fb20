"""The run folder `runs/<run-id>/` (Contract 3): ids, status.json, metrics.jsonl, reconciliation.

`status.json` is rewritten atomically on every state change. A run whose wrapper
died without a chance to clean up (SIGKILL, power loss) still says "running";
`reconcile(run_dir)` turns it into "interrupted" (and stops what is left of its
child process group) - every reader of run folders should call it first.
"""

from __future__ import annotations

import datetime as _dt
import os
import re
import signal
from pathlib import Path
from typing import Any

from wrapper.jsonio import append_jsonl, read_json, write_json

STATES = ("running", "succeeded", "failed", "interrupted")
FINAL_STATES = ("succeeded", "failed", "interrupted")


def utcnow() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def make_run_id(project_name: str, runs_dir: Path) -> str:
    """`YYYYMMDD-HHMMSS-<project_name>`, with `-2`, `-3`... when that folder exists."""
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
    slug = re.sub(r"[^A-Za-z0-9-]+", "-", project_name).strip("-") or "run"
    base = f"{stamp}-{slug}"
    candidate, n = base, 1
    while (Path(runs_dir) / candidate).exists():
        n += 1
        candidate = f"{base}-{n}"
    return candidate


def status_path(run_dir: Path) -> Path:
    return Path(run_dir) / "status.json"


def read_status(run_dir: Path) -> dict:
    return read_json(status_path(run_dir))


def write_status(run_dir: Path, **updates: Any) -> dict:
    """Merge `updates` into status.json (atomic) and return the new status."""
    path = status_path(run_dir)
    status = read_json(path) if path.exists() else {}
    status.update(updates)
    write_json(path, status)
    return status


def append_metrics(run_dir: Path, record: dict) -> None:
    append_jsonl(Path(run_dir) / "metrics.jsonl", record)


def pid_alive(pid: int | None) -> bool:
    """True when `pid` is a live (non-zombie) process."""
    if not pid or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is dead for our purposes
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _group_members_in(pgid: int, run_dir: Path) -> list[int]:
    """Pids of process group `pgid` whose working directory is inside `run_dir`.

    The cwd check guards against a recycled pid: our children always run with
    cwd = the run folder.
    """
    run_dir = Path(run_dir).resolve()
    members = []
    proc = Path("/proc")
    if not proc.exists():
        return members
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.getpgid(int(entry.name)) != pgid:
                continue
            cwd = Path(os.readlink(entry / "cwd")).resolve()
        except (OSError, ProcessLookupError):
            continue
        if cwd == run_dir or run_dir in cwd.parents:
            members.append(int(entry.name))
    return members


def reconcile(run_dir: Path) -> dict:
    """Return the run's status, first fixing a "running" run whose wrapper is gone.

    If status.json says "running" but the wrapper pid recorded in it is dead, the
    run can never finish: leftover children (same process group, cwd in the run
    folder) are stopped and the state becomes "interrupted" with a cause.
    """
    run_dir = Path(run_dir)
    status = read_status(run_dir)
    if status.get("state") != "running":
        return status
    wrapper_pid = status.get("wrapper_pid")
    if wrapper_pid and pid_alive(wrapper_pid):
        return status
    pgid = status.get("pid")
    if pgid:
        from wrapper.procs import stop_pids

        stop_pids(_group_members_in(pgid, run_dir), grace=0, sig=signal.SIGKILL)
    pid_file = run_dir / "pid"
    if pid_file.exists():
        pid_file.unlink()
    return write_status(
        run_dir,
        state="interrupted",
        ended_at=status.get("ended_at") or utcnow(),
        cause=f"the wrapper process (pid {wrapper_pid}) ended without finishing the run (killed?)",
    )


def list_runs(runs_dir: Path) -> list[Path]:
    """Run folders under `runs_dir` (those with a status.json), oldest first."""
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        return []
    return sorted(p for p in runs_dir.iterdir() if (p / "status.json").is_file())
