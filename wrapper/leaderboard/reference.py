"""The published reference rows (`reference_scores.csv`, scores x100) for the leaderboard."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from wrapper.leaderboard.common import METRICS, Problem

REFERENCE_CSV = Path(__file__).resolve().parent / "reference_scores.csv"



def load_reference(csv_path: str | os.PathLike = REFERENCE_CSV) -> tuple[list[dict[str, Any]], list[Problem]]:
    """Published reference rows (scores x100 in the CSV, returned on mteb's 0-1 scale)."""
    import csv

    rows: list[dict[str, Any]] = []
    problems: list[Problem] = []
    path = Path(csv_path)
    if not path.exists():
        return rows, [Problem(str(path), "reference table missing; no reference rows shown")]
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(line for line in fh if not line.startswith("#"))
        for line_no, rec in enumerate(reader, start=2):
            try:
                value = float(rec["score_x100"]) / 100.0
                metric = rec["metric"].strip()
                if metric not in METRICS:
                    raise ValueError(f"metric {metric!r} is not one of {sorted(METRICS)}")
            except (KeyError, TypeError, ValueError) as exc:
                problems.append(Problem(f"{path.name}, line {line_no}", f"skipped reference row: {exc}"))
                continue
            scores = {m: None for m in METRICS}
            scores[metric] = value
            scores["main_score"] = value  # the published C-MTEB reranking main score is MAP
            rows.append(
                {
                    "model_name": rec["model"].strip(),
                    "revision": "published",
                    "task": rec["task"].strip(),
                    "split": rec.get("split", "").strip() or "test",
                    "main_score_name": metric,
                    **scores,
                    "languages": [s for s in rec.get("languages", "").split(";") if s],
                    "kind": rec.get("kind", "").strip() or "cross-encoder",
                    "role": "reference",
                    "run_id": None,
                    "base_model": None,
                    "base_model_name": None,
                    "base_model_revision": None,
                    "dataset": rec.get("dataset", "").strip() or rec["task"].strip(),
                    "is_reference": True,
                    "source": rec.get("source", "").strip(),
                    "path": path.name,
                }
            )
    return rows, problems
