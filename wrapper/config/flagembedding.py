"""Config rules of `flagembedding:reranker` (FlagEmbedding 1.4.2's encoder-only reranker fine-tune).

- Only the encoder-only reranker is supported: FlagEmbedding's decoder-only (LLM) and
  layerwise rerankers are rejected by task name and by base model (its name, or for a
  local folder the architecture in its config.json), with a message naming what works.
- The data is the dataset's `flagembedding/train.jsonl` ({"query", "pos": [..], "neg": [..]},
  optionally "pos_scores"/"neg_scores" for `distill`). FlagEmbedding has no evaluation
  during training: `data.valid_split` is null and the gate judges the run afterwards.
- No `hub:` push: FlagEmbedding logs its `--token` argument (read from $HF_TOKEN), so the
  child never sees a token; upload the model folder yourself.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from wrapper.config.files import first_record
from wrapper.config.schema import FLAGEMBEDDING_TASKS, TrainConfig
from wrapper.errors import InputError

SUPPORTED = ("flagembedding:reranker (FlagEmbedding's encoder-only reranker: a BERT/XLM-R style cross-encoder "
             "such as BAAI/bge-reranker-base, bge-reranker-large, bce-reranker-base_v1 or the bundled MiniLM)")
#: base-model names of decoder-only (LLM) and layerwise rerankers
_DECODER_NAME_RE = re.compile(r"gemma|minicpm|layerwise|llama|mistral|qwen|phi-?\d|(^|[-_])llm([-_]|$)", re.I)
_DECODER_MODEL_TYPES = {"gemma", "gemma2", "gemma3", "llama", "mistral", "mixtral", "qwen2", "qwen3", "minicpm",
                        "phi", "phi3", "gpt2", "gpt_neox", "falcon"}


def _unsupported(source: object, what: str) -> InputError:
    return InputError.at(
        source, f"{what}: FlagEmbedding's decoder-only (LLM) and layerwise rerankers are not supported; "
        f"the supported task is {SUPPORTED}",
        hint="use task: flagembedding:reranker with an encoder base model, or cross-encoder:bce",
    )


def check_task_and_base(raw: dict, source: object) -> None:
    """Reject flagembedding:<anything but reranker> and decoder-only base models by name (before the schema)."""
    task = raw.get("task")
    if not isinstance(task, str) or not task.startswith("flagembedding:"):
        return
    if task not in FLAGEMBEDDING_TASKS:
        raise _unsupported(source, f"task {task!r}")
    base = raw.get("base_model")
    if isinstance(base, str) and _DECODER_NAME_RE.search(Path(base).name):
        raise _unsupported(source, f"base_model {base!r} looks like a decoder-only or layerwise reranker")


def check_config(config: TrainConfig, source: object) -> None:
    """Rules of the task that the strict schema cannot express."""
    if config.data.valid_split:
        raise InputError.at(
            source, f"data.valid_split is {config.data.valid_split!r}, but FlagEmbedding does not evaluate "
            "during training",
            hint="set data.valid_split: null; the gate evaluates eval/validation.jsonl after the run",
        )
    if config.hub and config.hub.push_to_hub:
        raise InputError.at(
            source, "hub.push_to_hub is not supported for flagembedding:reranker (FlagEmbedding logs the token "
            "it is given, so its process never gets one)",
            hint="remove the hub: section and upload runs/<run-id>/model with `huggingface-cli upload`",
        )


def fit_group_size(params: dict, train_file: Path, *, explicit: bool) -> None:
    """Keep train_group_size within what the data holds. FlagEmbedding fills a query's group (its
    positive and train_group_size - 1 negatives) by repeating the negatives when it has fewer, so a
    group of copies teaches little. A preset size is lowered to 1 + the median query's negatives
    (at least 2); a size the user asked for that the median query cannot fill is an InputError."""
    from wrapper.dataset import iter_jsonl

    want = params.get("train_group_size")
    if want is None or not train_file.is_file():
        return
    negatives = sorted(len(record.get("neg") or []) for _, record in iter_jsonl(train_file))
    typical = negatives[len(negatives) // 2] if negatives else None
    if typical is None or want - 1 <= typical:
        return
    if explicit:
        short = sum(n < want - 1 for n in negatives)
        raise InputError.at(
            train_file, f"train_group_size {want} needs {want - 1} negatives per query, but {short} of "
            f"{len(negatives)} queries have fewer (median {typical}); FlagEmbedding would repeat them",
            hint=f"pass --param train_group_size={max(2, typical + 1)}, or prepare the data with "
                 f"--num-negatives {want - 1}")
    params["train_group_size"] = max(2, typical + 1)


def check_base_folder(base_model: str, source: object) -> None:
    """A local base model folder must hold an encoder, not a causal LM."""
    folder = Path(base_model).expanduser()
    config_file = folder / "config.json"
    if not config_file.is_file():
        return
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return  # FlagEmbedding will say what is wrong with the model itself
    architectures = [str(a) for a in config.get("architectures") or []]
    if config.get("model_type") in _DECODER_MODEL_TYPES or any("CausalLM" in a for a in architectures):
        raise _unsupported(source, f"base_model {base_model!r} is a decoder-only model "
                                   f"({config.get('model_type') or ', '.join(architectures)})")


def _is_list_of(value: Any, kinds: tuple[type, ...]) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, kinds) and not isinstance(v, bool)
                                                           for v in value)


def check_train_file(config: TrainConfig, train: Path, source: object) -> None:
    """The train file's first record has the shape FlagEmbedding reads (and the teacher scores for distill)."""
    lineno, record = first_record(train)
    if not isinstance(record.get("query"), str):
        raise InputError.at(train, "expected a string \"query\"", line=lineno)
    if not _is_list_of(record.get("pos"), (str,)):
        raise InputError.at(train, "expected \"pos\": a non-empty list of strings", line=lineno)
    if not _is_list_of(record.get("neg"), (str,)):
        raise InputError.at(
            train, "expected \"neg\": a non-empty list of strings (FlagEmbedding needs negatives for every query)",
            line=lineno, hint="prepare the data with negative mining, or use --task cross-encoder:mnrl",
        )
    if config.params_model().distill:
        for key, texts in (("pos_scores", "pos"), ("neg_scores", "neg")):
            scores = record.get(key)
            if not _is_list_of(scores, (int, float)) or len(scores) != len(record[texts]):
                raise InputError.at(
                    train, f"params.distill is true but this record has no \"{key}\" (one number per "
                    f"\"{texts}\" text)", line=lineno,
                    hint="prepare the data with teacher scores, or set params.distill: false",
                )
