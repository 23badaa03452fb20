"""`autorerank merge`: real LM-Cocktail merges of the bundled all-MiniLM-L6-v2.

Sources (built once per session):
- a bi-encoder "run": the bundled model with seeded noise on every weight, and a
  hand-written Contract 3 status.json (base_model: bundled);
- a cross-encoder run trained for a few steps by our own backend (fresh head on the
  bundled bi-encoder, so its base has no classification head): a copy of the session's
  `tiny_ce_run` (conftest).

Each test copies the run(s) it needs into its own runs/ folder.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from conftest import TINY_NEG, TINY_POS, TINY_QUERY, isolate, write_tiny_dataset
from wrapper.errors import InputError
from wrapper.jsonio import read_json, write_json
from wrapper.merge import merge_run
from wrapper.merge.auto import RULE, Point, choose, judge
from wrapper.merge.sources import parse_weights

# ----------------------------------------------------------------------- pure parts (fast)


@pytest.mark.parametrize("text, n, message", [
    ("0.5,0.4", 2, "the weights sum to 0.9, not 1"),
    ("0.5,0.5", 3, "2 weights for 3 models"),
    ("0.5,abc", 2, r"weight 2 \('abc'\) is not a number"),
    ("1.5,-0.5", 2, "weight 1 is 1.5, outside 0..1"),
])
def test_bad_weights_are_refused_with_the_reason(text, n, message):
    with pytest.raises(InputError, match=message):
        parse_weights(text, n)


def test_weights_parse():
    assert parse_weights("0.7, 0.3", 2) == [0.7, 0.3]
    assert parse_weights("0.2,0.2,0.6", 3) == [0.2, 0.2, 0.6]
    assert parse_weights(None, 2) is None


def test_choose_follows_the_documented_rule():
    floors = {"g": 0.60}
    pts = [judge(Point(w, ind, {"g": g}), floors, 0.01) for w, ind, g in
           [(0.0, 0.40, 0.60), (0.5, 0.55, 0.595), (0.75, 0.58, 0.585), (1.0, 0.62, 0.50)]]
    best, reason = choose(pts)
    # 0.75 is below 0.60 - 0.01; 0.5 is the best in-domain among those that keep the floor
    assert best.weight == 0.5 and "best in-domain" in reason
    assert [p.feasible for p in pts] == [True, True, False, False]
    # nothing feasible: the smallest worst shortfall wins
    pts = [judge(Point(w, ind, {"g": g}), {"g": 0.9}, 0.01) for w, ind, g in [(0.0, 0.4, 0.8), (1.0, 0.6, 0.5)]]
    best, reason = choose(pts)
    assert best.weight == 0.0 and "no weight keeps" in reason
    assert "minus the tolerance" in RULE


def test_search_goes_coarse_then_refines_around_the_best_feasible_point():
    """A hand-made curve: in-domain MAP rises with w, the general set holds (0.70) up to w = 0.6 and then
    falls 0.1 per 0.1 of w. Floor 0.70, tolerance 0.01. Coarse: 0, .25, .5 feasible, .75 and 1 not;
    best feasible 0.5. Refine +-0.1: 0.4 (feasible, worse), 0.6 (feasible, better: 0.6 becomes best).
    Refine +-0.05: 0.55 (feasible, worse), 0.65 (general 0.65: below 0.69, not feasible). Chosen: 0.6."""
    from wrapper.merge.auto import search

    def evaluate(w):
        general = 0.70 if w <= 0.6 + 1e-9 else 0.70 - (w - 0.6)
        return 0.40 + 0.2 * w, {"g": general}

    best, points, reason = search(evaluate, {"g": 0.70}, tolerance=0.01)
    assert sorted(p.weight for p in points) == [0.0, 0.25, 0.4, 0.5, 0.55, 0.6, 0.65, 0.75, 1.0]
    assert best.weight == 0.6 and best.in_domain == pytest.approx(0.52) and "best in-domain" in reason
    assert {p.weight for p in points if not p.feasible} == {0.65, 0.75, 1.0}


# ----------------------------------------------------------------------- real models

slow = pytest.mark.slow


@pytest.fixture(scope="session")
def sources(tmp_path_factory, bundled_model_path, tiny_ce_run):
    """Build the bi-encoder and cross-encoder source runs once (see module doc)."""
    import torch
    from sentence_transformers import SentenceTransformer

    home = tmp_path_factory.mktemp("merge-sources")
    with pytest.MonkeyPatch.context() as mp:
        isolate(mp, home)
        dataset = write_tiny_dataset(home / "data" / "tiny")

        bi = home / "runs" / "bi"
        model = SentenceTransformer(str(bundled_model_path), device="cpu")
        gen = torch.Generator().manual_seed(0)
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn(p.shape, generator=gen) * 0.05 * (float(p.std()) if p.numel() > 1 else 0.0))
        model.save(str(bi / "model"))
        write_json(bi / "status.json", {
            "run_id": "bi", "state": "succeeded", "backend": "autotrain", "task": "st:triplet",
            "kind": "bi-encoder", "base_model": "bundled", "dataset": str(dataset), "model": str(bi / "model")})

        run_dir, code, _, err = tiny_ce_run  # trained once per session (conftest)
        assert code == 0, err
        shutil.copytree(run_dir, home / "runs" / "ce")
        status = read_json(home / "runs" / "ce" / "status.json")
        status.update(run_id="ce", model=str(home / "runs" / "ce" / "model"), dataset=str(dataset))
        write_json(home / "runs" / "ce" / "status.json", status)
    return home


def install(sources: Path, *names: str) -> Path:
    """Copy source runs into this test's runs/ folder; their status points at the copies."""
    runs = Path(os.environ["AUTORERANK_RUNS"])
    for name in names:
        shutil.copytree(sources / "runs" / name, runs / name)
        status = read_json(runs / name / "status.json")
        status["model"] = str((runs / name / "model").absolute())
        status["dataset"] = str(sources / "data" / "tiny")
        write_json(runs / name / "status.json", status)
    return runs


