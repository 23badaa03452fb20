"""`autorerank train`: run a config (AutoTrain or the cross-encoder backend) in runs/<run-id>/."""

from __future__ import annotations

from pathlib import Path

import click

from wrapper.cli.gate import gate_after, gate_flags, gate_options


@click.command()
@click.argument("config_path", metavar="CONFIG.yml", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--runs", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Parent folder of run folders (default: $AUTORERANK_RUNS or ./runs).")
@click.option("--run-id", default=None, help="Run folder name (default: <UTC time>-<project_name>).")
@click.option("--num-processes", type=int, default=1, show_default=True,
              help="Processes for the cross-encoder backend (GPUs, or CPU processes with gloo). "
                   "AutoTrain picks its own from the visible GPUs.")
@click.option("--launcher", type=click.Choice(["torchrun", "accelerate"]), default="torchrun", show_default=True,
              help="How the cross-encoder backend starts more than one process.")
@click.option("--nnodes", type=int, default=1, show_default=True,
              help="Machines the run spans (torchrun's rendezvous): run the same command on each machine.")
@click.option("--node-rank", type=int, default=0, show_default=True,
              help="This machine's place among them (0 = the one at --rdzv-endpoint; it saves the model).")
@click.option("--rdzv-endpoint", default=None, metavar="HOST:PORT",
              help="Where node 0 meets the others (the same on every machine), e.g. 10.0.0.1:29500.")
@click.option("--autotrain-env", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="AutoTrain virtual env (default: $AUTORERANK_AUTOTRAIN_ENV or ./.venv-autotrain).")
@click.option("--no-progress", is_flag=True, help="No progress bar (logs still go to the run folder).")
@click.option("--no-gate", is_flag=True, help="Skip the regression gate (evaluation vs the base model) after success.")
@gate_options
def train(config_path, runs, run_id, num_processes, launcher, nnodes, node_rank, rdzv_endpoint, autotrain_env,
          no_progress, no_gate, general, no_general, fail_on) -> None:
    """Train CONFIG.yml (from `autorerank config`) and record the run.

    st:* tasks run AutoTrain from its own environment; cross-encoder:* tasks run
    the sentence-transformers CrossEncoder backend. The run folder holds
    config.yml, status.json, metrics.jsonl, stdout.log/stderr.log and the model.
    Ctrl-C stops the whole training process tree and marks the run interrupted.

    \b
    Examples:
      autorerank train autotrain_configs/sample-minilm.yml
      autorerank train autotrain_configs/sample-minilm-ce-bce.yml --num-processes 2
      # two machines with 4 GPUs each: the same command on both, node 0 at 10.0.0.1
      autorerank train CONFIG.yml --num-processes 4 --nnodes 2 --node-rank 0 --rdzv-endpoint 10.0.0.1:29500
      autorerank train CONFIG.yml --num-processes 4 --nnodes 2 --node-rank 1 --rdzv-endpoint 10.0.0.1:29500
    """
    from wrapper.train import train_run
    from wrapper.train.launch import Nodes

    refuse, specs = gate_flags(no_gate, general, no_general, fail_on)
    nodes = Nodes.parse(nnodes, node_rank, rdzv_endpoint)
    result = train_run(config_path, runs_dir=runs, run_id=run_id, progress=not no_progress,
                       num_processes=num_processes, autotrain_env=autotrain_env, launcher=launcher, nodes=nodes)
    status = result.status
    steps = status.get("steps") or {}
    click.echo(f"run {status['run_id']}: succeeded ({steps.get('done')} steps, {status.get('wall_s')} s)")
    click.echo(f"  model:   {status['model'] or status.get('cause')}")
    click.echo(f"  folder:  {result.run_dir}")
    if nodes is not None and nodes.rank > 0:
        return  # the gate judges the model, which node 0 saved
    if not no_gate:
        gate_after(result.run_dir, status["run_id"], what="fine-tune", runs=runs, general=specs, refuse=refuse)
