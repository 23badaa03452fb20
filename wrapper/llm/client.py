"""A small client for any OpenAI-compatible `/chat/completions` endpoint.

OpenAI, Ollama (`http://127.0.0.1:11434/v1`), vLLM, DashScope's compatible mode and the
test stand-in all speak the same protocol. Habits a paid API needs:

- the key comes only from the environment (`AUTORERANK_LLM_API_KEY`, else `OPENAI_API_KEY`);
  it is sent in the Authorization header and never written, logged or put in an error;
- bounded concurrency (a thread pool of `concurrency` workers over one `httpx.Client`);
- retries with exponential backoff and jitter on 429, 5xx, timeouts, connection errors and
  malformed JSON; `Retry-After` is honoured (capped);
- 401/403 (bad key) and 404 (wrong URL or model) stop everything at once with one message:
  no further call is sent;
- every answer goes to the persistent cache first (`CompletionCache`), so a call is paid once;
- counters (requests, retries, cache hits, failures, tokens) for the summary.
"""

from __future__ import annotations

import concurrent.futures as cf
import email.utils
import os
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import urlsplit, urlunsplit

from wrapper.errors import InputError, RunFailed
from wrapper.llm.cache import CompletionCache, request_key

#: environment variables read for the API key, in order
KEY_ENV_VARS = ("AUTORERANK_LLM_API_KEY", "OPENAI_API_KEY")
RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504, 520, 522, 524, 529})


def api_key_from_env() -> str | None:
    for name in KEY_ENV_VARS:
        value = os.environ.get(name)
        if value:
            return value
    return None


