"""wrapper.dataset: the one reader of Contract 1, on real prepared folders and real files."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from wrapper import dataset as D
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
    manifest = D.read_manifest(prepared)
    assert manifest["name"] == "sample" and manifest["format_version"] == 1
    assert D.split_names(prepared) == ["validation", "test"]
    records = D.read_split(prepared)
    assert len(records) == manifest["splits"]["validation"]["queries"] > 0
    for rec in records:
        assert set(rec) == {"query_id", "query", "positive", "negative"}
        assert rec["positive"] and all(isinstance(t, str) and t.strip() for t in rec["positive"])
    assert {r["query_id"] for r in records}.isdisjoint({r["query_id"] for r in D.read_split(prepared, "test")})


def test_missing_or_broken_manifest_names_the_file(tmp_path):
    with pytest.raises(InputError, match=r"nope: prepared dataset folder not found(.|\n)*autorerank prepare"):
        D.read_manifest(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match=r"empty/dataset.json: not found(.|\n)*autorerank prepare"):
        D.read_manifest(tmp_path / "empty")
    _write(tmp_path / "bad" / "dataset.json", '{\n  "name": "x",\n}\n')
    with pytest.raises(InputError, match=r"bad/dataset.json, line 3, column 1: not valid JSON"):
        D.read_manifest(tmp_path / "bad")
    _write(tmp_path / "list" / "dataset.json", "[1, 2]")
    with pytest.raises(InputError, match="expected a JSON object, got list"):
        D.read_manifest(tmp_path / "list")


def test_evaluation_only_dataset_refused_for_training(tmp_path):
    _write(tmp_path / "ev" / "dataset.json", json.dumps({"name": "ev", "eval_only": True}))
    assert D.read_manifest(tmp_path / "ev")["eval_only"] is True
    with pytest.raises(InputError, match="evaluation-only dataset"):
        D.read_manifest(tmp_path / "ev", training=True)


def test_absent_split_lists_the_ones_there_are(prepared):
    with pytest.raises(InputError, match=r"eval/dev.jsonl: the prepared dataset has no eval split 'dev' "
                                         r"\(available: validation, test\)"):
        D.read_split(prepared, "dev")


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
    _write(folder / "eval" / "validation.jsonl",
           json.dumps({"query_id": "a", "query": "q", "positive": ["p"], "negative": []}) + "\n" + line + "\n")
    with pytest.raises(InputError, match=r"ds/eval/validation.jsonl, " + match):
        D.read_split(folder)


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
