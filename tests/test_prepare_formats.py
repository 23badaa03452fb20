"""prepare: every input format, format detection, column mapping and the written files.

No model runs here (`mine=False`): these are fast. Mining is tested in
test_prepare_mining.py, real data in test_prepare_integration.py.
"""

from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path

import pytest

from wrapper.prepare import PrepareOptions, prepare
from wrapper.dataset.writer import content_hash

QUERIES = [f"question number {i} about topic {i}" for i in range(12)]


def pos(i: int) -> str:
    return f"the answer passage for topic {i}"


def neg(i: int, j: int = 0) -> str:
    return f"an unrelated passage {j} for topic {i}"


def opts(**kw) -> PrepareOptions:
    kw.setdefault("mine", False)
    kw.setdefault("progress", False)
    return PrepareOptions(**kw)


def write_csv(path: Path, header: list[str] | None, rows: list[list], delimiter: str = ",") -> Path:
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, delimiter=delimiter, lineterminator="\n")
        if header:
            w.writerow(header)
        w.writerows(rows)
    return path


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


def pairs_rows() -> list[list]:
    rows = []
    for i, q in enumerate(QUERIES):
        rows.append([q, pos(i), 1])
        rows.append([q, neg(i, 0), 0])
        rows.append([q, neg(i, 1), 0])
    return rows


