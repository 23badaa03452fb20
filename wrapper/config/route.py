"""Which task trains a base model, decided from what the base is (`wrapper.basemodel.inspect`).

- A pretrained reranker (a one-logit `*ForSequenceClassification`) is trained as a reranker:
  through AutoTrain's `text_regression` where AutoTrain can load it and one text
  `query + separator + passage` gives the model exactly its pair input (XLM-R: bge, bce;
  DeBERTa-v2; ModernBERT), else through our cross-encoder backend (`cross-encoder:mnrl`: BERT
  rerankers read token types a single text cannot carry; Qwen3 is newer than AutoTrain's
  transformers). `st:*` on such a base drops its trained head: it needs `drop_head=True`
  (`--drop-reranker-head`) and gets a warning that says so.
- An embedding model (a bi-encoder such as the bundled MiniLM) keeps today's default, AutoTrain's
  `st:triplet` (or `st:pair` when the data has no negatives).
- A base whose code lives in its repository (`auto_map`) is refused unless `trust_remote_code`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from wrapper.basemodel import NOT_IN_AUTOTRAIN, BaseModel, pair_input
from wrapper.config.schema import CROSS_ENCODER_TASKS, RERANKER_TASK
from wrapper.errors import InputError

#: the cross-encoder loss a reranker base gets when AutoTrain cannot train it exactly (FACTS.md: learns
#: fastest from few steps, and kept the stand-in reranker's ranking better than 0/1 MSE did)
RERANKER_FALLBACK = "cross-encoder:mnrl"


@dataclass
class Route:
    task: str
    reason: str  # why this task, in plain words (printed by `config`, written in the YAML header)
    notes: list[str] = field(default_factory=list)  # warnings the user must see
    pairs: dict | None = None  # the pairs: section of a text_regression config


def check_remote_code(base: BaseModel, trust_remote_code: bool) -> None:
    if base.remote_code and not trust_remote_code:
        code = ", ".join(sorted({str(v).split(".")[0] + ".py" for v in (base.config.get("auto_map") or {}).values()}))
        raise InputError.at(
            "--base-model", f"{base.name} needs remote code: its config.json maps the model to Python files in its "
            f"repository ({code}), which would run on this machine",
            hint="read that code, then allow it with --trust-remote-code (or pick a base without custom code)")


def _autotrain_route(base: BaseModel, trust_remote_code: bool) -> tuple[bool, str, dict | None]:
    """(AutoTrain can train it exactly?, why not, the pairs: section)."""
    if base.model_type in NOT_IN_AUTOTRAIN:
        return False, (f"AutoTrain 0.8.36 pins transformers 4.48, which cannot load {base.model_type} models "
                       f"(added in {NOT_IN_AUTOTRAIN[base.model_type]})"), None
    pair = pair_input(base, trust_remote_code=trust_remote_code)
    section = {"separator": pair.separator, "exact": pair.exact} if pair.separator is not None else None
    return pair.exact, pair.why, section


def route(base: BaseModel, *, task: str | None, has_negatives: bool, drop_head: bool = False,
          trust_remote_code: bool = False) -> Route:
    """The task for `base` (`task` when given, after the checks that apply to it) and why."""
    check_remote_code(base, trust_remote_code)
    if task is not None and task.startswith("st:") and base.is_reranker:
        if not drop_head:
            raise InputError.at(
                "--task", f"{task} trains a bi-encoder: AutoTrain would keep {base.name}'s encoder and drop its "
                f"trained reranking head ({base.architecture})",
                hint="leave --task out (a reranker base trains as a reranker), or pass --drop-reranker-head "
                     "to make a bi-encoder from it on purpose")
        return Route(task, "asked for", [f"{task} drops {base.name}'s trained reranking head "
                                         f"({base.architecture}): the result is a bi-encoder that scores by "
                                         "cosine similarity, not a reranker"])
    if task == RERANKER_TASK:
        ok, why, section = _autotrain_route(base, trust_remote_code)
        if section is None:
            raise InputError.at("--task", f"{RERANKER_TASK} feeds AutoTrain one text per pair, and {why}",
                                hint=f"use --task {RERANKER_FALLBACK} (our cross-encoder backend reads pairs)")
        notes = [] if ok else [f"{RERANKER_TASK} is not exact for {base.name}: {why}; "
                               f"--task {RERANKER_FALLBACK} reads the pair as the model expects"]
        return Route(task, "asked for", notes, section)
    if task is not None:
        return Route(task, "asked for")
    if not base.is_reranker:
        default = "st:triplet" if has_negatives else "st:pair"
        what = "an embedding model" if base.config else "a model whose config could not be read"
        return Route(default, f"{base.name} is {what}, not a reranker: AutoTrain's {default} fine-tunes it as "
                              "a bi-encoder")
    if not has_negatives:
        return Route(RERANKER_FALLBACK, f"{base.name} is a reranker and the data has no negatives: "
                                        f"{RERANKER_FALLBACK} uses the batch's other passages as negatives")
    ok, why, section = _autotrain_route(base, trust_remote_code)
    if ok:
        return Route(RERANKER_TASK, f"{base.name} is a reranker ({base.architecture}): AutoTrain's "
                                    f"{RERANKER_TASK} refines its own head on `query{section['separator']}passage` "
                                    "texts, which it reads exactly as pairs", pairs=section)
    return Route(RERANKER_FALLBACK, f"{base.name} is a reranker ({base.architecture}); AutoTrain's one-text "
                                    f"{RERANKER_TASK} is not exact for it ({why}), so our cross-encoder backend "
                                    "trains it on (query, passage) pairs")


__all__ = ["CROSS_ENCODER_TASKS", "RERANKER_FALLBACK", "Route", "check_remote_code", "route"]
