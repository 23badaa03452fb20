"""Leaderboard library and CLI: loaders, tables, figures, serve checks.

Result folders come from `tests/leaderboard_fixtures.py`: real mteb TaskResult
files (mteb's own classes and writer) plus autorerank/metadata.json and run folders.
Nothing is mocked.
"""

from __future__ import annotations

from wrapper.settings import RESULTS_METADATA

import socket
import time

import pytest

from tests.leaderboard_fixtures import BUNDLED, FT_BAD, FT_COLLAPSED, FT_GOOD, SAMPLE, build_scenario, write_model
from wrapper.leaderboard import figures, loaders, tables

EXTERNAL = "BAAI/bge-small-en-v1.5"


@pytest.fixture
def scenario(isolated_home):
    return build_scenario(isolated_home)


def frame(sc, *, reference=True, metric=None):
    res = loaders.load_results(sc.results)
    ref, problems = loaders.load_reference()
    assert problems == []
    return tables.combine(res, ref, include_reference=reference), loaders.load_runs(sc.runs).runs


# --------------------------------------------------------------------------- loaders


def test_fixture_files_are_real_mteb_results(scenario):
    import mteb

    paths = sorted(p for p in scenario.results.glob("results/*/*/*.json") if p.name not in loaders.NON_TASK_FILES)
    assert len(paths) == 8
    for path in paths:
        tr = mteb.TaskResult.from_disk(path)
        assert 0 < tr.get_score() <= 1
    # mteb's own reader sees the same models (our metadata sits in a subfolder mteb never reads)
    cache = mteb.ResultCache(scenario.results)
    loaded = cache.load_results(tasks=[SAMPLE.name], include_remote=False)
    assert {m.model_name for m in loaded.model_results} == {BUNDLED, FT_GOOD, FT_BAD, FT_COLLAPSED, EXTERNAL}


def test_plain_json_scores_equal_mteb_reader(scenario):
    import mteb

    res = loaders.load_results(scenario.results)
    assert res.problems == []
    assert len(res.rows) == 8
    for row in res.rows:
        tr = mteb.TaskResult.from_disk(scenario.results.parent / row["path"])
        assert row["main_score"] == pytest.approx(tr.get_score())
        assert row["map_at_1000"] == pytest.approx(tr.scores[row["split"]][0]["map_at_1000"])
        assert row["ndcg_at_10"] == pytest.approx(tr.scores[row["split"]][0]["ndcg_at_10"])


def test_rows_are_enriched_from_autorerank_json_and_model_meta(scenario):
    res = loaders.load_results(scenario.results)
    by = {(r["model_name"], r["task"]): r for r in res.rows}
    good = by[(FT_GOOD, SAMPLE.name)]
    assert good["role"] == "fine-tune" and good["kind"] == "bi-encoder"
    assert good["run_id"] == FT_GOOD.split("/")[1]
    assert good["base_model_name"] == BUNDLED and good["dataset"] == "data/sample"
    assert set(good["languages"]) == {"eng", "cmn"}
    assert good["precision"] == "fp32" and good["batch_size"] == 32
    bad = by[(FT_BAD, SAMPLE.name)]
    assert bad["kind"] == "cross-encoder"
    # no autorerank/metadata.json: kind from mteb's model_meta.json, role external, dataset = task
    ext = by[(EXTERNAL, SAMPLE.name)]
    assert (ext["role"], ext["kind"], ext["dataset"], ext["run_id"]) == ("external", "bi-encoder", SAMPLE.name, None)