def _state(model) -> dict:
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


def _leftovers(runs: Path, expected: set[str]) -> set[str]:
    return {p.name for p in runs.iterdir()} - expected


@slow
def test_bi_encoder_merge_is_the_weighted_average_and_keeps_the_modules(sources, bundled_model_path):
    from sentence_transformers import SentenceTransformer

    runs = install(sources, "bi")
    result = merge_run("bi", weights="0.3,0.7", name="bi-mix", general=[])
    out = runs / "bi-mix"
    assert result.run_dir == out.absolute() and _leftovers(runs, {"bi", "bi-mix"}) == set()
    status = read_json(out / "status.json")
    assert status["state"] == "succeeded" and status["backend"] == "merge" and status["kind"] == "bi-encoder"
    assert status["base_model"] == "bundled" and status["merged_from"] == "bi"
    assert [(s["role"], s["weight"]) for s in status["sources"]] == [("fine-tune", 0.3), ("base", 0.7)]
    assert status["model"] == str(out.absolute() / "model")

    fine = SentenceTransformer(str(runs / "bi" / "model"), device="cpu")
    base = SentenceTransformer(str(bundled_model_path), device="cpu")
    merged = SentenceTransformer(status["model"], device="cpu")
    f, b, m = _state(fine), _state(base), _state(merged)
    assert set(m) == set(f)
    for key in f:
        assert (m[key] - (0.3 * f[key] + 0.7 * b[key])).abs().max() < 1e-6, key
    assert not all((m[k] == f[k]).all() for k in f)  # really a mix, not a copy
    # same sentence-transformers shape: modules, mean pooling, normalisation, max length
    assert [type(x).__name__ for x in merged] == [type(x).__name__ for x in base] == ["Transformer", "Pooling", "Normalize"]
    assert merged[1].get_config_dict()["pooling_mode"] == "mean"
    assert merged.max_seq_length == fine.max_seq_length == 256
    # scores equal a model built by hand from the averaged weights
    fine.load_state_dict({k: 0.3 * f[k] + 0.7 * b[k] for k in f})
    texts = [TINY_QUERY, TINY_POS, TINY_NEG]
    import torch

    assert torch.allclose(merged.encode(texts, convert_to_tensor=True), fine.encode(texts, convert_to_tensor=True),
                          atol=1e-5)


