"""wrapper.scoring (token-length sorted batches, each distinct pair once) and bf16 output heads,
with the real bundled MiniLM (and a seeded fresh-head cross-encoder) on a dozen texts."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import EN_ROWS
from wrapper import precision
from wrapper.scoring import predict_pairs, token_lengths


def _pairs() -> list[tuple[str, str]]:
    pairs = [(row["query"], text) for row in EN_ROWS for text in row["positive"] + row["negative"]]
    return pairs + pairs[:3]  # repeated pairs, as when two candidate ids share a text


class Counting:
    """A CrossEncoder whose `predict` calls are recorded (inputs of each call)."""

    def __init__(self, model):
        self.model, self.calls = model, []

    def __getattr__(self, name):
        return getattr(self.model, name)

    def predict(self, pairs, **kwargs):
        self.calls.append(list(pairs))
        return self.model.predict(pairs, **kwargs)


@pytest.mark.slow
def test_predict_pairs_equals_predict_scoring_each_distinct_pair_once(ce_folder):
    model = precision.load(ce_folder, "cross-encoder", precision="fp32")
    pairs = _pairs()
    expected = model.predict(pairs, batch_size=32, show_progress_bar=False)
    counting = Counting(model)
    got = predict_pairs(counting, pairs, batch_size=3)
    assert got.shape == expected.shape
    assert np.allclose(got, expected, atol=1e-5)
    scored = [p for call in counting.calls for p in call]
    assert len(scored) == len(set(pairs)) < len(pairs)  # the repeats were not scored again
    lengths = [max(token_lengths(model, [q for q, _ in c], [d for _, d in c])) for c in counting.calls]
    assert lengths == sorted(lengths, reverse=True)  # longest batches first: sorted by tokens
    assert predict_pairs(model, []).shape == (0,)


@pytest.mark.slow
def test_bf16_keeps_fp32_outputs_and_ranks_like_fp32(ce_folder, bundled_model_path):
    """bf16 weights, fp32 head: scores have fp32 resolution (no bf16 ties) and rank like fp32."""
    import torch

    fp32 = precision.load(ce_folder, "cross-encoder", precision="fp32")
    bf16 = precision.load(ce_folder, "cross-encoder", precision="bf16")
    head = bf16[0].model.classifier
    assert head.weight.dtype == torch.float32 and bf16[0].model.bert.encoder.layer[0].output.dense.weight.dtype == torch.bfloat16
    pairs = _pairs()
    a = fp32.predict(pairs, show_progress_bar=False)
    b = predict_pairs(bf16, pairs, batch_size=4)
    assert len(set(b[: len(pairs) - 3].tolist())) == len(set(pairs))  # no collapsed scores
    assert np.abs(a - b).max() < 2e-3
    bi = precision.load(bundled_model_path, "bi-encoder", precision="bf16")
    emb = bi.encode(["a short text", "another one"], convert_to_tensor=True)
    assert emb.dtype == torch.float32  # pooled in fp32 from bf16 token embeddings


def test_apply_converts_only_an_fp32_model_and_reports_its_precision(monkeypatch):
    import torch

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.layer = torch.nn.Linear(2, 2)

        @property
        def dtype(self):
            return self.layer.weight.dtype

    m = Model()
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset({"avx2"}))
    assert precision.apply(m, "bi-encoder", "auto", "cpu") == "fp32" and m.dtype == torch.float32
    assert precision.apply(m, "bi-encoder", "bf16", "cpu") == "bf16" and m.dtype == torch.bfloat16
    assert precision.apply(m, "bi-encoder", "fp32", "cpu") == "bf16"  # already bf16: left alone, said so