@pytest.mark.parametrize(
    "content, reason",
    [
        ('{"task_name": "AutoRerank-sample-validation", "scores": {"valid', r"not valid JSON \(.*line 1 column"),
        ("", "empty file"),
        ('{"task_name": "AutoRerank-sample-validation", "mteb_version": "2.26.24"}', "no 'scores'"),
        ('{"task_name": "X", "scores": {"validation": [{"main_score": "high"}]}}', "'main_score' missing or not a number"),
        ('{"task_name": "X", "scores": {"validation": []}}', "has no score entries"),
        ("[1, 2, 3]", "not a JSON object"),
    ],
)
def test_corrupt_or_partial_result_is_skipped_with_reason(scenario, content, reason):
    bad = scenario.results / "results" / "org__broken" / "rev1"
    bad.mkdir(parents=True)
    (bad / "AutoRerank-sample-validation.json").write_text(content)
    res = loaders.load_results(scenario.results)
    assert len(res.rows) == 8  # the good files all still load
    assert len(res.problems) == 1
    problem = res.problems[0]
    assert problem.path.endswith("org__broken/rev1/AutoRerank-sample-validation.json")
    assert "skipped" in problem.reason
    import re

    assert re.search(reason, problem.reason), problem.reason


def test_corrupt_autorerank_json_keeps_scores_and_warns(scenario):
    folder = next(scenario.results.glob("results/autorerank__20261123-214500*/*"))
    (folder / RESULTS_METADATA).write_text("{torn")
    res = loaders.load_results(scenario.results)
    assert len(res.rows) == 8
    assert [p.path.endswith(RESULTS_METADATA) for p in res.problems] == [True]
    row = next(r for r in res.rows if r["model_name"] == FT_GOOD and r["task"] == SAMPLE.name)
    assert row["role"] == "external" and row["kind"] == "bi-encoder"  # from model_meta.json


def test_missing_and_empty_results_folder(isolated_home):
    assert loaders.load_results(isolated_home / "nope").rows == []
    (isolated_home / "results" / "results").mkdir(parents=True)
    res = loaders.load_results(isolated_home / "results")
    assert res.rows == [] and res.problems == []
    assert loaders.results_fingerprint(isolated_home / "nope") == ()


def test_fingerprint_changes_when_a_file_changes(scenario):
    before = loaders.results_fingerprint(scenario.results)
    assert len(before) == 8 + 5 + 4  # task files + model_meta.json + autorerank/metadata.json
    assert loaders.results_fingerprint(scenario.results) == before
    path = next(scenario.results.glob("results/*/*/AutoRerank-sample-validation.json"))
    time.sleep(0.01)
    path.write_text(path.read_text().replace('"evaluation_time": 3.2', '"evaluation_time": 3.3'))
    assert loaders.results_fingerprint(scenario.results) != before


def test_reference_rows_keep_their_source_and_published_means():
    rows, problems = loaders.load_reference()
    assert problems == []
    assert all(r["is_reference"] and r["role"] == "reference" and "published" in r["source"] for r in rows)
    df = tables.combine(loaders.LoadedResults(), rows)
    table = tables.leaderboard_table(df, "MAP")
    means = dict(zip(table["Model"], table["Mean"]))
    assert means["BAAI/bge-reranker-base"] == pytest.approx(67.03, abs=0.01)
    assert means["maidalun1020/bce-reranker-base_v1"] == pytest.approx(66.33, abs=0.01)
    assert means["BAAI/bge-reranker-large"] == pytest.approx(67.78, abs=0.015)
    assert set(table["Rank"]) == {"—"}  # published rows are never ranked among ours


def test_bad_reference_line_is_reported(tmp_path):
    csv = tmp_path / "ref.csv"
    csv.write_text("model,task,split,metric,score_x100,source\nm,T2Reranking,dev,map_at_1000,67.2,x\nm,T2,dev,bogus,1,x\n")
    rows, problems = loaders.load_reference(csv)
    assert len(rows) == 1 and rows[0]["map_at_1000"] == pytest.approx(0.672)
    assert "line 3" in problems[0].path and "bogus" in problems[0].reason


