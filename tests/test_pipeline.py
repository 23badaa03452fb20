"""The whole loop (`autorerank demo`) on the real sample data, bundled model, AutoTrain and
the cross-encoder backend - with small training budgets so it stays a few minutes on 2 CPUs.

Nothing is mocked. The second call must reuse everything (no training, cached results).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import wait_for_trainer

from wrapper.pipeline import DemoOptions, run_demo
from wrapper.settings import RESULTS_METADATA


@pytest.mark.slow
def test_demo_runs_the_whole_loop_then_reuses_it(isolated_home, sample_data):
    """The README's first command on a short budget: prepare, auto (two routes), gates, the pick."""
    opts = DemoOptions(raw=sample_data / "pairs.csv", corpus=sample_data / "corpus.jsonl",
                       data_root=isolated_home / "data", budget_s=110,
                       tasks=["cross-encoder:mnrl", "st:triplet"])
    first = run_demo(opts)
    record = first.record
    assert record["state"] == "succeeded" and record["elapsed_s"] <= 110 * 1.1
    assert record["gate_split"]["queries"] == 38 and record["selection_split"]["split"] == "selection"
    results = Path(isolated_home / "results" / "results")
    finished = [t for t in record["trials"] if t["state"] == "complete"]
    assert finished, record["trials"]
    for trial in finished:
        status = json.loads((isolated_home / "runs" / trial["run_id"] / "status.json").read_text())
        gate = status["gate"]
        # the gate's own per-query MAP is MTEB's map_at_1000 as written to results/ for the same
        # fine-tune, base and split (two independent computations)
        meta = json.loads(next((results / f"autorerank__{status['run_id']}").glob(f"*/{RESULTS_METADATA}"))
                          .read_text())
        task = next(iter(meta["tasks"].values()))
        assert gate["fine_tuned"] == pytest.approx(task["main_score"], abs=1e-5)  # mteb rounds to 5 decimals
        base_meta = json.loads(next((results / "sentence-transformers__all-MiniLM-L6-v2").glob(
            f"*/{RESULTS_METADATA}")).read_text())
        assert gate["base"] == pytest.approx(base_meta["tasks"][gate["task"]]["main_score"], abs=1e-5)
        # held-out candidates are mined without the false-negative guard: every query can judge
        assert gate["details"]["informative_queries"] == gate["details"]["validation_queries"] == 38
        low, high = gate["ci"]
        assert low <= gate["delta"] <= high and high - low > 0.005  # 38 queries: a real width
        # every trial is checked out of domain on the shipped general set
        [general] = gate["general"]
        assert general["name"] == "general-en-zh" and general["queries"] > 30
        assert general["ci"][0] <= general["delta"] <= general["ci"][1]
    pick = first.pick
    assert pick["run_id"] == "base" or pick["verdict"] == "improved"
    assert "held-out MAP" in first.before_after() and "base (all-MiniLM-L6-v2)" in first.before_after()

    # re-running reuses the prepared data and the finished search
    second = run_demo(opts)
    assert {step.name: step.action for step in second.steps}["prepare"] == "reused"
    assert second.record["trials"] == record["trials"] and second.pick == pick


@pytest.mark.slow
def test_ctrl_c_during_the_demo_stops_the_training_tree_and_marks_the_run(isolated_home):
    """SIGINT to `autorerank demo` while AutoTrain trains: exit 130, run "interrupted", no child left."""
    import psutil

    proc = subprocess.Popen([sys.executable, "-m", "wrapper", "demo", "--no-general"], cwd=isolated_home,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "TQDM_DISABLE": "1"})
    pid_file = isolated_home / "runs" / "auto-sample-bundled-t01" / "pid"  # the first trial: AutoTrain st:triplet
    deadline = time.monotonic() + 400
    while not pid_file.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.5)
    assert pid_file.exists(), proc.communicate(timeout=60)[1].decode()[-2000:]
    child = int(pid_file.read_text().strip())
    trainer = wait_for_trainer(child)  # the signal lands inside training, not before it
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err.decode()[-2000:]
    status = json.loads((pid_file.parent / "status.json").read_text())
    assert status["state"] == "interrupted"
    assert "interrupted" in err.decode()
    deadline = time.monotonic() + 30
    while psutil.pid_exists(child) and psutil.Process(child).status() != psutil.STATUS_ZOMBIE:
        assert time.monotonic() < deadline, "the training process outlived the demo"
        time.sleep(0.5)
    assert not trainer.is_running()
