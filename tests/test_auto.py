"""`autorerank auto`: the selection split, the cost model, the pick rule, and real searches.

Fast tests pin the pieces on hand-made inputs: the selection split is carved from training queries
only (whole groups, never the gate's split), the budget arithmetic, and the pick rule on hand-written
trial records (never a regressed, forgotten or collapsed model). Slow tests run real searches on a
tiny dataset with the bundled model: within the budget, recorded, and resumed after SIGKILL without
re-training a finished trial.
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
from conftest import write_tiny_dataset

from wrapper.auto import choose
from wrapper.auto.space import CostModel, Recipe, epochs_for, routes_for
from wrapper.auto.split import SELECTION, carve
from wrapper.cli.auto import parse_budget
from wrapper.dataset import Dataset, read_jsonl
from wrapper.errors import InputError


@pytest.mark.parametrize("text, seconds", [("6m", 360), ("90s", 90), ("1h30m", 5400), ("1.5h", 5400), ("45", 45)])
def test_budgets_read_like_durations(text, seconds):
    assert parse_budget(text) == seconds


def test_a_bad_budget_says_how_to_write_one():
    with pytest.raises(InputError, match="'six minutes' is not a duration(.|\n)*20m, 90s, 1h"):
        parse_budget("six minutes")


def test_the_selection_split_comes_from_training_queries_in_whole_groups(isolated_home):
    """Queries that share a positive go together; the gate's split is copied untouched; nothing overlaps."""
    from wrapper.dataset.writer import write_dataset

    shared = "one passage answers two questions about the river"
    train = [{"query": f"question {i}", "pos": [shared if i in (3, 4) else f"answer {i}"], "neg": [f"noise {i}"]}
             for i in range(40)]
    held_out = [{"query_id": "v1", "query": "held out", "positive": ["kept aside"], "negative": ["other"]}]
    source = write_dataset(Path("data/src"), train=train, eval_splits={"validation": held_out})
    info = carve(source, Path("derived"))
    derived = Dataset.open("derived")
    selection = derived.read_split(SELECTION)
    picked = {r["query"] for r in selection}
    trained = {r["query"] for r in read_jsonl(derived.train_file("flagembedding"))}
    assert picked and picked.isdisjoint(trained) and len(picked) + len(trained) == 40
    assert ("question 3" in picked) == ("question 4" in picked)  # one group
    assert derived.read_split("validation") == source.read_split("validation")  # the gate's split, as it was
    assert info["selection_queries"] == len(selection) >= 8
    assert all(len(r["positive"]) + len(r["negative"]) == 16 for r in selection)  # topped up to a list
    # AutoTrain's in-training evaluation reads the selection split, never the gate's
    validation = derived.train_file("autotrain_validation").read_text()
    assert "held out" not in validation
    assert len(validation.splitlines()) == 1 + len(selection)  # a header and one triplet per query: a quick check


def test_too_few_training_queries_is_a_clear_error(isolated_home):
    dataset = write_tiny_dataset(Path("data/t"), n_queries=20, val_queries=8)
    with pytest.raises(InputError, match="12 training queries: too few to hold 8 out"):
        carve(Dataset.open(dataset), Path("derived"))


def test_routes_follow_the_base():
    from wrapper.basemodel import inspect

    bundled, bge = inspect("bundled"), inspect("BAAI/bge-reranker-base")
    assert routes_for(bundled, has_teacher=False)[:2] == ["st:triplet", "cross-encoder:mnrl"]
    assert routes_for(bge, has_teacher=False, exact_pairs=True)[0] == "text_regression"
    assert "st:triplet" not in routes_for(bge, has_teacher=False, exact_pairs=True)  # never drops a trained head
    assert routes_for(bundled, has_teacher=False, has_negatives=False) == ["cross-encoder:mnrl", "st:pair"]
    with pytest.raises(InputError, match="st:triplet cannot train BAAI/bge-reranker-base"):
        routes_for(bge, has_teacher=False, only=["st:triplet"])


def test_the_cost_model_fits_steps_in_the_time_and_learns_the_start_up():
    cost = CostModel(per_example={128: 0.01}, gate_s=20.0)
    recipe = Recipe(task="cross-encoder:mnrl", lr=1e-4, max_length=128)
    # 100 s: 12 s start-up, 20 s gate, 68 s of steps of 16 examples x 0.01 s = 0.16 s -> 425 steps
    assert cost.steps_for(recipe, 16, 100.0) == 425
    recipe.steps = 425
    assert cost.trial_s(recipe, 16) == pytest.approx(12 + 68 + 20)
    cost.learn(recipe, 16, wall_s=98.0)  # the trial took 98 s: 30 s beyond its 68 s of compute
    assert cost.startup["cross-encoder:"] == pytest.approx(30)  # the first measurement replaces the prior
    cost.learn(recipe, 16, wall_s=88.0)  # 20 s beyond: averaged with the 30
    assert cost.startup["cross-encoder:"] == pytest.approx(25)
    assert cost.startup["st:"] == pytest.approx(25.0)  # another backend keeps its prior
    cost.learn_gate(150.0)  # the first gate replaces the 20 s prior
    assert cost.gate_s == pytest.approx(150)
    cost.learn_gate(100.0)  # a cheaper gate lowers it to the mean only
    assert cost.gate_s == pytest.approx(125)
    cost.learn_gate(200.0)  # a dearer one raises it all the way
    assert cost.gate_s == pytest.approx(200)
    assert cost.example_s("st:triplet", 256) == pytest.approx(0.01 * 2 * 2.4)  # scaled by length, triplets dearer
    assert epochs_for(100, rows=448, batch=16) == 4 and epochs_for(3, rows=448, batch=16) == 1


