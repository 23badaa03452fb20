"""Reading raw files: file kinds, gzip, encodings, BOM/CRLF, and rows with line numbers.

Everything here is about *bytes and rows*, not about what the rows mean (that is
`formats.py`). A problem the tool cannot work around (empty file, binary file,
bytes that are not in the declared encoding, invalid JSON, a gigantic line) is an
`InputError` that names the file and the line.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import math
import os
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, BinaryIO, Iterator

from wrapper.errors import InputError

GZIP_MAGIC = b"\x1f\x8b"
PARQUET_MAGIC = b"PAR1"
HEAD_BYTES = 8192


class FileKind(str, Enum):
    csv = "csv"
    tsv = "tsv"
    jsonl = "jsonl"
    json = "json"
    parquet = "parquet"
    directory = "directory"


EXTENSIONS = {
    ".csv": FileKind.csv,
    ".tsv": FileKind.tsv,
    ".tab": FileKind.tsv,
    ".jsonl": FileKind.jsonl,
    ".ndjson": FileKind.jsonl,
    ".json": FileKind.json,
    ".parquet": FileKind.parquet,
    ".pq": FileKind.parquet,
}


def open_binary(path: Path) -> BinaryIO:
    """Open a file for reading bytes, transparently gunzipping `.gz` (by magic bytes)."""
    fh = open(path, "rb")
    magic = fh.read(2)
    fh.seek(0)
    if magic == GZIP_MAGIC:
        return gzip.GzipFile(fileobj=fh, mode="rb")  # type: ignore[return-value]
    return fh


def is_gzip(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(2) == GZIP_MAGIC


def read_head(path: Path, size: int = HEAD_BYTES) -> bytes:
    try:
        with open_binary(path) as fh:
            return fh.read(size)
    except (OSError, EOFError) as exc:  # a corrupt gzip stream
        raise InputError.at(path, f"cannot read the file: {exc}", hint="is it a complete, uncorrupted file?") from None


def check_readable_text(path: Path, head: bytes) -> None:
    """Refuse empty, UTF-16/32 and binary files with a message that says what to do."""
    if not head.strip(b" \t\r\n\xef\xbb\xbf"):
        raise InputError.at(path, "the file is empty (no data rows)", hint="check that you passed the right file")
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InputError.at(
            path,
            "the file is UTF-16 encoded; autorerank reads UTF-8",
            hint="re-save it as UTF-8, e.g. `iconv -f UTF-16 -t UTF-8 IN > OUT`",
        )
    if b"\x00" in head:
        raise InputError.at(
            path,
            "this looks like a binary file (it contains NUL bytes), not CSV/TSV/JSON text",
            hint="pass a .csv, .tsv, .jsonl, .json or .parquet file (optionally gzipped)",
        )


def detect_kind(path: Path) -> FileKind:
    """The file kind, from the extension (ignoring `.gz`), else from the first bytes."""
    if path.is_dir():
        return FileKind.directory
    if not path.exists():
        raise InputError.at(path, "no such file or folder", hint="check the path (relative paths start in the current folder)")
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in (".gz", ".gzip"):
        suffixes = suffixes[:-1]
    if suffixes and suffixes[-1] in (".xlsx", ".xls", ".ods", ".numbers"):
        raise InputError.at(path, "spreadsheet files are not read directly",
                            hint="export the sheet as CSV (File > Save as > CSV UTF-8) and pass the .csv")
    if suffixes and suffixes[-1] in EXTENSIONS:
        kind = EXTENSIONS[suffixes[-1]]
        if kind is FileKind.parquet:
            return kind
        check_readable_text(path, read_head(path))
        return kind
    head = read_head(path)
    if head.startswith(PARQUET_MAGIC):
        return FileKind.parquet
    check_readable_text(path, head)
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text.startswith(b"["):
        return FileKind.json
    if text.startswith(b"{"):
        first_line = text.split(b"\n", 1)[0].strip()
        try:
            json.loads(first_line)
            return FileKind.jsonl
        except ValueError:
            return FileKind.json
    first_line = text.split(b"\n", 1)[0]
    return FileKind.tsv if b"\t" in first_line else FileKind.csv


def _text_stream(path: Path, encoding: str) -> io.TextIOWrapper:
    import codecs

    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        raise InputError(f"--encoding {encoding!r} is not an encoding Python knows (try utf-8, latin1, cp1252)") from None
    return io.TextIOWrapper(open_binary(path), encoding="utf-8-sig" if name == "utf-8" else encoding, newline="")


def decode_error(path: Path, exc: UnicodeDecodeError, line: int, encoding: str) -> InputError:
    bad = exc.object[exc.start : exc.start + 1]
    return InputError.at(
        path,
        f"byte 0x{bad.hex()} at character {exc.start + 1} is not valid {encoding}",
        line=line,
        hint=(
            "re-save the file as UTF-8 (e.g. `iconv -f latin1 -t utf-8 IN > OUT`), "
            "or pass its real encoding with --encoding (e.g. --encoding cp1252)"
        ),
    )


def iter_lines(path: Path, encoding: str = "utf-8", max_line_bytes: int = 32 * 1024 * 1024) -> Iterator[tuple[int, str]]:
    """Yield (line number, decoded line with its line ending) from a text file.

    Handles gzip, a UTF-8 BOM and CRLF (endings are kept so that `csv` can see
    quoted newlines); refuses undecodable bytes and lines longer than
    `max_line_bytes`, naming the line.
    """
    with open_binary(path) as fh:
        lineno = 0
        while True:
            try:
                raw = fh.readline(max_line_bytes + 1)
            except (OSError, EOFError) as exc:
                raise InputError.at(path, f"cannot read the file: {exc}", line=lineno + 1) from None
            if not raw:
                return
            lineno += 1
            if len(raw) > max_line_bytes and not raw.endswith(b"\n"):
                raise InputError.at(
                    path,
                    f"line is longer than {max_line_bytes:,} bytes",
                    line=lineno,
                    hint=(
                        "a whole file on one line usually means the wrong format (e.g. a JSON document named .jsonl, "
                        "or old-Mac CR line endings); fix the file or raise --max-line-bytes"
                    ),
                )
            if lineno == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            try:
                yield lineno, raw.decode(encoding)
            except UnicodeDecodeError as exc:
                raise decode_error(path, exc, lineno, encoding) from None
            except LookupError:
                raise InputError(f"--encoding {encoding!r} is not an encoding Python knows (try utf-8, latin1, cp1252)") from None


@dataclass
class Record:
    """One input row: where it came from and its fields (dict keyed by column name)."""

    line: int | None  # 1-based line in the file (CSV/TSV/JSONL); None for JSON/Parquet records
    index: int  # 1-based record number
    fields: dict[str, Any]


@dataclass
class TableSource:
    """Rows of one tabular file (CSV, TSV, JSONL, JSON list, Parquet) plus its column names."""

    path: Path
    kind: FileKind
    columns: list[str]
    headerless: bool = False
    first_rows: list[Record] = field(default_factory=list)
    _rest: Iterator[Record] | None = None
    #: how the file was read when that is not what its name says (e.g. a .json holding JSON Lines)
    note: str | None = None

    def __iter__(self) -> Iterator[Record]:
        yield from self.first_rows
        if self._rest is not None:
            yield from self._rest


def _known_header(cells: list[str], known: set[str]) -> bool:
    lowered = {k.lower() for k in known}
    return any(c.strip().lower() in lowered for c in cells if c)


def open_table(path: Path, kind: FileKind, *, encoding: str, max_line_bytes: int, known_columns: set[str]) -> TableSource | Any:
    """Open a tabular file. JSON documents that are not a list of rows are returned as parsed data;
    a `.json` file that holds JSON Lines is read as such (`TableSource.note` says so)."""
    if kind in (FileKind.csv, FileKind.tsv):
        return _open_delimited(path, kind, encoding=encoding, max_line_bytes=max_line_bytes, known=known_columns)
    if kind in (FileKind.jsonl, FileKind.json):
        from wrapper.prepare import jsonfiles  # JSON builds on this module's Record/TableSource

        if kind is FileKind.jsonl:
            return jsonfiles.open_jsonl(path, encoding=encoding, max_line_bytes=max_line_bytes)
        return jsonfiles.open_json(path, encoding=encoding, max_line_bytes=max_line_bytes)
    if kind is FileKind.parquet:
        return _open_parquet(path)
    raise InputError.at(path, f"cannot read a {kind.value} as a table")  # pragma: no cover


def _open_delimited(path: Path, kind: FileKind, *, encoding: str, max_line_bytes: int, known: set[str]) -> TableSource:
    csv.field_size_limit(max_line_bytes)
    # fast path: csv reads a decoding stream in C; on a problem, the slow line-by-line reader
    # (iter_lines) is run to name the exact line and byte
    stream = _text_stream(path, encoding)
    if kind is FileKind.tsv:
        reader = csv.reader(stream, delimiter="\t", quoting=csv.QUOTE_NONE)
    else:
        reader = csv.reader(stream)

    def next_row():
        try:
            return next(reader, None)
        except UnicodeDecodeError:
            for _ in iter_lines(path, encoding, max_line_bytes):
                pass  # raises the precise error
            raise InputError.at(path, f"the file is not valid {encoding}", line=reader.line_num + 1) from None
        except csv.Error as exc:
            if "field larger than field limit" in str(exc):
                raise InputError.at(
                    path, f"a field is longer than {max_line_bytes:,} bytes", line=reader.line_num + 1,
                    hint="a whole file in one field usually means the wrong delimiter or an unclosed quote; "
                         "fix the file or raise --max-line-bytes",
                ) from None
            raise InputError.at(
                path, f"malformed {kind.value.upper()}: {exc}", line=reader.line_num,
                hint="check the quoting on that line (a stray quote character swallows the following lines)",
            ) from None

    header = None
    while True:
        header = next_row()
        if header is None:
            raise InputError.at(path, "the file is empty (no data rows)", hint="check that you passed the right file")
        if any(cell.strip() for cell in header):
            break
    header_line = reader.line_num
    # only TSV may be headerless (MS MARCO style); a CSV's first line is always its header
    headerless = kind is FileKind.tsv and not _known_header(header, known)
    if headerless:
        columns = [f"column{i + 1}" for i in range(len(header))]
        first = [Record(header_line, 1, dict(zip(columns, header)))]
    else:
        columns = [c.strip() for c in header]
        first = []
    width = len(columns)

    def rest() -> Iterator[Record]:
        index = len(first)
        while True:
            row = next_row()
            if row is None:
                return
            if not any(cell.strip() for cell in row):
                continue  # blank line
            index += 1
            fields: dict[str, Any] = dict(zip(columns, row))
            if len(row) != width:
                fields["__bad_width__"] = len(row)
            yield Record(reader.line_num, index, fields)

    return TableSource(path, kind, columns, headerless, first, rest())


def _open_parquet(path: Path) -> TableSource:
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises ArrowInvalid/OSError for broken files
        raise InputError.at(path, f"cannot read as Parquet: {exc}", hint="is it a complete .parquet file?") from None
    columns = list(pf.schema_arrow.names)
    if pf.metadata.num_rows == 0:
        raise InputError.at(path, "the Parquet file has no rows")

    def records() -> Iterator[Record]:
        index = 0
        for batch in pf.iter_batches(batch_size=65536):
            for row in batch.to_pylist():
                index += 1
                yield Record(None, index, row)

    return TableSource(path, FileKind.parquet, columns, False, [], records())


def is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def file_size(path: Path) -> int:
    return os.path.getsize(path)


__all__ = [
    "FileKind",
    "Record",
    "TableSource",
    "detect_kind",
    "iter_lines",
    "open_table",
    "is_missing",
]
