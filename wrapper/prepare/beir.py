"""BEIR folders (corpus.jsonl, queries.jsonl, qrels/<split>.tsv): judged pairs -> `Collector` rows.

The qrels are read first (small), then only the queries they name, then the
corpus (every document joins the mining pool). Skipped and counted: qrels naming
a missing query or document, missing or unparseable scores, empty query texts.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from wrapper.errors import InputError
from wrapper.prepare import records as R
from wrapper.prepare.columns import SourceInfo, label_skip_reason, parse_label
from wrapper.prepare.groups import PASSAGE, refuse
from wrapper.prepare.options import Format, PrepareOptions
from wrapper.prepare.readers import FileKind, iter_lines


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
    refuse(path, options.group_by, "a BEIR folder", (PASSAGE,))
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
        reason = label_skip_reason(label)
        if reason == R.INVALID_LABEL and options.label_threshold is not None:
            raise InputError.at(qrels_file, f"score {score.strip()!r} is not a number, and --label-threshold "
                                f"{threshold:g} compares numeric grades", line=lineno, column="score",
                                hint="fix or delete that line, or drop --label-threshold to skip and count it")
        if reason:
            collector.skip(row, reason)
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
