"""The general-domain set shipped in wrapper/data/general/ (the gate's default out-of-domain check).

Fast, no model: the file parses with the project's own reader, every record can be ranked,
and dataset.json agrees with the file it describes.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

from wrapper.dataset import Dataset, iter_records

GENERAL = Path(__file__).resolve().parent.parent / "wrapper" / "data" / "general"
EVAL_FILE = GENERAL / "eval" / "validation.jsonl"
ID_PATTERN = re.compile(r"gen-(en|zh)-\d{3}")
HAN = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def manifest() -> dict:
    return Dataset.open(GENERAL).manifest


@pytest.fixture(scope="module")
def records() -> list[dict]:
    return [record for _, record in iter_records(EVAL_FILE)]


def raw_lines() -> list[dict]:
    return [json.loads(line) for line in EVAL_FILE.read_text(encoding="utf-8").splitlines()]


def test_every_line_is_a_complete_record():
    for line_no, row in enumerate(raw_lines(), 1):
        assert set(row) == {"query_id", "query", "positive", "negative"}, f"line {line_no}: {sorted(row)}"
        assert isinstance(row["positive"], list) and isinstance(row["negative"], list), f"line {line_no}"
        texts = [row["query"], *row["positive"], *row["negative"]]
        assert all(isinstance(t, str) and t.strip() == t and t for t in texts), f"line {line_no}: empty or padded text"


def test_records_are_rankable(records):
    ids = [r["query_id"] for r in records]
    assert len(ids) == len(set(ids))
    queries = [r["query"].casefold() for r in records]
    assert len(queries) == len(set(queries)), "two records ask the same query"
    for r in records:
        assert ID_PATTERN.fullmatch(r["query_id"]), r["query_id"]
        pos, neg = r["positive"], r["negative"]
        assert 1 <= len(pos) <= 2, r["query_id"]
        assert len(set(pos)) == len(pos) and len(set(neg)) == len(neg), f"{r['query_id']}: a repeated passage"
        assert not set(pos) & set(neg), f"{r['query_id']}: a passage is both positive and negative"
        assert len(pos) + len(neg) >= 5, f"{r['query_id']}: too few candidates to rank"


def test_language_of_each_record_matches_its_id(records):
    for r in records:
        texts = [r["query"], *r["positive"], *r["negative"]]
        if r["query_id"].startswith("gen-zh-"):
            assert all(HAN.search(t) for t in texts), r["query_id"]
        else:
            assert not any(HAN.search(t) for t in texts), r["query_id"]


def test_both_languages_present_with_english_the_larger_part(records):
    by_lang = {"en": 0, "zh": 0}
    for r in records:
        by_lang[r["query_id"].split("-")[1]] += 1
    assert by_lang["en"] >= 30 and by_lang["zh"] >= 15, by_lang


def test_manifest_counts_match_the_file(manifest, records):
    assert manifest["name"] == "general-en-zh"
    assert manifest["format_version"] == 1
    assert manifest["has_negatives"] is True
    assert Dataset.open(GENERAL).eval_split("validation") == EVAL_FILE.resolve()
    split = manifest["splits"]["validation"]
    assert split["queries"] == len(records)
    assert split["positives"] == sum(len(r["positive"]) for r in records)
    assert split["negatives"] == sum(len(r["negative"]) for r in records)
    assert split["queries_without_negatives"] == sum(1 for r in records if not r["negative"])
    by_lang: dict[str, int] = {}
    for r in records:
        lang = r["query_id"].split("-")[1]
        by_lang[lang] = by_lang.get(lang, 0) + 1
    assert manifest["counts"]["queries_by_language"] == by_lang
    passages = {t for r in records for t in r["positive"] + r["negative"]}
    assert manifest["counts"]["passages"] == len(passages)


def test_content_hash_matches_the_file(manifest):
    digest = hashlib.sha256(EVAL_FILE.read_bytes()).hexdigest()
    assert manifest["content_hash"] == digest, (
        "eval/validation.jsonl changed: recompute content_hash (sha256 of the file) and the counts in dataset.json"
    )


def test_provenance_is_documented(manifest):
    prov = manifest["provenance"]
    assert prov["licence"] == "Apache-2.0"
    doc = GENERAL / prov["details"]
    assert doc.is_file()
    text = doc.read_text(encoding="utf-8")
    assert "Apache-2.0" in text and manifest["content_hash"][:12] in text


def test_the_gate_default_resolves_to_this_set(manifest, records):
    from wrapper.gate.sets import DEFAULT_GENERAL, GENERAL_SET_DIR, resolve_general

    assert GENERAL_SET_DIR.resolve() == GENERAL.resolve()
    (general,) = resolve_general([DEFAULT_GENERAL])
    assert general.name == manifest["name"]
    assert [r["query_id"] for r in general.records] == [r["query_id"] for r in records]
    assert general.informative == len(records)
