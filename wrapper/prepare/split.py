"""Split queries (never rows) into train / validation / test with a seed.

The order of the input does not matter: queries are sorted by id before the
seeded shuffle, so the same data and seed always give the same split, and a
query (with all its positives and negatives) lives in exactly one split.
With `--group-by`, whole groups of queries (see `groups.py`) are split instead.
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


def split_groups(groups: dict[str, str], *, val_ratio: float, test_ratio: float, seed: int,
                 group_by: str) -> dict[str, list[str]]:
    """Like `split_queries`, but whole groups (query id -> group id) go to one split.

    Groups are sorted by id, shuffled with `seed`, then test and validation each take
    the groups that bring them closer to their share of *queries* (at least one group
    when the share is not 0); the rest is train. Shares are therefore approximate.
    """
    members: dict[str, list[str]] = {}
    for qid, gid in groups.items():
        members.setdefault(gid, []).append(qid)
    if val_ratio >= 1.0:
        return split_queries(list(groups), val_ratio=val_ratio, test_ratio=test_ratio, seed=seed)
    n = len(groups)
    order = sorted(members)
    random.Random(seed).shuffle(order)
    taken: set[str] = set()
    out: dict[str, list[str]] = {}
    for name, ratio in (("test", test_ratio), ("validation", val_ratio)):
        target = _size(n, ratio)
        chosen, size = [], 0
        for gid in order:
            # take a group when it brings the split closer to its share (it may overshoot by less
            # than it was short)
            if gid not in taken and size + len(members[gid]) - target < target - size:
                chosen.append(gid)
                taken.add(gid)
                size += len(members[gid])
                if size >= target:
                    break
        if target and not chosen:  # every group is bigger than the share: take the smallest one
            free = [g for g in order if g not in taken]
            if free:
                gid = min(free, key=lambda g: len(members[g]))
                chosen.append(gid)
                taken.add(gid)
        out[name] = sorted(q for gid in chosen for q in members[gid])
    out["train"] = sorted(q for gid in order if gid not in taken for q in members[gid])
    if not out["train"] or (val_ratio > 0 and not out["validation"]):
        largest = max(len(m) for m in members.values())
        raise InputError(
            f"--group-by {group_by}: {n} usable quer{'y' if n == 1 else 'ies'} form {len(members)} "
            f"group{'' if len(members) == 1 else 's'} (the largest holds {largest}): too few to split into "
            f"train/validation{'/test' if test_ratio else ''}\n"
            "  hint: group by something finer (e.g. --group-by article instead of passage), "
            "provide more data, or lower --val-ratio / --test-ratio"
        )
    return out


def split_info(groups: dict[str, str] | None, splits: dict[str, list[str]], group_by: str | None) -> dict:
    """The manifest's `split` entry: what was kept together and how many groups each split got."""
    if groups is None:
        n = sum(len(v) for v in splits.values())
        return {"group_by": None, "groups": n}
    sizes: dict[str, int] = {}
    for gid in groups.values():
        sizes[gid] = sizes.get(gid, 0) + 1
    return {
        "group_by": group_by,
        "groups": len(sizes),
        "largest_group": max(sizes.values()),
        "groups_per_split": {name: len({groups[q] for q in splits[name]}) for name in SPLITS},
    }
