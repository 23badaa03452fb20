"""Hugging Face text-embeddings-inference (TEI): what its loader needs from an exported reranker.

TEI is a Rust server shipped as Docker images; it cannot run here, but its loader is short and public.
The rules below are read from its source (router/src/lib.rs `run` and `get_backend_model_type`,
core/src/download.rs `ST_CONFIG_NAMES`, backends/candle/src/lib.rs `Config` and the weight files):

1. config.json parses: `architectures` (a list), `model_type`, `max_position_embeddings` (or
   `n_positions`) are required.
2. An architecture ending in "Classification" makes the model a classifier; `id2label` and `label2id`
   are then required, and exactly one label makes it a reranker (served at /rerank).
3. tokenizer.json (a fast tokenizer) is required.
4. The first of `ST_CONFIG_NAMES` present (sentence_bert_config.json first) must carry an integer
   `max_seq_length`: sentence-transformers 6 saves a CrossEncoder's without it, and TEI then stops
   with "Failed to parse `sentence_bert_config.json`". `complete` adds it (the model's own length,
   which sentence-transformers reads back unchanged).
5. Weights: model.safetensors, pytorch_model.bin or model.safetensors.index.json.
6. `model_type` is one of the candle backend's configs (`MODEL_TYPES`).
"""

from __future__ import annotations

import json
from pathlib import Path

ST_CONFIG_NAMES = ("sentence_bert_config.json", "sentence_roberta_config.json", "sentence_distilbert_config.json",
                   "sentence_camembert_config.json", "sentence_albert_config.json",
                   "sentence_xlm-roberta_config.json", "sentence_xlnet_config.json")
#: backends/candle/src/lib.rs `Config` (serde tags); mistral and qwen2 run on CUDA only
MODEL_TYPES = ("bert", "camembert", "deberta-v2", "distilbert", "gemma3_text", "gte", "new", "mpnet", "mistral",
               "modernbert", "nomic_bert", "qwen2", "qwen3", "roberta", "xlm-roberta")
WEIGHTS = ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json")
IMAGE = "ghcr.io/huggingface/text-embeddings-inference:cpu-latest"


def complete(folder: Path, max_seq_length: int) -> None:
    """Add `max_seq_length` to the folder's sentence-transformers config where it is missing (rule 4)."""
    for name in ST_CONFIG_NAMES:
        path = Path(folder) / name
        if path.is_file():
            config = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(config.get("max_seq_length"), int):
                config["max_seq_length"] = int(max_seq_length)
                path.write_text(json.dumps(config, indent=4) + "\n", encoding="utf-8")
            return


def problems(folder: Path) -> list[str]:
    """What would stop TEI serving `folder` as a reranker, each naming the file and the fix; [] = ready."""
    folder = Path(folder)
    found: list[str] = []
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return [f"config.json: cannot be read as JSON ({type(exc).__name__}); TEI needs it"]
    for key in ("architectures", "model_type"):
        if key not in config:
            found.append(f"config.json: no {key!r} (TEI requires it)")
    if "max_position_embeddings" not in config and "n_positions" not in config:
        found.append("config.json: no 'max_position_embeddings' (TEI requires it)")
    if not any(str(a).endswith("Classification") for a in config.get("architectures") or []):
        found.append("config.json: no *ForSequenceClassification architecture: TEI would serve an embedding model")
    labels = config.get("id2label")
    if not labels or "label2id" not in config:
        found.append("config.json: no 'id2label'/'label2id' (TEI requires both for a classifier)")
    elif len(labels) != 1:
        found.append(f"config.json: {len(labels)} labels: TEI serves one label as a reranker, more as a classifier")
    if config.get("model_type") not in MODEL_TYPES:
        found.append(f"config.json: model_type {config.get('model_type')!r} is not one TEI's candle backend loads "
                     f"({', '.join(MODEL_TYPES)})")
    if not (folder / "tokenizer.json").is_file():
        found.append("tokenizer.json: missing (TEI only loads fast tokenizers)")
    st_config = next((folder / n for n in ST_CONFIG_NAMES if (folder / n).is_file()), None)
    if st_config is not None:
        value = json.loads(st_config.read_text(encoding="utf-8")).get("max_seq_length")
        positions = config.get("max_position_embeddings") or config.get("n_positions") or 0
        offset = config.get("pad_token_id", 0) + 1 if config.get("model_type") in ("xlm-roberta", "camembert",
                                                                                      "roberta") else 0
        if not isinstance(value, int):
            found.append(f"{st_config.name}: no integer 'max_seq_length' (TEI fails to parse it); "
                         "`autorerank export` adds it")
        elif positions and value > positions - offset:
            found.append(f"{st_config.name}: max_seq_length {value} exceeds the model's {positions - offset} positions")
    if not any((folder / w).is_file() for w in WEIGHTS):
        found.append(f"weights: none of {', '.join(WEIGHTS)}")
    return found


def command(folder: Path, port: int = 8080) -> list[str]:
    """The one command that serves `folder` with TEI's CPU image (POST /rerank on `port`)."""
    return ["docker", "run", "--rm", "-p", f"127.0.0.1:{port}:80", "-v", f"{Path(folder).resolve()}:/model",
            IMAGE, "--model-id", "/model"]


__all__ = ["IMAGE", "MODEL_TYPES", "command", "complete", "problems"]
