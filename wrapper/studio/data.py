"""The studio's Data page, as library functions: sources in, a prepare job's argv out, the manifest in words.

- `save_upload` writes an uploaded file under `data/raw/uploads/` only (the name is
  reduced to a safe basename; nothing can land elsewhere). `check_path` accepts a typed
  path only when it is an existing, readable file or folder (it is only ever read).
- `inspect_source` is prepare's own detection (`readers.detect_kind`, `open_table`,
  `columns.detect_format` / `resolve_columns`, `squad.is_squad`, BEIR for folders), used
  read-only: the detected format, the column mapping and the first rows. A source prepare
  refuses raises prepare's own `InputError`.
- `prepare_argv` builds `python -m wrapper prepare ...` from the page's choices;
  `option_help` takes each option's help and default from `wrapper.prepare.flags`, as the CLI does.
- `datasets` lists prepared datasets (`data/*/`, through `wrapper.dataset.Dataset`);
  `manifest_facts` and `sample_triplets` show what prepare wrote.
"""

from __future__ import annotations

import itertools
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wrapper.errors import InputError

DATA_DIR = Path("data")
UPLOADS = Path("raw") / "uploads"
PREVIEW_ROWS = 5
#: the column roles a user may map, with prepare's flag for each
ROLE_FLAGS = {"query": "--query-col", "passage": "--passage-col", "label": "--label-col", "pos": "--pos-col",
              "neg": "--neg-col"}
#: prepare options the Data page offers (CLI parameter names), in page order
MAIN_OPTIONS = ("val_ratio", "test_ratio", "mine", "num_negatives", "label_threshold", "seed", "miner")
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


# --------------------------------------------------------------------------- where files go
def uploads_dir(data_dir: str | os.PathLike = DATA_DIR) -> Path:
    return Path(data_dir) / UPLOADS


def safe_name(name: str) -> str:
    """A plain file name from a browser's: the last path component, odd characters -> '_',
    no leading dots (no hidden files, no '..')."""
    base = re.split(r"[\\/]", str(name))[-1]
    base = _SAFE.sub("_", base).lstrip(".")
    base = base[:120]
    if not base or not base.strip("_"):
        raise InputError.at(repr(name), "not a usable file name", hint="rename the file, e.g. pairs.csv, and upload it again")
    return base


def save_upload(name: str, content: bytes, data_dir: str | os.PathLike = DATA_DIR) -> Path:
    """Write an uploaded file to `data/raw/uploads/<safe name>` (replacing one of that name)."""
    folder = uploads_dir(data_dir).resolve()
    target = (folder / safe_name(name)).resolve()
    if target.parent != folder:  # cannot happen after safe_name; a guard, not a feature
        raise InputError.at(repr(name), "an upload may only be written to the uploads folder")
    folder.mkdir(parents=True, exist_ok=True)
    from wrapper.jsonio import atomic_path

    with atomic_path(target) as tmp:
        tmp.write_bytes(content)
    return target


def check_path(text: str) -> Path:
    """A typed path: `~` expanded, it must exist and be readable by this user (it is only read)."""
    raw = (text or "").strip().strip('"').strip("'")
    if not raw:
        raise InputError("no path given\n  hint: type the path of a data file or a BEIR folder, or upload a file")
    path = Path(raw).expanduser()
    if not path.exists():
        raise InputError.at(path, "no such file or folder", hint="check the path (relative paths start in the folder "
                                                                 f"the studio was started in: {Path.cwd()})")
    if not os.access(path, os.R_OK) or (path.is_dir() and not os.access(path, os.X_OK)):
        raise InputError.at(path, "not readable by this user", hint="fix its permissions or copy it somewhere readable")
    if not (path.is_file() or path.is_dir()):
        raise InputError.at(path, "not a regular file or folder")
    return path


# --------------------------------------------------------------------------- detection (prepare's own)
@dataclass
class Inspection:
    """What prepare's detection sees in one source."""

    path: Path
    kind: str  # csv, tsv, jsonl, json, parquet, directory
    format: str  # pairs, listwise, triplets, positives, squad, beir
    columns: list[str] = field(default_factory=list)
    mapping: dict[str, str] = field(default_factory=dict)  # role -> column
    rows: list[dict[str, Any]] = field(default_factory=list)  # the first rows, as read
    notes: list[str] = field(default_factory=list)


def peek(path: str | os.PathLike, *, encoding: str = "utf-8") -> Inspection:
    """A table's kind, columns and first rows without choosing a format (format ""); folders and
    JSON documents (BEIR, SQuAD) go through `inspect_source`. Unreadable files raise prepare's InputError."""
    from wrapper.prepare.columns import KNOWN_COLUMNS
    from wrapper.prepare.options import PrepareOptions
    from wrapper.prepare.readers import FileKind, TableSource, detect_kind, open_table

    path = Path(path)
    kind = detect_kind(path)
    if kind is FileKind.directory:
        return inspect_source(path, encoding=encoding)
    opened = open_table(path, kind, encoding=encoding, max_line_bytes=PrepareOptions().max_line_bytes,
                        known_columns=KNOWN_COLUMNS)
    if not isinstance(opened, TableSource):
        return inspect_source(path, encoding=encoding)
    return Inspection(path, kind.value, "", list(opened.columns), {}, _first_rows(opened))


