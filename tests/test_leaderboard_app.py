"""The Streamlit leaderboard driven through `streamlit.testing.v1.AppTest`.

The app reads $AUTORERANK_RESULTS / $AUTORERANK_RUNS, which the autouse
`isolated_home` fixture points into the test's temp folder; the folders are
filled by `tests/leaderboard_fixtures.py` (real mteb TaskResult files).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import run_app
from tests.leaderboard_fixtures import (
    BUNDLED,
    BUNDLED_REV,
    FT_BAD,
    FT_COLLAPSED,
    FT_GOOD,
    SAMPLE,
    build_scenario,
    write_model,
    write_run,
)

ENTRY = Path(__file__).resolve().parents[1] / "dashboards" / "leaderboard.py"
PAGES = ["leaderboard_pages/overview.py", "leaderboard_pages/compare.py", "leaderboard_pages/model.py"]
TIMEOUT = 60


def app(page: str | None = None):
    return run_app(ENTRY, page, TIMEOUT)


def table(at):
    """The main leaderboard table (first dataframe on the page), indexed by model."""
    return at.dataframe[0].value.set_index("Model")


def texts(elements) -> list[str]:
    return [str(e.value) for e in elements]


@pytest.fixture
def scenario(isolated_home):
    return build_scenario(isolated_home)


def test_app_opens_with_expected_rows(scenario):
    at = app()
    assert "Reranker leaderboard" in at.title[0].value
    df = table(at)
    assert set(df.index) == {
        FT_GOOD, BUNDLED, FT_BAD, FT_COLLAPSED, "BAAI/bge-small-en-v1.5",
        "BAAI/bge-reranker-base", "BAAI/bge-reranker-large", "maidalun1020/bce-reranker-base_v1",
    }
    assert df.loc[FT_GOOD, "Rank"] == "1" and df.loc[FT_GOOD, SAMPLE.name] == pytest.approx(64.0)
    assert df.loc[FT_BAD, "Gate"] == "▼ regressed" and df.loc[FT_COLLAPSED, "Gate"] == "✖ collapsed"
    assert (df.loc["BAAI/bge-reranker-base", "Type"], df.loc["BAAI/bge-reranker-base", "Rank"]) == ("reference", "—")
    assert not at.warning  # nothing is broken
    assert len(at.get("vega_lite_chart")) == 2
    assert at.get("download_button")


def test_filters_change_the_table(scenario):
    at = app()
    at.multiselect(key="filter_kinds").set_value(["cross-encoder"]).run()
    assert set(table(at).index) == {FT_BAD, FT_COLLAPSED, "BAAI/bge-reranker-base", "BAAI/bge-reranker-large",
                                    "maidalun1020/bce-reranker-base_v1"}
    at.multiselect(key="filter_datasets").set_value(["data/cmrc2018"]).run()
    assert set(table(at).index) == {FT_BAD}
    at.multiselect(key="filter_kinds").set_value([]).run()
    at.multiselect(key="filter_datasets").set_value([]).run()
    at.multiselect(key="filter_tasks").set_value(["AutoRerank-cmrc2018-validation"]).run()
    df = table(at)
    assert set(df.index) == {BUNDLED, FT_GOOD, FT_BAD}
    assert SAMPLE.name not in df.columns
    at.multiselect(key="filter_tasks").set_value([]).run()
    at.multiselect(key="filter_base_models").set_value(["BAAI/bge-small-en-v1.5"]).run()
    assert list(table(at).index) == ["BAAI/bge-small-en-v1.5"]
    at.multiselect(key="filter_base_models").set_value([]).run()
    at.multiselect(key="filter_languages").set_value(["eng"]).run()
    assert "BAAI/bge-reranker-base" not in table(at).index  # references are Chinese


def test_choices_survive_a_page_switch(scenario):
    at = app()
    at.radio(key="metric").set_value("MRR@10").run()
    at.multiselect(key="filter_kinds").set_value(["cross-encoder"]).run()
    at.switch_page("leaderboard_pages/compare.py").run()
    assert at.radio(key="metric").value == "MRR@10"
    assert set(at.dataframe[0].value["Model"]) == {FT_BAD, FT_COLLAPSED}
    at.switch_page("leaderboard_pages/overview.py").run()
    assert at.multiselect(key="filter_kinds").value == ["cross-encoder"]


def test_rows_link_to_their_drill_down(scenario):
    df = table(app())
    assert df.loc[FT_GOOD, "Details"] == "model?model=autorerank%2F20261123-214500-sample-minilm"
    assert not isinstance(df.loc["BAAI/bge-reranker-base", "Details"], str)  # published rows have no details


def test_reference_rows_can_be_hidden(scenario):
    at = app()
    at.toggle(key="show_reference").set_value(False).run()
    df = table(at)
    assert "reference" not in set(df["Type"]) and len(df) == 5
    assert "T2Reranking" not in df.columns


def test_metric_switch_changes_values(scenario):
    at = app()
    assert table(at).loc[FT_GOOD, SAMPLE.name] == pytest.approx(64.0)
    at.radio(key="metric").set_value("MRR@10").run()
    df = table(at)
    assert df.loc[FT_GOOD, SAMPLE.name] == pytest.approx(70.0)
    assert df.loc[BUNDLED, SAMPLE.name] == pytest.approx(66.0)
    assert "BAAI/bge-reranker-base" not in df.index  # only MAP was published
    at.radio(key="metric").set_value("NDCG@10").run()
    assert table(at).loc[BUNDLED, SAMPLE.name] == pytest.approx(68.0)


def test_corrupt_file_shows_a_warning_not_a_crash(scenario):
    broken = scenario.results / "results" / "org__half-written" / "rev1"
    broken.mkdir(parents=True)
    (broken / "AutoRerank-sample-validation.json").write_text('{"task_name": "AutoRerank-sample-validation", "scores": {"valid')
    at = app()
    warnings = texts(at.warning)
    assert any("org__half-written/rev1/AutoRerank-sample-validation.json" in w and "not valid JSON" in w for w in warnings), warnings
    assert FT_GOOD in table(at).index  # the rest still loads


def test_empty_results_folder_is_friendly(isolated_home):
    (isolated_home / "results").mkdir()
    at = app()
    assert any("No results yet" in i and "autorerank eval" in i for i in texts(at.info))
    assert set(table(at)["Type"]) == {"reference"}  # published rows still give context


def test_new_result_file_shows_up_and_unchanged_folder_is_cached(scenario, monkeypatch):
    from wrapper.leaderboard import loaders

    calls = []
    real = loaders.load_results
    monkeypatch.setattr(loaders, "load_results", lambda path: calls.append(path) or real(path))
    at = app()
    at.run()
    assert len(calls) == 1  # second run: same fingerprint, served from st.cache_data
    write_model(scenario.results, "org/new-model", "0123456789ab", {SAMPLE: {"map_at_1000": 0.70}}, role="external")
    at.run()
    assert len(calls) == 2
    assert table(at).loc["org/new-model", SAMPLE.name] == pytest.approx(70.0)


def test_failing_chart_says_why_instead_of_breaking(scenario):
    at = app()
    at.multiselect(key="filter_base_models").set_value(["BAAI/bge-small-en-v1.5"]).run()  # no fine-tunes left
    assert not at.exception
    assert any(w.startswith("couldn't produce plot: no fine-tune has its base model") for w in texts(at.warning))
    assert len(at.get("vega_lite_chart")) == 1  # the per-task chart still renders


def test_compare_page_colours_and_gate(scenario):
    at = app("leaderboard_pages/compare.py")
    cmp = at.dataframe[0].value
    row = cmp[(cmp["Model"] == FT_BAD) & (cmp["Task"] == "AutoRerank-cmrc2018-validation")].iloc[0]
    assert row["Δ"] == pytest.approx(3.0) and row["Gate"] == "▼ regressed"
    gates = at.dataframe[1].value.set_index("Model")
    for model in (FT_GOOD, FT_BAD, FT_COLLAPSED):  # each row shows its own run's advice, as the gate wrote it
        stored = json.loads((scenario.runs / model.split("/")[1] / "status.json").read_text())["gate"]
        assert gates.loc[model, "Advice"] == stored["advice"] and gates.loc[model, "Spread"] == stored["spread"]
    assert gates.loc[FT_GOOD, "Advice"] != gates.loc[FT_BAD, "Advice"]


def test_inconclusive_gate_is_shown_as_such_never_as_a_gain(scenario):
    """A fine-tune 5 MAP points up whose split could not judge it: grey '? inconclusive', never green."""
    from wrapper.leaderboard import tables

    run_id = "20261123-223000-sample-few-negatives"
    model = f"autorerank/{run_id}"
    write_model(scenario.results, model, "1ac0c1051e00", {SAMPLE: {"map_at_1000": 0.66, "mrr_at_10": 0.70}},
                role="fine-tune", run_id=run_id, base=(BUNDLED, BUNDLED_REV), seed=6)
    write_run(scenario.runs, run_id, verdict="inconclusive", base=0.61, fine_tuned=0.66)
    gate = json.loads((scenario.runs / run_id / "status.json").read_text())["gate"]

    assert table(app()).loc[model, "Gate"] == "? inconclusive"
    at = app("leaderboard_pages/compare.py")
    cmp = at.dataframe[0].value
    row = cmp[cmp["Model"] == model].iloc[0]
    assert row["Gate"] == "? inconclusive" and row["Δ"] == pytest.approx(5.0)
    assert tables.delta_colour(row["Δ"], "inconclusive") == f"color: {tables.GREY}"  # a gain nobody confirmed
    assert at.dataframe[1].value.set_index("Model").loc[model, "Advice"] == gate["advice"]

    at = app("leaderboard_pages/model.py")
    at.selectbox(key="model_select").set_value(model).run()
    assert not at.exception and not at.success and not at.error
    [shown] = [w.value for w in at.warning if "Gate:" in w.value]
    assert "? inconclusive" in shown and gate["advice"] in shown


def test_model_drill_down_shows_config_curve_and_gate(scenario):
    at = app("leaderboard_pages/model.py")
    at.selectbox(key="model_select").set_value(FT_BAD).run()
    assert not at.exception
    assert any("regressed" in e.value for e in at.error)
    assert "task: cross-encoder:mnrl" in at.code[0].value
    details = at.dataframe[0].value
    assert set(details["Task"]) == {SAMPLE.name, "AutoRerank-cmrc2018-validation"}
    assert len(at.get("vega_lite_chart")) == 1  # training curve
    at.selectbox(key="model_select").set_value(BUNDLED).run()
    assert not at.exception and not at.code  # a base model has no run


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("data", ["scenario", "empty", "missing"])
def test_every_page_opens(isolated_home, page, data):
    if data == "scenario":
        build_scenario(isolated_home)
    elif data == "empty":
        (isolated_home / "results" / "results").mkdir(parents=True)
        (isolated_home / "runs").mkdir()
    at = app(page)
    assert at.title and not at.exception
    if data != "scenario":
        assert any("No results yet" in i for i in texts(at.info))
