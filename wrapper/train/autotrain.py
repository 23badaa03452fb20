"""Running AutoTrain 0.8.36 from its own environment, and reading what it logs.

Facts this module relies on (../shared/FACTS.md, verified in the installed source):
- `autotrain --config cfg.yml` with `backend: local` waits for the trainer it
  starts with a bare `accelerate launch` (so the env's `bin/` must lead PATH);
- the trainer logs `... on_log:367 - {'loss': 0.42, 'learning_rate': ..., 'epoch': 0.16}`
  (values may print as `np.float64(1.0)`);
- a failure inside the trainer is logged as `train has failed due to an exception:
  Traceback ...` and the process still exits 0, so success is judged from the
  log and the model files, never the exit code alone.
"""

from __future__ import annotations

import ast
import math
import os
import re
from pathlib import Path
from typing import Any

from wrapper import settings
from wrapper.errors import InputError

FAILURE_MARKER = "has failed due to an exception"
_ON_LOG_RE = re.compile(r"on_log:\d+ - (\{.*\})\s*$")
_NP_SCALAR_RE = re.compile(r"np\.(?:float|int)\d*\((.*?)\)")
_EXC_LINE_RE = re.compile(
    r"^(?:[A-Za-z_][\w.]*\.)?[A-Z][A-Za-z0-9_]*(?:Error|Exception|Exit|Interrupt|Warning|Failure)\b(?::.*)?$"
)
METRIC_PREFIX = "AUTORERANK_METRICS "
TOTAL_PREFIX = "AUTORERANK_TOTAL_STEPS "


def find_env(explicit: str | os.PathLike | None = None) -> Path:
    """The AutoTrain virtual environment; `InputError` with the fix when it is missing."""
    env = settings.autotrain_env_dir(explicit)
    exe = env / "bin" / "autotrain"
    if not exe.exists():
        raise InputError.at(
            env,
            "no AutoTrain environment here (bin/autotrain is missing)",
            hint="run `make setup`, or point --autotrain-env / $AUTORERANK_AUTOTRAIN_ENV at a venv "
            "with autotrain-advanced==0.8.36",
        )
    return env.resolve() if not env.is_absolute() else env


def autotrain_argv(env: Path, config_path: Path) -> list[str]:
    return [str(env / "bin" / "autotrain"), "--config", str(config_path)]


def child_env(*, venv: Path | None = None, offline: bool | None = None, base: dict | None = None,
              project_path: bool = False) -> dict[str, str]:
    """Environment for a training child (`wrapper.procs.child_env` plus the trainer's switches).

    `venv`'s bin/ goes first on PATH (AutoTrain runs a bare `accelerate`). When the Hub
    is unreachable the HF offline switches are set so nothing waits on the network.
    tqdm bars are switched off: progress comes from the log lines.
    """
    from wrapper.procs import child_env as base_env

    if offline is None:
        offline = not settings.hub_reachable()
    env = base_env(base=base, venv=venv, offline=offline, project_path=project_path)
    env.update(
        TQDM_DISABLE="1",
        PAUSE_ON_FAILURE="0",  # AutoTrain would try to pause a HF Space on failure
        WANDB_DISABLED=env.get("WANDB_DISABLED", "true"),
    )
    return env


def _literal(text: str) -> Any:
    return ast.literal_eval(_NP_SCALAR_RE.sub(r"\1", text))


def count_rows(path: Path) -> int:
    """Rows in a CSV (records, not lines: quoted fields may span lines) or JSONL file."""
    import csv

    if path.suffix == ".csv":
        with open(path, newline="", encoding="utf-8") as fh:
            return max(sum(1 for _ in csv.reader(fh)) - 1, 0)
    with open(path, encoding="utf-8") as fh:
        return sum(1 for line in fh if line.strip())


def autotrain_total_steps(n_train: int, batch_size: int, epochs: int, gradient_accumulation: int = 1) -> int:
    """What HF Trainer computes for one process: ceil(rows / batch) // accumulation * epochs."""
    per_epoch = max(math.ceil(n_train / batch_size) // max(gradient_accumulation, 1), 1)
    return per_epoch * epochs


class LogParser:
    """Turns child log lines into metrics records and remembers the failure cause.

    Understands AutoTrain's `on_log` lines and our backend's `AUTORERANK_*` lines.
    `feed(line)` returns a metrics record ({"step", "epoch", "loss", ...}) or None.
    """

    def __init__(self, total_steps: int | None = None, epochs: int | None = None):
        self.total_steps = total_steps
        self.epochs = epochs
        self.failed_marker = False
        self.last_exception: str | None = None
        self.last_step = 0
        self.started = False
        self._in_traceback = False

    def _step_from_epoch(self, epoch: float | None) -> int | None:
        if epoch is None or not self.total_steps or not self.epochs:
            return None
        return int(round(epoch * self.total_steps / self.epochs))

    def feed(self, line: str) -> dict | None:
        line = line.rstrip("\r\n")
        if FAILURE_MARKER in line:
            self.failed_marker = True
        if "Traceback (most recent call last)" in line:
            self._in_traceback = True
        stripped = line.strip()
        if _EXC_LINE_RE.match(stripped):
            self.last_exception = stripped
        if "Starting to train" in line:
            self.started = True
        if line.startswith(TOTAL_PREFIX):
            try:
                self.total_steps = int(line[len(TOTAL_PREFIX):].strip())
            except ValueError:
                pass
            self.started = True
            return None
        if line.startswith(METRIC_PREFIX):
            import json

            try:
                record = json.loads(line[len(METRIC_PREFIX):])
            except ValueError:
                return None
            return self._normalise(record)
        match = _ON_LOG_RE.search(line)
        if match:
            try:
                logs = _literal(match.group(1))
            except (ValueError, SyntaxError):
                return None
            if isinstance(logs, dict):
                return self._normalise(logs)
        return None

    def _normalise(self, logs: dict) -> dict:
        record: dict[str, Any] = {}
        step = logs.pop("step", None)
        if step is None:
            step = self._step_from_epoch(logs.get("epoch"))
        if step is not None:
            self.last_step = max(self.last_step, int(step))
        record["step"] = step if step is not None else self.last_step
        for key, value in logs.items():
            if value is None or isinstance(value, (int, float, str, bool)):
                record[key] = value
        return record

    @property
    def cause(self) -> str | None:
        return self.last_exception


def model_files_ok(folder: Path) -> bool:
    """A loadable model folder: a config plus weights (and for ST models, modules.json)."""
    folder = Path(folder)
    if not (folder / "config.json").exists():
        return False
    weights = ("model.safetensors", "pytorch_model.bin")
    return any((folder / w).exists() for w in weights) or any(folder.glob("model-*.safetensors"))
