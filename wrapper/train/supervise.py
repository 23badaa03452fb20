"""Supervising a training child process: logs, metrics, progress bar, signals.

The child is started by `wrapper.procs.start` in its own process group (so Ctrl-C
reaches only us, and we stop the whole tree: AutoTrain -> accelerate -> trainer) and
with `die_with_parent`, so it is told to stop if the wrapper is killed outright.
stdout/stderr are read on two threads, written to stdout.log/stderr.log, and parsed
into metrics.jsonl. Ctrl-C, SIGTERM and SIGHUP to the wrapper stop the child tree
(`procs.stop_tree`) and end in an `Outcome` with `interrupted=True`.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from wrapper import procs
from wrapper.train.autotrain import LogParser
from wrapper.train.run import append_metrics, write_status


@dataclass
class Outcome:
    exit_code: int | None
    interrupted: bool = False
    signal_name: str | None = None
    parser: LogParser = field(default_factory=LogParser)
    wall_s: float = 0.0


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
) -> Outcome:
    """Run `argv` with cwd=`run_dir` until it ends or we are told to stop.

    Returns the Outcome; `interrupted` is True after SIGINT/SIGTERM to the wrapper
    (the child's whole process group has then been stopped).
    """
    run_dir = Path(run_dir)
    started = time.monotonic()
    out_log = open(run_dir / "stdout.log", "w", encoding="utf-8", errors="replace")
    err_log = open(run_dir / "stderr.log", "w", encoding="utf-8", errors="replace")
    lock = threading.Lock()
    bar = _Progress(progress, parser.total_steps, desc)
    stop_signal: list[int] = []

    proc = procs.start(argv, cwd=run_dir, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       die_with_parent=True, text=True, encoding="utf-8", errors="replace", bufsize=1)
    (run_dir / "pid").write_text(f"{proc.pid}\n")
    write_status(run_dir, pid=proc.pid)

    def pump(stream, log):
        for line in stream:
            log.write(line)
            log.flush()
            with lock:
                record = parser.feed(line)
                if record is not None:
                    append_metrics(run_dir, record)
                    bar.update(record, parser.total_steps)

    threads = [threading.Thread(target=pump, args=(proc.stdout, out_log), daemon=True),
               threading.Thread(target=pump, args=(proc.stderr, err_log), daemon=True)]
    for t in threads:
        t.start()

    try:
        with procs.interrupt_on((signal.SIGTERM, signal.SIGHUP)):
            last_status = 0.0
            last_step = -1
            while proc.poll() is None:
                time.sleep(0.2)
                now = time.monotonic()
                if now - last_status >= status_every_s and parser.last_step != last_step:
                    last_step = parser.last_step
                    last_status = now
                    write_status(run_dir, steps={"done": parser.last_step, "total": parser.total_steps})
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM/SIGHUP through procs.interrupt_on
        stop_signal.append(procs.signal_of(exc))
    finally:
        with procs.signals_ignored((signal.SIGINT, signal.SIGTERM, signal.SIGHUP)):
            # stopped or not, no straggler of the child's group survives it
            procs.stop_tree(proc, grace=procs.GRACE_SECONDS if stop_signal or proc.poll() is None else 0)
            for t in threads:
                t.join(timeout=10)
        bar.close(parser.last_step if not stop_signal else None)
        out_log.close()
        err_log.close()
        pid_file = run_dir / "pid"
        if pid_file.exists():
            pid_file.unlink()
    return Outcome(
        exit_code=proc.returncode,
        interrupted=bool(stop_signal),
        signal_name=signal.Signals(stop_signal[0]).name if stop_signal else None,
        parser=parser,
        wall_s=time.monotonic() - started,
    )
