"""Fast tests of the train machinery: log parsing, run folders, reconciliation, launch
argv, supervision and signals (with small real child processes, no model)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from conftest import group_alive, runs_dir
from wrapper.jsonio import read_json, read_jsonl
from wrapper import run as runmod
from wrapper.train.autotrain import autotrain_total_steps, count_rows
from wrapper.train.child import child_env, model_files_ok
from wrapper.train.logparse import LogParser
from wrapper.train.cross_encoder import build_train_rows
from wrapper.train.launch import cross_encoder_argv
from wrapper.train.supervise import supervise

# Real lines from AutoTrain 0.8.36 / loguru (shape per ../shared/FACTS.md)
AUTOTRAIN_LOG = """\
INFO     | 2026-11-23 21:47:30 | autotrain.trainers.common:on_train_begin:387 - Starting to train...
INFO     | 2026-11-23 21:47:35 | autotrain.trainers.common:on_log:367 - {'loss': 0.4161, 'grad_norm': 3.13, 'learning_rate': 1.7e-05, 'epoch': 0.2}
INFO     | 2026-11-23 21:47:45 | autotrain.trainers.common:on_log:367 - {'eval_loss': 1.19, 'eval_cosine_accuracy': np.float64(1.0), 'eval_runtime': 3.18, 'epoch': 1.0}
"""
FAILED_LOG = """\
ERROR    | 2026-11-23 21:47:30 | autotrain.trainers.common:wrapper:215 - train has failed due to an exception: Traceback (most recent call last):
  File "/x/autotrain/trainers/common.py", line 212, in wrapper
    return func(*args, **kwargs)
