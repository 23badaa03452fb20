"""`runs/<run-id>/` for the leaderboard: status.json (+ config.yml text) and metrics.jsonl.

Never raises for a bad file: it becomes a `Problem` and loading goes on.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wrapper.leaderboard.common import Problem, read_json


@dataclass
class RunInfo:
    """One `runs/<run-id>/` folder."""

    run_id: str
    path: str
    status: dict[str, Any]
    config_text: str | None = None

    @property
    def gate(self) -> dict[str, Any]:
        gate = self.status.get("gate")
        return gate if isinstance(gate, dict) else {}

    @property
    def verdict(self) -> str | None:
        verdict = self.gate.get("verdict")
        return str(verdict) if verdict else None


@dataclass
class LoadedRuns:
    runs: dict[str, RunInfo] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)


def load_runs(runs_dir: str | os.PathLike) -> LoadedRuns:
    """Every `runs/<id>/status.json` (and its config.yml text); bad files become problems."""
    root = Path(runs_dir)
    out = LoadedRuns()
    if not root.is_dir():
        return out
    for status_path in sorted(root.glob("*/status.json")):
        run_dir = status_path.parent
        data, problem = read_json(status_path)
        if problem is None and not isinstance(data, dict):
            problem = "not a JSON object (expected the run's status)"
        if problem:
            out.problems.append(Problem(f"{root.name}/{run_dir.name}/status.json", f"skipped: {problem}"))
            continue
        data = _display_state(data, run_dir)
        run_id = str(data.get("run_id") or run_dir.name)
        config_path = run_dir / "config.yml"
        config_text = None
        if config_path.exists():
            try:
                config_text = config_path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                out.problems.append(Problem(f"{root.name}/{run_dir.name}/config.yml", f"cannot be read: {exc}"))
        out.runs[run_id] = RunInfo(run_id=run_id, path=str(run_dir), status=data, config_text=config_text)
        if run_dir.name != run_id:
            out.runs.setdefault(run_dir.name, out.runs[run_id])
    return out


def _display_state(status: dict[str, Any], run_dir: Path) -> dict[str, Any]:
    """A "running" run whose wrapper process is gone can never finish: show it as interrupted.

    Display only (this loader is cached and never writes); `wrapper.run.Run.open` is what
    rewrites such a status.json.
    """
    from wrapper.run import Run

    state = Run(dir=run_dir, status=status).display_state
    if state == status.get("state"):
        return status
    return {**status, "state": state, "cause": status.get("cause") or "the training process is gone (never finished)"}


def load_metrics(metrics_path: str | os.PathLike) -> tuple[list[dict[str, Any]], list[Problem]]:
    """The logged steps of a run's metrics.jsonl; torn or bad lines are skipped and reported."""
    path = Path(metrics_path)
    rows: list[dict[str, Any]] = []
    problems: list[Problem] = []
    if not path.exists():
        return rows, problems
    bad: list[int] = []
    with path.open(encoding="utf-8", errors="replace") as fh:
        for line_no, line in enumerate(fh, start=1):
            line = line.strip()
            if not line:
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                bad.append(line_no)
                continue
            if isinstance(rec, dict):
                rows.append(rec)
            else:
                bad.append(line_no)
    if bad:
        shown = ", ".join(map(str, bad[:5])) + (" ..." if len(bad) > 5 else "")
        problems.append(Problem(str(path), f"skipped {len(bad)} unreadable line(s): {shown}"))
    return rows, problems
