"""`autorerank prepare SOURCE... --out DIR`: a thin shell over `wrapper.prepare`."""

from __future__ import annotations

from pathlib import Path

import click

from wrapper.prepare.flags import OPTIONS


def prepare_options(func):
    """The options of `wrapper.prepare.flags.OPTIONS` as click options."""
    for decls, kwargs in reversed(OPTIONS):
        kwargs = dict(kwargs)
        if kwargs.get("type") == "path":
            kwargs["type"] = click.Path(path_type=Path)
        if "choices" in kwargs:
            kwargs["type"] = click.Choice(kwargs.pop("choices"))
        func = click.option(*decls, **kwargs)(func)
    return func


def _margin(value: str | None) -> float | None:
    if value is None or value.strip().lower() in ("off", "none", "no"):
        return None
    try:
        return float(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a number (or 'off')", param_hint="--margin") from None


@click.command(
    "prepare",
    epilog="""\b
Examples:
  autorerank prepare pairs.csv --out data/mine
  autorerank prepare triples.train.tsv.gz --format triplets --num-negatives 2 --out data/msmarco
  autorerank prepare ../datasets/scifact --split train --out data/scifact
  autorerank prepare qa.json --miner BAAI/bge-small-en-v1.5 --range-min 3 --out data/qa
  autorerank prepare cmrc2018_train.json --group-by passage --out data/cmrc
  autorerank prepare dev.json --label-threshold 2 --out data/qbqtc
  autorerank prepare pairs.csv --teacher BAAI/bge-reranker-large --out data/distill
""",
)
@click.argument("sources", nargs=-1, required=True, type=click.Path(path_type=Path))
@prepare_options
def prepare(sources, out, fmt, margin, corpus, teacher, **flags) -> None:
    """Turn raw data into train/validation(/test) sets with hard negatives.

    SOURCE is a CSV/TSV/JSONL/JSON/Parquet file (gzip welcome) or a BEIR folder.
    Formats: pairs (query, passage, label), listwise (query, pos[], neg[]),
    triplets (query, positive, negative; headerless TSV too), beir, squad,
    positives (query, positive).
    """
    from wrapper.prepare import PrepareOptions
    from wrapper.prepare import prepare as run_prepare

    if out is None:
        if not flags.get("name"):
            raise click.UsageError("give the output folder with --out DIR (or --name NAME to write data/NAME)")
        out = Path("data") / flags["name"]
    teacher = None if teacher.strip().lower() in ("off", "none", "no") else teacher
    options = PrepareOptions.build(format=fmt, margin=_margin(margin), corpus=tuple(str(c) for c in corpus),
                                   teacher=teacher, **flags)
    report = run_prepare(list(sources), out, options)
    click.echo(report.summary())
