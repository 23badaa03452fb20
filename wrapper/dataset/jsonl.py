"""Strict readers for the files of a prepared dataset: JSON lines, eval records, hashes.

    iter_jsonl(path) / read_jsonl(path)   strict JSON lines (a bad line is an InputError with its line)
    iter_jsonl_text(path, text)           the same over text a caller decoded itself (its own --encoding)
    iter_records(path)                    eval-style records {query_id, query, positive, negative}, validated
    sha256_file(path) / sha256_files(ps)  content hashes of source files and weights

Only the standard library and `wrapper.errors` are imported, so the AutoTrain
environment's subprocesses can use this module too.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Iterable, Iterator

from wrapper.errors import InputError

PREPARE_HINT = ("run `autorerank prepare RAW_FILE --name NAME` first (it writes the manifest and "
                "eval/<split>.jsonl), then pass data/NAME")
RECORD_HINT = '{"query_id": "q1", "query": "...", "positive": ["..."], "negative": ["..."]}'

_CHUNK = 1 << 20


# --------------------------------------------------------------------------- hashes


def sha256_files(paths: Iterable[str | os.PathLike]) -> str:
    """Hex sha256 over the bytes of `paths`, in the order given (one file: that file's sha256)."""
    digest = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(_CHUNK), b""):
                digest.update(block)
    return digest.hexdigest()


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of one file's bytes."""
    return sha256_files([path])


# --------------------------------------------------------------------------- JSON lines


def iter_jsonl(path: str | os.PathLike, *, hint: str | None = None) -> Iterator[tuple[int, dict]]:
    """Yield `(line number, object)` for each non-blank line; a bad line is an InputError naming it."""
    path = Path(path)
    if not path.is_file():
        raise InputError.at(path, "file not found", hint=hint or PREPARE_HINT)
    with open(path, "rb") as fh:
        for line_no, raw in enumerate(fh, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise InputError.at(path, f"not UTF-8 text (byte {exc.start + 1} of the line)", line=line_no,
                                    hint="save the file as UTF-8") from None
            row = _json_object(path, line_no, line, hint)
            if row is not None:
                yield line_no, row


def iter_jsonl_text(path: str | os.PathLike, text: str, *, hint: str | None = None) -> Iterator[tuple[int, dict]]:
    """`iter_jsonl` over the text of `path` already read and decoded (for a reader with its own encoding)."""
    for line_no, line in enumerate(text.splitlines(), start=1):
        row = _json_object(Path(path), line_no, line, hint)
        if row is not None:
            yield line_no, row


def _json_object(path: Path, line_no: int, line: str, hint: str | None) -> dict | None:
    """One line as a JSON object (None for a blank line); an InputError naming the line otherwise."""
    if not line.strip():
        return None
    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        raise InputError.at(path, f"not valid JSON ({exc.msg}, column {exc.colno})", line=line_no,
                            hint=hint or "each line must be one JSON object") from None
    if not isinstance(row, dict):
        raise InputError.at(path, f"expected a JSON object, got {type(row).__name__}", line=line_no,
                            hint=hint or "each line must be one JSON object")
    return row


def read_jsonl(path: str | os.PathLike, *, hint: str | None = None) -> list[dict]:
    """All objects of a JSON-lines file (strict: see `iter_jsonl`)."""
    return [row for _, row in iter_jsonl(path, hint=hint)]


def parse_record(row: dict, path: Path, line_no: int, *, require_query_id: bool = True) -> dict:
    """One eval line as `{query_id, query, positive, negative}` (lists of non-empty strings).

    Accepts `id` for `query_id` and FlagEmbedding's `pos`/`neg`, and a single
    string for a list. Without a `query_id` (when not required) the id is `q<line>`.
    """
    qid = row.get("query_id", row.get("id"))
    if qid is None:
        if require_query_id:
            raise InputError.at(path, "missing field", line=line_no, column="query_id", hint=RECORD_HINT)
        qid = f"q{line_no}"
    if not isinstance(qid, (str, int)) or isinstance(qid, bool):
        raise InputError.at(path, f"expected a string, got {qid!r}", line=line_no, column="query_id")
    query = row.get("query")
    if not isinstance(query, str) or not query.strip():
        raise InputError.at(path, "expected a non-empty string", line=line_no, column="query", hint=RECORD_HINT)
    record: dict[str, Any] = {"query_id": str(qid), "query": query}
    for key in ("positive", "negative"):
        value = row.get(key, row.get(key[:3]))
        if value is None:
            value = []
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
            raise InputError.at(path, "expected a list of strings", line=line_no, column=key, hint=RECORD_HINT)
        record[key] = [t for t in value if t.strip()]
    if not record["positive"]:
        raise InputError.at(path, "needs at least one non-empty positive passage", line=line_no,
                            column="positive", hint="drop queries without a known relevant passage")
    return record


def iter_records(path: str | os.PathLike, *, require_query_id: bool = True) -> Iterator[tuple[int, dict]]:
    """Yield `(line number, record)` of an eval-style JSONL file, validated (see `parse_record`);
    a query id seen twice is an InputError."""
    path = Path(path)
    seen: set[str] = set()
    for line_no, row in iter_jsonl(path, hint=f"each line must be one object: {RECORD_HINT}"):
        record = parse_record(row, path, line_no, require_query_id=require_query_id)
        if record["query_id"] in seen:
            raise InputError.at(path, f"duplicate query_id {record['query_id']!r}", line=line_no,
                                column="query_id", hint="query ids must be unique within a split")
        seen.add(record["query_id"])
        yield line_no, record
