"""prepare on real public data with the real miner (bundled all-MiniLM-L6-v2).

- SciFact as a BEIR folder (`--split train`): a subset of 30 train queries and
  ~100 corpus abstracts, copied from ../shared/datasets/scifact into tmp_path.
- CMRC 2018 from its raw SQuAD JSON (`raw/cmrc2018_trial.json`), a subset of articles.
Both go through the CLI and their outputs are loaded with `datasets.load_dataset`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def _scifact_subset(src: Path, dst: Path, n_queries: int = 30, n_docs: int = 100) -> dict[str, set[str]]:
    (dst / "qrels").mkdir(parents=True)
    lines = (src / "qrels/train.tsv").read_text(encoding="utf-8").splitlines()
    header, rows = lines[0], [line.split("\t") for line in lines[1:]]
    keep_q: list[str] = []
    for qid, _, _ in rows:
        if qid not in keep_q:
            keep_q.append(qid)
        if len(keep_q) == n_queries:
            break
    kept_rows = [r for r in rows if r[0] in keep_q]
    qrels: dict[str, set[str]] = {}
    for qid, did, _ in kept_rows:
        qrels.setdefault(qid, set()).add(did)
    (dst / "qrels/train.tsv").write_text("\n".join([header] + ["\t".join(r) for r in kept_rows]) + "\n", encoding="utf-8")
    needed = {d for docs in qrels.values() for d in docs}
    out_docs = []
    with open(src / "corpus.jsonl", encoding="utf-8") as fh:
        for line in fh:
            doc = json.loads(line)
            if doc["_id"] in needed or len(out_docs) < n_docs - len(needed):
                out_docs.append(line)
    (dst / "corpus.jsonl").write_text("".join(out_docs), encoding="utf-8")
    with open(src / "queries.jsonl", encoding="utf-8") as fh:
        queries = [line for line in fh if json.loads(line)["_id"] in qrels]
    (dst / "queries.jsonl").write_text("".join(queries), encoding="utf-8")
    return qrels


def test_scifact_beir_subset_with_mining(shared_datasets, tmp_path, run_cli):
    from datasets import load_dataset

    folder = tmp_path / "scifact"
    qrels = _scifact_subset(shared_datasets / "scifact", folder)
    out = tmp_path / "data" / "scifact"
    code, stdout, err = run_cli("prepare", folder, "--split", "train", "--out", out, "--num-negatives", "3",
                                "--test-ratio", "0.1", "--val-ratio", "0.2", "--batch-size", "16")
    assert code == 0, err
    m = json.loads((out / "dataset.json").read_text())
    assert m["sources"][0]["format"] == "beir" and m["sources"][0]["split"] == "train"
    assert m["counts"]["rows_read"] == sum(len(d) for d in qrels.values())
    assert m["counts"]["rows_read"] == m["counts"]["rows_used"] + m["counts"]["rows_skipped"]
    assert m["counts"]["queries"] == 30
    assert [m["splits"][s]["queries"] for s in ("train", "validation", "test")] == [21, 6, 3]
    mining = m["mining"]
    assert mining["queries"] == 30 and mining["pool_size"] >= 95
    # the false-negative guard may leave a query whose positive scores low without negatives, but not many
    assert mining["no_negative_queries"] <= 2 and mining["negatives_per_query"]["max"] == 6
    assert mining["negative_score_mean"] < mining["positive_score_mean"]
    assert m["has_negatives"] and m["splits"]["train"]["triplets"] >= 2 * 21

    # mined negatives are corpus documents, never one of the query's cited abstracts
    corpus = {}
    for line in (folder / "corpus.jsonl").read_text(encoding="utf-8").splitlines():
        doc = json.loads(line)
        corpus[f"{doc['title']} {doc['text']}".strip()] = doc["_id"]
    for split in ("validation", "test"):
        for line in (out / f"eval/{split}.jsonl").read_text(encoding="utf-8").splitlines():
            rec = json.loads(line)
            positive_ids = {corpus[p] for p in rec["positive"]}
            assert positive_ids == qrels[rec["query_id"]]
            assert len(rec["negative"]) <= 6  # up to 2 x num_negatives candidates
            assert not {corpus[n] for n in rec["negative"]} & positive_ids

    train = load_dataset("csv", data_files=str(out / "autotrain/train.csv"), split="train")
    assert train.column_names == ["anchor", "positive", "negative"] and len(train) == m["splits"]["train"]["triplets"]
    test = load_dataset("json", data_files=str(out / "eval/test.jsonl"), split="train")
    assert len(test) == 3
    assert "prepared 'scifact'" in stdout and "mining: 30 queries" in stdout


def test_cmrc2018_squad_subset_with_mining(shared_datasets, tmp_path, run_cli):
    from datasets import load_dataset

    raw = json.loads((shared_datasets / "cmrc2018/raw/cmrc2018_trial.json").read_text(encoding="utf-8"))
    subset = {"version": raw.get("version"), "data": raw["data"][:20]}
    questions = {qa["question"].strip(): p["context"].strip()
                 for a in subset["data"] for p in a["paragraphs"] for qa in p["qas"] if qa["question"].strip()}
    src = tmp_path / "cmrc2018_trial_subset.json"
    src.write_text(json.dumps(subset, ensure_ascii=False), encoding="utf-8")
    out = tmp_path / "cmrc"
    code, stdout, err = run_cli("prepare", src, "--out", out, "--num-negatives", "2", "--margin", "off")
    assert code == 0, err
    m = json.loads((out / "dataset.json").read_text(encoding="utf-8"))
    assert m["sources"][0]["format"] == "squad"
    assert m["counts"]["queries"] == len(questions)
    assert m["mining"]["no_negative_queries"] == 0 and m["mining"]["removed_by_false_negative_guard"] == 0
    fe = load_dataset("json", data_files=str(out / "flagembedding/train.jsonl"), split="train")
    for rec in fe:
        assert rec["pos"] == [questions[rec["query"]]]  # a question's own paragraph is its positive
        assert len(rec["neg"]) == 2 and questions[rec["query"]] not in rec["neg"]
    val = load_dataset("json", data_files=str(out / "eval/validation.jsonl"), split="train")
    assert len(val) == m["splits"]["validation"]["queries"] > 0