def test_runs_loader_reports_bad_status_and_torn_metrics(scenario):
    bad = scenario.runs / "broken-run"
    bad.mkdir()
    (bad / "status.json").write_text("{")
    loaded = loaders.load_runs(scenario.runs)
    assert set(loaded.runs) == {FT_GOOD.split("/")[1], FT_BAD.split("/")[1], FT_COLLAPSED.split("/")[1]}
    assert loaded.runs[FT_BAD.split("/")[1]].verdict == "regressed"
    assert "task: cross-encoder:mnrl" in loaded.runs[FT_BAD.split("/")[1]].config_text
    assert [p.path for p in loaded.problems] == ["runs/broken-run/status.json"]
    metrics = scenario.runs / FT_GOOD.split("/")[1] / "metrics.jsonl"
    with metrics.open("a") as fh:
        fh.write('{"step": 11, "loss": 0.1')  # torn by a crash
    records, problems = loaders.load_metrics(metrics)
    assert len(records) == 10 and "1 unreadable line(s): 11" in problems[0].reason
    curve = tables.metrics_frame(records)
    assert set(curve["series"]) == {"loss", "learning_rate", "eval_cosine_accuracy", "eval_loss"}
    assert curve[curve["series"] == "loss"]["value"].is_monotonic_decreasing


# --------------------------------------------------------------------------- tables


def test_leaderboard_table_ranks_means_and_gates(scenario):
    df, runs = frame(scenario)
    table = tables.leaderboard_table(df, "MAP", runs)
    assert list(table.columns[:5]) == ["Rank", "Model", "Gate", "Mean", "Δ vs base"]
    assert list(table.columns[-4:]) == ["Type", "Kind", "Base model", "Tasks"]
    ours = table[table["Type"] != "reference"]
    assert list(ours["Model"]) == [FT_GOOD, BUNDLED, FT_BAD, EXTERNAL, FT_COLLAPSED]
    assert list(ours["Rank"]) == ["1", "2", "3", "4", "5"]
    row = table.set_index("Model").loc[FT_GOOD]
    assert row["Mean"] == pytest.approx((64.0 + 29.0) / 2)
    assert row[SAMPLE.name] == pytest.approx(64.0)
    assert row["Δ vs base"] == pytest.approx(((64 - 61) + (29 - 30)) / 2)
    gates = dict(zip(table["Model"], table["Gate"]))
    assert gates[FT_GOOD] == "▲ improved"
    assert gates[FT_BAD] == "▼ regressed"
    assert gates[FT_COLLAPSED] == "✖ collapsed"
    assert gates[BUNDLED] == ""
    refs = table[table["Type"] == "reference"]
    assert len(refs) == 3 and refs.index.min() > ours.index.max()  # listed after ours


def test_metric_switch_changes_values(scenario):
    df, runs = frame(scenario, reference=False)
    by_metric = {m: tables.leaderboard_table(df, m, runs).set_index("Model").loc[FT_GOOD, SAMPLE.name] for m in ("MAP", "MRR@10", "NDCG@10", "main score")}
    assert by_metric == {"MAP": 64.0, "MRR@10": 70.0, "NDCG@10": 70.0, "main score": 64.0}
    with pytest.raises(ValueError, match="choose one of"):
        tables.metric_key("MAP@5")


@pytest.mark.parametrize(
    "filters, expected",
    [
        (tables.Filters(kinds=["cross-encoder"]), {FT_BAD, FT_COLLAPSED}),
        (tables.Filters(tasks=["AutoRerank-cmrc2018-validation"]), {BUNDLED, FT_GOOD, FT_BAD}),
        (tables.Filters(base_models=[EXTERNAL]), {EXTERNAL}),
        (tables.Filters(base_models=[BUNDLED]), {BUNDLED, FT_GOOD, FT_BAD, FT_COLLAPSED}),
        (tables.Filters(datasets=["data/cmrc2018"]), {BUNDLED, FT_GOOD, FT_BAD}),
        (tables.Filters(kinds=["cross-encoder"], datasets=["data/cmrc2018"]), {FT_BAD}),
    ],
)
def test_filters(scenario, filters, expected):
    df, runs = frame(scenario, reference=False)
    table = tables.leaderboard_table(tables.apply_filters(df, filters), "MAP", runs)
    assert set(table["Model"]) == expected


