"""Reranking metrics and lexical/random baselines for the quality benchmark.

The fine-tuned and base models are scored by the tool's own `evaluate` stage
(mteb). BM25 and random order are not models mteb can load, so they are scored
here on the same candidate lists; `bench.quality` cross-checks these metrics
against mteb's on the base bi-encoder so the columns are comparable.

Definitions (binary relevance, candidates = positives + negatives of a query):
- MAP: mean over queries of average precision over the full candidate ranking
  (mteb's map_at_1000 for lists shorter than 1,000);
- MRR@10: reciprocal rank of the first relevant candidate within the top 10;
- NDCG@10: DCG of the top 10 over the ideal DCG.
"""

from __future__ import annotations

import math
import random
import re
from pathlib import Path

from wrapper.dataset import iter_records


def load_eval(path: Path) -> list[dict]:
    """The validated records of an `eval/<split>.jsonl` (Contract 1)."""
    return [record for _, record in iter_records(path)]


def _ranked_relevance(scores: list[float], labels: list[int], rng: random.Random) -> list[int]:
    # ties broken at random (a constant scorer must not look better than chance)
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], rng.random()))
    return [labels[i] for i in order]


def query_metrics(rels: list[int]) -> dict[str, float]:
    n_rel = sum(rels)
    if n_rel == 0:
        return {"map": 0.0, "mrr_at_10": 0.0, "ndcg_at_10": 0.0}
    hits, precisions = 0, []
    for rank, rel in enumerate(rels, start=1):
        if rel:
            hits += 1
            precisions.append(hits / rank)
    ap = sum(precisions) / n_rel
    mrr = next((1.0 / r for r, rel in enumerate(rels[:10], start=1) if rel), 0.0)
    dcg = sum(rel / math.log2(r + 1) for r, rel in enumerate(rels[:10], start=1))
    idcg = sum(1.0 / math.log2(r + 1) for r in range(1, min(n_rel, 10) + 1))
    return {"map": ap, "mrr_at_10": mrr, "ndcg_at_10": dcg / idcg}


def score_lists(records: list[dict], scorer, seed: int = 0) -> dict[str, float]:
    """Mean metrics when `scorer(query, passages) -> scores` orders each candidate list."""
    rng = random.Random(seed)
    totals = {"map": 0.0, "mrr_at_10": 0.0, "ndcg_at_10": 0.0}
    for rec in records:
        passages = list(rec["positive"]) + list(rec["negative"])
        labels = [1] * len(rec["positive"]) + [0] * len(rec["negative"])
        m = query_metrics(_ranked_relevance(list(scorer(rec["query"], passages)), labels, rng))
        for k in totals:
            totals[k] += m[k]
    n = max(len(records), 1)
    return {k: v / n for k, v in totals.items()}


def random_order(records: list[dict], repeats: int = 20) -> dict[str, float]:
    """Expected metrics of a random ranking (averaged over `repeats` shuffles)."""
    runs = [score_lists(records, lambda q, ps: [0.0] * len(ps), seed=s) for s in range(repeats)]
    return {k: sum(r[k] for r in runs) / len(runs) for k in runs[0]}


_CJK = re.compile(r"[\u4e00-\u9fff]")


def tokenize(text: str) -> list[str]:
    """Lowercased word tokens; Chinese text is segmented with jieba."""
    if _CJK.search(text):
        import jieba

        return [t for t in (w.strip().lower() for w in jieba.cut(text)) if t and not re.fullmatch(r"\W+", t)]
    return re.findall(r"\w+", text.lower())


def bm25(records: list[dict], corpus_texts: list[str]) -> dict[str, float]:
    """BM25 (bm25s, Lucene variant) with IDF from the whole corpus, reranking each candidate list."""
    import bm25s

    texts = list(dict.fromkeys(corpus_texts + [p for r in records for p in r["positive"] + r["negative"]]))
    index = {t: i for i, t in enumerate(texts)}
    retriever = bm25s.BM25()
    retriever.index([tokenize(t) for t in texts], show_progress=False)

    def scorer(query: str, passages: list[str]) -> list[float]:
        all_scores = retriever.get_scores(tokenize(query))
        return [float(all_scores[index[p]]) for p in passages]

    return score_lists(records, scorer)