def make_source(kind: str, tmp: Path) -> Path:
    """One file per (format, file kind) with the same 12 queries."""
    if kind == "pairs-csv":
        return write_csv(tmp / "pairs.csv", ["query", "passage", "label"], pairs_rows())
    if kind == "pairs-tsv-gz":
        plain = write_csv(tmp / "p.tsv", ["question", "document", "relevance"], pairs_rows(), "\t")
        target = tmp / "pairs.tsv.gz"
        target.write_bytes(gzip.compress(plain.read_bytes()))
        return target
    if kind == "pairs-parquet":
        import pandas as pd

        df = pd.DataFrame(pairs_rows(), columns=["query", "text", "label"])
        df.to_parquet(tmp / "pairs.parquet")
        return tmp / "pairs.parquet"
    if kind == "pairs-json-list":
        recs = [{"query": q, "passage": p, "label": lab} for q, p, lab in pairs_rows()]
        (tmp / "pairs.json").write_text(json.dumps(recs), encoding="utf-8")
        return tmp / "pairs.json"
    if kind == "listwise-jsonl":
        return write_jsonl(tmp / "listwise.jsonl",
                           [{"query": q, "pos": [pos(i)], "neg": [neg(i, 0), neg(i, 1)]} for i, q in enumerate(QUERIES)])
    if kind == "triplets-csv":
        rows = [[q, pos(i), neg(i, j)] for i, q in enumerate(QUERIES) for j in range(2)]
        return write_csv(tmp / "triplets.csv", ["anchor", "positive", "negative"], rows)
    if kind == "triplets-tsv-headerless":
        rows = [[q, pos(i), neg(i, j)] for i, q in enumerate(QUERIES) for j in range(2)]
        return write_csv(tmp / "triples.train.tsv", None, rows, "\t")
    if kind == "positives-jsonl":
        return write_jsonl(tmp / "pos.jsonl", [{"question": q, "answer": pos(i)} for i, q in enumerate(QUERIES)])
    if kind == "squad-json":
        doc = {"data": [{"title": f"t{i}", "paragraphs": [{"context": pos(i), "qas": [{"id": f"id{i}", "question": q}]}]}
                        for i, q in enumerate(QUERIES)]}
        (tmp / "qa.json").write_text(json.dumps(doc), encoding="utf-8")
        return tmp / "qa.json"
    if kind == "beir-folder":
        folder = tmp / "beir"
        (folder / "qrels").mkdir(parents=True)
        docs = [{"_id": f"d{i}", "title": "", "text": pos(i)} for i in range(12)]
        docs += [{"_id": f"n{i}", "title": "", "text": neg(i, 0)} for i in range(12)]
        write_jsonl(folder / "corpus.jsonl", docs)
        write_jsonl(folder / "queries.jsonl", [{"_id": f"q{i}", "text": q} for i, q in enumerate(QUERIES)])
        lines = ["query-id\tcorpus-id\tscore"] + [f"q{i}\td{i}\t1" for i in range(12)] + [f"q{i}\tn{i}\t0" for i in range(12)]
        (folder / "qrels" / "train.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
        return folder
    raise ValueError(kind)


EXPECTED = {
    # kind: (format, rows read, negatives labelled per query)
    "pairs-csv": ("pairs", 36, 2),
    "pairs-tsv-gz": ("pairs", 36, 2),
    "pairs-parquet": ("pairs", 36, 2),
    "pairs-json-list": ("pairs", 36, 2),
    "listwise-jsonl": ("listwise", 12, 2),
    "triplets-csv": ("triplets", 24, 2),
    "triplets-tsv-headerless": ("triplets", 24, 2),
    "positives-jsonl": ("positives", 12, 0),
    "squad-json": ("squad", 12, 0),
    "beir-folder": ("beir", 24, 1),
}


@pytest.mark.parametrize("kind", list(EXPECTED))
def test_every_format_is_detected_and_normalised(kind, tmp_path):
    fmt, rows, negs = EXPECTED[kind]
    source = make_source(kind, tmp_path)
    report = prepare([source], tmp_path / "out", opts())
    m = report.manifest
    assert m["sources"][0]["format"] == fmt
    assert m["counts"]["rows_read"] == rows
    assert m["counts"]["rows_used"] == rows and m["counts"]["rows_skipped"] == 0
    assert m["counts"]["queries"] == 12
    train = [json.loads(line) for line in (tmp_path / "out/flagembedding/train.jsonl").read_text().splitlines()]
    evals = [json.loads(line) for line in (tmp_path / "out/eval/validation.jsonl").read_text().splitlines()]
    for rec in train:
        i = QUERIES.index(rec["query"])
        assert rec["pos"] == [pos(i)]
        assert len(rec["neg"]) == negs
    for rec in evals:
        i = QUERIES.index(rec["query"])
        assert rec["positive"] == [pos(i)] and len(rec["negative"]) == negs
    assert m["has_negatives"] is (negs > 0)


@pytest.mark.parametrize("kind", ["pairs-csv", "listwise-jsonl", "triplets-tsv-headerless", "squad-json", "beir-folder"])
def test_explicit_format_matches_auto(kind, tmp_path):
    fmt = EXPECTED[kind][0]
    source = make_source(kind, tmp_path)
    auto = prepare([source], tmp_path / "auto", opts())
    explicit = prepare([source], tmp_path / "explicit", opts(format=fmt))
    assert (tmp_path / "auto/autotrain/train.csv").read_bytes() == (tmp_path / "explicit/autotrain/train.csv").read_bytes()
    assert auto.manifest["content_hash"] == explicit.manifest["content_hash"]


def test_column_flags_map_any_names(tmp_path):
    rows = [[f"id{k}", q, p, lab] for k, (q, p, lab) in enumerate(pairs_rows())]
    src = write_csv(tmp_path / "odd.csv", ["uid", "Frage", "Antwort", "Relevanz"], rows)
    report = prepare([src], tmp_path / "out", opts(query_col="Frage", passage_col="Antwort", label_col="Relevanz"))
    assert report.manifest["sources"][0]["columns"] == {"query": "Frage", "passage": "Antwort", "label": "Relevanz"}
    assert report.manifest["counts"]["queries"] == 12


def test_graded_labels_use_the_threshold(tmp_path):
    rows = []
    for i, q in enumerate(QUERIES):
        rows += [[q, pos(i), 2], [q, f"partly relevant {i}", 1], [q, neg(i), 0]]
    src = write_csv(tmp_path / "graded.csv", ["query", "passage", "label"], rows)
    default = prepare([src], tmp_path / "a", opts()).manifest
    strict = prepare([src], tmp_path / "b", opts(label_threshold=2)).manifest
    assert default["splits"]["train"]["positives"] == 2 * default["splits"]["train"]["queries"]
    assert strict["splits"]["train"]["positives"] == strict["splits"]["train"]["queries"]
    assert strict["splits"]["train"]["negatives"] == 2 * strict["splits"]["train"]["queries"]


def test_fractional_labels_pick_threshold_one_half(tmp_path):
    rows = []
    for i, q in enumerate(QUERIES):
        rows += [[q, pos(i), 0.9], [q, neg(i), 0.2]]
    src = write_csv(tmp_path / "probs.csv", ["query", "passage", "score"], rows)
    m = prepare([src], tmp_path / "out", opts()).manifest
    assert m["label_threshold"] == 0.5
    assert m["splits"]["train"]["positives"] == m["splits"]["train"]["queries"]


def test_split_is_by_query_seeded_and_order_independent(tmp_path):
    many = [[f"query {i}", f"pos {i}", 1] for i in range(100)] + [[f"query {i}", f"neg {i}", 0] for i in range(100)]
    a = write_csv(tmp_path / "a.csv", ["query", "passage", "label"], many)
    b = write_csv(tmp_path / "b.csv", ["query", "passage", "label"], list(reversed(many)))

    def split_of(out: Path) -> dict[str, set[str]]:
        found = {}
        for name in ("validation", "test"):
            found[name] = {json.loads(line)["query"] for line in (out / f"eval/{name}.jsonl").read_text().splitlines()}
        found["train"] = {json.loads(line)["query"] for line in (out / "flagembedding/train.jsonl").read_text().splitlines()}
        return found

    prepare([a], tmp_path / "o1", opts(val_ratio=0.2, test_ratio=0.1, seed=1))
    prepare([b], tmp_path / "o2", opts(val_ratio=0.2, test_ratio=0.1, seed=1))
    prepare([a], tmp_path / "o3", opts(val_ratio=0.2, test_ratio=0.1, seed=2))
    s1, s2, s3 = split_of(tmp_path / "o1"), split_of(tmp_path / "o2"), split_of(tmp_path / "o3")
    assert [len(s1[k]) for k in ("train", "validation", "test")] == [70, 20, 10]
    assert not (s1["train"] & s1["validation"]) and not (s1["train"] & s1["test"]) and not (s1["validation"] & s1["test"])
    assert s1 == s2  # input order does not matter
    assert s1["validation"] != s3["validation"]  # the seed does


def test_outputs_load_with_datasets_and_match_the_manifest(tmp_path):
    from datasets import load_dataset

    src = make_source("pairs-csv", tmp_path)
    out = tmp_path / "out"
    m = prepare([src], out, opts(test_ratio=0.2)).manifest
    train = load_dataset("csv", data_files=str(out / m["files"]["autotrain_train"]), split="train")
    val = load_dataset("csv", data_files=str(out / m["files"]["autotrain_validation"]), split="train")
    assert train.column_names == ["anchor", "positive", "negative"]
    assert len(train) == m["splits"]["train"]["triplets"] == 2 * m["splits"]["train"]["queries"]
    assert len(val) == m["splits"]["validation"]["triplets"]
    fe = load_dataset("json", data_files=str(out / m["files"]["flagembedding_train"]), split="train")
    assert fe.column_names == ["query", "pos", "neg"]
    for name, rel in m["files"]["eval"].items():
        ds = load_dataset("json", data_files=str(out / rel), split="train")
        assert ds.column_names == ["query_id", "query", "positive", "negative"]
        assert len(ds) == m["splits"][name]["queries"]
    # contract keys other stages rely on
    for key in ("name", "format_version", "splits", "has_negatives", "files", "content_hash"):
        assert key in m
    assert m == json.loads((out / "dataset.json").read_text())
    files = [m["files"]["autotrain_train"], m["files"]["autotrain_validation"], m["files"]["flagembedding_train"],
             *m["files"]["eval"].values()]
    assert m["content_hash"] == content_hash(out, files)
    assert m["sources"][0]["sha256"]
    assert m["versions"]["autorerank"]


def test_positives_without_mining_write_pairs_and_say_so(tmp_path):
    src = make_source("positives-jsonl", tmp_path)
    report = prepare([src], tmp_path / "out", opts())
    assert report.manifest["has_negatives"] is False
    header = (tmp_path / "out/autotrain/train.csv").read_text().splitlines()[0]
    assert header == "anchor,positive"
    assert "no query has a negative" in report.summary()
    assert report.manifest["autotrain_columns"] == ["anchor", "positive"]
    from datasets import load_dataset

    for rel in ("autotrain/train.csv", "autotrain/validation.csv"):
        assert load_dataset("csv", data_files=str(tmp_path / "out" / rel), split="train").column_names == ["anchor", "positive"]
    for rel in ("flagembedding/train.jsonl", "eval/validation.jsonl"):
        assert len(load_dataset("json", data_files=str(tmp_path / "out" / rel), split="train")) > 0


def test_several_sources_merge_and_deduplicate(tmp_path):
    a = make_source("pairs-csv", tmp_path)
    b = make_source("listwise-jsonl", tmp_path)
    m = prepare([a, b], tmp_path / "out", opts()).manifest
    assert [s["format"] for s in m["sources"]] == ["pairs", "listwise"]
    assert m["counts"]["queries"] == 12
    # the listwise file repeats every pairs row: all its rows are duplicates
    assert m["counts"]["skipped_by_reason"] == {"duplicate": 12}
    assert m["counts"]["rows_read"] == m["counts"]["rows_used"] + m["counts"]["rows_skipped"]


def test_cli_prints_the_summary(run_cli, tmp_path):
    src = make_source("pairs-csv", tmp_path)
    code, out, err = run_cli("prepare", src, "--out", tmp_path / "out", "--no-mine", "--name", "demo")
    assert code == 0, err
    assert "prepared 'demo'" in out and "36 read = 36 used + 0 skipped" in out
    assert json.loads((tmp_path / "out/dataset.json").read_text())["name"] == "demo"


def test_overwrite_replaces_and_failure_leaves_nothing(tmp_path, monkeypatch, run_cli):
    src = make_source("pairs-csv", tmp_path)
    out = tmp_path / "out"
    prepare([src], out, opts())
    (out / "stale.txt").write_text("old")
    code, _, err = run_cli("prepare", src, "--out", out, "--no-mine")
    assert code == 2 and "use --overwrite" in err
    prepare([src], out, opts(overwrite=True))
    assert not (out / "stale.txt").exists() and (out / "dataset.json").exists()

    # a crash while writing leaves neither the target nor a temp folder behind
    from wrapper.dataset import writer as writers

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(writers, "write_jsonl", boom)
    with pytest.raises(RuntimeError):
        prepare([src], tmp_path / "new", opts())
    assert not (tmp_path / "new").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".new")]
    # ... and an overwrite that fails keeps the previous dataset intact
    with pytest.raises(RuntimeError):
        prepare([src], out, opts(overwrite=True))
    assert (out / "dataset.json").exists()


