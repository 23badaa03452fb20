"""Training configs: the strict schema, base-model presets, rendering and validation.

A config is AutoTrain's own YAML shape (Contract 2 in docs/ARCHITECTURE.md)::

    task: st:triplet                 # or st:pair, st:qa, cross-encoder:{bce,mnrl,listwise}, flagembedding:reranker
    base_model: BAAI/bge-reranker-base
    project_name: sample-bge         # letters, digits, hyphens; <= 50 chars
    log: none
    backend: local
    data: {path: data/sample/autotrain, train_split: train, valid_split: validation,
           column_mapping: {sentence1_column: anchor, sentence2_column: positive, sentence3_column: negative}}
    params: {epochs: 1, lr: 2.0e-05, batch_size: 16, ...}
    hub: {username: ${HF_USERNAME}, token: ${HF_TOKEN}, push_to_hub: true}   # optional

`st:*` tasks run in AutoTrain; `cross-encoder:*` tasks run our sentence-transformers
CrossEncoder backend (`wrapper.train.cross_encoder`); `flagembedding:reranker` runs
FlagEmbedding's encoder-only reranker fine-tune (`wrapper.train.flagembedding`; its
`data.path` is `data/<name>/flagembedding`, its params use FlagEmbedding's argument names).
`data.path` is the prepared dataset's folder (`wrapper.dataset.Dataset`); each trainer asks it
for the file it reads.

Modules: `schema` (the strict models, `parse_config`), `tokens` (token hygiene),
`files` (data checks, `load_config`), `presets` (base-model presets), `render` (`render_config`),
`flagembedding` (the rules of flagembedding:reranker).

Public API: `render_config(...)`, `load_config(path)`, `validate_config(config, source)`,
`PRESETS`, `TASKS`.
"""

from __future__ import annotations

from wrapper.config.files import config_dataset, load_config, validate_config, validate_files
from wrapper.config.presets import GENERIC_PRESET, PRESETS, default_base_model, preset_for
from wrapper.config.render import ConfigPlan, build_config, default_name, render_config, write_config
from wrapper.config.schema import (
    AUTOTRAIN_TASKS,
    CROSS_ENCODER_LOSSES,
    CROSS_ENCODER_TASKS,
    FLAGEMBEDDING_TASKS,
    PROJECT_NAME_RE,
    TASKS,
    AutoTrainParams,
    ColumnMapping,
    CrossEncoderParams,
    DataSection,
    FlagEmbeddingParams,
    HubSection,
    TrainConfig,
    is_cross_encoder,
    is_flagembedding,
    params_class,
    parse_config,
)
from wrapper.config.tokens import TOKEN_LITERAL_RE, TOKEN_PLACEHOLDER

__all__ = [
    "AUTOTRAIN_TASKS", "CROSS_ENCODER_LOSSES", "CROSS_ENCODER_TASKS", "FLAGEMBEDDING_TASKS", "GENERIC_PRESET",
    "PRESETS", "PROJECT_NAME_RE", "TASKS", "TOKEN_LITERAL_RE", "TOKEN_PLACEHOLDER", "AutoTrainParams",
    "ColumnMapping", "CrossEncoderParams", "DataSection", "FlagEmbeddingParams", "HubSection", "TrainConfig",
    "ConfigPlan", "build_config", "default_name", "write_config", "default_base_model", "is_cross_encoder", "is_flagembedding", "load_config",
    "params_class", "parse_config", "preset_for", "render_config", "config_dataset",
    "validate_config", "validate_files",
]
