"""`bench.reuse` and `bench.quality`: a stored benchmark row is reused only when nothing it
depends on changed, and every row says whether it was measured now or reused, and when."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from bench import quality, quality_report
from bench.reuse import Ledger, code_version, digest, row_key

CODE = {"source_sha256": "s1", "packages": {"torch": "2.13.0"}, "git_commit": "abc"}


def test_row_key_covers_inputs_source_and_packages_but_not_the_commit_label():
    key = row_key("scifact: train cross-encoder", {"lr": 1e-4, "data": "k1"}, CODE)
    assert key == row_key("scifact: train cross-encoder", {"data": "k1", "lr": 1e-4}, dict(CODE, git_commit="other"))
    changed = [
        row_key("scifact: train cross-encoder", {"lr": 2e-4, "data": "k1"}, CODE),  # a training parameter
        row_key("scifact: train cross-encoder", {"lr": 1e-4, "data": "k2"}, CODE),  # the rows it builds on
        row_key("scifact: train cross-encoder", {"lr": 1e-4, "data": "k1"}, dict(CODE, source_sha256="s2")),
        row_key("scifact: train cross-encoder", {"lr": 1e-4, "data": "k1"}, dict(CODE, packages={"torch": "2.14"})),
        row_key("cmrc2018: train cross-encoder", {"lr": 1e-4, "data": "k1"}, CODE),
    ]
    assert key not in changed and len(set(changed)) == len(changed)


def test_code_version_follows_the_package_source(tmp_path):
    src = tmp_path / "wrapper"
    (src / "train").mkdir(parents=True)
    (src / "train" / "core.py").write_text("LR = 1e-4\n")
    first = code_version(src)
    assert first == code_version(src)
    (src / "train" / "core.py").write_text("LR = 2e-4\n")  # "changed training code"
    assert code_version(src)["source_sha256"] != first["source_sha256"]
    assert "sentence-transformers" in first["packages"]


def test_digest_sees_content_and_names(tmp_path):
    folder = tmp_path / "beir"
    (folder / "qrels").mkdir(parents=True)
    (folder / "qrels" / "train.tsv").write_text("q\td\t1\n")
    before = digest(folder)
    (folder / "qrels" / "train.tsv").write_text("q\td\t0\n")
    assert digest(folder) != before
    with pytest.raises(FileNotFoundError, match="nothing to digest"):
        digest(tmp_path / "missing")


def test_ledger_reuses_until_an_input_code_or_output_changes(tmp_path):
    calls = []
    out = tmp_path / "runs" / "q-run"

    def measure():
        calls.append(1)
        out.mkdir(parents=True)  # fails if the ledger did not clear the old outputs first
        (out / "model.bin").write_text(str(len(calls)))
        return {"map": 0.1 * len(calls)}

    lines = []
    ledger = Ledger(tmp_path / "rows", code=CODE, log=lines.append)
    first = ledger.row("train", {"lr": 1e-4}, measure, outputs=(out,))
    assert (first.reused, first.result, len(calls)) == (False, {"map": 0.1}, 1)
    assert lines[-1].startswith("train: measured now (")

    again = Ledger(tmp_path / "rows", code=CODE, log=lines.append).row("train", {"lr": 1e-4}, measure, outputs=(out,))
    assert (again.reused, again.result, again.measured_at, len(calls)) == (True, {"map": 0.1}, first.measured_at, 1)
    assert lines[-1] == f"train: reused (measured {first.measured_at[:10]} {first.measured_at[11:19]} UTC, {first.seconds} s)"
    assert again.provenance()["status"] == "reused"

    assert Ledger(tmp_path / "rows", code=CODE).row("train", {"lr": 2e-4}, measure, outputs=(out,)).reused is False
    assert len(calls) == 2 and (out / "model.bin").read_text() == "2"
    new_code = dict(CODE, source_sha256="changed")
    assert Ledger(tmp_path / "rows", code=new_code).row("train", {"lr": 2e-4}, measure, outputs=(out,)).reused is False
    assert len(calls) == 3
    import shutil

    shutil.rmtree(out)  # the run folder is gone: its stored numbers describe nothing that exists
    assert Ledger(tmp_path / "rows", code=new_code).row("train", {"lr": 2e-4}, measure, outputs=(out,)).reused is False
    assert len(calls) == 4
    ledger = Ledger(tmp_path / "rows", code=new_code)
    ledger.forget()
    assert ledger.row("train", {"lr": 2e-4}, measure, outputs=(out,)).reused is False


def _prepared(tmp_path: Path) -> Path:
    from bench.bench_train import write_dataset

    return write_dataset(tmp_path / "data" / "tiny-train", n_queries=12)


def test_changing_a_training_parameter_rekeys_only_that_trainers_row(tmp_path):
    """The train row's inputs are the rendered config: every parameter, default or not, is in the key."""
    train_dir = _prepared(tmp_path)
    plan = quality.Plan("tiny", train_dir, "beir", train_dir, "beir", corpus_texts=[])
    ledger = Ledger(tmp_path / "rows", code=CODE)
    upstream = ledger.row("tiny: prepare train", {"x": 1}, lambda: {})

    def keys(p):
        return {label: quality._train_inputs(p, label, upstream, train_dir, tmp_path)[1] for label in quality.TRAINERS}

    before = keys(plan)
    assert before == keys(plan)
    after = keys(dataclasses.replace(plan, ce_lr=3e-4))
    assert after["cross-encoder"] != before["cross-encoder"]
    assert after["autotrain-bi-encoder"] == before["autotrain-bi-encoder"]
    assert keys(dataclasses.replace(plan, triplet_epochs=2))["autotrain-bi-encoder"] != before["autotrain-bi-encoder"]


