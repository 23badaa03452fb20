"""The studio (`dashboards/studio.py`) driven through `streamlit.testing.v1.AppTest`: every page opens,
its key widgets are there, bad input shows prepare's own message; no model is loaded here.

The app works in the test's folder (the autouse `isolated_home` fixture: data/, runs/, results/).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import run_app

from wrapper.studio import jobs

ENTRY = Path(__file__).resolve().parents[1] / "dashboards" / "studio.py"
SAMPLE = Path(__file__).resolve().parents[1] / "data" / "raw" / "sample" / "pairs.csv"
TIMEOUT = 60
PAGES = {
    "studio_pages/data.py": "Data",
    "studio_pages/train.py": "Train",
    "studio_pages/evaluate.py": "Evaluate",
    "studio_pages/playground.py": "Playground",
    "leaderboard_pages/overview.py": "Reranker leaderboard",
    "leaderboard_pages/compare.py": "Fine-tuned vs base",
    "leaderboard_pages/model.py": "Model details",
}


def app(page: str | None = None):
    return run_app(ENTRY, page, TIMEOUT)


def ok(at) -> None:
    assert not at.exception, [e.value for e in at.exception]


def errors(at) -> list[str]:
    return [str(e.value) for e in at.error]


def prepared(root: Path, name: str = "sample") -> Path:
    """A real prepared dataset (prepare, in process, no mining: fast)."""
    from wrapper.prepare import PrepareOptions, prepare

    out = root / "data" / name
    prepare([SAMPLE], out, PrepareOptions(mine=False, progress=False))
    return out


def finished(job: jobs.Job, timeout: float = 60) -> jobs.Job:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        current = jobs.load(job.id)
        if current.exit_code is not None:
            return current
        time.sleep(0.1)
    raise AssertionError(jobs.log_text(job))


@pytest.mark.parametrize("page, title", PAGES.items())
def test_every_page_opens_on_an_empty_project(isolated_home, page, title):
    at = app(page)
    assert title in at.title[0].value
    assert not errors(at)


def test_data_page_detects_and_previews_a_typed_path(isolated_home):
    at = app()
    assert at.text_input(key="source_path") and at.button(key="use_path")
    at.text_input(key="source_path").set_value(str(SAMPLE)).run()
    at.button(key="use_path").click().run()
    ok(at)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["File kind"] == "csv" and metrics["Format"] == "pairs"
    assert metrics["Columns used"] == "query=query, passage=passage, label=label"
    preview = at.dataframe[0].value
    assert list(preview.columns) == ["query", "passage", "label"] and len(preview) == 5
    assert at.selectbox(key=f"format::{SAMPLE}").value == "pairs"
    assert at.selectbox(key=f"col_query::{SAMPLE}").value == "query"
    assert at.selectbox(key=f"col_neg::{SAMPLE}").value == "(auto)"
    for key in ("opt_val_ratio", "opt_test_ratio", "opt_num_negatives", "opt_label_threshold", "opt_seed"):
        assert at.number_input(key=key) is not None
    assert at.toggle(key="opt_mine").value is True
    assert "Share of queries held out" in at.number_input(key="opt_val_ratio").help  # prepare's own help text
    assert at.text_input(key=f"name::{SAMPLE}").value == "pairs"
    assert at.button(key="run_prepare")


def test_group_by_and_corpus_reach_the_prepare_command_line(isolated_home):
    at = app()
    at.text_input(key="source_path").set_value(str(SAMPLE)).run()
    at.button(key="use_path").click().run()
    assert at.selectbox(key="opt_group_by").options[:4] == ["none", "passage", "article", "query"]
    at.selectbox(key="opt_group_by").set_value("query").run()
    at.text_input(key="opt_corpus").set_value(f"{SAMPLE}").run()
    at.toggle(key="opt_mine").set_value(False).run()
    at.button(key="run_prepare").click().run()
    ok(at)
    job = jobs.latest("prepare")
    assert job is not None
    argv = job.argv
    assert argv[argv.index("--group-by") + 1] == "query" and argv[argv.index("--corpus") + 1] == str(SAMPLE)
    assert finished(job).exit_code == 0, Path(job.log).read_text()[-800:]


@pytest.mark.parametrize("content, message", [
    ("a,b\n1,2\n", "cannot tell the format from the columns; columns found: 'a', 'b'"),
    ('{"query": "q", "pos": ["p"]\n', "line 1: the JSON on this line is truncated"),
    ("", "the file is empty"),
])
def test_a_bad_file_shows_prepares_message(isolated_home, content, message):
    bad = isolated_home / ("bad.jsonl" if content.startswith("{") else "bad.csv")
    bad.write_text(content, encoding="utf-8")
    at = app()
    at.text_input(key="source_path").set_value(str(bad)).run()
    at.button(key="use_path").click().run()
    ok(at)
    shown = errors(at)
    assert len(shown) == 1 and shown[0].startswith(str(bad)) and message in shown[0], shown
    assert "Traceback" not in shown[0]


def test_a_missing_path_is_refused(isolated_home):
    at = app()
    at.text_input(key="source_path").set_value("no/such/file.csv").run()
    at.button(key="use_path").click().run()
    ok(at)
    assert any("no such file or folder" in e for e in errors(at))


def test_a_column_mapping_changes_what_prepare_reads(isolated_home):
    path = isolated_home / "qa.csv"
    path.write_text("question_text,answer_text\nhow do I reset it?,Click reset.\n", encoding="utf-8")
    at = app()
    at.text_input(key="source_path").set_value(str(path)).run()
    at.button(key="use_path").click().run()
    assert any("cannot tell the format" in e for e in errors(at))
    assert "run_prepare" not in [b.key for b in at.button]  # nothing to prepare until the columns are named
    at.selectbox(key=f"format::{path}").set_value("positives").run()
    at.selectbox(key=f"col_query::{path}").set_value("question_text").run()
    at.selectbox(key=f"col_pos::{path}").set_value("answer_text").run()
    ok(at)
    assert not errors(at)
    assert {m.label: m.value for m in at.metric}["Columns used"] == "query=question_text, pos=answer_text"
    assert at.button(key="run_prepare")


def test_data_page_reattaches_to_a_finished_prepare_job(isolated_home):
    from wrapper.studio import data

    out = isolated_home / "data" / "sample"
    job = finished(jobs.start("prepare", data.prepare_argv([SAMPLE], out, options={"mine": False}),
                              meta={"out": str(out), "source": str(SAMPLE)}), timeout=120)
    assert job.state == "succeeded"
    at = app()  # a fresh session: the page finds the newest prepare job by itself
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Rows read"] == "472" and metrics["Rows skipped"] == "0"
    frames = [d.value for d in at.dataframe]
    splits = next(f for f in frames if "split" in f.columns)
    assert set(splits["split"]) >= {"train", "validation"}
    assert any("prepared 'sample'" in c.value for c in at.code)
    triplets = next(f for f in frames if "first negative" in f.columns)
    assert len(triplets) == 5 and triplets["query"].str.len().min() > 0
    assert any(s.value.startswith("Prepared") for s in at.success)


def test_data_page_shows_a_failed_jobs_message(isolated_home):
    from wrapper.studio import data

    bad = isolated_home / "bad.csv"
    bad.write_text("a,b\n1,2\n", encoding="utf-8")
    finished(jobs.start("prepare", data.prepare_argv([bad], "data/bad"), meta={"out": "data/bad"}))
    at = app()
    assert any(e.startswith(f"{bad}: cannot tell the format") and "hint:" in e for e in errors(at))


def test_train_page_renders_the_config_before_launch(isolated_home):
    prepared(isolated_home)
    at = app("studio_pages/train.py")
    assert at.selectbox(key="train_dataset").value == "data/sample"
    assert at.selectbox(key="train_base").value == "bundled"
    from wrapper.config import TASKS
    from wrapper.studio.training import RECOMMENDED

    assert at.selectbox(key="train_task").options == [RECOMMENDED, *TASKS]
    assert "task: st:triplet" in at.code[0].value  # what `config` picks for an embedding model
    assert any("**st:triplet**" in c.value and "not a reranker" in c.value for c in at.caption)
    # the run's size on this machine, before launch: all-MiniLM-L6-v2 has 22.7M parameters
    assert any("parameters: 22.7M" in m.value and "per epoch" in m.value for m in at.markdown), \
        [m.value for m in at.markdown]
    at.selectbox(key="train_task").set_value("cross-encoder:bce").run()
    ok(at)
    key = "bundled|cross-encoder:bce"
    assert at.number_input(key=f"p_lr|{key}").value == pytest.approx(1e-4)  # the bundled preset
    at.number_input(key=f"p_max_steps|{key}").set_value(4).run()
    at.number_input(key=f"p_max_seq_length|{key}").set_value(64).run()
    yaml_text = at.code[0].value
    assert "task: cross-encoder:bce" in yaml_text and "max_steps: 4" in yaml_text and "max_seq_length: 64" in yaml_text
    assert "# Train: autorerank train autotrain_configs/sample-minilm-ce-bce.yml" in yaml_text
    assert not (isolated_home / "autotrain_configs").exists()  # shown, not written
    assert at.button(key="start_train") and at.button(key="start_ui") and at.toggle(key="train_general")


def test_train_page_shows_a_runs_curves_and_verdict(isolated_home):
    run_dir = isolated_home / "runs" / "20261204-000000-sample"
    run_dir.mkdir(parents=True)
    gate = {"verdict": "regressed", "metric": "map_at_1000", "base": 0.70, "fine_tuned": 0.61, "delta": -0.09,
            "ci": [-0.15, -0.03], "advice": "lower the learning rate"}
    (run_dir / "status.json").write_text(json.dumps({
        "run_id": run_dir.name, "state": "succeeded", "task": "cross-encoder:bce", "steps": {"done": 4, "total": 4},
        "model": str(run_dir / "model"), "gate": gate}))
    (run_dir / "metrics.jsonl").write_text("".join(
        json.dumps({"step": s, "epoch": s / 4, "loss": 0.7 - s / 10, "learning_rate": 1e-4}) + "\n" for s in (1, 2, 3, 4)))
    finished(jobs.start("train", [sys.executable, "-c", "pass"],
                        meta={"run_id": run_dir.name, "run_dir": str(run_dir)}))
    at = app("studio_pages/train.py")
    assert any(f"training run {run_dir.name}" in m.value for m in at.markdown)
    shown = errors(at)
    assert any("Gate verdict: REGRESSED" in e and "Advice: lower the learning rate" in e for e in shown), shown
    assert at.get("vega_lite_chart") or at.get("arrow_vega_lite_chart")
    assert not at.warning  # the chart rendered


def test_evaluate_and_playground_offer_runs_and_held_out_queries(isolated_home):
    prepared(isolated_home)
    at = app("studio_pages/evaluate.py")
    assert at.multiselect(key="eval_models").options == ["bundled"]
    assert at.selectbox(key="eval_split").value == "validation" and at.button(key="run_eval")
    at = app("studio_pages/playground.py")
    at.button(key="pg_use_query").click().run()
    ok(at)
    query = at.text_input(key="pg_query").value
    passages = at.text_area(key="pg_passages").value.splitlines()
    assert query and len(passages) >= 2
    at.text_input(key="pg_query").set_value("  ").run()
    at.button(key="pg_rank").click().run()  # checked before any model loads
    ok(at)
    assert any("no query typed" in e for e in errors(at))
