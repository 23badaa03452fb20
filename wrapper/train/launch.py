"""Command lines that start the cross-encoder backend on one or more processes.

One process: `python -m wrapper.train.cross_encoder ARGS`. More: the same module
under `torchrun --standalone --nproc_per_node N` (default; on CPU the HF Trainer
then uses the gloo backend, on GPUs nccl) or `accelerate launch --num_processes N`
- the way AutoTrain launches its own trainers.
"""

from __future__ import annotations

import sys
from typing import Literal, Sequence

MODULE = "wrapper.train.cross_encoder"
Launcher = Literal["torchrun", "accelerate"]


def cross_encoder_argv(
    args: Sequence[str],
    *,
    num_processes: int = 1,
    launcher: Launcher = "torchrun",
    python: str | None = None,
    gpu: bool | None = None,
) -> list[str]:
    """argv that runs `python -m wrapper.train.cross_encoder *args` on `num_processes` processes."""
    python = python or sys.executable
    if num_processes < 1:
        raise ValueError(f"num_processes must be >= 1, got {num_processes}")
    if num_processes == 1:
        return [python, "-m", MODULE, *args]
    if launcher == "torchrun":
        return [
            python, "-m", "torch.distributed.run",
            "--standalone", "--nnodes", "1", "--nproc_per_node", str(num_processes),
            "-m", MODULE, *args,
        ]
    if launcher == "accelerate":
        if gpu is None:
            import torch

            gpu = torch.cuda.is_available()
        return [
            python, "-m", "accelerate.commands.launch",
            *(["--multi_gpu"] if gpu else ["--cpu"]),
            "--num_machines", "1", "--num_processes", str(num_processes),
            "-m", MODULE, *args,
        ]
    raise ValueError(f"unknown launcher {launcher!r}; expected torchrun or accelerate")
