"""Real cross-encoder backend runs on the bundled all-MiniLM-L6-v2 (fresh one-logit head):
a BCE run of a few dozen steps with evaluation and best-checkpoint selection, the other
losses, a 2-process (gloo) run, and a crash reported with its cause. CPU, offline."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

from conftest import TINY_NEG, TINY_POS, TINY_QUERY, runs_dir, write_tiny_dataset
from wrapper.config import render_config
from wrapper.errors import RunFailed
from wrapper.jsonio import read_json, read_jsonl
from wrapper.train import train_run

pytestmark = pytest.mark.slow

@pytest.fixture
def dataset(isolated_home) -> Path:
    return write_tiny_dataset(Path("data") / "tiny")


def test_bce_run_learns_keeps_the_best_checkpoint_and_loads(tiny_ce_run):
    """The session's shared run (conftest: bce, 30 steps, eval every 10, through `autorerank train`)."""
    run_dir, code, out, err = tiny_ce_run
    assert code == 0, err
    assert f"model:   {run_dir / 'model'}" in out
    status = read_json(run_dir / "status.json")
    assert status["state"] == "succeeded" and status["backend"] == "cross-encoder"
    assert status["kind"] == "cross-encoder" and status["task"] == "cross-encoder:bce"
    assert status["model"] == str(run_dir / "model") and status["steps"] == {"done": 30, "total": 30}
    metrics = read_jsonl(run_dir / "metrics.jsonl")
    assert [m["step"] for m in metrics if "loss" in m] == [5, 10, 15, 20, 25, 30]
    evals = [m for m in metrics if "eval_validation_map" in m and "eval_runtime" in m]
    assert [m["step"] for m in evals] == [10, 20, 30]
    final = metrics[-1]
    assert final["best_checkpoint"].endswith(f"checkpoint-{max(evals, key=lambda m: m['eval_validation_map'])['step']}")
    # the saved model is the best one: its MAP is the best evaluated MAP
    assert final["eval_validation_map"] == pytest.approx(max(m["eval_validation_map"] for m in evals), abs=1e-6)
    assert (run_dir / "model" / "README.md").exists()  # model card
    assert not (run_dir / "checkpoints").exists()
    summary = json.loads((run_dir / "model" / "autorerank_training.json").read_text())
    assert summary["loss"] == "bce" and summary["params"]["lr"] == pytest.approx(1e-4)

    from sentence_transformers import CrossEncoder

    model = CrossEncoder(status["model"], device="cpu")
    scores = model.predict([(TINY_QUERY, TINY_POS), (TINY_QUERY, TINY_NEG)])
    assert len(scores) == 2
    # learned something: the head is no longer a constant, and the topic match wins
    assert float(scores[0]) > float(scores[1])
    assert final["eval_validation_map"] > 0.5


@pytest.mark.parametrize("loss", ["mnrl", "listwise"])
def test_other_losses_train_and_save(dataset, loss):
    config = render_config(dataset, base_model="bundled", name=f"tiny-{loss}", task=f"cross-encoder:{loss}",
                           max_steps=2, batch_size=4, max_seq_length=48, num_negatives=2)
    raw = yaml.safe_load(config.read_text())
    raw["data"]["valid_split"] = None  # no evaluation: just the loss path
    config.write_text(yaml.safe_dump(raw))
    result = train_run(config, run_id=f"ce-{loss}", progress=False)
    assert result.status["state"] == "succeeded" and result.status["steps"]["done"] == 2
    assert (Path(result.status["model"]) / "model.safetensors").exists()


def test_two_cpu_processes_with_torchrun(dataset):
    config = render_config(dataset, base_model="bundled", name="tiny-ddp", task="cross-encoder:bce",
                           max_steps=3, batch_size=4, max_seq_length=48, eval_steps=3)
    result = train_run(config, run_id="ddp", progress=False, num_processes=2)
    status = result.status
    assert status["state"] == "succeeded" and status["num_processes"] == 2
    assert status["argv"][1:7] == ["-m", "torch.distributed.run", "--standalone", "--nnodes", "1", "--nproc_per_node"]
    stdout = (result.run_dir / "stdout.log").read_text()
    assert stdout.count("AUTORERANK_TOTAL_STEPS") == 1  # only rank 0 reports
    assert (Path(status["model"]) / "model.safetensors").exists()


def test_a_crashing_backend_is_failed_with_the_exception_line(dataset):
    config = render_config(dataset, base_model="bundled", name="tiny-crash", task="cross-encoder:bce", max_steps=2)
    (dataset / "flagembedding" / "train.jsonl").write_text('{"query": "q", "pos": ["p"], "neg": ["n"]}\nnot json\n')
    with pytest.raises(RunFailed, match="InputError: .*train.jsonl, line 2: not valid JSON"):
        train_run(config, run_id="crash", progress=False)
    status = read_json(runs_dir() / "crash" / "status.json")
    assert status["state"] == "failed" and status["exit_code"] == 1 and status["model"] is None


# A CLI whose SIGINT raises KeyboardInterrupt even when pytest runs as a background job
# (a shell's background jobs ignore SIGINT and children inherit that; a terminal's do not).
CLI = ("import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
       "from wrapper.cli import main; main(sys.argv[1:])")


def _processes_in(folder: Path) -> list:
    import psutil

    left = []
    for proc in psutil.process_iter(["cwd", "status"]):
        cwd = proc.info.get("cwd")
        if cwd and (cwd == str(folder) or cwd.startswith(str(folder) + os.sep)) \
                and proc.info.get("status") != psutil.STATUS_ZOMBIE:
            left.append(proc)
    return left


@pytest.mark.parametrize("sig, num_processes", [("SIGINT", 1), ("SIGTERM", 2)])
def test_an_interrupted_run_is_interrupted_and_leaves_no_process(dataset, sig, num_processes):
    """Ctrl-C (one process) or SIGTERM (torchrun with two workers) to `autorerank train`
    mid-training: exit 130, status "interrupted" with the signal, no process left in the run."""
    import signal
    import subprocess
    import sys
    import time

    config = render_config(dataset, base_model="bundled", name=f"tiny-stop-{num_processes}",
                           task="cross-encoder:bce", max_steps=5000, batch_size=4, max_seq_length=32,
                           eval_steps=5000, logging_steps=1)
    run_dir = runs_dir() / f"stop-{num_processes}"
    cli = subprocess.Popen([sys.executable, "-c", CLI, "train", str(config), "--run-id", run_dir.name,
                            "--no-gate", "--no-progress", "--num-processes", str(num_processes)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 240
        while not (run_dir / "metrics.jsonl").exists():  # training steps are being logged
            assert cli.poll() is None, cli.communicate()[1][-3000:]
            assert time.monotonic() < deadline, "training never started"
            time.sleep(0.2)
        child = read_json(run_dir / "status.json")["pid"]
        assert child and _processes_in(run_dir)
        cli.send_signal(getattr(signal, sig))
        _, err = cli.communicate(timeout=60)
    finally:
        if cli.poll() is None:
            cli.kill()
    assert cli.returncode == 130, err[-3000:]
    assert "interrupted" in err and "Traceback" not in err
    status = read_json(run_dir / "status.json")
    assert status["state"] == "interrupted" and status["cause"] == f"stopped by {sig}"
    assert status["num_processes"] == num_processes and status["pid"] is None
    assert 1 <= status["steps"]["done"] < 5000
    assert not (run_dir / "pid").exists()
    assert not _processes_in(run_dir), "a training process outlived the run"
    with pytest.raises(ProcessLookupError):
        os.killpg(child, 0)
