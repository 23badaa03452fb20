"""Cache keys for the leaderboard: (relative path, mtime_ns, size) of every file a loader reads.

The UI keys `st.cache_data` on these, so an edited, added or removed file
refreshes the page and an unchanged folder costs one directory scan.
"""

from __future__ import annotations

import os
from pathlib import Path

from wrapper.settings import RESULTS_METADATA


def _scan(root: Path, patterns: tuple[str, ...]) -> tuple[tuple[str, int, int], ...]:
    entries = []
    for pattern in patterns:
        for path in root.glob(pattern):
            try:
                st = path.stat()
            except OSError:  # removed between glob and stat
                continue
            entries.append((path.relative_to(root).as_posix(), st.st_mtime_ns, st.st_size))
    return tuple(sorted(entries))


def results_fingerprint(results_dir: str | os.PathLike) -> tuple[tuple[str, int, int], ...]:
    """(relative path, mtime_ns, size) of every file `load_results` reads (results/*/*/*.json + our metadata)."""
    base = Path(results_dir) / "results"
    entries: list[tuple[str, int, int]] = []
    try:
        models = [e for e in os.scandir(base) if e.is_dir()]
    except OSError:
        return ()
    for model in models:
        try:
            revisions = [e for e in os.scandir(model.path) if e.is_dir()]
        except OSError:
            continue
        for rev in revisions:
            try:
                files = list(os.scandir(rev.path))
            except OSError:
                continue
            for f in files:
                if not f.name.endswith(".json"):
                    continue
                try:
                    st = f.stat()
                except OSError:  # removed between listing and stat
                    continue
                entries.append((f"results/{model.name}/{rev.name}/{f.name}", st.st_mtime_ns, st.st_size))
            try:  # our metadata, in its subfolder
                st = os.stat(os.path.join(rev.path, RESULTS_METADATA))
            except OSError:
                continue
            entries.append((f"results/{model.name}/{rev.name}/{RESULTS_METADATA}", st.st_mtime_ns, st.st_size))
    return tuple(sorted(entries))


def runs_fingerprint(runs_dir: str | os.PathLike) -> tuple[tuple[str, int, int], ...]:
    """(relative path, mtime_ns, size) of every status.json and config.yml under `runs_dir`."""
    root = Path(runs_dir)
    if not root.is_dir():
        return ()
    return _scan(root, ("*/status.json", "*/config.yml"))