def _trial(n, score, verdict, state="complete"):
    return {"number": n, "run_id": f"a-t{n:02d}", "state": state, "selection_map": score,
            "gate": {"verdict": verdict} if verdict else None}


def test_the_pick_is_the_best_improved_model_and_never_a_bad_one():
    record = {"trials": [_trial(1, 0.80, "regressed"), _trial(2, 0.75, "forgot"), _trial(3, 0.70, "improved"),
                         _trial(4, 0.72, "improved"), _trial(5, 0.90, "collapsed"), _trial(6, None, None, "failed")]}
    pick = choose(record)
    assert pick["run_id"] == "a-t04" and pick["verdict"] == "improved" and "0.7200" in pick["why"]
    # a merge of the best that the gate found improved competes on selection MAP too
    record["merge"] = {"run_id": "a-merge", "selection_map": 0.78, "gate": {"verdict": "improved"}}
    assert choose(record)["run_id"] == "a-merge"


def test_nothing_improved_keeps_the_base_and_says_why():
    record = {"trials": [_trial(1, 0.80, "regressed"), _trial(2, 0.75, "forgot"), _trial(3, 0.70, "no_better")],
              "merge": {"run_id": "m", "selection_map": 0.7, "gate": {"verdict": "forgot"}}}
    pick = choose(record)
    assert pick["run_id"] == "base" and pick["model"] is None
    assert "1 forgot, 1 no_better, 1 regressed" in pick["why"] and "t01, was regressed" in pick["why"]
    assert "its merge with the base was forgot" in pick["why"]


# --------------------------------------------------------------------------- real searches (slow)


def _auto_argv(dataset: Path, budget: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "wrapper", "auto", str(dataset), "--budget", budget, "--no-general",
            "--tasks", "cross-encoder:mnrl,cross-encoder:bce", "--name", "a", *extra]


@pytest.fixture
def tiny(isolated_home) -> Path:
    return write_tiny_dataset(Path("data") / "tiny", n_queries=72, negatives=3, val_queries=16)


def _wait(proc, what, ready, timeout: float = 200) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        assert time.monotonic() < deadline, f"the search never reached {what}"
        time.sleep(0.3)


@pytest.mark.slow
def test_a_search_survives_sigkill_and_ctrl_c_keeps_its_budget_and_picks_safely(tiny, isolated_home):
    """One search, cut short twice: SIGKILL while its second trial trains, then Ctrl-C while the next one
    trains; the same command resumes each time. Nothing that finished is trained again, the budget holds
    over the three sessions, and the pick is an improved model (that loads) or the base with a reason."""
    import yaml

    from wrapper.run import Run

    # 120 s holds two trials and their gates on a CPU without AMX too (CI probed 290 ms/example there)
    runs, budget = isolated_home / "runs", 120
    record_file = runs / "a" / "auto.json"

    def record() -> dict:
        return json.loads(record_file.read_text()) if record_file.is_file() else {}

    # 1. SIGKILL while the second trial trains
    proc = subprocess.Popen(_auto_argv(tiny, f"{budget}s"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait(proc, "its second trial", lambda: any(t["state"] == "complete" for t in record().get("trials", []))
          and (runs / "a-t02" / "pid").is_file())
    proc.kill()
    proc.wait()
    first = record()["trials"][0]
    model_file = runs / first["run_id"] / "model" / "model.safetensors"
    mtime = model_file.stat().st_mtime_ns
    assert Run.open(runs / "a-t02").state == "interrupted"  # the trial the kill cut short says so
    cut_short = yaml.safe_load((runs / "a-t02" / "config.yml").read_text())

    # 2. resume; Ctrl-C while its first trial (the one the kill cut short, again) trains
    proc = subprocess.Popen(_auto_argv(tiny, f"{budget}s"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    pid = runs / "a-t03" / "pid"
    _wait(proc, "a trial after resuming", pid.is_file)
    child = int(pid.read_text())
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "the same command resumes it" in err
    assert record()["state"] == "interrupted" and record()["trials"][-1]["state"] == "interrupted"
    with pytest.raises(ProcessLookupError):
        os.kill(child, 0)
    rerun = record()["trials"][1]
    assert rerun["run_id"] == "a-t03" and rerun["task"] == cut_short["task"]  # the cut-short recipe, again
    assert rerun["recipe"][f"lr_{rerun['task']}"] == pytest.approx(cut_short["params"]["lr"])

    # 3. resume to the end
    done = subprocess.run(_auto_argv(tiny, f"{budget}s"), capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, done.stderr[-3000:]
    final = record()
    assert final["trials"][0] == first and model_file.stat().st_mtime_ns == mtime  # never trained again
    assert final["state"] == "succeeded" and final["elapsed_s"] <= budget * 1.1
    assert final["selection_split"]["split"] == SELECTION != final["gate_split"]["split"] == "validation"
    finished = [t for t in final["trials"] if t["state"] == "complete"]
    assert len(finished) >= 2 and {t["task"] for t in final["trials"]} <= {"cross-encoder:mnrl", "cross-encoder:bce"}
    for t in finished:
        trial = Run.open(t["run_id"])
        assert trial.status["auto"] == "a" and trial.gate["verdict"] == t["gate"]["verdict"]
        assert trial.status["auto_selection_map"] == t["selection_map"]
    pick = final["pick"]
    assert pick["run_id"] == "base" or pick["verdict"] == "improved"
    assert "pick: " in done.stdout and "select MAP" in done.stdout
    auto_run = Run.open("a")
    assert auto_run.backend == "auto" and auto_run.state == "succeeded"
    if pick["run_id"] != "base":
        from sentence_transformers import CrossEncoder

        assert auto_run.model_dir == Path(pick["model"])
        CrossEncoder(pick["model"]).predict([("q", "p")])  # the picked model loads
