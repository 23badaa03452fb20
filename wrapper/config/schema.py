"""The strict config schema (Contract 2): sections, per-task params, and readable schema errors."""

from __future__ import annotations

import re
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from wrapper.config.tokens import TOKEN_PLACEHOLDER, _reject_token_literals
from wrapper.errors import InputError

AUTOTRAIN_TASKS = ("st:triplet", "st:pair", "st:qa")
#: AutoTrain's own task, used as the reranker route: the base's one-logit head trained on pair texts
#: (`wrapper.train.autotrain_reranker`)
RERANKER_TASK = "text_regression"
CROSS_ENCODER_LOSSES = ("bce", "mnrl", "listwise")
CROSS_ENCODER_TASKS = tuple(f"cross-encoder:{loss}" for loss in CROSS_ENCODER_LOSSES)
#: FlagEmbedding's encoder-only reranker fine-tune (`wrapper.train.flagembedding`)
FLAGEMBEDDING_TASKS = ("flagembedding:reranker",)
TASKS = AUTOTRAIN_TASKS + (RERANKER_TASK,) + CROSS_ENCODER_TASKS + FLAGEMBEDDING_TASKS
#: tasks whose model is a reranker (a cross-encoder); st:* tasks train a bi-encoder
RERANKER_TASKS = (RERANKER_TASK,) + CROSS_ENCODER_TASKS + FLAGEMBEDDING_TASKS

PROJECT_NAME_RE = re.compile(r"^[A-Za-z0-9-]{1,50}$")


def is_cross_encoder(task: str) -> bool:
    return task.startswith("cross-encoder:")


def is_flagembedding(task: str) -> bool:
    return task.startswith("flagembedding:")


def is_autotrain_reranker(task: str) -> bool:
    return task == RERANKER_TASK



class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())


class ColumnMapping(_Strict):
    sentence1_column: str = "anchor"
    sentence2_column: str = "positive"
    sentence3_column: Optional[str] = None
    text_column: Optional[str] = None  # text_regression: the pair text
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


class TextRegressionParams(_Strict):
    """`params:` of `text_regression` (a subset of AutoTrain's TextRegressionParams, its names)."""

    epochs: int = Field(1, ge=1)
    lr: float = Field(2e-5, gt=0)
    batch_size: int = Field(16, ge=1)
    max_seq_length: int = Field(256, ge=8)  # AutoTrain pads every text to this length
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


class PairsSection(_Strict):
    """`pairs:` (text_regression only; AutoTrain's parser ignores it): how (query, passage) pairs become
    AutoTrain's one-text rows and their regression targets (`wrapper.train.autotrain_reranker`)."""

    separator: str  # between query and passage; `config` finds the one the base's tokenizer uses for pairs
    exact: bool = True  # the base sees exactly its pair encoding (config checks; False: a warning was given)
    targets: Literal["anchored", "binary"] = "anchored"
    margin: float = Field(2.0, gt=0)  # anchored: the shift, in standard deviations of the base's logits
    negatives: int = Field(7, ge=0)  # negatives per training query (of those prepare mined)


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
    gradient_checkpointing: bool = False  # recompute activations in the backward pass: less memory, ~30% slower
    # distillation from the dataset's teacher scores (pos_scores/neg_scores; cross-encoder:mnrl only):
    # kl = listwise KL to softmax(teacher / distill_temperature), margin-mse = MarginMSE on score margins
    distill: Literal["none", "kl", "margin-mse"] = "none"
    distill_weight: float = Field(1.0, ge=0)
    label_weight: float = Field(1.0, ge=0)  # 0: distillation alone, no label loss
    distill_temperature: float = Field(1.0, gt=0)


