"""Tiny random-weight rerankers under their REAL Hub repo ids, in a local Hugging Face cache.

The Hub cannot be reached here, yet the code under test resolves names such as
`BAAI/bge-reranker-base`. `build_cache(dir)` writes, in a few seconds, one tiny model per
reranker family in the Hub cache layout (`models--ORG--NAME/snapshots/<rev>/` and
`refs/main`), so that with `hf_env(dir)` set (offline, `HF_HUB_CACHE=dir`) transformers,
sentence-transformers (`CrossEncoder("BAAI/bge-reranker-base")`), FlagEmbedding and the
AutoTrain env load them like the real ones: same architecture class, same tokenizer kind
and special tokens, same pair template, the real number of positions (bge-reranker-v2-m3
keeps 8194, for length clamps). Weights are random (seeded per repo id): scores mean
nothing. Hidden size 32, 2 layers, 2 heads, one label.

Usage (`from hf_families import build_cache, FAMILIES, hf_env, use_cache`):
- a subprocess: `env={**os.environ, **hf_env(cache)}`;
- in-process: `use_cache(monkeypatch, cache)`; huggingface_hub reads HF_HUB_CACHE and
  HF_HUB_OFFLINE once, at import, so setting the environment alone is too late there.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

SAMPLE = Path(__file__).resolve().parent.parent / "data" / "raw" / "sample"
VOCAB_SIZE = 2000
TINY = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64, "num_labels": 1}


@dataclass(frozen=True)
class Family:
    repo_id: str
    family: str  # xlm-roberta, bert, deberta-v2, modernbert, qwen3, remote-code
    architecture: str  # config.json's architectures[0]
    max_positions: int  # config.max_position_embeddings

    @property
    def revision(self) -> str:
        """A fake 40-hex commit, the same for a repo id on every build."""
        return hashlib.sha1(self.repo_id.encode()).hexdigest()


XLMR = "XLMRobertaForSequenceClassification"
FAMILIES = [
    Family("BAAI/bge-reranker-base", "xlm-roberta", XLMR, 514),
    Family("BAAI/bge-reranker-large", "xlm-roberta", XLMR, 514),
    Family("BAAI/bge-reranker-v2-m3", "xlm-roberta", XLMR, 8194),
    Family("maidalun1020/bce-reranker-base_v1", "xlm-roberta", XLMR, 514),
    Family("cross-encoder/ms-marco-MiniLM-L6-v2", "bert", "BertForSequenceClassification", 512),
    Family("mixedbread-ai/mxbai-rerank-base-v1", "deberta-v2", "DebertaV2ForSequenceClassification", 512),
    Family("Alibaba-NLP/gte-reranker-modernbert-base", "modernbert", "ModernBertForSequenceClassification", 8192),
    Family("tomaarsen/Qwen3-Reranker-0.6B-seq-cls", "qwen3", "Qwen3ForSequenceClassification", 40960),
    Family("jinaai/jina-reranker-v2-base-multilingual", "remote-code", "TinyXLMRForSequenceClassification", 1026),
]
BY_ID = {f.repo_id: f for f in FAMILIES}

# The remote-code repo: an XLM-R under another model_type, loadable only with trust_remote_code=True.
REMOTE_CONFIG_PY = '''from transformers import XLMRobertaConfig


class TinyXLMRConfig(XLMRobertaConfig):
    model_type = "tiny_xlmr"
'''
REMOTE_MODELING_PY = '''from transformers import XLMRobertaForSequenceClassification

from .configuration_tiny import TinyXLMRConfig


class TinyXLMRForSequenceClassification(XLMRobertaForSequenceClassification):
    config_class = TinyXLMRConfig
'''
AUTO_MAP = {"AutoConfig": "configuration_tiny.TinyXLMRConfig",
            "AutoModelForSequenceClassification": "modeling_tiny.TinyXLMRForSequenceClassification"}


def hf_env(cache_dir: Path) -> dict[str, str]:
    """Environment variables that make the Hugging Face libraries use `cache_dir`, offline (remote code
    copied beside it, never into the home folder)."""
    return {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_HUB_CACHE": str(cache_dir),
            "HF_MODULES_CACHE": str(Path(cache_dir).parent / "modules")}


def use_cache(monkeypatch, cache_dir: Path) -> None:
    """`hf_env` for this process too: also patches the constants huggingface_hub and transformers read
    at import."""
    from huggingface_hub import constants
    from transformers import dynamic_module_utils

    env = hf_env(cache_dir)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache_dir))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(dynamic_module_utils, "HF_MODULES_CACHE", env["HF_MODULES_CACHE"])


def _texts() -> list[str]:
    texts = []
    with open(SAMPLE / "pairs.csv", encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            texts += [row["query"], row["passage"]]
    with open(SAMPLE / "corpus.jsonl", encoding="utf-8") as f:
        for line in f:
            doc = json.loads(line)
            texts += [doc["title"], doc["text"]]
    return sorted(set(texts))


def _word_counts(normalizer, pre_tokenizer) -> Counter:
    words = Counter()
    for text in _texts():
        text = normalizer.normalize_str(text) if normalizer is not None else text
        words.update(w for w, _ in pre_tokenizer.pre_tokenize_str(text))
    return words


def _top_words(words: Counter, room: int) -> list[str]:
    """The most frequent multi-character words (ties alphabetical), at most 16 characters."""
    ranked = sorted(((w, c) for w, c in words.items() if 1 < len(w) <= 16), key=lambda wc: (-wc[1], wc[0]))
    return [w for w, _ in ranked[:room]]


# The tokenizers library's Unigram and WordPiece trainers are not reproducible (Rust hash maps:
# every process gives another tokenizer.json), so those two vocabularies are counted here:
# every character plus the most frequent words, Unigram scores = log relative frequency.
def _unigram(specials: list[str], unk: str, normalizer, pre_tokenizer):
    """A SentencePiece-style Unigram model with the pipeline the transformers class rebuilds on load."""
    from tokenizers import Tokenizer, decoders, models

    words = _word_counts(normalizer, pre_tokenizer)
    counts = Counter()
    for w, c in words.items():
        for ch in w:
            counts[ch] += c
    for w in _top_words(words, VOCAB_SIZE - len(specials) - len(counts)):
        counts[w] = words[w]
    total = sum(counts.values())
    pieces = sorted(((p, math.log(c / total)) for p, c in counts.items()), key=lambda ps: (-ps[1], ps[0]))
    tok = Tokenizer(models.Unigram([(s, 0.0) for s in specials] + pieces, unk_id=specials.index(unk),
                                   byte_fallback=False))
    if normalizer is not None:
        tok.normalizer = normalizer
    tok.pre_tokenizer = pre_tokenizer
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    return tok


def _wordpiece(specials: list[str], normalizer, pre_tokenizer):
    from tokenizers import Tokenizer, decoders, models

    words = _word_counts(normalizer, pre_tokenizer)
    pieces = sorted({ch for w in words for ch in w}) + sorted({"##" + ch for w in words for ch in w[1:]})
    tokens = specials + pieces + _top_words(words, VOCAB_SIZE - len(specials) - len(pieces))
    tok = Tokenizer(models.WordPiece({t: i for i, t in enumerate(tokens)}, unk_token="[UNK]"))
    tok.normalizer = normalizer
    tok.pre_tokenizer = pre_tokenizer
    tok.decoder = decoders.WordPiece(prefix="##")
    return tok


def _byte_bpe(specials: list[str], normalizer, pre_tokenizer):
    from tokenizers import (
        Tokenizer,
        decoders,
        models,
        pre_tokenizers,
        processors,
        trainers,
    )

    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizer
    tok.pre_tokenizer = pre_tokenizer
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    tok.train_from_iterator(_texts(), trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE, special_tokens=specials, show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    return tok


def _train_tokenizer(kind: str):
    """One transformers fast tokenizer of the family's real kind, trained on the sample data."""
    import transformers as tf
    from tokenizers import Regex, normalizers, pre_tokenizers, processors

    if kind == "xlm-roberta":  # <s>=0 <pad>=1 </s>=2 <unk>=3 as in XLM-R
        tok = _unigram(["<s>", "<pad>", "</s>", "<unk>", "<mask>"], "<unk>", None, pre_tokenizers.Sequence(
            [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Metaspace(prepend_scheme="always")]))
        return tf.XLMRobertaTokenizerFast(tokenizer_object=tok)
    if kind == "deberta-v2":  # DeBERTa-v3's order: [PAD]=0 [CLS]=1 [SEP]=2 [UNK]=3
        tok = _unigram(["[PAD]", "[CLS]", "[SEP]", "[UNK]", "[MASK]"], "[UNK]", normalizers.Sequence(
            [normalizers.Replace(Regex(r"\s{2,}|[\n\r\t]"), " "), normalizers.NFC(),
             normalizers.Strip(left=False, right=True)]),
            pre_tokenizers.Sequence([pre_tokenizers.Metaspace(prepend_scheme="always")]))
        return tf.DebertaV2TokenizerFast(tokenizer_object=tok, do_lower_case=False, split_by_punct=False)
    if kind == "bert":  # uncased, like ms-marco-MiniLM
        tok = _wordpiece(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"], normalizers.BertNormalizer(
            clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=True),
            pre_tokenizers.BertPreTokenizer())
        return tf.BertTokenizerFast(tokenizer_object=tok, do_lower_case=True)
    if kind == "modernbert":  # byte-level BPE (GPT-NeoX style) with a BERT template, no token types
        tok = _byte_bpe(["[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]"], normalizers.NFC(),
                        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True))
        tok.post_processor = processors.TemplateProcessing(
            single="[CLS]:0 $A:0 [SEP]:0", pair="[CLS]:0 $A:0 [SEP]:0 $B:1 [SEP]:1",
            special_tokens=[("[CLS]", 1), ("[SEP]", 2)])
        return tf.PreTrainedTokenizerFast(
            tokenizer_object=tok, unk_token="[UNK]", cls_token="[CLS]", sep_token="[SEP]", pad_token="[PAD]",
            mask_token="[MASK]", model_input_names=["input_ids", "attention_mask"])
    if kind == "qwen3":  # Qwen2's byte-level BPE; no template: a pair is the two texts' ids concatenated
        from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX

        tok = _byte_bpe(["<|endoftext|>", "<|im_start|>", "<|im_end|>"], normalizers.NFC(), pre_tokenizers.Sequence(
            [pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated"),
             pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)]))
        return tf.Qwen2TokenizerFast(tokenizer_object=tok, unk_token=None, bos_token=None,
                                     eos_token="<|im_end|>", pad_token="<|endoftext|>")
    raise ValueError(kind)


