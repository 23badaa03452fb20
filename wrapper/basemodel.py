"""The base model a fine-tune starts from: resolved once, and what it is.

    resolve("bundled")                 -> the bundled all-MiniLM-L6-v2 folder (absolute)
    resolve("models/my-ce")            -> that folder, absolute (InputError when it is not one)
    resolve("BAAI/bge-reranker-base")  -> the Hub id, unchanged (the Hub or the local Hub cache serves it)

    base = inspect("BAAI/bge-reranker-base")   # reads config.json: the local folder, the Hub cache, or the Hub
    base.is_reranker, base.family, base.max_positions, base.remote_code, base.architecture

`config` resolves a base when it renders a config and `train` records the result in
status.json (`base_model`, with what the user typed in `base_model_input`); every later
stage takes it from the `Run`. `inspect` never downloads weights: a Hub id is read from
the local Hugging Face cache (HF_HUB_CACHE), or its config.json alone from the Hub.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wrapper import settings
from wrapper.errors import InputError

HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
#: config.json `model_type` -> the family name used in presets, messages and the support table
FAMILIES = {"xlm-roberta": "xlm-roberta", "roberta": "xlm-roberta", "bert": "bert", "deberta-v2": "deberta-v2",
            "modernbert": "modernbert", "qwen3": "qwen3", "qwen2": "qwen2", "electra": "electra"}
#: families whose learned position table carries an offset of 2 (padding_idx + 1)
_POSITION_OFFSET = {"xlm-roberta", "roberta"}


def looks_local(name: str) -> bool:
    return name.startswith((".", "/", "~")) or Path(name).expanduser().exists()


def resolve(name: str) -> str:
    """What every stage loads for base model `name`: the bundled alias -> its folder; a local folder ->
    its absolute path; a Hub id -> itself. InputError for a path that is not a folder."""
    name = str(name).strip()
    if not name:
        raise InputError.at("--base-model", "empty", hint="give a Hub id, a local model folder or 'bundled'")
    resolved = settings.resolve_model(name)
    if looks_local(resolved):
        local = Path(resolved).expanduser()
        if not local.is_dir():
            raise InputError.at(
                "--base-model", f"{resolved!r} looks like a local path but is not a folder",
                hint="give an existing model folder, a Hub id such as BAAI/bge-reranker-base, or 'bundled'",
            )
        return str(local.resolve())
    return resolved


def is_bundled(name: str) -> bool:
    if name in settings.BUNDLED_MODEL_ALIASES and not Path(name).exists():
        return True
    try:
        return Path(name).exists() and Path(name).resolve() == settings.bundled_model_path().resolve()
    except Exception:  # the bundled package may be missing for users of the Hub
        return False


@dataclass(frozen=True)
class BaseModel:
    """A base model's facts from its config.json (`config` is {} when it could not be read)."""

    name: str  # as the user typed it
    ref: str  # resolve(name)
    folder: Path | None  # the local folder that holds config.json (a Hub cache snapshot for a Hub id)
    config: dict = field(default_factory=dict, repr=False)

    @property
    def model_type(self) -> str | None:
        return self.config.get("model_type")

    @property
    def family(self) -> str:
        return FAMILIES.get(str(self.model_type), str(self.model_type or "unknown"))

    @property
    def architecture(self) -> str | None:
        archs = self.config.get("architectures") or []
        return str(archs[0]) if archs else None

    @property
    def num_labels(self) -> int | None:
        if "id2label" in self.config and isinstance(self.config["id2label"], dict):
            return len(self.config["id2label"])
        return self.config.get("num_labels")

    @property
    def is_reranker(self) -> bool:
        """A one-logit sequence classifier: a trained reranking head sits on top."""
        arch = self.architecture or ""
        return arch.endswith("ForSequenceClassification") and self.num_labels == 1

    @property
    def is_decoder(self) -> bool:
        arch = self.architecture or ""
        return self.config.get("is_decoder", False) or self.family in ("qwen2", "qwen3") or "CausalLM" in arch

    @property
    def remote_code(self) -> bool:
        """The model's code lives in its repo (`auto_map`): loading it runs that code."""
        return bool(self.config.get("auto_map"))

    @property
    def max_positions(self) -> int | None:
        """Tokens the position table holds (XLM-R/RoBERTa reserve 2 of theirs)."""
        n = self.config.get("max_position_embeddings")
        if not isinstance(n, int):
            return None
        return n - 2 if self.model_type in _POSITION_OFFSET else n

    @property
    def uses_token_types(self) -> bool:
        return int(self.config.get("type_vocab_size") or 0) > 1

    @property
    def bundled(self) -> bool:
        return is_bundled(self.name) or is_bundled(self.ref)


