"""`autorerank merge`: mix a fine-tune with its base (LM-Cocktail) into a new run folder."""

from __future__ import annotations

from pathlib import Path

import click

from wrapper.cli.gate import gate_after, gate_flags, gate_options


@click.command()
@click.argument("run", metavar="RUN")
@click.argument("models", metavar="[MODEL...]", nargs=-1)
@click.option("--base", default=None, metavar="MODEL",
              help="The base to mix in (default: the run's base_model). A run id, model folder, 'bundled' or Hub id.")
@click.option("--weights", default=None, metavar="W1,W2,...",
              help="One weight per model, in the order RUN, MODEL..., base; they must sum to 1 "
                   "(default: equal shares).")
@click.option("--auto", is_flag=True,
              help="Choose the fine-tune's weight from a measured curve: the best in-domain MAP that keeps every "
                   "general set within --auto-tolerance of the base (see merge_curve.json).")
@click.option("--auto-queries", type=int, default=100, show_default=True,
              help="Queries sampled (seeded) per set while searching; 0 = all. The gate then uses every query.")
@click.option("--auto-tolerance", type=float, default=None,
              help="How far below the base a general set may fall during the search (default: the gate's 0.01).")
@click.option("--name", default=None, help="Run folder name (default: <UTC time>-<run>-merge).")
@click.option("--split", default="validation", show_default=True, help="The run dataset's split for --auto and the gate.")
@click.option("--runs", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Parent folder of run folders (default: $AUTORERANK_RUNS or ./runs).")
@click.option("--no-gate", is_flag=True, help="Skip the regression gate after merging.")
@gate_options
def merge(run, models, base, weights, auto, auto_queries, auto_tolerance, name, split, runs, no_gate,
          general, no_general, fail_on) -> None:
    """Mix RUN's fine-tuned model with its base model (and any extra MODELs).

    The weighted average of the models' parameters (LM-Cocktail) keeps some of the
    fine-tune's in-domain gain and some of the base's general ability. The result is
    a new run folder (runs/<name>/, backend "merge") that eval, the gate and the
    leaderboard treat like any fine-tune. A cross-encoder trained from a bi-encoder
    base keeps its own classification head (the base has none); only the encoder is mixed.

    \b
    Exit codes: 0 merged, 2 bad input (nothing written), 3 the gate's verdict is in --fail-on.

    \b
    Examples:
      autorerank merge 20261202-101500-sample-ce                      # 0.5 fine-tune + 0.5 base
      autorerank merge 20261202-101500-sample-ce --weights 0.7,0.3 --name sample-ce-mix70
      autorerank merge my-run runs/other-run/model --weights 0.5,0.25,0.25
      autorerank merge my-run --auto --general data/scifact --auto-queries 60
    """
    from wrapper.merge import merge_run

    refuse, specs = gate_flags(no_gate, general, no_general, fail_on)
    result = merge_run(run, list(models), base=base, weights=weights, auto=auto, name=name, runs=runs,
                       general=specs, split=split, auto_tolerance=auto_tolerance, auto_queries=auto_queries,
                       progress=lambda msg: click.echo(msg, err=True))
    status = result.status
    click.echo(f"merge {status['run_id']}: succeeded ({status['wall_s']} s)")
    for source in status["sources"]:
        click.echo(f"  {source['weight']:.4g} x {source['role']:<9} {source['model']}")
    for note in status["merge_notes"]:
        click.echo(f"  note:    {note}")
    if result.curve is not None:
        click.echo(_curve_table(result.curve))
        click.echo(f"  curve:   {status['auto']['curve']}")
    click.echo(f"  model:   {status['model']}")
    click.echo(f"  folder:  {result.run_dir}")
    if not no_gate:
        gate_after(result.run_dir, status["run_id"], what="merge", runs=runs, general=specs, refuse=refuse,
                   split=split)


def _curve_table(curve) -> str:
    names = list(curve.floors)
    head = "  w      in-domain  " + "  ".join(f"{n[:18]:>18}" for n in names)
    lines = [head]
    if curve.base_in_domain is not None:
        lines.append("  base   " + f"{curve.base_in_domain:9.4f}  " + "  ".join(f"{curve.floors[n]:18.4f}" for n in names))
    for p in sorted(curve.points, key=lambda p: p.weight):
        mark = " <- chosen" if p.weight == curve.chosen else ("" if p.feasible else " (below floor)")
        lines.append(f"  {p.weight:4.2f}   {p.in_domain:9.4f}  "
                     + "  ".join(f"{p.general.get(n, float('nan')):18.4f}" for n in names) + mark)
    return "\n".join(lines)
