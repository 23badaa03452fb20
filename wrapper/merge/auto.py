"""`merge --auto`: pick the fine-tune's weight w (the base gets 1 - w) from a measured curve.

The rule (also written into merge_curve.json):

    Among the weights tried, take the one with the best in-domain MAP whose MAP on
    every general set is at least the base model's MAP there minus the tolerance.
    If no weight qualifies, take the one whose worst shortfall below that floor is
    smallest. Ties go to the better mean general MAP, then to the larger w.

No general set (`--no-general`) means every weight qualifies: the best in-domain MAP wins.

The search is coarse to fine, because each point costs a full scoring pass: first
w = 0, 0.25, 0.5, 0.75, 1, then the best point's neighbours at +-0.1 and then
+-0.05 (at most 9 points). Each point mixes in memory; nothing is written until
the end. With `queries` set, every set is scored on a seeded sample of that many
queries (the final gate still judges the full sets).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

COARSE = (0.0, 0.25, 0.5, 0.75, 1.0)
REFINE = (0.1, 0.05)
#: default query sample per set during the search (0 or None: every query)
DEFAULT_QUERIES = 100
SAMPLE_SEED = 0

RULE = ("best in-domain MAP among the weights whose MAP on every general set is >= the base's MAP there minus "
        "the tolerance; if none qualifies, the smallest worst shortfall; ties: better mean general MAP, then "
        "larger weight")


@dataclass
class Point:
    weight: float  # the fine-tune's share; the base has 1 - weight
    in_domain: float
    general: dict[str, float] = field(default_factory=dict)
    feasible: bool = True
    shortfall: float = 0.0  # worst (floor - tolerance) - MAP over the general sets, <= 0 when feasible


@dataclass
class Curve:
    points: list[Point]
    chosen: float
    reason: str
    floors: dict[str, float]  # the base's MAP per general set
    tolerance: float
    rule: str = RULE
    base_in_domain: float | None = None
    queries: dict[str, int] = field(default_factory=dict)  # queries scored per set

    def to_dict(self) -> dict:
        data = asdict(self)
        data["points"] = sorted(data["points"], key=lambda p: p["weight"])
        return data


def sample_set(eval_set, n: int | None, seed: int = SAMPLE_SEED):
    """A seeded sample of `n` queries of an EvalSet (record order kept); the set itself when smaller."""
    from wrapper.gate import EvalSet

    if not n or n >= len(eval_set.records):
        return eval_set
    keep = sorted(random.Random(seed).sample(range(len(eval_set.records)), n))
    return EvalSet(name=eval_set.name, source=eval_set.source, records=[eval_set.records[i] for i in keep])


def judge(point: Point, floors: dict[str, float], tolerance: float) -> Point:
    gaps = [(floors[name] - tolerance) - point.general[name] for name in floors if name in point.general]
    point.shortfall = max(gaps) if gaps else 0.0
    point.feasible = point.shortfall <= 1e-12
    return point


def _mean_general(point: Point) -> float:
    return sum(point.general.values()) / len(point.general) if point.general else 0.0


def choose(points: list[Point]) -> tuple[Point, str]:
    """The chosen point by the rule, and why."""
    feasible = [p for p in points if p.feasible]
    if feasible:
        best = max(feasible, key=lambda p: (round(p.in_domain, 9), round(_mean_general(p), 9), p.weight))
        return best, (f"best in-domain MAP ({best.in_domain:.4f}) among the {len(feasible)} of {len(points)} "
                      f"weights that keep every general set within the tolerance of the base")
    best = min(points, key=lambda p: (round(p.shortfall, 9), -round(p.in_domain, 9), -p.weight))
    return best, (f"no weight keeps every general set within the tolerance of the base; smallest shortfall "
                  f"({best.shortfall:.4f} MAP below the floor)")


def search(
    evaluate: Callable[[float], tuple[float, dict[str, float]]],
    floors: dict[str, float],
    *,
    tolerance: float,
    coarse: tuple[float, ...] = COARSE,
    refine: tuple[float, ...] = REFINE,
    progress: Callable[[str], None] | None = None,
) -> tuple[Point, list[Point], str]:
    """Run the coarse-to-fine search; `evaluate(w)` returns (in-domain MAP, {general set: MAP})."""
    tried: dict[float, Point] = {}

    def visit(w: float) -> None:
        w = round(min(1.0, max(0.0, w)), 4)
        if w in tried:
            return
        in_domain, general = evaluate(w)
        point = judge(Point(weight=w, in_domain=in_domain, general=dict(general)), floors, tolerance)
        tried[w] = point
        if progress:
            shown = "  ".join(f"{name} {value:.4f}" for name, value in general.items())
            mark = "" if point.feasible else "  (below the general floor)"
            progress(f"  w={w:.2f}  in-domain {in_domain:.4f}  {shown}{mark}")

    for w in coarse:
        visit(w)
    for step in refine:
        best, _ = choose(list(tried.values()))
        visit(best.weight - step)
        visit(best.weight + step)
    best, reason = choose(list(tried.values()))
    return best, list(tried.values()), reason
