"""`autorerank export`: a run (or any model) -> a self-contained folder anyone can load or upload.

The folder holds the weights, tokenizer and sentence-transformers config (`model.save`),
README.md (a model card with the Hub's YAML header: base model, training data with its
hash and counts, recipe, gate verdict, evaluation results, usage) and export.json (the
same facts as JSON). A cross-encoder's folder also satisfies text-embeddings-inference's loader
(`tei`: export.json's `tei` lists what would stop it, and the command that serves it).
`fmt="onnx"` adds onnx/model.onnx (and, with quantize="int8", onnx/model_qint8.onnx) and
measures how the ONNX model ranks against the original.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from wrapper import jsonio, settings
from wrapper.errors import InputError
from wrapper.evaluate.models import CROSS_ENCODER, load, resolve_model

FORMATS = ("st", "onnx")
AGREEMENT_QUERIES = 30
FALLBACK_QUERIES = [
    ("what is the capital of france", ["Paris is the capital of France.", "Berlin is in Germany.",
                                       "France borders Spain.", "The Louvre is a museum in Paris."]),
    ("how do plants make energy", ["Photosynthesis turns light into chemical energy.", "Plants need water.",
                                   "Cars run on petrol.", "Chlorophyll absorbs light."]),
]


def _dataset_facts(ref) -> tuple[dict, list[tuple[str, list[str]]]]:
    """The run's dataset manifest facts and up to AGREEMENT_QUERIES (query, candidates) for agreement."""
    from wrapper.dataset import Dataset

    if not ref.dataset:
        return {}, []
    try:
        dataset = Dataset.open(ref.dataset)
    except InputError:
        return {"path": str(ref.dataset)}, []
    manifest = dataset.manifest
    counts = manifest.get("counts") or {}
    facts = {"name": manifest.get("name"), "path": str(ref.dataset), "content_hash": manifest.get("content_hash"),
             "splits": manifest.get("splits"), "rows_used": counts.get("rows_used"),
             "rows_skipped": counts.get("rows_skipped")}
    try:
        records = dataset.read_split("validation")
    except InputError:
        records = []
    groups = [(r["query"], list(r["positive"]) + list(r["negative"])) for r in records[:AGREEMENT_QUERIES]]
    return facts, [g for g in groups if len(g[1]) >= 2]


def _evaluation(ref, results: Path | None) -> dict:
    from wrapper.evaluate.results import model_folder, read_metadata

    meta = read_metadata(model_folder(settings.results_dir(results), ref.name, ref.revision))
    return {task: {k: rec.get(k) for k in ("split", "main_score_name", "main_score", "scores", "dataset_hash")}
            for task, rec in (meta.get("tasks") or {}).items()}


def collect_facts(ref, results: Path | None = None) -> tuple[dict, list]:
    status = ref.run_status or {}
    dataset, groups = _dataset_facts(ref)
    recipe = {k: status.get(k) for k in ("backend", "task", "steps", "merged_from", "weights", "merge_method")
              if status.get(k) is not None}
    resolved = ref.run_dir / "config.resolved.yml" if ref.run_dir else None
    if resolved is not None and resolved.is_file():
        import yaml

        try:
            params = (yaml.safe_load(resolved.read_text(encoding="utf-8")) or {}).get("params")
            if isinstance(params, dict):
                recipe["params"] = params
        except yaml.YAMLError:
            pass
    facts = {"name": ref.name, "revision": ref.revision, "kind": ref.kind, "run_id": ref.run_id,
             "base_model": ref.base_model, "source": str(ref.path), "dataset": dataset, "recipe": recipe,
             "gate": status.get("gate"), "evaluation": _evaluation(ref, results)}
    return facts, groups


def export_model(model: str, out: Path, *, fmt: str = "st", quantize: str | None = None, runs: Path | None = None,
                 results: Path | None = None, overwrite: bool = False) -> dict:
    """Export MODEL (run id, folder, `bundled`, Hub id) to `out`; returns the facts written to export.json."""
    if fmt not in FORMATS:
        raise InputError.at("--format", f"unknown format {fmt!r}", hint=f"use one of: {', '.join(FORMATS)}")
    if quantize not in (None, "int8"):
        raise InputError.at("--quantize", f"unknown quantization {quantize!r}", hint="use int8")
    if quantize and fmt != "onnx":
        raise InputError.at("--quantize", "only applies to --format onnx", hint="add --format onnx")
    out = Path(out)
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise InputError.at(out, "the output folder exists and is not empty",
                            hint="pick a new --out folder or pass --overwrite")
    ref = resolve_model(model, runs)
    if fmt == "onnx" and ref.kind != CROSS_ENCODER:
        raise InputError.at(model, f"--format onnx exports cross-encoders; this is a {ref.kind}",
                            hint="export it without --format onnx (sentence-transformers folder)")
    facts, groups = collect_facts(ref, results)
    loaded = load(ref, precision="fp32")
    tmp = out.parent / f".{out.name}.export.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    loaded.save(str(tmp))
    if ref.kind == CROSS_ENCODER:
        from wrapper.export import tei

        tei.complete(tmp, getattr(loaded, "max_seq_length", None) or 512)
        facts["tei"] = {"problems": tei.problems(tmp), "command": " ".join(tei.command(out))}
    if fmt == "onnx":
        from wrapper.export import onnx as onnx_export

        path = onnx_export.export(loaded, tmp, quantize=quantize)
        groups = groups or FALLBACK_QUERIES
        scorer = onnx_export.OnnxScorer(path, loaded.tokenizer, max_length=getattr(loaded, "max_seq_length", None) or 512)
        pairs_by_query = [[(q, d) for d in docs] for q, docs in groups]
        compared = [(np.asarray(loaded.predict(p, show_progress_bar=False)), scorer.predict(p))
                    for p in pairs_by_query]
        facts["onnx"] = {"file": str(path.relative_to(tmp)), "quantize": quantize,
                         **onnx_export.agreement(compared),
                         "max_abs_score_diff": float(max(np.abs(a - b).max() for a, b in compared))}
    from wrapper.export.card import render

    (tmp / "README.md").write_text(render(facts, out.name), encoding="utf-8")
    jsonio.write_json(tmp / "export.json", facts)
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    return facts