def test_cli_name_without_out_writes_data_name(run_cli, tmp_path):
    src = make_source("pairs-csv", tmp_path)
    code, out, err = run_cli("prepare", src, "--name", "mine", "--no-mine")
    assert code == 0, err
    assert Path("data/mine/dataset.json").exists()  # relative to the test's working folder
    code, _, err = run_cli("prepare", src, "--no-mine")
    assert code == 2 and "--out DIR" in err


def test_options_are_strict():
    import pydantic

    from wrapper.errors import InputError

    with pytest.raises(InputError, match="--num-negatives"):
        PrepareOptions.build(num_negatives=0)
    with pytest.raises(InputError, match="random_negatives .3. cannot exceed num_negatives .2."):
        PrepareOptions.build(num_negatives=2, random_negatives=3)
    with pytest.raises(pydantic.ValidationError, match="Extra inputs are not permitted"):
        PrepareOptions(negatives=3)
    assert PrepareOptions(num_negatives=3).eval_candidates == 6


def test_corpus_files_join_the_pool_and_need_a_text_column(tmp_path):
    from wrapper.errors import InputError

    src = make_source("pairs-csv", tmp_path)
    corpus = write_csv(tmp_path / "corpus.csv", ["id", "text"], [[f"c{i}", f"extra passage {i}"] for i in range(5)]
                       + [["dup", pos(0)]])
    m = prepare([src], tmp_path / "out", opts(corpus=(str(corpus),))).manifest
    assert m["counts"]["passages"] == 36 + 5  # the duplicate of a known passage is interned once
    assert m["corpus"][0]["passages"] == 6 and m["corpus"][0]["sha256"]
    bad = write_csv(tmp_path / "bad.csv", ["id", "body_html"], [["1", "x"]])
    with pytest.raises(InputError, match="no text column in the corpus file; columns found: 'id', 'body_html'"):
        prepare([src], tmp_path / "out2", opts(corpus=(str(bad),)))