def _first_rows(opened) -> list[dict[str, Any]]:
    rows = [dict(rec.fields) for rec in itertools.islice(iter(opened), PREVIEW_ROWS)]
    for row in rows:
        row.pop("__bad_width__", None)
    return rows


def inspect_source(path: str | os.PathLike, *, fmt: str = "auto", encoding: str = "utf-8",
                   columns: dict[str, str] | None = None) -> Inspection:
    """Detect `path`'s kind, format and column mapping the way `prepare` will, and read the first rows."""
    from wrapper.prepare.columns import KNOWN_COLUMNS, detect_format, resolve_columns
    from wrapper.prepare.options import Format, PrepareOptions
    from wrapper.prepare.readers import FileKind, TableSource, detect_kind, open_table
    from wrapper.prepare.squad import is_squad

    path = Path(path)
    flags = {f"{role}_col": col for role, col in (columns or {}).items() if col}
    options = PrepareOptions.build(format=fmt, encoding=encoding, **flags)
    kind = detect_kind(path)
    if kind is FileKind.directory or options.format is Format.beir:
        return _inspect_beir(path, kind.value)
    opened = open_table(path, kind, encoding=encoding, max_line_bytes=options.max_line_bytes,
                        known_columns=KNOWN_COLUMNS)
    if not isinstance(opened, TableSource):
        if is_squad(opened):
            return _inspect_squad(path, opened)
        raise InputError.at(path, "a JSON document that is neither a list of rows nor SQuAD-style QA",
                            hint="give a list of objects ([{\"query\": ..., ...}]), JSON Lines, or "
                                 "{\"data\": [{\"paragraphs\": [...]}]}")
    chosen = detect_format(opened, options) if options.format is Format.auto else options.format
    if chosen is Format.squad:
        raise InputError.at(path, "format 'squad' reads a SQuAD-style JSON document, this is a table",
                            hint="leave the format at auto")
    mapping = resolve_columns(opened, chosen, options)
    rows = _first_rows(opened)
    notes = [opened.note] if getattr(opened, "note", None) else []  # e.g. "read dev.json as JSON Lines"
    if opened.headerless:
        notes.append("no header line: columns are named column1, column2, ... by position")
    return Inspection(path, kind.value, chosen.value, list(opened.columns), mapping, rows, notes)


def _inspect_squad(path: Path, doc: dict) -> Inspection:
    rows = []
    for article in doc["data"]:
        for para in article.get("paragraphs") or []:
            for qa in para.get("qas") or []:
                rows.append({"title": article.get("title"), "question": qa.get("question"),
                             "context": str(para.get("context", ""))[:300]})
                if len(rows) >= PREVIEW_ROWS:
                    break
            if len(rows) >= PREVIEW_ROWS:
                break
        if len(rows) >= PREVIEW_ROWS:
            break
    return Inspection(path, "json", "squad", ["title", "question", "context"], {}, rows,
                      ["SQuAD-style QA: each question's own paragraph is its positive"])


def _inspect_beir(path: Path, kind: str) -> Inspection:
    from wrapper.dataset import iter_jsonl
    from wrapper.prepare.beir import BEIR_FILES, _beir_file

    if not path.is_dir():
        raise InputError.at(path, "format 'beir' needs a folder (corpus.jsonl, queries.jsonl, qrels/<split>.tsv)")
    found = {name: _beir_file(path, name) for name in BEIR_FILES}
    qrels = sorted(p.name for p in (path / "qrels").glob("*.tsv*")) if (path / "qrels").is_dir() else []
    if None in found.values() or not qrels:
        listing = sorted(p.name + ("/" if p.is_dir() else "") for p in path.iterdir())[:20]
        raise InputError.at(path, f"not a BEIR folder; found {', '.join(listing) or 'nothing'}",
                            hint="a BEIR folder holds corpus.jsonl, queries.jsonl and qrels/<split>.tsv; "
                                 "for a single data file give the file itself")
    rows = []
    queries = found["queries.jsonl"] if "queries.jsonl" in found else None
    if queries is not None and queries.suffix == ".jsonl":
        rows = [row for _, row in itertools.islice(iter_jsonl(queries), PREVIEW_ROWS)]
    return Inspection(path, kind, "beir", [], {}, rows, [f"qrels splits: {', '.join(qrels)}"])


# --------------------------------------------------------------------------- the prepare job
def option_help() -> dict[str, dict[str, Any]]:
    """{parameter name: {"flag", "help", "default"}} of every `autorerank prepare` option (the table the
    CLI is built from)."""
    from wrapper.prepare.flags import option_help as table

    return table()


