"""Results in mteb's own cache layout (Contract 4), written atomically.

```
results/results/<org__name>/<revision>/<Task>.json      mteb TaskResult
results/results/<org__name>/<revision>/model_meta.json  mteb ModelMeta
results/results/<org__name>/<revision>/run_settings.jsonl (mteb)
results/results/<org__name>/<revision>/autorerank/metadata.json  ours (a subfolder:
                                                        mteb reads every *.json beside its files as a task)
```

mteb itself writes its cache files in place (a crash mid-write leaves a torn
file the leaderboard would read), so we run mteb without a cache and save each
finished task through `mteb.ResultCache` into a private staging folder inside
`results/`, then move every file into place with `os.replace`. A reader sees
the old file or the new one, never half of one.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from wrapper.jsonio import read_json, write_json

from wrapper.settings import RESULTS_METADATA as METADATA_FILE  # noqa: E402
STAGING_PREFIX = ".autorerank-staging-"


def model_folder(results: Path, name: str, revision: str) -> Path:
    """`results/results/<org__name>/<revision>` (mteb's path rule)."""
    return Path(results) / "results" / name.replace("/", "__").replace(" ", "_") / revision


def task_file(results: Path, name: str, revision: str, task_name: str) -> Path:
    return model_folder(results, name, revision) / f"{task_name}.json"


def load_task_result(path: Path):
    """The TaskResult at `path`, or None when missing or unreadable (then it is redone)."""
    if not path.is_file():
        return None
    from mteb.results import TaskResult

    try:
        return TaskResult.from_disk(path)
    except Exception:  # torn by an older non-atomic writer, or another format
        return None


def is_done(result, *, splits: list[str], subsets: list[str] | None, dataset_revision: str | None) -> bool:
    """Whether a stored TaskResult covers these splits (and subsets) of the same data."""
    if result is None:
        return False
    if dataset_revision and result.dataset_revision != dataset_revision:
        return False
    for split in splits:
        entries = result.scores.get(split)
        if not entries:
            return False
        if subsets:
            have = {e.get("hf_subset") for e in entries}
            if not set(subsets) <= have:
                return False
    return True


def split_scores(result, split: str, subsets: list[str] | None = None) -> dict[str, float]:
    """Every numeric score of one split, averaged over the chosen subsets."""
    entries = [e for e in result.scores.get(split, []) if not subsets or e.get("hf_subset") in subsets]
    if not entries:
        return {}
    keys = [k for k, v in entries[0].items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
    return {k: float(sum(e[k] for e in entries if k in e) / len(entries)) for k in keys}


def merge_with_stored(path: Path, result):
    """`result` plus the other splits/subsets of the TaskResult stored at `path` for the same data
    revision; the new scores win where both have them. Anything else: `result` alone."""
    stored = load_task_result(path)
    if stored is None or stored.dataset_revision != result.dataset_revision:
        return result
    try:
        return stored.merge(result)
    except Exception:  # not mergeable (other task name, ...): the new result replaces it
        return result


def save_task_result(results: Path, meta, task_result, *, encode_kwargs: dict | None = None) -> Path:
    """Save one finished TaskResult (+ model_meta.json, run_settings.jsonl) atomically.

    `meta` is the mteb ModelMeta whose name/revision pick the folder.
    """
    from mteb import ResultCache

    results = Path(results)
    results.mkdir(parents=True, exist_ok=True)
    final_dir = model_folder(results, meta.name, meta.revision)
    staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=results))
    try:
        stage_dir = model_folder(staging, meta.name, meta.revision)
        stage_dir.mkdir(parents=True, exist_ok=True)
        existing_settings = final_dir / "run_settings.jsonl"
        if existing_settings.is_file():  # mteb merges its run settings into the existing file
            shutil.copyfile(existing_settings, stage_dir / "run_settings.jsonl")
        ResultCache(staging).save_to_cache(task_result, meta, encode_kwargs=encode_kwargs or {})
        final_dir.mkdir(parents=True, exist_ok=True)
        task_name = f"{task_result.task_name}.json"
        # metadata first, the task file last: a task file never appears without its model_meta.json
        order = sorted(stage_dir.iterdir(), key=lambda p: p.name == task_name)
        for staged in order:
            if staged.is_file():
                os.replace(staged, final_dir / staged.name)
        return final_dir / task_name
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def clean_staging(results: Path, older_than_s: float = 3600.0) -> None:
    """Remove staging folders left by a killed process (an hour old: a live one lasts seconds)."""
    import time

    for leftover in Path(results).glob(f"{STAGING_PREFIX}*"):
        try:
            if time.time() - leftover.stat().st_mtime > older_than_s:
                shutil.rmtree(leftover, ignore_errors=True)
        except OSError:
            pass


def read_metadata(folder: Path) -> dict:
    path = folder / METADATA_FILE
    if not path.is_file():
        return {}
    try:
        data = read_json(path)
    except (json.JSONDecodeError, OSError):
        return {}
    return data if isinstance(data, dict) else {}


def update_metadata(folder: Path, header: dict[str, Any], task_name: str | None = None,
                    task_entry: dict[str, Any] | None = None) -> dict:
    """Merge our metadata for one checkpoint and write `autorerank/metadata.json` atomically.

    The role only ever upgrades: a checkpoint once evaluated as someone's base
    stays "base" (the leaderboard pairs it with its fine-tunes).
    """
    data = read_metadata(folder)
    old_role = data.get("role")
    for key, value in header.items():
        if value is not None or key not in data:
            data[key] = value
    if old_role in ("base", "fine-tune") and header.get("role") == "external":
        data["role"] = old_role
    tasks = data.setdefault("tasks", {})
    if task_name and task_entry is not None:
        tasks[task_name] = task_entry
    data["updated_at"] = now()
    write_json(folder / METADATA_FILE, data)
    return data


def now() -> str:
    return _dt.datetime.now(tz=_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def load_mteb_results(results: Path, tasks: list[str] | None = None):
    """`mteb.ResultCache(results).load_results(...)` over our folder (mteb's BenchmarkResults).

    Our metadata lives in a subfolder, so mteb's own reader works unchanged.
    """
    from mteb import ResultCache

    cache = ResultCache(results)
    if tasks is None:
        return cache.load_results(include_remote=False)
    return cache.load_results(tasks=list(tasks), include_remote=False)
