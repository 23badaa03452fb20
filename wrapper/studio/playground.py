"""The studio's Playground: one query, some passages, the base and one or two fine-tunes side by side.

Models load through `wrapper.serve.scorer.load_scorer` (a run id, a folder, `bundled`
or a Hub id; cross-encoders score pairs, bi-encoders by cosine). `compare` ranks the
passages with each model and says, per passage, how far it moved against the first
(base) model.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from wrapper.errors import InputError

MAX_PASSAGES = 200


def passages_from_text(text: str) -> list[str]:
    """One passage per non-empty line (duplicates kept once, in order)."""
    seen: dict[str, None] = {}
    for line in (text or "").splitlines():
        line = line.strip()
        if line:
            seen.setdefault(line, None)
    passages = list(seen)
    if len(passages) > MAX_PASSAGES:
        raise InputError(f"{len(passages)} passages: the playground ranks at most {MAX_PASSAGES}\n"
                         "  hint: paste fewer lines, or evaluate the whole set with the Evaluate page")
    return passages


def held_out(dataset_dir: str | os.PathLike, split: str = "validation", limit: int = 200) -> list[dict]:
    """The held-out queries of a prepared dataset (`Dataset.read_split`): query, candidates, positives."""
    from wrapper.dataset import Dataset

    out = []
    for record in Dataset.open(dataset_dir).read_split(split)[:limit]:
        out.append({"query_id": record["query_id"], "query": record["query"],
                    "candidates": [*record["positive"], *record["negative"]],
                    "positives": set(record["positive"])})
    return out


def base_of(model: str) -> str | None:
    """The base model of a run id (resolved at train time; the bundled model by its label), or None when
    `model` is not a run."""
    from wrapper import settings
    from wrapper.basemodel import is_bundled
    from wrapper.errors import InputError
    from wrapper.run import Run

    if not model or Run.locate(model) is None:
        return None
    try:
        base = Run.open(model).base_model
    except InputError:
        return None
    return settings.BUNDLED_MODEL_LABEL if base and is_bundled(base) else base


@dataclass
class Ranking:
    label: str
    scores: list[float]  # in passage order

    @property
    def ranks(self) -> list[int]:
        order = sorted(range(len(self.scores)), key=lambda i: -self.scores[i])
        ranks = [0] * len(self.scores)
        for rank, i in enumerate(order, start=1):
            ranks[i] = rank
        return ranks


def check_inputs(query: str, passages: list[str]) -> None:
    """An InputError saying what is missing (checked before any model loads)."""
    if not (query or "").strip():
        raise InputError("no query typed\n  hint: type a question, or pick a held-out query")
    if not passages:
        raise InputError("no passages\n  hint: paste candidate passages, one per line")


def score(scorer: Any, query: str, passages: list[str]) -> list[float]:
    """Scores of `passages` for `query` with a loaded `wrapper.serve.scorer.Scorer`."""
    check_inputs(query, passages)
    return scorer.score([(query, passages)])[0]


def compare(rankings: list[Ranking], passages: list[str], positives: set[str] | None = None) -> list[dict]:
    """Rows in the first model's order: passage, then per model its rank and score, and the move vs the first."""
    if not rankings:
        return []
    rank_of = [r.ranks for r in rankings]
    rows = []
    for i in sorted(range(len(passages)), key=lambda i: rank_of[-1][i]):
        row: dict[str, Any] = {"passage": passages[i]}
        if positives is not None:
            row["relevant"] = passages[i] in positives
        for ranking, ranks in zip(rankings, rank_of):
            row[f"{ranking.label} rank"] = ranks[i]
            row[f"{ranking.label} score"] = round(ranking.scores[i], 4)
        for ranking, ranks in zip(rankings[1:], rank_of[1:]):
            moved = rank_of[0][i] - ranks[i]
            row[f"moved ({ranking.label})"] = f"▲ {moved}" if moved > 0 else f"▼ {-moved}" if moved < 0 else "="
        rows.append(row)
    return rows


def top_changes(rankings: list[Ranking]) -> int:
    """How many passages the last model ranks differently from the first."""
    if len(rankings) < 2:
        return 0
    return sum(a != b for a, b in zip(rankings[0].ranks, rankings[-1].ranks))
