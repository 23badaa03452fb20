"""`autorerank demo`: the whole loop on the bundled model and the sample data."""

from __future__ import annotations

from pathlib import Path

import click

from wrapper.cli.gate import gate_flags, gate_options


@click.command()
@click.option("--fresh", is_flag=True, help="Start over: re-prepare, re-train and re-evaluate everything.")
@click.option("--runs", type=click.Path(path_type=Path), default=None, help="Runs folder (default: $AUTORERANK_RUNS or ./runs).")
@click.option("--results", type=click.Path(path_type=Path), default=None, help="Results folder (default: $AUTORERANK_RESULTS or ./results).")
@click.option("--skip-cross-encoder", is_flag=True, help="Only train the AutoTrain bi-encoder.")
@gate_options
def demo(fresh: bool, runs: Path | None, results: Path | None, skip_cross_encoder: bool,
         general: tuple[str, ...], no_general: bool, fail_on: str | None) -> None:
    """Prepare the sample data, train with AutoTrain and the cross-encoder backend,
    evaluate base and fine-tunes, and print a before/after table.

    Offline, on the bundled all-MiniLM-L6-v2. Re-running reuses what is done.
    Every fine-tune is also checked out of domain (the shipped general-domain set
    unless --general names others).

    \b
    Exit codes: 0, or 3 when a verdict is listed in --fail-on.

    \b
    Examples:
      autorerank demo
      autorerank demo --fresh
      autorerank demo --fail-on regressed,collapsed,forgot
    """
    from wrapper.gate import GateResult, enforce
    from wrapper.pipeline import DemoOptions, run_demo

    refuse, specs = gate_flags(False, general, no_general, fail_on)
    opts = DemoOptions(fresh=fresh, runs=runs, results=results, skip_cross_encoder=skip_cross_encoder,
                       general=specs)
    click.echo("autorerank demo: prepare -> config -> train (AutoTrain + cross-encoder) -> evaluate -> gate", err=True)
    result = run_demo(opts)

    click.echo("\nsteps:")
    for step in result.steps:
        click.echo(f"  {step.name:<28} {step.action:<7} {step.seconds:7.1f}s  {step.detail}")
    click.echo("\nbefore / after on the held-out validation split of the sample data:")
    click.echo(result.table())
    click.echo("\nthe gate (95% paired-bootstrap intervals over queries):")
    for label, gate in result.gates.items():
        lines = GateResult.from_dict(gate).sentence().splitlines()
        colour = None if gate["verdict"] == "improved" else "yellow"
        click.secho(f"{label}: " + "\n".join(lines), fg=colour)
    click.echo("\nopen the leaderboard:  autorerank leaderboard   (http://127.0.0.1:8501)")
    enforce({label: gate["verdict"] for label, gate in result.gates.items()}, refuse)

