"""What `autorerank merge` mixes: the run's fine-tune, extra models and the base, with weights.

Every check here runs before anything is loaded or written, so bad input costs
nothing and leaves nothing behind:

- RUN must be a run (id or folder) that succeeded and still has its model
  folder (`wrapper.evaluate.models.resolve_model` says which, and why not);
- each extra MODEL and `--base` resolve like `autorerank eval`'s MODEL (run id,
  model folder, `bundled`, Hub id);
- weights: one per model, in the order fine-tune, extra models..., base, each in
  [0, 1], summing to 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from wrapper.errors import InputError
from wrapper.evaluate.models import BI_ENCODER, CROSS_ENCODER, ModelRef, base_model_ref, resolve_model

#: how far the weights may be from summing to exactly 1 (rounding of typed decimals)
SUM_TOLERANCE = 1e-6


@dataclass
class Source:
    """One model in the mix."""

    role: str  # fine-tune | extra | base
    spec: str  # what the user typed (or the run's base_model)
    ref: ModelRef

    @property
    def path(self) -> Path:
        return self.ref.path

    @property
    def label(self) -> str:
        return f"{self.role} {self.spec}"


@dataclass
class MergePlan:
    run: ModelRef  # the run being merged (its status, dataset, base)
    kind: str  # bi-encoder | cross-encoder: the run's kind, and the merged model's
    sources: list[Source]  # fine-tune first, extras, base last


def resolve_sources(run: str, models: list[str] | tuple[str, ...] = (), base: str | None = None,
                    runs: Path | None = None) -> MergePlan:
    """Resolve RUN, the extra MODELs and the base (default: the run's base_model)."""
    run_ref = resolve_model(run, runs, role="fine-tune")
    if run_ref.run is None:
        raise InputError.at(run, "not a run: merge starts from a finished run (its id or folder under runs/)",
                            hint="pass a run id from `ls runs/`; extra model folders go after it")
    kind = run_ref.kind
    if kind not in (BI_ENCODER, CROSS_ENCODER):
        raise InputError.at(run_ref.run.status_file, f"unknown kind {kind!r}", column="kind")
    sources = [Source("fine-tune", run, run_ref)]
    for spec in models:
        sources.append(Source("extra", spec, resolve_model(spec, runs, role="external")))
    if base is not None:
        base_ref = resolve_model(base, runs, role="base")
        sources.append(Source("base", base, base_ref))
    else:
        base_ref = base_model_ref(run_ref, runs)
        if base_ref is None:
            raise InputError.at(run_ref.run.status_file, "the run names no base model", column="base_model",
                                hint="name one with --base MODEL")
        sources.append(Source("base", str(run_ref.base_model), base_ref))
    seen: dict[Path, Source] = {}
    for source in sources:
        key = source.path.resolve()
        if key in seen:
            raise InputError.at(source.spec, f"the same model folder is given twice ({seen[key].label} and "
                                f"{source.label}: {source.path})", hint="each model may appear once; use --weights")
        seen[key] = source
    for source in sources[1:]:
        if source.ref.kind != kind and not (kind == CROSS_ENCODER and source.ref.kind == BI_ENCODER):
            raise InputError.at(source.spec, f"a {source.ref.kind} cannot be mixed into a {kind} run "
                                f"({source.path})", hint="merge models of the same kind as the run")
    return MergePlan(run=run_ref, kind=kind, sources=sources)


def parse_weights(text: str | None, n_models: int) -> list[float] | None:
    """`--weights 0.6,0.4` -> [0.6, 0.4] after checking count, range and sum (None when not given)."""
    if text is None:
        return None
    parts = [p.strip() for p in str(text).split(",")]
    values = []
    for i, part in enumerate(parts, 1):
        try:
            value = float(part)
        except ValueError:
            raise InputError.at("--weights", f"weight {i} ({part!r}) is not a number",
                                hint="write them like --weights 0.7,0.3") from None
        if not math.isfinite(value) or value < 0 or value > 1:
            raise InputError.at("--weights", f"weight {i} is {part}, outside 0..1")
        values.append(value)
    check_weights(values, n_models)
    return values


def check_weights(weights: list[float], n_models: int) -> None:
    if len(weights) != n_models:
        raise InputError.at("--weights", f"{len(weights)} weights for {n_models} models",
                            hint=f"give one weight per model, in the order fine-tune, extra models..., base "
                                 f"({n_models} numbers)")
    total = sum(weights)
    if abs(total - 1.0) > SUM_TOLERANCE:
        raise InputError.at("--weights", f"the weights sum to {total:g}, not 1",
                            hint="they are the shares of each model in the mix, e.g. --weights 0.7,0.3")


def default_weights(n_models: int) -> list[float]:
    """Equal shares (0.5/0.5 for a fine-tune and its base)."""
    return [1.0 / n_models] * n_models