@slow
def test_cross_encoder_merge_mixes_the_encoder_and_keeps_the_trained_head(sources, bundled_model_path):
    import torch
    from sentence_transformers import CrossEncoder, SentenceTransformer

    runs = install(sources, "ce")
    status = merge_run("ce", weights=[0.5, 0.5], name="ce-mix", general=[]).status
    assert status["kind"] == "cross-encoder"
    assert status["base_model"] == read_json(runs / "ce" / "status.json")["base_model"]  # the gate's comparator
    assert any("no classification head" in note for note in status["merge_notes"])

    fine = CrossEncoder(str(runs / "ce" / "model"), device="cpu")
    merged = CrossEncoder(status["model"], device="cpu")
    base = SentenceTransformer(str(bundled_model_path), device="cpu")
    f, m = _state(fine), _state(merged)
    b = {k.replace("0.model.", ""): v for k, v in _state(base).items()}
    head = [k for k in f if ".classifier." in k]
    assert head and all(torch.equal(m[k], f[k]) for k in head)  # the trained head, untouched
    encoder = [k for k in f if ".bert." in k]
    for key in encoder:
        assert (m[key] - 0.5 * (f[key] + b[key.replace("0.model.bert.", "")])).abs().max() < 1e-6, key
    # the sources' CrossEncoder settings survive: activation, max length, labels
    ft_cfg = json.loads((runs / "ce" / "model" / "config_sentence_transformers.json").read_text())
    mg_cfg = json.loads((Path(status["model"]) / "config_sentence_transformers.json").read_text())
    assert mg_cfg["activation_fn"] == ft_cfg["activation_fn"] and mg_cfg["model_type"] == "CrossEncoder"
    assert merged.max_seq_length == fine.max_seq_length and merged.num_labels == 1
    # scores equal a model built by hand from those weights
    fine.load_state_dict({k: f[k] if k in head else 0.5 * (f[k] + b[k.replace("0.model.bert.", "")]) for k in f})
    pairs = [(TINY_QUERY, TINY_POS), (TINY_QUERY, TINY_NEG)]
    assert merged.predict(pairs) == pytest.approx(fine.predict(pairs), abs=1e-5)


@slow
def test_cross_encoder_mix_equals_lm_cocktail_mix_models(sources, tmp_path):
    """Where LM-Cocktail's own mix_models is right (every source has the head), ours gives the same weights."""
    import torch
    from LM_Cocktail import mix_models
    from sentence_transformers import CrossEncoder

    runs = install(sources, "ce")
    other = CrossEncoder(str(runs / "ce" / "model"), device="cpu")
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in other.parameters():
            p.add_(torch.randn(p.shape, generator=gen) * 0.01)
    other.save(str(tmp_path / "other-ce"))
    status = merge_run("ce", [str(tmp_path / "other-ce")], weights="0.6,0.4,0", name="ce3", general=[]).status
    assert [s["role"] for s in status["sources"]] == ["fine-tune", "extra", "base"]
    theirs = mix_models([str(runs / "ce" / "model"), str(tmp_path / "other-ce")], "reranker", [0.6, 0.4]).state_dict()
    ours = CrossEncoder(status["model"], device="cpu")[0].auto_model.state_dict()
    assert set(theirs) == set(ours)
    for key in theirs:
        assert torch.allclose(ours[key], theirs[key], atol=1e-6), key


def _bad_run(runs: Path, name: str, **changes) -> None:
    status = read_json(runs / name / "status.json")
    status.update(changes)
    write_json(runs / name / "status.json", status)


@slow
@pytest.mark.parametrize("case, message", [
    ("failed run", "run bi is 'failed', not 'succeeded'"),
    ("model deleted", "the run's model folder .* does not exist"),
    ("missing model", "not a run id, a model folder, `bundled` or a Hub id"),
    ("weights sum", "the weights sum to 0.8, not 1"),
    ("weights count", "3 weights for 2 models"),
    ("other architecture", "different architecture from the fine-tune"),
    ("other tokenizer", "different tokenizer from the fine-tune"),
    ("cross into bi", "a cross-encoder cannot be mixed into a bi-encoder run"),
    ("auto and weights", "--auto chooses the weights itself"),
    ("name taken", "this run folder already exists"),
])
def test_bad_input_is_one_clear_error_and_leaves_nothing(sources, tmp_path, case, message):
    runs = install(sources, "bi", "ce")
    models: list[str] = []
    kwargs: dict = {"weights": "0.5,0.5"}
    if case == "failed run":
        _bad_run(runs, "bi", state="failed", cause="boom")
    elif case == "model deleted":
        shutil.rmtree(runs / "bi" / "model")
    elif case == "missing model":
        models, kwargs["weights"] = ["no/such/model/folder"], "0.4,0.3,0.3"
    elif case == "weights sum":
        kwargs["weights"] = "0.5,0.3"
    elif case == "weights count":
        kwargs["weights"] = "0.4,0.3,0.3"
    elif case == "other architecture":
        from sentence_transformers import SentenceTransformer, models as st_models
        from transformers import BertConfig, BertModel

        tiny = tmp_path / "tiny-bert"
        BertModel(BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
                             vocab_size=30522)).save_pretrained(tiny)
        shutil.copy(runs / "bi" / "model" / "tokenizer.json", tiny)
        shutil.copy(runs / "bi" / "model" / "tokenizer_config.json", tiny)
        word = st_models.Transformer(str(tiny))
        SentenceTransformer(modules=[word, st_models.Pooling(32, "mean"), st_models.Normalize()]).save(str(tiny))
        kwargs["base"] = str(tiny)
    elif case == "other tokenizer":
        other = tmp_path / "other-tok"
        shutil.copytree(runs / "bi" / "model", other)
        tok = json.loads((other / "tokenizer.json").read_text())
        vocab = tok["model"]["vocab"]
        vocab["zzzunseen"] = vocab.pop("river")
        (other / "tokenizer.json").write_text(json.dumps(tok))
        if (other / "vocab.txt").exists():
            (other / "vocab.txt").write_text((other / "vocab.txt").read_text().replace("\nriver\n", "\nzzzunseen\n"))
        kwargs["base"] = str(other)
    elif case == "cross into bi":
        kwargs["base"] = "ce"
    elif case == "auto and weights":
        kwargs["auto"] = True
    elif case == "name taken":
        kwargs["name"] = "ce"
    before = {p.name for p in runs.iterdir()}
    with pytest.raises(InputError, match=message):
        merge_run("bi", models, general=[], **kwargs)
    assert {p.name for p in runs.iterdir()} == before  # no output folder, no temp folder


