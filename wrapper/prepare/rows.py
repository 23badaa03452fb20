"""Row formats (pairs, listwise, triplets, positives): any table file -> `Collector` rows.

Fatal: a missing column, or a record whose shape belongs to another format (a
mixed file). Skipped per row and counted: empty texts, missing or unparseable
labels, rows with the wrong number of fields (see `records`).
"""

from __future__ import annotations

from pathlib import Path

from tqdm.auto import tqdm

from wrapper.errors import InputError
from wrapper.prepare import records as R
from wrapper.prepare.columns import (
    KNOWN_COLUMNS,
    ROLES,
    SourceInfo,
    as_text_list,
    auto_threshold,
    columns_message,
    detect_format,
    label_skip_reason,
    parse_label,
    resolve_columns,
)
from wrapper.prepare.groups import PASSAGE, column_of, refuse
from wrapper.prepare.options import Format, PrepareOptions
from wrapper.prepare.readers import FileKind, Record, TableSource, detect_kind, open_table
from wrapper.prepare.squad import is_squad, read_squad_document


def _mixed_format_error(table: TableSource, rec: Record, fmt: Format, missing: list[str]) -> InputError:
    keys = ", ".join(repr(k) for k in list(rec.fields)[:12])
    return InputError.at(
        table.path,
        f"record {rec.index} lacks {', '.join(repr(m) for m in missing)} that format {fmt.value!r} "
        f"(detected from the first record) needs; it has {keys}",
        line=rec.line,
        hint="one file must hold one format: split mixed files and pass each as its own SOURCE",
    )


def _label_error(table: TableSource, rec: Record, column: str, threshold: float) -> InputError:
    """A label that is not a number while --label-threshold compares numeric grades."""
    where = "" if rec.line is not None else f"record {rec.index}: "
    return InputError.at(
        table.path,
        f"{where}label {rec.fields.get(column)!r} is not a number, and --label-threshold {threshold:g} "
        "compares numeric grades",
        line=rec.line, column=column,
        hint="make every label a number (0, 1, 2 or \"0\", \"1\", \"2\"), fix or delete that row, "
             "or drop --label-threshold to skip unreadable labels and count them",
    )


