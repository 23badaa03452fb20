"""`autorerank eval`: tasks, model resolution, results layout, skip, atomic writes.

Real components throughout: the bundled all-MiniLM-L6-v2 (as a bi-encoder and as
a freshly headed CrossEncoder), real mteb, real files. Nothing is mocked except
the Hub, which is switched off by conftest (HF_HUB_OFFLINE=1) so "no Hub" is real.
"""

from __future__ import annotations

from wrapper.settings import RESULTS_METADATA

import json
import os
from pathlib import Path

import pytest

from conftest import EN_ROWS, write_dataset, write_run
from wrapper.errors import InputError, Interrupted, RunFailed
from wrapper.evaluate import tasks as T
from wrapper.evaluate.models import BI_ENCODER, CROSS_ENCODER, detect_kind, resolve_model

@pytest.fixture
def tiny_dataset(isolated_home) -> Path:
    return write_dataset(isolated_home)


def test_kind_detection(bundled_model_path, ce_folder, tmp_path):
    assert detect_kind(bundled_model_path) == BI_ENCODER
    assert detect_kind(ce_folder) == CROSS_ENCODER
    hf = tmp_path / "hf-reranker"
    hf.mkdir()
    (hf / "config.json").write_text(json.dumps({"architectures": ["XLMRobertaForSequenceClassification"]}))
    assert detect_kind(hf) == CROSS_ENCODER
    with pytest.raises(InputError, match="not a model folder"):
        detect_kind(tmp_path)


def test_names_and_revisions_are_unique(bundled_model_path, ce_folder):
    bundled = resolve_model("bundled")
    assert bundled.name == "sentence-transformers/all-MiniLM-L6-v2" and len(bundled.revision) == 12
    assert resolve_model(str(bundled_model_path)).revision == bundled.revision
    ce = resolve_model(str(ce_folder))
    assert ce.name == "local/minilm-ce" and ce.kind == CROSS_ENCODER
    assert ce.revision != bundled.revision


def test_run_id_resolves_to_model_and_base(isolated_home, ce_folder, tiny_dataset, bundled_model_path):
    write_run(isolated_home, "20261123-000000-tiny-ce", ce_folder, tiny_dataset, str(bundled_model_path))
    from wrapper.evaluate.models import base_model_ref

    ref = resolve_model("20261123-000000-tiny-ce")
    assert (ref.name, ref.kind, ref.role, ref.run_id) == (
        "autorerank/20261123-000000-tiny-ce", CROSS_ENCODER, "fine-tune", "20261123-000000-tiny-ce")
    assert ref.path == ce_folder and ref.dataset == str(tiny_dataset)
    base = base_model_ref(ref)
    assert (base.name, base.kind, base.role) == ("sentence-transformers/all-MiniLM-L6-v2", BI_ENCODER, "base")


def test_unfinished_run_and_unknown_model_are_input_errors(isolated_home, tiny_dataset):
    write_run(isolated_home, "r-failed", None, tiny_dataset, "bundled", state="failed")
    with pytest.raises(InputError, match=r"status.json, column 'state': run r-failed is 'failed'"):
        resolve_model("r-failed")
    with pytest.raises(InputError, match="not a run id, a model folder"):
        resolve_model("no-such-thing")
    with pytest.raises(InputError, match="cannot fetch this Hub model"):
        resolve_model("nobody/no-such-model-xyz")


