"""A persistent on-disk cache of chat completions, keyed on (model, messages, sampling options).

One SQLite file (stdlib `sqlite3`, WAL journal): every answer is committed the moment it
arrives, so a run that crashes or is killed resumes without paying for any call it already
got an answer to. Only successful answers are stored; the API key is never part of a key or a
value (it is not in the request body).
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
from pathlib import Path
from typing import Any

#: request fields that change the answer (the key); anything else (stream, timeouts) does not
KEY_FIELDS = ("model", "messages", "temperature", "top_p", "max_tokens", "seed", "n")

ENV_CACHE = "AUTORERANK_LLM_CACHE"


def default_cache_path() -> Path:
    """`$AUTORERANK_LLM_CACHE`, else `./.autorerank/llm-cache.sqlite` (shared by generate and eval)."""
    return Path(os.environ.get(ENV_CACHE) or ".autorerank/llm-cache.sqlite")


_SCHEMA = """
CREATE TABLE IF NOT EXISTS completions (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    text TEXT NOT NULL,
    prompt_tokens INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
)
"""


def request_key(body: dict[str, Any]) -> str:
    """sha256 of the answer-relevant fields of a chat-completions request body."""
    relevant = {k: body[k] for k in KEY_FIELDS if k in body and body[k] is not None}
    blob = json.dumps(relevant, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class CompletionCache:
    """Thread-safe get/put over one SQLite file (created on first use)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(_SCHEMA)

    def get(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT text, prompt_tokens, completion_tokens FROM completions WHERE key = ?", (key,)
            ).fetchone()
        if row is None:
            return None
        return {"text": row[0], "prompt_tokens": row[1], "completion_tokens": row[2]}

    def put(self, key: str, model: str, text: str, prompt_tokens: int, completion_tokens: int) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO completions (key, model, text, prompt_tokens, completion_tokens) "
                "VALUES (?, ?, ?, ?, ?)", (key, model, text, int(prompt_tokens), int(completion_tokens)))

    def __contains__(self, key: str) -> bool:
        with self._lock:
            return self._db.execute("SELECT 1 FROM completions WHERE key = ?", (key,)).fetchone() is not None

    def keys(self) -> set[str]:
        with self._lock:
            return {row[0] for row in self._db.execute("SELECT key FROM completions")}

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM completions").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()
