"""JSON inputs: JSON Lines (one object per line) and JSON documents (a list of rows, SQuAD, ...).

A `.json` file is read by its content, not its name: many datasets (CLUE's QBQTC
`dev.json`, for one) ship JSON Lines under `.json`, as pandas and `datasets`
accept. When its first non-blank line is one complete JSON object and more lines
follow, the file is read as JSON Lines and `TableSource.note` says so (the
manifest and the summary repeat it). Anything else is parsed as one document; a
broken one is an `InputError` naming the line and column.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

from wrapper.errors import InputError
from wrapper.prepare.readers import FileKind, Record, TableSource, decode_error, iter_lines, open_binary

JSONL_HINT = "each line of a .jsonl file must be one complete JSON object; fix or delete that line"
#: bytes of a first line read to tell JSON Lines from a document (a longer first line: a document)
SNIFF_BYTES = 1024 * 1024


def json_lines_note(path: Path) -> str:
    return f"read {path.name} as JSON Lines (one object per line)"


def open_jsonl(path: Path, *, encoding: str, max_line_bytes: int, note: str | None = None) -> TableSource:
    """Rows of a JSON Lines file, each with its line number."""
    lines = iter_lines(path, encoding, max_line_bytes)
    hint = JSONL_HINT if note is None else (
        f"{path.name} was read as JSON Lines because its first line is a complete JSON object; "
        "each line must then be one complete object (fix or delete that line), "
        "or make the file one JSON document")

    def records() -> Iterator[Record]:
        index = 0
        for lineno, text in lines:
            text = text.strip()
            if not text:
                continue
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as exc:
                truncated = exc.pos >= len(text) - 1
                raise InputError.at(
                    path,
                    ("the JSON on this line is truncated" if truncated else "invalid JSON")
                    + f": {exc.msg} (character {exc.colno})",
                    line=lineno,
                    hint=hint,
                ) from None
            if not isinstance(obj, dict):
                raise InputError.at(
                    path,
                    f"expected a JSON object per line, got a JSON {type(obj).__name__}",
                    line=lineno,
                    hint='write one object per line, e.g. {"query": "...", "pos": ["..."], "neg": ["..."]}',
                )
            index += 1
            yield Record(lineno, index, obj)

    it = records()
    first = next(it, None)
    if first is None:
        raise InputError.at(path, "the file is empty (no data rows)", hint="check that you passed the right file")
    return TableSource(path, FileKind.jsonl, list(first.fields), False, [first], it, note=note)


def looks_like_json_lines(path: Path) -> bool:
    """True when the first non-blank line is one complete JSON object and another non-blank line follows."""
    with open_binary(path) as fh:
        first = b""
        while not first:
            raw = fh.readline(SNIFF_BYTES + 1)
            if not raw:
                return False
            if len(raw) > SNIFF_BYTES and not raw.endswith(b"\n"):
                return False  # a long first line: a minified document (a long JSON Lines row parses later)
            first = raw.strip().removeprefix(b"\xef\xbb\xbf").strip()
        try:
            if not isinstance(json.loads(first), dict):
                return False
        except ValueError:  # JSONDecodeError, UnicodeDecodeError
            return False
        while True:
            raw = fh.readline(SNIFF_BYTES)
            if not raw:
                return False
            if raw.strip():
                return True


def open_json(path: Path, *, encoding: str, max_line_bytes: int) -> TableSource | Any:
    """A `.json` file: JSON Lines (by content), a list of rows (a table), or any other document as parsed."""
    if looks_like_json_lines(path):
        return open_jsonl(path, encoding=encoding, max_line_bytes=max_line_bytes, note=json_lines_note(path))
    data = load_json_document(path, encoding=encoding)
    if isinstance(data, list):
        return json_list_source(path, data)
    return data


def load_json_document(path: Path, *, encoding: str) -> Any:
    """Parse a whole file as one JSON document (InputError with line and column when it is not)."""
    with open_binary(path) as fh:
        raw = fh.read()
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise decode_error(path, exc, line, encoding) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        hint = "fix the JSON (a validator such as `python -m json.tool FILE` shows the spot)"
        if exc.msg == "Extra data" and text.lstrip().startswith("{"):
            hint = ("this looks like several JSON objects one after another; JSON Lines needs exactly one "
                    "complete object per line (with --format auto such a file is read as JSON Lines)")
        raise InputError.at(path, f"invalid JSON: {exc.msg} (column {exc.colno})", line=exc.lineno, hint=hint) from None


def json_list_source(path: Path, data: list) -> TableSource:
    """A JSON list of objects as table rows (records have no line numbers)."""
    if not data:
        raise InputError.at(path, "the JSON list is empty (no data rows)")
    for i, obj in enumerate(data):
        if not isinstance(obj, dict):
            raise InputError.at(
                path,
                f"record {i + 1} is a JSON {type(obj).__name__}; expected a list of objects",
                hint='write [{"query": "...", "passage": "...", "label": 1}, ...]',
            )
    records = (Record(None, i + 1, obj) for i, obj in enumerate(data))
    return TableSource(path, FileKind.json, list(data[0]), False, [], records)
