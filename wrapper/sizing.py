"""What a training run will need on this machine, stated before launch, and what would fit.

    sizing = estimate(plan)                 # a `wrapper.config.render.ConfigPlan`
    print("\\n".join(sizing.lines()))        # parameters, memory, time per epoch, proposals

- Parameters: counted from the weights' safetensors headers (no weights loaded), else from config.json.
- Memory of full fine-tuning with AdamW: weights + gradients + two optimizer moments (16 bytes per
  parameter in fp32) plus activations at the chosen batch and length (per layer about
  34·s·b·h + 5·a·s²·b bytes at 16 bits, twice that in fp32: Korthikanti et al., "Reducing
  Activation Recomputation in Large Transformer Models", 2022; gradient checkpointing keeps
  about one layer's worth plus each layer's input).
- Time per epoch from a short probe: one warm-up and two timed forward/backward/optimizer steps on
  a small batch at the run's token length, scaled to the epoch's examples.
- Proposals when the run does not fit in memory (or would take long): bf16 where the hardware does
  it, gradient checkpointing where the trainer supports it, a smaller batch with gradient
  accumulation (same effective batch), a shorter length.
"""

from __future__ import annotations

import json
import math
import struct
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: fraction of the available memory a run may plan to use
MEMORY_HEADROOM = 0.8
#: trainers that can recompute activations (gradient checkpointing), by task prefix
CHECKPOINTING = ("cross-encoder:", "flagembedding:")
PROBE_BATCH = 2


@dataclass
class Sizing:
    params: int | None
    weights_gb: float | None
    optimizer_gb: float | None
    activations_gb: float | None
    need_gb: float | None
    available_gb: float
    device: str
    bf16: bool
    batch_size: int
    seq_len: int
    examples_per_epoch: int
    seconds_per_epoch: float | None = None
    probe_note: str = ""
    proposals: list[str] = field(default_factory=list)

    @property
    def fits(self) -> bool:
        return self.need_gb is None or self.need_gb <= MEMORY_HEADROOM * self.available_gb

    def lines(self) -> list[str]:
        out = [f"parameters: {_count(self.params)}"]
        if self.need_gb is not None:
            out.append(f"memory: {_size(self.need_gb)} needed ({_size(self.weights_gb)} weights + "
                       f"{_size(self.optimizer_gb)} gradients and AdamW moments + {_size(self.activations_gb)} "
                       f"activations at batch {self.batch_size} x {self.seq_len} tokens); {self.available_gb:.1f} GB "
                       f"available on {self.device}: {'fits' if self.fits else 'does NOT fit'}")
        if self.seconds_per_epoch is not None:
            out.append(f"time: about {_duration(self.seconds_per_epoch)} per epoch ({self.examples_per_epoch:,} "
                       f"examples; {self.probe_note})")
        elif self.probe_note:
            out.append(f"time: not measured ({self.probe_note})")
        out.append(f"bf16: {'available on this ' + self.device if self.bf16 else 'not available here (fp32)'}")
        out += [f"to fit: {p}" for p in self.proposals]
        return out


def _count(n: int | None) -> str:
    if n is None:
        return "unknown (no weights or config.json to count from)"
    return f"{n / 1e9:.2f}B" if n >= 1e9 else f"{n / 1e6:.1f}M" if n >= 1e6 else f"{n:,}"


def _size(gb: float) -> str:
    return f"{gb:.1f} GB" if gb >= 1 else f"{gb * 1000:.0f} MB" if gb >= 0.001 else f"{gb * 1e6:.0f} kB"


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


# --------------------------------------------------------------------------- parameters


def _safetensors_params(path: Path) -> int:
    with open(path, "rb") as fh:
        (size,) = struct.unpack("<Q", fh.read(8))
        header = json.loads(fh.read(size))
    return sum(math.prod(t["shape"]) for k, t in header.items() if k != "__metadata__")


def count_params(folder: Path | None, config: dict) -> int | None:
    """Parameters from the safetensors headers in `folder` (all shards), else estimated from config.json."""
    if folder is not None:
        index = folder / "model.safetensors.index.json"
        if index.is_file():
            shards = set(json.loads(index.read_text(encoding="utf-8")).get("weight_map", {}).values())
            if all((folder / s).is_file() for s in shards):
                return sum(_safetensors_params(folder / s) for s in shards)
        if (folder / "model.safetensors").is_file():
            return _safetensors_params(folder / "model.safetensors")
    h, layers = config.get("hidden_size"), config.get("num_hidden_layers")
    if not h or not layers:
        return None
    inter = config.get("intermediate_size") or 4 * h
    embeddings = (config.get("vocab_size") or 30000) * h + (config.get("max_position_embeddings") or 0) * h
    per_layer = 4 * h * h + 2 * h * inter + 9 * h + inter
    return int(embeddings + layers * per_layer + h * h + h)


