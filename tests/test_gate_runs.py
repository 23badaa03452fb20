"""The gate on real models and run folders (slow: loads the bundled model).

The `forgot` case is constructed, not mocked: the "fine-tune" is the bundled model
with seeded noise on its weights. On the in-domain set each query's positive is the
passage the fine-tune ranks first (and the base does not); on the general set it is
the one the base ranks first (and the fine-tune does not). So in domain the
fine-tune really wins and in general it really loses, query by query.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from conftest import write_dataset, write_fake_mteb_repo, write_run

from wrapper.gate import check_run


def _pool(sample_data: Path, n_queries: int = 24) -> tuple[list[str], list[str]]:
    queries: list[str] = []
    passages: list[str] = []
    with open(sample_data / "pairs.csv", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if row["query"].isascii() and row["query"] not in queries:
                if len(queries) == n_queries:
                    continue
                queries.append(row["query"])
            if row["query"] in queries and row["passage"] not in passages:
                passages.append(row["passage"])
    return queries, passages


@pytest.fixture(scope="module")
def noisy_model(tmp_path_factory, bundled_model_path) -> Path:
    import torch
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(bundled_model_path))
    torch.manual_seed(0)
    with torch.no_grad():
        for param in model.parameters():
            if param.dim() > 1:
                param.add_(torch.randn_like(param) * param.std() * 0.3)
    folder = tmp_path_factory.mktemp("models") / "minilm-noisy"
    model.save(str(folder))
    return folder


@pytest.fixture(scope="module")
def disagreement_sets(noisy_model, bundled_model_path, sample_data):
    """(records where the fine-tune is right, records where the base is right)."""
    from sentence_transformers import SentenceTransformer

    queries, passages = _pool(sample_data)
    scores = {}
    for label, path in (("base", bundled_model_path), ("fine", noisy_model)):
        model = SentenceTransformer(str(path))
        q = model.encode(queries, normalize_embeddings=True, convert_to_tensor=True)
        p = model.encode(passages, normalize_embeddings=True, convert_to_tensor=True)
        scores[label] = (q @ p.T).tolist()
    fine_wins, base_wins = [], []
    for i, query in enumerate(queries):
        cands = sorted(range(len(passages)), key=lambda j: -scores["base"][i][j])[:8]
        base_top = max(cands, key=lambda j: scores["base"][i][j])
        fine_top = max(cands, key=lambda j: scores["fine"][i][j])
        if base_top == fine_top:
            continue
        for winner, out in ((fine_top, fine_wins), (base_top, base_wins)):
            out.append({"query_id": f"q{i:02d}", "query": query, "positive": [passages[winner]],
                        "negative": [passages[j] for j in cands if j != winner]})
    assert len(fine_wins) >= 8, "the noisy model should disagree with the base on many queries"
    return fine_wins, base_wins


def _run(home: Path, run_id: str, model: Path, dataset: Path, base: Path) -> Path:
    return write_run(home, run_id, model, dataset, str(base), kind="bi-encoder")


@pytest.mark.slow
def test_a_fine_tune_that_wins_in_domain_and_loses_in_general_forgot(
        isolated_home, noisy_model, bundled_model_path, disagreement_sets, run_cli):
    fine_wins, base_wins = disagreement_sets
    domain = write_dataset(isolated_home, "domain", fine_wins)
    general = write_dataset(isolated_home, "general-check", base_wins)
    run = _run(isolated_home, "noisy", noisy_model, domain, bundled_model_path)

    result = check_run(run, general=[str(general)])
    assert result.verdict == "forgot"
    assert result.fine_tuned == 1.0 and result.delta > 0 and result.ci[0] > 0
    [entry] = result.general
    assert entry["name"] == "general-check" and entry["verdict"] == "forgot"
    assert entry["base"] == 1.0 and entry["delta"] < 0 and entry["ci"][1] < 0
    assert entry["queries"] == len(base_wins)
    assert "autorerank merge noisy --auto" in result.advice
    # the gate's own MAP is MTEB's map_at_1000 for the same model and split
    assert result.fine_tuned == pytest.approx(result.details["mteb_main_score"], abs=1e-5)
    stored = json.loads((run / "status.json").read_text())["gate"]
    assert stored["verdict"] == "forgot" and stored["general"][0]["verdict"] == "forgot"

    # without the general check the same run is an in-domain improvement
    assert check_run(run, general=[], write=False).verdict == "improved"

    # the CLI refuses it when asked to, and says why
    code, out, err = run_cli("gate", "noisy", "--general", str(general), "--fail-on", "forgot,regressed")
    assert code == 3, err
    assert "FORGOT" in out and "general-check" in out and "noisy: forgot" in err
    code, out, _ = run_cli("gate", "noisy", "--no-general")
    assert code == 0 and out.startswith("gate noisy: IMPROVED")


@pytest.mark.slow
def test_gate_and_eval_take_a_run_folder_from_anywhere(isolated_home, noisy_model, bundled_model_path,
                                                       disagreement_sets, run_cli, monkeypatch, tmp_path):
    """A run recorded with paths relative to its project (as runs were before status.json held absolute
    ones), judged from a folder outside that project: `Run` finds the dataset through the project."""
    fine_wins, _ = disagreement_sets
    write_dataset(isolated_home, "domain", fine_wins)
    run = write_run(isolated_home, "noisy", noisy_model, Path("data/domain"), str(bundled_model_path),
                    kind="bi-encoder")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert not Path("data/domain").exists()
    code, out, err = run_cli("gate", str(run), "--no-general")
    assert code == 0, err
    assert out.startswith("gate noisy: IMPROVED")
    code, out, err = run_cli("eval", str(run), "--no-base")
    assert code == 0, err
    assert "AutoRerank-domain-validation" in out and "1.0000" in out  # the fine-tune ranks every positive first


@pytest.mark.slow
def test_a_copy_of_the_base_is_no_better_with_a_zero_interval(isolated_home, bundled_model_path, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(bundled_model_path, copy)
    domain = write_dataset(isolated_home, "domain")  # 4 queries: too few to judge ...
    run = _run(isolated_home, "copy", copy, domain, bundled_model_path)
    result = check_run(run, general=[])
    assert result.verdict == "inconclusive"
    assert "only 4 of the 4 validation queries" in result.details["inconclusive_because"]

    rows = json.loads(json.dumps([{"query_id": f"x{i}", "query": f"question number {i} about item {i}",
                                   "positive": [f"item {i} is described here in detail"],
                                   "negative": [f"item {i + 1} is about something else", "weather report"]}
                                  for i in range(8)]))
    bigger = write_dataset(isolated_home, "domain8", rows)
    run8 = _run(isolated_home, "copy8", copy, bigger, bundled_model_path)
    result = check_run(run8, general=["default"])
    assert result.delta == 0.0 and result.ci == [0.0, 0.0]
    assert result.verdict in ("no_better", "inconclusive")  # inconclusive only if the base is perfect there
    [entry] = result.general
    assert entry["name"] == "general-en-zh" and entry["delta"] == 0.0 and entry["verdict"] == "kept"


@pytest.mark.slow
def test_general_sets_by_mteb_task_name_and_bad_specs(isolated_home, noisy_model, bundled_model_path,
                                                       disagreement_sets, monkeypatch, run_cli):
    fine_wins, _ = disagreement_sets
    domain = write_dataset(isolated_home, "domain", fine_wins)
    run = _run(isolated_home, "noisy", noisy_model, domain, bundled_model_path)
    monkeypatch.setenv("AUTORERANK_MTEB_DATA", str(write_fake_mteb_repo(isolated_home)))
    result = check_run(run, general=["T2Reranking"])
    [entry] = result.general
    assert entry["name"] == "T2Reranking" and entry["queries"] == 2
    assert entry["verdict"] == "inconclusive"  # 2 queries cannot judge forgetting
    assert result.verdict == "improved"

    code, _, err = run_cli("gate", "noisy", "--general", str(isolated_home / "nope"))
    assert code == 2 and "not a prepared dataset folder" in err
    code, _, err = run_cli("gate", "no-such-run")
    assert code == 2 and "no such run" in err
    code, _, err = run_cli("gate", "noisy", "--fail-on", "sometimes")
    assert code == 2 and "unknown verdict 'sometimes'" in err


@pytest.mark.parametrize(
    "state, dataset, match",
    [
        (None, None, "empty: not a run: no such run folder"),
        ("failed", "ok", "status.json, column 'state': run r is 'failed', not 'succeeded'"),
        ("succeeded", "gone", "dataset .* is not there"),
    ],
)
def test_the_gate_refuses_what_it_cannot_judge(isolated_home, bundled_model_path, state, dataset, match):
    from wrapper.errors import InputError

    folder = write_dataset(isolated_home, "tiny")
    if state is None:
        run = isolated_home / "runs" / "empty"
        run.mkdir(parents=True)
    else:
        run = _run(isolated_home, "r", bundled_model_path, folder if dataset == "ok" else isolated_home / "gone",
                   bundled_model_path)
        if state != "succeeded":
            status = json.loads((run / "status.json").read_text())
            (run / "status.json").write_text(json.dumps({**status, "state": state}))
    with pytest.raises(InputError, match=match):
        check_run(run, general=[])
