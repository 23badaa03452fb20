"""The prepared dataset's manifest (what other stages read) and the human summary of a prepare run."""

from __future__ import annotations

import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

FORMAT_VERSION = 1


def versions() -> dict[str, str]:
    from wrapper import __version__

    out = {"autorerank": __version__, "python": sys.version.split()[0]}
    for dist in ("sentence-transformers", "datasets", "torch", "transformers"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return out


def now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def summary_text(manifest: dict[str, Any], out: Path) -> str:
    """A short report with hints when something looks wrong."""
    c = manifest["counts"]
    s = manifest["splits"]
    lines = [f"prepared {manifest['name']!r} -> {out}"]
    fmts = ", ".join(sorted({src["format"] for src in manifest["sources"]}))
    lines.append(f"  sources: {len(manifest['sources'])} ({fmts})")
    for note in (n for src in manifest["sources"] for n in src.get("notes", ())):
        lines.append(f"  note: {note}")
    skipped = ", ".join(f"{k} {v:,}" for k, v in sorted(c["skipped_by_reason"].items(), key=lambda kv: -kv[1]))
    lines.append(
        f"  rows: {c['rows_read']:,} read = {c['rows_used']:,} used + {c['rows_skipped']:,} skipped"
        + (f" ({skipped})" if skipped else "")
    )
    unit = "triplets" if manifest["has_negatives"] else "pairs"
    split_text = ", ".join(
        f"{name} {info['queries']:,} queries" + (f" / {info['triplets']:,} {unit}" if "triplets" in info else "")
        for name, info in s.items() if info.get("queries") or name != "test"
    )
    lines.append(f"  splits: {split_text}")
    grouped = manifest.get("split") or {}
    if grouped.get("group_by"):
        per = grouped["groups_per_split"]
        lines.append(f"  split by group ({grouped['group_by']}): {grouped['groups']:,} groups, the largest of "
                     f"{grouped['largest_group']:,} queries; train {per['train']:,} / validation "
                     f"{per['validation']:,} / test {per['test']:,} groups, none in two splits")
    m = manifest.get("mining") or {}
    hints: list[str] = []
    if m.get("queries"):
        per = m["negatives_per_query"]
        lines.append(
            f"  mining: {m['queries']:,} queries, {m['negatives_mined']:,} negatives "
            f"(per query mean {per['mean']}, min {per['min']}, max {per['max']}); "
            f"false-negative guard removed {m['removed_by_false_negative_guard']:,}; {m['seconds']} s"
        )
        if m["no_negative_queries"] > max(1, 0.1 * m["queries"]) or m["short_queries"] > 0.3 * m["queries"]:
            hints.append(
                f"{m['no_negative_queries']:,} queries got no negative and {m['short_queries']:,} got fewer than asked: "
                "loosen the false-negative guard (--margin 0.02, or --margin off), lower --range-min, "
                "or give a bigger pool with --corpus"
            )
    elif not m.get("enabled"):
        lines.append("  mining: off (--no-mine)")
    else:
        lines.append("  mining: not needed (every query already has enough labelled negatives)")
    if not manifest["has_negatives"]:
        hints.append(
            "no query has a negative: autotrain/*.csv hold (anchor, positive) pairs only; "
            "turn mining on (--mine) or give labelled negatives to train with triplets"
        )
    if c["rows_read"] and c["rows_skipped"] > 0.2 * c["rows_read"]:
        hints.append(f"{c['rows_skipped']:,} of {c['rows_read']:,} rows were skipped; check the reasons above and your column flags")
    if s["train"].get("queries_without_negatives") and manifest["has_negatives"]:
        hints.append(
            f"{s['train']['queries_without_negatives']:,} training queries have no negative and give no triplets"
        )
    if s["train"]["queries"] < 20:
        hints.append(f"only {s['train']['queries']} training queries: expect little to be learned")
    lines.append(f"  files: {', '.join(_flat_files(manifest['files']))}")
    for hint in hints:
        lines.append(f"  hint: {hint}")
    return "\n".join(lines)


def _flat_files(files: dict) -> list[str]:
    out = []
    for value in files.values():
        if isinstance(value, dict):
            out.extend(_flat_files(value))
        else:
            out.append(value)
    return out