def test_markdown_says_which_rows_were_reused_and_when():
    results = {"setting": "s", "datasets": {"tiny": {"dev_queries": 3, "candidates_per_query": 4.0, "models": {
        "bm25": {"map": 0.5, "mrr_at_10": 0.5, "ndcg_at_10": 0.5,
                 "provenance": {"status": "measured now", "measured_at": "2026-12-02T19:00:00Z", "seconds": 0.1}},
        "fine-tuned cross-encoder": {
            "map": 0.6, "mrr_at_10": 0.6, "ndcg_at_10": 0.6, "steps": 2, "train_wall_s": 9.0, "gate": {"verdict": "improved"},
            "provenance": {"status": "reused", "measured_at": "2026-12-01T10:00:00Z", "seconds": 1.0},
            "trained": {"status": "reused", "measured_at": "2026-12-01T09:58:00Z", "seconds": 9.0}}}}},
        "rows": [{"row": "tiny: train cross-encoder", "status": "reused", "measured_at": "2026-12-01T09:58:00Z",
                  "seconds": 9.0}]}
    text = quality_report.markdown(results)
    assert "| bm25 | 0.500 | 0.500 | 0.500 |  |  | now |" in text
    assert "| 2 steps, 9.0 s | improved | reused (measured 2026-12-01 09:58:00 UTC) |" in text
    assert "| tiny: train cross-encoder | reused | 2026-12-01T09:58:00Z | 9.0 |" in text
    [row] = quality.headline(results | {"datasets": {"tiny": results["datasets"]["tiny"] | {"models": {
        **results["datasets"]["tiny"]["models"], "base bi-encoder": {"map": 0.5}}}}})
    assert "trained 2026-12-01T09:58:00Z, reused" in row["figure"]


def test_gate_column_and_out_of_domain_table_come_from_the_gates_general_checks():
    gate = {"verdict": "forgot", "delta": 0.05, "ci": [0.01, 0.09], "general": [
        {"name": "scifact-dev", "base": 0.6, "fine_tuned": 0.33, "delta": -0.27, "ci": [-0.33, -0.21],
         "queries": 150, "verdict": "forgot"}]}
    assert quality_report._gate_text(gate) == "forgot (+0.050 [+0.010, +0.090]); scifact-dev: forgot (-0.270 [-0.330, -0.210])"
    results = {"datasets": {"cmrc2018": {"models": {"fine-tuned cross-encoder": {"gate": gate}},
                                         "merged": {"cross-encoder": {"gate": {**gate, "general": [
                                             {**gate["general"][0], "fine_tuned": 0.5, "delta": -0.1}]}}}}}}
    ood = quality_report.out_of_domain(results)
    row = ood["cmrc2018-trained on scifact-dev"]
    assert row["base bi-encoder"] == 0.6
    assert (row["cross-encoder"]["map"], row["cross-encoder"]["verdict"]) == (0.33, "forgot")
    assert row["cross-encoder merged"]["map"] == 0.5


