"""`autorerank eval`'s tasks: local eval files, built-in MTEB / C-MTEB tasks from local copies, T2 cross-lingual.

Real components throughout: the bundled all-MiniLM-L6-v2 (as a bi-encoder and as
a freshly headed CrossEncoder), real mteb, real files. Nothing is mocked except
the Hub, which is switched off by conftest (HF_HUB_OFFLINE=1) so "no Hub" is real.
"""

from __future__ import annotations

from wrapper.settings import RESULTS_METADATA

import json
from pathlib import Path

import pytest

from conftest import EN_ROWS, write_dataset, write_fake_mteb_repo
from wrapper.errors import InputError
from wrapper.evaluate import tasks as T

@pytest.fixture
def tiny_dataset(isolated_home) -> Path:
    return write_dataset(isolated_home)


@pytest.mark.parametrize(
    "line, match",
    [
        ("{not json", r"line 2.*not valid JSON"),
        ('{"query": "q", "positive": ["p"]}', r"line 2, column 'query_id': missing field"),
        ('{"query_id": "x", "query": "", "positive": ["p"]}', r"line 2, column 'query'"),
        ('{"query_id": "x", "query": "q", "positive": []}', r"line 2, column 'positive'.*at least one"),
        ('{"query_id": "x", "query": "q", "positive": "p", "negative": [1]}', r"line 2, column 'negative'"),
        ('{"query_id": "q1", "query": "q", "positive": ["p"]}', r"line 2.*duplicate query_id 'q1'"),
    ],
)
def test_bad_eval_lines_name_line_and_field(tmp_path, line, match):
    path = tmp_path / "validation.jsonl"
    path.write_text(json.dumps(EN_ROWS[0]) + "\n" + line + "\n", encoding="utf-8")
    with pytest.raises(InputError, match=match):
        T.read_rerank_jsonl(path)


def test_eval_file_becomes_candidates_with_dedup(tmp_path):
    rows = [{"query_id": 7, "query": "q", "positive": ["a", "a"], "negative": ["b", "a", "c"]}]
    path = tmp_path / "x.jsonl"
    path.write_text(json.dumps(rows[0]) + "\n", encoding="utf-8")
    data = T.read_rerank_jsonl(path)
    assert list(data.queries) == ["7"]
    assert len(data.candidates["7"]) == 3  # a (positive, once), b, c: a negative equal to a positive is dropped
    assert list(data.relevant["7"].values()) == [1]
    assert data.num_pairs == 3


def test_languages_detected_from_text():
    assert T.detect_languages(["how do plants make food"]) == ["eng-Latn"]
    assert T.detect_languages(["什么是机器学习", "机器学习是人工智能的一个分支"]) == ["cmn-Hans"]
    assert T.detect_languages(["什么是 machine learning 机器学习", "deep learning models"]) == ["eng-Latn", "cmn-Hans"]


def test_local_tasks_named_after_dataset_and_split(tiny_dataset):
    specs = T.resolve_task_specs(None, [tiny_dataset])
    assert [s.name for s in specs] == ["AutoRerank-tiny-validation"]
    assert specs[0].languages == ["eng"] and specs[0].dataset_hash == "sha-tiny"
    with pytest.raises(InputError, match="no split 'test'.*\n.*available: validation"):
        T.resolve_task_specs(None, [tiny_dataset], splits=["test"])
    with pytest.raises(InputError, match="dataset.json: not found"):
        T.resolve_task_specs(None, [tiny_dataset.parent])


def test_groups_expand_and_unknown_task_lists_choices():
    assert T.expand_task_names(["cmteb-rerank,MIRACLReranking:zho", "T2Reranking"]) == [
        "T2Reranking", "MMarcoReranking", "CMedQAv1-reranking", "CMedQAv2-reranking", "MIRACLReranking:zho"]
    with pytest.raises(InputError, match=r"unknown task 'NoSuchTask'(.|\n)*cmteb-rerank"):
        T.builtin_task_spec("NoSuchTask", mteb_data=None, hub=False)
    with pytest.raises(InputError, match="no language or subset 'xx'"):
        T.builtin_task_spec("MIRACLReranking:xx", mteb_data=None, hub=False)


