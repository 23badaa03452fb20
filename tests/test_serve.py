"""`autorerank serve`: a real uvicorn server (subprocess, 127.0.0.1, free port) over a real model."""

from __future__ import annotations

import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from wrapper import procs

slow = pytest.mark.slow  # all but the batcher test load a model

DOCS = ["Paris is the capital of France.", "Bananas are rich in potassium.",
        "The Eiffel Tower stands in Paris.", "Photosynthesis happens in chloroplasts."]


@pytest.fixture(scope="module")
def ce_model(ce_folder) -> Path:
    return ce_folder


@pytest.fixture(scope="module")
def server(ce_model, tmp_path_factory):
    import httpx

    port = procs.free_port()
    log = tmp_path_factory.mktemp("serve-log") / "server.log"
    argv = [sys.executable, "-m", "wrapper", "serve", str(ce_model), "--port", str(port), "--precision", "fp32",
            "--max-documents", "8", "--max-chars", "500", "--max-wait-ms", "20", "--max-batch-pairs", "40"]
    with open(log, "wb") as out:
        proc = procs.start(argv, env=procs.child_env(offline=True, project_path=True), stdout=out, stderr=out)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 240
        while True:
            if proc.poll() is not None:
                pytest.fail(f"server exited {proc.returncode}: {log.read_text()[-2000:]}")
            try:
                if httpx.get(base + "/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.time() > deadline:
                pytest.fail("server did not come up: " + log.read_text()[-2000:])
            time.sleep(0.5)
        yield base, proc
    finally:
        procs.stop_tree(proc, grace=5)


@slow
def test_health_names_the_model(server, ce_model):
    import httpx

    base, _ = server
    body = httpx.get(base + "/health", timeout=10).json()
    assert body["status"] == "ok"
    assert body["model"]["kind"] == "cross-encoder" and body["model"]["precision"] == "fp32"
    assert body["model"]["name"] == "local/minilm-ce" and len(body["model"]["revision"]) == 12
    info = httpx.get(base + "/info", timeout=10).json()
    assert info["limits"]["max_documents"] == 8 and info["limits"]["max_batch_pairs"] == 40


@slow
def test_rerank_matches_direct_predict(server, ce_model):
    import httpx
    from sentence_transformers import CrossEncoder

    base, _ = server
    query = "Where is the Eiffel Tower?"
    body = httpx.post(base + "/rerank", json={"query": query, "documents": DOCS, "top_n": 3,
                                              "return_documents": True}, timeout=60).json()
    expected = CrossEncoder(str(ce_model)).predict([(query, d) for d in DOCS])
    order = sorted(range(len(DOCS)), key=lambda i: -expected[i])[:3]
    assert [r["index"] for r in body["results"]] == order
    for r in body["results"]:
        assert r["relevance_score"] == pytest.approx(float(expected[r["index"]]), abs=1e-4)
        assert r["document"]["text"] == DOCS[r["index"]]
    # Cohere's path and {"text": ...} documents give the same answer, without documents by default
    cohere = httpx.post(base + "/v1/rerank", json={"model": "x", "query": query, "top_n": 3,
                                                  "documents": [{"text": d} for d in DOCS]}, timeout=60).json()
    assert [r["index"] for r in cohere["results"]] == order and "document" not in cohere["results"][0]


@slow
def test_concurrent_requests_are_batched(server):
    import httpx

    base, _ = server
    before = httpx.get(base + "/health", timeout=10).json()

    def one(i):
        docs = DOCS[i % 4:] + DOCS[: i % 4]
        r = httpx.post(base + "/rerank", json={"query": f"question {i} about Paris", "documents": docs}, timeout=120)
        return r.status_code, [docs[x["index"]] for x in r.json()["results"]]

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(one, range(32)))
    assert all(code == 200 for code, _ in answers)
    assert all(sorted(ranked) == sorted(DOCS) for _, ranked in answers)
    after = httpx.get(base + "/health", timeout=10).json()
    requests = after["requests"] - before["requests"]
    batches = after["batches"] - before["batches"]
    assert requests == 32
    assert batches < requests  # concurrent requests shared model calls