#: the config.json facts of well-known rerankers, used when their config.json cannot be read (offline,
#: not in the local cache): enough to route them; everything else needs the real files
KNOWN = {
    **{repo: {"model_type": "xlm-roberta", "architectures": ["XLMRobertaForSequenceClassification"],
              "id2label": {"0": "LABEL_0"}, "max_position_embeddings": positions}
       for repo, positions in (("BAAI/bge-reranker-base", 514), ("BAAI/bge-reranker-large", 514),
                               ("BAAI/bge-reranker-v2-m3", 8194), ("maidalun1020/bce-reranker-base_v1", 514))},
    "cross-encoder/ms-marco-MiniLM-L6-v2": {"model_type": "bert", "architectures": ["BertForSequenceClassification"],
                                            "id2label": {"0": "LABEL_0"}, "max_position_embeddings": 512,
                                            "type_vocab_size": 2},
    "mixedbread-ai/mxbai-rerank-base-v1": {"model_type": "deberta-v2", "id2label": {"0": "LABEL_0"},
                                           "architectures": ["DebertaV2ForSequenceClassification"],
                                           "max_position_embeddings": 512, "type_vocab_size": 0},
    "Alibaba-NLP/gte-reranker-modernbert-base": {"model_type": "modernbert", "id2label": {"0": "LABEL_0"},
                                                 "architectures": ["ModernBertForSequenceClassification"],
                                                 "max_position_embeddings": 8192},
    "tomaarsen/Qwen3-Reranker-0.6B-seq-cls": {"model_type": "qwen3", "id2label": {"0": "LABEL_0"},
                                              "architectures": ["Qwen3ForSequenceClassification"],
                                              "max_position_embeddings": 40960},
    "jinaai/jina-reranker-v2-base-multilingual": {
        "model_type": "XLMRoberta", "architectures": ["XLMRobertaForSequenceClassification"],
        "id2label": {"0": "LABEL_0"}, "max_position_embeddings": 1026,
        "auto_map": {"AutoConfig": "configuration_xlm_roberta.XLMRobertaFlashConfig",
                     "AutoModelForSequenceClassification": "modeling_xlm_roberta.XLMRobertaForSequenceClassification"}},
}
#: the separator that makes one text equal a pair, per family (used only when the tokenizer cannot be loaded)
KNOWN_SEPARATORS = {"xlm-roberta": ("</s></s>", True), "deberta-v2": ("[SEP]", True), "modernbert": ("[SEP]", True),
                    "bert": ("[SEP]", False)}
#: model types AutoTrain 0.8.36's pinned transformers (4.48) cannot load, and the release that added them
NOT_IN_AUTOTRAIN = {"qwen3": "4.51", "qwen3_moe": "4.51", "gemma3": "4.50", "gemma3_text": "4.50",
                    "llama4": "4.51", "modernbert-decoder": "4.54"}
#: pairs every tokenizer is checked on (English, Chinese, and a boundary where words could merge)
PROBE_PAIRS = [
    ("how do I reset my password", "Open Settings, choose Security and click Reset password."),
    ("api limit", "s per minute are capped at 600 requests."),
    ("如何重置密码", "打开设置，选择安全，然后点击重置密码。"),
    ("What is MAP?", "Mean average precision (MAP) averages the precision at each relevant passage."),
]


@dataclass(frozen=True)
class PairInput:
    """How a (query, passage) pair becomes ONE text for AutoTrain's single-text tasks."""

    separator: str | None  # the text put between query and passage (None: no text reproduces the pair)
    exact: bool  # the model sees exactly what it sees for the pair
    why: str = ""  # what differs, in plain words, when not exact


