"""Inference precision: `auto | fp32 | bf16`, and loading a model in it.

`auto` picks bf16 where the hardware does bf16 natively (a CUDA GPU with
`torch.cuda.is_bf16_supported()`, or a CPU whose flags include `avx512_bf16` or
`amx_bf16`), else fp32. bf16 means bf16 *weights* (measured here: 3.1x the fp32
encode throughput of the bundled MiniLM; autocast alone gave 1.6x). Results record
the precision actually used (`resolve(...)`), never `auto`.
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
    return model
