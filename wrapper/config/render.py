"""Rendering: a prepared dataset + a base model -> a validated config dict -> autotrain_configs/NAME.yml."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wrapper import basemodel
from wrapper.basemodel import BaseModel
from wrapper.config.files import validate_config
from wrapper.config.presets import preset_for
from wrapper.config.route import Route, route
from wrapper.config.schema import RERANKER_TASK, TASKS, is_cross_encoder, is_flagembedding
from wrapper.config.tokens import TOKEN_PLACEHOLDER
from wrapper.dataset import Dataset
from wrapper.errors import InputError


#: the generic flags of `build_config` -> FlagEmbedding's argument names
_FLAGEMBEDDING_NAMES = {"epochs": "num_train_epochs", "lr": "learning_rate",
                        "batch_size": "per_device_train_batch_size", "max_steps": "max_steps"}


def _column_mapping(task: str) -> dict[str, str]:
    if task == RERANKER_TASK:  # the pair CSVs `autorerank train` writes for AutoTrain
        return {"text_column": "text", "target_column": "target"}
    if is_flagembedding(task):  # the keys of flagembedding/train.jsonl
        return {"sentence1_column": "query", "sentence2_column": "pos", "sentence3_column": "neg"}
    if task == "st:triplet":
        return {"sentence1_column": "anchor", "sentence2_column": "positive", "sentence3_column": "negative"}
    return {"sentence1_column": "anchor", "sentence2_column": "positive"}


def hardware_precision() -> dict[str, bool]:
    """FlagEmbedding's mixed precision for this machine: bf16 where the GPU has it, else fp16 on CUDA, else none."""
    import torch

    if not torch.cuda.is_available():
        return {}
    return {"bf16": True} if torch.cuda.is_bf16_supported() else {"fp16": True}


@dataclass
class ConfigPlan:
    """A config about to be written: the dict, why its task was chosen, what the user must be told."""

    raw: dict
    route: Route
    base: BaseModel
    dataset: Dataset

    @property
    def notes(self) -> list[str]:
        return self.route.notes


def _clamp_lengths(merged: dict, family: str, base: BaseModel, notes: list[str], asked: bool) -> None:
    """Token lengths within the base's positions (the tokenizer would truncate, the model would fail)."""
    limit = base.max_positions
    if not limit:
        return
    for key in ("query_max_len", "passage_max_len") if family == "flagembedding" else ("max_seq_length",):
        value = merged.get(key)
        if isinstance(value, int) and value > limit:
            merged[key] = limit
            if asked:
                notes.append(f"{key} {value} is more than {base.name} has positions for ({limit}): using {limit}")


def build_config(
    dataset_dir: Path,
    *,
    base_model: str,
    name: str,
    task: str | None = None,
    epochs: int | None = None,
    lr: float | None = None,
    batch_size: int | None = None,
    max_steps: int | None = None,
    hub_username: str | None = None,
    drop_head: bool = False,
    trust_remote_code: bool = False,
    targets: str | None = None,
    margin: float | None = None,
    negatives: int | None = None,
    valid_split: str | None = None,
    **params: Any,
) -> ConfigPlan:
    """The config `render_config` writes (not validated against the files yet), with the reasons.

    `task=None` picks it from the base model (`wrapper.config.route`). `targets`, `margin`,
    `negatives` set the pairs: section of text_regression. `valid_split` names the eval split a
    trainer evaluates on while it trains (default: validation; AutoTrain's st:* tasks always read
    autotrain/validation.csv).
    """
    dataset_dir = Path(dataset_dir)
    dataset = Dataset.open(dataset_dir, training=True)
    has_negatives = dataset.has_negatives
    if task is not None and task not in TASKS:
        from wrapper.config.flagembedding import check_task_and_base

        check_task_and_base({"task": task}, "--task")
        raise InputError.at("--task", f"unknown task {task!r}; expected one of {', '.join(TASKS)}")
    base = basemodel.inspect(base_model)
    chosen = route(base, task=task, has_negatives=has_negatives, drop_head=drop_head,
                   trust_remote_code=trust_remote_code)
    task = chosen.task
    if is_flagembedding(task):
        from wrapper.config.flagembedding import check_task_and_base

        check_task_and_base({"task": task, "base_model": base_model}, "--base-model")
        if not has_negatives:
            raise InputError.at(
                dataset.manifest_file, f"{task} needs negatives but has_negatives is false",
                hint="use --task cross-encoder:mnrl (in-batch negatives), or prepare the data with negative mining",
            )
        if params.get("max_seq_length") is not None:
            raise InputError.at("--max-seq-length", f"{task} has separate query and passage lengths",
                                hint="use --param query_max_len=N --param passage_max_len=N")
    instead = {"st:triplet": "use --task st:pair or st:qa", "cross-encoder:bce": "use --task cross-encoder:mnrl "
               "(in-batch negatives)", RERANKER_TASK: "use --task cross-encoder:mnrl (in-batch negatives)"}
    if task in instead and not has_negatives:
        raise InputError.at(dataset.manifest_file, f"{task} needs negatives but has_negatives is false",
                            hint=f"{instead[task]}, or prepare the data with negative mining")
    _, preset = preset_for(base_model, reranker=base.is_reranker)
    family = _family(task)
    merged: dict[str, Any] = dict(preset[family])
    if family == "flagembedding":
        merged.update(hardware_precision())
    for key, value in (("epochs", epochs), ("lr", lr), ("batch_size", batch_size), ("max_steps", max_steps)):
        if value is not None:
            merged[_FLAGEMBEDDING_NAMES[key] if family == "flagembedding" else key] = value
    merged.update({k: v for k, v in params.items() if v is not None})
    _clamp_lengths(merged, family, base, chosen.notes, asked=any(k in params for k in
                                                                ("max_seq_length", "query_max_len", "passage_max_len")))
    if family == "flagembedding":  # FlagEmbedding reads flagembedding/train.jsonl and evaluates nothing
        from wrapper.config.flagembedding import fit_group_size

        valid_split = None
        fit_group_size(merged, dataset.train_file("flagembedding"),
                       explicit=params.get("train_group_size") is not None)
    elif family == "st":
        valid_split = "validation" if dataset.train_file("autotrain_validation", must_exist=False).is_file() else None
    elif valid_split is None:
        valid_split = "validation" if "validation" in dataset.splits else None
    raw: dict[str, Any] = {
        "task": task,
        "base_model": base.ref,
        "project_name": name,
        "log": "none",
        "backend": "local",
        "data": {
            # the dataset folder; `autorerank train` gives each trainer the file it reads (config.resolved.yml)
            "path": str(dataset.root) if dataset_dir.is_absolute() else str(dataset_dir),
            "train_split": "train",
            "valid_split": valid_split,
            "column_mapping": _column_mapping(task),
        },
        "params": merged,
    }
    if chosen.pairs is not None:
        from wrapper.config.schema import PairsSection

        asked = {k: v for k, v in (("targets", targets), ("margin", margin), ("negatives", negatives)) if v is not None}
        raw["pairs"] = PairsSection(**chosen.pairs, **asked).model_dump()
    elif any(v is not None for v in (targets, margin, negatives)):
        raise InputError.at("--targets", f"--targets, --margin and --negatives shape the pairs of "
                                         f"{RERANKER_TASK}, not of {task}")
    if base.remote_code:
        raw["trust_remote_code"] = True
    if hub_username:
        raw["hub"] = {"username": hub_username, "token": TOKEN_PLACEHOLDER, "push_to_hub": True}
    return ConfigPlan(raw=raw, route=chosen, base=base, dataset=dataset)