def _find(seq: list[int], part: list[int], start: int = 0) -> int:
    for i in range(start, len(seq) - len(part) + 1):
        if seq[i:i + len(part)] == part:
            return i
    return -1


def pair_input(base: BaseModel, *, trust_remote_code: bool = False,
               pairs: list[tuple[str, str]] | None = None) -> PairInput:
    """Find the separator that turns `query + separator + passage` into the tokenizer's pair encoding
    (XLM-R: `</s></s>`, BERT/ModernBERT/DeBERTa: `[SEP]`), and say whether the model then sees the
    same input: the same ids, and the same token types where the model uses them (BERT does: a
    single text has them all 0, a pair 0s then 1s)."""
    from transformers import AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(base.ref, trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as exc:  # offline and not cached: the family's rule, said as such
        if base.family in KNOWN_SEPARATORS:
            sep, exact = KNOWN_SEPARATORS[base.family]
            return PairInput(sep, exact, "" if exact else "token types (BERT reads a pair's passage as type 1)")
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return PairInput(None, False, f"its tokenizer could not be loaded ({reason})")
    pairs = list(pairs or PROBE_PAIRS)
    q, p = pairs[0]
    ids = tok(q, p)["input_ids"]
    qi, pi = (tok(t, add_special_tokens=False)["input_ids"] for t in (q, p))
    at_q = _find(ids, qi)
    at_p = _find(ids, pi, at_q + len(qi)) if at_q >= 0 else -1
    if at_q < 0 or at_p < 0:
        return PairInput(None, False, "the tokenizer's pair encoding does not hold the query and passage as given")
    middle = ids[at_q + len(qi):at_p]
    tokens = tok.convert_ids_to_tokens(middle)
    candidates = list(dict.fromkeys(["".join(tokens), tok.decode(middle), " ".join(tokens),
                                     f" {' '.join(tokens)} "]))
    for sep in candidates:
        same = all(tok(a + sep + b)["input_ids"] == tok(a, b)["input_ids"] for a, b in pairs)
        if not same:
            continue
        if not sep.strip():
            return PairInput(sep, False, "no separator token between query and passage: their boundary words "
                                         "can merge into one token")
        if base.uses_token_types:
            single, pair = tok(q + sep + p), tok(q, p)
            if single.get("token_type_ids") != pair.get("token_type_ids"):
                return PairInput(sep, False, "token types: the model reads a pair with token_type_ids 0 for the "
                                             "query and 1 for the passage, and one text with 0 everywhere")
        return PairInput(sep, True)
    return PairInput(None, False, f"no text between query and passage reproduces the pair encoding "
                                  f"(tried {', '.join(repr(c) for c in candidates)})")


def _hub_config(repo_id: str) -> Path | None:
    """config.json of a Hub repo from the local cache, else (Hub reachable) from the Hub; None if neither."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - huggingface_hub comes with transformers
        return None
    cached = try_to_load_from_cache(repo_id, "config.json")
    if isinstance(cached, str):
        return Path(cached)
    if settings.hub_reachable():
        try:
            from huggingface_hub import hf_hub_download

            return Path(hf_hub_download(repo_id, "config.json"))
        except Exception:  # noqa: BLE001 - not found, gated: inspect() reports an unknown base
            return None
    return None


def inspect(name: str) -> BaseModel:
    """The base model `name` resolved, with its config.json when it can be read without weights."""
    ref = resolve(name)
    config_file = Path(ref) / "config.json" if Path(ref).is_dir() else _hub_config(ref)
    config: dict[str, Any] = {}
    if config_file is not None and config_file.is_file():
        try:
            loaded = json.loads(config_file.read_text(encoding="utf-8"))
            config = loaded if isinstance(loaded, dict) else {}
        except (OSError, json.JSONDecodeError):
            config = {}
    folder = config_file.parent if config_file is not None and config_file.is_file() else None
    if not config and ref in KNOWN:
        config = dict(KNOWN[ref])
    return BaseModel(name=str(name), ref=ref, folder=folder, config=config)


__all__ = ["FAMILIES", "HUB_ID", "NOT_IN_AUTOTRAIN", "PROBE_PAIRS", "BaseModel", "PairInput", "inspect", "is_bundled",
           "looks_local", "pair_input", "resolve"]
