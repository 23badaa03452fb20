"""What every leaderboard loader shares: the metric names, the long-table columns,
`Problem` (a skipped file and why), and the never-raising JSON and number readers."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: metric key in the mteb scores -> label shown to users
METRICS: dict[str, str] = {
    "main_score": "main score",
    "map_at_1000": "MAP",
    "mrr_at_10": "MRR@10",
    "ndcg_at_10": "NDCG@10",
}

#: columns of the long results table (one row per model x revision x task x split)
ROW_COLUMNS = [
    "model_name", "revision", "task", "split", "main_score_name",
    *METRICS,
    "languages", "kind", "role", "run_id", "base_model", "base_model_name", "base_model_revision",
    "dataset", "dataset_hash", "mteb_version", "precision", "batch_size", "wall_time_s",
    "evaluated_at", "evaluation_time_s", "is_reference", "source", "path",
]

@dataclass(frozen=True)
class Problem:
    """A file that was skipped or only partly used, and why (shown as a warning)."""

    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


def number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return None if math.isnan(value) or math.isinf(value) else value


def read_json(path: Path) -> tuple[Any, str | None]:
    """Parse one JSON file with pydantic-core's parser (about 3x faster than `json` here)."""
    from pydantic_core import from_json

    try:
        raw = path.read_bytes()
    except OSError as exc:
        return None, f"cannot be read ({exc.__class__.__name__}: {exc})"
    if not raw.strip():
        return None, "empty file (probably written while the evaluation was interrupted)"
    try:
        return from_json(raw), None
    except ValueError as exc:
        return None, f"not valid JSON ({exc})"