def test_language_filter_keeps_tasks_in_that_language(scenario):
    df, runs = frame(scenario)
    eng = tables.leaderboard_table(tables.apply_filters(df, tables.Filters(languages=["eng"])), "MAP", runs)
    assert set(eng["Model"]) == {BUNDLED, FT_GOOD, FT_BAD, FT_COLLAPSED, EXTERNAL}  # references are Chinese-only
    assert SAMPLE.name in eng.columns and "AutoRerank-cmrc2018-validation" not in eng.columns
    cmn = tables.leaderboard_table(tables.apply_filters(df, tables.Filters(languages=["cmn"])), "MAP", runs)
    assert {"T2Reranking", "AutoRerank-cmrc2018-validation", SAMPLE.name} <= set(cmn.columns)
    assert "BAAI/bge-reranker-base" in set(cmn["Model"])


def test_filter_options_list_every_facet(scenario):
    df, _ = frame(scenario)
    opts = tables.filter_options(df)
    assert opts["kinds"] == ["bi-encoder", "cross-encoder"]
    assert opts["languages"] == ["cmn", "eng"]
    assert BUNDLED in opts["base_models"] and EXTERNAL in opts["base_models"] and "nan" not in opts["base_models"]
    assert "T2Reranking" in opts["tasks"] and "data/sample" in opts["datasets"]


def test_regressed_run_is_never_a_success(scenario):
    df, runs = frame(scenario)
    cmp = tables.compare_table(df, "MAP", runs).set_index(["Model", "Task"])
    good = cmp.loc[(FT_GOOD, SAMPLE.name)]
    assert (good["Base"], good["Fine-tuned"], good["Δ"], bool(good["success"])) == (61.0, 64.0, 3.0, True)
    # the regressed cross-encoder gained +3 on cmrc2018, but its run's gate said regressed
    gained = cmp.loc[(FT_BAD, "AutoRerank-cmrc2018-validation")]
    assert gained["Δ"] == pytest.approx(3.0) and not gained["success"] and gained["Gate"] == "▼ regressed"
    assert "color: #1a7f37" not in tables.delta_colour(gained["Δ"], gained["verdict"])
    collapsed = cmp.loc[(FT_COLLAPSED, SAMPLE.name)]
    assert collapsed["Δ"] == pytest.approx(-48.0) and collapsed["Gate"] == "✖ collapsed"
    # styled for display without error, colours included
    html = tables.style_compare(cmp.reset_index()).to_html()
    assert tables.RED in html and tables.GREEN in html


@pytest.mark.parametrize(
    "delta, verdict, colour",
    [(3.0, "improved", tables.GREEN), (3.0, None, tables.GREEN), (-2.0, None, tables.RED), (-2.0, "improved", tables.RED),
     (3.0, "regressed", tables.GREY), (3.0, "collapsed", tables.GREY), (-5.0, "collapsed", tables.RED), (0.0, None, tables.GREY),
     (3.0, "inconclusive", tables.GREY), (-2.0, "inconclusive", tables.RED)],
)
def test_delta_colours(delta, verdict, colour):
    assert colour in tables.delta_colour(delta, verdict)


def test_an_inconclusive_gate_is_shown_grey_and_not_as_a_success():
    label, success = tables.VERDICTS["inconclusive"]
    assert not success
    assert tables.gate_colour(label) == f"color: {tables.GREY}"
    assert figures.GATE_COLOURS[label] == tables.GREY


def test_filtering_on_kind_still_finds_the_other_kind_base(scenario):
    df, runs = frame(scenario, reference=False)
    cross = tables.apply_filters(df, tables.Filters(kinds=["cross-encoder"]))
    assert tables.compare_table(cross, "MAP", runs).empty  # the bi-encoder base was filtered out...
    cmp = tables.compare_table(cross, "MAP", runs, bases=df)  # ...so bases come from the unfiltered frame
    assert set(cmp["Model"]) == {FT_BAD, FT_COLLAPSED}
    table = tables.leaderboard_table(cross, "MAP", runs, bases=df).set_index("Model")
    assert table.loc[FT_BAD, "Δ vs base"] == pytest.approx(((55 - 61) + (33 - 30)) / 2)