def _config(fam: Family, tok):
    import transformers as tf

    common = dict(TINY, vocab_size=len(tok), max_position_embeddings=fam.max_positions,
                  pad_token_id=tok.pad_token_id, architectures=[fam.architecture])
    if fam.family in ("xlm-roberta", "remote-code"):
        return tf.XLMRobertaConfig(**common, type_vocab_size=1, bos_token_id=tok.cls_token_id,
                                   eos_token_id=tok.sep_token_id)
    if fam.family == "bert":
        return tf.BertConfig(**common, type_vocab_size=2)
    if fam.family == "deberta-v2":  # as DeBERTa-v3 (mxbai-rerank-base-v1): no token types, relative attention
        return tf.DebertaV2Config(**common, type_vocab_size=0, relative_attention=True, position_buckets=256,
                                  norm_rel_ebd="layer_norm", share_att_key=True, pos_att_type=["p2c", "c2p"],
                                  max_relative_positions=-1, position_biased_input=False)
    if fam.family == "modernbert":
        return tf.ModernBertConfig(**common, cls_token_id=tok.cls_token_id, sep_token_id=tok.sep_token_id,
                                   bos_token_id=tok.cls_token_id, eos_token_id=tok.sep_token_id)
    if fam.family == "qwen3":
        return tf.Qwen3Config(**common, num_key_value_heads=1, head_dim=16, tie_word_embeddings=True,
                              eos_token_id=tok.eos_token_id, bos_token_id=None)
    raise ValueError(fam.family)