def test_builtin_task_without_hub_or_copy_is_a_clear_error(tmp_path):
    # conftest sets HF_HUB_OFFLINE=1: the Hub is really "unreachable" here
    with pytest.raises(InputError, match=r"T2Reranking: needs its dataset mteb/T2Reranking from the Hugging Face Hub"
                                         r"(.|\n)*--mteb-data"):
        T.resolve_task_specs(["T2Reranking"], [])
    with pytest.raises(InputError, match=r"no copy under .*empty"):
        (tmp_path / "empty").mkdir()
        T.resolve_task_specs(["T2Reranking"], [], mteb_data=tmp_path / "empty")


def test_copy_without_top_ranked_is_refused(isolated_home):
    mteb_data = write_fake_mteb_repo(isolated_home, with_top_ranked=False)
    with pytest.raises(InputError, match=r"lacks the config\(s\) top_ranked(.|\n)*full-corpus retrieval"):
        T.resolve_task_specs(["T2Reranking"], [], mteb_data=mteb_data)


def test_loaded_task_without_top_ranked_is_refused(tmp_path):
    """What a datasets Arrow cache alone gives: data without candidate lists -> refuse, never score it."""
    path = tmp_path / "x.jsonl"
    path.write_text(json.dumps(EN_ROWS[0]) + "\n", encoding="utf-8")
    task = T.make_task("AutoRerank-x-dev", "d", T.read_rerank_jsonl(path), "dev", reference_path="x", revision="r")
    task.load_data()
    T.check_top_ranked(task)  # complete: fine
    task.dataset["default"]["dev"]["top_ranked"] = None
    with pytest.raises(InputError, match="without its top_ranked candidate lists"):
        T.check_top_ranked(task)


def test_t2_crosslingual_needs_its_jsonl(tmp_path):
    with pytest.raises(InputError, match="not part of mteb 2.x"):
        T.resolve_task_specs(["T2RerankingZh2En"], [])
    (tmp_path / "zh2en.jsonl").write_text(json.dumps(
        {"query": "什么是机器学习", "positive": ["Machine learning is a branch of AI."],
         "negative": ["The weather is nice today."]}, ensure_ascii=False) + "\n", encoding="utf-8")
    [spec] = T.resolve_task_specs(["T2RerankingZh2En"], [], t2_crosslingual=tmp_path)
    assert spec.name == "T2RerankingZh2En" and spec.split == "dev" and spec.languages == ["cmn", "eng"]


@pytest.mark.slow
def test_builtin_task_from_local_copy(isolated_home):
    from wrapper.evaluate import evaluate

    mteb_data = write_fake_mteb_repo(isolated_home)
    report = evaluate("bundled", tasks=["T2Reranking"], mteb_data=mteb_data, show_progress=False)
    [row] = report.rows
    assert (row["task"], row["split"], row["main_score_name"]) == ("T2Reranking", "dev", "map_at_1000")
    assert 0 < row["main_score"] <= 1
    stored = json.loads(Path(row["result_file"]).read_text())
    assert stored["task_name"] == "T2Reranking" and set(stored["scores"]) == {"dev"}
    meta = json.loads((Path(row["result_file"]).parent / RESULTS_METADATA).read_text())
    assert meta["tasks"]["T2Reranking"]["data_source"] == str(mteb_data / "T2Reranking")
    again = evaluate("bundled", tasks=["T2Reranking"], mteb_data=mteb_data, show_progress=False)
    assert again.rows[0]["skipped"] and again.rows[0]["main_score"] == row["main_score"]


