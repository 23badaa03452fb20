"""The `python -m bench` entry point: one table, every figure against a baseline from the same run.

Runs the real leaderboard benchmark in its quick size (about 15 s): the other
benchmarks train models and belong to `make bench`, not to the test suite.
"""

from __future__ import annotations

import json

import pytest

from bench.__main__ import main, render

pytestmark = pytest.mark.slow


def test_bench_writes_one_table_with_ratios_against_same_run_baselines(tmp_path):
    assert main(["--quick", "--only", "leaderboard", "--out", str(tmp_path)]) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    sizes = summary["benchmarks"]["leaderboard"]["result"]["sizes"]
    s = sizes["1000"]
    table = (tmp_path / "summary.md").read_text()
    assert "| benchmark | figure | ours | baseline (same run) | ratio | goal | met |" in table
    [row] = [line for line in table.splitlines() if "cold load, 1,000 result files" in line]
    ratio = round(s["ours_cold_load_s"] / s["baseline_mteb_ResultCache_s"], 3)
    assert f"{s['ours_cold_load_s']} s" in row and f"{s['baseline_mteb_ResultCache_s']} s" in row
    assert f"{ratio:.4g}x" in row and row.rstrip().endswith("| yes |" if s["ours_cold_load_s"] <= 2 else "| **no** |")


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
