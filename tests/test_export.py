"""`autorerank export`: the folder loads, the card's YAML header and facts, ONNX agreement."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from conftest import EN_ROWS, write_dataset, write_run

pytestmark = pytest.mark.slow

GATE = {"verdict": "improved", "metric": "map_at_1000", "base": 0.61, "fine_tuned": 0.64, "delta": 0.03,
        "ci": [0.01, 0.05], "general": [{"name": "general-en-zh", "base": 0.74, "fine_tuned": 0.73, "delta": -0.01,
                                         "ci": [-0.03, 0.01], "verdict": "kept"}]}


@pytest.fixture
def ce_run(isolated_home, bundled_model_path, ce_folder):
    model = ce_folder
    dataset = write_dataset(isolated_home)
    run = write_run(isolated_home, "20261202-000000-tiny-ce", model, dataset, str(bundled_model_path))
    status = json.loads((run / "status.json").read_text())
    status["gate"] = GATE
    (run / "status.json").write_text(json.dumps(status))
    return run, model


def _card_header(text: str) -> dict:
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n")[1])


def test_export_st_folder_loads_and_card_states_the_facts(ce_run, run_cli, isolated_home):
    from sentence_transformers import CrossEncoder

    run, model = ce_run
    out = isolated_home / "exported" / "tiny-ce"
    code, stdout, stderr = run_cli("export", str(run), "--out", str(out))
    assert code == 0, stderr
    pairs = [(r["query"], d) for r in EN_ROWS for d in r["positive"] + r["negative"]]
    np.testing.assert_allclose(CrossEncoder(str(out)).predict(pairs), CrossEncoder(str(model)).predict(pairs),
                               atol=1e-5)
    card = (out / "README.md").read_text()
    header = _card_header(card)
    assert header["library_name"] == "sentence-transformers" and header["pipeline_tag"] == "text-ranking"
    assert header["base_model"].endswith("model") and header["datasets"] == ["tiny"]
    assert "sha-tiny" in card and "**improved**" in card and "0.64" in card and "general-en-zh" in card
    assert "CrossEncoder(" in card and "SentenceTransformerRerank" in card and "autorerank serve" in card
    facts = json.loads((out / "export.json").read_text())
    assert facts["name"] == "autorerank/20261202-000000-tiny-ce" and facts["gate"]["verdict"] == "improved"
    # text-embeddings-inference's loader rules hold (wrapper.export.tei): the one thing ST 6 leaves out of a
    # CrossEncoder folder, sentence_bert_config.json's max_seq_length, is added, and ST still reads it
    assert facts["tei"]["problems"] == [] and "--model-id /model" in facts["tei"]["command"]
    assert json.loads((out / "sentence_bert_config.json").read_text())["max_seq_length"] == CrossEncoder(
        str(out)).max_seq_length == CrossEncoder(str(model)).max_seq_length
    # a second export into the same folder needs --overwrite
    code, _, stderr = run_cli("export", str(run), "--out", str(out))
    assert code == 2 and "--overwrite" in stderr


def test_export_onnx_int8_ranks_like_the_original(ce_run, run_cli, isolated_home):
    from sentence_transformers import CrossEncoder

    from wrapper.export.onnx import OnnxScorer

    run, model = ce_run
    out = isolated_home / "exported" / "tiny-ce-onnx"
    code, stdout, stderr = run_cli("export", str(run), "--out", str(out), "--format", "onnx", "--quantize", "int8")
    assert code == 0, stderr
    assert (out / "onnx" / "model.onnx").is_file() and (out / "onnx" / "model_qint8.onnx").is_file()
    facts = json.loads((out / "export.json").read_text())["onnx"]
    assert facts["queries"] == len(EN_ROWS) and facts["quantize"] == "int8"
    assert facts["top3_overlap"] >= 0.6 and facts["kendall_tau"] >= 0.5
    assert "Kendall tau" in stdout and "ONNX" in (out / "README.md").read_text()
    # the fp32 graph reproduces the original scores; scored independently here
    original = CrossEncoder(str(model))
    pairs = [(r["query"], d) for r in EN_ROWS for d in r["positive"] + r["negative"]]
    onnx = OnnxScorer(out / "onnx" / "model.onnx", original.tokenizer).predict(pairs)
    np.testing.assert_allclose(onnx, original.predict(pairs), atol=1e-4)


def test_export_bad_input(run_cli, isolated_home, ce_run):
    run, _ = ce_run
    code, _, err = run_cli("export", "bundled", "--out", str(isolated_home / "x"), "--format", "onnx")
    assert code == 2 and "cross-encoders" in err
    code, _, err = run_cli("export", str(run), "--out", str(isolated_home / "y"), "--quantize", "int8")
    assert code == 2 and "--format onnx" in err


def test_tei_rules_name_the_file_and_what_is_missing(ce_folder, tmp_path):
    import shutil

    from wrapper.export import tei

    folder = tmp_path / "m"
    shutil.copytree(ce_folder, folder)
    assert tei.problems(folder) == ["sentence_bert_config.json: no integer 'max_seq_length' (TEI fails to parse "
                                    "it); `autorerank export` adds it"]  # what sentence-transformers 6 saves
    tei.complete(folder, 512)
    assert tei.problems(folder) == []
    config = json.loads((folder / "config.json").read_text())
    config["id2label"] = {"0": "a", "1": "b"}
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "tokenizer.json").unlink()
    found = tei.problems(folder)
    assert any("2 labels" in p for p in found) and any(p.startswith("tokenizer.json: missing") for p in found)