def default_name(dataset_dir: str | Path, base_model: str, task: str, *, reranker: bool = False) -> str:
    """`<dataset>-<preset slug>[-ce-<loss>|-flagembedding]` (letters, digits, hyphens; at most 50)."""
    import re

    name = f"{Path(dataset_dir).name}-{preset_for(base_model, reranker=reranker)[1]['slug']}"
    if task.startswith("cross-encoder:"):
        name += "-ce-" + task.split(":", 1)[1]
    elif task.startswith("flagembedding:"):
        name += "-flagembedding"
    return re.sub(r"[^A-Za-z0-9-]+", "-", name).strip("-")[:50]


def _family(task: str) -> str:
    """The preset family of a task."""
    if is_flagembedding(task):
        return "flagembedding"
    if task == RERANKER_TASK:
        return "text_regression"
    return "cross-encoder" if is_cross_encoder(task) else "st"


def render_config(
    dataset_dir: Path,
    *,
    name: str,
    out_dir: Path = Path("autotrain_configs"),
    overwrite: bool = False,
    **options: Any,
) -> Path:
    """Write `out_dir/NAME.yml` for `dataset_dir` and return its path.

    `options` are those of `build_config` (base_model, task, epochs, lr, batch_size,
    max_steps, hub_username, drop_head, trust_remote_code, and any other training param).

    Validates everything first (schema, project name, data files and columns, no
    token literal); raises `InputError` with the place and the fix otherwise.
    """
    return write_config(build_config(Path(dataset_dir), name=name, **options), out_dir=out_dir, overwrite=overwrite)


def write_config(plan: ConfigPlan, *, out_dir: Path = Path("autotrain_configs"), overwrite: bool = False) -> Path:
    """Validate `plan` and write it to `out_dir/<project_name>.yml` (atomically); returns the path."""
    import yaml

    raw = plan.raw
    name = raw["project_name"]
    out = Path(out_dir) / f"{name}.yml"
    validate_config(raw, source=f"config for {name!r}")
    if out.exists() and not overwrite:
        raise InputError.at(out, "already exists", hint="pass --overwrite to replace it, or choose another --name")
    header = [f"autorerank config: {raw['task']} on {plan.dataset.root.name} ({raw['base_model']})",
              f"Train: autorerank train {out}",
              "AutoTrain's own schema; st:* and text_regression run in AutoTrain, cross-encoder:* in our backend.",
              f"Task: {plan.route.reason}."]
    if is_flagembedding(raw["task"]):
        header += ["flagembedding:reranker runs `torchrun -m FlagEmbedding.finetune.reranker.encoder_only.base`;",
                   "params use its argument names. The gate evaluates eval/validation.jsonl after the run."]
    if raw["task"] == RERANKER_TASK:
        header += ["text_regression: `autorerank train` writes the pair texts (query, separator, passage) and",
                   "their targets to the run folder (pairs/) and points AutoTrain's data.path there."]
    header += [f"Note: {note}" for note in plan.notes]
    text = "".join(f"# {line}\n" for line in _wrap(header))
    from wrapper.jsonio import atomic_path

    with atomic_path(out) as tmp:
        tmp.write_text(text + yaml.safe_dump(raw, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return out


def _wrap(lines: list[str], width: int = 100) -> list[str]:
    import textwrap

    return [part for line in lines for part in textwrap.wrap(line, width) or [""]]