def public_url(url: str) -> str:
    """The base URL without credentials or query string (never written with a secret in it)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


@dataclass(frozen=True)
class LLMSettings:
    base_url: str
    model: str
    concurrency: int = 8
    timeout_s: float = 60.0
    max_retries: int = 5
    backoff_s: float = 1.0  # first retry waits about this long, doubling each time
    backoff_max_s: float = 60.0
    temperature: float = 0.0
    max_tokens: int | None = None

    def validate(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise InputError.at("--llm-base-url", f"{self.base_url!r} is not an http(s) URL",
                                hint="e.g. http://127.0.0.1:11434/v1 (Ollama) or https://api.openai.com/v1")
        if not self.model.strip():
            raise InputError.at("--llm-model", "is empty", hint="the model name the endpoint serves, e.g. qwen2.5:7b")
        if self.concurrency < 1:
            raise InputError.at("--concurrency", f"must be at least 1, got {self.concurrency}")


@dataclass
class Reply:
    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached: bool = False


class CallFailed(Exception):
    """One call gave no usable answer after its retries (the run goes on without it)."""


@dataclass
class Usage:
    """What the client spent; `requests` counts HTTP attempts, `calls` answered (paid) calls."""

    calls: int = 0
    requests: int = 0
    retries: int = 0
    cache_hits: int = 0
    failed_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    answers_without_usage: int = 0
    retry_reasons: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"calls": self.calls, "requests": self.requests, "retries": self.retries,
                "cache_hits": self.cache_hits, "failed_calls": self.failed_calls,
                "prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
                "total_tokens": self.prompt_tokens + self.completion_tokens,
                "answers_without_usage": self.answers_without_usage,
                "retry_reasons": dict(sorted(self.retry_reasons.items()))}


class _Retry(Exception):
    def __init__(self, reason: str, wait: float | None = None):
        super().__init__(reason)
        self.reason = reason
        self.wait = wait


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value) if value else None
        return max(0.0, parsed.timestamp() - time.time()) if parsed else None


class LLMClient:
    """Chat completions with cache, retries and counters; `map` runs many calls concurrently."""

    def __init__(self, settings: LLMSettings, cache: CompletionCache | None = None,
                 api_key: str | None = None, sleep: Callable[[float], None] | None = None):
        import httpx

        settings.validate()
        self.settings = settings
        self.cache = cache
        self.usage = Usage()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._fatal: RunFailed | None = None
        headers = {"Content-Type": "application/json"}
        key = api_key if api_key is not None else api_key_from_env()
        if key:
            headers["Authorization"] = f"Bearer {key}"
        self._http = httpx.Client(timeout=httpx.Timeout(settings.timeout_s), headers=headers,
                                  limits=httpx.Limits(max_connections=settings.concurrency,
                                                      max_keepalive_connections=settings.concurrency))
        self._url = settings.base_url.rstrip("/") + "/chat/completions"
        self._sleep = sleep

    # ------------------------------------------------------------------ one call

    def body(self, messages: list[dict[str, str]]) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.settings.model, "messages": messages,
                                "temperature": self.settings.temperature}
        if self.settings.max_tokens:
            body["max_tokens"] = self.settings.max_tokens
        return body

    def key(self, messages: list[dict[str, str]]) -> str:
        return request_key(self.body(messages))

    def is_cached(self, messages: list[dict[str, str]]) -> bool:
        return self.cache is not None and self.key(messages) in self.cache

    def chat(self, messages: list[dict[str, str]]) -> Reply:
        """One answer: from the cache, else from the endpoint (retried). Raises CallFailed or RunFailed."""
        body = self.body(messages)
        key = request_key(body)
        if self.cache is not None:
            hit = self.cache.get(key)
            if hit is not None:
                with self._lock:
                    self.usage.cache_hits += 1
                return Reply(hit["text"], hit["prompt_tokens"], hit["completion_tokens"], cached=True)
        reply = self._post_with_retries(body)
        if self.cache is not None:
            self.cache.put(key, self.settings.model, reply.text, reply.prompt_tokens, reply.completion_tokens)
        return reply

    def _post_with_retries(self, body: dict[str, Any]) -> Reply:
        attempt = 0
        while True:
            self._check_stopped()
            try:
                return self._post_once(body)
            except _Retry as retry:
                with self._lock:
                    self.usage.retry_reasons[retry.reason] = self.usage.retry_reasons.get(retry.reason, 0) + 1
                    if attempt >= self.settings.max_retries:
                        self.usage.failed_calls += 1
                        raise CallFailed(f"gave up after {attempt + 1} attempts (last: {retry.reason})") from None
                    self.usage.retries += 1
                wait = min(self.settings.backoff_max_s, self.settings.backoff_s * (2 ** attempt))
                wait *= random.uniform(0.5, 1.0)  # jitter: concurrent workers do not retry in lockstep
                if retry.wait is not None:
                    wait = max(wait, min(retry.wait, self.settings.backoff_max_s))
                attempt += 1
                if self._sleep is not None:
                    self._sleep(wait)
                elif self._stop.wait(wait):
                    self._check_stopped()

    def _post_once(self, body: dict[str, Any]) -> Reply:
        import httpx

        with self._lock:
            self.usage.requests += 1
        try:
            response = self._http.post(self._url, json=body)
        except httpx.TimeoutException:
            raise _Retry("timeout") from None
        except httpx.TransportError as exc:
            raise _Retry(f"connection: {type(exc).__name__}") from None
        status = response.status_code
        if status in (401, 403):
            self._fail(f"the LLM endpoint {self.settings.base_url} refused the API key (HTTP {status}); "
                       f"nothing more was sent.\n  hint: set {KEY_ENV_VARS[0]} (or {KEY_ENV_VARS[1]}) to a valid "
                       "key; a local Ollama or vLLM needs none")
        if status == 404:
            self._fail(f"the LLM endpoint answered 404 for {self._url} (model {self.settings.model!r}); "
                       "nothing more was sent.\n  hint: --llm-base-url must end where /chat/completions "
                       "starts (usually .../v1) and --llm-model must be a model it serves")
        if status in RETRY_STATUS or status >= 500:
            raise _Retry(f"http {status}", _retry_after(response.headers.get("retry-after")))
        if status >= 400:
            with self._lock:
                self.usage.failed_calls += 1
            raise CallFailed(f"HTTP {status}: {response.text[:200]}")
        try:
            data = response.json()
            message = data["choices"][0]["message"]
            text = message.get("content") or ""
            if not isinstance(text, str):
                raise TypeError("content is not a string")
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            raise _Retry("malformed response") from None
        usage = data.get("usage") or {}
        reply = Reply(text, int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0))
        with self._lock:
            self.usage.calls += 1
            self.usage.prompt_tokens += reply.prompt_tokens
            self.usage.completion_tokens += reply.completion_tokens
            if not usage:
                self.usage.answers_without_usage += 1
        return reply

    def _fail(self, message: str) -> None:
        with self._lock:
            if self._fatal is None:
                self._fatal = RunFailed(message)
        self._stop.set()
        raise self._fatal

    def _check_stopped(self) -> None:
        if self._stop.is_set():
            raise self._fatal or RunFailed("stopped")

    # ------------------------------------------------------------------ many calls

    def map(self, conversations: list[list[dict[str, str]]], *, desc: str = "LLM calls",
            progress: bool = True) -> list[Reply | CallFailed]:
        """Answer every conversation (cache first, then `concurrency` at a time), in input order.

        A per-call failure is returned in its slot; a fatal error (401/403/404) stops every
        worker before its next request and is raised.
        """
        from tqdm.auto import tqdm

        results: list[Reply | CallFailed | None] = [None] * len(conversations)
        pending = []
        for i, messages in enumerate(conversations):
            if self.cache is not None and self.is_cached(messages):
                results[i] = self.chat(messages)
            else:
                pending.append(i)
        bar = tqdm(total=len(conversations), initial=len(conversations) - len(pending), desc=desc, unit=" calls",
                   disable=not progress, dynamic_ncols=True)
        pool = cf.ThreadPoolExecutor(max_workers=self.settings.concurrency, thread_name_prefix="llm")
        try:
            futures = {pool.submit(self._safe_chat, conversations[i]): i for i in pending}
            for future in cf.as_completed(futures):
                results[futures[future]] = future.result()
                bar.update(1)
                if self._stop.is_set():
                    break
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            bar.close()
        if self._fatal is not None:
            raise self._fatal
        return results  # type: ignore[return-value]

    def _safe_chat(self, messages: list[dict[str, str]]) -> Reply | CallFailed:
        try:
            return self.chat(messages)
        except CallFailed as exc:
            return exc

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "LLMClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