@pytest.mark.slow
def test_t2_crosslingual_evaluates_from_jsonl(isolated_home):
    from wrapper.evaluate import evaluate

    folder = isolated_home / "t2"
    folder.mkdir()
    rows = [{"query": "what is machine learning", "positive": ["机器学习 machine learning is a branch of AI"],
             "negative": ["今天天气很好", "football is a sport"]},
            {"query": "capital of China", "positive": ["Beijing 北京 is the capital of China"],
             "negative": ["上海 Shanghai is a big city", "cats sleep a lot"]}]
    (folder / "T2RerankingEn2Zh.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                                                   encoding="utf-8")
    [row] = evaluate("bundled", tasks=["T2RerankingEn2Zh"], t2_crosslingual=folder, show_progress=False).rows
    assert (row["task"], row["split"], row["main_score_name"]) == ("T2RerankingEn2Zh", "dev", "map_at_1000")
    assert 0 < row["main_score"] <= 1 and Path(row["result_file"]).name == "T2RerankingEn2Zh.json"


def write_fake_miracl_repo(root: Path) -> Path:
    """A tiny `mteb/MIRACLReranking` copy with two language subsets (configs `<lang>-corpus` etc.)."""
    repo = root / "mteb-data" / "MIRACLReranking"
    data = {
        "zh": (["什么是机器学习", "中国的首都是哪里"], ["机器学习是人工智能的一个分支", "今天天气很好", "北京是中国的首都"]),
        "en": (["what is machine learning", "what is the capital of China"],
               ["Machine learning is a branch of AI", "The weather is nice today", "Beijing is the capital of China"]),
    }
    yaml = "---\nconfigs:\n"
    repo.mkdir(parents=True)
    for lang, (queries, docs) in data.items():
        rows = {
            "corpus": [{"_id": f"{lang}-c{i}", "title": "", "text": t} for i, t in enumerate(docs)],
            "queries": [{"_id": f"{lang}-q{i}", "text": t} for i, t in enumerate(queries)],
            "qrels": [{"query-id": f"{lang}-q0", "corpus-id": f"{lang}-c0", "score": 1},
                      {"query-id": f"{lang}-q1", "corpus-id": f"{lang}-c2", "score": 1}],
            "top_ranked": [{"query-id": f"{lang}-q{i}", "corpus-ids": [f"{lang}-c{j}" for j in range(3)]}
                           for i in range(2)],
        }
        for config, items in rows.items():
            (repo / lang / config).mkdir(parents=True)
            (repo / lang / config / "dev.jsonl").write_text(
                "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in items), encoding="utf-8")
            yaml += f"- config_name: {lang}-{config}\n  data_files:\n  - split: dev\n    path: {lang}/{config}/dev.jsonl\n"
    (repo / "README.md").write_text(yaml + "---\n# MIRACLReranking (tiny test copy)\n", encoding="utf-8")
    return repo.parent


@pytest.mark.slow
def test_language_subsets_accumulate_in_one_result(isolated_home):
    from wrapper.evaluate import evaluate

    mteb_data = write_fake_miracl_repo(isolated_home)
    [zh] = evaluate("bundled", tasks=["MIRACLReranking:zho"], mteb_data=mteb_data, show_progress=False).rows
    assert (zh["task"], zh["split"], zh["main_score_name"]) == ("MIRACLReranking", "dev", "ndcg_at_10")
    [en] = evaluate("bundled", tasks=["MIRACLReranking:en"], mteb_data=mteb_data, show_progress=False).rows
    assert not en["skipped"]
    stored = json.loads(Path(en["result_file"]).read_text())
    assert sorted(s["hf_subset"] for s in stored["scores"]["dev"]) == ["en", "zh"]  # zh kept, en added
    meta = json.loads((Path(en["result_file"]).parent / RESULTS_METADATA).read_text())
    assert meta["tasks"]["MIRACLReranking"]["subsets"] == ["en"]  # what its scores cover
    [again] = evaluate("bundled", tasks=["MIRACLReranking:zh"], mteb_data=mteb_data, show_progress=False).rows
    assert again["skipped"] and again["main_score"] == pytest.approx(zh["main_score"])


@pytest.mark.slow
def test_cli_reads_mteb_data_from_the_environment(isolated_home, run_cli, monkeypatch):
    monkeypatch.setenv("AUTORERANK_MTEB_DATA", str(write_fake_mteb_repo(isolated_home)))
    code, out, err = run_cli("eval", "bundled", "--tasks", "T2Reranking")
    assert code == 0, err
    assert "T2Reranking" in out and "dev" in out
