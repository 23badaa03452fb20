"""Inference precision: `auto | fp32 | bf16`, and loading a model in it.

`auto` picks bf16 where the hardware does bf16 natively (a CUDA GPU with
`torch.cuda.is_bf16_supported()`, or a CPU whose flags include `avx512_bf16` or
`amx_bf16`), else fp32. bf16 means bf16 *weights* (measured here: 3.1x the fp32
encode throughput of the bundled MiniLM; autocast alone gave 1.6x). Results record
the precision actually used (`resolve(...)`), never `auto`.

Only the encoder runs in bf16: a model's outputs stay fp32 (a bi-encoder pools
fp32 token embeddings, a cross-encoder's classification head runs in fp32), so
scores keep fp32 resolution and do not collapse into bf16 ties (8-bit mantissa:
0.1 and 0.1004 are one value).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from wrapper.errors import InputError

Precision = Literal["auto", "fp32", "bf16"]
PRECISIONS: tuple[str, ...] = ("auto", "fp32", "bf16")
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


@lru_cache(maxsize=1)
def cpu_flags(cpuinfo: str = "/proc/cpuinfo") -> frozenset[str]:
    """The CPU feature flags Linux reports (empty elsewhere)."""
    try:
        text = Path(cpuinfo).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def bf16_supported(device: str | None = None) -> bool:
    """Native bf16 on `device` (None: CUDA when available, else CPU)."""
    import torch

    on_cuda = (device or "").startswith("cuda") or (device is None and torch.cuda.is_available())
    if on_cuda:
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    return any(flag in cpu_flags() for flag in BF16_CPU_FLAGS)


def check(precision: str, where: str = "--precision") -> str:
    if precision not in PRECISIONS:
        raise InputError.at(where, f"unknown precision {precision!r}", hint=f"use one of: {', '.join(PRECISIONS)}")
    return precision


def resolve(precision: str = "auto", device: str | None = None) -> str:
    """`auto` -> `bf16` or `fp32` for this hardware; `bf16` without hardware support stays bf16
    (it works, only slower) because the user asked for it."""
    check(precision)
    if precision == "auto":
        return "bf16" if bf16_supported(device) else "fp32"
    return precision


def model_kwargs(precision: str) -> dict:
    """`model_kwargs` for SentenceTransformer / CrossEncoder in a resolved precision."""
    if precision == "bf16":
        import torch

        return {"dtype": torch.bfloat16}
    return {}


def load(path: str | Path, kind: str, *, precision: str = "fp32", device: str | None = None, **kwargs):
    """Load a sentence-transformers model of `kind` ("cross-encoder" or "bi-encoder") in `precision`
    (resolved here when `auto`)."""
    from sentence_transformers import CrossEncoder, SentenceTransformer

    resolved = resolve(precision, device)
    cls = CrossEncoder if kind == "cross-encoder" else SentenceTransformer
    model = cls(str(path), device=device, model_kwargs=model_kwargs(resolved), **kwargs)
    if resolved == "bf16":  # also covers heads that the model kwargs did not reach
        import torch

        model.to(torch.bfloat16)
        keep_outputs_fp32(model, kind)
    return model


def dtype_name(model) -> str:
    """`bf16`, `fp16`, `fp32` or `fp64`: the dtype a loaded model's weights are in."""
    dtype = str(getattr(model, "dtype", "") or "")
    for key, name in (("bfloat16", "bf16"), ("float16", "fp16"), ("float32", "fp32"), ("float64", "fp64")):
        if key in dtype:
            return name
    return "fp32"


def apply(model, kind: str, precision: str = "auto", device: str | None = None) -> str:
    """Put an already loaded fp32 model into `precision` (in place, e.g. a miner that a caller
    loaded); returns the precision it now runs in. A model already in bf16/fp16 is left alone."""
    resolved = resolve(precision, device)
    current = dtype_name(model)
    if resolved == "bf16" and current == "fp32":
        import torch

        model.to(torch.bfloat16)
        keep_outputs_fp32(model, kind)
        return "bf16"
    return current


def _upcast(value):
    import torch

    return value.float() if torch.is_tensor(value) and value.is_floating_point() else value


def keep_outputs_fp32(model, kind: str) -> bool:
    """Run what comes after a bf16 encoder in fp32: a cross-encoder's classification head
    (`classifier` / `score`), a bi-encoder's pooling and later modules. True when hooked."""
    try:
        first = model[0]
    except (TypeError, IndexError, KeyError):
        return False
    if kind == "cross-encoder":
        hf = getattr(first, "model", None) or getattr(first, "auto_model", None)
        head = getattr(hf, "classifier", None) or getattr(hf, "score", None)
        if head is None or not hasattr(head, "register_forward_pre_hook"):
            return False
        head.float()
        head.register_forward_pre_hook(lambda _mod, args, kwargs: (
            tuple(_upcast(a) for a in args), {k: _upcast(v) for k, v in kwargs.items()}), with_kwargs=True)
        return True
    if len(model) < 2 or not hasattr(first, "register_forward_hook"):
        return False

    def token_embeddings_fp32(_mod, _args, features):
        if hasattr(features, "__setitem__") and "token_embeddings" in features:
            features["token_embeddings"] = _upcast(features["token_embeddings"])
        return features

    first.register_forward_hook(token_embeddings_fp32)
    for module in list(model)[1:]:
        module.float()
    return True
