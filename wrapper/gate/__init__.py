"""The regression gate: is a finished fine-tune better than its base, in its domain
*and* out of it, and how sure are we?

    from wrapper.gate import check_run
    result = check_run(Path("runs/<run-id>"))            # default general set
    result = check_run(run_dir, general=["data/scifact-dev", "T2Reranking"])
    print(result.sentence())

After a run, base and fine-tune are scored on the run's held-out split (in domain)
and on general-domain sets (`sets`). Every difference comes with a 95% paired
bootstrap interval over queries (`stats`), and the rule in `verdict` turns the
numbers into improved / forgot / no_better / regressed / collapsed / inconclusive,
recorded in the run's status.json (key "gate", docs/ARCHITECTURE.md Contract 3).
"""

from __future__ import annotations

import statistics
from pathlib import Path

from wrapper.errors import GateRefused, InputError
from wrapper.gate.sets import (
    DEFAULT_GENERAL,
    GENERAL_SET_DIR,
    EvalSet,
    SetScore,
    in_domain_set,
    resolve_general,
    score_cached,
    score_set,
)
from wrapper.gate.stats import average_precision, paired_bootstrap
from wrapper.gate.verdict import (
    COLLAPSE_SPREAD,
    DEFAULT_TOLERANCE,
    GATE_VERSION,
    GENERAL_TOLERANCE,
    GENERAL_VERDICTS,
    MIN_INFORMATIVE_QUERIES,
    PROBE_QUERIES,
    VERDICTS,
    GateResult,
    advice_for,
    decide,
    general_verdict,
)

__all__ = [
    "COLLAPSE_SPREAD", "DEFAULT_GENERAL", "DEFAULT_TOLERANCE", "GATE_VERSION", "GENERAL_SET_DIR",
    "GENERAL_TOLERANCE", "GENERAL_VERDICTS", "MIN_INFORMATIVE_QUERIES", "PROBE_QUERIES", "VERDICTS",
    "EvalSet", "GateResult", "SetScore", "advice_for", "average_precision", "check_run", "decide",
    "enforce", "general_verdict", "in_domain_set", "paired_bootstrap", "parse_fail_on", "probe_spread",
    "resolve_general", "score_set",
]


def probe_spread(eval_set: EvalSet, scores: list[list[float]], n_queries: int = PROBE_QUERIES) -> tuple[float, int, float]:
    """Score range, pair count and std over a fixed probe set: the first `n_queries` queries by id."""
    order = sorted(range(len(eval_set.records)),
                   key=lambda i: str(eval_set.records[i].get("query_id", eval_set.records[i]["query"])))
    flat = [x for i in order[:n_queries] for x in scores[i]]
    if not flat:
        return 0.0, 0, 0.0
    return max(flat) - min(flat), len(flat), (statistics.pstdev(flat) if len(flat) > 1 else 0.0)


def _compare(base: SetScore, fine: SetScore) -> dict:
    delta, low, high = paired_bootstrap(base.ap, fine.ap)
    return {"base": base.map, "fine_tuned": fine.map, "delta": delta, "ci": [low, high], "queries": len(fine.ap)}


