"""A run folder `runs/<run-id>/` (Contract 3) as one object: what train and merge write, what
every later stage reads.

    run = Run.open("20261206-101500-sample-bge")       # an id under the runs folder, or a folder path
    run.state, run.backend, run.task, run.kind
    run.model_dir                                      # absolute path of the final model (or None)
    run.base_model                                     # the base, resolved once at train time: a folder or Hub id
    run.dataset                                        # the prepared Dataset it trained on
    run.gate                                           # the gate's record, or None
    run.update(state="succeeded", model=...)           # status.json, rewritten atomically

Train and merge write absolute paths. Folders written before that (relative `dataset`,
`model` or `base_model`) are resolved here, and only here: against the folder the run
was started from (`project_dir`), the project that holds `runs/` (the run folder's
grandparent), then the working directory, so every command works from anywhere.

`Run.open` reconciles first: a run whose status says "running" while the wrapper
process that wrote it is dead can never finish; it becomes "interrupted" (and what is
left of its child process group is stopped).
"""

from __future__ import annotations

import datetime as _dt
import os
import re
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wrapper.errors import InputError
from wrapper.jsonio import append_jsonl, read_json, write_json

STATUS = "status.json"
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


def is_run(folder: str | os.PathLike) -> bool:
    return (Path(folder) / STATUS).is_file()


def write_status(run_dir: Path, **updates: Any) -> dict:
    """Merge `updates` into `run_dir`/status.json (atomic) and return the new status."""
    path = Path(run_dir) / STATUS
    status = read_json(path) if path.exists() else {}
    status.update(updates)
    write_json(path, status)
    return status


def append_metrics(run_dir: Path, record: dict) -> None:
    append_jsonl(Path(run_dir) / "metrics.jsonl", record)


