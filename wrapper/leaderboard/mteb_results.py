"""mteb TaskResult JSON -> leaderboard rows (one per split), parsed as plain JSON.

The layout is the one `mteb.TaskResult.to_disk` writes; parsing it directly is
several times faster than `mteb.ResultCache` for a large folder
(`bench/bench_leaderboard.py`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from wrapper.leaderboard.common import METRICS, number

#: order tried when a result does not say which metric is its main score
_MAIN_SCORE_GUESS = ("map_at_1000", "ndcg_at_10", "mrr_at_10", "map_at_10", "ndcg_at_1000")


def _languages(entries: list[dict]) -> list[str]:
    langs: list[str] = []
    for entry in entries:
        for lang in entry.get("languages") or []:
            code = str(lang).split("-")[0]
            if code not in langs:
                langs.append(code)
    return langs


def _guess_main_score_name(entry: dict, main: float) -> str:
    for name in _MAIN_SCORE_GUESS:
        value = number(entry.get(name))
        if value is not None and abs(value - main) < 1e-9:
            return name
    return "main_score"


def parse_task_result(data: Any, path: str) -> tuple[list[dict[str, Any]], str | None]:
    """Rows (one per split) from one parsed TaskResult JSON, or ([], reason it is unusable).

    Several hf_subsets of a split are averaged, like `mteb.TaskResult.get_score`.
    """
    if not isinstance(data, dict):
        return [], "not a JSON object (expected mteb's TaskResult)"
    scores = data.get("scores")
    if not isinstance(scores, dict) or not scores:
        return [], "no 'scores' (a partial or interrupted mteb result; re-run `autorerank eval`)"
    task = data.get("task_name") or Path(path).stem
    rows = []
    for split, entries in scores.items():
        if not isinstance(entries, list) or not entries or not all(isinstance(e, dict) for e in entries):
            return [], f"split {split!r} has no score entries"
        mains = [number(e.get("main_score")) for e in entries]
        if any(m is None for m in mains):
            return [], f"split {split!r}: 'main_score' missing or not a number"
        row: dict[str, Any] = {"task": str(task), "split": str(split)}
        main = sum(mains) / len(mains)  # type: ignore[arg-type]
        row["main_score"] = main
        for metric in METRICS:
            if metric == "main_score":
                continue
            values = [number(e.get(metric)) for e in entries]
            row[metric] = None if any(v is None for v in values) else sum(values) / len(values)  # type: ignore[arg-type]
        row["main_score_name"] = _guess_main_score_name(entries[0], mains[0])  # type: ignore[arg-type]
        row["languages"] = _languages(entries)
        row["mteb_version"] = data.get("mteb_version")
        row["evaluation_time_s"] = number(data.get("evaluation_time"))
        rows.append(row)
    return rows, None
