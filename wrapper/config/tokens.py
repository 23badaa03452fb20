"""Token hygiene for configs: the placeholder AutoTrain reads, and the scan for literal tokens."""

from __future__ import annotations

import re
from typing import Any

from wrapper.errors import InputError

TOKEN_PLACEHOLDER = "${HF_TOKEN}"
# What a literal Hugging Face token looks like (user access tokens start with hf_).
TOKEN_LITERAL_RE = re.compile(r"\bhf_[A-Za-z0-9]{20,}\b")


def _reject_token_literals(raw: Any, source: object, path: str = "") -> None:
    if isinstance(raw, dict):
        for key, value in raw.items():
            _reject_token_literals(value, source, f"{path}.{key}" if path else str(key))
    elif isinstance(raw, list):
        for i, value in enumerate(raw):
            _reject_token_literals(value, source, f"{path}[{i}]")
    elif isinstance(raw, str) and TOKEN_LITERAL_RE.search(raw):
        raise InputError.at(
            source,
            f"{path} contains what looks like a Hugging Face token; a token must never be written to a file",
            hint=f"write {TOKEN_PLACEHOLDER} and export HF_TOKEN in your shell",
        )
