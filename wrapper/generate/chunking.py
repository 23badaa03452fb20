"""Split documents into chunks with llama-index's `SentenceSplitter` (token-sized, sentence-aware).

`chunk_size` / `chunk_overlap` are tokens of llama-index's default tokenizer (tiktoken
cl100k_base, bundled with llama-index-core: no download). Chinese is language-aware: its
sentences end at 。！？；… (no spaces), so Chinese documents get a sentence splitter on those marks
and a Chinese clause regex instead of NLTK's English sentence model.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from wrapper.errors import InputError
from wrapper.generate.documents import Document

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN = re.compile(r"[A-Za-z]")
_ZH_SENTENCE = re.compile(r"[^。！？；!?…\n]+[。！？；!?…]*[”’」』)）]*\s*|\n+")
_ZH_CLAUSE = r"[^，、,.;。？！；]+[，、,.;。？！；]?|[，、,.;。？！；]"
MIN_CHUNK_CHARS = 20


def detect_language(text: str) -> str:
    """'zh' when Chinese characters make up at least 30% of the letters, else 'en'."""
    cjk = len(_CJK.findall(text))
    latin_words = len(re.findall(r"[A-Za-z]+", text))
    return "zh" if cjk and cjk >= 0.3 * (cjk + latin_words) else "en"


def _zh_sentences(text: str) -> list[str]:
    return [s for s in _ZH_SENTENCE.findall(text) if s]


@dataclass
class Chunk:
    id: str
    doc_id: str
    source: str
    text: str
    lang: str


def _splitters(chunk_size: int, chunk_overlap: int):
    from llama_index.core.node_parser import SentenceSplitter

    if chunk_size < 32:
        raise InputError.at("--chunk-size", f"must be at least 32 tokens, got {chunk_size}")
    if not 0 <= chunk_overlap < chunk_size:
        raise InputError.at("--chunk-overlap", f"must be between 0 and --chunk-size - 1, got {chunk_overlap}")
    return {
        "en": SentenceSplitter(chunk_size=chunk_size, chunk_overlap=chunk_overlap, paragraph_separator="\n\n"),
        "zh": SentenceSplitter(chunk_size=chunk_size, chunk_overlap=chunk_overlap, paragraph_separator="\n\n",
                               separator="", chunking_tokenizer_fn=_zh_sentences,
                               secondary_chunking_regex=_ZH_CLAUSE),
    }


def chunk_documents(documents: list[Document], chunk_size: int = 500,
                    chunk_overlap: int = 50) -> tuple[list[Chunk], Counter]:
    """Chunks of every document (ids `<doc_id>#<n>`), and what was dropped, by reason."""
    splitters = _splitters(chunk_size, chunk_overlap)
    chunks: list[Chunk] = []
    dropped: Counter = Counter()
    seen: set[str] = set()
    for doc in documents:
        lang = detect_language(doc.text)
        for i, text in enumerate(splitters[lang].split_text(doc.text)):
            text = text.strip()
            if len(text) < MIN_CHUNK_CHARS:
                dropped["too_short"] += 1
                continue
            key = re.sub(r"\s+", " ", text).casefold()
            if key in seen:
                dropped["duplicate"] += 1
                continue
            seen.add(key)
            chunks.append(Chunk(f"{doc.doc_id}#{i}", doc.doc_id, doc.source, text, detect_language(text)))
    return chunks, dropped
