"""Eval-style JSONL -> `RerankData` (query -> candidate lists) -> an in-memory mteb reranking task.

Each query's positives and negatives are its candidate list (`top_ranked`), so a
bi-encoder and a cross-encoder rank exactly the same candidates. Lines are read
and validated by `wrapper.dataset.iter_records` (errors name the file and line).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

from wrapper.dataset import iter_records, sha256_file
from wrapper.errors import InputError
from wrapper.evaluate.catalog import LOCAL_MAIN_SCORE

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN_WORD = re.compile(r"[A-Za-z]{2,}")


@dataclass
class RerankData:
    """One split of query -> candidate lists, ready for mteb's RetrievalSplitData."""

    queries: dict[str, str]  # query id -> text
    corpus: dict[str, str]  # doc id -> text
    relevant: dict[str, dict[str, int]]  # query id -> {doc id: 1}
    candidates: dict[str, list[str]]  # query id -> doc ids (top_ranked)
    source: Path
    content_hash: str
    languages: list[str] = field(default_factory=list)  # mteb lang-script codes

    @property
    def num_pairs(self) -> int:
        return sum(len(c) for c in self.candidates.values())


def _doc_id(text: str) -> str:
    return "d" + hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]


def detect_languages(texts: list[str]) -> list[str]:
    """`eng-Latn` and/or `cmn-Hans`, judged from the characters of the texts."""
    cjk = latin = 0
    for text in texts:
        cjk += len(_CJK.findall(text))
        latin += len(_LATIN_WORD.findall(text))
    langs = []
    # a Chinese character carries about as much as an English word; a language
    # needs at least 10% of the signal to count
    total = cjk + latin
    if total == 0 or latin >= 0.1 * total:
        langs.append("eng-Latn")
    if total and cjk >= 0.1 * total:
        langs.append("cmn-Hans")
    return langs


def read_rerank_jsonl(path: Path, *, require_query_id: bool = True) -> RerankData:
    """Read `{"query_id", "query", "positive": [...], "negative": [...]}` lines.

    Raises InputError naming the line and field for anything unusable. Texts are
    de-duplicated into one corpus; a text that is both positive and negative for
    the same query counts as positive.
    """
    queries: dict[str, str] = {}
    corpus: dict[str, str] = {}
    relevant: dict[str, dict[str, int]] = {}
    candidates: dict[str, list[str]] = {}
    all_texts: list[str] = []
    for _, record in iter_records(path, require_query_id=require_query_id):
        qid, query = record["query_id"], record["query"]
        queries[qid] = query
        rel: dict[str, int] = {}
        cands: list[str] = []
        for text in record["positive"]:
            did = _doc_id(text)
            corpus[did] = text
            if did not in rel:
                rel[did] = 1
                cands.append(did)
        for text in record["negative"]:
            did = _doc_id(text)
            corpus[did] = text
            if did not in rel and did not in cands:
                cands.append(did)
        relevant[qid] = rel
        candidates[qid] = cands
        all_texts.append(query)
        all_texts.extend(record["positive"][:1])
    if not queries:
        raise InputError.at(path, "no queries in file", hint="the eval split is empty; prepare with a larger --val-ratio")
    return RerankData(
        queries=queries, corpus=corpus, relevant=relevant, candidates=candidates, source=path,
        content_hash=sha256_file(path), languages=detect_languages(all_texts),
    )


def make_task(name: str, description: str, data: RerankData, split: str, *, reference_path: str,
              revision: str, main_score: str = LOCAL_MAIN_SCORE):
    """An mteb reranking task (AbsTaskRetrieval with top_ranked) over in-memory data."""
    from datasets import Dataset
    from mteb.abstasks.retrieval import AbsTaskRetrieval
    from mteb.abstasks.task_metadata import TaskMetadata

    metadata = TaskMetadata(
        name=name,
        description=description,
        dataset={"path": reference_path, "revision": revision},
        type="Reranking",
        category="t2t",
        modalities=["text"],
        eval_splits=[split],
        eval_langs=data.languages or ["eng-Latn"],
        main_score=main_score,
        license="not specified",
        annotations_creators="human-annotated",
        dialect=[],
        sample_creation="found",
        bibtex_citation="",
    )

    class _RerankTask(AbsTaskRetrieval):
        def load_data(self, num_proc=None, *, timer=None, **kwargs):  # noqa: ARG002
            if self.data_loaded:
                return
            self.dataset = {
                "default": {
                    split: {
                        "corpus": Dataset.from_dict({
                            "id": list(data.corpus), "title": [""] * len(data.corpus), "text": list(data.corpus.values()),
                        }),
                        "queries": Dataset.from_dict({"id": list(data.queries), "text": list(data.queries.values())}),
                        "relevant_docs": {q: dict(r) for q, r in data.relevant.items()},
                        "top_ranked": {q: list(c) for q, c in data.candidates.items()},
                    }
                }
            }
            self.data_loaded = True

    _RerankTask.metadata = metadata
    _RerankTask.__name__ = re.sub(r"\W", "_", name)
    task = _RerankTask()
    return task