# --------------------------------------------------------------------------- memory


def activation_bytes(config: dict, batch: int, seq: int, *, bf16: bool, checkpointing: bool) -> float:
    h = config.get("hidden_size") or 768
    layers = config.get("num_hidden_layers") or 12
    heads = config.get("num_attention_heads") or max(h // 64, 1)
    per_layer_16 = 34 * seq * batch * h + 5 * heads * seq * seq * batch
    per_layer = per_layer_16 * (1 if bf16 else 2)
    if checkpointing:
        return per_layer + layers * seq * batch * h * (2 if bf16 else 4)
    return layers * per_layer


def _hardware() -> tuple[str, float, bool]:
    """(device, available GB, bf16 pays off here)."""
    import psutil

    from wrapper.train.cross_encoder import bf16_available

    try:
        import torch

        if torch.cuda.is_available():
            free, _ = torch.cuda.mem_get_info()
            return torch.cuda.get_device_name(0), free / 1e9, torch.cuda.is_bf16_supported()
        return "CPU", psutil.virtual_memory().available / 1e9, bf16_available(torch)
    except ImportError:  # pragma: no cover - torch is a dependency
        return "CPU", psutil.virtual_memory().available / 1e9, False


# --------------------------------------------------------------------------- the probe


#: (model, tokens, trust) -> seconds per example, measured once per process (the studio re-renders often)
_PROBED: dict[tuple, float] = {}


def probe_seconds_per_example(ref: str, seq: int, *, trust_remote_code: bool = False, steps: int = 2) -> float:
    """Wall seconds of one training example at `seq` tokens: AdamW steps on a batch of PROBE_BATCH
    (measured once per model and length in a process)."""
    key = (ref, seq, trust_remote_code)
    if key not in _PROBED:
        _PROBED[key] = _probe(ref, seq, trust_remote_code=trust_remote_code, steps=steps)
    return _PROBED[key]


def _probe(ref: str, seq: int, *, trust_remote_code: bool, steps: int) -> float:
    import torch
    from transformers import AutoModelForSequenceClassification

    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # "Loading weights" bars and load reports belong to no one here
    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        model = AutoModelForSequenceClassification.from_pretrained(ref, num_labels=1,
                                                                   trust_remote_code=trust_remote_code)
    finally:
        hf_logging.set_verbosity(level)
    model.train()
    vocab = int(getattr(model.config, "vocab_size", 1000) or 1000)
    ids = torch.randint(5, max(vocab - 1, 6), (PROBE_BATCH, seq))
    mask = torch.ones_like(ids)
    optim = torch.optim.AdamW(model.parameters(), lr=1e-6)

    def step() -> None:
        out = model(input_ids=ids, attention_mask=mask)
        out.logits.float().pow(2).mean().backward()
        optim.step()
        optim.zero_grad()

    step()  # warm-up: allocations, kernels
    started = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - started) / (steps * PROBE_BATCH)


# --------------------------------------------------------------------------- estimate


def _shape(raw: dict) -> tuple[int, int]:
    """(batch size, tokens per example) of a config's params."""
    params = raw.get("params") or {}
    if raw["task"].startswith("flagembedding:"):
        batch = int(params.get("per_device_train_batch_size", 8)) * int(params.get("train_group_size", 8))
        return batch, int(params.get("query_max_len", 32)) + int(params.get("passage_max_len", 128))
    return int(params.get("batch_size", 16)), int(params.get("max_seq_length", 256))


def examples_per_epoch(raw: dict, dataset) -> int:
    """Forward passes of one epoch: pairs for text_regression / bce, (1 + k) per row for mnrl, groups for FlagEmbedding."""
    from wrapper.dataset import iter_jsonl

    path = dataset.train_file("flagembedding", must_exist=False)
    if not path.is_file():
        return 0
    params = raw.get("params") or {}
    task = raw["task"]
    negatives = ((raw.get("pairs") or {}).get("negatives") if task == "text_regression"
                 else params.get("num_negatives", 4))
    total = 0
    for _, record in iter_jsonl(path):
        pos, neg = len(record.get("pos") or []), len(record.get("neg") or [])
        if task.startswith("st:"):
            total += pos * max(neg, 1) * 3  # anchor, positive, negative encoded per triplet
        elif task.startswith("flagembedding:"):
            total += int(params.get("train_group_size", 8))
        else:
            total += pos + min(neg, negatives if negatives is not None else neg)
    return total