OSError: nope/missing is not a local folder and is not a valid model identifier listed on 'https://huggingface.co/models'
ERROR    | 2026-11-23 21:47:30 | autotrain.trainers.common:wrapper:216 - nope/missing is not a local folder
INFO     | 2026-11-23 21:47:31 | autotrain.cli.run_sentence_transformers:run:78 - Job ID: 1234
"""


def test_autotrain_log_lines_become_metrics_with_steps_from_epochs():
    parser = LogParser(total_steps=10, epochs=1)
    records = [r for r in (parser.feed(line) for line in AUTOTRAIN_LOG.splitlines()) if r]
    assert parser.started
    assert records[0] == {"step": 2, "loss": 0.4161, "grad_norm": 3.13, "learning_rate": 1.7e-05, "epoch": 0.2}
    assert records[1]["eval_cosine_accuracy"] == 1.0 and records[1]["step"] == 10  # np.float64(1.0) parsed
    assert not parser.failed_marker and parser.cause is None


def test_a_trainer_failure_is_found_in_the_log_with_its_exception_line():
    parser = LogParser()
    for line in FAILED_LOG.splitlines():
        parser.feed(line)
    assert parser.failed_marker
    assert parser.cause.startswith("OSError: nope/missing is not a local folder")


def test_backend_lines_carry_total_and_steps():
    parser = LogParser()
    parser.feed("AUTORERANK_TOTAL_STEPS 24\n")
    record = parser.feed('AUTORERANK_METRICS {"step": 12, "loss": 0.5, "eval_validation_map": 0.7}\n')
    assert parser.total_steps == 24 and record == {"step": 12, "loss": 0.5, "eval_validation_map": 0.7}
    assert parser.last_step == 12


def test_total_steps_match_hf_trainer_arithmetic(tmp_path):
    csv = tmp_path / "t.csv"
    csv.write_text('anchor,positive,negative\n"a\nmultiline",b,c\nd,e,f\n', encoding="utf-8")
    assert count_rows(csv) == 2  # records, not lines
    assert autotrain_total_steps(200, 16, 1) == 13
    assert autotrain_total_steps(200, 16, 2, gradient_accumulation=2) == 12


def test_child_env_puts_the_venv_first_and_goes_offline(tmp_path):
    env = child_env(venv=tmp_path, offline=True, base={"PATH": "/usr/bin", "PYTHONPATH": "/x", "HF_TOKEN": "t"})
    assert env["PATH"].split(os.pathsep)[0] == str(tmp_path / "bin")
    assert env["HF_HUB_OFFLINE"] == "1" and env["TQDM_DISABLE"] == "1" and "PYTHONPATH" not in env
    assert env["HF_TOKEN"] == "t"  # passed through the environment, never written anywhere


def test_model_files_ok_needs_config_and_weights(tmp_path):
    assert not model_files_ok(tmp_path)
    (tmp_path / "config.json").write_text("{}")
    assert not model_files_ok(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"x")
    assert model_files_ok(tmp_path)


def test_run_ids_are_unique_and_safe(tmp_path):
    first = runmod.make_run_id("sample-minilm", tmp_path)
    (tmp_path / first).mkdir()
    second = runmod.make_run_id("sample-minilm", tmp_path)
    assert first != second and second.startswith(first)
    assert first.endswith("-sample-minilm") and len(first.split("-")[0]) == 8


@pytest.mark.parametrize("n,launcher,expect", [
    (1, "torchrun", ["-m", "wrapper.train.cross_encoder", "--config", "c.yml"]),
    (2, "torchrun", ["-m", "torch.distributed.run", "--standalone", "--nnodes", "1", "--nproc_per_node", "2",
                     "-m", "wrapper.train.cross_encoder", "--config", "c.yml"]),
    (4, "accelerate", ["-m", "accelerate.commands.launch", "--cpu", "--num_machines", "1", "--num_processes", "4",
                       "-m", "wrapper.train.cross_encoder", "--config", "c.yml"]),
])
def test_launch_argv(n, launcher, expect):
    argv = cross_encoder_argv(["--config", "c.yml"], num_processes=n, launcher=launcher, python="py", gpu=False)
    assert argv == ["py", *expect]
    gpu = cross_encoder_argv(["x"], num_processes=2, launcher="accelerate", python="py", gpu=True)
    assert "--multi_gpu" in gpu and "--cpu" not in gpu


def test_build_train_rows_for_each_loss():
    records = [{"query": "q1", "pos": ["p1"], "neg": ["n1", "n2", "n3"]},
               {"query": "q2", "pos": ["p2"], "neg": ["m1", "m2"]},
               {"query": "q3", "pos": ["p3"], "neg": []},
               {"query": "q4", "pos": ["p4"], "neg": ["o1", "o2"]}]
    bce = build_train_rows(records, "bce", num_negatives=2)
    assert bce["label"].count(1.0) == 4 and bce["label"].count(0.0) == 6  # n3 capped away
    mnrl = build_train_rows(records, "mnrl", num_negatives=4)
    # 3/4 of queries have >= 2 negatives -> k = 2; q3 is topped up with other queries' passages
    assert set(mnrl) == {"query", "positive", "negative_1", "negative_2"} and len(mnrl["query"]) == 4
    topped_up = {mnrl["negative_1"][2], mnrl["negative_2"][2]}
    assert len(topped_up) == 2 and topped_up <= {"p1", "p2", "p4"}
    lw = build_train_rows(records, "listwise", num_negatives=2)
    assert lw["docs"][0] == ["p1", "n1", "n2"] and lw["labels"][0] == [1.0, 0.0, 0.0]


# ------------------------------------------------------------- status and reconcile

def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_reconcile_marks_a_run_with_a_dead_wrapper_interrupted_and_stops_its_children(tmp_path):
    run_dir = tmp_path / "r1"
    run_dir.mkdir()
    child = subprocess.Popen(["sleep", "60"], cwd=run_dir, start_new_session=True)
    runmod.write_status(run_dir, run_id="r1", state="running", wrapper_pid=_dead_pid(), pid=child.pid)
    status = runmod.Run.load(run_dir).status
    assert status["state"] == "interrupted" and "ended without finishing" in status["cause"]
    assert read_json(run_dir / "status.json")["state"] == "interrupted"
    assert child.wait(timeout=10) == -signal.SIGKILL


def test_reconcile_leaves_live_and_finished_runs_alone(tmp_path):
    live = tmp_path / "live"
    live.mkdir()
    runmod.write_status(live, state="running", wrapper_pid=os.getpid())
    assert runmod.Run.load(live).status["state"] == "running"
    done = tmp_path / "done"
    done.mkdir()
    runmod.write_status(done, state="succeeded", wrapper_pid=_dead_pid())
    assert runmod.Run.load(done).status["state"] == "succeeded"


def test_reconcile_never_kills_an_unrelated_process_with_a_recycled_pid(tmp_path):
    run_dir = tmp_path / "r2"
    run_dir.mkdir()
    stranger = subprocess.Popen(["sleep", "60"], cwd=tmp_path, start_new_session=True)  # cwd outside the run
    try:
        runmod.write_status(run_dir, state="running", wrapper_pid=_dead_pid(), pid=stranger.pid)
        assert runmod.Run.load(run_dir).status["state"] == "interrupted"
        time.sleep(0.2)
        assert stranger.poll() is None
    finally:
        stranger.kill()
        stranger.wait()


# ------------------------------------------------------------------- supervision

FAKE_TRAINER = textwrap.dedent("""
    import sys, time
    print("AUTORERANK_TOTAL_STEPS 3", flush=True)
    for step in (1, 2, 3):
        print('AUTORERANK_METRICS {"step": %d, "loss": %.1f, "epoch": %.2f}' % (step, 1.0 / step, step / 3), flush=True)
    print("warming up", file=sys.stderr, flush=True)
    if len(sys.argv) > 1 and sys.argv[1] == "fail":
        raise ValueError("the data is bad")
    if len(sys.argv) > 1 and sys.argv[1] == "hang":
        import subprocess
        subprocess.Popen(["sleep", "120"])  # a grandchild, like accelerate -> trainer
        time.sleep(120)
