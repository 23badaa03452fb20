"""Input formats: a registry keyed by `Format`, each turning a source into `Collector` rows.

Row formats (pairs, listwise, triplets, positives) read any table file (CSV, TSV,
JSONL, JSON list, Parquet) and find their columns by the usual names (`ALIASES`)
or by the `--*-col` flags. Folder/document formats (beir, squad) read their own
layout. `detect_format` picks one from a source's shape for `--format auto`.

One module per family: `columns` (column roles, labels, detection, `SourceInfo`),
`rows` (the table row loop), `squad`, `beir`; this module is the registry and
the `--corpus` reader.

What is fatal and what is skipped (and counted):
- fatal (InputError, exit 2): a missing column, a row whose shape belongs to
  another format (mixed formats), a folder that is not BEIR, a JSON that is not
  SQuAD, anything `readers.py` refuses;
- skipped per row: empty/whitespace texts, missing (None/NaN) or unparseable
  labels, duplicates, a negative equal to a positive, qrels naming a missing
  document or query, rows with the wrong number of fields, queries without a positive.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from wrapper.errors import InputError
from wrapper.prepare import records as R
from wrapper.prepare.beir import read_beir
from wrapper.prepare.columns import ALIASES, KNOWN_COLUMNS, SourceInfo, columns_message
from wrapper.prepare.options import Format, PrepareOptions
from wrapper.prepare.readers import FileKind, TableSource, detect_kind, iter_lines, open_table
from wrapper.prepare.rows import read_table_source
from wrapper.prepare.squad import read_squad

Reader = Callable[[Path, Format, PrepareOptions, R.Collector], SourceInfo]

READERS: dict[Format, Reader] = {
    Format.pairs: read_table_source,
    Format.listwise: read_table_source,
    Format.triplets: read_table_source,
    Format.positives: read_table_source,
    Format.squad: read_squad,
    Format.beir: read_beir,
}


def read_source(path: Path, options: PrepareOptions, collector: R.Collector) -> SourceInfo:
    """Read one SOURCE into `collector` with the chosen or detected format."""
    fmt = options.format
    if fmt is Format.auto:
        if path.is_dir():
            return read_beir(path, Format.beir, options, collector)
        return read_table_source(path, Format.auto, options, collector)
    return READERS[fmt](path, fmt, options, collector)


def read_corpus_file(path: Path, options: PrepareOptions, collector: R.Collector) -> int:
    """Add the passages of an extra corpus file to the mining pool; returns how many were read."""
    kind = detect_kind(path)
    if kind is FileKind.directory:
        raise InputError.at(path, "--corpus takes a file of passages, this is a folder")
    if path.suffix.lower() == ".txt" or (path.name.lower().endswith(".txt.gz")):
        n = 0
        for _, line in iter_lines(path, options.encoding, options.max_line_bytes):
            text = line.strip()
            if text:
                collector.add_to_pool(text)
                n += 1
        return n
    opened = open_table(path, kind, encoding=options.encoding, max_line_bytes=options.max_line_bytes,
                        known_columns=KNOWN_COLUMNS | {"title", "_id"})
    if not isinstance(opened, TableSource):
        raise InputError.at(path, "a --corpus JSON must be a list of objects with a text column")
    lower = {c.lower(): c for c in opened.columns}
    # in alias order: a BEIR corpus has both "title" and "text", and the text is the passage
    col = next((lower[a] for a in ALIASES["passage"] if a in lower), None)
    if col is None:
        raise InputError.at(path, f"no text column in the corpus file; {columns_message(opened.columns)}",
                            hint="name the column 'text' (or passage/document)")
    n = 0
    for rec in opened:
        # the text alone (no title): it must match the same passage given in the SOURCE files exactly,
        # or a query's own positive could come back as a mined "negative"
        text = R.clean_text(rec.fields.get(col))
        if text:
            collector.add_to_pool(text)
            n += 1
    return n
