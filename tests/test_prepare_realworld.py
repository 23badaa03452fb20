"""prepare on the shapes real public data comes in (issue #13), written here in the same shapes.

- CLUE's QBQTC ships `dev.json` that is JSON Lines, with graded labels as strings ("0"/"1"/"2");
- SQuAD-style sets (cmrc2018, DRCD) ask several questions per paragraph: a split by query puts one
  passage in train and validation, `--group-by` must not.

No model runs here (`mine=False`): these are fast.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from wrapper.errors import InputError
from wrapper.prepare import PrepareOptions, prepare

SPLIT_FILES = {"train": "flagembedding/train.jsonl", "validation": "eval/validation.jsonl", "test": "eval/test.jsonl"}


def opts(**kw) -> PrepareOptions:
    kw.setdefault("mine", False)
    kw.setdefault("progress", False)
    return PrepareOptions(**kw)


def qbqtc_rows(n: int = 12, label=str) -> list[dict]:
    """QBQTC's shape: id, query, title (the passage), label in 0/1/2 (2 = most relevant)."""
    rows = []
    for i in range(n):
        for grade, text in ((2, f"the best page about topic {i}"), (1, f"a page that mentions topic {i}"),
                            (0, f"an unrelated page number {i}")):
            rows.append({"id": len(rows), "query": f"what is topic {i}", "title": text, "label": label(grade)})
    return rows