""")


def test_supervise_writes_logs_metrics_and_pid(tmp_path):
    (tmp_path / "status.json").write_text("{}")
    parser = LogParser()
    out = supervise([sys.executable, "-c", FAKE_TRAINER], run_dir=tmp_path, env=dict(os.environ),
                    parser=parser, progress=False)
    assert out.exit_code == 0 and not out.interrupted
    metrics = read_jsonl(tmp_path / "metrics.jsonl")
    assert [m["step"] for m in metrics] == [1, 2, 3] and metrics[-1]["loss"] == pytest.approx(1 / 3, abs=0.05)
    assert "warming up" in (tmp_path / "stderr.log").read_text()
    assert "AUTORERANK_TOTAL_STEPS 3" in (tmp_path / "stdout.log").read_text()
    assert read_json(tmp_path / "status.json")["pid"] > 0
    assert not (tmp_path / "pid").exists()  # removed when the child is gone


def test_supervise_reports_the_last_exception_of_a_crashing_child(tmp_path):
    (tmp_path / "status.json").write_text("{}")
    parser = LogParser()
    out = supervise([sys.executable, "-c", FAKE_TRAINER, "fail"], run_dir=tmp_path, env=dict(os.environ),
                    parser=parser, progress=False)
    assert out.exit_code == 1
    assert parser.cause == "ValueError: the data is bad"


WRAPPER = textwrap.dedent("""
    import os, sys
    from pathlib import Path
    from wrapper.train.logparse import LogParser
    from wrapper.train.supervise import supervise
    run_dir = Path(sys.argv[1])
    out = supervise([sys.executable, "-c", sys.argv[2], "hang"], run_dir=run_dir, env=dict(os.environ),
                    parser=LogParser(), progress=False)
    print("OUTCOME", out.interrupted, out.signal_name, flush=True)
