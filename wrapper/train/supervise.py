"""Supervising a training child process: logs, metrics, progress bar (over `procs.supervise`).

The child is a `procs.Child` in its own process group (so Ctrl-C reaches only us, and
we stop the whole tree: AutoTrain -> accelerate -> trainer) with `die_with_parent`, so
it is told to stop if the wrapper is killed outright. stdout/stderr are pumped into
stdout.log/stderr.log and parsed into metrics.jsonl. Ctrl-C, SIGTERM and SIGHUP to the
wrapper stop the child tree and end in a `procs.Outcome` with `interrupted=True`.
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

from wrapper import procs
from wrapper.run import append_metrics, write_status
from wrapper.train.logparse import LogParser


class _Progress:
    """A tqdm bar on stderr: step/total, epoch, loss, last eval metric."""

    def __init__(self, enabled: bool, total: int | None, desc: str):
        self.bar = None
        if enabled:
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=desc, unit="step", file=sys.stderr, dynamic_ncols=True, leave=True)
        self.postfix: dict[str, str] = {}

    def update(self, record: dict, total: int | None) -> None:
        if self.bar is None:
            return
        if total and self.bar.total != total:
            self.bar.total = total
        step = record.get("step")
        if isinstance(step, int) and step > self.bar.n:
            self.bar.update(step - self.bar.n)
        if isinstance(record.get("epoch"), (int, float)):
            self.postfix["epoch"] = f"{record['epoch']:.2f}"
        if isinstance(record.get("loss"), (int, float)):
            self.postfix["loss"] = f"{record['loss']:.4f}"
        evals = [(k, v) for k, v in record.items()
                 if k.startswith("eval_") and isinstance(v, (int, float)) and not k.endswith(
                     ("_runtime", "_per_second", "_loss"))]
        if evals:
            key, value = evals[0]
            self.postfix[key.removeprefix("eval_")] = f"{value:.4f}"
        self.bar.set_postfix(self.postfix, refresh=True)

    def close(self, final_step: int | None = None) -> None:
        if self.bar is None:
            return
        if final_step and final_step > self.bar.n:
            self.bar.update(final_step - self.bar.n)
        self.bar.close()


def supervise(
    argv: list[str],
    *,
    run_dir: Path,
    env: dict[str, str],
    parser: LogParser,
    progress: bool = True,
    desc: str = "train",
    status_every_s: float = 2.0,
    deadline: float | None = None,
) -> procs.Outcome:
    """Run `argv` with cwd=`run_dir` until it ends or we are told to stop (`procs.supervise`).

    Its lines go to stdout.log / stderr.log and through `parser` into metrics.jsonl and
    the progress bar; status.json gets the step count every `status_every_s` seconds.
    """
    run_dir = Path(run_dir)
    lock = threading.Lock()
    bar = _Progress(progress, parser.total_steps, desc)

    def on_line(line: str, _stream: str) -> None:
        with lock:
            record = parser.feed(line)
            if record is not None:
                append_metrics(run_dir, record)
                bar.update(record, parser.total_steps)

    child = procs.Child(argv, cwd=run_dir, env=env, logs=(run_dir / "stdout.log", run_dir / "stderr.log"),
                        on_line=on_line, die_with_parent=True)
    (run_dir / "pid").write_text(f"{child.pid}\n")
    write_status(run_dir, pid=child.pid)
    last = {"at": 0.0, "step": -1}

    def on_tick() -> None:
        now = time.monotonic()
        if now - last["at"] >= status_every_s and parser.last_step != last["step"]:
            last.update(at=now, step=parser.last_step)
            write_status(run_dir, steps={"done": parser.last_step, "total": parser.total_steps})

    try:
        outcome = procs.supervise(child, on_tick=on_tick, deadline=deadline)
    finally:
        pid_file = run_dir / "pid"
        if pid_file.exists():
            pid_file.unlink()
    bar.close(parser.last_step if not outcome.interrupted else None)
    return outcome
