"""The RankGPT baseline (`autorerank eval --llm-reranker`) against the test stand-in LLM."""

from __future__ import annotations

import pytest

from llm_standin import StandIn
from conftest import write_tiny_dataset
from wrapper.evaluate.llm_reranker import PermutationStats, evaluate_llm, mteb_name, parse_permutation, rerank_one
from wrapper.jsonio import read_json
from wrapper.llm import LLMClient, LLMSettings


@pytest.mark.parametrize("answer, n, order, repaired", [
    ("[2] > [3] > [1]", 3, [1, 2, 0], {}),
    ("[2] > [2] > [1]", 3, [1, 0, 2], {"repeated_ids": 1, "missing_ids": 1}),
    ("Sure! The ranking is [3] > [1]. Hope it helps", 3, [2, 0, 1], {"missing_ids": 1, "answers_with_prose": 1}),
    ("[9] > [1] > [0]", 2, [0, 1], {"out_of_range_ids": 2, "missing_ids": 1}),
    ("", 3, [0, 1, 2], {"missing_ids": 3, "empty_answers": 1}),
])
def test_malformed_permutations_are_repaired_and_counted(answer, n, order, repaired):
    stats = PermutationStats()
    assert parse_permutation(answer, n, stats) == order
    counts = stats.as_dict()
    assert counts["answers_repaired"] == (1 if repaired else 0)
    for key, value in repaired.items():
        assert counts[key] == value


def test_the_sliding_window_brings_the_best_passage_up_from_the_bottom():
    passages = [f"filler passage number {i} about nothing" for i in range(9)] + ["rotate the api key every year"]
    stats = PermutationStats()
    with StandIn() as llm, LLMClient(LLMSettings(llm.url, "standin", backoff_s=0.01)) as client:
        order = rerank_one(client, "how often should I rotate an api key", passages, window=4, step=2, stats=stats)
        windows = len(llm.requests)
    assert order[0] == 9 and sorted(order) == list(range(10))
    assert windows == stats.as_dict()["windows"] == 4  # [6:10], [4:8], [2:6], [0:4]


def test_llm_results_are_written_like_a_model_and_the_leaderboard_shows_them(tmp_path, run_cli):
    import mteb

    from wrapper.leaderboard import loaders, tables

    dataset = write_tiny_dataset(tmp_path / "data" / "tiny", val_queries=6, negatives=5)
    results = tmp_path / "results"
    with StandIn(faults=["bad_permutation", "429"]) as llm:
        report = evaluate_llm(llm.url, "standin-7b", datasets=[dataset], results=results, window=4, step=2,
                              cache=tmp_path / "c.sqlite", show_progress=False)
        sent = llm.count()
        again = evaluate_llm(llm.url, "standin-7b", datasets=[dataset], results=results, window=4, step=2,
                             cache=tmp_path / "c.sqlite", show_progress=False)
        assert llm.count() == sent  # finished: no call the second time
    row = report.rows[0]
    assert row["model_name"] == "llm:standin-7b" and row["kind"] == "llm-reranker" and not row["skipped"]
    assert row["main_score"] > 0.9  # the stand-in ranks by word overlap; the positive shares the topic
    assert again.rows[0]["skipped"] and again.rows[0]["main_score"] == row["main_score"]
    assert report.permutations["windows"] == 12 and report.permutations["answers_repaired"] == 1
    assert report.llm_usage["retries"] == 1 and report.llm_usage["calls"] == 12

    folder = results / "results" / mteb_name("standin-7b").replace("/", "__")
    revision_dir = next(folder.iterdir())
    meta = read_json(revision_dir / "autorerank" / "metadata.json")
    entry = meta["tasks"]["AutoRerank-tiny-validation"]
    assert meta["kind"] == "llm-reranker" and meta["model_name"] == "llm:standin-7b"
    assert entry["llm_usage"]["prompt_tokens"] > 0 and entry["wall_time_s"] > 0
    assert entry["permutations"]["missing_ids"] == 1

    loaded = mteb.ResultCache(results).load_results(include_remote=False)
    assert [m.model_name for m in loaded.model_results] == ["llm/standin-7b"]
    board = tables.leaderboard_table(tables.combine(loaders.load_results(results), include_reference=False))
    assert list(board["Model"]) == ["llm:standin-7b"] and list(board["Kind"]) == ["llm-reranker"]


def test_cli_eval_llm_reranker(tmp_path, run_cli):
    dataset = write_tiny_dataset(tmp_path / "data" / "tiny", val_queries=4, negatives=3)
    with StandIn() as llm:
        code, out, err = run_cli("eval", "--llm-reranker", "--llm-base-url", llm.url, "--llm-model", "standin",
                                 "--dataset", dataset, "--llm-window", "3", "--llm-step", "1")
    assert code == 0, err
    assert "llm:standin" in out and "LLM: 8 calls answered" in out  # 4 queries x windows [1:4], [0:3]
    code, out, err = run_cli("eval", "--llm-reranker", "--dataset", dataset)
    assert code == 2 and "--llm-base-url and --llm-model" in err