def _read_rows(table: TableSource, fmt: Format, options: PrepareOptions, collector: R.Collector,
               info: SourceInfo) -> None:
    mapping = resolve_columns(table, fmt, options)
    info.columns = mapping
    # a table's own column named like a keyword ("article") is that column
    group_col = options.group_by if options.group_by in table.columns else column_of(options.group_by)
    if group_col is None:
        refuse(table.path, options.group_by, "a table", (PASSAGE,), columns=True)
    if group_col is not None and group_col not in table.columns:
        raise InputError.at(table.path, f"--group-by {group_col!r}: no such column; {columns_message(table.columns)}",
                            line=1 if table.kind in (FileKind.csv, FileKind.tsv) else None,
                            hint="name a column of the file (rows sharing its value stay in one split), "
                                 "or use --group-by passage")
    check_keys = table.kind in (FileKind.jsonl, FileKind.json)
    needed = [mapping[r] for r in ROLES[fmt] if r in mapping]
    threshold = options.label_threshold
    pending: list[Record] = []  # rows peeked at to choose the label threshold
    rows_iter = iter(table)
    if fmt is Format.pairs and threshold is None:
        for rec in rows_iter:
            pending.append(rec)
            if len(pending) >= 1000:
                break
        threshold = auto_threshold(r.fields.get(mapping["label"]) for r in pending)
    if fmt is Format.pairs:
        info.details["label_threshold"] = threshold

    def all_rows():
        yield from pending
        yield from rows_iter

    bar = tqdm(all_rows(), desc=f"reading {table.path.name}", unit=" rows", disable=not options.progress,
               mininterval=1.0)
    for rec in bar:
        fields = rec.fields
        row = collector.new_row()
        info.rows_read += 1
        if "__bad_width__" in fields:
            collector.skip(row, R.WRONG_FIELD_COUNT)
            continue
        if check_keys:
            missing = [k for k in needed if k not in fields]
            if missing:
                raise _mixed_format_error(table, rec, fmt, missing)
        query_text = R.clean_text(fields.get(mapping["query"]))
        if not query_text:
            collector.skip(row, R.EMPTY_TEXT)
            continue
        if group_col is not None:
            key = R.clean_text(fields.get(group_col))
            if key:
                collector.tag_group(query_text, key)
        if fmt is Format.pairs:
            passage = R.clean_text(fields.get(mapping["passage"]))
            if not passage:
                collector.skip(row, R.EMPTY_TEXT)
                continue
            label = parse_label(fields.get(mapping["label"]))
            reason = label_skip_reason(label)
            if reason == R.INVALID_LABEL and options.label_threshold is not None:
                raise _label_error(table, rec, mapping["label"], threshold)
            if reason:
                collector.skip(row, reason)
                continue
            collector.add(row, collector.query(query_text), passage, positive=label >= threshold)
        elif fmt in (Format.triplets, Format.positives):
            passage = R.clean_text(fields.get(mapping["pos"]))
            if not passage:
                collector.skip(row, R.EMPTY_TEXT)
                continue
            entry = collector.query(query_text)
            collector.add(row, entry, passage, positive=True)
            if fmt is Format.triplets:
                negative = R.clean_text(fields.get(mapping["neg"]))
                if not negative:
                    collector.drop_item(row, R.EMPTY_TEXT)
                else:
                    collector.add(row, entry, negative, positive=False)
        else:  # listwise
            entry = None
            items = []
            for role, positive in (("pos", True), ("neg", False)):
                if role not in mapping:
                    continue
                values = as_text_list(fields.get(mapping[role]))
                if values is None:
                    collector.drop_item(row, R.INVALID_ITEM)
                    continue
                items.extend((v, positive) for v in values)
            for value, positive in items:
                text = R.clean_text(value) if isinstance(value, str) else ""
                if not text:
                    collector.drop_item(row, R.EMPTY_TEXT if isinstance(value, str) or value is None else R.INVALID_ITEM)
                    continue
                if entry is None:
                    entry = collector.query(query_text, R.clean_text(fields.get("query_id")) or None)
                collector.add(row, entry, text, positive=positive)
            if not items:
                collector.skip(row, R.EMPTY_TEXT)


def read_table_source(path: Path, fmt: Format, options: PrepareOptions, collector: R.Collector) -> SourceInfo:
    kind = detect_kind(path)
    if kind is FileKind.directory:
        raise InputError.at(path, f"format {fmt.value!r} reads a file, this is a folder",
                            hint="pass the data file itself, or --format beir for a BEIR folder")
    opened = open_table(path, kind, encoding=options.encoding, max_line_bytes=options.max_line_bytes,
                        known_columns=KNOWN_COLUMNS | {c for c in (options.query_col, options.passage_col,
                                                                    options.label_col, options.pos_col,
                                                                    options.neg_col) if c})
    if not isinstance(opened, TableSource):
        if fmt is Format.auto and is_squad(opened):
            return read_squad_document(path, opened, options, collector)
        raise InputError.at(
            path,
            "this JSON document is neither a list of rows nor SQuAD-style QA data",
            hint='use JSON Lines (one {"query": ..., ...} object per line), a JSON list of objects, '
                 'or SQuAD ({"data": [{"paragraphs": [{"context", "qas"}]}]})',
        )
    if fmt is Format.auto:
        fmt = detect_format(opened, options)
    info = SourceInfo(str(path), fmt.value, opened.kind.value, hashed_files=[path])
    if opened.headerless:
        info.details["headerless"] = True
    if opened.note:
        info.details["notes"] = [opened.note]
    _read_rows(opened, fmt, options, collector, info)
    return info