@pytest.mark.slow
def test_bi_and_cross_encoder_results_load_with_resultcache(isolated_home, tiny_dataset, ce_folder):
    import mteb

    from wrapper.evaluate import evaluate

    results = isolated_home / "results"
    bi = evaluate("bundled", datasets=[tiny_dataset], show_progress=False)
    ce = evaluate(str(ce_folder), datasets=[tiny_dataset], show_progress=False)
    [bi_row], [ce_row] = bi.rows, ce.rows
    assert bi_row["kind"] == BI_ENCODER and ce_row["kind"] == CROSS_ENCODER
    assert bi_row["task"] == "AutoRerank-tiny-validation" and bi_row["main_score_name"] == "map_at_1000"
    assert set(bi_row["scores"]) == {"map_at_1000", "mrr_at_10", "ndcg_at_10"}
    # the pretrained bi-encoder ranks these easy candidates well; the untrained head does not
    assert bi_row["main_score"] > 0.9
    assert bi_row["main_score"] > ce_row["main_score"]

    cache = mteb.ResultCache(results)
    loaded = cache.load_results(tasks=["AutoRerank-tiny-validation"])
    by_name = {(m.model_name, m.model_revision): m for m in loaded.model_results}
    assert set(by_name) == {(bi_row["model_name"], bi_row["revision"]), (ce_row["model_name"], ce_row["revision"])}
    stored = by_name[(ce_row["model_name"], ce_row["revision"])].task_results[0]
    assert stored.scores["validation"][0]["map_at_1000"] == pytest.approx(ce_row["main_score"], abs=1e-6)

    from wrapper.evaluate.results import load_mteb_results

    everything = load_mteb_results(results)  # all tasks
    # mteb's own reader, untouched, reads the folder: our metadata sits in a subfolder
    bare = mteb.ResultCache(results).load_results(include_remote=False)
    assert {(m.model_name, m.model_revision) for m in bare.model_results} == set(by_name)
    assert {(m.model_name, m.model_revision) for m in everything.model_results} == set(by_name)

    folder = Path(ce_row["result_file"]).parent
    assert sorted(p.name for p in folder.iterdir()) == [
        "AutoRerank-tiny-validation.json", "autorerank", "model_meta.json", "run_settings.jsonl"]
    meta = json.loads((folder / RESULTS_METADATA).read_text())
    entry = meta["tasks"]["AutoRerank-tiny-validation"]
    assert (meta["kind"], meta["role"], meta["model_name"]) == (CROSS_ENCODER, "external", "local/minilm-ce")
    assert entry["dataset_hash"] == "sha-tiny" and entry["mteb_version"] == mteb.__version__
    assert entry["languages"] == ["eng"] and entry["precision"] == "fp32" and entry["batch_size"] == 32
    assert entry["main_score"] == pytest.approx(ce_row["main_score"]) and entry["wall_time_s"] > 0
    assert json.loads((folder / "model_meta.json").read_text())["name"] == "local/minilm-ce"
    assert not list(results.glob(".autorerank-staging-*"))


@pytest.mark.slow
def test_second_run_is_skipped_unless_overwrite(isolated_home, tiny_dataset, monkeypatch):
    import wrapper.evaluate as ev
    from wrapper.evaluate import evaluate

    first = evaluate("bundled", datasets=[tiny_dataset], show_progress=False)
    path = Path(first.rows[0]["result_file"])
    mtime = path.stat().st_mtime_ns
    meta_mtime = (path.parent / RESULTS_METADATA).stat().st_mtime_ns
    with monkeypatch.context() as m:  # a skipped task loads no model and scores nothing (bench_eval times it)
        m.setattr(ev, "load", lambda *a, **k: pytest.fail("the model was loaded for an evaluated checkpoint"))
        m.setattr(ev, "_run_mteb", lambda *a, **k: pytest.fail("mteb ran for an evaluated checkpoint"))
        again = evaluate("bundled", datasets=[tiny_dataset], show_progress=False)
    assert again.rows[0]["skipped"] is True and again.rows[0]["main_score"] == first.rows[0]["main_score"]
    assert path.stat().st_mtime_ns == mtime
    assert (path.parent / RESULTS_METADATA).stat().st_mtime_ns == meta_mtime  # the leaderboard caches on mtime
    assert "(cached)" in again.table()
    redo = evaluate("bundled", datasets=[tiny_dataset], overwrite=True, show_progress=False)
    assert redo.rows[0]["skipped"] is False and path.stat().st_mtime_ns != mtime

    # changed data under the same dataset name is not "already evaluated"
    rows = [dict(EN_ROWS[0], negative=EN_ROWS[0]["negative"][:1])] + EN_ROWS[1:]
    write_dataset(isolated_home, rows=rows)
    changed = evaluate("bundled", datasets=[tiny_dataset], show_progress=False)
    assert changed.rows[0]["skipped"] is False