def test_fine_tune_without_run_folder_is_not_gated(scenario):
    import shutil

    shutil.rmtree(scenario.runs / FT_GOOD.split("/")[1])
    df, runs = frame(scenario)
    cmp = tables.compare_table(df, "MAP", runs)
    row = cmp[cmp["Model"] == FT_GOOD].iloc[0]
    assert row["Gate"] == tables.NOT_GATED and not row["success"]


def test_two_revisions_of_one_model_get_distinct_labels(scenario):
    write_model(scenario.results, BUNDLED, "ffff00001111", {SAMPLE: {"map_at_1000": 0.62}}, role="base")
    df, runs = frame(scenario, reference=False)
    table = tables.leaderboard_table(df, "MAP", runs)
    assert {f"{BUNDLED} @ c9745ed1", f"{BUNDLED} @ ffff0000"} <= set(table["Model"])


def test_csv_download_round_trips(scenario):
    import io

    import pandas as pd

    df, runs = frame(scenario)
    table = tables.leaderboard_table(df, "MAP", runs)
    back = pd.read_csv(io.BytesIO(tables.to_csv_bytes(table)))
    assert list(back.columns) == list(table.columns)
    assert back.loc[back["Model"] == FT_GOOD, SAMPLE.name].item() == pytest.approx(64.0)


def test_evaluation_details_of_one_model(scenario):
    df, _ = frame(scenario)
    details = tables.evaluation_details(df, FT_GOOD)
    assert list(details["Task"]) == ["AutoRerank-cmrc2018-validation", SAMPLE.name]
    assert details.loc[1, "MAP"] == 64.0 and details.loc[1, "Precision"] == "fp32"
    assert len(details.loc[1, "Dataset hash"]) == 12


# --------------------------------------------------------------------------- figures


def _plotted(chart) -> list[dict]:
    """The rows a chart plots (Altair inlines its data under `datasets`)."""
    spec = chart.to_dict()
    [rows] = spec["datasets"].values()
    return rows


def test_figures_plot_what_the_tables_hold(scenario):
    df, runs = frame(scenario)
    bars = _plotted(figures.per_task_bars(df, "MAP"))
    good = [r for r in bars if r["model_label"] == FT_GOOD and r["task_label"] == SAMPLE.name]
    assert [r["score"] for r in good] == [pytest.approx(64.0)]  # the MAP the results file holds, x100
    assert {r["model_label"] for r in bars} >= {FT_GOOD}
    compare = tables.compare_table(df, "MAP", runs)
    dots = _plotted(figures.base_vs_finetuned(compare))
    mine = {r["which"]: r["score"] for r in dots if r["Model"] == FT_GOOD and r["Task"] == SAMPLE.name}
    row = compare[(compare["Model"] == FT_GOOD) & (compare["Task"] == SAMPLE.name)].iloc[0]
    assert mine == {"base": pytest.approx(row["Base"]), "fine-tuned": pytest.approx(64.0)}
    metrics = loaders.load_metrics(scenario.runs / FT_GOOD.split("/")[1] / "metrics.jsonl")[0]
    curve = _plotted(figures.training_curve(tables.metrics_frame(metrics)))
    losses = [(r["step"], r["value"]) for r in curve if r["series"] == "loss"]
    assert losses == [(m["step"], pytest.approx(m["loss"])) for m in metrics if "loss" in m]


def test_figures_explain_why_they_cannot_plot(scenario):
    df, runs = frame(scenario, reference=False)
    with pytest.raises(ValueError, match="no fine-tune has its base model evaluated"):
        figures.base_vs_finetuned(tables.compare_table(df[df["role"] != "fine-tune"], "MAP", runs))
    with pytest.raises(ValueError, match="no MRR@10 scores"):
        figures.per_task_bars(df.iloc[0:0], "MRR@10")
    with pytest.raises(ValueError, match="metrics.jsonl has no logged"):
        figures.training_curve(tables.metrics_frame([]))