def write_lines(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def split_texts(out: Path) -> dict[str, dict[str, set[str]]]:
    """{split: {"queries": {...}, "passages": {...}}} from the written files (positives and negatives)."""
    found = {}
    for name, rel in SPLIT_FILES.items():
        queries, passages = set(), set()
        path = out / rel
        for line in (path.read_text(encoding="utf-8").splitlines() if path.exists() else []):
            rec = json.loads(line)
            queries.add(rec["query"])
            passages.update(rec.get("pos", []) + rec.get("neg", []) + rec.get("positive", []) + rec.get("negative", []))
        found[name] = {"queries": queries, "passages": passages}
    return found


def shared_passages(found: dict) -> set[str]:
    names = list(found)
    return {p for i, a in enumerate(names) for b in names[i + 1:]
            for p in found[a]["passages"] & found[b]["passages"]}


# --------------------------------------------------------------------------- QBQTC-style .json JSON Lines
def test_json_file_holding_json_lines_is_read_and_noted(tmp_path, run_cli):
    src = write_lines(tmp_path / "dev.json", qbqtc_rows())
    code, out, err = run_cli("prepare", src, "--out", tmp_path / "out", "--no-mine", "--label-threshold", "2")
    assert code == 0, err
    assert "note: read dev.json as JSON Lines (one object per line)" in out
    manifest = json.loads((tmp_path / "out/dataset.json").read_text())
    source = manifest["sources"][0]
    assert source["notes"] == ["read dev.json as JSON Lines (one object per line)"]
    assert source["file_kind"] == "jsonl" and source["format"] == "pairs"
    assert source["columns"] == {"query": "query", "passage": "title", "label": "label"}
    assert manifest["counts"]["rows_read"] == 36 and manifest["counts"]["rows_skipped"] == 0


def test_string_graded_labels_work_exactly_like_ints(tmp_path):
    strings = write_lines(tmp_path / "dev.json", qbqtc_rows(label=str))
    ints = write_lines(tmp_path / "ints.jsonl", qbqtc_rows(label=int))
    a = prepare([strings], tmp_path / "a", opts(label_threshold=2)).manifest
    b = prepare([ints], tmp_path / "b", opts(label_threshold=2)).manifest
    assert a["content_hash"] == b["content_hash"]
    train = a["splits"]["train"]
    # threshold 2: only "2" is positive, "1" and "0" are negatives
    assert train["positives"] == train["queries"] and train["negatives"] == 2 * train["queries"]
    for line in (tmp_path / "a/flagembedding/train.jsonl").read_text().splitlines():
        rec = json.loads(line)
        assert [p.startswith("the best page") for p in rec["pos"]] == [True]
        assert sorted(n.split()[1] for n in rec["neg"]) == ["page", "unrelated"]
    # the default threshold (1) keeps "1" and "2" as positives, again like ints
    c = prepare([strings], tmp_path / "c", opts()).manifest
    d = prepare([ints], tmp_path / "d", opts()).manifest
    assert c["content_hash"] == d["content_hash"] and c["label_threshold"] == 1.0
    assert c["splits"]["train"]["positives"] == 2 * c["splits"]["train"]["queries"]


def test_one_line_json_document_is_still_a_document(tmp_path):
    doc = {"data": [{"title": "T", "paragraphs": [{"context": f"paragraph {i}", "qas": [
        {"id": f"q{i}", "question": f"question {i}?"}]} for i in range(10)]}]}
    src = tmp_path / "squad.json"
    src.write_text(json.dumps(doc) + "\n", encoding="utf-8")
    m = prepare([src], tmp_path / "out", opts()).manifest
    assert m["sources"][0]["format"] == "squad" and "notes" not in m["sources"][0]


def test_non_numeric_string_label_names_file_line_and_column(tmp_path, run_cli):
    rows = qbqtc_rows()
    rows[4]["label"] = "high"  # line 5
    src = write_lines(tmp_path / "dev.json", rows)
    with pytest.raises(InputError) as exc:
        prepare([src], tmp_path / "out", opts(label_threshold=2))
    message = str(exc.value)
    assert "dev.json, line 5, column 'label'" in message and "'high' is not a number" in message
    assert "hint:" in message
    code, _, err = run_cli("prepare", src, "--out", tmp_path / "out", "--no-mine", "--label-threshold", "2")
    assert code == 2 and "line 5, column 'label'" in err and "Traceback" not in err
    # a JSON list has no lines: the record is named instead
    listed = tmp_path / "list.json"
    listed.write_text(json.dumps(rows), encoding="utf-8")
    with pytest.raises(InputError, match=r"list\.json, column 'label': record 5: label 'high' is not a number"):
        prepare([listed], tmp_path / "out2", opts(label_threshold=2))


@pytest.mark.parametrize("text,fragments", [
    ('[\n  {"query": "a", "title": "b", "label": 1},\n  {"query": "c" "title": "d", "label": 0}\n]\n',
     ["broken.json, line 3", "invalid JSON", "column 17"]),
    ('{"query": "a", "title": "b", "label": 1}\n{"query": "c", "title": "d", "label": 0\n',
     ["broken.json, line 2", "truncated", "read as JSON Lines"]),
    ('{"data": [\n  {"paragraphs": []},\n]}\n', ["broken.json, line 3", "invalid JSON", "column 1"]),
], ids=["document", "json-lines", "trailing-comma"])
def test_broken_json_names_line_and_column(tmp_path, text, fragments):
    src = tmp_path / "broken.json"
    src.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as exc:
        prepare([src], tmp_path / "out", opts())
    for fragment in fragments:
        assert fragment in str(exc.value), str(exc.value)


# --------------------------------------------------------------------------- group-aware split
def squad_doc(n_articles: int = 6, paragraphs: int = 3, questions: int = 3) -> dict:
    data = []
    for a in range(n_articles):
        paras = [{"context": f"Article {a}, paragraph {p}: what is known about subject {a}-{p}.",
                  "qas": [{"id": f"a{a}p{p}q{k}", "question": f"question {k} about subject {a}-{p}?",
                           "answers": [{"text": f"subject {a}-{p}", "answer_start": 0}]} for k in range(questions)]}
                 for p in range(paragraphs)]
        data.append({"title": f"Article {a}", "paragraphs": paras})
    return {"version": "v1.0", "data": data}


def write_squad(path: Path, doc: dict) -> Path:
    path.write_text(json.dumps(doc, ensure_ascii=False, indent=1), encoding="utf-8")
    return path


def test_group_by_passage_keeps_each_paragraph_in_one_split(tmp_path):
    src = write_squad(tmp_path / "cmrc.json", squad_doc())
    ratios = {"val_ratio": 0.2, "test_ratio": 0.1, "seed": 42}
    prepare([src], tmp_path / "by-query", opts(**ratios))
    leaked = shared_passages(split_texts(tmp_path / "by-query"))
    assert leaked, "a split by query should share passages between splits (else this test proves nothing)"

    m = prepare([src], tmp_path / "grouped", opts(group_by="passage", **ratios)).manifest
    found = split_texts(tmp_path / "grouped")
    assert shared_passages(found) == set()
    assert all(found[name]["queries"] for name in SPLIT_FILES)
    assert m["split"] == {"group_by": "passage", "groups": 18, "largest_group": 3,
                          "groups_per_split": m["split"]["groups_per_split"]}
    assert sum(m["split"]["groups_per_split"].values()) == 18
    assert sum(m["splits"][s]["queries"] for s in SPLIT_FILES) == 54

    # seeded and order-independent: the same data shuffled gives the same split; another seed another
    doc = squad_doc()
    random.Random(0).shuffle(doc["data"])
    for article in doc["data"]:
        random.Random(1).shuffle(article["paragraphs"])
    shuffled = write_squad(tmp_path / "shuffled.json", doc)
    prepare([shuffled], tmp_path / "again", opts(group_by="passage", **ratios))
    assert split_texts(tmp_path / "again") == found
    prepare([src], tmp_path / "seed7", opts(group_by="passage", **{**ratios, "seed": 7}))
    assert split_texts(tmp_path / "seed7") != found


def test_group_by_article_keeps_each_article_in_one_split(tmp_path):
    doc = squad_doc(n_articles=8)
    src = write_squad(tmp_path / "drcd.json", doc)
    article_of = {qa["question"]: art["title"] for art in doc["data"] for p in art["paragraphs"] for qa in p["qas"]}
    m = prepare([src], tmp_path / "out", opts(group_by="article", val_ratio=0.2)).manifest
    found = split_texts(tmp_path / "out")
    where: dict[str, set[str]] = {}
    for name in SPLIT_FILES:
        for q in found[name]["queries"]:
            where.setdefault(article_of[q], set()).add(name)
    assert len(where) == 8 and all(len(splits) == 1 for splits in where.values())
    assert m["split"]["group_by"] == "article" and m["split"]["groups"] == 8
    assert m["split"]["groups_per_split"]["validation"] >= 1 and m["splits"]["train"]["queries"] > 0


def test_group_by_column_of_a_table(tmp_path):
    rows = []
    for i in range(30):  # 6 documents, 5 queries each, every query has its own positive passage
        rows.append({"query": f"query {i}", "passage": f"passage {i}", "label": 1, "doc_id": f"doc{i % 6}"})
    src = write_lines(tmp_path / "pairs.jsonl", rows)
    m = prepare([src], tmp_path / "out", opts(group_by="doc_id", val_ratio=0.2)).manifest
    found = split_texts(tmp_path / "out")
    doc_of = {r["query"]: r["doc_id"] for r in rows}
    where: dict[str, set[str]] = {}
    for name in SPLIT_FILES:
        for q in found[name]["queries"]:
            where.setdefault(doc_of[q], set()).add(name)
    assert len(where) == 6 and all(len(s) == 1 for s in where.values())
    assert m["split"]["groups"] == 6 and m["split"]["largest_group"] == 5


def test_default_split_records_no_grouping(tmp_path):
    src = write_lines(tmp_path / "dev.json", qbqtc_rows())
    m = prepare([src], tmp_path / "out", opts()).manifest
    assert m["split"] == {"group_by": None, "groups": 12}


@pytest.mark.parametrize("source,group_by,fragments", [
    ("table", "article", ["pairs.csv", "--group-by article does not apply to a table", "SQuAD"]),
    ("table", "topic", ["pairs.csv, line 1", "--group-by 'topic': no such column", "'query', 'passage', 'label'"]),
    ("squad", "title", ["--group-by 'title' (a column name) does not apply to SQuAD-style JSON",
                        "passage or article"]),
    ("beir", "article", ["--group-by article does not apply to a BEIR folder"]),
    ("shared-negative", "passage", ["--group-by passage", "form 1 group", "too few to split"]),
], ids=["article-on-table", "missing-column", "column-on-squad", "article-on-beir", "one-giant-group"])
def test_group_by_that_cannot_apply_is_a_clear_error(tmp_path, source, group_by, fragments):
    if source == "table":
        src = tmp_path / "pairs.csv"
        src.write_text("query,passage,label\n" + "".join(f"q{i},p{i},1\n" for i in range(10)), encoding="utf-8")
    elif source == "shared-negative":  # every query lists the same negative: one connected group
        src = tmp_path / "pairs.csv"
        src.write_text("query,passage,label\n" + "".join(f"q{i},p{i},1\nq{i},common,0\n" for i in range(10)),
                       encoding="utf-8")
    elif source == "squad":
        src = write_squad(tmp_path / "sq.json", squad_doc())
    else:
        src = tmp_path / "beir"
        (src / "qrels").mkdir(parents=True)
        write_lines(src / "corpus.jsonl", [{"_id": f"d{i}", "text": f"doc {i}"} for i in range(10)])
        write_lines(src / "queries.jsonl", [{"_id": f"q{i}", "text": f"query {i}"} for i in range(10)])
        (src / "qrels/train.tsv").write_text("query-id\tcorpus-id\tscore\n" + "".join(f"q{i}\td{i}\t1\n" for i in range(10)))
    with pytest.raises(InputError) as exc:
        prepare([src], tmp_path / "out", opts(group_by=group_by))
    for fragment in fragments:
        assert fragment in str(exc.value), str(exc.value)
    assert not (tmp_path / "out").exists()


def test_group_split_fills_shares_and_leaves_a_big_group_in_train():
    from wrapper.prepare.split import split_groups

    singletons = {f"q{i:03d}": f"q{i:03d}" for i in range(100)}
    out = split_groups(singletons, val_ratio=0.2, test_ratio=0.1, seed=3, group_by="x")
    assert [len(out[k]) for k in ("train", "validation", "test")] == [70, 20, 10]
    # one group of 60 queries and 40 of one: the big one can only be train; shares stay close
    groups = {f"big{i:02d}": "big00" for i in range(60)} | {f"s{i:02d}": f"s{i:02d}" for i in range(40)}
    out = split_groups(groups, val_ratio=0.2, test_ratio=0.1, seed=3, group_by="x")
    assert set(out["train"]) >= {q for q in groups if q.startswith("big")}
    assert (len(out["validation"]), len(out["test"])) == (20, 10)