def _tokenizer_kind(fam: Family) -> str:
    return "xlm-roberta" if fam.family == "remote-code" else fam.family


def _write_snapshot(fam: Family, tok, folder: Path) -> None:
    import torch
    import transformers as tf

    config = _config(fam, tok)
    torch.manual_seed(int(fam.revision[:8], 16))
    model = tf.AutoModelForSequenceClassification.from_config(config)
    model.save_pretrained(folder)
    # Like the real repos: XLM-R counts the two reserved positions, its tokenizer does not.
    tok.model_max_length = fam.max_positions - 2 if _tokenizer_kind(fam) == "xlm-roberta" else fam.max_positions
    tok.save_pretrained(folder)
    tok_config = json.loads((folder / "tokenizer_config.json").read_text())
    if tok_config.get("tokenizer_class") == "TokenizersBackend":  # transformers 5's name; 4.x needs this one
        tok_config["tokenizer_class"] = "PreTrainedTokenizerFast"
    if "unk_id" in tok_config:  # DebertaV2Tokenizer(tokenizer_object=...) records its default, 1
        tok_config["unk_id"] = tok.unk_token_id
    (folder / "tokenizer_config.json").write_text(json.dumps(tok_config, indent=2, ensure_ascii=False))
    if fam.family == "remote-code":
        cfg = json.loads((folder / "config.json").read_text())
        cfg.update(model_type="tiny_xlmr", architectures=[fam.architecture], auto_map=AUTO_MAP)
        (folder / "config.json").write_text(json.dumps(cfg, indent=2))
        (folder / "configuration_tiny.py").write_text(REMOTE_CONFIG_PY)
        (folder / "modeling_tiny.py").write_text(REMOTE_MODELING_PY)


