"""`autorerank export RUN --out DIR`: a self-contained model folder with a model card (or ONNX)."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("model", metavar="RUN")
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), required=True, help="The folder to write.")
@click.option("--format", "fmt", type=click.Choice(["st", "onnx"]), default="st", show_default=True,
              help="st: sentence-transformers folder; onnx: that plus onnx/model.onnx (cross-encoders).")
@click.option("--quantize", type=click.Choice(["int8"]), default=None, help="int8 dynamic quantisation (ONNX, CPUs).")
@click.option("--overwrite", is_flag=True, help="Replace a non-empty --out folder.")
@click.option("--runs", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Parent folder of run folders (default: $AUTORERANK_RUNS or ./runs).")
@click.option("--results", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="The results folder whose evaluation goes into the card (default: ./results).")
def export(model, out, fmt, quantize, overwrite, runs, results) -> None:
    """Export RUN (a run id, model folder, `bundled` or Hub id) to --out.

    \b
    Writes weights, tokenizer, the sentence-transformers config, README.md (model card:
    base model, data and its hash, recipe, gate verdict, evaluation, usage) and export.json.
      autorerank export 20261202-sample-ce --out exported/sample-ce
      autorerank export 20261202-sample-ce --out exported/sample-ce-onnx --format onnx --quantize int8
    """
    from wrapper.export import export_model

    facts = export_model(model, out, fmt=fmt, quantize=quantize, runs=runs, results=results, overwrite=overwrite)
    click.echo(f"exported {facts['name']} ({facts['kind']}) -> {out}")
    onnx = facts.get("onnx")
    if onnx:
        click.echo(f"onnx: {onnx['file']} agrees with the original on {onnx['queries']} queries: "
                   f"Kendall tau {onnx['kendall_tau']:.4f}, top-3 overlap {onnx['top3_overlap']:.4f}, "
                   f"max |score diff| {onnx['max_abs_score_diff']:.4f}")
