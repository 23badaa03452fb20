"""The `python -m bench` entry point: one table, every figure against a baseline from the same run.

Timing goals are judged by the benchmarks themselves, never asserted here: these tests
check how the table is built (ratio = ours / baseline, goal met or not) on given figures,
and that a real (quick) benchmark run writes only under `--out`.
"""

from __future__ import annotations

import json

import pytest

from bench import bench_eval, bench_leaderboard, bench_prepare
from bench.__main__ import main, render


def _summary(name: str, result: dict) -> dict:
    return {"quick": True, "started_at": "t", "machine": {"cpus": 2, "python": "3.11"},
            "benchmarks": {name: {"ok": True, "seconds": 1.0, "result": result}}}


def _row(lines: list[str], text: str) -> list[str]:
    [line] = [line for line in lines if text in line]
    return [cell.strip() for cell in line.strip("|").split("|")]


@pytest.mark.parametrize("ours_s, met", [(0.5, "yes"), (3.0, "**no**")])
def test_leaderboard_row_is_ours_over_baseline_and_judges_the_goal(ours_s, met):
    size = {"ours_cold_load_s": ours_s, "baseline_mteb_ResultCache_s": 2.0,
            "time_ratio_ours_over_ResultCache": round(ours_s / 2.0, 3)}
    cells = _row(render(_summary("leaderboard", {"goal_s": 2.0, "sizes": {"1000": size}})), "cold load, 1,000")
    assert cells[2] == f"{ours_s} s" and cells[3] == "`mteb.ResultCache` load: 2.0 s"
    assert cells[4] == f"{ours_s / 2.0:.4g}x" and cells[6] == met


def test_eval_goal_is_judged_on_the_figure_in_the_row():
    result = {"pairs": 64, "eval_pairs_per_s": 90.0, "direct_predict_pairs_per_s": 100.0,
              "ratio_eval_vs_direct_predict": 0.9, "eval_end_to_end_pairs_per_s": 50.0,
              "direct_load_and_predict_pairs_per_s": 40.0, "ratio_eval_end_to_end_vs_direct_load_and_predict": 1.25,
              "reeval_cached_s": 0.4, "ratio_reeval_vs_first_eval": 0.02}
    lines = render(_summary("eval", result))
    assert _row(lines, "cross-encoder scoring")[4:] == ["0.9x", ">= 0.95", "**no**"]
    assert _row(lines, "re-evaluating")[6] == "yes"  # 0.4 s <= 1 s


@pytest.mark.parametrize("auto_pps, map_auto, met", [(260.0, 0.7015, "yes"), (200.0, 0.7015, "**no**"),
                                                     (300.0, 0.6950, "**no**")])
def test_eval_precision_row_needs_the_speed_and_the_map(auto_pps, map_auto, met):
    """issue #12: eval --precision auto >= 2.5x a warm fp32 predict AND MAP within 0.002 of fp32."""
    result = {"pairs": 400, "direct_predict_pairs_per_s": 100.0, "eval_auto_precision": "bf16",
              "eval_auto_pairs_per_s": auto_pps, "ratio_eval_auto_vs_direct_fp32_predict": auto_pps / 100.0,
              "map_fp32": 0.7, "map_auto": map_auto, "map_diff_auto_minus_fp32": round(map_auto - 0.7, 5)}
    cells = _row(render(_summary("eval", result)), "--precision auto")
    assert cells[4] == f"{auto_pps / 100.0:.4g}x" and cells[5] == ">= 2.5, MAP within 0.002" and cells[6] == met
    assert len(bench_eval.headline(result)) == 1  # parts not run make no rows


@pytest.mark.parametrize("ours_s, met", [(39.0, "yes"), (45.0, "**no**")])
def test_prepare_mining_row_judges_the_0_4_goal_and_shows_the_fp32_overlap(ours_s, met):
    m = {"data": "scifact (moderate)", "repeats": 2, "precision": "bf16", "ours_s": ours_s,
         "baseline_st_mine_hard_negatives_s": 100.0, "time_ratio_ours_over_baseline": ours_s / 100.0,
         "goal_time_ratio": 0.4, "ours_peak_rss_mb": 1.0, "baseline_peak_rss_mb": 1.0, "rss_ratio_ours_over_baseline": 1.0,
         "agreement_with_fp32": {"train_negatives": {"mean_overlap": 0.97}, "validation_candidates": {"mean_overlap": 0.99}}}
    cells = _row(render(_summary("prepare", {"mining": m})), "mining wall time")
    assert "ours in bf16" in cells[1] and "train negatives 0.97" in cells[1]
    assert cells[5] == "<= 0.4" and cells[6] == met


