"""From documents to the leaderboard: generate -> prepare -> train -> eval (+ the LLM baseline).

The LLM is the test stand-in server (tests/llm_standin.py); everything else is real: llama-index
chunking, the bundled MiniLM as miner and base model, the cross-encoder trainer, mteb.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import REPO_ROOT
from llm_standin import StandIn
from wrapper.config import render_config
from wrapper.jsonio import read_json

pytestmark = pytest.mark.slow

DOCS = REPO_ROOT / "data" / "raw" / "docs"
SOURCES = [DOCS / "en" / "object-storage.md", DOCS / "en" / "backups.txt", DOCS / "en" / "status-and-incidents.pdf",
           DOCS / "zh" / "安全组.html", DOCS / "zh" / "对象存储常见问题.docx"]


def test_documents_to_leaderboard_against_the_stand_in(isolated_home, run_cli):
    from wrapper.leaderboard import loaders, tables

    with StandIn(faults=["429", "empty"]) as llm:
        url = ["--llm-base-url", llm.url, "--llm-model", "standin"]
        code, out, err = run_cli("generate", *SOURCES, "--out", "generated.jsonl", "--chunk-size", "96",
                                 "--chunk-overlap", "8", "--questions-per-chunk", "3", *url)
        assert code == 0, err
        assert "next:      autorerank prepare generated.jsonl --corpus generated.chunks.jsonl" in out

        manifest = read_json("generated.manifest.json")
        chunks, calls = manifest["chunks"], manifest["calls"]
        assert chunks["by_language"]["en"] > 0 and chunks["by_language"]["zh"] > 0
        assert chunks["with_questions"] + sum(chunks["without_questions"].values()) == chunks["total"]
        assert calls["planned"] == chunks["total"] == calls["answered"] + calls["from_cache"] + calls["failed"]
        assert calls["usage"]["requests"] == calls["answered"] + calls["usage"]["retries"] == chunks["total"] + 1
        assert manifest["questions"]["consistency_filter"]["enabled"]

        code, out, err = run_cli("prepare", "generated.jsonl", "--corpus", "generated.chunks.jsonl",
                                 "--out", "data/generated", "--val-ratio", "0.3", "--num-negatives", "3")
        assert code == 0, err
        dataset = read_json("data/generated/dataset.json")
        assert dataset["splits"]["validation"]["queries"] >= 5
        assert dataset["counts"]["rows_used"] == manifest["questions"]["kept"]

        config = render_config(Path("data/generated"), base_model="bundled", name="generated-ce",
                               task="cross-encoder:bce", max_steps=10, batch_size=8, max_seq_length=64,
                               eval_steps=10, logging_steps=5)
        code, out, err = run_cli("train", config, "--run-id", "gen-ce", "--no-gate", "--no-progress")
        assert code == 0, err

        code, out, err = run_cli("eval", "gen-ce")
        assert code == 0, err
        code, out, err = run_cli("eval", "--llm-reranker", *url, "--dataset", "data/generated")
        assert code == 0, err
        assert "llm:standin" in out

    board = tables.leaderboard_table(tables.combine(loaders.load_results("results"), include_reference=False))
    kinds = dict(zip(board["Model"], board["Kind"]))
    assert kinds["llm:standin"] == "llm-reranker"
    assert "cross-encoder" in kinds.values() and len(kinds) == 3  # the fine-tune, its base, the LLM
