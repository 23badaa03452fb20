"""The regression gate: is a finished fine-tune actually better than its base?

After every training run the tool evaluates the fine-tune and its base model
on the dataset's validation split and records a verdict in the run's
`status.json` (key "gate", see docs/ARCHITECTURE.md, Contract 3):

- ``improved``   the fine-tune beats the base by more than the tolerance;
- ``no_better``  within the tolerance of the base;
- ``regressed``  worse than the base by more than the tolerance;
- ``collapsed``  the fine-tune gives (nearly) the same score to every pair of a
                 fixed probe set, i.e. it ranks no better than chance whatever
                 its MAP says. This is the classic failure of a freshly
                 initialised cross-encoder head trained for too few steps;
- ``inconclusive`` the validation split cannot tell the two apart: fewer than
                 `MIN_INFORMATIVE_QUERIES` of its queries have a negative to rank
                 against, or the base already scores within the tolerance of a
                 perfect 1.0 and the fine-tune did not fall below it.

Only ``improved`` is a success. The verdict comes with advice in plain words.
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path

from wrapper import jsonio
from wrapper.errors import InputError

#: |fine-tune - base| on the main score below this is "no better" (MAP points, 0..1 scale)
DEFAULT_TOLERANCE = 0.005
#: score range (max - min) over the probe set below this means "collapsed"
COLLAPSE_SPREAD = 0.01
#: number of validation queries whose (query, passage) pairs form the probe set
PROBE_QUERIES = 16

#: validation queries with at least one negative needed for a verdict on the scores
MIN_INFORMATIVE_QUERIES = 5

#: bump when the rule or its inputs change: a stored verdict of another version is recomputed
GATE_VERSION = 2

VERDICTS = ("improved", "no_better", "regressed", "collapsed", "inconclusive")


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
    version: int = GATE_VERSION

    @property
    def ok(self) -> bool:
        return self.verdict == "improved"

    def to_dict(self) -> dict:
        return asdict(self)

    def sentence(self) -> str:
        """One plain-words line for the CLI."""
        if self.verdict == "collapsed":
            head = (
                f"COLLAPSED: the fine-tune gives almost the same score to every pair "
                f"(score range {self.spread:.4f} over {self.probe_pairs} probe pairs), so it ranks no "
                f"better than chance"
            )
        elif self.verdict == "regressed":
            head = f"REGRESSED: {self.metric} {self.fine_tuned:.4f} vs base {self.base:.4f} ({self.delta:+.4f})"
        elif self.verdict == "inconclusive":
            why = self.details.get("inconclusive_because", "the validation split cannot tell the models apart")
            scores = (f"{self.metric} {self.fine_tuned:.4f} vs base {self.base:.4f}; "
                      if self.fine_tuned is not None and self.base is not None else "")
            head = f"INCONCLUSIVE: {scores}{why}"
        elif self.verdict == "no_better":
            head = f"NO BETTER: {self.metric} {self.fine_tuned:.4f} vs base {self.base:.4f} ({self.delta:+.4f})"
        else:
            head = f"IMPROVED: {self.metric} {self.fine_tuned:.4f} vs base {self.base:.4f} ({self.delta:+.4f})"
        return head if self.ok else f"{head}\n  what to try: {self.advice}"


def decide(
    base: float | None,
    fine_tuned: float | None,
    spread: float,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    collapse_spread: float = COLLAPSE_SPREAD,
    informative_queries: int | None = None,
) -> str:
    """The verdict from the two main scores and the probe-set score range (pure).

    `informative_queries`: validation queries with at least one negative (None: not checked).
    """
    if spread < collapse_spread:
        return "collapsed"
    if informative_queries is not None and informative_queries < MIN_INFORMATIVE_QUERIES:
        return "inconclusive"
    if base is None or fine_tuned is None:
        raise ValueError("both scores are needed for a verdict")
    delta = fine_tuned - base
    if delta > tolerance:
        return "improved"
    if delta < -tolerance:
        return "regressed"
    if base >= 1.0 - tolerance:
        return "inconclusive"  # a saturated split: no room to improve
    return "no_better"


def advice_for(verdict: str, kind: str, *, fresh_head: bool, steps: int | None) -> str:
    """What to try next, in plain words, for a verdict that is not a success."""
    if verdict == "improved":
        return "ship it, and keep the base model's scores as the before."
    if verdict == "inconclusive":
        return ("give the validation split queries with negatives to rank: re-run `autorerank prepare` with mining "
                "on (the default) or a larger --val-ratio, or judge on your own dev set with "
                "`autorerank eval RUN_ID --dataset DEV_DATASET` (a run is compared with its base).")
    step_note = f" (this run trained {steps} steps)" if steps else ""
    if kind == "cross-encoder":
        tips = [f"train more steps{step_note}: a fresh head typically needs hundreds of steps"]
        if fresh_head:
            tips.append("start from a real reranker (BAAI/bge-reranker-base) instead of an embedding model")
        tips.append("raise the learning rate (e.g. --lr 1e-4) and shorten inputs (max_length 128)")
        tips.append("try --task cross-encoder:mnrl, which learns fastest from few steps")
        tips.append("train on a GPU if you have one")
        return "; ".join(tips) + "."
    if verdict == "no_better":
        tips = [f"train longer or with a larger learning rate{step_note}"]
    else:
        tips = [f"lower the learning rate or train fewer epochs{step_note}: the model may be forgetting"]
    tips += [
        "check the mined negatives for false negatives (raise the margin in `prepare`)",
        "add more training queries",
    ]
    return "; ".join(tips) + "."


def read_split(dataset_dir: Path, split: str = "validation") -> list[dict]:
    """The records of a prepared dataset's `eval/<split>.jsonl`."""
    path = Path(dataset_dir) / "eval" / f"{split}.jsonl"
    if not path.exists():
        raise InputError.at(path, "the prepared dataset has no such eval split", hint="run `autorerank prepare` with --val-ratio > 0")
    return list(jsonio.read_jsonl(path))


