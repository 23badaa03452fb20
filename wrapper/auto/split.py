"""The selection split `autorerank auto` chooses on, carved from the training queries.

The gate's split (`eval/validation.jsonl`) stays untouched: the trials never train or choose on
it. From the training records (`flagembedding/train.jsonl`) a seeded share of queries is held
out as the *selection* split, whole groups at a time (queries that share a positive passage stay
together, as `prepare --group-by passage` splits them), and written with the rest as a derived
dataset in the auto run folder:

    <auto run>/data/<dataset>-auto/   train = the other training queries
                                      eval/selection.jsonl   what trials are scored and compared on
                                      eval/validation.jsonl  the gate's held-out split, copied as it is
                                      autotrain/validation.csv   from the selection split (AutoTrain's
                                                                 in-training evaluation sees only it)

Each selection query's candidates are its own positives and mined negatives plus passages of other
selection queries (seeded) up to `CANDIDATES`, so a query with one mined negative still ranks a list.
"""

from __future__ import annotations

import random
from pathlib import Path

from wrapper.dataset import Dataset, read_jsonl
from wrapper.errors import InputError

SELECTION = "selection"
SELECTION_RATIO = 0.15
MIN_SELECTION, MAX_SELECTION = 8, 150
CANDIDATES = 16
SEED = 13


def _groups(records: list[dict]) -> dict[str, str]:
    """query id (its line index) -> group id: queries sharing a positive passage, joined."""
    parent = {str(i): str(i) for i in range(len(records))}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    owner: dict[str, str] = {}
    for i, record in enumerate(records):
        for text in record.get("pos") or []:
            first = owner.setdefault(text, str(i))
            a, b = find(first), find(str(i))
            if a != b:
                parent[max(a, b)] = min(a, b)
    return {q: find(q) for q in parent}


def carve(dataset: Dataset, folder: Path, *, ratio: float = SELECTION_RATIO, seed: int = SEED) -> dict:
    """Write the derived dataset into `folder` (see the module doc); returns what was carved."""
    from wrapper.dataset.writer import write_dataset
    from wrapper.prepare.split import split_groups

    records = read_jsonl(dataset.train_file("flagembedding"))
    usable = [r for r in records if r.get("pos")]
    if len(usable) < 2 * MIN_SELECTION:
        raise InputError.at(dataset.train_file("flagembedding"),
                            f"{len(usable)} training queries: too few to hold {MIN_SELECTION} out for choosing "
                            "between trials and still train", hint="prepare more training queries, or train one "
                                                                   "recipe with `autorerank config` + `train`")
    share = min(max(ratio, MIN_SELECTION / len(usable)), MAX_SELECTION / len(usable))
    split = split_groups(_groups(usable), val_ratio=share, test_ratio=0.0, seed=seed, group_by="passage")
    chosen = {int(q) for q in split["validation"]}
    train = [r for i, r in enumerate(usable) if i not in chosen]
    selected = [r for i, r in enumerate(usable) if i in chosen]
    rng = random.Random(seed)
    pool = [t for r in selected for t in [*(r.get("pos") or []), *(r.get("neg") or [])]]
    selection = []
    for n, r in enumerate(selected):
        own = set(r["pos"])
        negatives = [t for t in r.get("neg") or [] if t not in own]
        others = [t for t in pool if t not in own and t not in negatives]
        rng.shuffle(others)
        negatives += others[: max(CANDIDATES - len(own) - len(negatives), 0)]
        selection.append({"query_id": f"s{n}", "query": r["query"], "positive": list(r["pos"]), "negative": negatives})
    held_out = dataset.read_split("validation")
    write_dataset(folder, train=train, eval_splits={"validation": held_out, SELECTION: selection},
                  name=f"{dataset.name}-auto", autotrain_validation=SELECTION,
                  # AutoTrain's check while it trains: one triplet per query (its hardest negative). With all
                  # 15 it evaluated 4 minutes per epoch on cmrc2018; auto scores the full lists afterwards.
                  validation_negatives=1,
                  extra={"derived_from": {"dataset": str(dataset.root), "content_hash": dataset.content_hash,
                                          "selection": {"queries": len(selection), "seed": seed,
                                                        "group_by": "passage", "candidates": CANDIDATES}}})
    return {"train_queries": len(train), "selection_queries": len(selection), "seed": seed, "group_by": "passage",
            "held_out_queries": len(held_out)}


__all__ = ["SELECTION", "carve"]
