"""Reading a training child's log lines: metrics records, the step count, the failure cause.

`LogParser` understands AutoTrain's `on_log` lines (AutoTrain 0.8.36 logs
`... on_log:367 - {'loss': 0.42, 'learning_rate': ..., 'epoch': 0.16}`, values possibly
`np.float64(1.0)`), and our own `AUTORERANK_*` lines (the cross-encoder backend, the
reranker-route's scoring step). A failure inside AutoTrain's trainer is logged as
`train has failed due to an exception: Traceback ...` while the process still exits 0,
so success is judged from the log and the model files, never the exit code alone.
Every backend's parser is this one or a subclass of it.
"""

from __future__ import annotations

import ast
import re
from typing import Any

FAILURE_MARKER = "has failed due to an exception"
_ON_LOG_RE = re.compile(r"on_log:\d+ - (\{.*\})\s*$")
_NP_SCALAR_RE = re.compile(r"np\.(?:float|int)\d*\((.*?)\)")
_EXC_LINE_RE = re.compile(
    r"^(?:[A-Za-z_][\w.]*\.)?[A-Z][A-Za-z0-9_]*(?:Error|Exception|Exit|Interrupt|Warning|Failure)\b(?::.*)?$"
)
METRIC_PREFIX = "AUTORERANK_METRICS "
TOTAL_PREFIX = "AUTORERANK_TOTAL_STEPS "


def _literal(text: str) -> Any:
    return ast.literal_eval(_NP_SCALAR_RE.sub(r"\1", text))


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