BAD = [
    ("malformed json", b'{"query": "q", "documents": [', 400, "invalid_json"),
    ("not an object", b'["q"]', 422, "invalid_request"),
    ("missing query", b'{"documents": ["a"]}', 422, "invalid_request"),
    ("query not a string", b'{"query": 3, "documents": ["a"]}', 422, "invalid_request"),
    ("documents not a list", b'{"query": "q", "documents": "a"}', 422, "invalid_request"),
    ("document of a wrong type", b'{"query": "q", "documents": ["a", 5]}', 422, "invalid_request"),
    ("empty documents", b'{"query": "q", "documents": []}', 422, "empty_documents"),
    ("empty query", b'{"query": "  ", "documents": ["a"]}', 422, "empty_query"),
    ("top_n zero", b'{"query": "q", "documents": ["a"], "top_n": 0}', 422, "invalid_request"),
    ("top_n a string", b'{"query": "q", "documents": ["a"], "top_n": "2"}', 422, "invalid_request"),
    ("unknown field", b'{"query": "q", "documents": ["a"], "topn": 2}', 422, "invalid_request"),
    ("too many documents", b'{"query": "q", "documents": ["a","a","a","a","a","a","a","a","a"]}', 413,
     "too_many_documents"),
    ("document too long", b'{"query": "q", "documents": ["a", "' + b"x" * 501 + b'"]}', 422, "text_too_long"),
]


@slow
@pytest.mark.parametrize("name,payload,status,kind", BAD, ids=[b[0] for b in BAD])
def test_bad_requests_get_json_errors(server, name, payload, status, kind):
    import httpx

    base, proc = server
    r = httpx.post(base + "/rerank", content=payload, headers={"content-type": "application/json"}, timeout=30)
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["type"] == kind and err["message"]
    if status == 413:
        assert "8" in err["message"] and err["limit"] == 8
    if kind == "text_too_long":
        assert "500" in err["message"] and "documents.1" in err["message"]
    assert proc.poll() is None
    assert httpx.get(base + "/health", timeout=10).status_code == 200


@slow
def test_port_in_use_is_a_clear_error(run_cli, server):
    base, _ = server
    port = base.rsplit(":", 1)[1]
    code, _out, err = run_cli("serve", "bundled", "--port", port)
    assert code == 2 and "already in use" in err and f"--port {int(port) + 1}" in err


def test_batcher_merges_concurrent_jobs_and_survives_a_failing_batch():
    import asyncio

    from wrapper.serve.batching import Batcher

    calls: list[int] = []

    def score(jobs):
        calls.append(len(jobs))
        if any(q == "boom" for q, _ in jobs):
            raise ValueError("bad batch")
        return [[float(len(d)) for d in docs] for _q, docs in jobs]

    async def main():
        batcher = Batcher(score, max_batch_pairs=100, max_wait_ms=50)
        await batcher.start()
        results = await asyncio.gather(*(batcher.submit(f"q{i}", ["a" * i, "bb"]) for i in range(10)))
        with pytest.raises(ValueError):
            await batcher.submit("boom", ["x"])
        after = await batcher.submit("q", ["ccc"])
        await batcher.stop()
        return results, after

    results, after = asyncio.run(main())
    assert results[3] == [3.0, 2.0] and after == [3.0]
    assert calls[0] == 10  # ten concurrent requests, one model call
    assert len(calls) == 3


@slow
def test_bi_encoder_scorer_ranks_by_cosine(bundled_model_path):
    import numpy as np

    from wrapper.serve.scorer import load_scorer

    scorer = load_scorer(str(bundled_model_path), precision="fp32")
    assert scorer.kind == "bi-encoder" and scorer.identity["name"] == "sentence-transformers/all-MiniLM-L6-v2"
    (scores,) = scorer.score([("Where is the Eiffel Tower?", DOCS)])
    emb = scorer.model.encode(["Where is the Eiffel Tower?", *DOCS], normalize_embeddings=True)
    np.testing.assert_allclose(scores, emb[1:] @ emb[0], atol=1e-5)
    assert int(np.argmax(scores)) == 2
