"""Real AutoTrain runs (st:triplet on the bundled all-MiniLM-L6-v2, ~200 triplets, CPU):
success, metrics and status shape, a checkpoint that loads in sentence-transformers 6.x,
a failure AutoTrain exits 0 on, and runs killed by Ctrl-C / SIGKILL. No Hub: offline."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from conftest import group_alive, write_tiny_dataset, wait_for_trainer
from wrapper.config import render_config
from wrapper.errors import RunFailed
from wrapper.jsonio import read_json, read_jsonl
from wrapper.run import Run
from wrapper.train import train_run

pytestmark = pytest.mark.slow


@pytest.fixture
def autotrain_env():
    from wrapper.settings import autotrain_env_dir

    env = autotrain_env_dir()
    if not (env / "bin" / "autotrain").exists():
        pytest.skip(f"AutoTrain env not found at {env}")
    return env


@pytest.fixture
def triplet_config(isolated_home, autotrain_env) -> Path:
    dataset = write_tiny_dataset(Path("data") / "tiny")  # 40 train queries x 5 negatives = 200 triplets
    return render_config(dataset, base_model="bundled", name="tiny-minilm", task="st:triplet", batch_size=16)


def test_autotrain_triplet_run_succeeds_and_its_model_loads_in_st6(triplet_config, run_cli):
    code, out, err = run_cli("train", triplet_config, "--run-id", "at1", "--no-gate", "--no-progress")
    assert code == 0, err
    run_dir = Path(os.environ["AUTORERANK_RUNS"]) / "at1"
    status = read_json(run_dir / "status.json")
    assert status["state"] == "succeeded" and status["backend"] == "autotrain" and status["kind"] == "bi-encoder"
    assert status["exit_code"] == 0 and status["cause"] is None
    assert status["model"] == str(run_dir / "tiny-minilm") and Path(status["model"], "modules.json").exists()
    assert status["steps"] == {"done": 13, "total": 13}  # ceil(200 / 16)
    # absolute paths, so every later command works from any folder; the base as resolved and as named
    assert status["dataset"] == str(Path("data/tiny").resolve()) and status["wrapper_pid"] > 0
    assert status["base_model"] == status["base_model_input"] == yaml.safe_load(triplet_config.read_text())["base_model"]
    assert (run_dir / "config.yml").read_text() == triplet_config.read_text()  # the config as run
    # AutoTrain reads the triplet CSV folder the Dataset names
    assert yaml.safe_load((run_dir / "config.resolved.yml").read_text())["data"]["path"] == str(
        Path("data/tiny/autotrain").resolve())
    metrics = read_jsonl(run_dir / "metrics.jsonl")
    losses = [m for m in metrics if "loss" in m]
    assert losses and all(isinstance(m["step"], int) and 0 < m["step"] <= 13 for m in losses)
    assert {"learning_rate", "epoch"} <= set(losses[0])
    assert any("eval_cosine_accuracy" in m for m in metrics)
    assert f"model:   {status['model']}" in out

    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(status["model"], device="cpu")
    emb = model.encode(["what do we know about the river in report 1",
                        "Report 1 explains the river: where the river comes from and why the river matters.",
                        "Report 7 explains the castle: where the castle comes from and why it matters."])
    sims = model.similarity(emb[:1], emb[1:])[0]
    assert emb.shape == (3, 384) and float(sims[0]) > float(sims[1])


def test_missing_base_model_fails_although_autotrain_exits_0(triplet_config):
    raw = yaml.safe_load(triplet_config.read_text())
    raw["base_model"] = "no-such-org/no-such-model"  # a Hub id; the Hub is off in tests
    bad = triplet_config.with_name("bad.yml")
    bad.write_text(yaml.safe_dump(raw))
    with pytest.raises(RunFailed) as info:
        train_run(bad, run_id="bad", progress=False)
    status = read_json(Path(os.environ["AUTORERANK_RUNS"]) / "bad" / "status.json")
    assert status["state"] == "failed"
    assert status["exit_code"] == 0  # AutoTrain's own exit code lies
    assert "no-such-org/no-such-model" in status["cause"] and "Error" in status["cause"].split(":")[0]
    assert "\n" not in status["cause"] and status["cause"] in str(info.value)
    assert status["model"] is None


def _start_cli(config: Path, run_id: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "wrapper", "train", str(config), "--run-id", run_id, "--no-gate", "--no-progress"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def _wait_for_child(run_dir: Path, proc: subprocess.Popen, timeout: float = 120) -> int:
    deadline = time.time() + timeout
    while time.time() < deadline:
        assert proc.poll() is None, proc.communicate()
        if (run_dir / "pid").exists() and (run_dir / "stdout.log").exists() and \
                "Running task" in (run_dir / "stdout.log").read_text() + (run_dir / "stderr.log").read_text():
            return int((run_dir / "pid").read_text())
        time.sleep(0.3)
    raise AssertionError("the AutoTrain child never started")


def test_ctrl_c_stops_autotrain_and_marks_the_run_interrupted(triplet_config):
    run_dir = Path(os.environ["AUTORERANK_RUNS"]) / "int1"
    proc = _start_cli(triplet_config, "int1")
    child = _wait_for_child(run_dir, proc)
    trainer = wait_for_trainer(child)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err
    status = read_json(run_dir / "status.json")
    assert status["state"] == "interrupted" and status["cause"] == "stopped by SIGINT"
    assert not group_alive(child) and not trainer.is_running()


def test_sigkill_of_the_wrapper_ends_as_interrupted_after_reconcile(triplet_config):
    run_dir = Path(os.environ["AUTORERANK_RUNS"]) / "kill1"
    proc = _start_cli(triplet_config, "kill1")
    child = _wait_for_child(run_dir, proc)
    trainer = wait_for_trainer(child)
    proc.kill()  # no chance to clean up
    proc.wait()
    assert read_json(run_dir / "status.json")["state"] == "running"
    status = Run.load(run_dir).status
    assert status["state"] == "interrupted" and "killed?" in status["cause"]
    deadline = time.time() + 15
    while (group_alive(child) or trainer.is_running()) and time.time() < deadline:  # PDEATHSIG + reconcile
        time.sleep(0.2)
    assert not group_alive(child) and not trainer.is_running()
    assert read_json(run_dir / "status.json")["state"] == "interrupted"