def test_ctrl_c_exits_130_and_leaves_no_partial_folder(tmp_path, monkeypatch, run_cli):
    from wrapper.dataset import writer as writers

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(writers, "write_jsonl", interrupted)
    src = make_source("pairs-csv", tmp_path)
    code, _, err = run_cli("prepare", src, "--out", tmp_path / "out", "--no-mine")
    assert code == 130 and ("interrupted" in err or "aborted" in err)
    assert not [p for p in tmp_path.iterdir() if "out" in p.name]


def test_val_ratio_one_makes_an_evaluation_only_dataset(tmp_path):
    """--val-ratio 1.0 holds every query out (the quality bench builds dev candidate lists this way)."""
    import json

    from wrapper.prepare import PrepareOptions, prepare

    src = tmp_path / "pairs.csv"
    rows = ["query,passage,label"]
    for i in range(6):
        rows += [f"question {i},answer {i} text,1", f"question {i},unrelated {i} text,0"]
    src.write_text("\n".join(rows) + "\n")
    report = prepare([src], tmp_path / "out", PrepareOptions(val_ratio=1.0, mine=False, progress=False))
    m = report.manifest
    assert m["eval_only"] is True
    assert m["splits"]["train"]["queries"] == 0 and m["splits"]["validation"]["queries"] == 6
    lines = (tmp_path / "out" / "eval" / "validation.jsonl").read_text().splitlines()
    assert sorted(json.loads(line)["query"] for line in lines) == [f"question {i}" for i in range(6)]
    assert all(json.loads(line)["negative"] for line in lines)


def test_val_ratio_one_cannot_be_combined_with_a_test_split(tmp_path):
    from pydantic import ValidationError

    from wrapper.prepare import PrepareOptions

    with pytest.raises(ValidationError, match="must leave queries for training"):
        PrepareOptions(val_ratio=1.0, test_ratio=0.1)