def check_run(
    run,
    *,
    results: Path | None = None,
    runs: Path | None = None,
    split: str = "validation",
    tolerance: float = DEFAULT_TOLERANCE,
    general: list[str] | None = None,
    general_tolerance: float = GENERAL_TOLERANCE,
    write: bool = True,
) -> GateResult:
    """Judge a finished run (a `wrapper.run.Run`, its folder or its id) against its base; record the
    verdict in its status.json.

    `general`: general-domain set specs (None: the shipped default set; []: no check).
    """
    from wrapper import settings
    from wrapper.evaluate import evaluate
    from wrapper.evaluate.models import base_model_ref, load, run_ref
    from wrapper.run import Run

    run = run if isinstance(run, Run) else Run.open(run, runs)
    run.require_succeeded("be gated")
    dataset = run.dataset
    runs = runs or run.dir.parent
    results = settings.results_dir(results)
    domain = in_domain_set(dataset, split)
    general_sets = [s for s in resolve_general([DEFAULT_GENERAL] if general is None else list(general))
                    if s.content_hash != domain.content_hash]

    # the in-domain scores also go to results/ (MTEB layout) for the leaderboard and `autorerank eval`
    report = evaluate(str(run.dir), datasets=[dataset.root], splits=[split], results=results,
                      include_base=True, runs=runs)
    fine_row = next((r for r in report.rows if r.get("role") == "fine-tune"), None)

    fine_ref = run_ref(run)
    base_ref = base_model_ref(fine_ref, runs)
    if base_ref is None:
        raise InputError.at(run.status_file, "the run names no base model to compare with", column="base_model")
    loaded: dict[str, object] = {}

    def loader(ref):
        def get():
            key = f"{ref.name}@{ref.revision}"
            if key not in loaded:
                loaded[key] = load(ref)
            return loaded[key]
        return get

    fine_domain = score_cached(fine_ref, loader(fine_ref), domain, results)
    base_domain = score_cached(base_ref, loader(base_ref), domain, results)
    spread, n_probe, std = probe_spread(domain, fine_domain.scores)
    in_domain = _compare(base_domain, fine_domain) if fine_domain.ap else None

    entries = []
    for es in general_sets:
        fine_g = score_cached(fine_ref, loader(fine_ref), es, results)
        base_g = score_cached(base_ref, loader(base_ref), es, results)
        if not fine_g.ap:
            entries.append({"name": es.name, "source": es.source, "base": None, "fine_tuned": None, "delta": None,
                            "ci": None, "queries": 0, "verdict": "inconclusive"})
            continue
        entry = {"name": es.name, "source": es.source, **_compare(base_g, fine_g)}
        entry["verdict"] = general_verdict(entry["delta"], entry["ci"], tolerance=general_tolerance,
                                           informative_queries=es.informative)
        entries.append(entry)

    informative = domain.informative
    verdict = decide(
        base_domain.map if in_domain else None, fine_domain.map if in_domain else None, spread,
        tolerance=tolerance, informative_queries=informative,
        ci=in_domain["ci"] if in_domain else None, general_verdicts=[e["verdict"] for e in entries],
    )
    details = {"score_std": std, "kind": fine_ref.kind, "validation_queries": len(domain.records),
               "informative_queries": informative, "in_domain_set": domain.name,
               "mteb_main_score": fine_row.get("main_score") if fine_row else None}
    if verdict == "inconclusive":
        if informative < MIN_INFORMATIVE_QUERIES:
            details["inconclusive_because"] = (
                f"only {informative} of the {len(domain.records)} {split} queries have a negative to rank against "
                f"(at least {MIN_INFORMATIVE_QUERIES} needed)")
        else:
            details["inconclusive_because"] = (
                f"the base already scores {base_domain.map:.4f} on the {split} split, so it leaves no room to improve")
    fresh_head = fine_ref.kind == "cross-encoder" and base_ref.kind == "bi-encoder"
    steps = (run.status.get("steps") or {}).get("done")
    result = GateResult(
        verdict=verdict,
        metric="map_at_1000",
        base=base_domain.map if in_domain else None,
        fine_tuned=fine_domain.map if in_domain else None,
        delta=in_domain["delta"] if in_domain else None,
        ci=in_domain["ci"] if in_domain else None,
        spread=spread,
        probe_pairs=n_probe,
        tolerance=tolerance,
        advice=advice_for(verdict, fine_ref.kind, fresh_head=fresh_head, steps=steps, run=run.id,
                          forgot=[e for e in entries if e["verdict"] == "forgot"]),
        base_model=run.base_model_name,
        task=fine_row.get("task") if fine_row else None,
        details=details,
        general=entries,
        general_tolerance=general_tolerance,
    )
    if write:
        run.update(gate=result.to_dict())
    return result


def parse_fail_on(text: str | None) -> set[str]:
    """`--fail-on regressed,collapsed` -> a set of verdicts (InputError for an unknown one)."""
    if not text:
        return set()
    wanted = {v.strip() for v in text.split(",") if v.strip()}
    if "any" in wanted:  # everything that is not a success
        wanted = (wanted - {"any"}) | (set(VERDICTS) - {"improved"})
    unknown = sorted(wanted - set(VERDICTS))
    if unknown:
        raise InputError.at("--fail-on", f"unknown verdict {unknown[0]!r}",
                            hint=f"choose from {', '.join(VERDICTS)}, or 'any' (all but improved)")
    return wanted


def enforce(verdicts: dict[str, str], fail_on: set[str]) -> None:
    """Raise GateRefused (exit code 3) when any verdict is one the user refuses."""
    bad = {label: v for label, v in verdicts.items() if v in fail_on}
    if bad:
        listed = ", ".join(f"{label}: {v}" for label, v in bad.items())
        raise GateRefused(f"the gate refused ({listed}); --fail-on {','.join(sorted(fail_on))}")