def build_cache(cache_dir: Path, repo_ids: list[str] | None = None) -> dict[str, Path]:
    """Write the tiny models of `repo_ids` (default: all of FAMILIES) into the Hub cache `cache_dir`.

    Returns repo id -> snapshot folder. Repos already there are kept as they are; each snapshot is
    written to a temporary folder first and `refs/main` last, so a half-built repo never resolves.
    """
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    # transformers 4.x warns "the cache ... seems to be the one of a previous version" without this file
    (cache_dir / "version.txt").write_text("1")
    tokenizers: dict[str, object] = {}  # one trained tokenizer per kind
    out = {}
    for repo_id in repo_ids or [f.repo_id for f in FAMILIES]:
        fam = BY_ID[repo_id]
        repo = cache_dir / ("models--" + repo_id.replace("/", "--"))
        snapshot = repo / "snapshots" / fam.revision
        out[repo_id] = snapshot
        if (repo / "refs" / "main").is_file() and (snapshot / "config.json").is_file():
            continue
        kind = _tokenizer_kind(fam)
        if kind not in tokenizers:
            tokenizers[kind] = _train_tokenizer(kind)
        snapshot.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".build-", dir=snapshot.parent))
        try:
            _write_snapshot(fam, tokenizers[kind], tmp)
            shutil.rmtree(snapshot, ignore_errors=True)
            tmp.rename(snapshot)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        (repo / "refs").mkdir(exist_ok=True)
        (repo / "refs" / "main").write_text(fam.revision)
    return out


#: the support table's columns: (heading, the stages test_families.py records under it)
COLUMNS = [("config (no --task)", ["config", "config without --trust-remote-code"]),
           ("train: AutoTrain text_regression", ["train (AutoTrain text_regression)"]),
           ("head kept", ["head kept (AutoTrain)"]), ("train: cross-encoder", ["train (cross-encoder)"]),
           ("train: FlagEmbedding", ["train (FlagEmbedding)"]), ("prepare --teacher", ["prepare --teacher"]),
           ("gate", ["gate"]), ("eval", ["eval"]), ("merge (heads mixed)", ["merge (two heads mixed)"]),
           ("export", ["export"]), ("ONNX", ["export --format onnx"]), ("TEI loader rules", ["TEI loader rules"]),
           ("serve", ["serve"]),
           ("llama-index ST / Flag", ["llama-index SentenceTransformerRerank", "llama-index FlagEmbeddingReranker"]),
           ("studio playground", ["studio playground"])]


def _cell(outcomes: list[str]) -> str:
    if not outcomes:
        return "-"
    short = []
    for text in outcomes:
        if text.startswith("works: "):
            short.append(text.removeprefix("works: "))
        elif text.startswith("works"):
            short.append("yes")
        else:
            short.append(text.replace("refused: ", "refused (") + ")" if text.startswith("refused") else text)
    return " / ".join(dict.fromkeys(short))


def support_table(matrix: dict) -> str:
    """The README's support table (markdown, a row per repo id) from `artifacts/families.json`, which
    test_families.py writes; "-": not run in CI (the family's other routes are)."""
    families = matrix.get("families", {})
    lines = ["| base (family) | " + " | ".join(h for h, _ in COLUMNS) + " |", "|---" * (len(COLUMNS) + 1) + "|"]
    for repo, family in families.items():
        stages = matrix.get(repo, {})
        cells = [_cell([stages[k] for k in keys if k in stages]) for _, keys in COLUMNS]
        lines.append(f"| `{repo}` ({family}) | " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    import argparse
    import json as _json

    parser = argparse.ArgumentParser(description="build a tiny reranker cache, or print the support table")
    parser.add_argument("--table", type=Path, help="artifacts/families.json: print the README's support table")
    parser.add_argument("--build", type=Path, help="build the cache into this folder")
    args = parser.parse_args()
    if args.table:
        print(support_table(_json.loads(args.table.read_text())))
    if args.build:
        print(build_cache(args.build))
