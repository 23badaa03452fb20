"""The whole loop (`autorerank demo`) on the real sample data, bundled model, AutoTrain and
the cross-encoder backend - with small training budgets so it stays a few minutes on 2 CPUs.

Nothing is mocked. The second call must reuse everything (no training, cached results).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from wrapper.gate import decide
from wrapper.pipeline import DemoOptions, run_demo


@pytest.mark.slow
def test_demo_runs_the_whole_loop_then_reuses_it(isolated_home, sample_data):
    opts = DemoOptions(
        raw=sample_data / "pairs.csv",
        corpus=sample_data / "corpus.jsonl",
        data_root=isolated_home / "data",
        triplet_epochs=1,
        cross_encoder_epochs=1,
    )
    first = run_demo(opts)

    # every stage left its artefact where the next one (and the leaderboard) reads it
    assert (isolated_home / "data" / "sample" / "dataset.json").exists()
    assert set(first.runs) == {"triplet", "cross-encoder"}
    for label, run_dir in first.runs.items():
        status = json.loads((run_dir / "status.json").read_text())
        assert status["state"] == "succeeded"
        gate = status["gate"]
        # the recorded verdict is the one the decision rule gives for the recorded numbers
        assert gate["verdict"] == decide(gate["base"], gate["fine_tuned"], gate["spread"], tolerance=gate["tolerance"],
                                         informative_queries=gate["details"]["informative_queries"])
        # held-out candidates are mined without the false-negative guard: every query can judge
        assert gate["details"]["informative_queries"] == gate["details"]["validation_queries"] > 0
        assert gate["fine_tuned"] == pytest.approx(gate["base"] + gate["delta"])
        if gate["verdict"] != "improved":
            assert gate["advice"]
    results = Path(isolated_home / "results" / "results")
    names = {p.name for p in results.iterdir()}
    assert {"autorerank__sample-minilm-triplet", "autorerank__sample-minilm-cross-encoder",
            "sentence-transformers__all-MiniLM-L6-v2"} <= names

    # the before/after table: the base first, then both fine-tunes with their verdicts
    table = first.table()
    assert [row["verdict"] for row in first.rows][0] == "before"
    assert len(first.rows) == 3
    assert "sample-minilm-cross-encoder" in table

    # re-running reuses the prepared data, the finished runs and the cached results
    second = run_demo(opts)
    actions = {step.name: step.action for step in second.steps}
    assert actions["prepare"] == "reused"
    assert actions["train triplet"] == "reused" and actions["train cross-encoder"] == "reused"
    assert actions["evaluate + gate triplet"] == actions["evaluate + gate cross-encoder"] == "reused"
    assert second.gates == first.gates
    assert [r["map"] for r in second.rows] == [r["map"] for r in first.rows]