def estimate(plan: Any, *, probe: bool = True) -> Sizing:
    """The sizing of a `ConfigPlan` (see the module doc); `probe=False` skips the timing probe."""
    raw, base = plan.raw, plan.base
    batch, seq = _shape(raw)
    device, available, bf16 = _hardware()
    params = count_params(base.folder, base.config)
    use_bf16 = raw.get("params", {}).get("mixed_precision") == "bf16" or bool(raw.get("params", {}).get("bf16"))
    act = activation_bytes(base.config, batch, seq, bf16=use_bf16, checkpointing=False) / 1e9 if base.config else None
    weights = params * 4 / 1e9 if params else None
    optim = params * 12 / 1e9 if params else None
    need = weights + optim + act if params and act is not None else None
    sizing = Sizing(params=params, weights_gb=weights, optimizer_gb=optim, activations_gb=act, need_gb=need,
                    available_gb=available, device=device, bf16=bf16, batch_size=batch, seq_len=seq,
                    examples_per_epoch=examples_per_epoch(raw, plan.dataset))
    if probe:
        try:
            per = probe_seconds_per_example(base.ref, min(seq, base.max_positions or seq),
                                            trust_remote_code=bool(raw.get("trust_remote_code")))
            sizing.seconds_per_epoch = per * sizing.examples_per_epoch
            sizing.probe_note = f"measured {per * 1000:.0f} ms per example at {seq} tokens on this {device}"
        except Exception as exc:  # noqa: BLE001 - a probe that cannot run is reported, never fatal
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            sizing.probe_note = f"the probe could not load the model: {reason}"
    else:
        sizing.probe_note = "probe skipped"
    sizing.proposals = _proposals(raw, base.config, sizing, params)
    return sizing


def _proposals(raw: dict, config: dict, sizing: Sizing, params: int | None) -> list[str]:
    """Flags for `autorerank config` that make the run fit in memory, best first (one line)."""
    if sizing.fits or not params or not config:
        return []
    budget = MEMORY_HEADROOM * sizing.available_gb * 1e9 - params * 16
    if budget <= 0:
        return [f"the weights and AdamW state alone need {params * 16 / 1e9:.1f} GB: use a machine with more "
                "memory (or a GPU), or a smaller base model"]
    task = raw["task"]
    fe = task.startswith("flagembedding:")
    accumulate = "gradient_accumulation_steps" if fe else "gradient_accumulation"
    # bf16 where the trainer does it on this hardware (FlagEmbedding and AutoTrain: only on a GPU)
    bf16_flag = ("--param bf16=true" if fe else "--param mixed_precision=bf16")
    bf16_ok = sizing.bf16 and (sizing.device != "CPU" or task.startswith("cross-encoder:"))
    batch, seq = sizing.batch_size, sizing.seq_len
    group = int((raw.get("params") or {}).get("train_group_size", 1)) if fe else 1
    for bf16 in ([False, True] if bf16_ok else [False]):
        for ckpt in ([False, True] if task.startswith(CHECKPOINTING) else [False]):
            b = batch
            while b > group and activation_bytes(config, b, seq, bf16=bf16, checkpointing=ckpt) > budget:
                b = max(b // 2, group)
            if activation_bytes(config, b, seq, bf16=bf16, checkpointing=ckpt) <= budget:
                flags = [f"--batch-size {b // group}"]
                flags += [f"--param {accumulate}={batch // b}"] if b < batch else []
                flags += [bf16_flag] if bf16 else []
                flags += ["--param gradient_checkpointing=true"] if ckpt else []
                return [" ".join(flags) + " (the same effective batch)" * (b < batch)]
    if not fe and activation_bytes(config, 1, 128, bf16=False, checkpointing=False) <= budget:
        return [f"--batch-size 1 --param {accumulate}={batch} --max-seq-length 128"]
    return ["a machine with more memory (or a GPU): even one example does not fit"]


__all__ = ["Sizing", "activation_bytes", "count_params", "estimate", "examples_per_epoch",
           "probe_seconds_per_example"]
