"""Input formats: a registry keyed by `Format`, each turning a source into `Collector` rows.

Row formats (pairs, listwise, triplets, positives) read any table file (CSV, TSV,
JSONL, JSON list, Parquet) and find their columns by the usual names (`ALIASES`)
or by the `--*-col` flags. Folder/document formats (beir, squad) read their own
layout. `detect_format` picks one from a source's shape for `--format auto`.

What is fatal and what is skipped (and counted):
- fatal (InputError, exit 2): a missing column, a row whose shape belongs to
  another format (mixed formats), a folder that is not BEIR, a JSON that is not
  SQuAD, anything `readers.py` refuses;
- skipped per row: empty/whitespace texts, missing (None/NaN) or unparseable
  labels, duplicates, a negative equal to a positive, qrels naming a missing
  document or query, rows with the wrong number of fields, queries without a positive.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from tqdm.auto import tqdm

from wrapper.errors import InputError
from wrapper.prepare import records as R
from wrapper.prepare.options import Format, PrepareOptions
from wrapper.prepare.readers import FileKind, Record, TableSource, detect_kind, iter_lines, open_table

#: recognised column names per role (case-insensitive), first match wins
ALIASES: dict[str, tuple[str, ...]] = {
    "query": ("query", "question", "anchor", "q", "query_text", "sentence1", "prompt"),
    "passage": ("passage", "document", "doc", "text", "context", "answer", "response", "content",
                "passage_text", "sentence2", "corpus"),
    "label": ("label", "labels", "score", "relevance", "rel", "relevant", "is_relevant", "rating", "grade"),
    "pos": ("pos", "positive", "positives", "positive_passage", "pos_passage", "sentence2"),
    "neg": ("neg", "negative", "negatives", "hard_negative", "hard_negatives", "negative_passage",
            "neg_passage", "sentence3"),
}
ROLE_FLAGS = {"query": "--query-col", "passage": "--passage-col", "label": "--label-col", "pos": "--pos-col",
              "neg": "--neg-col"}
KNOWN_COLUMNS = {name for names in ALIASES.values() for name in names}

#: the roles each row format needs (optional ones in brackets are looked up but not required)
ROLES: dict[Format, tuple[str, ...]] = {
    Format.pairs: ("query", "passage", "label"),
    Format.listwise: ("query", "pos", "neg"),
    Format.triplets: ("query", "pos", "neg"),
    Format.positives: ("query", "pos"),
}
OPTIONAL_ROLES = {Format.listwise: {"neg"}}

TRUE_WORDS = {"true", "yes", "y", "relevant", "pos", "positive"}
FALSE_WORDS = {"false", "no", "n", "irrelevant", "not_relevant", "neg", "negative"}


@dataclass
class SourceInfo:
    """What was read from one source (goes into the manifest's `sources`)."""

    path: str
    format: str
    file_kind: str
    rows_read: int = 0
    columns: dict[str, str] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    hashed_files: list[Path] = field(default_factory=list)


# --------------------------------------------------------------------------- helpers
def _explicit(options: PrepareOptions, role: str) -> str | None:
    if role == "pos":
        return options.pos_col or (options.passage_col if not options.neg_col and not options.label_col else None)
    return {"query": options.query_col, "passage": options.passage_col, "label": options.label_col,
            "neg": options.neg_col}[role]


def _find_column(columns: list[str], role: str, options: PrepareOptions, taken: set[str]) -> str | None:
    explicit = _explicit(options, role)
    if explicit is not None:
        return explicit if explicit in columns else None
    lower = {c.lower(): c for c in columns}
    for alias in ALIASES[role]:
        if alias in lower and lower[alias] not in taken:
            return lower[alias]
    return None


def parse_label(value: Any) -> float | None | str:
    """A label as a float; None when missing; the string "invalid" when it cannot be read."""
    if value is None:
        return None
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return None if (isinstance(value, float) and math.isnan(value)) else float(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("", "nan", "none", "null", "na", "n/a"):
            return None
        if text in TRUE_WORDS:
            return 1.0
        if text in FALSE_WORDS:
            return 0.0
        try:
            number = float(text)
        except ValueError:
            return "invalid"
        return None if math.isnan(number) else number
    return "invalid"


def _auto_threshold(labels: Iterable[Any]) -> float:
    """1, unless the labels look like probabilities (fractions in [0, 1]): then 0.5."""
    for value in labels:
        number = parse_label(value)
        if isinstance(number, float) and 0.0 < number < 1.0 and number != int(number):
            return 0.5
    return 1.0


def _as_text_list(value: Any) -> list[Any] | None:
    """A listwise `pos`/`neg` cell as a list (a lone string counts as one item; JSON text is parsed)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    if hasattr(value, "tolist"):  # numpy arrays from Parquet
        return list(value.tolist())
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                parsed = json.loads(text)
                if isinstance(parsed, list):
                    return parsed
            except ValueError:
                pass
        return [value]
    return None


def _columns_message(columns: list[str]) -> str:
    shown = ", ".join(repr(c) for c in columns[:20]) + (" ..." if len(columns) > 20 else "")
    return f"columns found: {shown}"


# --------------------------------------------------------------------------- detection
def detect_format(table: TableSource, options: PrepareOptions) -> Format:
    """Pick the row format from the columns (and the first row's values)."""
    cols = table.columns
    if table.headerless:
        if len(cols) == 2:
            return Format.positives
        if len(cols) == 3:
            third = next(iter(table.first_rows), None)
            value = third.fields.get("column3") if third else None
            return Format.pairs if isinstance(parse_label(value), float) else Format.triplets
        raise InputError.at(
            table.path,
            f"the first line does not look like a header, and a headerless file needs 2 or 3 columns (found {len(cols)})",
            line=1,
            hint="add a header row naming the columns (e.g. query,passage,label) or pass --query-col etc.",
        )
    if options.label_col:
        return Format.pairs
    taken: set[str] = set()
    q = _find_column(cols, "query", options, taken)
    found = {role: _find_column(cols, role, options, {q} if q else set()) for role in ("passage", "label", "pos", "neg")}
    first = table.first_rows[0].fields if table.first_rows else {}
    neg_value = first.get(found["neg"]) if found["neg"] else None
    pos_value = first.get(found["pos"]) if found["pos"] else None
    if found["neg"] and (isinstance(neg_value, (list, tuple)) or isinstance(pos_value, (list, tuple))):
        return Format.listwise
    if found["pos"] and isinstance(pos_value, (list, tuple)):
        return Format.listwise
    if found["neg"] and (found["pos"] or found["passage"]):
        return Format.triplets
    if found["label"] and (found["passage"] or found["pos"]):
        return Format.pairs
    if q and (found["pos"] or found["passage"]):
        return Format.positives
    raise InputError.at(
        table.path,
        "cannot tell the format from the columns; " + _columns_message(cols),
        hint=(
            "expected one of: pairs (query, passage, label), triplets (query, positive, negative), "
            "listwise (query, pos[], neg[]), positives (query, positive); name your columns with "
            "--query-col/--passage-col/--label-col/--pos-col/--neg-col or pick one with --format"
        ),
    )


def resolve_columns(table: TableSource, fmt: Format, options: PrepareOptions) -> dict[str, str]:
    """Map each role of `fmt` to a column of `table`, or fail listing the columns found."""
    if table.headerless:
        n = len(table.columns)
        need = len(ROLES[fmt])
        if n < need:
            raise InputError.at(table.path, f"{fmt.value} needs {need} columns, this headerless file has {n}", line=1,
                                hint="add a header row or choose another --format")
        return {role: f"column{i + 1}" for i, role in enumerate(ROLES[fmt])}
    mapping: dict[str, str] = {}
    taken: set[str] = set()
    for role in ROLES[fmt]:
        col = None
        if fmt is Format.pairs and role == "passage":
            col = _find_column(table.columns, "passage", options, taken) or _find_column(table.columns, "pos", options, taken)
        elif role == "pos" and fmt in (Format.triplets, Format.positives):
            col = _find_column(table.columns, "pos", options, taken)
            if col is None and not options.pos_col:
                col = _find_column(table.columns, "passage", options, taken)
        else:
            col = _find_column(table.columns, role, options, taken)
        if col is None:
            if role in OPTIONAL_ROLES.get(fmt, ()):
                continue
            explicit = _explicit(options, role)
            flag = ROLE_FLAGS[role]
            if explicit:
                problem = f"column {explicit!r} (from {flag}) is not in the file; {_columns_message(table.columns)}"
            else:
                looked = ", ".join(ALIASES[role][:6])
                problem = (f"no {role} column for format {fmt.value!r} (looked for {looked}); "
                           f"{_columns_message(table.columns)}")
            raise InputError.at(table.path, problem, line=1 if table.kind in (FileKind.csv, FileKind.tsv) else None,
                                hint=f"name the column with {flag} COLUMN")
        mapping[role] = col
        taken.add(col)
    return mapping


# --------------------------------------------------------------------------- row formats
def _mixed_format_error(table: TableSource, rec: Record, fmt: Format, missing: list[str]) -> InputError:
    keys = ", ".join(repr(k) for k in list(rec.fields)[:12])
    return InputError.at(
        table.path,
        f"record {rec.index} lacks {', '.join(repr(m) for m in missing)} that format {fmt.value!r} "
        f"(detected from the first record) needs; it has {keys}",
        line=rec.line,
        hint="one file must hold one format: split mixed files and pass each as its own SOURCE",
    )


def _read_rows(table: TableSource, fmt: Format, options: PrepareOptions, collector: R.Collector,
               info: SourceInfo) -> None:
    mapping = resolve_columns(table, fmt, options)
    info.columns = mapping
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
        threshold = _auto_threshold(r.fields.get(mapping["label"]) for r in pending)
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
        if fmt is Format.pairs:
            passage = R.clean_text(fields.get(mapping["passage"]))
            if not passage:
                collector.skip(row, R.EMPTY_TEXT)
                continue
            label = parse_label(fields.get(mapping["label"]))
            if label is None:
                collector.skip(row, R.MISSING_LABEL)
                continue
            if label == "invalid":
                collector.skip(row, R.INVALID_LABEL)
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
                values = _as_text_list(fields.get(mapping[role]))
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
    info = SourceInfo(str(path), fmt.value, kind.value, hashed_files=[path])
    if opened.headerless:
        info.details["headerless"] = True
    _read_rows(opened, fmt, options, collector, info)
    return info


# --------------------------------------------------------------------------- squad
def is_squad(doc: Any) -> bool:
    return (isinstance(doc, dict) and isinstance(doc.get("data"), list)
            and all(isinstance(a, dict) and "paragraphs" in a for a in doc["data"][:5]) and bool(doc["data"]))


def read_squad(path: Path, fmt: Format, options: PrepareOptions, collector: R.Collector) -> SourceInfo:
    kind = detect_kind(path)
    if kind is FileKind.directory:
        raise InputError.at(path, "format 'squad' reads a JSON file, this is a folder")
    from wrapper.prepare.readers import load_json_document

    doc = load_json_document(path, encoding=options.encoding)
    if not is_squad(doc):
        raise InputError.at(path, "not SQuAD-style JSON: expected {\"data\": [{\"paragraphs\": [{\"context\": ..., "
                                  "\"qas\": [{\"id\", \"question\"}]}]}]}",
                            hint="choose the right --format (or leave it at auto)")
    return read_squad_document(path, doc, options, collector)


def read_squad_document(path: Path, doc: dict, options: PrepareOptions, collector: R.Collector) -> SourceInfo:
    info = SourceInfo(str(path), Format.squad.value, FileKind.json.value, hashed_files=[path])
    paragraphs = 0
    for a_index, article in enumerate(tqdm(doc["data"], desc=f"reading {path.name}", unit=" articles",
                                           disable=not options.progress, mininterval=1.0)):
        if not isinstance(article, dict) or not isinstance(article.get("paragraphs"), list):
            raise InputError.at(path, f"data[{a_index}] has no 'paragraphs' list", hint="is this SQuAD-style JSON?")
        for paragraph in article["paragraphs"]:
            if not isinstance(paragraph, dict):
                raise InputError.at(path, f"data[{a_index}].paragraphs holds a {type(paragraph).__name__}, expected objects")
            context = R.clean_text(paragraph.get("context"))
            paragraphs += 1
            if context:
                collector.add_to_pool(context)
            qas = paragraph.get("qas") or []
            for qa in qas:
                row = collector.new_row()
                info.rows_read += 1
                if not isinstance(qa, dict):
                    collector.skip(row, R.INVALID_ITEM)
                    continue
                question = R.clean_text(qa.get("question"))
                if not question or not context:
                    collector.skip(row, R.EMPTY_TEXT)
                    continue
                qid = R.clean_text(qa.get("id")) or None
                collector.add(row, collector.query(question, qid), context, positive=True)
    info.details["paragraphs"] = paragraphs
    return info


# --------------------------------------------------------------------------- beir
BEIR_FILES = ("corpus.jsonl", "queries.jsonl")


def _beir_file(folder: Path, name: str) -> Path | None:
    for candidate in (folder / name, folder / (name + ".gz")):
        if candidate.is_file():
            return candidate
    return None


def read_beir(path: Path, fmt: Format, options: PrepareOptions, collector: R.Collector) -> SourceInfo:
    if not path.is_dir():
        raise InputError.at(path, "format 'beir' needs a folder (corpus.jsonl, queries.jsonl, qrels/<split>.tsv)")
    corpus_file, queries_file = (_beir_file(path, n) for n in BEIR_FILES)
    qrels_dir = path / "qrels"
    qrels = sorted(qrels_dir.glob("*.tsv")) + sorted(qrels_dir.glob("*.tsv.gz")) if qrels_dir.is_dir() else []
    if corpus_file is None or queries_file is None or not qrels:
        found = sorted(p.name + ("/" if p.is_dir() else "") for p in path.iterdir())[:20]
        missing = [n for n, f in zip(BEIR_FILES, (corpus_file, queries_file)) if f is None]
        if not qrels:
            missing.append("qrels/<split>.tsv")
        raise InputError.at(
            path,
            f"not a BEIR folder: missing {', '.join(missing)}; found {', '.join(found) or 'nothing'}",
            hint="a BEIR folder holds corpus.jsonl, queries.jsonl and qrels/<split>.tsv; "
                 "for a single data file pass the file itself",
        )
    splits = {p.name.split(".")[0]: p for p in qrels}
    split = options.split
    if split is None:
        split = "train" if "train" in splits else (next(iter(splits)) if len(splits) == 1 else None)
        if split is None:
            raise InputError.at(qrels_dir, f"several qrels splits and no 'train': {', '.join(sorted(splits))}",
                                hint="pick one with --split")
    if split not in splits:
        raise InputError.at(qrels_dir, f"no qrels for split {split!r}; found {', '.join(sorted(splits))}",
                            hint="pick one of those with --split")
    qrels_file = splits[split]
    info = SourceInfo(str(path), Format.beir.value, FileKind.directory.value,
                      hashed_files=[corpus_file, queries_file, qrels_file])
    info.details["split"] = split
    threshold = options.label_threshold if options.label_threshold is not None else 1.0
    info.details["label_threshold"] = threshold

    # qrels first (small): which queries are needed
    judgements: list[tuple[int, str, str, Any]] = []
    header_seen = False
    for lineno, text in iter_lines(qrels_file, options.encoding, options.max_line_bytes):
        parts = text.rstrip("\r\n").split("\t")
        if not any(p.strip() for p in parts):
            continue
        if not header_seen:
            header_seen = True
            if len(parts) >= 3 and not isinstance(parse_label(parts[-1]), float):
                continue  # header line (query-id corpus-id score)
        if len(parts) == 4:  # TREC style: qid 0 docid score
            parts = [parts[0], parts[2], parts[3]]
        judgements.append((lineno, *(parts + ["", "", ""])[:3]))
    if not judgements:
        raise InputError.at(qrels_file, "the qrels file has no judgements", hint="expected lines: query-id<TAB>corpus-id<TAB>score")
    wanted_queries = {qid.strip() for _, qid, _, _ in judgements}

    queries: dict[str, str] = {}
    for lineno, text in iter_lines(queries_file, options.encoding, options.max_line_bytes):
        if not text.strip():
            continue
        obj = _beir_json(queries_file, lineno, text)
        qid = R.clean_text(obj.get("_id"))
        if qid in wanted_queries:
            queries[qid] = R.clean_text(obj.get("text"))

    doc_ids: dict[str, int] = {}
    empty_docs = 0
    corpus_lines = iter_lines(corpus_file, options.encoding, options.max_line_bytes)
    for lineno, text in tqdm(corpus_lines, desc=f"reading {corpus_file.name}", unit=" docs",
                             disable=not options.progress, mininterval=1.0):
        if not text.strip():
            continue
        obj = _beir_json(corpus_file, lineno, text)
        did = R.clean_text(obj.get("_id"))
        body = R.clean_text(obj.get("text"))
        title = R.clean_text(obj.get("title")) if options.use_title else ""
        doc = f"{title} {body}".strip() if title else body
        if not did or not doc:
            empty_docs += 1
            continue
        doc_ids[did] = collector.add_to_pool(doc)
    info.details["corpus_documents"] = len(doc_ids)
    info.details["corpus_empty_documents"] = empty_docs

    for lineno, qid, did, score in judgements:
        row = collector.new_row()
        info.rows_read += 1
        qid, did = qid.strip(), did.strip()
        label = parse_label(score)
        if qid not in queries:
            collector.skip(row, R.MISSING_QUERY)
            continue
        if did not in doc_ids:
            collector.skip(row, R.MISSING_DOCUMENT)
            continue
        if label is None:
            collector.skip(row, R.MISSING_LABEL)
            continue
        if label == "invalid":
            collector.skip(row, R.INVALID_LABEL)
            continue
        if not queries[qid]:
            collector.skip(row, R.EMPTY_TEXT)
            continue
        entry = collector.query(queries[qid], qid)
        collector.add(row, entry, collector.passages[doc_ids[did]], positive=label >= threshold)
    return info


def _beir_json(path: Path, lineno: int, text: str) -> dict:
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError.at(path, f"invalid JSON: {exc.msg} (character {exc.colno})", line=lineno,
                            hint="each line must be one JSON object like {\"_id\": ..., \"text\": ...}") from None
    if not isinstance(obj, dict) or "_id" not in obj:
        raise InputError.at(path, "expected a JSON object with '_id' and 'text'", line=lineno)
    return obj


# --------------------------------------------------------------------------- registry
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
    col = next((c for c in opened.columns if c.lower() in ALIASES["passage"]), None)
    if col is None:
        raise InputError.at(path, f"no text column in the corpus file; {_columns_message(opened.columns)}",
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
