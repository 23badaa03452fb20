"""Rendering: a prepared dataset + a base model -> a validated config dict -> autotrain_configs/NAME.yml."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from wrapper.config.files import validate_config
from wrapper.config.presets import _resolve_base_model, preset_for
from wrapper.config.schema import TASKS, is_cross_encoder
from wrapper.config.tokens import TOKEN_PLACEHOLDER
from wrapper.dataset import read_manifest
from wrapper.errors import InputError


def _default_task(manifest: dict) -> str:
    return "st:triplet" if manifest.get("has_negatives", True) else "st:pair"


def _column_mapping(task: str) -> dict[str, str]:
    if task == "st:triplet":
        return {"sentence1_column": "anchor", "sentence2_column": "positive", "sentence3_column": "negative"}
    return {"sentence1_column": "anchor", "sentence2_column": "positive"}


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
        raise InputError.at("--task", f"unknown task {task!r}; expected one of {', '.join(TASKS)}")
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
    family = "cross-encoder" if is_cross_encoder(task) else "st"
    merged: dict[str, Any] = dict(preset[family])
    for key, value in (("epochs", epochs), ("lr", lr), ("batch_size", batch_size), ("max_steps", max_steps)):
        if value is not None:
            merged[key] = value
    merged.update({k: v for k, v in params.items() if v is not None})
    files = manifest.get("files") or {}
    autotrain_train = Path(files.get("autotrain_train", "autotrain/train.csv"))
    data_path = dataset_dir / autotrain_train.parent
    valid_file = files.get("autotrain_validation", "autotrain/validation.csv")
    valid_split = Path(valid_file).stem if (dataset_dir / valid_file).exists() else None
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
    base_model: str,
    name: str,
    task: str | None = None,
    epochs: int | None = None,
    lr: float | None = None,
    batch_size: int | None = None,
    max_steps: int | None = None,
    out_dir: Path = Path("autotrain_configs"),
    overwrite: bool = False,
    **params: Any,
) -> Path:
    """Write `out_dir/NAME.yml` for `dataset_dir` and return its path.

    Validates everything first (schema, project name, data files and columns, no
    token literal); raises `InputError` with the place and the fix otherwise.
    """
    import yaml

    out = Path(out_dir) / f"{name}.yml"
    if out.exists() and not overwrite:
        raise InputError.at(out, "already exists", hint="pass --overwrite to replace it, or choose another --name")
    raw = build_config(
        Path(dataset_dir), base_model=base_model, name=name, task=task, epochs=epochs, lr=lr,
        batch_size=batch_size, max_steps=max_steps, **params,
    )
    validate_config(raw, source=f"config for {name!r}")
    header = (
        f"# autorerank config: {raw['task']} on {Path(dataset_dir).name} ({raw['base_model']})\n"
        f"# Train: autorerank train {out}\n"
        "# AutoTrain's own schema; st:* tasks run in AutoTrain, cross-encoder:* in our backend.\n"
    )
    if not is_cross_encoder(raw["task"]) and "reranker" in base_model:
        header += (
            "# Note: st:* trains a bi-encoder: AutoTrain keeps this reranker's encoder and drops its\n"
            "# scoring head. For a reranker, render with --task cross-encoder:bce.\n"
        )
    from wrapper.jsonio import atomic_path

    with atomic_path(out) as tmp:
        tmp.write_text(header + yaml.safe_dump(raw, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return out
