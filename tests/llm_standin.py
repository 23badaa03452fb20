"""TEST STAND-IN for an LLM: a real OpenAI-compatible HTTP server on 127.0.0.1, no model inside.

No LLM can run on the test machines, so the tests (and `bench/bench_generate.py`) talk to this
server over real HTTP instead. It is NOT a language model and not part of autorerank: it answers
`POST /v1/chat/completions` deterministically from the prompt, and it can inject faults.

- Question prompts (the text between two lines of dashes, as in autorerank's templates): it
  answers N questions (N read from "N questions" / "N 个问题") built from the chunk's own sentences,
  in the chunk's language.
- RankGPT prompts (`[1] passage` lines and a `Query:` / `Search Query:` line): it answers a
  permutation such as `[2] > [1] > [3]`, ordered by word (or, for Chinese, character) overlap.
- Faults (`StandIn(faults=[...])` are used by the first requests, in order; `always=` by every
  request): "429", "500", "timeout" (sleeps past the client's timeout), "malformed_json", "empty",
  "off_language" (English answer to a Chinese prompt), "401", "bad_permutation" (prose, a missing
  id and a repeated one).
- `api_key=` makes it demand `Authorization: Bearer <key>` (401 otherwise).

Every request is recorded in `requests` (body, status) for assertions. All waits are bounded.
"""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_CJK = re.compile(r"[\u4e00-\u9fff]")
_PASSAGE = re.compile(r"^\[(\d+)\]\s?(.*)$", re.MULTILINE)
_QUERY = re.compile(r"^(?:Search Query|Query|查询)[:：]\s*(.*)$", re.MULTILINE)


def _is_chinese(text: str) -> bool:
    return len(_CJK.findall(text)) > 0.2 * max(1, len(text.replace(" ", "")))


def _tokens(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", text.lower())) | set(_CJK.findall(text))


def _sentences(text: str) -> list[str]:
    parts = re.split(r"(?<=[.!?。！？])\s*", text)
    return [p.strip() for p in parts if len(p.strip()) > 3]


def questions_for(prompt: str, *, off_language: bool = False) -> str:
    """N questions about the chunk in `prompt`, one per line (deterministic)."""
    blocks = re.split(r"^-{5,}\s*$", prompt, flags=re.MULTILINE)
    chunk = blocks[1].strip() if len(blocks) >= 3 else prompt
    found = re.search(r"(\d+)\s*(?:questions|个问题)", prompt)
    n = int(found.group(1)) if found else 3
    sentences = _sentences(chunk) or [chunk]
    chinese = _is_chinese(chunk) and not off_language
    lines = []
    for i in range(n):
        sentence = " ".join(sentences[i % len(sentences)].split())
        if chinese:
            lines.append(f"{i + 1}. 关于“{sentence[:18]}”，应该怎么做？")
        else:
            words = re.findall(r"[A-Za-z0-9'-]+", sentence)[:8] or ["this", "topic"]
            lines.append(f"{i + 1}. What should I know about {' '.join(words)}?")
    return "\n".join(lines)


def permutation_for(prompt: str, *, bad: bool = False) -> str:
    passages = [(int(num), text) for num, text in _PASSAGE.findall(prompt)]
    found = _QUERY.findall(prompt)
    query = _tokens(found[-1] if found else "")
    order = sorted(passages, key=lambda p: (-len(query & _tokens(p[1])), p[0]))
    ids = [num for num, _ in order]
    if bad and len(ids) >= 3:  # prose around it, one id missing, one repeated
        ids = ids[:-1] + [ids[0]]
        return "Sure! Here is the ranking: " + " > ".join(f"[{i}]" for i in ids) + ". Hope this helps."
    return " > ".join(f"[{i}]" for i in ids)


class StandIn:
    """The stand-in server; use as a context manager (`with StandIn() as llm: llm.url`)."""

    def __init__(self, *, faults: list[str] | None = None, always: str | None = None, api_key: str | None = None,
                 delay_s: float = 0.0, timeout_sleep_s: float = 2.0, retry_after: str = "0"):
        self.faults = list(faults or [])
        self.always = always
        self.api_key = api_key
        self.delay_s = delay_s
        self.timeout_sleep_s = timeout_sleep_s
        self.retry_after = retry_after
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle
    @property
    def url(self) -> str:
        assert self._server is not None, "start the stand-in first"
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def start(self) -> "StandIn":
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):  # noqa: N802 - http.server's name
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                status, payload, headers = standin._answer(self.path, raw, self.headers.get("Authorization"))
                data = payload if isinstance(payload, bytes) else json.dumps(payload, ensure_ascii=False).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for key, value in headers.items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client timed out and left
                    pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> "StandIn":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ------------------------------------------------------------------ answers
    def _next_fault(self) -> str | None:
        with self._lock:
            if self.faults:
                return self.faults.pop(0)
        return self.always

    def _answer(self, path: str, raw: bytes, auth: str | None) -> tuple[int, Any, dict]:
        record: dict[str, Any] = {"path": path, "status": 200, "at": time.time()}
        with self._lock:
            self.requests.append(record)
        try:
            body = json.loads(raw)
            record["body"] = body
        except json.JSONDecodeError:
            record["status"] = 400
            return 400, {"error": {"message": "body is not JSON"}}, {}
        if path.rstrip("/") != "/v1/chat/completions":
            record["status"] = 404
            return 404, {"error": {"message": f"no route {path}"}}, {}
        fault = self._next_fault()
        record["fault"] = fault
        if self.delay_s:
            time.sleep(self.delay_s)
        if fault == "401" or (self.api_key and auth != f"Bearer {self.api_key}"):
            record["status"] = 401
            return 401, {"error": {"message": "Incorrect API key provided", "type": "invalid_request_error"}}, {}
        if fault in ("429", "500"):
            record["status"] = int(fault)
            return int(fault), {"error": {"message": "stand-in fault"}}, {"Retry-After": self.retry_after} if fault == "429" else {}
        if fault == "timeout":
            time.sleep(self.timeout_sleep_s)
        if fault == "malformed_json":
            return 200, b'{"choices": [{"message": {"content": "unterminated', {}
        prompt = "\n".join(m.get("content") or "" for m in body.get("messages", []) if m.get("role") == "user")
        if fault == "empty":
            text = ""
        elif _PASSAGE.search(prompt) and _QUERY.search(prompt):
            text = permutation_for(prompt, bad=fault == "bad_permutation")
        else:
            text = questions_for(prompt, off_language=fault == "off_language")
        usage = {"prompt_tokens": max(1, len(prompt) // 4), "completion_tokens": max(1, len(text) // 4)}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        return 200, {"id": f"standin-{len(self.requests)}", "object": "chat.completion", "created": int(time.time()),
                     "model": body.get("model", ""), "usage": usage,
                     "choices": [{"index": 0, "finish_reason": "stop",
                                  "message": {"role": "assistant", "content": text}}]}, {}

    # ------------------------------------------------------------------ helpers for tests
    def answered(self) -> list[dict[str, Any]]:
        """Requests answered with a usable 200 (not a fault)."""
        with self._lock:
            return [r for r in self.requests if r.get("status") == 200 and r.get("fault") in (None, "off_language",
                                                                                               "bad_permutation")]

    def count(self) -> int:
        with self._lock:
            return len(self.requests)


if __name__ == "__main__":  # `python tests/llm_standin.py`: serve until Ctrl-C (manual trials)
    import sys

    server = StandIn().start()
    print(f"test stand-in LLM at {server.url} (not a model)", file=sys.stderr)
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        server.stop()
