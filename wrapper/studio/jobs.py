"""Studio jobs: our own CLI (`python -m wrapper prepare|train|eval|ui ...`) as supervised children.

A job is one `wrapper.procs.Child` (argv list, its own session), its stdout+stderr in a
log file, and a small record
`.autorerank/studio/jobs/<job-id>.json` (kind, argv, pid, log, what it writes:
`out` for prepare, `run_dir` for train). The record is what a page reload
re-attaches to; for training the run folder (`status.json`, `metrics.jsonl`)
stays the source of truth. A waiter thread reaps the child and writes its exit
code into the record, so a finished job is never a zombie and its outcome is
known after a reload (the child's `on_exit`); a record whose pid is gone without an exit code (the
studio itself was restarted) reads as "ended".
"""

from __future__ import annotations

import datetime as _dt
import os
import re
import sys
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

from wrapper import procs
from wrapper.jsonio import read_json, write_json

JOBS_DIR = Path(".autorerank") / "studio" / "jobs"
KINDS = ("prepare", "train", "eval", "ui", "auto")
#: job states: running, then succeeded (exit 0), failed (other exit codes), stopped (by the stop button),
#: ended (the process is gone and nobody saw its exit code: the studio was restarted)
FINAL = ("succeeded", "failed", "stopped", "ended")

_LIVE: dict[str, procs.Child] = {}  # job id -> child, for this studio process (survives page reruns)
_LOCK = threading.Lock()


@dataclass
class Job:
    id: str
    kind: str
    argv: list[str]
    log: str
    pid: int | None = None
    started_at: str = ""
    ended_at: str | None = None
    exit_code: int | None = None
    stopped: bool = False
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def state(self) -> str:
        if self.exit_code is not None:
            return "stopped" if self.stopped else "succeeded" if self.exit_code == 0 else "failed"
        if self.pid and _alive(self.id, self.pid):
            return "running"
        return "stopped" if self.stopped else "ended"

    @property
    def running(self) -> bool:
        return self.state == "running"


def jobs_dir(root: str | os.PathLike | None = None) -> Path:
    return Path(root) if root else JOBS_DIR


def python_cli(*args: str | os.PathLike) -> list[str]:
    """argv of our own CLI in this interpreter: `python -m wrapper ARGS...`."""
    return [sys.executable, "-m", "wrapper", *[os.fspath(a) for a in args]]


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _new_id(kind: str, root: Path) -> str:
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
    base, n = f"{stamp}-{kind}", 1
    candidate = base
    while (root / f"{candidate}.json").exists():
        n += 1
        candidate = f"{base}-{n}"
    return candidate


def _record_path(root: Path, job_id: str) -> Path:
    if not re.fullmatch(r"[A-Za-z0-9._-]+", job_id):
        raise ValueError(f"bad job id {job_id!r}")
    return root / f"{job_id}.json"


def save(job: Job, root: str | os.PathLike | None = None) -> None:
    write_json(_record_path(jobs_dir(root), job.id), asdict(job))


def load(job_id: str, root: str | os.PathLike | None = None) -> Job | None:
    path = _record_path(jobs_dir(root), job_id)
    try:
        data = read_json(path)
        return Job(**{k: data[k] for k in data if k in Job.__dataclass_fields__})
    except (OSError, ValueError, TypeError, KeyError):
        return None


def start(kind: str, argv: Sequence[str | os.PathLike], *, meta: dict[str, Any] | None = None,
          root: str | os.PathLike | None = None, env: dict[str, str] | None = None) -> Job:
    """Start `argv` as a job of `kind`; its output goes to `<jobs>/<id>.log`."""
    if kind not in KINDS:
        raise ValueError(f"unknown job kind {kind!r}")
    folder = jobs_dir(root)
    folder.mkdir(parents=True, exist_ok=True)
    job_id = _new_id(kind, folder)
    log_path = folder.resolve() / f"{job_id}.log"
    job = Job(id=job_id, kind=kind, argv=[os.fspath(a) for a in argv], log=str(log_path), started_at=_now(),
              meta=dict(meta or {}))
    started = threading.Event()  # the record is saved before the child's end can be recorded
    child = procs.Child(job.argv, log=log_path, on_exit=lambda code: _ended(started, job_id, folder, code),
                        env=env if env is not None else procs.child_env(extra={"TQDM_MININTERVAL": "1"}))
    job.pid = child.pid
    with _LOCK:
        _LIVE[job_id] = child
    save(job, root)
    started.set()
    return job


def _ended(started: threading.Event, job_id: str, folder: Path, code: int) -> None:
    started.wait()
    with _LOCK:
        job = load(job_id, folder)
        if job is not None and job.exit_code is None:
            job.exit_code = code
            job.ended_at = _now()
            save(job, folder)
        _LIVE.pop(job_id, None)


def _alive(job_id: str, pid: int) -> bool:
    child = _LIVE.get(job_id)
    if child is not None:
        return child.running()
    return procs.pid_alive(pid)


def stop(job: Job, root: str | os.PathLike | None = None, *, grace: float = procs.GRACE_SECONDS) -> Job:
    """Stop the job's whole process tree (SIGTERM, `grace` s, SIGKILL) and mark it stopped."""
    with _LOCK:
        current = load(job.id, root) or job
        current.stopped = True
        save(current, root)
    child = _LIVE.get(job.id)
    if child is not None:
        child.stop(grace=grace)
    elif job.pid and _alive(job.id, job.pid):
        procs.stop_tree(job.pid, grace=grace)
    return load(job.id, root) or job


def history(kind: str | None = None, root: str | os.PathLike | None = None) -> list[Job]:
    """Jobs of `kind` (all kinds: None), newest first."""
    folder = jobs_dir(root)
    if not folder.is_dir():
        return []
    out = []
    for path in sorted(folder.glob("*.json"), reverse=True):
        job = load(path.stem, folder)
        if job is not None and (kind is None or job.kind == kind):
            out.append(job)
    return out


def latest(kind: str, root: str | os.PathLike | None = None, **meta: Any) -> Job | None:
    """The newest job of `kind` whose meta matches `meta` (what a reloaded page re-attaches to)."""
    for job in history(kind, root):
        if all(job.meta.get(k) == v for k, v in meta.items()):
            return job
    return None


def log_text(job: Job, max_bytes: int = 20_000) -> str:
    """The end of the job's log, with tqdm's carriage-return redraws collapsed to their last state."""
    try:
        with open(job.log, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - max_bytes))
            raw = fh.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    lines = [line.rsplit("\r", 1)[-1] if "\r" in line.rstrip("\r") else line.rstrip("\r")
             for line in raw.split("\n")]
    return "\n".join(lines).strip("\n")


_PROGRESS = re.compile(r"^(?P<what>[^:\r\n]{1,60}):\s+(?P<pct>\d{1,3})%\|")


def progress(job: Job) -> tuple[str, float] | None:
    """The last tqdm bar in the log as (label, fraction), or None."""
    for line in reversed(log_text(job, 8000).splitlines()):
        match = _PROGRESS.match(line.strip())
        if match:
            return match["what"].strip(), min(1.0, int(match["pct"]) / 100)
    return None


def error_text(job: Job) -> str | None:
    """Our CLI's one-message error (`error: ...` and its hint lines) from a failed job's log, else None."""
    lines = log_text(job).splitlines()
    for i in range(len(lines) - 1, -1, -1):
        if lines[i].startswith("error: "):
            block = [lines[i].removeprefix("error: ")]
            block += [line for line in lines[i + 1:] if line.startswith("  ")]
            return "\n".join(block)
    return None