def dataset_name(source: str | os.PathLike) -> str:
    """A dataset name from a source file name: `my pairs.csv.gz` -> `my_pairs`."""
    stem = Path(source).name.split(".")[0] if Path(source).name else "dataset"
    name = _SAFE.sub("_", stem).strip("._-")[:60] or "dataset"
    return name if name[0].isalnum() else f"d{name}"


def prepare_argv(sources: list[str | os.PathLike], out: str | os.PathLike, *, fmt: str = "auto",
                 columns: dict[str, str] | None = None, options: dict[str, Any] | None = None,
                 overwrite: bool = False) -> list[str]:
    """argv of `python -m wrapper prepare SOURCES --out OUT ...` (only options that differ from the defaults)."""
    from wrapper.studio.jobs import python_cli

    args: list[str] = [os.fspath(s) for s in sources] + ["--out", os.fspath(out)]
    if fmt and fmt != "auto":
        args += ["--format", fmt]
    for role, col in (columns or {}).items():
        if col:
            args += [ROLE_FLAGS[role], col]
    known = option_help()
    for name, value in (options or {}).items():
        spec = known.get(name)
        if spec is None:
            raise ValueError(f"unknown prepare option {name!r}")
        if value is None or value == spec["default"] or (name == "group_by" and value == "none") \
                or (isinstance(value, (list, tuple)) and not value):
            continue
        if name == "mine":
            args.append("--mine" if value else "--no-mine")
        elif isinstance(value, (list, tuple)):  # repeatable options (--corpus A --corpus B)
            for item in value:
                args += [spec["flag"], os.fspath(item)]
        else:
            args += [spec["flag"], str(value)]
    if overwrite:
        args.append("--overwrite")
    return python_cli("prepare", *args)


# --------------------------------------------------------------------------- prepared datasets
@dataclass
class DatasetInfo:
    path: Path
    name: str
    manifest: dict


def datasets(data_dir: str | os.PathLike = DATA_DIR) -> list[DatasetInfo]:
    """Prepared datasets under `data_dir`, newest first; unreadable manifests are left out."""
    from wrapper.dataset import Dataset, is_dataset

    root = Path(data_dir)
    found = []
    for folder in (p for p in root.iterdir() if is_dataset(p)) if root.is_dir() else ():
        try:
            dataset = Dataset.open(folder)
        except InputError:
            continue
        found.append((dataset.manifest_file.stat().st_mtime, DatasetInfo(folder, dataset.name, dataset.manifest)))
    return [info for _, info in sorted(found, key=lambda t: -t[0])]


def manifest_facts(manifest: dict) -> dict[str, Any]:
    """The manifest in plain words: rows, skipped by reason, splits, mining, hints (prepare's own summary)."""
    counts = manifest.get("counts") or {}
    splits = manifest.get("splits") or {}
    mining = manifest.get("mining") or {}
    split_rows = [{"split": name, "queries": info.get("queries", 0),
                   ("triplets" if manifest.get("has_negatives") else "pairs"): info.get("triplets")}
                  for name, info in splits.items()]
    per = mining.get("negatives_per_query") or {}
    mined = ({"queries": mining.get("queries"), "negatives mined": mining.get("negatives_mined"),
              "per query (mean / min / max)": f"{per.get('mean')} / {per.get('min')} / {per.get('max')}",
              "removed by the false-negative guard": mining.get("removed_by_false_negative_guard"),
              "queries without a negative": mining.get("no_negative_queries"), "seconds": mining.get("seconds")}
             if mining.get("queries") else {})
    return {
        "rows_read": counts.get("rows_read", 0), "rows_used": counts.get("rows_used", 0),
        "rows_skipped": counts.get("rows_skipped", 0), "skipped_by_reason": dict(counts.get("skipped_by_reason") or {}),
        "splits": split_rows, "mining": mined, "mining_enabled": bool(mining.get("enabled", mining.get("queries"))),
        "sources": [{"path": s.get("path"), "format": s.get("format"), "rows": s.get("rows_read"),
                     "columns": ", ".join(f"{k}={v}" for k, v in (s.get("columns") or {}).items())}
                    for s in manifest.get("sources") or []],
    }


def summary(info: DatasetInfo) -> str:
    """prepare's own human summary of this dataset (with its hints)."""
    from wrapper.prepare.manifest import summary_text

    return summary_text(info.manifest, info.path)


def sample_triplets(dataset_dir: str | os.PathLike, n: int = 5) -> list[dict[str, Any]]:
    """The first `n` training queries of `flagembedding/train.jsonl` as query / positive / negatives."""
    from wrapper.dataset import Dataset, iter_jsonl

    path = Dataset.open(dataset_dir).train_file("flagembedding", must_exist=False)
    if not path.is_file():
        return []
    out = []
    for _, row in itertools.islice(iter_jsonl(path), n):
        out.append({"query": row.get("query"), "positive": (row.get("pos") or [""])[0],
                    "negatives": len(row.get("neg") or []), "first negative": (row.get("neg") or [""])[0]})
    return out
