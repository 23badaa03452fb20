"""wrapper.llm against the test stand-in server (real HTTP on 127.0.0.1): retries, 401 stop, cache, counters."""

from __future__ import annotations

import pytest

from llm_standin import StandIn
from wrapper.errors import InputError, RunFailed
from wrapper.llm import CallFailed, CompletionCache, LLMClient, LLMSettings, request_key

QUESTION = [{"role": "user", "content": "Passage:\n---------------------\nBuckets hold objects. Names are global.\n"
             "---------------------\nWrite 2 questions."}]


def _client(url, cache=None, **kw) -> LLMClient:
    kw.setdefault("backoff_s", 0.01)
    kw.setdefault("timeout_s", 0.5)
    return LLMClient(LLMSettings(url, "standin", **kw), cache)


@pytest.mark.parametrize("fault", ["429", "500", "timeout", "malformed_json"])
def test_a_transient_fault_is_retried_and_counted(fault):
    with StandIn(faults=[fault, fault], timeout_sleep_s=1.5) as llm, _client(llm.url) as client:
        reply = client.chat(QUESTION)
        assert reply.text.count("?") == 2
        assert client.usage.retries == 2 and client.usage.requests == 3 and client.usage.calls == 1
        assert sum(client.usage.retry_reasons.values()) == 2
        assert client.usage.prompt_tokens > 0 and client.usage.completion_tokens > 0


def test_a_call_gives_up_after_its_retries_and_the_batch_goes_on():
    with StandIn(faults=["500"] * 3) as llm, _client(llm.url, max_retries=2, concurrency=1) as client:
        first, second = client.map([QUESTION, [{"role": "user", "content": "other text. Write 1 questions."}]],
                                   progress=False)
    assert isinstance(first, CallFailed) and "http 500" in str(first)
    assert second.text.count("?") == 1
    assert client.usage.failed_calls == 1


def test_retry_after_is_honoured():
    waits: list[float] = []
    with StandIn(faults=["429"], retry_after="7") as llm:
        with LLMClient(LLMSettings(llm.url, "standin", backoff_s=0.01), sleep=waits.append) as client:
            client.chat(QUESTION)
    assert waits and waits[0] >= 7


@pytest.mark.parametrize("concurrency", [1, 4])
def test_a_401_stops_everything_with_one_clear_message(concurrency):
    with StandIn(always="401", delay_s=0.05) as llm, _client(llm.url, concurrency=concurrency) as client:
        conversations = [[{"role": "user", "content": f"text {i}. Write 1 questions."}] for i in range(40)]
        with pytest.raises(RunFailed, match=r"refused the API key \(HTTP 401\); nothing more was sent") as info:
            client.map(conversations, progress=False)
        sent = llm.count()
    # nothing is sent after the first 401: at most the calls already in flight
    assert 1 <= sent <= concurrency
    assert "AUTORERANK_LLM_API_KEY" in str(info.value)


def test_a_wrong_url_stops_with_a_hint(tmp_path):
    with StandIn() as llm, LLMClient(LLMSettings(llm.url.replace("/v1", "/nope"), "standin")) as client:
        with pytest.raises(RunFailed, match="404"):
            client.chat(QUESTION)
        assert llm.count() == 1


def test_bad_settings_are_input_errors():
    with pytest.raises(InputError, match="--llm-base-url"):
        LLMClient(LLMSettings("localhost:11434", "m"))
    with pytest.raises(InputError, match="--llm-model"):
        LLMClient(LLMSettings("http://127.0.0.1:1/v1", " "))


def test_the_cache_answers_a_repeated_call_without_a_request(tmp_path):
    cache = CompletionCache(tmp_path / "c.sqlite")
    with StandIn() as llm:
        with _client(llm.url, cache) as client:
            first = client.chat(QUESTION)
        cache.close()
        cache = CompletionCache(tmp_path / "c.sqlite")  # a new process would reopen the file
        with _client(llm.url, cache) as client:
            again = client.map([QUESTION], progress=False)[0]
            assert again.text == first.text and again.cached
            assert client.usage.requests == 0 and client.usage.cache_hits == 1
        assert llm.count() == 1
    # the key covers the model and the prompt, never the API key
    body = {"model": "standin", "messages": QUESTION, "temperature": 0.0}
    assert request_key(body) in cache.keys()
    assert request_key({**body, "model": "other"}) not in cache.keys()


def test_the_key_is_sent_but_never_stored(tmp_path, monkeypatch):
    secret = "sk-test-DO-NOT-LEAK-5f2a9c"
    monkeypatch.setenv("AUTORERANK_LLM_API_KEY", secret)
    with StandIn(api_key=secret) as llm, _client(llm.url, CompletionCache(tmp_path / "c.sqlite")) as client:
        client.chat(QUESTION)
        assert llm.requests[-1]["status"] == 200  # the stand-in demanded the key: it was sent
    for file in tmp_path.rglob("*"):
        if file.is_file():
            assert secret.encode() not in file.read_bytes(), file
