"""prepare on bad input: fatal cases exit 2 with one message, skippable rows are counted.

Every case is data: a file (bytes) to write and what must happen. Fatal cases
run through the CLI (exit code 2, no traceback, the message names the file,
the line or column, and how to fix it). Skippable cases check the per-reason
counts and that the manifest reconciles: rows read = rows used + rows skipped.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from wrapper.prepare import PrepareOptions, prepare

HEADER = "query,passage,label\n"


def good_rows(n: int = 10) -> str:
    return "".join(f"query {i},positive passage {i},1\nquery {i},negative passage {i},0\n" for i in range(n))


def jsonl(records: list[dict]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in records).encode()


LISTWISE = [{"query": f"query {i}", "pos": [f"pos {i}"], "neg": [f"neg {i}"]} for i in range(10)]


def beir(folder: Path, *, qrels: str, corpus=None, queries=None) -> Path:
    (folder / "qrels").mkdir(parents=True)
    corpus = corpus if corpus is not None else [{"_id": f"d{i}", "text": f"doc {i}"} for i in range(10)]
    queries = queries if queries is not None else [{"_id": f"q{i}", "text": f"query {i}"} for i in range(10)]
    (folder / "corpus.jsonl").write_bytes(jsonl(corpus))
    (folder / "queries.jsonl").write_bytes(jsonl(queries))
    (folder / "qrels" / "train.tsv").write_text("query-id\tcorpus-id\tscore\n" + qrels, encoding="utf-8")
    return folder


GOOD_QRELS = "".join(f"q{i}\td{i}\t1\n" for i in range(10))


# --------------------------------------------------------------------------- fatal
# (id, {filename: bytes} or a callable(tmp) -> source path, extra CLI args, fragments the message must contain)
FATAL = [
    ("empty-file", {"data.csv": b""}, [], ["data.csv", "empty"]),
    ("whitespace-file", {"data.jsonl": b"\n  \n\r\n"}, [], ["empty"]),
    ("header-only", {"data.csv": HEADER.encode()}, [], ["0 rows read", "no usable query"]),
    ("truncated-json-line", {"data.jsonl": jsonl(LISTWISE[:3]) + b'{"query": "q", "pos": ["a"'},
     [], ["line 4", "truncated", "fix or delete that line"]),
    ("invalid-json-line", {"data.jsonl": jsonl(LISTWISE[:2]) + b"{'query': 'single quotes'}\n"},
     [], ["line 3", "invalid JSON"]),
    ("json-array-line", {"data.jsonl": jsonl(LISTWISE[:2]) + b'["a", "b"]\n'}, [], ["line 3", "JSON object"]),
    ("non-utf8-bytes", {"data.csv": (HEADER + good_rows(3)).encode() + "query x,caf\u00e9 au lait,1\n".encode("latin-1")},
     [], ["line 8", "0xe9", "not valid utf-8", "--encoding"]),
    ("utf16-file", {"data.csv": (HEADER + good_rows(2)).encode("utf-16")}, [], ["UTF-16", "iconv"]),
    ("missing-columns", {"data.csv": b"question,body\nq,a\n"}, ["--format", "pairs"],
     ["no passage column", "columns found: 'question', 'body'", "--passage-col"]),
    ("misnamed-column-flag", {"data.csv": (HEADER + good_rows(3)).encode()}, ["--label-col", "relevance"],
     ["'relevance' (from --label-col) is not in the file", "'label'"]),
    ("unrecognised-columns", {"data.csv": b"foo,bar\n1,2\n"}, [], ["cannot tell the format", "'foo', 'bar'"]),
    ("mixed-formats", {"data.jsonl": jsonl(LISTWISE[:3] + [{"query": "q", "passage": "p", "label": 1}])},
     [], ["line 4", "one file must hold one format", "'pos'"]),
    ("gigantic-line", {"data.jsonl": b'{"query": "' + b"x" * 1_100_000 + b'"}\n'}, ["--max-line-bytes", "1000000"],
     ["line 1", "longer than 1,000,000 bytes", "--max-line-bytes"]),
    ("binary-file", {"data.csv": bytes(range(256)) * 4}, [], ["binary", "NUL"]),
    ("spreadsheet", {"data.xlsx": b"PK\x03\x04\x14\x00\x06\x00"}, [], ["spreadsheet", "export the sheet as CSV"]),
    ("no-such-file", {}, [], ["no such file"]),
    ("all-labels-unreadable", {"data.csv": (HEADER + "".join(f"q{i},p{i},maybe\n" for i in range(5))).encode()},
     [], ["no usable query", "invalid_label: 5", "--label-threshold"]),
    ("not-squad-json", {"data.json": b'{"version": 1, "items": {}}'}, [], ["neither a list of rows nor SQuAD"]),
    ("json-with-bad-syntax", {"data.json": b'{"data": [1, 2,]}'}, [], ["line 1", "invalid JSON"]),
    ("too-few-queries", {"data.csv": (HEADER + "q,p,1\nq,n,0\n").encode()}, [], ["only 1 usable query", "--val-ratio"]),
    ("bad-ratio", {"data.csv": (HEADER + good_rows()).encode()}, ["--val-ratio", "0.7", "--test-ratio", "0.4"],
     ["invalid prepare options", "must leave queries for training"]),
    ("bad-margin", {"data.csv": (HEADER + good_rows()).encode()}, ["--margin", "lots"], ["--margin", "not a number"]),
    ("headerless-four-columns", {"data.tsv": b"a\tb\tc\td\n"}, [], ["headerless file needs 2 or 3 columns"]),
]


@pytest.mark.parametrize("case,files,args,fragments", FATAL, ids=[c[0] for c in FATAL])
def test_fatal_input_exits_2_with_one_clear_message(case, files, args, fragments, tmp_path, run_cli):
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    source = tmp_path / (next(iter(files)) if files else "missing.csv")
    code, out, err = run_cli("prepare", source, "--out", tmp_path / "out", "--no-mine", *args)
    assert code == 2, (out, err)
    assert "Traceback" not in err
    message = err.lower()
    for fragment in fragments:
        assert fragment.lower() in message, f"{fragment!r} not in {err!r}"
    assert not (tmp_path / "out").exists()


def test_gigantic_line_limit_is_a_flag(tmp_path):
    src = tmp_path / "big.jsonl"
    src.write_bytes(jsonl(LISTWISE[:5]) + b'{"query": "' + b"x" * 5000 + b'", "pos": ["p"], "neg": []}\n')
    from wrapper.errors import InputError

    with pytest.raises(InputError, match="line 6: line is longer than 2,048 bytes"):
        prepare([src], tmp_path / "out", PrepareOptions(mine=False, progress=False, max_line_bytes=2048))


def test_directory_that_is_not_beir(tmp_path, run_cli):
    folder = tmp_path / "stuff"
    folder.mkdir()
    (folder / "notes.txt").write_text("hi")
    (folder / "corpus.jsonl").write_text('{"_id": "1", "text": "x"}\n')
    code, _, err = run_cli("prepare", folder, "--out", tmp_path / "out", "--no-mine")
    assert code == 2
    assert "not a BEIR folder: missing queries.jsonl, qrels/<split>.tsv" in err
    assert "notes.txt" in err


def test_beir_split_must_exist(tmp_path, run_cli):
    folder = beir(tmp_path / "b", qrels=GOOD_QRELS)
    code, _, err = run_cli("prepare", folder, "--out", tmp_path / "out", "--no-mine", "--split", "dev")
    assert code == 2 and "no qrels for split 'dev'; found train" in err and "--split" in err


def test_output_folder_that_exists(tmp_path, run_cli):
    src = tmp_path / "d.csv"
    src.write_text(HEADER + good_rows())
    (tmp_path / "out").mkdir()
    code, _, err = run_cli("prepare", src, "--out", tmp_path / "out", "--no-mine")
    assert code == 2 and "already exists" in err and "use --overwrite" in err


def test_unloadable_miner_is_an_input_error(tmp_path, run_cli):
    src = tmp_path / "d.csv"
    src.write_text(HEADER + good_rows())
    code, _, err = run_cli("prepare", src, "--out", tmp_path / "out", "--miner", str(tmp_path / "no-model-here"))
    assert code == 2 and "cannot load it as a sentence-transformers model" in err and "--no-mine" in err


# --------------------------------------------------------------------------- skippable
# (id, filename, bytes, options, expected skipped_by_reason, expected items_dropped or None)
SKIPPABLE = [
    ("bom-and-crlf", "d.csv", b"\xef\xbb\xbf" + (HEADER + good_rows()).replace("\n", "\r\n").encode(), {}, {}, None),
    ("gzip", "d.csv.gz", gzip.compress((HEADER + good_rows()).encode()), {}, {}, None),
    ("empty-and-whitespace-texts", "d.csv", (HEADER + good_rows() + "  ,p,1\nq 1,\t ,0\nq 2,,1\n").encode(), {},
     {"empty_text": 3}, None),
    ("nan-none-labels", "d.jsonl",
     jsonl([{"query": f"query {i}", "passage": f"p {i}", "label": 1} for i in range(10)]
           + [{"query": "query 1", "passage": "x", "label": None}, {"query": "query 2", "passage": "y", "label": "NaN"},
              {"query": "query 3", "passage": "z", "label": ""}]), {}, {"missing_label": 3}, None),
    ("nan-labels-csv", "d.csv", (HEADER + good_rows() + "query 1,other,\nquery 1,other2,nan\n").encode(), {},
     {"missing_label": 2}, None),
    ("string-labels", "d.jsonl",
     jsonl([{"query": f"query {i}", "passage": f"p {i}", "label": "1"} for i in range(10)]
           + [{"query": "query 1", "passage": "n1", "label": "0"}, {"query": "query 2", "passage": "n2", "label": "no"},
              {"query": "query 3", "passage": "n3", "label": "relevant"},
              {"query": "query 4", "passage": "n4", "label": "kinda"}]), {}, {"invalid_label": 1}, None),
    ("duplicate-rows", "d.csv", (HEADER + good_rows() + good_rows(3)).encode(), {}, {"duplicate": 6}, {"duplicate": 6}),
    ("negative-equals-positive-pairs", "d.csv", (HEADER + good_rows() + "query 1,positive passage 1,0\n").encode(), {},
     {"negative_equals_positive": 1}, {"negative_equals_positive": 1}),
    ("negative-before-positive", "d.csv", (HEADER + "query 1,positive passage 1,0\n" + good_rows()).encode(), {},
     {"negative_equals_positive": 1}, {"negative_equals_positive": 1}),
    ("triplet-negative-equals-positive", "t.csv",
     ("anchor,positive,negative\n" + "".join(f"q{i},p{i},n{i}\n" for i in range(10)) + "q1,p1b,p1b\n").encode(), {},
     {}, {"negative_equals_positive": 1}),
    ("query-with-no-positive", "d.csv", (HEADER + good_rows() + "lonely query,some passage,0\nlonely query,other,0\n").encode(),
     {}, {"query_without_positive": 2}, {"query_without_positive": 2}),
    ("wrong-field-count", "d.csv", (HEADER + good_rows() + "query 1,only two\nquery 2,a,1,extra\n").encode(), {},
     {"wrong_field_count": 2}, None),
    ("listwise-bad-items", "l.jsonl",
     jsonl(LISTWISE + [{"query": "query 1", "pos": [None, 3], "neg": []}, {"query": "  ", "pos": ["x"], "neg": []}]),
     {}, {"empty_text": 1, "invalid_item": 1}, {"empty_text": 1, "invalid_item": 1}),
]


@pytest.mark.parametrize("case,name,data,options,reasons,dropped", SKIPPABLE, ids=[c[0] for c in SKIPPABLE])
def test_skippable_rows_are_counted_and_reconcile(case, name, data, options, reasons, dropped, tmp_path):
    src = tmp_path / name
    src.write_bytes(data)
    report = prepare([src], tmp_path / "out", PrepareOptions(mine=False, progress=False, **options))
    counts = report.manifest["counts"]
    assert counts["skipped_by_reason"] == reasons
    if dropped is not None:
        assert counts["items_dropped"] == dropped
    assert counts["rows_read"] == counts["rows_used"] + counts["rows_skipped"]
    assert counts["rows_skipped"] == sum(counts["skipped_by_reason"].values())
    assert counts["queries"] == 10
    # nothing a query calls positive ever appears among its negatives
    for path in (tmp_path / "out/eval").glob("*.jsonl"):
        for line in path.read_text().splitlines():
            rec = json.loads(line)
            assert not set(rec["positive"]) & set(rec["negative"])
    for line in (tmp_path / "out/flagembedding/train.jsonl").read_text().splitlines():
        rec = json.loads(line)
        assert not set(rec["pos"]) & set(rec["neg"])
    if case == "bom-and-crlf":
        assert report.manifest["sources"][0]["columns"]["query"] == "query"
        assert "\r" not in (tmp_path / "out/autotrain/train.csv").read_text()


def test_beir_qrels_pointing_at_missing_documents_and_queries(tmp_path):
    qrels = GOOD_QRELS + "q1\tmissing-doc\t1\nq-missing\td1\t1\nq2\td3\t0\nq2\td4\tbad\n"
    folder = beir(tmp_path / "b", qrels=qrels)
    report = prepare([folder], tmp_path / "out", PrepareOptions(mine=False, progress=False))
    counts = report.manifest["counts"]
    assert counts["skipped_by_reason"] == {"qrels_missing_document": 1, "qrels_missing_query": 1, "invalid_label": 1}
    assert counts["rows_read"] == 14 and counts["rows_used"] == 11
    assert report.manifest["splits"]["train"]["negatives"] + report.manifest["splits"]["validation"]["negatives"] == 1