@pytest.mark.slow
def test_quality_twice_reuses_every_row_and_a_changed_parameter_remeasures_its_rows(tmp_path, shared_datasets,
                                                                                     monkeypatch, capsys):
    """The real tiny path: prepare (mining), the base model, a cross-encoder run, its gate and evaluation."""
    from bench.quality_inputs import beir_subset, read_jsonl

    sub = beir_subset(shared_datasets / "scifact", tmp_path / "in", n_train=8, n_dev=6, extra_docs=30)
    plan = quality.Plan("tiny", sub, "beir", sub, "beir", [d["text"] for d in read_jsonl(sub / "corpus.jsonl")],
                        train_split="train", dev_split="dev", ce_steps=2, ce_batch=4)
    monkeypatch.setitem(quality.__dict__, "TRAINERS", {"cross-encoder": quality.TRAINERS["cross-encoder"]})
    monkeypatch.setitem(quality.__dict__, "FROM_RERANKER", {})
    out = tmp_path / "bench"
    code = code_version()  # pinned: neighbours editing wrapper/ meanwhile would (rightly) re-measure everything

    quality.run(out=out, plans=[plan], code=code)
    first = json.loads((out / "full" / "quality.json").read_text())["rows"]
    assert {r["status"] for r in first} == {"measured now"}
    capsys.readouterr()

    quality.run(out=out, plans=[plan], code=code)
    second = json.loads((out / "full" / "quality.json").read_text())["rows"]
    assert [(r["row"], r["status"], r["measured_at"]) for r in second] == [
        (r["row"], "reused", r["measured_at"]) for r in first]
    assert "measured now" not in (out / "full" / "quality.md").read_text()
    assert capsys.readouterr().err.count("reused (measured") == len(first)

    quality.run(out=out, plans=[dataclasses.replace(plan, ce_lr=5e-5)], code=code)
    third = {r["row"]: r["status"] for r in json.loads((out / "full" / "quality.json").read_text())["rows"]}
    remeasured = {"tiny: train cross-encoder", "tiny: gate cross-encoder", "tiny: evaluate cross-encoder"}
    assert {row for row, status in third.items() if status == "measured now"} == remeasured


def test_only_selects_datasets_and_single_trainers():
    from bench.quality import parse_only

    assert parse_only(None) is None
    assert parse_only("scifact") == {"scifact": None}
    chosen = parse_only(["scifact", "cmrc2018:flagembedding", "cmrc2018:cross-encoder"])
    assert chosen == {"scifact": None, "cmrc2018": {"flagembedding", "cross-encoder"}}
    # a whole dataset wins over one of its trainers, in either order
    assert parse_only(["cmrc2018:flagembedding", "cmrc2018"]) == {"cmrc2018": None}
    assert parse_only(["cmrc2018", "cmrc2018:flagembedding"]) == {"cmrc2018": None}
    with pytest.raises(SystemExit, match="unknown trainer 'nope'"):
        parse_only(["scifact:nope"])


def test_a_fine_tune_from_a_reranker_base_is_gated_and_merged_against_that_reranker(tmp_path, shared_datasets,
                                                                                    monkeypatch):
    """FROM_RERANKER: the source cross-encoder is the base of the next fine-tune, its gate and its merge."""
    from bench.quality_inputs import beir_subset, read_jsonl

    sub = beir_subset(shared_datasets / "scifact", tmp_path / "in", n_train=8, n_dev=6, extra_docs=30)
    plan = quality.Plan("tiny", sub, "beir", sub, "beir", [d["text"] for d in read_jsonl(sub / "corpus.jsonl")],
                        train_split="train", dev_split="dev", ce_steps=2, ce_batch=4)
    monkeypatch.setitem(quality.__dict__, "TRAINERS", {"cross-encoder": quality.TRAINERS["cross-encoder"]})
    monkeypatch.setitem(quality.__dict__, "FROM_RERANKER",
                        {("tiny", "ce from ce"): ("tiny", "cross-encoder", "cross-encoder")})
    out = tmp_path / "bench"
    results = quality.run(quick=True, out=out, plans=[plan], only=["tiny:ce from ce"], code=code_version())

    entry = results["datasets"]["tiny"]
    assert [m for m in entry["models"] if m.startswith("fine-tuned")] == []  # --only: no other trainer ran
    chained = entry["from_reranker"]["ce from ce"]
    runs = out / "quick" / "runs"
    status = json.loads((runs / "q-tiny-ce-from-ce" / "status.json").read_text())
    assert status["state"] == "succeeded"
    assert Path(status["base_model"]) == (runs / "q-tiny-cross-encoder" / "model").resolve()
    merged = json.loads((runs / chained["merged"]["run_id"] / "status.json").read_text())
    assert merged["backend"] == "merge" and len(merged["sources"]) == 2
    assert not any("no classification head" in n for n in merged["merge_notes"])  # two rerankers: all mixed
    assert chained["fine_tuned"]["gate"]["verdict"] and chained["merged"]["gate"]["verdict"]
    assert 0.0 <= chained["merged"]["weight"] <= 1.0 and chained["merged"]["curve"]
    text = (out / "quick" / "quality.md").read_text()
    assert "*tiny: ce from ce* (base: the tiny cross-encoder" in text and "merge --auto curve, tiny ce from ce" in text
