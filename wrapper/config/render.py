"""Rendering: a prepared dataset + a base model -> a validated config dict -> autotrain_configs/NAME.yml."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from wrapper.config.files import validate_config
from wrapper.config.presets import _resolve_base_model, preset_for
from wrapper.config.schema import TASKS, is_cross_encoder, is_flagembedding
from wrapper.config.tokens import TOKEN_PLACEHOLDER
from wrapper.dataset import read_manifest
from wrapper.errors import InputError


def _default_task(manifest: dict) -> str:
    return "st:triplet" if manifest.get("has_negatives", True) else "st:pair"


#: the generic flags of `build_config` -> FlagEmbedding's argument names
_FLAGEMBEDDING_NAMES = {"epochs": "num_train_epochs", "lr": "learning_rate",
                        "batch_size": "per_device_train_batch_size", "max_steps": "max_steps"}


def _column_mapping(task: str) -> dict[str, str]:
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
    **params: Any,
) -> dict:
    """The config dict `render_config` writes (validated, not yet written)."""
    dataset_dir = Path(dataset_dir)
    manifest = read_manifest(dataset_dir, training=True)
    has_negatives = bool(manifest.get("has_negatives", True))
    task = task or _default_task(manifest)
    if task not in TASKS:
        from wrapper.config.flagembedding import check_task_and_base

        check_task_and_base({"task": task}, "--task")
        raise InputError.at("--task", f"unknown task {task!r}; expected one of {', '.join(TASKS)}")
    if is_flagembedding(task):
        from wrapper.config.flagembedding import check_task_and_base

        check_task_and_base({"task": task, "base_model": base_model}, "--base-model")
        if not has_negatives:
            raise InputError.at(
                dataset_dir / "dataset.json", f"{task} needs negatives but has_negatives is false",
                hint="use --task cross-encoder:mnrl (in-batch negatives), or prepare the data with negative mining",
            )
        if params.get("max_seq_length") is not None:
            raise InputError.at("--max-seq-length", f"{task} has separate query and passage lengths",
                                hint="use --param query_max_len=N --param passage_max_len=N")
    if task == "st:triplet" and not has_negatives:
        raise InputError.at(
            dataset_dir / "dataset.json", "st:triplet needs negatives but has_negatives is false",
            hint="use --task st:pair or st:qa, or prepare the data with negative mining",
        )
    if task == "cross-encoder:bce" and not has_negatives:
        raise InputError.at(
            dataset_dir / "dataset.json", "cross-encoder:bce needs negatives but has_negatives is false",
            hint="use --task cross-encoder:mnrl (in-batch negatives), or prepare the data with negative mining",
        )
    _, preset = preset_for(base_model)
    family = "flagembedding" if is_flagembedding(task) else "cross-encoder" if is_cross_encoder(task) else "st"
    merged: dict[str, Any] = dict(preset[family])
    if family == "flagembedding":
        merged.update(hardware_precision())
    for key, value in (("epochs", epochs), ("lr", lr), ("batch_size", batch_size), ("max_steps", max_steps)):
        if value is not None:
            merged[_FLAGEMBEDDING_NAMES[key] if family == "flagembedding" else key] = value
    merged.update({k: v for k, v in params.items() if v is not None})
    files = manifest.get("files") or {}
    if family == "flagembedding":  # FlagEmbedding reads flagembedding/train.jsonl and evaluates nothing
        from wrapper.config.flagembedding import fit_group_size

        autotrain_train = Path(files.get("flagembedding_train", "flagembedding/train.jsonl"))
        valid_split = None
        fit_group_size(merged, dataset_dir / autotrain_train, explicit=params.get("train_group_size") is not None)
    else:
        autotrain_train = Path(files.get("autotrain_train", "autotrain/train.csv"))
        valid_file = files.get("autotrain_validation", "autotrain/validation.csv")
        valid_split = Path(valid_file).stem if (dataset_dir / valid_file).exists() else None
    data_path = dataset_dir / autotrain_train.parent
    raw: dict[str, Any] = {
        "task": task,
        "base_model": _resolve_base_model(base_model),
        "project_name": name,
        "log": "none",
        "backend": "local",
        "data": {
            "path": str(data_path.resolve()) if dataset_dir.is_absolute() else str(data_path),
            "train_split": autotrain_train.stem,
            "valid_split": valid_split,
            "column_mapping": _column_mapping(task),
        },
        "params": merged,
    }
    if hub_username:
        raw["hub"] = {"username": hub_username, "token": TOKEN_PLACEHOLDER, "push_to_hub": True}
    return raw


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
    max_steps, hub_username, and any other training param).

    Validates everything first (schema, project name, data files and columns, no
    token literal); raises `InputError` with the place and the fix otherwise.
    """
    import yaml

    out = Path(out_dir) / f"{name}.yml"
    raw = build_config(Path(dataset_dir), name=name, **options)
    validate_config(raw, source=f"config for {name!r}")
    if out.exists() and not overwrite:
        raise InputError.at(out, "already exists", hint="pass --overwrite to replace it, or choose another --name")
    header = (
        f"# autorerank config: {raw['task']} on {Path(dataset_dir).name} ({raw['base_model']})\n"
        f"# Train: autorerank train {out}\n"
        "# AutoTrain's own schema; st:* tasks run in AutoTrain, cross-encoder:* in our backend.\n"
    )
    if is_flagembedding(raw["task"]):
        header += (
            "# flagembedding:reranker runs `torchrun -m FlagEmbedding.finetune.reranker.encoder_only.base`;\n"
            "# params use its argument names. The gate evaluates eval/validation.jsonl after the run.\n"
        )
    elif not is_cross_encoder(raw["task"]) and "reranker" in options["base_model"]:
        header += (
            "# Note: st:* trains a bi-encoder: AutoTrain keeps this reranker's encoder and drops its\n"
            "# scoring head. For a reranker, render with --task cross-encoder:bce.\n"
        )
    from wrapper.jsonio import atomic_path

    with atomic_path(out) as tmp:
        tmp.write_text(header + yaml.safe_dump(raw, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return out
