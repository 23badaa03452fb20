"""`autorerank merge`: mix a fine-tune with its base (and other models) into a new run folder.

    from wrapper.merge import merge_run
    result = merge_run("20261202-ce-cmrc", weights=[0.6, 0.4])      # -> MergeResult(run_dir, status, curve)
    result = merge_run("20261202-ce-cmrc", auto=True, general=["data/scifact"])

Model merging (weight-space averaging, LM-Cocktail) trades some of a fine-tune's
in-domain gain for the base's general ability. The result is a run folder like a
training run (Contract 3, `"backend": "merge"`): status.json with the sources and
weights, `model/`, and for `--auto` the measured curve `merge_curve.json`, so
`autorerank eval`, the gate and the leaderboard treat it like any fine-tune.

Everything is checked before anything is written, and the folder is assembled
under a temporary name and renamed at the end: a failure leaves nothing behind.
`sources` resolves and validates the inputs, `cocktail` loads/checks/mixes/saves,
`auto` searches the weight.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from wrapper.errors import InputError
from wrapper.run import STATUS
from wrapper.merge.auto import COARSE, DEFAULT_QUERIES, REFINE, Curve, sample_set, search
from wrapper.merge.sources import MergePlan, check_weights, default_weights, parse_weights, resolve_sources

__all__ = ["MergeResult", "merge_run", "resolve_sources", "parse_weights", "CURVE_FILE"]

CURVE_FILE = "merge_curve.json"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass
class MergeResult:
    run_dir: Path
    status: dict
    curve: Curve | None = None


def _check_name(name: str | None, runs_root: Path, run_id: str) -> str:
    from wrapper.run import make_run_id

    if name is None:
        return make_run_id(f"{run_id}-merge", runs_root)
    if not _NAME.match(name):
        raise InputError.at("--name", f"{name!r} is not a usable folder name",
                            hint="letters, digits, '.', '_' and '-', starting with a letter or digit")
    if (runs_root / name).exists():
        raise InputError.at(runs_root / name, "this run folder already exists", hint="choose another --name")
    return name


def merge_run(
    run: str,
    models: list[str] | tuple[str, ...] = (),
    *,
    base: str | None = None,
    weights: list[float] | str | None = None,
    auto: bool = False,
    name: str | None = None,
    runs: Path | None = None,
    general: list[str] | None = None,
    split: str = "validation",
    auto_tolerance: float | None = None,
    auto_queries: int | None = DEFAULT_QUERIES,
    coarse: tuple[float, ...] = COARSE,
    refine: tuple[float, ...] = REFINE,
    progress: Callable[[str], None] | None = None,
) -> MergeResult:
    """Mix RUN's model with `models` and its base; write runs/<name>/ (see the module doc).

    `weights`: one per model in the order fine-tune, extra models..., base (default: equal
    shares). `auto`: search the fine-tune's weight against the base (`wrapper.merge.auto`);
    `general` names the general sets for it like the gate's (None: the default set).
    """
    from wrapper import settings

    say = progress or (lambda _msg: None)
    runs_root = settings.runs_dir(runs)
    plan = resolve_sources(run, models, base, runs_root)
    n = len(plan.sources)
    if auto:
        if weights is not None:
            raise InputError.at("--weights", "--auto chooses the weights itself", hint="give --auto or --weights")
        if n != 2:
            raise InputError.at("--auto", f"searches the weight between the fine-tune and its base, but {n} models "
                                "were given", hint="leave the extra models out, or set --weights yourself")
        if auto_queries is not None and auto_queries < 0:
            raise InputError.at("--auto-queries", f"must be 0 (all) or more, got {auto_queries}")
    elif isinstance(weights, str):
        weights = parse_weights(weights, n)
    elif weights is not None:
        check_weights(list(weights), n)
    run_id = _check_name(name, runs_root, plan.run.run_id or plan.run.path.name)
    sets = _auto_sets(plan, general, split, auto_queries) if auto else None

    from wrapper.merge.cocktail import Mixer

    started = time.monotonic()
    say(f"loading {n} models: " + ", ".join(f"{s.role} {s.path}" for s in plan.sources))
    mixer = Mixer(plan)
    for note in mixer.notes:
        say(f"note: {note}")
    curve = None
    if auto:
        curve = _auto(plan, mixer, sets, auto_tolerance, coarse, refine, say)
        weights = [curve.chosen, 1.0 - curve.chosen]
        say(f"chose w={curve.chosen:.2f}: {curve.reason}")
    weights = list(weights) if weights is not None else default_weights(n)

    runs_root.mkdir(parents=True, exist_ok=True)
    final = (runs_root / run_id).absolute()
    tmp = Path(tempfile.mkdtemp(prefix=f".{run_id}.", suffix=".tmp", dir=runs_root)).absolute()
    try:
        say(f"writing the mix ({', '.join(f'{w:g}' for w in weights)}) to {final / 'model'}")
        saved = mixer.save(weights, tmp / "model")
        status = _status(plan, run_id, final, weights, mixer.notes, saved, curve, started)
        from wrapper import jsonio

        if curve is not None:
            jsonio.write_json(tmp / CURVE_FILE, curve.to_dict())
        jsonio.write_json(tmp / STATUS, status)
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return MergeResult(run_dir=final, status=status, curve=curve)


def _status(plan: MergePlan, run_id: str, final: Path, weights: list[float], notes: list[str], saved: dict,
            curve: Curve | None, started: float) -> dict:
    from wrapper.run import utcnow

    run = plan.run.run
    base_source = plan.sources[-1]
    now = utcnow()
    return {
        "run_id": run_id,
        "state": "succeeded",
        "backend": "merge",
        "task": run.task,
        "kind": plan.kind,
        # the gate and eval compare against the run's own base (the merge's base unless --base overrode it)
        "base_model": run.base_model or str(base_source.path),
        "base_model_input": run.base_model_name or base_source.spec,
        "dataset": str(run.dataset_root) if run.dataset_root is not None else None,
        "trust_remote_code": bool(run.status.get("trust_remote_code")),
        "project_dir": str(Path.cwd()),
        "config": None,
        "created_at": now, "started_at": now, "ended_at": now,
        "wall_s": round(time.monotonic() - started, 1),
        "exit_code": 0,
        "cause": None,
        "model": str((final / "model").absolute()),
        "merged_from": plan.run.run_id,
        "sources": [{"role": s.role, "model": s.spec, "path": str(s.path), "weight": w}
                    for s, w in zip(plan.sources, weights)],
        "weights": weights,
        "merge_notes": notes,
        "merge_method": "LM-Cocktail 0.0.4 merge_param (weighted average of every parameter)",
        "max_length": saved.get("max_length"),
        "auto": None if curve is None else {"curve": str(final / CURVE_FILE), "chosen": curve.chosen,
                                            "reason": curve.reason, "tolerance": curve.tolerance},
    }


def _auto_sets(plan: MergePlan, general: list[str] | None, split: str, queries: int | None):
    """The (sampled) in-domain and general sets of the search; InputError before any model loads."""
    from wrapper.gate import DEFAULT_GENERAL, in_domain_set, resolve_general

    domain = in_domain_set(plan.run.run.dataset, split)
    general_sets = [s for s in resolve_general([DEFAULT_GENERAL] if general is None else list(general))
                    if s.content_hash != domain.content_hash]
    return sample_set(domain, queries), [sample_set(s, queries) for s in general_sets]


def _auto(plan, mixer, sets, tolerance, coarse, refine, say) -> Curve:
    from wrapper.evaluate.models import load
    from wrapper.gate import GENERAL_TOLERANCE, score_set

    tolerance = GENERAL_TOLERANCE if tolerance is None else tolerance
    domain, general_sets = sets
    base_ref = plan.sources[-1].ref
    say(f"scoring the base ({base_ref.kind}) on {domain.name} ({len(domain.records)} queries) and "
        + (", ".join(f"{s.name} ({len(s.records)} queries)" for s in general_sets) or "no general set"))
    base_model = load(base_ref)
    base_in_domain = score_set(base_model, base_ref.kind, domain).map
    floors = {s.name: score_set(base_model, base_ref.kind, s).map for s in general_sets}
    del base_model
    say(f"  base  in-domain {base_in_domain:.4f}  " + "  ".join(f"{k} {v:.4f}" for k, v in floors.items()))

    def evaluate(w: float):
        model = mixer.model([w, 1.0 - w])
        return (score_set(model, plan.kind, domain).map,
                {s.name: score_set(model, plan.kind, s).map for s in general_sets})

    say(f"searching the fine-tune's weight w (base 1-w): {len(coarse)} points, then refining")
    best, points, reason = search(evaluate, floors, tolerance=tolerance, coarse=coarse, refine=refine, progress=say)
    queries = {domain.name: len(domain.records), **{s.name: len(s.records) for s in general_sets}}
    return Curve(points=points, chosen=best.weight, reason=reason, floors=floors, tolerance=tolerance,
                 base_in_domain=base_in_domain, queries=queries)