# --------------------------------------------------------------------------- serve / CLI


def test_streamlit_argv_is_localhost_headless_without_stats():
    from wrapper.leaderboard import ENTRY_SCRIPT
    from wrapper.leaderboard.serve import streamlit_argv

    argv = streamlit_argv(8600)
    assert argv[1:5] == ["-m", "streamlit", "run", str(ENTRY_SCRIPT)]
    assert ENTRY_SCRIPT.is_file()
    opts = dict(zip(argv[5::2], argv[6::2]))
    assert opts == {"--server.address": "127.0.0.1", "--server.port": "8600", "--server.headless": "true",
                    "--browser.gatherUsageStats": "false", "--server.fileWatcherType": "none",
                    "--client.toolbarMode": "viewer"}


def test_cli_busy_port_is_an_input_error(run_cli, isolated_home):
    (isolated_home / "results").mkdir()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        port = sock.getsockname()[1]
        code, out, err = run_cli("leaderboard", "--port", port)
    assert code == 2
    assert f"127.0.0.1:{port} is already in use" in err and f"--port {port + 1}" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("args, match", [
    (["--results", "no-such-folder"], "no-such-folder: results folder not found"),
    (["--runs", "nope"], "nope: runs folder not found"),
    (["--port", "0"], "--port: 0 is not a TCP port"),
])
def test_cli_bad_flags(run_cli, args, match):
    code, _, err = run_cli("leaderboard", *args)
    assert code == 2 and match in err


def test_cli_help_lists_flags(run_cli):
    code, out, _ = run_cli("leaderboard", "--help")
    assert code == 0 and "--port" in out and "--results" in out and "127.0.0.1" in out


def test_a_running_run_whose_wrapper_is_gone_is_shown_interrupted(tmp_path):
    import json as _json

    run = tmp_path / "runs" / "killed-run"
    run.mkdir(parents=True)
    status = {"run_id": "killed-run", "state": "running", "wrapper_pid": 2**22 + 12345, "kind": "bi-encoder"}
    (run / "status.json").write_text(_json.dumps(status))
    loaded = loaders.load_runs(tmp_path / "runs")
    assert loaded.runs["killed-run"].status["state"] == "interrupted"
    # display only: the file itself is left for `wrapper.train.reconcile`
    assert _json.loads((run / "status.json").read_text())["state"] == "running"


def test_a_forgot_gate_is_coloured_as_a_failure_with_both_deltas_and_intervals():
    label = tables.gate_label("forgot")
    assert label == "⚠ forgot"
    assert tables.RED in tables.gate_colour(label)
    # its in-domain gain is real but it is not shown as a success
    assert tables.delta_colour(0.1, "forgot") == f"color: {tables.GREY}"
    gate = {"verdict": "forgot", "delta": 0.254, "ci": [0.21, 0.30],
            "general": [{"name": "general-en-zh", "delta": -0.004, "ci": [-0.02, 0.01], "verdict": "kept"},
                        {"name": "scifact-dev", "delta": -0.258, "ci": [-0.31, -0.2], "verdict": "forgot"},
                        {"name": "T2Reranking", "delta": None, "verdict": "inconclusive"}]}
    summary = tables.gate_summary(gate)
    assert summary["In-domain Δ [95% CI]"] == "+0.2540 [+0.2100, +0.3000]"
    assert summary["General Δ [95% CI]"] == ("scifact-dev: -0.2580 [-0.3100, -0.2000] forgot; "
                                            "general-en-zh: -0.0040 [-0.0200, +0.0100] kept; T2Reranking: inconclusive")
    # a verdict stored before the general check existed says so; no verdict shows nothing
    assert tables.gate_summary({"verdict": "improved", "delta": 0.1})["General Δ [95% CI]"] == "not checked"
    assert tables.gate_summary(None) == {"In-domain Δ [95% CI]": "", "General Δ [95% CI]": ""}
