"""wrapper.precision (auto | fp32 | bf16) and `--precision` on eval and mining."""

from __future__ import annotations


import numpy as np
import pytest

from conftest import EN_ROWS, write_dataset
from wrapper import precision
from wrapper.errors import InputError


def test_resolve_and_check(tmp_path, monkeypatch):
    assert precision.resolve("fp32") == "fp32" and precision.resolve("bf16") == "bf16"
    with pytest.raises(InputError, match="use one of: auto, fp32, bf16"):
        precision.resolve("fp8")
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu sse avx512f amx_bf16 avx512_bf16\n")
    assert {"amx_bf16", "avx512_bf16"} <= precision.cpu_flags.__wrapped__(str(info))
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset({"sse", "avx2"}))
    assert precision.resolve("auto", "cpu") == "fp32"  # no bf16 hardware: falls back
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset({"avx512_bf16"}))
    assert precision.resolve("auto", "cpu") == "bf16"


@pytest.mark.slow
def test_bf16_weights_rank_like_fp32(bundled_model_path):
    import torch

    fp32 = precision.load(bundled_model_path, "bi-encoder", precision="fp32")
    bf16 = precision.load(bundled_model_path, "bi-encoder", precision="bf16")
    assert next(bf16.parameters()).dtype == torch.bfloat16
    for row in EN_ROWS:
        texts = [row["query"], *row["positive"], *row["negative"]]
        a = fp32.encode(texts, normalize_embeddings=True)
        b = bf16.encode(texts, normalize_embeddings=True).astype(np.float32)
        assert np.argmax(a[1:] @ a[0]) == np.argmax(b[1:] @ b[0]) == 0  # the positive stays on top
        assert float(np.mean(np.sum(a * b, axis=1))) > 0.999


@pytest.mark.slow
def test_eval_records_bf16_and_keeps_map(run_cli, isolated_home):
    from wrapper.evaluate.models import resolve_model
    from wrapper.evaluate.results import model_folder, read_metadata

    dataset = write_dataset(isolated_home)
    scores = {}
    for prec in ("fp32", "bf16"):
        results = isolated_home / f"results-{prec}"
        code, out, err = run_cli("eval", "bundled", "--dataset", str(dataset), "--results", str(results),
                                 "--precision", prec)
        assert code == 0, err
        ref = resolve_model("bundled")
        meta = read_metadata(model_folder(results, ref.name, ref.revision))
        (task,) = meta["tasks"].values()
        assert task["precision"] == prec
        scores[prec] = task["main_score"]
    assert abs(scores["bf16"] - scores["fp32"]) <= 0.002


def test_miner_rejects_an_unknown_precision():
    from wrapper.prepare.mining import load_miner

    with pytest.raises(InputError, match="--precision"):
        load_miner("bundled", precision="int4")
