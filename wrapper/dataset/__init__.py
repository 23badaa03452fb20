"""A prepared dataset folder `data/<name>/` (Contract 1): the one interface every stage uses.

    ds = Dataset.open("data/sample")           # InputError naming the file when it is not one
    ds.manifest                                # the manifest dict prepare wrote
    ds.train_file("autotrain")                 # autotrain/train.csv  ("autotrain_validation", "flagembedding")
    ds.eval_split("validation")                # eval/validation.jsonl (InputError listing the splits there are)
    ds.read_split("validation")                # its validated records {query_id, query, positive, negative}

`Dataset.find(path)` also accepts a folder inside a dataset (an old config's
`data.path: data/<name>/autotrain`). Writing goes through `wrapper.dataset.writer`
(`DatasetWriter`, `write_dataset`), shared by prepare, the test fixtures and the bench.
The name of the manifest file is written here and nowhere else.

Only the standard library and `wrapper.errors` are imported, so the AutoTrain
environment's subprocesses can use this package too.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from wrapper.dataset.jsonl import (
    PREPARE_HINT,
    RECORD_HINT,
    iter_jsonl,
    iter_jsonl_text,
    iter_records,
    parse_record,
    read_jsonl,
    sha256_file,
    sha256_files,
)
from wrapper.errors import InputError

MANIFEST = "dataset.json"
EVAL_DIR = "eval"
#: training files by kind: (the manifest's `files` key, the default path)
TRAIN_FILES = {
    "autotrain": ("autotrain_train", "autotrain/train.csv"),
    "autotrain_validation": ("autotrain_validation", "autotrain/validation.csv"),
    "flagembedding": ("flagembedding_train", "flagembedding/train.jsonl"),
}


def manifest_path(root: str | os.PathLike) -> Path:
    """Where a dataset folder keeps its manifest."""
    return Path(root) / MANIFEST


def is_dataset(path: str | os.PathLike) -> bool:
    return manifest_path(path).is_file()


@dataclass(frozen=True)
class Dataset:
    """A prepared dataset: its absolute root folder and its manifest."""

    root: Path
    manifest: dict = field(repr=False)

    @classmethod
    def open(cls, root: str | os.PathLike, *, training: bool = False) -> "Dataset":
        """The dataset at `root`; `training=True` also refuses an evaluation-only one."""
        root = Path(root).expanduser()
        manifest = _read_manifest(root)
        if training and manifest.get("eval_only"):
            raise InputError.at(
                manifest_path(root),
                "this is an evaluation-only dataset (prepared with --val-ratio 1.0): it has no training rows",
                hint="prepare the training data with a --val-ratio below 1, or use this folder with "
                     "`autorerank eval --dataset`",
            )
        return cls(root=root.resolve(), manifest=manifest)

    @classmethod
    def find(cls, path: str | os.PathLike, *, training: bool = False) -> "Dataset":
        """The dataset at `path` or the one `path` lies in (one level up: `data/<name>/autotrain`)."""
        path = Path(path).expanduser()
        if not is_dataset(path) and is_dataset(path.parent):
            path = path.parent
        return cls.open(path, training=training)

    # ------------------------------------------------------------------ facts

    @property
    def name(self) -> str:
        return str(self.manifest.get("name") or self.root.name)

    @property
    def manifest_file(self) -> Path:
        return manifest_path(self.root)

    @property
    def content_hash(self) -> str | None:
        return self.manifest.get("content_hash")

    @property
    def has_negatives(self) -> bool:
        return bool(self.manifest.get("has_negatives", True))

    @property
    def files(self) -> dict:
        files = self.manifest.get("files")
        return files if isinstance(files, dict) else {}

    # ------------------------------------------------------------------ files

    def train_file(self, kind: str, *, must_exist: bool = True) -> Path:
        """The training file of `kind` ("autotrain", "autotrain_validation", "flagembedding")."""
        if kind not in TRAIN_FILES:
            raise ValueError(f"unknown training file kind {kind!r}; known: {', '.join(TRAIN_FILES)}")
        key, default = TRAIN_FILES[kind]
        path = self.root / str(self.files.get(key) or default)
        if must_exist and not path.is_file():
            raise InputError.at(path, f"the dataset has no {kind} training file",
                                hint="prepare the dataset again with `autorerank prepare ... --overwrite`")
        return path

    def split_files(self) -> dict[str, Path]:
        """`{split: path}`: the splits the manifest declares, then any other `eval/*.jsonl`."""
        files: dict[str, Path] = {}
        declared = self.files.get("eval") or {}
        if isinstance(declared, dict):
            for split, rel in declared.items():
                files[str(split)] = self.root / str(rel)
        for path in sorted((self.root / EVAL_DIR).glob("*.jsonl")):
            files.setdefault(path.stem, path)
        return files

    @property
    def splits(self) -> list[str]:
        """The eval splits there are (e.g. `["validation", "test"]`)."""
        return list(self.split_files())

    def eval_split(self, name: str = "validation") -> Path:
        """The file of one eval split; an InputError listing the splits there are when it is absent."""
        files = self.split_files()
        path = files.get(name)
        if path is None or not path.is_file():
            available = ", ".join(s for s, p in files.items() if p.is_file()) or "none"
            raise InputError.at(path or self.root / EVAL_DIR / f"{name}.jsonl",
                                f"the prepared dataset has no eval split {name!r} (available: {available})",
                                hint="run `autorerank prepare` with --val-ratio > 0 (and --test-ratio > 0 for 'test')")
        return path

    def read_split(self, name: str = "validation") -> list[dict]:
        """The validated records of an eval split."""
        return [record for _, record in iter_records(self.eval_split(name))]


def _read_manifest(root: Path) -> dict:
    path = manifest_path(root)
    if not root.is_dir():
        raise InputError.at(root, "prepared dataset folder not found", hint=PREPARE_HINT)
    if not path.is_file():
        raise InputError.at(path, "not found: the folder was not written by `autorerank prepare`", hint=PREPARE_HINT)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        where = {"line": exc.lineno, "column": exc.colno} if isinstance(exc, json.JSONDecodeError) else {}
        raise InputError.at(path, f"not valid JSON ({getattr(exc, 'msg', exc)})", **where,
                            hint="prepare the dataset again with --overwrite") from None
    if not isinstance(data, dict):
        raise InputError.at(path, f"expected a JSON object, got {type(data).__name__}",
                            hint="prepare the dataset again with --overwrite")
    return data


__all__ = [
    "EVAL_DIR", "MANIFEST", "PREPARE_HINT", "RECORD_HINT", "TRAIN_FILES", "Dataset", "is_dataset", "iter_jsonl",
    "iter_jsonl_text", "iter_records", "manifest_path", "parse_record", "read_jsonl", "sha256_file", "sha256_files",
]
