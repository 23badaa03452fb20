"""Writing a prepared dataset folder (Contract 1), atomically: the one writer.

`prepare` streams its files through a `DatasetWriter` inside `staging_folder(out)`;
tests and benchmarks that need a small prepared dataset call `write_dataset(root, ...)`,
which goes through the same writer, so every dataset on disk has one layout::

    with staging_folder(out, overwrite) as tmp:
        w = DatasetWriter(tmp)
        w.autotrain("train", columns, rows); w.flagembedding(records); w.eval_split("validation", records)
        manifest = w.finish({"name": ..., "splits": ..., ...})   # files + content_hash, written last

`staging_folder` yields a temp folder beside `out`, renamed to `out` when the block
succeeds (an existing `out` is swapped out only when overwriting), so a reader never
sees a half-written dataset.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any, Iterable, Iterator

from wrapper.dataset import EVAL_DIR, TRAIN_FILES, Dataset, manifest_path
from wrapper.errors import InputError

AUTOTRAIN_COLUMNS = ["anchor", "positive", "negative"]
FORMAT_VERSION = 1


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


def content_hash(root: Path, files: list[str]) -> str:
    """sha256 over (relative path, bytes) of the written data files, in a fixed order."""
    h = hashlib.sha256()
    for rel in sorted(files):
        h.update(rel.encode("utf-8") + b"\0")
        with open(root / rel, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        h.update(b"\0")
    return h.hexdigest()


class DatasetWriter:
    """Writes the files of one dataset into `folder` and remembers them for the manifest."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.files: dict[str, Any] = {}

    def autotrain(self, split: str, columns: list[str], rows: Iterable[tuple]) -> int:
        """`autotrain/<split>.csv` (split "train" or "validation"): AutoTrain's st:* local data."""
        kind = "autotrain" if split == "train" else f"autotrain_{split}"
        key, rel = TRAIN_FILES[kind]
        self.files[key] = rel
        return write_csv(self.folder / rel, columns, rows)

    def flagembedding(self, records: Iterable[dict]) -> int:
        """`flagembedding/train.jsonl`: {"query", "pos", "neg"[, "pos_scores", "neg_scores"]} per query."""
        key, rel = TRAIN_FILES["flagembedding"]
        self.files[key] = rel
        return write_jsonl(self.folder / rel, records)

    def eval_split(self, name: str, records: Iterable[dict]) -> int:
        """`eval/<name>.jsonl`: {"query_id", "query", "positive", "negative"} per held-out query."""
        rel = f"{EVAL_DIR}/{name}.jsonl"
        self.files.setdefault("eval", {})[name] = rel
        return write_jsonl(self.folder / rel, records)

    def written(self) -> list[str]:
        return [v for k, v in self.files.items() if k != "eval"] + list(self.files.get("eval", {}).values())

    def finish(self, manifest: dict, *, hashed: bool = True) -> dict:
        """Write the manifest (last) with `files` and, when `hashed`, the `content_hash` of the files."""
        self.files.setdefault("eval", {})
        manifest = {"format_version": FORMAT_VERSION, **manifest, "files": self.files}
        if hashed or "content_hash" not in manifest:
            manifest["content_hash"] = content_hash(self.folder, self.written())
        from wrapper.jsonio import write_json

        write_json(manifest_path(self.folder), manifest)
        return manifest


def triplet_rows(records: Iterable[dict], *, limit: int | None = None) -> Iterator[tuple]:
    """(anchor, positive, negative) rows of train-style records; (anchor, positive) without negatives."""
    for r in records:
        negs = list(r.get("neg") or [])[:limit] if limit else list(r.get("neg") or [])
        for pos in r.get("pos") or []:
            if negs:
                for neg in negs:
                    yield r["query"], pos, neg
            else:
                yield r["query"], pos


def write_dataset(root: str | os.PathLike, *, train: list[dict] | None = None,
                  eval_splits: dict[str, list[dict]] | None = None, name: str | None = None,
                  extra: dict | None = None, overwrite: bool = True,
                  autotrain_validation: str = "validation", validation_negatives: int | None = None) -> Dataset:
    """A small prepared dataset at `root` from in-memory records (tests, benchmarks).

    `train`: {"query", "pos": [..], "neg": [..]} per query (teacher scores optional);
    `eval_splits`: {split: [{"query_id", "query", "positive", "negative"}]}. The split
    `autotrain_validation` (default: validation) also becomes `autotrain/validation.csv`,
    what AutoTrain evaluates on while it trains (each query's first `validation_negatives`
    negatives only, when given: AutoTrain scores every triplet at every epoch). `extra` is
    merged into the manifest (e.g. `{"eval_only": True}` or a fixed `content_hash`).
    """
    root = Path(root)
    train = list(train or [])
    eval_splits = dict(eval_splits or {})
    has_negatives = any(r.get("neg") for r in train) or (
        not train and any(r.get("negative") for rs in eval_splits.values() for r in rs))
    columns = AUTOTRAIN_COLUMNS if has_negatives else AUTOTRAIN_COLUMNS[:2]
    with staging_folder(root, overwrite) as tmp:
        writer = DatasetWriter(tmp)
        triplets = 0
        if train:
            triplets = writer.autotrain("train", columns, triplet_rows(train))
            val = [{"query": r["query"], "pos": r["positive"], "neg": r["negative"][:validation_negatives]}
                   for r in eval_splits.get(autotrain_validation, [])]
            writer.autotrain("validation", columns, triplet_rows(val))
            writer.flagembedding(train)
        for split, records in eval_splits.items():
            writer.eval_split(split, records)
        splits = {"train": {"queries": len(train), "triplets": triplets}}
        splits.update({s: {"queries": len(rs)} for s, rs in eval_splits.items()})
        manifest = {"name": name or root.name, "has_negatives": has_negatives, "eval_only": not train,
                    "splits": splits, **(extra or {})}
        writer.finish(manifest, hashed="content_hash" not in (extra or {}))
    return Dataset.open(root)


__all__ = ["AUTOTRAIN_COLUMNS", "DatasetWriter", "check_output", "content_hash", "staging_folder", "triplet_rows",
           "write_csv", "write_dataset", "write_jsonl"]
