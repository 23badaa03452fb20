"""`autorerank demo`: the whole loop on the bundled model and the sample data, through `auto`."""

from __future__ import annotations

from pathlib import Path

import click

from wrapper.cli.gate import gate_flags, gate_options


@click.command()
@click.option("--fresh", is_flag=True, help="Start over: re-prepare and search again.")
@click.option("--budget", default=None, help="auto's time budget (default 8m): 6m, 90s, 1h.")
@click.option("--runs", type=click.Path(path_type=Path), default=None, help="Runs folder (default: $AUTORERANK_RUNS or ./runs).")
@click.option("--results", type=click.Path(path_type=Path), default=None, help="Results folder (default: $AUTORERANK_RESULTS or ./results).")
@gate_options
def demo(fresh: bool, budget: str | None, runs: Path | None, results: Path | None,
         general: tuple[str, ...], no_general: bool, fail_on: str | None) -> None:
    """Prepare the sample data, let `autorerank auto` train and gate several recipes within
    a time budget, and print the trials, the pick and the before/after.

    Offline, on the bundled all-MiniLM-L6-v2. Re-running reuses what is done (a
    finished search is shown again; an interrupted one resumes). Every trial is also
    checked out of domain (the shipped general-domain set unless --general names others).

    \b
    Exit codes: 0, or 3 when --fail-on lists the pick's verdict (or names `base`
    being kept: --fail-on any).

    \b
    Examples:
      autorerank demo
      autorerank demo --fresh --budget 6m
      autorerank demo --fail-on any
    """
    from wrapper.cli.auto import parse_budget
    from wrapper.errors import GateRefused
    from wrapper.pipeline import DEMO_BUDGET_S, DemoOptions, run_demo

    import os

    os.environ.setdefault("TQDM_DISABLE", "1")  # one line per trial reads better than every trial's bars
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    refuse, specs = gate_flags(False, general, no_general, fail_on)
    opts = DemoOptions(fresh=fresh, runs=runs, results=results, general=specs,
                       budget_s=parse_budget(budget) if budget else DEMO_BUDGET_S)
    click.echo(f"autorerank demo: prepare -> auto (trials, each gated in domain and in general) -> the pick "
               f"({opts.budget_s:.0f} s budget)", err=True)
    result = run_demo(opts, say=lambda msg: click.echo(msg, err=True))
    click.echo("\nsteps:")
    for step in result.steps:
        click.echo(f"  {step.name:<10} {step.action:<7} {step.seconds:7.1f}s  {step.detail}")
    from wrapper.auto.record import table

    click.echo("\nthe trials (chosen on the selection split, judged by the gate on the held-out split):")
    click.echo(table(result.record))
    click.echo("\nbefore / after on the held-out validation split of the sample data:")
    click.echo(result.before_after())
    click.echo("\nopen the leaderboard:  autorerank leaderboard   (http://127.0.0.1:8501)")
    verdict = result.pick.get("verdict") or "base"
    if refuse and (verdict in refuse or (verdict == "base" and refuse)):
        raise GateRefused(f"the demo's pick is {result.pick.get('run_id')} ({verdict}); --fail-on "
                          f"{','.join(sorted(refuse))}")
