"""SQuAD-style QA JSON (`{"data": [{"paragraphs": [{"context", "qas"}]}]}`): each question
is a query whose paragraph is its positive; every paragraph joins the mining pool."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from wrapper.errors import InputError
from wrapper.prepare import records as R
from wrapper.prepare.columns import SourceInfo
from wrapper.prepare.groups import ARTICLE, PASSAGE, refuse
from wrapper.prepare.options import Format, PrepareOptions
from wrapper.prepare.jsonfiles import load_json_document
from wrapper.prepare.readers import FileKind, detect_kind


def is_squad(doc: Any) -> bool:
    return (isinstance(doc, dict) and isinstance(doc.get("data"), list)
            and all(isinstance(a, dict) and "paragraphs" in a for a in doc["data"][:5]) and bool(doc["data"]))


def read_squad(path: Path, fmt: Format, options: PrepareOptions, collector: R.Collector) -> SourceInfo:
    kind = detect_kind(path)
    if kind is FileKind.directory:
        raise InputError.at(path, "format 'squad' reads a JSON file, this is a folder")
    doc = load_json_document(path, encoding=options.encoding)
    if not is_squad(doc):
        raise InputError.at(path, "not SQuAD-style JSON: expected {\"data\": [{\"paragraphs\": [{\"context\": ..., "
                                  "\"qas\": [{\"id\", \"question\"}]}]}]}",
                            hint="choose the right --format (or leave it at auto)")
    return read_squad_document(path, doc, options, collector)


def read_squad_document(path: Path, doc: dict, options: PrepareOptions, collector: R.Collector) -> SourceInfo:
    refuse(path, options.group_by, "SQuAD-style JSON", (PASSAGE, ARTICLE))
    by_article = options.group_by == ARTICLE
    info = SourceInfo(str(path), Format.squad.value, FileKind.json.value, hashed_files=[path])
    paragraphs = 0
    for a_index, article in enumerate(tqdm(doc["data"], desc=f"reading {path.name}", unit=" articles",
                                           disable=not options.progress, mininterval=1.0)):
        if not isinstance(article, dict) or not isinstance(article.get("paragraphs"), list):
            raise InputError.at(path, f"data[{a_index}] has no 'paragraphs' list", hint="is this SQuAD-style JSON?")
        title = R.clean_text(article.get("title"))
        article_key = f"title:{title}" if title else f"{path}#{a_index}"
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
                if by_article:
                    collector.tag_group(question, article_key)
    info.details["paragraphs"] = paragraphs
    return info