@pytest.mark.slow
def test_mined_overlap_compares_what_mining_chose(tmp_path):
    """Two real prepare runs (fp32, bf16 miner) of the same tiny data; then one changed negative."""
    import csv

    from wrapper.prepare import PrepareOptions, prepare

    src = tmp_path / "pos.csv"
    topics = [("how do I reset my password", "Use the reset link on the sign-in page."),
              ("capital of France", "Paris is the capital of France."),
              ("height of Everest", "Everest is 8,849 metres high."),
              ("who wrote Hamlet", "Shakespeare wrote Hamlet."),
              ("train to Berlin", "The Berlin train leaves at 9:15."),
              ("cook rice", "Simmer rice for 18 minutes.")]
    with open(src, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([("query", "positive"), *topics])
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(["Lyon is in France.", "K2 is a mountain.", "Macbeth is a play.", "Pasta needs salt.",
                                 "Cats sleep a lot.", "Munich trains leave hourly.", "Passwords need 12 characters."]),
                      encoding="utf-8")
    out = {}
    for prec in ("fp32", "bf16"):
        out[prec] = tmp_path / prec
        prepare([src], out[prec], PrepareOptions(num_negatives=2, val_ratio=0.34, corpus=(str(corpus),),
                                                 progress=False, precision=prec))
    same = bench_prepare.mined_overlap(out["bf16"], out["fp32"])
    assert same["train_negatives"]["mean_overlap"] == same["validation_candidates"]["mean_overlap"] == 1.0
    assert same["train_negatives"]["queries"] == 4 and same["validation_candidates"]["queries"] == 2
    train = out["bf16"] / "flagembedding" / "train.jsonl"
    rows = [json.loads(line) for line in train.read_text().splitlines()]
    rows[0]["neg"][0] = "something else entirely"
    train.write_text("".join(json.dumps(r) + "\n" for r in rows))
    changed = bench_prepare.mined_overlap(out["bf16"], out["fp32"])
    assert changed["train_negatives"]["mean_overlap"] == pytest.approx((3 + 0.5) / 4)
    assert changed["train_negatives"]["identical_queries"] == 3


def test_prepare_mining_row_is_the_best_of_alternating_runs():
    assert bench_prepare.alternate(lambda: "ours", lambda: "base", 3) == (["ours"] * 3, ["base"] * 3)
    order = []
    bench_prepare.alternate(lambda: order.append("ours"), lambda: order.append("base"), 4)
    assert order == ["ours", "base", "base", "ours", "ours", "base", "base", "ours"]


def test_a_failed_benchmark_is_a_row_not_a_missing_line():
    summary = {"quick": True, "started_at": "t", "machine": {"cpus": 2, "python": "3.11"},
               "benchmarks": {"eval": {"ok": False, "seconds": 1.5, "error": "RuntimeError: boom"}}}
    lines = render(summary)
    assert any(line.startswith("| eval | **failed** (1.5 s) | RuntimeError: boom") for line in lines)


def test_unknown_benchmark_names_are_refused(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--only", "nope"])
    assert exc.value.code == 2
    assert "unknown benchmark" in capsys.readouterr().err


def _tree(path):
    return {str(p.relative_to(path)): p.stat().st_mtime_ns for p in path.rglob("*")} if path.exists() else {}


@pytest.mark.slow
def test_a_real_benchmark_writes_only_under_out(tmp_path):
    """The quick leaderboard benchmark (1,000 generated result files, ~15 s) through the entry point."""
    repo_out = bench_leaderboard.OUT.parent  # bench/out: what this run would write there by default
    watched = [bench_leaderboard.OUT, repo_out / "summary.json", repo_out / "summary.md"]
    before = [_tree(p) if p.is_dir() else p.exists() and p.stat().st_mtime_ns for p in watched]
    assert main(["--quick", "--only", "leaderboard", "--out", str(tmp_path)]) == 0
    assert [_tree(p) if p.is_dir() else p.exists() and p.stat().st_mtime_ns for p in watched] == before
    assert (tmp_path / "leaderboard" / "leaderboard.json").exists()
    summary = json.loads((tmp_path / "summary.json").read_text())
    s = summary["benchmarks"]["leaderboard"]["result"]["sizes"]["1000"]
    assert s["files"] == 1000 and s["ours_cold_load_s"] > 0 and s["baseline_mteb_ResultCache_s"] > 0
    assert 0 < s["time_ratio_ours_over_ResultCache"] < 50  # measured, not missing or absurd
    table = (tmp_path / "summary.md").read_text()
    assert "| benchmark | figure | ours | baseline (same run) | ratio | goal | met |" in table
    assert _row(table.splitlines(), "cold load, 1,000 result files")[4] == f"{s['time_ratio_ours_over_ResultCache']:.4g}x"


def test_serve_row_judges_the_median_paired_ratio():
    from bench.bench_serve import headline

    level = {"pairs_per_s": 90.0, "p50_ms": 500.0, "p99_ms": 800.0, "direct_pairs_per_s": 100.0,
             "ratios": [0.95, 0.9, 0.7], "direct_in_calls_of_pairs": 80, "direct_in_calls_pairs_per_s": 95.0}
    rows = headline({"precision": "bf16", "docs_per_request": 10, "rounds": 3, "clients_8": level,
                     "ratio_clients_8_vs_direct": 0.9})
    assert [r["met"] for r in rows] == [True]
    assert "calls of 80 pairs" in rows[0]["baseline"] and "[0.95, 0.9, 0.7]" in rows[0]["baseline"]


@pytest.mark.slow
def test_serve_benchmark_batches_concurrent_clients(tmp_path):
    """A real server under the quick load (32 requests per level, ~40 s): 8 clients share model calls."""
    from bench import bench_serve

    result = bench_serve.run(quick=True, out=tmp_path, levels=(1, 8), engines=())
    one, eight = result["clients_1"], result["clients_8"]
    assert one["requests"] == eight["requests"] == 32
    assert one["model_calls"] == 32  # a lone client is never batched with anyone
    assert eight["model_calls"] <= 16  # 8 in flight: at least two requests per model call
    assert 0 < result["ratio_clients_8_vs_direct"] and eight["p99_ms"] >= eight["p50_ms"] > 0
    assert (tmp_path / "result.json").is_file()
