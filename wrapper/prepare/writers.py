"""Writing the prepared dataset (Contract 1 in docs/ARCHITECTURE.md), atomically as a folder.

`staging_folder(out)` yields a temp folder beside `out`; the caller writes every
file into it and on success it is renamed to `out` (an existing `out` is swapped
out only when overwriting), so a reader never sees a half-written dataset.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Iterable, Iterator

from wrapper.errors import InputError

AUTOTRAIN_COLUMNS = ["anchor", "positive", "negative"]


def check_output(out: Path, overwrite: bool) -> None:
    if out.exists() and not overwrite:
        raise InputError.at(out, "the output folder already exists", hint="use --overwrite to replace it, or choose another --out")
    if out.exists() and not out.is_dir():
        raise InputError.at(out, "the output path exists and is not a folder", hint="choose another --out")


@contextlib.contextmanager
def staging_folder(out: Path, overwrite: bool) -> Iterator[Path]:
    """A temp folder beside `out`, renamed to `out` when the block succeeds, removed when it fails."""
    check_output(out, overwrite)
    out.parent.mkdir(parents=True, exist_ok=True)
    tag = uuid.uuid4().hex[:8]
    tmp = out.parent / f".{out.name}.partial-{tag}"
    tmp.mkdir()
    try:
        yield tmp
        if out.exists():
            old = out.parent / f".{out.name}.old-{tag}"
            os.replace(out, old)
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def write_csv(path: Path, columns: list[str], rows: Iterable[tuple]) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow(row)
            n += 1
    return n


def write_jsonl(path: Path, records: Iterable[dict]) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with open(path, "w", encoding="utf-8") as fh:
        for record in records:
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
            n += 1
    return n
