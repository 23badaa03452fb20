"""Prompts that ask an LLM for questions about a chunk, and the quality filter for its answers.

The built-in prompts are in the chunk's language (English, Chinese). A user template
(`--prompt-template FILE`) replaces them for every chunk: plain text with the placeholders
`{context}` (the chunk, required), `{n}` (questions per chunk) and `{language}`.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from wrapper.errors import InputError
from wrapper.generate.chunking import detect_language

RULE = "---------------------"

TEMPLATES = {
    "en": (
        "Below is a passage from a product's documentation.\n"
        f"{RULE}\n{{context}}\n{RULE}\n"
        "Using only this passage, write {n} questions that a user of the product might type into a search box "
        "and that the passage answers. Vary the wording; do not copy whole sentences from the passage. "
        "Write one question per line, in English, with no numbering and nothing else."
    ),
    "zh": (
        "下面是一段产品文档。\n"
        f"{RULE}\n{{context}}\n{RULE}\n"
        "只根据这段文档，写出 {n} 个问题：用户可能在搜索框里输入、并且这段文档能够回答的问题。"
        "换用不同的说法，不要照抄原句。每行写一个问题，用简体中文，不要编号，不要写其他内容。"
    ),
}
LANGUAGE_NAMES = {"en": "English", "zh": "Simplified Chinese (简体中文)"}

_NUMBERING = re.compile(r"^\s*(?:(?:Q(?:uestion)?\s*)?\d+\s*[.)、:：\]]|[-*•·]|问题\s*\d*\s*[:：])\s*", re.IGNORECASE)
_ZH_QUESTION_WORDS = re.compile(r"吗|什么|怎么|怎样|如何|为什么|为何|哪|多少|多久|是否|能否|可以|可否|几")
_QUOTES = "\"'“”‘’「」『』`*"


def load_template(path: Path | None) -> str | None:
    """A user prompt template, checked for its placeholder (None: the built-in prompts)."""
    if path is None:
        return None
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError.at(path, f"cannot read the prompt template ({type(exc).__name__})") from None
    if "{context}" not in text:
        raise InputError.at(path, "the prompt template has no {context} placeholder",
                            hint="write {context} where the chunk goes; {n} and {language} are optional")
    return text


def build_prompt(chunk_text: str, lang: str, n: int, template: str | None = None) -> list[dict[str, str]]:
    body = template if template is not None else TEMPLATES.get(lang, TEMPLATES["en"])
    content = (body.replace("{n}", str(n)).replace("{language}", LANGUAGE_NAMES.get(lang, "English"))
               .replace("{context}", chunk_text))
    return [{"role": "user", "content": content}]


def split_answer(text: str) -> list[str]:
    """Candidate questions: one per line, numbering, bullets and quotes removed."""
    out = []
    for line in text.splitlines():
        previous = None
        while previous != line:  # "• 问题3：" is a bullet and a number
            previous, line = line, _NUMBERING.sub("", line).strip().strip(_QUOTES).strip()
        if line:
            out.append(line)
    return out


def is_question(text: str, lang: str) -> bool:
    if text.endswith(("?", "？")):
        return True
    return lang == "zh" and bool(_ZH_QUESTION_WORDS.search(text)) and not text.endswith(("。", "."))


def normalise(text: str) -> str:
    return re.sub(r"[\W_]+", "", text.casefold())


class QuestionFilter:
    """Drops empty, non-question, over-long, off-language and duplicate questions (counted by reason)."""

    def __init__(self, max_chars: int = 300, min_chars: int = 8):
        self.max_chars = max_chars
        self.min_chars = min_chars
        self.seen: set[str] = set()
        self.dropped: Counter = Counter()
        self.raw = 0

    def keep(self, answer: str, lang: str) -> list[str]:
        kept = []
        lines = split_answer(answer)
        if not lines:
            self.dropped["empty_answer"] += 1
        for line in lines:
            self.raw += 1
            reason = self._reason(line, lang)
            if reason:
                self.dropped[reason] += 1
                continue
            self.seen.add(normalise(line))
            kept.append(line)
        return kept

    def _reason(self, line: str, lang: str) -> str | None:
        if len(normalise(line)) < (3 if lang == "zh" else self.min_chars):
            return "too_short"
        if len(line) > self.max_chars:
            return "too_long"
        if not is_question(line, lang):
            return "not_a_question"
        if detect_language(line) != lang:
            return "off_language"
        if normalise(line) in self.seen:
            return "duplicate"
        return None
