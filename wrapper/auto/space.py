"""What `autorerank auto` searches over, and what a trial costs on this machine.

Routes (a task each) depend on the base (`wrapper.basemodel.inspect`):
- an embedding model (the bundled MiniLM): AutoTrain's `st:triplet`, the cross-encoder losses
  (`mnrl`, `bce`, `listwise`) on a fresh head, FlagEmbedding's reranker trainer;
- a reranker: its own route (`text_regression` where AutoTrain reads its pairs exactly), the
  cross-encoder losses, FlagEmbedding (encoders only).
`--tasks` narrows them. The first trials are the presets' recipes, one route at a time in the order
below (the priors: what has worked on these CPUs, FACTS.md and the bench); Optuna's TPE sampler
proposes the rest: route, learning rate (log scale, in a range per route and base), token length,
distillation where the data has teacher scores. Steps come from the budget, not the sampler.

The cost model: a trial costs a fixed start-up (process, imports, model load: measured for each
backend by its trials, first guessed from `STARTUP`) plus its examples times the seconds per
example of the base at that length (`wrapper.sizing.probe_seconds_per_example`, measured once per
length), plus the gate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from wrapper.config.schema import RERANKER_TASK

#: first guesses of a trial's fixed cost (seconds) per backend, before a trial of it has run
STARTUP = {"st:": 25.0, RERANKER_TASK: 30.0, "cross-encoder:": 12.0, "flagembedding:": 15.0}
#: a triplet (query and two passages, each encoded apart) costs about this many pair examples of the probe
#: (AutoTrain st:triplet on cmrc2018 at 256 tokens: 0.51 s per triplet against the probe's 0.214 s per pair)
TRIPLET_COST = 2.4
#: learning-rate ranges: a fresh head needs a large step, a trained head a small one
LR_FRESH = (3e-5, 3e-4)
LR_TRAINED = (5e-6, 5e-5)
LR_BI_ENCODER = (1e-5, 1e-4)
LENGTHS = (128, 256)


def routes_for(base, *, has_teacher: bool, only: list[str] | None = None, exact_pairs: bool = False,
               has_negatives: bool = True) -> list[str]:
    """The candidate tasks for `base`, best prior first (without negatives: the ones that need none)."""
    if base.is_reranker:
        order = ([RERANKER_TASK] if exact_pairs else []) + ["cross-encoder:mnrl", "cross-encoder:bce",
                                                             "cross-encoder:listwise"]
        if not base.is_decoder:
            order.append("flagembedding:reranker")
    else:
        order = ["st:triplet", "cross-encoder:mnrl", "flagembedding:reranker", "cross-encoder:bce",
                 "cross-encoder:listwise"]
    if not has_negatives:
        order = [t for t in order if t == "cross-encoder:mnrl"] + (["st:pair"] if not base.is_reranker else [])
    if only:
        unknown = [t for t in only if t not in order]
        if unknown:
            from wrapper.errors import InputError

            raise InputError.at("--tasks", f"{', '.join(unknown)} cannot train {base.name}",
                                hint=f"choose among {', '.join(order)}")
        order = [t for t in order if t in only]
    return order


def lr_range(task: str, reranker_base: bool) -> tuple[float, float]:
    if task.startswith("st:"):
        return LR_BI_ENCODER
    return LR_TRAINED if reranker_base else LR_FRESH


@dataclass
class Recipe:
    """One trial's choices (what the sampler picked) and what `build_config` gets from them."""

    task: str
    lr: float
    max_length: int
    distill: bool = False
    steps: int = 0  # planned optimizer steps (from the budget)
    epochs: int = 1  # AutoTrain tasks train whole epochs

    def config_options(self) -> dict:
        opts: dict = {"task": self.task, "lr": self.lr}
        if self.task.startswith("flagembedding:"):
            opts.update(max_steps=self.steps, passage_max_len=self.max_length, query_max_len=min(64, self.max_length))
        elif self.task.startswith("cross-encoder:"):
            opts.update(max_steps=self.steps, max_seq_length=self.max_length)
            if self.distill:
                opts["distill"] = "kl"
        else:  # AutoTrain: st:* and text_regression run whole epochs
            opts.update(epochs=self.epochs, max_seq_length=self.max_length)
        return opts

    def label(self) -> str:
        size = f"{self.epochs} ep" if self.task.startswith("st:") or self.task == RERANKER_TASK else f"{self.steps} st"
        return f"{self.task} lr {self.lr:.0e} len {self.max_length} {size}" + (" +kl" if self.distill else "")


@dataclass
class CostModel:
    """Seconds a trial takes: start-up per backend + examples x seconds per example (+ the gate)."""

    per_example: dict[int, float] = field(default_factory=dict)  # token length -> seconds per pair example
    startup: dict[str, float] = field(default_factory=lambda: dict(STARTUP))
    gate_s: float = 20.0
    learned: set[str] = field(default_factory=set)  # backends whose start-up a trial has measured
    gates: int = 0  # gates measured

    @staticmethod
    def family(task: str) -> str:
        return next(k for k in STARTUP if task.startswith(k))

    def example_s(self, task: str, length: int) -> float:
        known = sorted(self.per_example)
        per = self.per_example.get(length) or (self.per_example[known[-1]] * length / known[-1] if known else 0.01)
        return per * (TRIPLET_COST if task.startswith("st:") else 1.0)

    def trial_s(self, recipe: Recipe, examples_per_step: int) -> float:
        return (self.startup[self.family(recipe.task)] + recipe.steps * examples_per_step
                * self.example_s(recipe.task, recipe.max_length) + self.gate_s)

    def learn(self, recipe: Recipe, examples_per_step: int, wall_s: float) -> None:
        """After a trial: its real start-up is what the wall time had beyond the compute. The first
        measurement of a backend replaces the prior; later ones are averaged with it."""
        compute = recipe.steps * examples_per_step * self.example_s(recipe.task, recipe.max_length)
        seen = max(wall_s - compute, 1.0)
        key = self.family(recipe.task)
        self.startup[key] = 0.5 * self.startup[key] + 0.5 * seen if key in self.learned else seen
        self.learned.add(key)

    def learn_gate(self, seconds: float) -> None:
        """After a gate: the first replaces the prior; later ones never lower the estimate below their
        mean with it (a gate that runs past the deadline breaks the budget; one trial fewer does not)."""
        self.gate_s = max(seconds, 0.5 * (self.gate_s + seconds)) if self.gates else seconds
        self.gates += 1

    def steps_for(self, recipe: Recipe, examples_per_step: int, seconds: float) -> int:
        """The most optimizer steps that fit in `seconds` (start-up and gate included), at least 1."""
        room = seconds - self.startup[self.family(recipe.task)] - self.gate_s
        per_step = examples_per_step * self.example_s(recipe.task, recipe.max_length)
        return max(int(room / per_step + 1e-9) if per_step > 0 else 1, 1)


def examples_per_step(task: str, batch: int, negatives: int) -> int:
    """Pair examples one optimizer step computes (a triplet counts as one, priced by TRIPLET_COST)."""
    if task == "cross-encoder:mnrl" or task == "cross-encoder:listwise":
        return batch * (1 + negatives)
    if task.startswith("flagembedding:"):
        return batch * max(negatives + 1, 2)
    return batch


def epochs_for(steps: int, rows: int, batch: int) -> int:
    per_epoch = max(math.ceil(rows / batch), 1)
    return max(round(steps / per_epoch), 1)


__all__ = ["LENGTHS", "CostModel", "Recipe", "epochs_for", "examples_per_step", "lr_range", "routes_for"]
