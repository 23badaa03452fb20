"""Split queries (never rows) into train / validation / test with a seed.

The order of the input does not matter: queries are sorted by id before the
seeded shuffle, so the same data and seed always give the same split, and a
query (with all its positives and negatives) lives in exactly one split.
"""

from __future__ import annotations

import random

from wrapper.errors import InputError

SPLITS = ("train", "validation", "test")


def _size(n: int, ratio: float) -> int:
    if ratio <= 0:
        return 0
    return max(1, round(n * ratio))


def split_queries(query_ids: list[str], *, val_ratio: float, test_ratio: float, seed: int) -> dict[str, list[str]]:
    """Return {"train": [...], "validation": [...], "test": [...]} of query ids."""
    n = len(query_ids)
    if val_ratio >= 1.0:  # evaluation-only dataset: every query is held out
        if test_ratio > 0:
            raise InputError("--val-ratio 1.0 holds every query out for validation; it cannot be combined with "
                             "--test-ratio\n  hint: use --val-ratio 1.0 alone for an evaluation-only dataset")
        return {"test": [], "validation": sorted(query_ids), "train": []}
    n_test = _size(n, test_ratio)
    n_val = _size(n, val_ratio)
    if n - n_test - n_val < 1:
        raise InputError(
            f"only {n} usable quer{'y' if n == 1 else 'ies'} (with a positive): too few to split into "
            f"train/validation{'/test' if test_ratio else ''}\n"
            "  hint: provide more queries, or lower --val-ratio / --test-ratio"
        )
    order = sorted(query_ids)
    random.Random(seed).shuffle(order)
    return {
        "test": order[:n_test],
        "validation": order[n_test : n_test + n_val],
        "train": order[n_test + n_val :],
    }
