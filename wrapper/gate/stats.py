"""Ranking statistics the gate needs: average precision per query and a paired bootstrap.

Pure functions over plain lists (numpy inside), so they are tested on synthetic
scores with known answers (tests/test_gate.py).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

#: bootstrap resamples; 2,000 keeps the 2.5/97.5 percentiles stable to ~0.002 MAP
BOOTSTRAP_SAMPLES = 2000
#: fixed seed: the same scores always give the same interval (verdicts are reproducible)
BOOTSTRAP_SEED = 0
CONFIDENCE = 0.95


def _tie_key(text: str) -> str:
    # ties are broken by a hash of the passage, like pytrec_eval breaks them by document id:
    # neither relevant-first (a constant scorer would look perfect) nor relevant-last
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def average_precision(scores: Sequence[float], labels: Sequence[int], texts: Sequence[str] | None = None) -> float:
    """AP of one query's candidate list: mean of precision@k over the ranks k of the relevant ones.

    Every relevant candidate is in the list (a reranking task), so this equals MTEB's
    `map_at_1000` per query for lists shorter than 1,000. A query without a relevant
    candidate has no AP (ValueError).
    """
    if len(scores) != len(labels):
        raise ValueError("scores and labels differ in length")
    relevant = sum(1 for x in labels if x > 0)
    if relevant == 0:
        raise ValueError("a query needs at least one relevant candidate")
    keys = [_tie_key(t) for t in texts] if texts is not None else [str(i) for i in range(len(scores))]
    order = sorted(range(len(scores)), key=lambda i: (-float(scores[i]), keys[i]))
    hits, total = 0, 0.0
    for rank, i in enumerate(order, start=1):
        if labels[i] > 0:
            hits += 1
            total += hits / rank
    return total / relevant


def paired_bootstrap(
    base: Sequence[float],
    fine: Sequence[float],
    *,
    n: int = BOOTSTRAP_SAMPLES,
    seed: int = BOOTSTRAP_SEED,
    confidence: float = CONFIDENCE,
) -> tuple[float, float, float]:
    """Mean of `fine - base` over queries and its bootstrap interval.

    Queries are resampled with replacement; the same resample is used for both
    models (paired), which removes the between-query variance both share.
    Returns (delta, low, high).
    """
    import numpy as np

    if len(base) != len(fine):
        raise ValueError(f"paired scores need the same queries: {len(base)} vs {len(fine)}")
    if not base:
        raise ValueError("no queries to resample")
    diff = np.asarray(fine, dtype=float) - np.asarray(base, dtype=float)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(diff), size=(n, len(diff)))
    means = diff[idx].mean(axis=1)
    tail = (1.0 - confidence) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(diff.mean()), float(low), float(high)
