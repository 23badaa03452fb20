"""Running AutoTrain 0.8.36 from its own environment: where it is, its argv, its step count.

Facts this module relies on (../shared/FACTS.md, verified in the installed source):
`autotrain --config cfg.yml` with `backend: local` waits for the trainer it starts with
a bare `accelerate launch` (so the env's `bin/` must lead PATH); what it logs is read by
`wrapper.train.logparse`.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from wrapper import settings
from wrapper.errors import InputError


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
