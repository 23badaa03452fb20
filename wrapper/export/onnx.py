"""ONNX export of a cross-encoder (optionally int8-quantised) and its agreement with the original.

sentence-transformers' own ONNX functions go through optimum-onnx, which needs
transformers < 4.58 (this project runs 5.23), so the graph is exported with
`torch.onnx.export` and quantised with onnxruntime's `quantize_dynamic`. The ONNX file
outputs the raw logit; `score` applies the sigmoid the CrossEncoder applies.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from wrapper.errors import InputError

ONNX_FILE = "model.onnx"
INT8_FILE = "model_qint8.onnx"


def _need_onnxruntime():
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        raise InputError.at("--format onnx", "onnxruntime is not installed",
                            hint="pip install -e '.[onnx]' (onnx, onnxruntime)") from None


def export(model, out_dir: Path, *, quantize: str | None = None) -> Path:
    """Write `out_dir/onnx/model.onnx` (and `model_qint8.onnx` for quantize='int8') of a loaded
    CrossEncoder; returns the file to use."""
    import torch

    _need_onnxruntime()
    onnx_dir = out_dir / "onnx"
    onnx_dir.mkdir(parents=True, exist_ok=True)
    hf = model.model.float().eval()
    sample = model.tokenizer(["a query"], ["a document"], return_tensors="pt", padding=True, truncation=True)
    names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in sample]

    class Logits(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, *args):
            return self.inner(**dict(zip(names, args))).logits

    axes = {n: {0: "batch", 1: "sequence"} for n in names}
    axes["logits"] = {0: "batch"}
    path = onnx_dir / ONNX_FILE
    with torch.no_grad():
        torch.onnx.export(Logits(hf), tuple(sample[n] for n in names), str(path), input_names=names,
                          output_names=["logits"], dynamic_axes=axes, opset_version=17, dynamo=False)
    if quantize == "int8":
        from onnxruntime.quantization import QuantType, quantize_dynamic

        qpath = onnx_dir / INT8_FILE
        quantize_dynamic(str(path), str(qpath), weight_type=QuantType.QInt8)
        return qpath
    return path


class OnnxScorer:
    """Score (query, document) pairs with an exported file and the model's tokenizer."""

    def __init__(self, path: Path, tokenizer, max_length: int = 512, threads: int | None = None):
        import onnxruntime as ort

        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.inputs = {i.name for i in self.session.get_inputs()}
        self.tokenizer = tokenizer
        self.max_length = max_length

    def predict(self, pairs: list[tuple[str, str]], batch_size: int = 32) -> np.ndarray:
        out = []
        for at in range(0, len(pairs), batch_size):
            chunk = pairs[at:at + batch_size]
            enc = self.tokenizer([q for q, _ in chunk], [d for _, d in chunk], padding=True, truncation=True,
                                 max_length=self.max_length, return_tensors="np")
            feed = {k: v.astype(np.int64) for k, v in enc.items() if k in self.inputs}
            logits = self.session.run(["logits"], feed)[0]
            out.append(1.0 / (1.0 + np.exp(-logits[:, 0])))
        return np.concatenate(out) if out else np.zeros(0)


def kendall_tau(a, b) -> float:
    """Kendall's tau-b of two score lists (scipy)."""
    from scipy.stats import kendalltau

    if len(a) < 2:
        return 1.0
    tau = kendalltau(a, b).statistic
    return 1.0 if np.isnan(tau) else float(tau)


def agreement(groups: list[tuple[np.ndarray, np.ndarray]]) -> dict:
    """Mean Kendall tau and top-3 overlap over queries, given (original, exported) scores per query."""
    taus, overlaps = [], []
    for orig, new in groups:
        taus.append(kendall_tau(orig, new))
        k = min(3, len(orig))
        overlaps.append(len(set(np.argsort(-orig)[:k]) & set(np.argsort(-new)[:k])) / k)
    return {"queries": len(groups), "kendall_tau": float(np.mean(taus)) if taus else 1.0,
            "top3_overlap": float(np.mean(overlaps)) if overlaps else 1.0}
