"""Infinity (`infinity-emb` 0.0.78, its own environment `.venv-infinity`) serves what `autorerank export`
writes, and ranks the sample's queries as `autorerank serve` does.

A real Infinity server (subprocess, 127.0.0.1, free port, offline) on the export of a real trained
cross-encoder run; our side is the /rerank app `autorerank serve` runs, over the same export.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from wrapper import procs
from wrapper.serve import infinity

pytestmark = pytest.mark.slow


def _sample_queries(sample_data: Path, limit: int = 12) -> list[tuple[str, list[str]]]:
    """The sample's queries with every passage labelled for them (3 to 10 each)."""
    groups: dict[str, list[str]] = {}
    with open(sample_data / "pairs.csv", encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            groups.setdefault(row["query"], []).append(row["passage"])
    return [(q, docs) for q, docs in groups.items() if len(docs) >= 3][:limit]


@pytest.fixture(scope="module")
def infinity_env() -> Path:
    if not infinity.installed():
        pytest.fail(f"{infinity.env_dir()} is missing: `make test` (scripts/setup.sh) creates it")
    return infinity.env_dir()


def test_infinity_ranks_our_export_as_our_server_does(infinity_env, tiny_ce_run, sample_data, tmp_path):
    from fastapi.testclient import TestClient

    from wrapper.export import export_model
    from wrapper.export.onnx import kendall_tau
    from wrapper.serve import create_app, load_scorer

    run_dir, code, _, err = tiny_ce_run
    assert code == 0, err[-2000:]
    export = tmp_path / "export"
    export_model(str(run_dir), export)
    queries = _sample_queries(sample_data)
    assert len(queries) >= 10

    port = procs.free_port()
    base = f"http://127.0.0.1:{port}"
    with open(tmp_path / "infinity.log", "wb") as log:
        proc = infinity.start(export, port=port, log=log, env=infinity_env)
    taus = []
    try:
        infinity.wait_ready(base, proc, timeout_s=240)
        with TestClient(create_app(load_scorer(str(export), precision="fp32").score)) as ours:  # `serve`'s app
            for query, docs in queries:
                our_scores = [0.0] * len(docs)
                for item in ours.post("/rerank", json={"query": query, "documents": docs}).json()["results"]:
                    our_scores[item["index"]] = item["relevance_score"]
                their_scores = infinity.rerank(base, query, docs)
                assert len(set(their_scores)) > 1  # a real ranking, not ties
                taus.append(kendall_tau(our_scores, their_scores))
    finally:
        procs.stop_tree(proc, grace=5)
    assert min(taus) >= 0.99, taus
    assert procs.pid_alive(proc.pid) is False


def test_infinity_is_started_offline_on_localhost_without_telemetry(tmp_path):
    argv = infinity.argv(tmp_path / "model", port=7997, env=tmp_path / "env")
    assert argv[0] == str(tmp_path / "env" / "bin" / "infinity_emb") and argv[1] == "v2"
    assert argv[argv.index("--host") + 1] == "127.0.0.1" and argv[argv.index("--device") + 1] == "cpu"
    assert argv[argv.index("--model-id") + 1] == str((tmp_path / "model").resolve())
    env = procs.child_env(offline=True, venv=tmp_path / "env", drop_tokens=True, extra=infinity.NO_TELEMETRY)
    assert env["HF_HUB_OFFLINE"] == "1" and env["INFINITY_ANONYMOUS_USAGE_STATS"] == "0"
    assert "HF_TOKEN" not in env
