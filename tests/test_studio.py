"""The studio's library (`wrapper.studio`): uploads stay in data/raw/uploads/, typed paths, prepare's
detection, jobs as real child processes (log, exit code, stop, re-attach), argv, the playground's table."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from wrapper.errors import InputError
from wrapper.studio import data, jobs, playground, serve, training

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "raw" / "sample" / "pairs.csv"


def wait(job: jobs.Job, timeout: float = 60) -> jobs.Job:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        current = jobs.load(job.id)
        if current is not None and current.exit_code is not None:
            return current
        time.sleep(0.1)
    raise AssertionError(f"job {job.id} still running after {timeout} s:\n{jobs.log_text(job)}")


# --------------------------------------------------------------------------- uploads and paths
@pytest.mark.parametrize("name, stored", [
    ("../../x.jsonl", "x.jsonl"),
    ("/etc/passwd", "passwd"),
    ("..\\..\\win.csv", "win.csv"),
    ("my pairs (1).csv", "my_pairs_1_.csv"),
    (".hidden.csv", "hidden.csv"),
])
def test_uploads_land_only_in_the_uploads_folder(isolated_home, name, stored):
    path = data.save_upload(name, b"query,passage,label\nq,p,1\n")
    assert path == (isolated_home / "data" / "raw" / "uploads" / stored).resolve()
    assert path.read_bytes().startswith(b"query,")
    written = [p for p in isolated_home.rglob("*") if p.is_file()]
    assert written == [path]  # nothing anywhere else (no temp file left either)


@pytest.mark.parametrize("name", ["..", "../", "", "///"])
def test_unusable_upload_names_are_refused(isolated_home, name):
    with pytest.raises(InputError, match="not a usable file name"):
        data.save_upload(name, b"x")
    assert not (isolated_home / "data").exists()


def test_typed_paths_must_exist_and_be_readable(isolated_home):
    assert data.check_path(f"  {SAMPLE}  ") == SAMPLE
    with pytest.raises(InputError, match="no such file or folder"):
        data.check_path("nope/missing.csv")
    with pytest.raises(InputError, match="no path given"):
        data.check_path("   ")


# --------------------------------------------------------------------------- prepare's detection
def test_inspect_uses_prepares_detection():
    view = data.inspect_source(SAMPLE)
    assert (view.kind, view.format) == ("csv", "pairs")
    assert view.mapping == {"query": "query", "passage": "passage", "label": "label"}
    assert len(view.rows) == data.PREVIEW_ROWS and view.rows[0]["label"] == "2"


def test_inspect_with_a_column_mapping(isolated_home):
    path = isolated_home / "qa.csv"
    path.write_text("question_text,answer_text\nhow do I reset it?,Click reset.\n", encoding="utf-8")
    with pytest.raises(InputError, match="cannot tell the format"):
        data.inspect_source(path)
    view = data.inspect_source(path, fmt="positives", columns={"query": "question_text", "pos": "answer_text"})
    assert view.mapping == {"query": "question_text", "pos": "answer_text"}


@pytest.mark.parametrize("content, message", [
    (b"", "the file is empty"),
    (b'{"query": "a", "pos": ["b"]\n', "line 1: the JSON on this line is truncated"),
    (b"\x00\x01\x02binary", "binary file"),
])
def test_bad_files_raise_prepares_own_message(isolated_home, content, message):
    path = isolated_home / "bad.jsonl"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message):
        data.inspect_source(path)


def test_prepare_argv_passes_group_by_and_each_corpus_file():
    argv = data.prepare_argv([SAMPLE], "data/x", options={"group_by": "passage", "corpus": ["a.jsonl", "b.csv"]})
    assert argv[4:] == [str(SAMPLE), "--out", "data/x", "--group-by", "passage",
                        "--corpus", "a.jsonl", "--corpus", "b.csv"]
    plain = data.prepare_argv([SAMPLE], "data/x", options={"group_by": "none", "corpus": []})
    assert "--group-by" not in plain and "--corpus" not in plain


def test_inspect_notes_a_json_file_holding_json_lines(tmp_path):
    src = tmp_path / "dev.json"
    src.write_text('{"query": "q1", "passage": "p1", "label": 1}\n{"query": "q2", "passage": "p2", "label": 0}\n')
    view = data.inspect_source(src)
    assert view.format == "pairs" and any("JSON Lines" in n for n in view.notes), view.notes


def test_prepare_argv_flags_only_what_changed():
    argv = data.prepare_argv([SAMPLE], "data/x", columns={"query": "q"},
                             options={"mine": False, "val_ratio": 0.2, "seed": 42, "label_threshold": None})
    assert argv[:4] == [sys.executable, "-m", "wrapper", "prepare"]
    assert argv[4:] == [str(SAMPLE), "--out", "data/x", "--query-col", "q", "--no-mine", "--val-ratio", "0.2"]
    help_ = data.option_help()
    assert help_["val_ratio"]["default"] == 0.1 and "validation" in help_["val_ratio"]["help"]
    assert data.dataset_name("my pairs.csv.gz") == "my_pairs"


# --------------------------------------------------------------------------- jobs
def test_job_records_log_and_exit_code(isolated_home):
    job = jobs.start("eval", [sys.executable, "-c", "import sys; print('hello'); sys.exit(0)"], meta={"model": "m"})
    done = wait(job)
    assert done.state == "succeeded" and done.exit_code == 0 and "hello" in jobs.log_text(done)
    assert jobs.latest("eval", model="m").id == job.id and jobs.latest("eval", model="other") is None
    assert Path(done.log).parent == isolated_home / ".autorerank" / "studio" / "jobs"


def test_a_failed_prepare_job_shows_prepares_message(isolated_home):
    bad = isolated_home / "bad.csv"
    bad.write_text("a,b\n1,2\n", encoding="utf-8")
    done = wait(jobs.start("prepare", data.prepare_argv([bad], "data/bad"), meta={"out": "data/bad"}))
    assert done.state == "failed" and done.exit_code == 2
    text = jobs.error_text(done)
    assert text.startswith(f"{bad}: cannot tell the format from the columns") and "hint:" in text
    assert "Traceback" not in jobs.log_text(done)


def test_a_prepare_job_writes_the_dataset(isolated_home):
    out = isolated_home / "data" / "sample"
    done = wait(jobs.start("prepare", data.prepare_argv([SAMPLE], out, options={"mine": False})), timeout=120)
    assert done.state == "succeeded", jobs.log_text(done)
    [info] = data.datasets(isolated_home / "data")
    facts = data.manifest_facts(info.manifest)
    assert facts["rows_read"] == 472 and facts["rows_used"] + facts["rows_skipped"] == 472
    assert {row["split"] for row in facts["splits"]} >= {"train", "validation"}
    assert "prepared 'sample'" in data.summary(info)
    sample = data.sample_triplets(out, 3)
    assert len(sample) == 3 and all(row["query"] and row["positive"] for row in sample)


def test_stop_ends_the_tree_and_a_reload_reattaches(isolated_home):
    import psutil

    code = "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); time.sleep(60)"
    job = jobs.start("train", [sys.executable, "-c", code], meta={"run_id": "r1"})
    deadline = time.monotonic() + 20
    while len(psutil.Process(job.pid).children()) < 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    child = psutil.Process(job.pid).children()[0]
    jobs._LIVE.pop(job.id)  # as after a studio restart: only the record is left
    again = jobs.latest("train", run_id="r1")
    assert again.id == job.id and again.running
    jobs.stop(again, grace=2)
    assert not child.is_running() or child.status() == psutil.STATUS_ZOMBIE
    assert jobs.load(job.id).state == "stopped"


def test_progress_reads_the_last_tqdm_bar(isolated_home):
    code = ("import sys; sys.stderr.write('Batches:  20%|##   | 1/5 [00:01]\\rBatches:  60%|###  | 3/5 [00:02]\\n'); "
            "print('writing: 100%|#####| 4/4')")
    done = wait(jobs.start("prepare", [sys.executable, "-c", code]))
    assert jobs.progress(done) == ("writing", 1.0)
    assert "20%" not in jobs.log_text(done)  # carriage-return redraws collapse to their last state


# --------------------------------------------------------------------------- train / eval choices
def test_train_choices_come_from_the_config_module(isolated_home):
    from wrapper.config import TASKS

    assert training.tasks() == list(TASKS) and "cross-encoder:bce" in TASKS and "flagembedding:reranker" in TASKS
    preset = training.preset_params("bundled", "cross-encoder:bce")
    assert preset["preset"] == "bundled" and preset["lr"] == 1e-4 and preset["max_steps"] is None
    assert training.config_name("data/sample", "bundled", "cross-encoder:bce") == "sample-minilm-ce-bce"
    argv = training.train_argv("autotrain_configs/x.yml", "r1", general=False)
    assert argv[3:] == ["train", "autotrain_configs/x.yml", "--run-id", "r1", "--no-progress", "--no-general"]
    assert training.eval_argv("r1", "data/s")[3:] == ["eval", "r1", "--dataset", "data/s", "--split", "validation"]
    assert training.eval_argv("r1", "data/s", "test", tasks=" T2Reranking, local,cmteb-rerank ", mteb_data=" ~/m ")[3:] == [
        "eval", "r1", "--dataset", "data/s", "--split", "test", "--tasks", "local,T2Reranking,cmteb-rerank",
        "--mteb-data", str(Path.home() / "m")]
    assert training.ui_argv()[3:] == ["ui", "--port", "8080", "--host", "127.0.0.1"]


def test_verdict_words():
    level, text = training.verdict_words({"verdict": "regressed", "metric": "map_at_1000", "base": 0.7, "fine_tuned": 0.6,
                                          "delta": -0.1, "ci": [-0.2, -0.05], "advice": "lower the lr"})
    assert level == "error" and "REGRESSED" in text and "-0.2000..-0.0500" in text and "Advice: lower the lr" in text
    assert training.verdict_words({"verdict": "improved"})[0] == "success"


# --------------------------------------------------------------------------- playground and serving
def test_playground_table_says_what_moved():
    passages = playground.passages_from_text("a\n\n b \na\nc\n")
    assert passages == ["a", "b", "c"]
    base = playground.Ranking("base", [0.9, 0.5, 0.1])
    tuned = playground.Ranking("ft", [0.2, 0.5, 0.8])
    rows = playground.compare([base, tuned], passages, positives={"c"})
    assert [r["passage"] for r in rows] == ["c", "b", "a"]  # in the fine-tune's order
    assert rows[0]["moved (ft)"] == "▲ 2" and rows[1]["moved (ft)"] == "=" and rows[2]["moved (ft)"] == "▼ 2"
    assert rows[0]["relevant"] and rows[0]["base rank"] == 3 and rows[0]["ft score"] == 0.8
    assert playground.top_changes([base, tuned]) == 2
    with pytest.raises(InputError, match="no query"):
        playground.check_inputs(" ", passages)


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.5", "::", "example.com"])
def test_studio_refuses_non_loopback_hosts(host, run_cli):
    code, _, err = run_cli("studio", "--host", host, "--port", "8599")
    assert code == 2 and "not a loopback address" in err


def test_streamlit_argv_binds_loopback():
    argv = serve.streamlit_argv("localhost", 8600)
    assert argv[argv.index("--server.address") + 1] == "127.0.0.1"
    assert argv[argv.index("--server.port") + 1] == "8600" and argv[argv.index("run") + 1].endswith("dashboards/studio.py")