class FlagEmbeddingParams(_Strict):
    """`params:` of `flagembedding:reranker`, in FlagEmbedding's own argument names (its CLI flags)."""

    num_train_epochs: int = Field(1, ge=1)
    max_steps: int = Field(-1, ge=-1)  # -1: run num_train_epochs; > 0 overrides them
    learning_rate: float = Field(2e-5, gt=0)
    per_device_train_batch_size: int = Field(8, ge=1)  # queries per device and step
    gradient_accumulation_steps: int = Field(1, ge=1)
    train_group_size: int = Field(8, ge=2)  # 1 positive + (train_group_size - 1) negatives per query
    query_max_len: int = Field(32, ge=4)
    passage_max_len: int = Field(128, ge=8)
    warmup_steps: float = Field(0.1, ge=0)  # < 1: a ratio of all steps; >= 1: a number of steps
    weight_decay: float = Field(0.01, ge=0)
    max_grad_norm: float = Field(1.0, gt=0)
    lr_scheduler_type: str = "linear"
    seed: int = 42
    logging_steps: int = Field(-1, ge=-1)  # -1: about 20 logs per run
    gradient_checkpointing: bool = False  # less memory, more time
    fp16: bool = False  # only on a CUDA GPU (checked when the run starts)
    bf16: bool = False  # only on a GPU with bf16 (checked when the run starts)
    distill: bool = False  # --knowledge_distillation: needs pos_scores/neg_scores in the train file

    @model_validator(mode="after")
    def _one_precision(self) -> "FlagEmbeddingParams":
        if self.warmup_steps >= 1 and self.warmup_steps != int(self.warmup_steps):
            raise ValueError(f"warmup_steps {self.warmup_steps} is neither a ratio below 1 nor a whole number of steps")
        if self.fp16 and self.bf16:
            raise ValueError("fp16 and bf16 are both true; choose at most one")
        return self


def params_class(task: str) -> type[BaseModel]:
    """The strict `params:` model of a task."""
    if is_flagembedding(task):
        return FlagEmbeddingParams
    if is_autotrain_reranker(task):
        return TextRegressionParams
    return CrossEncoderParams if is_cross_encoder(task) else AutoTrainParams


class TrainConfig(_Strict):
    task: Literal[TASKS]  # type: ignore[valid-type]
    base_model: str
    project_name: str
    log: Literal["none", "tensorboard", "wandb"] = "none"
    backend: Literal["local", "local-cli"] = "local"
    data: DataSection
    params: dict[str, Any] = Field(default_factory=dict)
    hub: Optional[HubSection] = None
    pairs: Optional[PairsSection] = None  # text_regression only
    trust_remote_code: bool = False  # run the model code a base ships in its repo (auto_map)

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

    @property
    def is_flagembedding(self) -> bool:
        return is_flagembedding(self.task)

    @property
    def is_autotrain_reranker(self) -> bool:
        return is_autotrain_reranker(self.task)

    @property
    def kind(self) -> str:
        """What the task trains: "cross-encoder" (a reranker) or "bi-encoder" (AutoTrain's st:*)."""
        return "cross-encoder" if self.task in RERANKER_TASKS else "bi-encoder"

    @model_validator(mode="after")
    def _pairs_only_for_text_regression(self) -> "TrainConfig":
        if self.pairs is not None and not self.is_autotrain_reranker:
            raise ValueError(f"a pairs: section belongs to task {RERANKER_TASK}, not {self.task}")
        if self.pairs is None and self.is_autotrain_reranker:
            raise ValueError(f"task {RERANKER_TASK} needs a pairs: section (render it with `autorerank config`)")
        return self

    def params_model(self) -> Any:
        """The validated params (AutoTrainParams, CrossEncoderParams or FlagEmbeddingParams)."""
        return params_class(self.task)(**self.params)


def _allowed_keys(model: type[BaseModel]) -> str:
    return ", ".join(model.model_fields)


_SECTION_MODELS: dict[tuple, type[BaseModel]] = {
    (): TrainConfig,
    ("data",): DataSection,
    ("data", "column_mapping"): ColumnMapping,
    ("hub",): HubSection,
    ("pairs",): PairsSection,
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
        hint="see `autorerank config --help`; the schema is in wrapper/config/schema.py",
    )


def parse_config(raw: Any, source: object = "<config>") -> TrainConfig:
    """Validate a config dict against the strict schema (no file checks)."""
    if not isinstance(raw, dict):
        raise InputError.at(source, f"expected a YAML mapping at the top level, got {type(raw).__name__}")
    from wrapper.config.flagembedding import check_task_and_base

    check_task_and_base(raw, source)
    try:
        config = TrainConfig(**raw)
    except ValidationError as exc:
        raise _schema_error(source, exc) from None
    params_cls = params_class(config.task)
    try:
        params_cls(**config.params)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            key = ".".join(["params", *(str(p) for p in err["loc"])])
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
            and (config.task in AUTOTRAIN_TASKS or config.task == RERANKER_TASK) else None,
        ) from None
    _reject_token_literals(raw, source)
    if config.is_flagembedding:
        from wrapper.config.flagembedding import check_config

        check_config(config, source)
    return config