@dataclass
class Run:
    """One run folder and its status (see the module doc)."""

    dir: Path
    status: dict = field(repr=False)

    # ------------------------------------------------------------------ finding runs

    @classmethod
    def open(cls, run: str | os.PathLike, runs: str | os.PathLike | None = None, *,
             reconcile: bool = True) -> "Run":
        """The run `run` names: a run folder (any path), or a run id under `runs` (default: the runs folder)."""
        folder = cls.locate(run, runs)
        if folder is None:
            from wrapper import settings

            root = settings.runs_dir(runs)
            raise InputError.at(str(run), "not a run: no such run folder, and no run of that id",
                                hint=f"pass a run folder (it holds {STATUS}) or an id from `ls {root}`")
        return cls.load(folder, reconcile=reconcile)

    @staticmethod
    def locate(run: str | os.PathLike, runs: str | os.PathLike | None = None) -> Path | None:
        """The folder of run `run` (a folder or an id), or None."""
        from wrapper import settings

        candidate = Path(run).expanduser()
        if is_run(candidate):
            return candidate.absolute()
        text = str(run)
        if text and "/" not in text and os.sep not in text:
            in_runs = settings.runs_dir(runs) / text
            if is_run(in_runs):
                return in_runs.absolute()
        return None

    @classmethod
    def load(cls, folder: str | os.PathLike, *, reconcile: bool = True) -> "Run":
        folder = Path(folder).absolute()
        path = folder / STATUS
        try:
            status = read_json(path)
        except (OSError, ValueError) as exc:
            raise InputError.at(path, f"cannot be read as JSON ({exc})",
                                hint="the run folder is damaged; train it again") from None
        if not isinstance(status, dict):
            raise InputError.at(path, "expected a JSON object (the run's status)")
        run = cls(dir=folder, status=status)
        return run.reconciled() if reconcile else run

    @classmethod
    def enclosing(cls, path: str | os.PathLike) -> "Run | None":
        """The run a folder lies in (e.g. `runs/<id>/checkpoint-10`), or None."""
        here = Path(path).absolute()
        for folder in (here, *here.parents)[:4]:
            if is_run(folder):
                return cls.load(folder, reconcile=False)
        return None

    @classmethod
    def all(cls, runs: str | os.PathLike) -> list["Run"]:
        """Every run under `runs` (folders with a status.json), oldest first; unreadable ones left out."""
        root = Path(runs)
        if not root.is_dir():
            return []
        out = []
        for folder in sorted(p for p in root.iterdir() if is_run(p)):
            try:
                out.append(cls.load(folder))
            except InputError:
                continue
        return out

    @classmethod
    def create(cls, runs_root: Path, project_name: str, run_id: str | None = None) -> "Run":
        """A new, empty run folder (InputError when `run_id` names one that is not empty)."""
        run_id = run_id or make_run_id(project_name, runs_root)
        folder = (Path(runs_root) / run_id).absolute()
        if folder.exists() and any(folder.iterdir()):
            raise InputError.at(folder, "this run folder already exists and is not empty",
                                hint="choose another --run-id or leave it out for a fresh one")
        folder.mkdir(parents=True, exist_ok=True)
        return cls(dir=folder, status={"run_id": run_id})

    # ------------------------------------------------------------------ the status

    @property
    def id(self) -> str:
        return str(self.status.get("run_id") or self.dir.name)

    @property
    def state(self) -> str | None:
        return self.status.get("state")

    @property
    def backend(self) -> str | None:
        return self.status.get("backend")

    @property
    def task(self) -> str | None:
        return self.status.get("task")

    @property
    def kind(self) -> str | None:
        return self.status.get("kind")

    @property
    def gate(self) -> dict | None:
        gate = self.status.get("gate")
        return gate if isinstance(gate, dict) else None

    @property
    def status_file(self) -> Path:
        return self.dir / STATUS

    def update(self, **fields: Any) -> dict:
        """Write `fields` into status.json (re-read first: never clobber a concurrent update)."""
        self.status = write_status(self.dir, **fields)
        return self.status

    def reload(self) -> "Run":
        self.status = read_json(self.status_file)
        return self

    def require_succeeded(self, doing: str = "use it") -> "Run":
        if self.state != "succeeded":
            raise InputError.at(self.status_file, f"run {self.id} is {self.state!r}, not 'succeeded'",
                                column="state", hint=f"only a finished run can {doing}; `autorerank train` "
                                                     "shows why it did not finish")
        return self

    # ------------------------------------------------------------------ paths in it

    def _path(self, value: Any) -> Path | None:
        """A path recorded in status.json, made absolute (old runs recorded relative ones)."""
        if not value:
            return None
        path = Path(str(value)).expanduser()
        if path.is_absolute():
            return path
        bases = [Path(self.status["project_dir"])] if self.status.get("project_dir") else []
        bases += [self.dir.parent.parent, self.dir, Path.cwd()]
        for base in bases:
            if (base / path).exists():
                return (base / path).absolute()
        if (self.dir / path.name).exists():  # a model folder recorded as <project_name> under the run
            return self.dir / path.name
        return (bases[0] / path).absolute()

    @property
    def model_dir(self) -> Path | None:
        return self._path(self.status.get("model"))

    def require_model(self) -> Path:
        """The final model folder, which must exist (InputError naming status.json otherwise)."""
        folder = self.model_dir
        if folder is None:
            raise InputError.at(self.status_file, f"this run has no final model (state: {self.state})",
                                column="model", hint="use a run that succeeded")
        if not folder.is_dir():
            raise InputError.at(self.status_file, f"the run's model folder {self.status.get('model')!r} does not "
                                "exist", column="model", hint="was the run folder moved or its model deleted?")
        return folder

    @property
    def base_model(self) -> str | None:
        """The base model as resolved at train time: an absolute folder, or a Hub id."""
        base = self.status.get("base_model")
        if not base:
            return None
        looks_local = str(base).startswith((".", "/", "~")) or not re.fullmatch(r"[\w.-]+/[\w.-]+", str(base))
        project = self.status.get("project_dir")
        # an old run's `org/name` that is a folder of its project is what transformers loaded there
        if looks_local or (project and (Path(project) / str(base)).is_dir()):
            resolved = self._path(base)
            if resolved is not None and resolved.exists():
                return str(resolved)
        return str(base)

    @property
    def base_model_name(self) -> str | None:
        """The base model as the user named it (`bundled`, a Hub id, a folder)."""
        return self.status.get("base_model_input") or self.status.get("base_model")

    @property
    def dataset_root(self) -> Path | None:
        return self._path(self.status.get("dataset"))

    @property
    def dataset(self):
        """The prepared dataset (a `wrapper.dataset.Dataset`); InputError naming status.json when it is gone."""
        from wrapper.dataset import Dataset

        root = self.dataset_root
        if root is None or not root.is_dir():
            raise InputError.at(self.status_file, f"the run's dataset {self.status.get('dataset')!r} is not there",
                                column="dataset", hint="prepare it again (`autorerank prepare`), or pass "
                                                       "--dataset data/<name>")
        return Dataset.open(root)

    # ------------------------------------------------------------------ a dead wrapper

    def reconciled(self) -> "Run":
        """Turn a "running" run whose wrapper process is dead into "interrupted" (and stop its leftovers)."""
        from wrapper import procs

        if self.state != "running":
            return self
        wrapper_pid = self.status.get("wrapper_pid")
        if wrapper_pid and procs.pid_alive(wrapper_pid):
            return self
        pgid = self.status.get("pid")
        if pgid:
            procs.stop_pids(procs.group_members(pgid, cwd_within=self.dir), grace=0, sig=signal.SIGKILL)
        pid_file = self.dir / "pid"
        if pid_file.exists():
            pid_file.unlink()
        self.update(state="interrupted", ended_at=self.status.get("ended_at") or utcnow(),
                    cause=f"the wrapper process (pid {wrapper_pid}) ended without finishing the run (killed?)")
        return self

    @property
    def display_state(self) -> str | None:
        """The state to show without writing anything (a read-only view of `reconciled`)."""
        from wrapper import procs

        if self.state == "running":
            pid = self.status.get("wrapper_pid")
            if not (pid and procs.pid_alive(int(pid))):
                return "interrupted"
        return self.state


__all__ = ["FINAL_STATES", "STATES", "STATUS", "Run", "append_metrics", "is_run", "make_run_id", "utcnow",
           "write_status"]
