"""Pure loaders for the leaderboard: `results/` (mteb cache + autorerank/metadata.json) and `runs/`.

Nothing here imports Streamlit, prints or raises on a bad file: a corrupt or
partial file becomes a `Problem` (path + reason) that the UI shows as a warning,
and loading goes on with the other files.

The mteb TaskResult files are the source of truth for scores. They are parsed
as plain JSON (the same layout `mteb.TaskResult.to_disk` writes) because that is
several times faster than `mteb.ResultCache` for a folder of 1,000 files (see
`bench/bench_leaderboard.py`); `autorerank/metadata.json` enriches each row (kind, role,
run, base model, dataset, evaluation details) and `model_meta.json` is a
fallback for the model kind.

Caching: `results_fingerprint` / `runs_fingerprint` list (relative path,
mtime_ns, size) for every file a loader reads; the UI keys `st.cache_data` on
them so an edited, added or removed file refreshes the page, and an unchanged
folder costs one directory scan.

This module reads `results/`; the rest lives beside it and is re-exported here:
`common` (metric names, columns, `Problem`), `fingerprints`, `mteb_results`
(TaskResult parsing), `reference` (the published CSV), `runs` (status.json,
metrics.jsonl).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wrapper.leaderboard.common import METRICS, ROW_COLUMNS, Problem, number, read_json
from wrapper.leaderboard.fingerprints import results_fingerprint, runs_fingerprint
from wrapper.leaderboard.mteb_results import parse_task_result
from wrapper.leaderboard.reference import REFERENCE_CSV, load_reference
from wrapper.leaderboard.runs import LoadedRuns, RunInfo, load_metrics, load_runs
from wrapper.settings import RESULTS_METADATA

__all__ = [
    "METRICS", "NON_TASK_FILES", "REFERENCE_CSV", "ROW_COLUMNS", "LoadedResults", "LoadedRuns", "Problem",
    "RunInfo", "load_metrics", "load_reference", "load_results", "load_runs", "parse_task_result",
    "results_fingerprint", "runs_fingerprint",
]

#: files in a revision folder that are not TaskResults
NON_TASK_FILES = frozenset({"model_meta.json"})


@dataclass
class LoadedResults:
    """Everything read from a results folder."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    #: (model_name, revision) -> the parsed autorerank/metadata.json (or {})
    meta: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    files_read: int = 0

    def frame(self):
        """The rows as a pandas DataFrame with `ROW_COLUMNS` (empty frame when no rows)."""
        import pandas as pd

        return pd.DataFrame(self.rows, columns=ROW_COLUMNS)


def _kind_from_model_meta(meta: Any) -> str | None:
    if isinstance(meta, dict) and isinstance(meta.get("is_cross_encoder"), bool):
        return "cross-encoder" if meta["is_cross_encoder"] else "bi-encoder"
    return None


def load_results(results_dir: str | os.PathLike) -> LoadedResults:
    """Read every `results/<org__name>/<revision>/<Task>.json` under `results_dir`.

    Never raises for a bad file: it is skipped and reported in `.problems`.
    """
    root = Path(results_dir)
    out = LoadedResults()
    base = root / "results"
    if not base.is_dir():
        return out
    for model_dir in sorted(p for p in base.iterdir() if p.is_dir()):
        for rev_dir in sorted(p for p in model_dir.iterdir() if p.is_dir()):
            _load_revision(root, rev_dir, out)
    return out


def _load_revision(root: Path, rev_dir: Path, out: LoadedResults) -> None:
    def rel(p: Path) -> str:
        try:
            return p.relative_to(root.parent).as_posix()
        except ValueError:
            return str(p)

    task_files = sorted(p for p in rev_dir.glob("*.json") if p.name not in NON_TASK_FILES)
    if not task_files:
        return
    model_name = rev_dir.parent.name.replace("__", "/")
    revision = rev_dir.name

    ours: dict[str, Any] = {}
    ar_path = rev_dir / RESULTS_METADATA
    if ar_path.exists():
        data, problem = read_json(ar_path)
        out.files_read += 1
        if problem:
            out.problems.append(Problem(rel(ar_path), problem + "; scores shown without autorerank metadata"))
        elif not isinstance(data, dict):
            out.problems.append(Problem(rel(ar_path), "not a JSON object; scores shown without autorerank metadata"))
        else:
            ours = data

    kind_from_meta = None
    mm_path = rev_dir / "model_meta.json"
    if mm_path.exists():
        data, problem = read_json(mm_path)
        out.files_read += 1
        if problem:
            out.problems.append(Problem(rel(mm_path), problem))
        else:
            kind_from_meta = _kind_from_model_meta(data)
            if isinstance(data, dict) and isinstance(data.get("name"), str) and not ours.get("model_name"):
                model_name = data["name"]

    model_name = str(ours.get("model_name") or model_name)
    revision = str(ours.get("revision") or revision)
    out.meta[(model_name, revision)] = ours
    tasks_meta = ours.get("tasks") if isinstance(ours.get("tasks"), dict) else {}
    role = ours.get("role") or "external"
    run_id = ours.get("run_id")
    if not run_id and role == "fine-tune" and model_name.startswith("autorerank/"):
        run_id = model_name.split("/", 1)[1]
    common = {
        "model_name": model_name,
        "revision": revision,
        "kind": ours.get("kind") or kind_from_meta or "unknown",
        "role": role,
        "run_id": run_id,
        "base_model": ours.get("base_model"),
        "base_model_name": ours.get("base_model_name"),
        "base_model_revision": ours.get("base_model_revision"),
        "is_reference": False,
        "source": "evaluated",
    }

    for path in task_files:
        out.files_read += 1
        data, problem = read_json(path)
        if problem is None:
            rows, problem = parse_task_result(data, path.name)
        if problem:
            out.problems.append(Problem(rel(path), f"skipped: {problem}"))
            continue
        for row in rows:
            tmeta = tasks_meta.get(row["task"]) if isinstance(tasks_meta.get(row["task"]), dict) else {}
            langs = list(row["languages"])
            for lang in tmeta.get("languages") or []:
                if lang not in langs:
                    langs.append(lang)
            if tmeta.get("main_score_name"):
                row["main_score_name"] = tmeta["main_score_name"]
            out.rows.append(
                {
                    **common,
                    **row,
                    "languages": langs,
                    "dataset": tmeta.get("dataset") or row["task"],
                    "dataset_hash": tmeta.get("dataset_hash"),
                    "precision": tmeta.get("precision"),
                    "batch_size": tmeta.get("batch_size"),
                    "wall_time_s": number(tmeta.get("wall_time_s")),
                    "evaluated_at": tmeta.get("evaluated_at"),
                    "mteb_version": tmeta.get("mteb_version") or row.get("mteb_version"),
                    "path": rel(path),
                }
            )
