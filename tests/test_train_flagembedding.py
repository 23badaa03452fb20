"""The flagembedding:reranker backend: FlagEmbedding 1.4.2's encoder-only reranker fine-tune.

Fast tests: the argv and environment built for a run, the log parser on the lines
FlagEmbedding's Trainer and torchrun really print. Slow tests (marked): a tiny real run
from the CLI on the bundled MiniLM (a dozen queries, 3 steps) that loads as a
sentence-transformers CrossEncoder and as a FlagReranker, is gated and evaluated; and
failure injection (a missing base model, a broken train file) ending as failed with
the cause.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path

import pytest
import yaml

from conftest import TINY_NEG, TINY_POS, TINY_QUERY, runs_dir, write_tiny_dataset
from wrapper.config import render_config
from wrapper.errors import InputError, RunFailed
from wrapper.jsonio import read_json, read_jsonl
from wrapper.train import build_command, resolve, train_run
from wrapper.train.flagembedding import MODULE, FlagEmbeddingLogParser

@pytest.fixture
def dataset(isolated_home) -> Path:
    # 20 queries: 12 to train on (5 negatives each), 8 in eval/validation.jsonl for the gate
    return write_tiny_dataset(Path("data") / "tiny", n_queries=20, val_queries=8)


def _config(dataset: Path, name: str = "tiny-fe", **params) -> Path:
    settings = dict(max_steps=3, batch_size=4, train_group_size=3, query_max_len=24, passage_max_len=40,
                    logging_steps=1)
    settings.update(params)
    return render_config(dataset, base_model="bundled", name=name, task="flagembedding:reranker", **settings)


# ------------------------------------------------------------------------------ fast


def test_the_command_is_flagembeddings_module_under_torchrun_without_a_token(dataset, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_" + "x" * 30)
    run = resolve(_config(dataset, warmup_steps=2, distill=False))
    cmd = build_command(run)
    argv = cmd.argv
    assert argv[1:8] == ["-m", "torch.distributed.run", "--standalone", "--nnodes", "1", "--nproc_per_node", "1"]
    assert argv[8:10] == ["-m", MODULE]
    args = dict(zip(argv[10::2], argv[11::2]))
    assert args["--train_data"] == str(dataset.resolve() / "flagembedding" / "train.jsonl")
    assert args["--output_dir"] == str(run.run_dir / "model") and cmd.model_dir == run.run_dir / "model"
    assert (args["--train_group_size"], args["--max_steps"], args["--per_device_train_batch_size"]) == ("3", "3", "4")
    assert (args["--query_max_len"], args["--passage_max_len"], args["--warmup_steps"]) == ("24", "40", "2")
    assert args["--save_strategy"] == "no" and args["--report_to"] == "none"
    assert "--knowledge_distillation" not in argv and "--fp16" not in argv
    assert "HF_TOKEN" not in cmd.env and cmd.env["HF_HUB_OFFLINE"] == "1"
    assert cmd.total_steps == 3 and isinstance(cmd.parser, FlagEmbeddingLogParser)


def test_total_steps_follow_rows_batch_and_processes_without_max_steps(dataset):
    run = resolve(_config(dataset, max_steps=None, epochs=2, batch_size=5), num_processes=2)
    cmd = build_command(run)
    assert cmd.argv[cmd.argv.index("--nproc_per_node") + 1] == "2"
    assert cmd.argv[cmd.argv.index("--max_steps") + 1] == "-1"
    # FlagEmbedding reshapes by the batch size: the short last batch is dropped (12 queries, 5 x 2 a step)
    assert cmd.argv[cmd.argv.index("--dataloader_drop_last") + 1] == "True"
    assert cmd.total_steps == (12 // (5 * 2)) * 2
    run = resolve(_config(dataset, name="too-big", max_steps=None, batch_size=7), num_processes=2)
    with pytest.raises(InputError, match=r"12 training queries, fewer than one full batch \(7 per process x 2"):
        build_command(run)


def test_distill_passes_knowledge_distillation_when_the_file_has_teacher_scores(dataset):
    train = dataset / "flagembedding" / "train.jsonl"
    records = [json.loads(line) for line in train.read_text().splitlines()]
    train.write_text("".join(json.dumps({**r, "pos_scores": [2.0], "neg_scores": [0.5] * len(r["neg"])}) + "\n"
                             for r in records))
    cmd = build_command(resolve(_config(dataset, distill=True)))
    assert cmd.argv[cmd.argv.index("--knowledge_distillation") + 1] == "True"


def test_mixed_precision_on_a_machine_without_a_gpu_is_refused(dataset):
    config = _config(dataset)
    raw = yaml.safe_load(config.read_text())
    raw["params"]["fp16"] = True
    config.write_text(yaml.safe_dump(raw))
    with pytest.raises(InputError, match="params.fp16 is true but this machine has no CUDA GPU"):
        build_command(resolve(config))


def test_the_parser_reads_the_trainers_dict_lines_and_the_step_total():
    parser = FlagEmbeddingLogParser(total_steps=None, epochs=1, logging_steps=2)
    assert parser.feed("[transformers]   Total optimization steps = 5\n") is None
    assert parser.total_steps == 5
    first = parser.feed("{'loss': '1.382', 'grad_norm': '1.128', 'learning_rate': '0.0001', 'epoch': '0.4'}\n")
    assert first == {"step": 2, "loss": 1.382, "grad_norm": 1.128, "learning_rate": 0.0001, "epoch": 0.4}
    second = parser.feed("{'loss': '1.2', 'grad_norm': '1.1', 'learning_rate': '5e-05', 'epoch': '0.8'}\n")
    assert second["step"] == 4 and second["learning_rate"] == 5e-05
    summary = parser.feed("{'train_runtime': '45.11', 'train_steps_per_second': '0.133', 'train_loss': '1.369', "
                          "'epoch': '1'}\n")
    assert summary["step"] == 5 and summary["train_loss"] == 1.369 and parser.last_step == 5
    assert parser.feed("12/02/2026 18:42:26 - INFO - FlagEmbedding - Config: {'a': 1}\n") is None


def test_the_cause_is_the_trainers_chained_exception_not_torchruns():
    parser = FlagEmbeddingLogParser(train_file=Path("data/x/flagembedding/train.jsonl"))
    lines = [
        "12/02/2026 - INFO - FlagEmbedding.abc.finetune.reranker.AbsDataset -   loading data from x ...",
        "[rank0]: Traceback (most recent call last):",
        "[rank0]: ValueError: Trailing data at position 574",
        "[rank0]: ",
        "[rank0]: During handling of the above exception, another exception occurred:",
        "[rank0]: ",
        "[rank0]: Traceback (most recent call last):",
        '[rank0]:   File "json.py", line 1, in _generate_tables',
        "[rank0]: pyarrow.lib.ArrowInvalid: JSON parse error: Invalid value. in row 1",
        "[rank0]: ",
        "[rank0]: The above exception was the direct cause of the following exception:",
        "[rank0]: ",
        "[rank0]: Traceback (most recent call last):",
        "[rank0]: datasets.exceptions.DatasetGenerationError: An error occurred while generating the dataset",
        "Traceback (most recent call last):",
        "torch.distributed.elastic.multiprocessing.errors.ChildFailedError: ",
    ]
    for line in lines:
        parser.feed(line + "\n")
    assert parser.cause == ("datasets.exceptions.DatasetGenerationError: An error occurred while generating the "
                            "dataset (caused by ValueError: Trailing data at position 574; "
                            "pyarrow.lib.ArrowInvalid: JSON parse error: Invalid value. in row 1)"
                            "; while reading the train file data/x/flagembedding/train.jsonl")


# ------------------------------------------------------------------------------ slow


@pytest.mark.slow
def test_a_tiny_real_run_from_the_cli_loads_both_ways_is_gated_and_evaluated(dataset, run_cli):
    config = _config(dataset)
    code, out, err = run_cli("train", config, "--run-id", "fe", "--no-gate", "--no-progress")
    assert code == 0, err
    run_dir = runs_dir() / "fe"
    status = read_json(run_dir / "status.json")
    assert status["state"] == "succeeded" and status["backend"] == "flagembedding"
    assert status["kind"] == "cross-encoder" and status["task"] == "flagembedding:reranker"
    assert status["model"] == str(run_dir / "model") and status["steps"] == {"done": 3, "total": 3}
    assert MODULE in status["argv"]
    metrics = read_jsonl(run_dir / "metrics.jsonl")
    assert [m["step"] for m in metrics if "loss" in m] == [1, 2, 3]
    assert all(math.isfinite(m["loss"]) for m in metrics if "loss" in m)
    assert metrics[-1]["step"] == 3 and "train_loss" in metrics[-1]
    assert "hf_" not in (run_dir / "stderr.log").read_text()

    from FlagEmbedding import FlagReranker
    from sentence_transformers import CrossEncoder

    ce = CrossEncoder(status["model"], device="cpu")
    ce_scores = [float(s) for s in ce.predict([(TINY_QUERY, TINY_POS), (TINY_QUERY, TINY_NEG)])]
    flag = FlagReranker(status["model"], use_fp16=False, devices="cpu")
    raw = flag.compute_score([[TINY_QUERY, TINY_POS], [TINY_QUERY, TINY_NEG]])
    # the same one-logit model: CrossEncoder applies a sigmoid to FlagReranker's raw logit
    assert ce_scores == pytest.approx([1 / (1 + math.exp(-r)) for r in raw], abs=1e-4)
    assert ce_scores[0] != pytest.approx(ce_scores[1], abs=1e-6)

    from wrapper.gate import check_run

    result = check_run(run_dir, general=[])
    gate = read_json(run_dir / "status.json")["gate"]
    assert gate["verdict"] == result.verdict
    assert gate["verdict"] in {"improved", "no_better", "regressed", "collapsed", "inconclusive", "forgot"}
    assert gate["fine_tuned"] is not None and gate["base"] is not None

    code, out, err = run_cli("eval", "fe", "--no-base")
    assert code == 0, err
    results = Path(os.environ["AUTORERANK_RESULTS"])
    assert any(results.rglob("*.json")), "eval wrote no results"


@pytest.mark.slow
def test_a_missing_base_model_ends_as_failed_with_the_cause(dataset, bundled_model_path, tmp_path):
    base = tmp_path / "base-copy"
    shutil.copytree(bundled_model_path, base)
    config = render_config(dataset, base_model=str(base), name="tiny-nobase", task="flagembedding:reranker",
                           max_steps=1, batch_size=2, train_group_size=2)
    for item in base.iterdir():  # the folder stays (the config resolves), its model is gone
        shutil.rmtree(item) if item.is_dir() else item.unlink()
    with pytest.raises(RunFailed, match="ValueError: Couldn't instantiate the backend tokenizer"):
        train_run(config, run_id="nobase", progress=False)
    status = read_json(runs_dir() / "nobase" / "status.json")
    assert status["state"] == "failed" and status["model"] is None and status["exit_code"] != 0
    # the trainer's own exception, never torchrun's wrapper around it
    assert status["cause"].startswith("ValueError: Couldn't instantiate") and "ChildFailedError" not in status["cause"]


def test_a_base_model_folder_that_is_gone_is_refused_before_the_run(dataset, bundled_model_path, tmp_path, run_cli):
    base = tmp_path / "base-copy"
    shutil.copytree(bundled_model_path, base)
    config = render_config(dataset, base_model=str(base), name="tiny-gone", task="flagembedding:reranker",
                           max_steps=1, batch_size=2, train_group_size=2)
    shutil.rmtree(base)
    code, _, err = run_cli("train", config, "--run-id", "gone", "--no-gate")
    assert code == 2 and "column 'base_model'" in err and "base-copy' looks like a local path" in err
    assert not (runs_dir() / "gone").exists()


@pytest.mark.slow
def test_a_broken_train_file_ends_as_failed_naming_the_file(dataset):
    config = _config(dataset, name="tiny-broken")
    train = dataset / "flagembedding" / "train.jsonl"
    first = train.read_text().splitlines()[0]
    # the config check reads the first record only; enough lines for one batch of 4
    train.write_text(first + "\n" + "{not json\n" + (first + "\n") * 4)
    with pytest.raises(RunFailed) as info:
        train_run(config, run_id="broken", progress=False)
    status = read_json(runs_dir() / "broken" / "status.json")
    assert status["state"] == "failed" and status["model"] is None
    assert "JSON parse error" in status["cause"] and str(train.resolve()) in status["cause"]
    assert "ChildFailedError" not in status["cause"]
    assert status["cause"] in str(info.value)
    assert not (runs_dir() / "broken" / "model" / "model.safetensors").exists()


# A CLI whose SIGINT raises KeyboardInterrupt even when pytest runs as a background job.
CLI = ("import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
       "from wrapper.cli import main; main(sys.argv[1:])")


@pytest.mark.slow
def test_ctrl_c_mid_training_ends_interrupted_with_no_process_left(dataset):
    import signal
    import subprocess
    import sys
    import time

    import psutil

    config = _config(dataset, name="tiny-stop", max_steps=5000)
    run_dir = runs_dir() / "stop"
    cli = subprocess.Popen([sys.executable, "-c", CLI, "train", str(config), "--run-id", "stop", "--no-gate",
                            "--no-progress"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 300
        while not (run_dir / "metrics.jsonl").exists():  # FlagEmbedding is logging training steps
            assert cli.poll() is None, cli.communicate()[1][-3000:]
            assert time.monotonic() < deadline, "training never started"
            time.sleep(0.2)
        child = read_json(run_dir / "status.json")["pid"]
        cli.send_signal(signal.SIGINT)
        _, err = cli.communicate(timeout=60)
    finally:
        if cli.poll() is None:
            cli.kill()
    assert cli.returncode == 130, err[-3000:]
    status = read_json(run_dir / "status.json")
    assert status["state"] == "interrupted" and status["cause"] == "stopped by SIGINT"
    assert 1 <= status["steps"]["done"] < 5000 and status["pid"] is None
    left = [p for p in psutil.process_iter(["cwd", "status"])
            if (p.info.get("cwd") or "").startswith(str(run_dir)) and p.info.get("status") != psutil.STATUS_ZOMBIE]
    assert not left, "a training process outlived the run"
    with pytest.raises(ProcessLookupError):
        os.killpg(child, 0)