""")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_to_the_wrapper_stops_the_whole_child_tree(tmp_path, sig):
    (tmp_path / "status.json").write_text("{}")
    wrapper = subprocess.Popen([sys.executable, "-c", WRAPPER, str(tmp_path), FAKE_TRAINER],
                               stdout=subprocess.PIPE, text=True)
    deadline = time.time() + 30
    while not (tmp_path / "pid").exists() or "warming up" not in (tmp_path / "stderr.log").read_text():
        assert time.time() < deadline, "child never started"
        time.sleep(0.1)
    child_pid = int((tmp_path / "pid").read_text())
    time.sleep(0.3)  # let the grandchild start
    wrapper.send_signal(sig)
    out, _ = wrapper.communicate(timeout=30)
    assert f"OUTCOME True {sig.name}" in out
    assert not group_alive(child_pid), "a process of the child's group survived"


# ------------------------------------------------------------ refused before a run

@pytest.fixture
def tiny_configs(isolated_home):
    from conftest import write_tiny_dataset
    from wrapper.config import render_config

    dataset = write_tiny_dataset(Path("data") / "tiny", n_queries=12)
    return {
        "st": render_config(dataset, base_model="bundled", name="u-st"),
        "hub": render_config(dataset, base_model="bundled", name="u-hub", hub_username="alice"),
    }


def test_num_processes_is_refused_for_autotrain_tasks(tiny_configs):
    from wrapper.errors import InputError
    from wrapper.train import train_run

    with pytest.raises(InputError, match="(?s)launches on every visible GPU.*CUDA_VISIBLE_DEVICES"):
        train_run(tiny_configs["st"], num_processes=2, progress=False)
    assert not Path(os.environ["AUTORERANK_RUNS"]).exists()  # nothing started, no half run folder


def test_push_to_hub_without_a_token_is_refused_up_front(tiny_configs):
    from wrapper.errors import InputError
    from wrapper.train import train_run

    with pytest.raises(InputError, match=r"push_to_hub is true but \$HF_TOKEN is not set"):
        train_run(tiny_configs["hub"], progress=False)


def test_a_run_refused_after_its_folder_exists_still_says_why_in_status_json(tiny_configs, run_cli, tmp_path):
    """build_command fails (no AutoTrain env) after resolve made the run folder: status.json says failed + why."""
    from wrapper.run import Run

    code, _, err = run_cli("train", tiny_configs["st"], "--run-id", "no-env", "--no-gate", "--no-progress",
                           "--autotrain-env", tmp_path / "no-such-env")
    assert code == 2 and "no AutoTrain environment here" in err and "Traceback" not in err
    status = Run.load(runs_dir() / "no-env", reconcile=False).status
    assert status["state"] == "failed" and status["run_id"] == "no-env" and status["backend"] == "autotrain"
    assert status["cause"].startswith("could not build the training command: ") and "no-such-env" in status["cause"]
    assert status["ended_at"] and status["model"] is None and status["task"] == "st:triplet"


def test_cli_train_reports_a_bad_config_as_one_line(tiny_configs, run_cli):
    Path("broken.yml").write_text("task: st:triplet\nbase_model: x\n", encoding="utf-8")
    code, out, err = run_cli("train", "broken.yml", "--no-progress")
    assert code == 2
    assert "missing required key 'project_name'" in err and "Traceback" not in err


def test_progress_bar_shows_step_total_epoch_loss_and_last_eval_metric(capsys):
    from wrapper.train.supervise import _Progress

    bar = _Progress(True, None, "st:triplet")
    bar.update({"step": 4, "loss": 0.5, "epoch": 0.4}, total=10)
    bar.update({"step": 10, "eval_loss": 1.2, "eval_cosine_accuracy": 0.875, "eval_runtime": 3.0, "epoch": 1.0}, 10)
    assert (bar.bar.n, bar.bar.total) == (10, 10)
    assert bar.postfix == {"epoch": "1.00", "loss": "0.5000", "cosine_accuracy": "0.8750"}
    bar.close()
    assert "10/10" in capsys.readouterr().err