@slow
def test_auto_picks_by_the_rule_and_keeps_the_curve(sources, bundled_model_path):
    from sentence_transformers import SentenceTransformer

    from wrapper.gate import in_domain_set, score_set
    from wrapper.run import Run

    runs = install(sources, "bi")
    general = write_tiny_dataset(Path("data") / "general-tiny", n_queries=12, val_queries=12, seed=3)
    messages: list[str] = []
    result = merge_run("bi", auto=True, name="bi-auto", general=[str(general)], auto_queries=0,
                       coarse=(0.0, 0.5, 1.0), refine=(0.25,), progress=messages.append)
    curve = read_json(runs / "bi-auto" / "merge_curve.json")
    assert curve["rule"] == RULE
    weights = [p["weight"] for p in curve["points"]]
    assert weights == sorted(weights) and {0.0, 0.5, 1.0} <= set(weights)
    refined = set(weights) - {0.0, 0.5, 1.0}  # the chosen coarse point's neighbours at +-0.25
    assert refined and len(weights) in (4, 5) and refined <= {0.25, 0.75}
    floor = curve["floors"]["general-tiny"]
    # the w=0 point is the base itself, the w=1 point the fine-tune itself
    by_w = {p["weight"]: p for p in curve["points"]}
    assert by_w[0.0]["in_domain"] == pytest.approx(curve["base_in_domain"], abs=1e-6)
    assert by_w[0.0]["general"]["general-tiny"] == pytest.approx(floor, abs=1e-6)
    fine = SentenceTransformer(str(runs / "bi" / "model"), device="cpu")
    domain = in_domain_set(Run.open("bi").dataset)
    assert by_w[1.0]["in_domain"] == pytest.approx(score_set(fine, "bi-encoder", domain).map, abs=1e-6)
    # the base keeps its own floor, so w=0 always qualifies and something feasible is chosen
    # (the rule itself is pinned on hand-worked curves: test_choose_* and test_search_*)
    assert by_w[0.0]["feasible"] is True and by_w[curve["chosen"]]["feasible"] is True
    assert curve["chosen"] == result.status["weights"][0] and result.status["weights"][1] == pytest.approx(1 - curve["chosen"])
    status = result.status
    assert status["auto"]["chosen"] == curve["chosen"] and status["auto"]["curve"].endswith("merge_curve.json")
    assert any(m.startswith("  w=0.50") for m in messages) and any("chose w=" in m for m in messages)


@slow
def test_cli_merges_gates_and_exits_2_on_bad_input(sources, run_cli):
    runs = install(sources, "bi")
    code, out, err = run_cli("merge", "bi", "--weights", "0.5,0.5,0.1")
    assert code == 2 and "error: --weights: 3 weights for 2 models" in err
    assert {p.name for p in runs.iterdir()} == {"bi"}
    code, out, err = run_cli("merge", "bi", "--weights", "0.8,0.2", "--name", "cli-mix", "--no-general")
    assert code == 0, err
    assert "merge cli-mix: succeeded" in out and "0.8 x fine-tune" in out and "gate:" in out
    gate = read_json(runs / "cli-mix" / "status.json")["gate"]
    # the tiny set's negatives name another topic: the bundled base ranks every positive first (MAP 1.0), so
    # nothing can improve on it and the gate says so instead of calling the mix no better
    assert gate["verdict"] == "inconclusive" and gate["base"] == 1.0
    assert "already scores 1.0000" in gate["details"]["inconclusive_because"]
    assert gate["base"] is not None and gate["fine_tuned"] is not None
