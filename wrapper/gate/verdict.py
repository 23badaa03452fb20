"""The gate's decision rule (pure), its advice, and the result it records.

Verdicts (only ``improved`` is a success):

- ``improved``   the fine-tune beats the base on the in-domain split by more than
                 the tolerance, and the 95% paired-bootstrap interval of the
                 difference lies above 0;
- ``forgot``     improved in domain, but on some general-domain set it dropped by
                 more than the general tolerance with an interval wholly below 0.
                 The cure is `autorerank merge RUN --auto` (mix with the base);
- ``no_better``  neither a clear gain nor a clear loss (within the tolerance, or
                 an interval that includes 0);
- ``regressed``  worse by more than the tolerance, with an interval below 0;
- ``collapsed``  (nearly) the same score for every pair of a fixed probe set: it
                 ranks no better than chance whatever its MAP says;
- ``inconclusive`` the split cannot tell the models apart: fewer than
                 `MIN_INFORMATIVE_QUERIES` queries have a negative, or the base is
                 already within the tolerance of a perfect 1.0 and the fine-tune
                 did not fall below it.

Each general-domain set gets its own verdict: ``kept``, ``forgot`` (a drop beyond
the general tolerance that the interval confirms), ``unclear`` (a drop beyond the
tolerance that the interval cannot tell from noise: reported, never judged) or
``inconclusive`` (too few informative queries).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

#: |fine-tune - base| on the main score below this is "no better" (MAP points, 0..1 scale)
DEFAULT_TOLERANCE = 0.005
#: a general-domain set may drop this much before it counts as forgetting
GENERAL_TOLERANCE = 0.01
#: score range (max - min) over the probe set below this means "collapsed"
COLLAPSE_SPREAD = 0.01
#: number of validation queries whose (query, passage) pairs form the probe set
PROBE_QUERIES = 16
#: validation queries with at least one negative needed for a verdict on the scores
MIN_INFORMATIVE_QUERIES = 5

#: bump when the rule or its inputs change: a stored verdict of another version is recomputed
GATE_VERSION = 3

VERDICTS = ("improved", "forgot", "no_better", "regressed", "collapsed", "inconclusive")
GENERAL_VERDICTS = ("kept", "forgot", "unclear", "inconclusive")


def _ci_text(ci) -> str:
    return f", 95% CI {ci[0]:+.4f}..{ci[1]:+.4f}" if ci else ""


@dataclass
class GateResult:
    verdict: str
    metric: str
    base: float | None
    fine_tuned: float | None
    delta: float | None
    spread: float
    probe_pairs: int
    tolerance: float
    advice: str
    base_model: str | None = None
    task: str | None = None
    details: dict = field(default_factory=dict)
    #: 95% paired-bootstrap interval of `delta` over the in-domain queries
    ci: list[float] | None = None
    #: one entry per general-domain set: name, source, base, fine_tuned, delta, ci, queries, verdict
    general: list[dict] = field(default_factory=list)
    general_tolerance: float = GENERAL_TOLERANCE
    version: int = GATE_VERSION

    @property
    def ok(self) -> bool:
        return self.verdict == "improved"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "GateResult":
        """A verdict stored in status.json["gate"] (keys this version does not know are ignored)."""
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})

    def _scores(self) -> str:
        queries = self.details.get("validation_queries")
        n = f", {queries} queries" if queries else ""
        return (f"{self.metric} {self.fine_tuned:.4f} vs base {self.base:.4f} "
                f"({self.delta:+.4f}{_ci_text(self.ci)}{n})")

    def sentence(self) -> str:
        """Plain-words lines for the CLI: the verdict, the general-domain check, what to try."""
        if self.verdict == "collapsed":
            head = (
                f"COLLAPSED: the fine-tune gives almost the same score to every pair "
                f"(score range {self.spread:.4f} over {self.probe_pairs} probe pairs), so it ranks no "
                f"better than chance"
            )
        elif self.verdict == "inconclusive":
            why = self.details.get("inconclusive_because", "the validation split cannot tell the models apart")
            scores = self._scores() + "; " if self.fine_tuned is not None and self.base is not None else ""
            head = f"INCONCLUSIVE: {scores}{why}"
        elif self.verdict == "forgot":
            head = f"FORGOT: in domain IMPROVED, {self._scores()}, but it lost ground in general (below)"
        else:
            head = f"{self.verdict.replace('_', ' ').upper()}: {self._scores()}"
        lines = [head]
        if self.general:
            lines.append(f"  general-domain check (tolerance {self.general_tolerance}):")
            for g in self.general:
                if g.get("base") is None:
                    lines.append(f"    {g['name']:<28} {g['verdict']}")
                    continue
                lines.append(f"    {g['name']:<28} {g['fine_tuned']:.4f} vs base {g['base']:.4f} "
                             f"({g['delta']:+.4f}{_ci_text(g.get('ci'))}, {g['queries']} queries)  {g['verdict']}")
        else:
            lines.append("  general-domain check: none (no general set given)")
        if not self.ok:
            lines.append(f"  what to try: {self.advice}")
        return "\n".join(lines)


def decide(
    base: float | None,
    fine_tuned: float | None,
    spread: float,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    collapse_spread: float = COLLAPSE_SPREAD,
    informative_queries: int | None = None,
    ci: tuple[float, float] | list[float] | None = None,
    general_verdicts: list[str] | tuple[str, ...] = (),
) -> str:
    """The verdict (pure).

    `informative_queries`: in-domain queries with at least one negative (None: not checked).
    `ci`: the bootstrap interval of `fine_tuned - base` (None: judge the point estimate alone).
    `general_verdicts`: the general-domain sets' verdicts (see `general_verdict`).
    """
    if spread < collapse_spread:
        return "collapsed"
    if informative_queries is not None and informative_queries < MIN_INFORMATIVE_QUERIES:
        return "inconclusive"
    if base is None or fine_tuned is None:
        raise ValueError("both scores are needed for a verdict")
    delta = fine_tuned - base
    low, high = ci if ci is not None else (delta, delta)
    if delta > tolerance and low > 0:
        return "forgot" if "forgot" in general_verdicts else "improved"
    if delta < -tolerance and high < 0:
        return "regressed"
    if base >= 1.0 - tolerance and delta >= -tolerance:
        return "inconclusive"  # a saturated split: no room to improve
    return "no_better"


def general_verdict(delta: float, ci: tuple[float, float] | list[float], *, tolerance: float = GENERAL_TOLERANCE,
                    informative_queries: int | None = None) -> str:
    """One general-domain set: kept | forgot | unclear | inconclusive (pure)."""
    if informative_queries is not None and informative_queries < MIN_INFORMATIVE_QUERIES:
        return "inconclusive"
    if delta < -tolerance:
        return "forgot" if ci[1] < 0 else "unclear"
    return "kept"


def advice_for(verdict: str, kind: str, *, fresh_head: bool, steps: int | None, run: str = "RUN",
               forgot: list[dict] | None = None) -> str:
    """What to try next, in plain words, for a verdict that is not a success."""
    if verdict == "improved":
        return "ship it, and keep the base model's scores as the before."
    if verdict == "forgot":
        losses = ", ".join(f"{g['name']} {g['base']:.4f} -> {g['fine_tuned']:.4f} ({g['delta']:+.4f})"
                           for g in (forgot or []))
        return (f"mix the fine-tune with its base: `autorerank merge {run} --auto` picks the weight that keeps "
                f"the in-domain gain while general-domain scores stay within the tolerance (lost here: {losses}); "
                "or train fewer steps / with a lower learning rate.")
    if verdict == "inconclusive":
        return ("give the validation split queries with negatives to rank: re-run `autorerank prepare` with mining "
                "on (the default) or a larger --val-ratio, or judge on your own dev set with "
                "`autorerank eval RUN_ID --dataset DEV_DATASET` (a run is compared with its base).")
    step_note = f" (this run trained {steps} steps)" if steps else ""
    if kind == "cross-encoder" and fresh_head:
        tips = [f"train more steps{step_note}: a fresh head typically needs hundreds of steps",
                "start from a real reranker (BAAI/bge-reranker-base) instead of an embedding model",
                "raise the learning rate (e.g. --lr 1e-4) and shorten inputs (max_length 128)",
                "try --task cross-encoder:mnrl, which learns fastest from few steps",
                "train on a GPU if you have one"]
        return "; ".join(tips) + "."
    if kind == "cross-encoder":  # a reranker base: its head was trained already
        if verdict == "regressed":
            tips = [f"the base reranker's head was already trained: lower the learning rate (e.g. --lr 1e-5) or "
                    f"train fewer steps{step_note}, so the fine-tune refines it instead of overwriting it",
                    "for text_regression keep --targets anchored (0/1 targets pull the head to another scale)"]
        else:
            tips = [f"train longer{step_note} or on more queries: a trained head moves slowly at a small "
                    "learning rate",
                    "or hold out more validation queries: a wide interval cannot confirm a small gain"]
        tips += ["check the mined negatives for false negatives (raise the margin in `prepare`)",
                 "try --task cross-encoder:mnrl, which ranks each positive against several negatives at once"]
        return "; ".join(tips) + "."
    if verdict == "no_better":
        tips = [f"train longer or with a larger learning rate{step_note}",
                "or hold out more validation queries: a wide interval cannot confirm a small gain"]
    else:
        tips = [f"lower the learning rate or train fewer epochs{step_note}: the model may be forgetting"]
    tips += [
        "check the mined negatives for false negatives (raise the margin in `prepare`)",
        "add more training queries",
    ]
    return "; ".join(tips) + "."