@pytest.mark.slow
def test_interrupted_write_leaves_no_partial_file(isolated_home, tiny_dataset, monkeypatch):
    from mteb.results import TaskResult

    from wrapper.evaluate import evaluate

    first = evaluate("bundled", datasets=[tiny_dataset], show_progress=False)
    path = Path(first.rows[0]["result_file"])
    before = path.read_bytes()

    real_to_disk = TaskResult.to_disk

    def torn_to_disk(self, target):
        real_to_disk(self, target)
        data = Path(target).read_bytes()
        Path(target).write_bytes(data[: len(data) // 2])  # half a file on disk ...
        raise KeyboardInterrupt  # ... and then the user hits Ctrl-C

    monkeypatch.setattr(TaskResult, "to_disk", torn_to_disk)
    with pytest.raises(Interrupted, match="nothing half-written"):
        evaluate("bundled", datasets=[tiny_dataset], overwrite=True, show_progress=False)
    assert path.read_bytes() == before  # the old complete result is untouched
    json.loads(path.read_text())

    other = write_dataset(isolated_home, name="other")
    with pytest.raises(Interrupted):
        evaluate("bundled", datasets=[other], show_progress=False)
    assert not (path.parent / "AutoRerank-other-validation.json").exists()
    assert not list((isolated_home / "results").glob(".autorerank-staging-*"))

    def failing_to_disk(self, target):
        Path(target).write_text('{"task_name": "AutoRe')
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(TaskResult, "to_disk", failing_to_disk)
    with pytest.raises(RunFailed, match="cannot write its result.*No space left"):
        evaluate("bundled", datasets=[other], show_progress=False)
    assert not (path.parent / "AutoRerank-other-validation.json").exists()


@pytest.mark.slow
def test_run_id_evaluates_fine_tune_and_base(isolated_home, tiny_dataset, ce_folder, bundled_model_path):
    from wrapper.evaluate import evaluate

    # the base was evaluated on its own before (role "external"): reused, and now marked as a base
    evaluate("bundled", datasets=[tiny_dataset], show_progress=False)
    write_run(isolated_home, "20261123-000000-tiny-ce", ce_folder, tiny_dataset, str(bundled_model_path))
    report = evaluate("20261123-000000-tiny-ce", show_progress=False)  # the run's own dataset by default
    roles = {r["role"]: r for r in report.rows}
    assert set(roles) == {"fine-tune", "base"}
    assert roles["base"]["skipped"] and not roles["fine-tune"]["skipped"]
    assert roles["fine-tune"]["model_name"] == "autorerank/20261123-000000-tiny-ce"
    assert roles["base"]["model_name"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert roles["base"]["kind"] == BI_ENCODER
    table = report.table()
    delta = roles["fine-tune"]["main_score"] - roles["base"]["main_score"]
    assert "delta" in table and f"{delta:+.4f}" in table
    fine_meta = json.loads((Path(roles["fine-tune"]["result_file"]).parent / RESULTS_METADATA).read_text())
    assert fine_meta["run_id"] == "20261123-000000-tiny-ce" and fine_meta["role"] == "fine-tune"
    assert fine_meta["base_model_name"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert fine_meta["base_model_revision"] == roles["base"]["revision"]
    base_meta = json.loads((Path(roles["base"]["result_file"]).parent / RESULTS_METADATA).read_text())
    assert base_meta["role"] == "base"

    no_base = evaluate("20261123-000000-tiny-ce", include_base=False, show_progress=False)
    assert [r["role"] for r in no_base.rows] == ["fine-tune"] and no_base.rows[0]["skipped"]


@pytest.mark.slow
def test_cli_eval_prints_table_and_errors_cleanly(isolated_home, tiny_dataset, run_cli):
    code, out, err = run_cli("eval", "bundled", "--dataset", tiny_dataset)
    assert code == 0, err
    assert "AutoRerank-tiny-validation" in out and "map_at_1000" in out and "1 evaluated" in out
    assert (isolated_home / "results" / "results" / "sentence-transformers__all-MiniLM-L6-v2").is_dir()
    code, out, err = run_cli("eval", "bundled", "--dataset", tiny_dataset)
    assert code == 0 and "already in" in out
    code, out, err = run_cli("eval", "bundled", "--tasks", "T2Reranking")
    assert code == 2 and "--mteb-data" in err and "Traceback" not in err
    code, out, err = run_cli("eval", "bundled")
    assert code == 2 and "nothing to evaluate" in err
    code, out, err = run_cli("eval", "--list-tasks")
    assert code == 0 and "cmteb-rerank" in out and "T2RerankingZh2En" in out


@pytest.mark.slow
def test_length_sorted_cross_encoder_scores_like_mteb(isolated_home, tiny_dataset, ce_folder):
    """Our one-call scoring path gives mteb's own CrossEncoderWrapper numbers, to the 6th digit."""
    import mteb
    from mteb.models.sentence_transformer_wrapper import CrossEncoderWrapper
    from sentence_transformers import CrossEncoder

    from wrapper.evaluate import evaluate

    [ours] = evaluate(str(ce_folder), datasets=[tiny_dataset], show_progress=False).rows
    [spec] = T.resolve_task_specs(None, [tiny_dataset])
    plain = mteb.evaluate(CrossEncoderWrapper(CrossEncoder(str(ce_folder))), spec.build(), cache=None,
                          co2_tracker=False, show_progress_bar=False)
    theirs = plain.task_results[0].scores["validation"][0]
    for name in ("map_at_1000", "mrr_at_10", "ndcg_at_10"):
        assert ours["scores"][name] == pytest.approx(theirs[name], abs=1e-6)


def test_changed_weights_get_a_new_revision(tmp_path, ce_folder):
    import shutil

    copy = tmp_path / "minilm-ce"
    shutil.copytree(ce_folder, copy)
    before = resolve_model(str(copy)).revision
    assert before == resolve_model(str(ce_folder)).revision  # same bytes, same revision
    with open(copy / "model.safetensors", "ab") as fh:  # "retrained": other bytes in the same folder
        fh.write(b"\0")
    assert resolve_model(str(copy)).revision != before


@pytest.mark.slow
def test_ctrl_c_during_scoring_saves_nothing_for_that_task(isolated_home, tiny_dataset, ce_folder, monkeypatch):
    from sentence_transformers import CrossEncoder

    from wrapper.evaluate import evaluate

    def interrupted_predict(self, *args, **kwargs):
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(CrossEncoder, "predict", interrupted_predict)
        with pytest.raises(Interrupted, match="interrupted during AutoRerank-tiny-validation.*run the same command again"):
            evaluate(str(ce_folder), datasets=[tiny_dataset], show_progress=False)
    assert not list(isolated_home.rglob("AutoRerank-tiny-validation.json"))  # no result, anywhere
    # and nothing else stored that would pass for a finished evaluation: the same command scores it now
    again = evaluate(str(ce_folder), datasets=[tiny_dataset], show_progress=False)
    assert again.rows[0]["skipped"] is False
    assert Path(again.rows[0]["result_file"]).is_relative_to(isolated_home / "results")


def test_checkpoint_inside_a_run_is_named_after_it(isolated_home, ce_folder, tiny_dataset, bundled_model_path):
    import shutil

    run = write_run(isolated_home, "r1", ce_folder, tiny_dataset, str(bundled_model_path))
    checkpoint = run / "checkpoint-5"
    shutil.copytree(ce_folder, checkpoint)
    ref = resolve_model(str(checkpoint))
    assert (ref.name, ref.role, ref.run_id) == ("autorerank/r1-checkpoint-5", "fine-tune", "r1")
    assert ref.base_model == str(bundled_model_path) and ref.dataset == str(tiny_dataset)


def test_run_whose_dataset_is_gone_names_status_json(isolated_home, ce_folder, bundled_model_path):
    from wrapper.evaluate import evaluate

    write_run(isolated_home, "r2", ce_folder, isolated_home / "data" / "gone", str(bundled_model_path))
    with pytest.raises(InputError, match=r"r2/status.json, column 'dataset': the run's dataset .*gone.* is not there"
                                         r"(.|\n)*--dataset"):
        evaluate("r2")


def test_stale_staging_folders_are_cleaned_fresh_ones_kept(tmp_path):
    from wrapper.evaluate.results import STAGING_PREFIX, clean_staging

    old, live = tmp_path / f"{STAGING_PREFIX}old", tmp_path / f"{STAGING_PREFIX}live"
    old.mkdir()
    live.mkdir()
    os.utime(old, (0, 0))
    clean_staging(tmp_path)
    assert not old.exists() and live.exists()  # a live evaluation in another process keeps its folder
