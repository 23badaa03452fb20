"""`autorerank gate RUN`: judge a finished run (again) against its base, in domain and in general.

`gate_options` declares the gate's flags once; `train`, `demo` and `merge` reuse them, and
`train` and `merge` judge what they made with `gate_flags` + `gate_after`.
"""

from __future__ import annotations

from pathlib import Path

import click

GENERAL_HELP = ("General-domain set for the out-of-domain check (repeatable): 'default' (the small English + "
                "Chinese set shipped with autorerank), a prepared dataset folder (DIR or DIR:split), or an MTEB "
                "task name. Default: 'default'.")
FAIL_ON_HELP = ("Exit with code 3 when the gate's verdict is one of these (comma-separated: improved, forgot, "
                "no_better, regressed, collapsed, inconclusive, or 'any' = everything but improved). "
                "Default: exit 0 whatever the verdict.")


def gate_options(func):
    """--general / --no-general / --fail-on, shared by every command that runs the gate."""
    func = click.option("--fail-on", "fail_on", default=None, metavar="VERDICTS", help=FAIL_ON_HELP)(func)
    func = click.option("--no-general", is_flag=True, help="Skip the out-of-domain check.")(func)
    func = click.option("--general", "general", multiple=True, metavar="SET", help=GENERAL_HELP)(func)
    return func


def general_specs(general: tuple[str, ...], no_general: bool) -> list[str] | None:
    """The `general=` argument of `wrapper.gate.check_run` from the CLI flags."""
    if no_general:
        if general:
            raise click.UsageError("--general and --no-general exclude each other")
        return []
    return list(general) or None


def gate_flags(no_gate: bool, general: tuple[str, ...], no_general: bool,
               fail_on: str | None) -> tuple[set[str], list[str] | None]:
    """(verdicts refused by --fail-on, `general=` for `check_run`), checked before any work is done."""
    from wrapper.gate import parse_fail_on

    refuse = parse_fail_on(fail_on)  # a typo fails before training, not after
    if refuse and no_gate:
        raise click.UsageError("--fail-on needs the gate: drop --no-gate")
    return refuse, general_specs(general, no_general)


def gate_after(run_dir: Path, run_id: str, *, what: str, runs: Path | None, general: list[str] | None,
               refuse: set[str], split: str = "validation") -> None:
    """Judge a run just made (`what`: "fine-tune", "merge"), print the verdict and enforce --fail-on.

    When the gate cannot run, the run still stands: a warning says why, unless
    --fail-on asked for a verdict (no verdict is not a pass), then the error is raised.
    """
    from wrapper.errors import AutoRerankError
    from wrapper.gate import check_run, enforce

    click.echo(f"  gate:    evaluating the {what} against its base model ...", err=True)
    try:
        verdict = check_run(run_dir, runs=runs, split=split, general=general)
    except AutoRerankError as exc:
        if refuse:
            raise
        click.secho(f"  gate:    not run: {exc}\n           (the {what} is fine to use; skip with --no-gate)",
                    fg="yellow", err=True)
        return
    click.echo(f"  gate:    {verdict.sentence()}")
    enforce({run_id: verdict.verdict}, refuse)


@click.command()
@click.argument("run", metavar="RUN")
@gate_options
@click.option("--split", default="validation", show_default=True, help="The run dataset's eval split to judge on.")
@click.option("--tolerance", type=float, default=None, help="In-domain MAP change that counts (default 0.005).")
@click.option("--general-tolerance", type=float, default=None,
              help="General-domain MAP drop that counts as forgetting (default 0.01).")
@click.option("--runs", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Parent folder of run folders (default: $AUTORERANK_RUNS or ./runs).")
@click.option("--results", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Results folder (default: $AUTORERANK_RESULTS or ./results).")
def gate(run, general, no_general, fail_on, split, tolerance, general_tolerance, runs, results) -> None:
    """Judge RUN (a run id or runs/<id>) against its base model.

    Scores base and fine-tune on the run's held-out split and on general-domain
    sets, with a 95% paired-bootstrap interval on every difference, and records the
    verdict in the run's status.json.

    \b
    Exit codes: 0 (a verdict, whatever it is, unless --fail-on names it), 2 bad
    input, 3 the verdict is listed in --fail-on.

    \b
    Examples:
      autorerank gate sample-minilm-cross-encoder
      autorerank gate runs/my-run --general data/scifact-dev --general T2Reranking
      autorerank gate my-run --fail-on regressed,collapsed,forgot   # in CI
    """
    from wrapper.gate import DEFAULT_TOLERANCE, GENERAL_TOLERANCE, check_run, enforce, parse_fail_on
    from wrapper.run import Run

    refuse = parse_fail_on(fail_on)
    found = Run.open(run, runs)
    result = check_run(found, results=results, runs=runs, split=split,
                       tolerance=DEFAULT_TOLERANCE if tolerance is None else tolerance,
                       general=general_specs(general, no_general),
                       general_tolerance=GENERAL_TOLERANCE if general_tolerance is None else general_tolerance)
    click.echo(f"gate {found.id}: {result.sentence()}")
    enforce({found.id: result.verdict}, refuse)
