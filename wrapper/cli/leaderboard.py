"""`autorerank leaderboard`: the Streamlit leaderboard over results/ and runs/."""

from __future__ import annotations

import click

from wrapper.procs import DEFAULT_LEADERBOARD_PORT


@click.command("leaderboard")
@click.option("--port", type=int, default=DEFAULT_LEADERBOARD_PORT, show_default=True, help="port on 127.0.0.1")
@click.option("--results", "results", type=click.Path(file_okay=False), default=None,
              help="results folder (default: $AUTORERANK_RESULTS, else ./results)")
@click.option("--runs", "runs", type=click.Path(file_okay=False), default=None,
              help="runs folder (default: $AUTORERANK_RUNS, else ./runs)")
def leaderboard(port: int, results: str | None, runs: str | None) -> None:
    """Compare evaluated models in the browser (Streamlit on 127.0.0.1).

    \b
    Examples:
      autorerank leaderboard
      autorerank leaderboard --port 8600 --results results --runs runs
    """
    from wrapper.leaderboard.serve import serve

    serve(port=port, results=results, runs=runs, announce=lambda line: click.echo(line, err=True))
