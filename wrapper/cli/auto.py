"""`autorerank auto DATASET --budget 20m`: search recipes within a time budget and pick the best safe model."""

from __future__ import annotations

import re
from pathlib import Path

import click

from wrapper.cli.gate import GENERAL_HELP, general_specs


def parse_budget(text: str) -> float:
    """`20m`, `90s`, `1h30m`, `1.5h` or plain seconds -> seconds."""
    from wrapper.errors import InputError

    value = text.strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return float(value)
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*([hms])", value)
    if not parts or "".join(f"{n}{u}" for n, u in parts) != value.replace(" ", ""):
        raise InputError.at("--budget", f"{text!r} is not a duration", hint="write it like 20m, 90s, 1h or 1h30m")
    return sum(float(n) * {"h": 3600, "m": 60, "s": 1}[u] for n, u in parts)


@click.command("auto")
@click.argument("dataset_dir", type=click.Path(path_type=Path, file_okay=False))
@click.option("--budget", required=True, help="Wall-clock time for everything (trials, gates, merge): 20m, 90s, 1h30m.")
@click.option("--base-model", default="bundled", show_default=True,
              help="Hub id, local folder, or 'bundled' (all-MiniLM-L6-v2, offline).")
@click.option("--tasks", default=None, metavar="TASK,...",
              help="Only these routes (e.g. st:triplet,cross-encoder:mnrl). Default: every route the base can take.")
@click.option("--general", "general", multiple=True, metavar="SET", help=GENERAL_HELP)
@click.option("--no-general", is_flag=True, help="Skip the gate's out-of-domain check (nothing can then forget).")
@click.option("--name", default=None, help="The auto run's folder name (default: auto-<dataset>-<base>).")
@click.option("--fresh", is_flag=True, help="Start over instead of resuming an auto run of that name.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the search (Optuna's TPE sampler).")
@click.option("--trust-remote-code", is_flag=True, help="Allow a base whose model code lives in its repository.")
@click.option("--runs", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Parent folder of run folders (default: $AUTORERANK_RUNS or ./runs).")
@click.option("--results", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Results folder (default: $AUTORERANK_RESULTS or ./results).")
def auto(dataset_dir, budget, base_model, tasks, general, no_general, name, fresh, seed, trust_remote_code, runs,
         results) -> None:
    """Find the best safe reranker for DATASET_DIR within --budget.

    Trains several recipes (routes, learning rates, lengths, steps sized to the budget), chooses on
    a selection split carved from the training queries, lets the regression gate judge each on the
    untouched held-out split and the general sets, and picks the best that improved without
    forgetting (merging it with its base when the best one forgot), or says why the base stays.
    Ctrl-C stops; the same command resumes without re-training finished trials.

    \b
    Examples:
      autorerank auto data/sample --budget 6m
      autorerank auto data/scifact --budget 30m --general data/cmrc2018-dev
      autorerank auto data/mine --budget 1h --base-model BAAI/bge-reranker-base --tasks text_regression,cross-encoder:mnrl
    """
    import os

    from wrapper.auto import run_auto

    # one line per trial reads better than every trial's scoring bars
    os.environ.setdefault("TQDM_DISABLE", "1")
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    specs = general_specs(general, no_general)
    only = [t.strip() for t in tasks.split(",") if t.strip()] if tasks else None
    result = run_auto(dataset_dir, budget_s=parse_budget(budget), base_model=base_model, general=specs, tasks=only,
                      name=name, runs=runs, results=results, fresh=fresh, seed=seed,
                      trust_remote_code=trust_remote_code, say=lambda msg: click.echo(msg, err=True))
    click.echo(result.table)
    pick = result.record["pick"]
    if pick["run_id"] != "base":
        click.echo(f"model: {pick['model']}")
    click.echo(f"record: {result.run_dir / 'auto.json'}")
