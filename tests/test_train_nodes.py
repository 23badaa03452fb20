"""Training across machines: two "nodes" of one process each on 127.0.0.1, meeting through torchrun's
rendezvous (gloo on CPU), train the cross-encoder together: each trains on other rows, node 0
saves the one model, node 1 says it did its share.

The same commands run on two GPU machines with their addresses instead of 127.0.0.1 (README).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import write_tiny_dataset

from wrapper import procs
from wrapper.config import render_config
from wrapper.errors import InputError
from wrapper.train.launch import Nodes, cross_encoder_argv


def test_node_flags_become_torchruns_static_rendezvous():
    nodes = Nodes.parse(2, 1, "10.0.0.1:29500")
    argv = cross_encoder_argv(["--config", "c.yml"], num_processes=4, nodes=nodes, python="py")
    assert argv == ["py", "-m", "torch.distributed.run", "--nnodes", "2", "--node_rank", "1",
                    "--master_addr", "10.0.0.1", "--master_port", "29500", "--nproc_per_node", "4",
                    "-m", "wrapper.train.cross_encoder", "--config", "c.yml"]
    assert Nodes.parse(1, 0, None) is None  # one machine: nothing changes


@pytest.mark.parametrize("count, rank, endpoint, match", [
    (1, 0, "h:1", "--nnodes: must be 2 or more"),
    (2, 2, "h:1", "--node-rank: 2 is not a node of 2"),
    (2, 0, "nohost", "--rdzv-endpoint: expected HOST:PORT"),
    (2, 0, "h:99999", "--rdzv-endpoint: expected HOST:PORT"),
])
def test_bad_node_flags_say_what_to_give(count, rank, endpoint, match):
    with pytest.raises(InputError, match=match):
        Nodes.parse(count, rank, endpoint)


def test_autotrain_runs_stay_on_one_machine(isolated_home, run_cli):
    dataset = write_tiny_dataset(Path("data") / "tiny")
    config = render_config(dataset, base_model="bundled", name="tiny-at", task="st:triplet")
    code, _, err = run_cli("train", config, "--nnodes", "2", "--node-rank", "0", "--rdzv-endpoint", "127.0.0.1:1")
    assert code == 2 and "AutoTrain" in err and "on one machine" in err and "cross-encoder" in err


@pytest.mark.slow
def test_two_nodes_on_loopback_train_one_model_on_different_rows(isolated_home):
    dataset = write_tiny_dataset(Path("data") / "tiny", n_queries=40, negatives=2, val_queries=8)
    config = render_config(dataset, base_model="bundled", name="tiny-nodes", task="cross-encoder:bce",
                           max_steps=3, batch_size=4, max_seq_length=32, eval_steps=3)
    port = procs.free_port()
    env = {**os.environ, "AUTORERANK_LOG_BATCHES": "1"}
    nodes = []
    for rank in (0, 1):
        argv = [sys.executable, "-m", "wrapper", "train", str(config), "--run-id", f"node{rank}", "--runs",
                f"runs{rank}", "--no-gate", "--no-progress", "--nnodes", "2", "--node-rank", str(rank),
                "--rdzv-endpoint", f"127.0.0.1:{port}"]
        nodes.append(subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outs = [p.communicate(timeout=400) for p in nodes]
    for proc, (out, err) in zip(nodes, outs):
        assert proc.returncode == 0, err[-3000:]
    status = [json.loads((Path(f"runs{r}") / f"node{r}" / "status.json").read_text()) for r in (0, 1)]
    assert [s["state"] for s in status] == ["succeeded", "succeeded"]
    assert status[0]["nodes"] == {"count": 2, "rank": 0, "endpoint": f"127.0.0.1:{port}"}
    assert (Path(status[0]["model"]) / "model.safetensors").is_file()  # node 0 saves the model ...
    assert status[1]["model"] is None and "node 0 saved the model" in status[1]["cause"]  # ... node 1 does not
    assert not list(Path("runs1").rglob("model.safetensors"))
    first = []
    for r in (0, 1):
        line = next(l for l in (Path(f"runs{r}") / f"node{r}" / "stdout.log").read_text().splitlines()
                    if l.startswith("AUTORERANK_FIRST_BATCH "))
        batch = json.loads(line.split(" ", 1)[1])
        assert batch["rank"] == r and batch["world"] == 2
        first.append(set(batch["rows"]))
    assert first[0] and first[1] and first[0].isdisjoint(first[1])  # each rank trained on other rows
