"""Command lines that start a training module on one or more processes, on one or more machines.

One process: `python -m MODULE ARGS`. More: the same module under `torchrun --standalone
--nproc_per_node N` (default; on CPU the HF Trainer then uses the gloo backend, on GPUs nccl) or
`accelerate launch --num_processes N` - the way AutoTrain launches its own trainers.

Several machines (`Nodes`): every machine runs the same `autorerank train CONFIG --nnodes N
--node-rank R --rdzv-endpoint HOST:PORT`, which becomes `torchrun --nnodes N --node_rank R
--master_addr HOST --master_port PORT --nproc_per_node P -m MODULE ...` (torchrun's static
rendezvous: node 0 hosts it at HOST:PORT, and its first process, global rank 0, saves the model).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Literal, Sequence

MODULE = "wrapper.train.cross_encoder"
Launcher = Literal["torchrun", "accelerate"]


@dataclass(frozen=True)
class Nodes:
    """This machine's place in a run that spans `count` machines."""

    count: int
    rank: int
    endpoint: str  # HOST:PORT of node 0's rendezvous

    @classmethod
    def parse(cls, count: int, rank: int, endpoint: str | None) -> "Nodes | None":
        """`--nnodes/--node-rank/--rdzv-endpoint` checked (InputError), or None for one machine."""
        from wrapper.errors import InputError

        if count == 1 and rank == 0 and not endpoint:
            return None
        if count < 2:
            raise InputError.at("--nnodes", f"must be 2 or more for a run across machines, got {count}",
                                hint="leave --nnodes, --node-rank and --rdzv-endpoint out to train on one machine")
        if not 0 <= rank < count:
            raise InputError.at("--node-rank", f"{rank} is not a node of {count} (0..{count - 1})",
                                hint="give node 0 to the machine at --rdzv-endpoint, 1.. to the others")
        host, _, port = (endpoint or "").rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise InputError.at("--rdzv-endpoint", f"expected HOST:PORT of node 0, got {endpoint!r}",
                                hint="e.g. --rdzv-endpoint 10.0.0.1:29500 (the same on every node)")
        return cls(count, rank, endpoint)

    def torchrun_args(self, per_node: int) -> list[str]:
        host, _, port = self.endpoint.rpartition(":")
        return ["--nnodes", str(self.count), "--node_rank", str(self.rank), "--master_addr", host,
                "--master_port", port, "--nproc_per_node", str(per_node)]


def cross_encoder_argv(
    args: Sequence[str],
    *,
    num_processes: int = 1,
    launcher: Launcher = "torchrun",
    python: str | None = None,
    gpu: bool | None = None,
    nodes: Nodes | None = None,
    module: str = MODULE,
) -> list[str]:
    """argv that runs `python -m module *args` on `num_processes` processes (per machine with `nodes`)."""
    python = python or sys.executable
    if num_processes < 1:
        raise ValueError(f"num_processes must be >= 1, got {num_processes}")
    if nodes is not None:
        return [python, "-m", "torch.distributed.run", *nodes.torchrun_args(num_processes), "-m", module, *args]
    if num_processes == 1 and module == MODULE:
        return [python, "-m", module, *args]
    if launcher == "torchrun":
        return [
            python, "-m", "torch.distributed.run",
            "--standalone", "--nnodes", "1", "--nproc_per_node", str(num_processes),
            "-m", module, *args,
        ]
    if launcher == "accelerate":
        if gpu is None:
            import torch

            gpu = torch.cuda.is_available()
        return [
            python, "-m", "accelerate.commands.launch",
            *(["--multi_gpu"] if gpu else ["--cpu"]),
            "--num_machines", "1", "--num_processes", str(num_processes),
            "-m", module, *args,
        ]
    raise ValueError(f"unknown launcher {launcher!r}; expected torchrun or accelerate")
