"""End to end: the real `wrapper.evaluate.evaluate` writes results/, the leaderboard reads them.

Real bundled all-MiniLM-L6-v2 (base, bi-encoder) and a CrossEncoder made from it
with a fresh seeded head (the "fine-tune"), real mteb on a tiny local dataset,
then the leaderboard library and the AppTest page. Nothing is mocked; the Hub is
off (conftest).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import isolate
from wrapper.leaderboard import loaders, tables

pytestmark = pytest.mark.slow

RUN_ID = "20261123-230000-tiny-ce"
#: what the leaderboard must show for the verdicts a 3-query split can give
SHOWN = {"inconclusive": "? inconclusive", "collapsed": "✖ collapsed"}
ROWS = [
    {"query_id": "q1", "query": "how do plants make food",
     "positive": ["Plants make food by photosynthesis using sunlight, water and carbon dioxide."],
     "negative": ["The stock market fell sharply on Monday.", "Cats sleep for most of the day."]},
    {"query_id": "q2", "query": "what is the capital of France",
     "positive": ["Paris is the capital and largest city of France."],
     "negative": ["Berlin is the capital of Germany.", "Bananas are rich in potassium."]},
    {"query_id": "q3", "query": "symptoms of the flu",
     "positive": ["Flu symptoms include fever, cough, sore throat and muscle aches."],
     "negative": ["A guitar usually has six strings.", "Rain forms when water vapour condenses."]},
]


@pytest.fixture(scope="module")
def evaluated_home(tmp_path_factory, ce_folder):
    """Evaluate and gate once per module (both tests read the same folders): the shared seeded CrossEncoder
    as a run's model, scored by the real evaluate and judged by the real gate."""
    from wrapper.evaluate import evaluate
    from wrapper.gate import check_run

    home = tmp_path_factory.mktemp("evaluated")
    data = home / "data" / "tiny"
    (data / "eval").mkdir(parents=True)
    (data / "eval" / "validation.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    (data / "dataset.json").write_text(json.dumps({
        "name": "tiny", "format_version": 1, "splits": {"validation": {"queries": len(ROWS)}}, "has_negatives": True,
        "files": {"eval": {"validation": "eval/validation.jsonl"}}, "content_hash": "sha-tiny"}))
    run = home / "runs" / RUN_ID
    run.mkdir(parents=True)
    status = {"run_id": RUN_ID, "state": "succeeded", "backend": "cross-encoder", "task": "cross-encoder:bce",
              "kind": "cross-encoder", "base_model": "sentence-transformers/all-MiniLM-L6-v2", "dataset": str(data),
              "model": str(ce_folder)}
    (run / "status.json").write_text(json.dumps(status))
    with pytest.MonkeyPatch.context() as mp:
        isolate(mp, home)
        report = evaluate(RUN_ID, show_progress=False)
        # the real gate judges the run and writes status.json["gate"], as the pipeline does after training
        check_run(run, general=[])
    return home, {r["role"]: r for r in report.rows}


@pytest.fixture
def evaluated(isolated_home, monkeypatch, evaluated_home):
    isolate(monkeypatch, evaluated_home[0])
    return evaluated_home


def test_leaderboard_reads_what_evaluate_wrote(evaluated):
    home, by_role = evaluated
    res = loaders.load_results(home / "results")
    assert res.problems == []
    rows = {r["role"]: r for r in res.rows}
    assert set(rows) == {"fine-tune", "base"}
    for role in ("fine-tune", "base"):
        assert rows[role]["model_name"] == by_role[role]["model_name"]
        assert rows[role]["main_score"] == pytest.approx(by_role[role]["main_score"], abs=1e-6)
    assert rows["fine-tune"]["kind"] == "cross-encoder" and rows["base"]["kind"] == "bi-encoder"
    assert rows["fine-tune"]["task"] == "AutoRerank-tiny-validation"

    df = tables.combine(res, include_reference=False)
    runs = loaders.load_runs(home / "runs").runs
    cmp = tables.compare_table(df, "main score", runs)
    assert len(cmp) == 1
    row = cmp.iloc[0]
    expected = (by_role["fine-tune"]["main_score"] - by_role["base"]["main_score"]) * 100
    assert row["Δ"] == pytest.approx(expected, abs=0.01)
    gate = json.loads((home / "runs" / RUN_ID / "status.json").read_text())["gate"]
    # 3 validation queries cannot judge a fine-tune (the gate needs 5 with negatives), unless it collapsed
    assert gate["verdict"] in ("inconclusive", "collapsed") and runs[RUN_ID].verdict == gate["verdict"]
    assert row["Gate"] == SHOWN[gate["verdict"]] and row["verdict"] == gate["verdict"]
    assert not row["success"]


def test_app_shows_the_evaluated_models(evaluated):
    from streamlit.testing.v1 import AppTest

    home, by_role = evaluated
    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "dashboards" / "leaderboard.py"), default_timeout=60).run()
    assert not at.exception
    df = at.dataframe[0].value.set_index("Model")
    fine = f"autorerank/{RUN_ID}"
    assert {fine, "sentence-transformers/all-MiniLM-L6-v2"} <= set(df.index)
    assert df.loc[fine, "AutoRerank-tiny-validation"] == pytest.approx(round(by_role["fine-tune"]["main_score"] * 100, 2))
    verdict = json.loads((home / "runs" / RUN_ID / "status.json").read_text())["gate"]["verdict"]
    assert df.loc[fine, "Gate"] == SHOWN[verdict]
    assert not at.warning
