"""`autorerank prepare SOURCE... --out DIR`: a thin shell over `wrapper.prepare`."""

from __future__ import annotations

from pathlib import Path

import click

from wrapper.prepare.options import Format


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
@click.option("--out", "-o", type=click.Path(path_type=Path),
              help="Output folder [default: data/<--name>]; one of --out and --name is required.")
@click.option("--format", "fmt", type=click.Choice([f.value for f in Format]), default="auto", show_default=True,
              help="Input format; auto detects it from each source's shape.")
@click.option("--query-col", help="Column holding the query (default: query, question, anchor, ...).")
@click.option("--passage-col", help="Column holding the passage (pairs/positives).")
@click.option("--label-col", help="Column holding the relevance label (pairs).")
@click.option("--pos-col", help="Column holding the positive(s) (triplets/listwise/positives).")
@click.option("--neg-col", help="Column holding the negative(s) (triplets/listwise).")
@click.option("--split", "split", help="BEIR qrels split to read (qrels/<split>.tsv); default train.")
@click.option("--label-threshold", type=float, help="Labels >= this are positives [default: 1, or 0.5 for fractions].")
@click.option("--val-ratio", type=float, default=0.1, show_default=True, help="Share of queries held out for validation (1.0: an evaluation-only dataset).")
@click.option("--test-ratio", type=float, default=0.0, show_default=True, help="Share of queries held out for test.")
@click.option("--seed", type=int, default=42, show_default=True, help="Seed for the split and random negatives.")
@click.option("--group-by", "group_by", metavar="passage|article|COLUMN",
              help="Split whole groups, not single queries: 'passage' keeps queries that share a labelled "
                   "passage together (SQuAD: several questions per paragraph), 'article' keeps a SQuAD "
                   "article together, COLUMN keeps a table's rows with the same value together. "
                   "[default: split by query]")
@click.option("--mine/--no-mine", default=True, show_default=True, help="Mine hard negatives.")
@click.option("--miner", default="bundled", show_default=True,
              help="sentence-transformers model (name or path) used to mine; 'bundled' = all-MiniLM-L6-v2.")
@click.option("--num-negatives", type=int, default=4, show_default=True, help="Negatives per training query.")
@click.option("--eval-negatives", type=int, help="Candidates per held-out query [default: 2 x --num-negatives].")
@click.option("--range-min", type=int, default=0, show_default=True, help="Skip this many top hits when mining.")
@click.option("--margin", default="0.05", show_default=True,
              help="False-negative guard: drop candidates scoring above pos - |pos| x MARGIN; 'off' disables.")
@click.option("--random-negatives", type=int, default=0, show_default=True,
              help="How many of the negatives are drawn at random instead of mined.")
@click.option("--batch-size", type=int, default=32, show_default=True, help="Encoding batch size for mining.")
@click.option("--corpus", multiple=True, type=click.Path(path_type=Path),
              help="Extra passages to mine from (jsonl/csv/tsv/parquet/txt); repeatable.")
@click.option("--name", help="Dataset name in dataset.json [default: the --out folder name].")
@click.option("--encoding", default="utf-8", show_default=True, help="Text encoding of the inputs.")
@click.option("--title/--no-title", "use_title", default=True, show_default=True,
              help="BEIR: prefix document titles to their text.")
@click.option("--max-line-bytes", type=int, default=32 * 1024 * 1024, show_default=True,
              help="Refuse lines longer than this (catches files without line breaks).")
@click.option("--teacher", default="miner", show_default=True,
              help="Teacher scores for distillation (pos_scores/neg_scores in flagembedding/train.jsonl): "
                   "'miner' keeps the mining scores; a model folder, run id or Hub id (a cross-encoder or "
                   "a bi-encoder) scores every training pair with it; 'off' keeps none.")
@click.option("--device", help="Device for the miner (cpu, cuda, ...) [default: best available].")
@click.option("--precision", type=click.Choice(["auto", "fp32", "bf16"]), default="auto", show_default=True,
              help="Miner weights: auto = bf16 where the CPU (avx512_bf16/AMX) or GPU does bf16, else fp32; "
                   "recorded in dataset.json (mining.precision).")
@click.option("--overwrite", is_flag=True, help="Replace an existing --out folder.")
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
