"""wrapper.dataset: the one interface to Contract 1 (`Dataset`, `write_dataset`), on real prepared folders."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from wrapper import dataset as D
from wrapper.dataset import Dataset
from wrapper.dataset.writer import write_dataset
from wrapper.errors import InputError
from wrapper.prepare import PrepareOptions, prepare

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "raw" / "sample"


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Path:
    """A dataset written by the real `prepare` (no mining: fast), with a test split."""
    out = tmp_path_factory.mktemp("prep") / "sample"
    prepare([SAMPLE / "pairs.csv"], out, PrepareOptions(name="sample", mine=False, val_ratio=0.2, test_ratio=0.2, seed=1))
    return out


def test_reads_what_prepare_wrote(prepared):
    ds = Dataset.open(prepared)
    assert ds.root == prepared.resolve() and ds.name == "sample" and ds.manifest["format_version"] == 1
    assert ds.splits == ["validation", "test"]
    records = ds.read_split()
    assert len(records) == ds.manifest["splits"]["validation"]["queries"] > 0
    for rec in records:
        assert set(rec) == {"query_id", "query", "positive", "negative"}
        assert rec["positive"] and all(isinstance(t, str) and t.strip() for t in rec["positive"])
    assert {r["query_id"] for r in records}.isdisjoint({r["query_id"] for r in ds.read_split("test")})
    assert ds.train_file("autotrain") == prepared.resolve() / "autotrain" / "train.csv"
    assert ds.train_file("flagembedding").read_text(encoding="utf-8").count("\n") == ds.manifest["splits"]["train"]["queries"]


def test_find_accepts_a_folder_inside_the_dataset(prepared):
    """Configs written before the config stored the dataset root point at data/<name>/autotrain."""
    assert Dataset.find(prepared / "autotrain").root == prepared.resolve()
    assert Dataset.find(prepared).root == prepared.resolve()
    with pytest.raises(InputError, match="autotrain/train.csv: prepared dataset folder not found"):
        Dataset.find(prepared / "autotrain" / "train.csv")


def test_missing_or_broken_manifest_names_the_file(tmp_path):
    with pytest.raises(InputError, match=r"nope: prepared dataset folder not found(.|\n)*autorerank prepare"):
        Dataset.open(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match=r"empty/dataset.json: not found(.|\n)*autorerank prepare"):
        Dataset.open(tmp_path / "empty")
    _write(D.manifest_path(tmp_path / "bad"), '{\n  "name": "x",\n}\n')
    with pytest.raises(InputError, match=r"bad/dataset.json, line 3, column 1: not valid JSON"):
        Dataset.open(tmp_path / "bad")
    _write(D.manifest_path(tmp_path / "list"), "[1, 2]")
    with pytest.raises(InputError, match="expected a JSON object, got list"):
        Dataset.open(tmp_path / "list")


def test_evaluation_only_dataset_refused_for_training(tmp_path):
    _write(D.manifest_path(tmp_path / "ev"), json.dumps({"name": "ev", "eval_only": True}))
    assert Dataset.open(tmp_path / "ev").manifest["eval_only"] is True
    with pytest.raises(InputError, match="evaluation-only dataset"):
        Dataset.open(tmp_path / "ev", training=True)


def test_absent_split_or_file_names_what_there_is(prepared, tmp_path):
    with pytest.raises(InputError, match=r"eval/dev.jsonl: the prepared dataset has no eval split 'dev' "
                                         r"\(available: validation, test\)"):
        Dataset.open(prepared).read_split("dev")
    only_eval = write_dataset(tmp_path / "ev", eval_splits={"validation": [
        {"query_id": "q1", "query": "q", "positive": ["p"], "negative": ["n"]}]})
    with pytest.raises(InputError, match=r"ev/flagembedding/train.jsonl: the dataset has no flagembedding training file"):
        only_eval.train_file("flagembedding")


def test_write_dataset_is_what_prepare_writes(prepared, tmp_path):
    """The writer the fixtures and benchmarks use gives the layout and manifest keys prepare gives."""
    train = [{"query": "what is x", "pos": ["x is a letter"], "neg": ["y is another", "z too"]},
             {"query": "what is w", "pos": ["w is a letter"], "neg": ["v is another"]}]
    val = [{"query_id": "v1", "query": "what is a", "positive": ["a is a letter"], "negative": ["b", "c"]}]
    ds = write_dataset(tmp_path / "tiny", train=train, eval_splits={"validation": val})
    theirs = Dataset.open(prepared).manifest
    assert set(ds.manifest["files"]) == set(theirs["files"]) and ds.manifest["has_negatives"] is True
    assert (ds.train_file("autotrain").read_text(encoding="utf-8").splitlines()
            == ["anchor,positive,negative", "what is x,x is a letter,y is another", "what is x,x is a letter,z too",
                "what is w,w is a letter,v is another"])
    assert ds.read_split() == [{**val[0], "query_id": "v1"}]
    assert ds.manifest["splits"]["train"] == {"queries": 2, "triplets": 3}
    # the content hash changes with the data, as prepare's does
    other = write_dataset(tmp_path / "tiny2", train=train[:1], eval_splits={"validation": val})
    assert len(ds.content_hash) == 64 and other.content_hash != ds.content_hash


@pytest.mark.parametrize(
    "line, match",
    [
        ("{not json", r"line 2: not valid JSON \(Expecting property name enclosed in double quotes, column 2\)"),
        ("[1, 2]", r"line 2: expected a JSON object, got list"),
        ('{"query": "q", "positive": ["p"]}', r"line 2, column 'query_id': missing field"),
        ('{"query_id": "x", "query": " ", "positive": ["p"]}', r"line 2, column 'query': expected a non-empty"),
        ('{"query_id": "x", "query": "q", "positive": [""]}', r"line 2, column 'positive': needs at least one"),
        ('{"query_id": "x", "query": "q", "positive": ["p"], "negative": [3]}', r"line 2, column 'negative'"),
        ('{"query_id": "a", "query": "q", "positive": ["p"]}', r"line 2, column 'query_id': duplicate query_id 'a'"),
    ],
)
def test_bad_split_line_names_file_and_line(tmp_path, line, match):
    folder = tmp_path / "ds"
    _write(D.manifest_path(folder), json.dumps({"name": "ds", "files": {"eval": {"validation": "eval/validation.jsonl"}}}))
    _write(folder / "eval" / "validation.jsonl",
           json.dumps({"query_id": "a", "query": "q", "positive": ["p"], "negative": []}) + "\n" + line + "\n")
    with pytest.raises(InputError, match=r"ds/eval/validation.jsonl, " + match):
        Dataset.open(folder).read_split()


def test_records_are_normalised(tmp_path):
    path = _write(tmp_path / "x.jsonl", "\n".join([
        json.dumps({"id": 7, "query": "q", "pos": "p", "neg": ["n", " "]}),
        "",
        json.dumps({"query": "r", "positive": ["p2"]}),
    ]) + "\n")
    got = [rec for _, rec in D.iter_records(path, require_query_id=False)]
    assert got == [{"query_id": "7", "query": "q", "positive": ["p"], "negative": ["n"]},
                   {"query_id": "q3", "query": "r", "positive": ["p2"], "negative": []}]


def test_jsonl_reader_is_strict_and_names_the_line(tmp_path):
    path = _write(tmp_path / "t.jsonl", '{"a": 1}\n\n{"a": 2}\n{"a": \n')
    with pytest.raises(InputError, match=r"t.jsonl, line 4: not valid JSON"):
        D.read_jsonl(path)
    assert [n for n, _ in zip(range(2), D.iter_jsonl(path))] == [0, 1]
    latin = tmp_path / "latin.jsonl"
    latin.write_bytes('{"a": "ok"}\n{"a": "caf\u00e9"}\n'.encode("latin-1"))
    with pytest.raises(InputError, match=r"latin.jsonl, line 2: not UTF-8 text \(byte 11 of the line\)"):
        D.read_jsonl(latin)
    with pytest.raises(InputError, match=r"missing.jsonl: file not found"):
        D.read_jsonl(tmp_path / "missing.jsonl")


def test_hashes_match_hashlib(tmp_path):
    a = _write(tmp_path / "a.bin", "x" * 3_000_000)
    b = _write(tmp_path / "b.bin", "yz")
    assert D.sha256_file(a) == hashlib.sha256(a.read_bytes()).hexdigest()
    assert D.sha256_files([a, b]) == hashlib.sha256(a.read_bytes() + b.read_bytes()).hexdigest()
    assert D.sha256_files([b, a]) != D.sha256_files([a, b])