def probe_pairs(records: list[dict], n_queries: int = PROBE_QUERIES) -> list[tuple[str, str]]:
    """A fixed probe set: the (query, passage) pairs of the first `n_queries` queries by id."""
    ordered = sorted(records, key=lambda r: str(r.get("query_id", r["query"])))
    pairs: list[tuple[str, str]] = []
    for rec in ordered[:n_queries]:
        for passage in list(rec.get("positive", [])) + list(rec.get("negative", [])):
            pairs.append((rec["query"], passage))
    return pairs


def score_pairs(model, kind: str, pairs: list[tuple[str, str]], batch_size: int = 32) -> list[float]:
    """Scores a loaded model gives to (query, passage) pairs (cosine for bi-encoders)."""
    if not pairs:
        return []
    if kind == "cross-encoder":
        return [float(s) for s in model.predict(pairs, batch_size=batch_size, show_progress_bar=False)]
    queries = [q for q, _ in pairs]
    passages = [p for _, p in pairs]
    q_emb = model.encode(queries, batch_size=batch_size, convert_to_tensor=True, normalize_embeddings=True)
    p_emb = model.encode(passages, batch_size=batch_size, convert_to_tensor=True, normalize_embeddings=True)
    return [float(x) for x in (q_emb * p_emb).sum(dim=-1).tolist()]


def check_run(
    run_dir: Path,
    *,
    results: Path | None = None,
    runs: Path | None = None,
    split: str = "validation",
    tolerance: float = DEFAULT_TOLERANCE,
    write: bool = True,
) -> GateResult:
    """Evaluate a finished run and its base model, decide the verdict, record it in status.json."""
    from wrapper.evaluate import evaluate, load_model

    run_dir = Path(run_dir)
    status_path = run_dir / "status.json"
    if not status_path.exists():
        raise InputError.at(run_dir, "not a run folder (no status.json)", hint="pass runs/<run-id>")
    status = jsonio.read_json(status_path)
    if status.get("state") != "succeeded":
        raise InputError.at(status_path, f"the run is {status.get('state')!r}, not succeeded; nothing to gate")
    dataset = status.get("dataset")
    if not dataset or not Path(dataset).exists():
        raise InputError.at(status_path, f"the run's dataset {dataset!r} is not there", hint="re-run `autorerank prepare`")

    report = evaluate(
        status["run_id"],
        datasets=[Path(dataset)],
        splits=[split],
        results=results,
        include_base=True,
        runs=runs or run_dir.parent,
    )
    fine_rows = [r for r in report.rows if r.get("role") == "fine-tune"]
    base_rows = [r for r in report.rows if r.get("role") == "base"]
    if not fine_rows or not base_rows:
        raise InputError.at(run_dir, "evaluation gave no fine-tune/base scores to compare")
    fine, base = fine_rows[0], base_rows[0]
    metric = fine.get("main_score_name", "map_at_1000")

    loaded = load_model(status["run_id"], runs=runs or run_dir.parent)
    records = read_split(Path(dataset), split)
    pairs = probe_pairs(records)
    scores = score_pairs(loaded.model, loaded.kind, pairs)
    spread = (max(scores) - min(scores)) if scores else 0.0
    queries, informative = len(records), sum(1 for r in records if r.get("negative"))

    verdict = decide(base["main_score"], fine["main_score"], spread, tolerance=tolerance,
                     informative_queries=informative)
    details = {"score_std": statistics.pstdev(scores) if len(scores) > 1 else 0.0, "kind": loaded.kind,
               "validation_queries": queries, "informative_queries": informative}
    if verdict == "inconclusive":
        if informative < MIN_INFORMATIVE_QUERIES:
            details["inconclusive_because"] = (
                f"only {informative} of the {queries} {split} queries have a negative to rank against "
                f"(at least {MIN_INFORMATIVE_QUERIES} needed)")
        else:
            details["inconclusive_because"] = (
                f"the base already scores {base['main_score']:.4f} on the {split} split, so it leaves no room to improve")
    fresh_head = loaded.kind == "cross-encoder" and base.get("kind") == "bi-encoder"
    steps = (status.get("steps") or {}).get("done")
    result = GateResult(
        verdict=verdict,
        metric=metric,
        base=base["main_score"],
        fine_tuned=fine["main_score"],
        delta=fine["main_score"] - base["main_score"],
        spread=spread,
        probe_pairs=len(pairs),
        tolerance=tolerance,
        advice=advice_for(verdict, loaded.kind, fresh_head=fresh_head, steps=steps),
        base_model=status.get("base_model"),
        task=fine.get("task"),
        details=details,
    )
    if write:
        status = jsonio.read_json(status_path)  # re-read: never clobber a concurrent update
        status["gate"] = result.to_dict()
        jsonio.write_json(status_path, status)
    return result
