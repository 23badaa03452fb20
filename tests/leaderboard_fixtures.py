"""Generator of realistic `results/` and `runs/` folders for leaderboard tests and the bench.

Result files are real mteb TaskResults: built with `mteb.TaskResult` and written
with its own `to_disk`, with the score keys mteb 2.26 writes for a reranking task
(captured from a real `mteb.evaluate` run of the bundled all-MiniLM-L6-v2 on a
tiny local reranking task). `model_meta.json` has the fields mteb writes for a
SentenceTransformer / CrossEncoder; `autorerank/metadata.json` and the run folders follow
docs/ARCHITECTURE.md Contracts 3 and 4.

    python -m tests.leaderboard_fixtures DIR     # writes DIR/results and DIR/runs (demo data)
"""

from __future__ import annotations

from wrapper.settings import RESULTS_METADATA

import datetime as dt
import hashlib
import json
import random
from dataclasses import dataclass, field
from pathlib import Path

BUNDLED = "sentence-transformers/all-MiniLM-L6-v2"
BUNDLED_REV = "c9745ed1d9f2"

_KS = (1, 3, 5, 10, 20, 100, 1000)
_FAMILIES = ("ndcg", "map", "recall", "precision", "mrr", "hit_rate")


def mteb_scores(map_1000: float, mrr_10: float | None = None, ndcg_10: float | None = None, *, seed: int = 0) -> dict[str, float]:
    """A full mteb 2.26 reranking score dict (152 keys minus bookkeeping) around the given headline numbers."""
    rng = random.Random(seed)
    mrr_10 = map_1000 + 0.02 if mrr_10 is None else mrr_10
    ndcg_10 = map_1000 + 0.04 if ndcg_10 is None else ndcg_10
    clip = lambda v: max(0.0, min(1.0, v))  # noqa: E731
    out: dict[str, float] = {}
    heads = {"ndcg": ndcg_10, "map": map_1000, "recall": clip(ndcg_10 + 0.15), "precision": clip(ndcg_10 / 4),
             "mrr": mrr_10, "hit_rate": clip(mrr_10 + 0.2)}
    for fam in ("ndcg", "map", "recall"):
        for k in _KS:
            out[f"{fam}_at_{k}"] = clip(heads[fam] * (0.6 + 0.04 * _KS.index(k)))
    out["accuracy"] = clip(heads["mrr"] - 0.1)
    for fam in ("precision", "mrr"):
        for k in _KS:
            out[f"{fam}_at_{k}"] = clip(heads[fam] * (0.6 + 0.04 * _KS.index(k)))
    for fam in ("ndcg", "map", "recall", "precision", "mrr"):
        for k in _KS:
            for stat in ("max", "std", "diff1"):
                out[f"nauc_{fam}_at_{k}_{stat}"] = round(rng.uniform(-0.3, 0.6), 6)
    for k in _KS:
        out[f"hit_rate_at_{k}"] = clip(heads["hit_rate"] * (0.6 + 0.04 * _KS.index(k)))
    out["map_at_1000"] = clip(map_1000)
    out["mrr_at_10"] = clip(mrr_10)
    out["ndcg_at_10"] = clip(ndcg_10)
    return out


def task_result(task: str, headline: dict[str, float], *, split: str = "validation", languages=("eng-Latn",),
                main_score_name: str = "map_at_1000", seed: int = 0, evaluation_time: float = 3.2):
    """A real `mteb.TaskResult` for one reranking task."""
    import mteb

    scores = mteb_scores(headline["map_at_1000"], headline.get("mrr_at_10"), headline.get("ndcg_at_10"), seed=seed)
    entry = {**scores, "main_score": scores[main_score_name], "hf_subset": "default", "languages": list(languages)}
    return mteb.TaskResult(
        dataset_revision="local",
        task_name=task,
        mteb_version=mteb.__version__,
        scores={split: [entry]},
        evaluation_time=evaluation_time,
        date=dt.datetime(2026, 11, 23, 21, 0, tzinfo=dt.timezone.utc),
    )


def model_meta(name: str, revision: str, *, cross_encoder: bool) -> dict:
    return {
        "loader_kwargs": {}, "name": name, "revision": revision, "release_date": None, "languages": None,
        "n_parameters": 22713216, "n_active_parameters_override": None, "n_embedding_parameters": 11720448,
        "memory_usage_mb": None, "max_tokens": 256, "embed_dim": None if cross_encoder else 384, "license": None,
        "open_weights": None, "public_training_code": None, "public_training_data": None,
        "framework": ["Sentence Transformers", "PyTorch"], "reference": None,
        "similarity_fn_name": None if cross_encoder else "cosine", "use_instructions": None,
        "training_datasets": None, "adapted_from": None, "superseded_by": None, "modalities": ["text"],
        "model_type": ["cross-encoder" if cross_encoder else "dense"], "citation": None, "contacts": None,
        "experiment_kwargs": None, "output_dtypes": None, "extra_requirements_groups": None,
        "loader": "CrossEncoderWrapper" if cross_encoder else "SentenceTransformerEncoderWrapper",
        "is_cross_encoder": cross_encoder,
    }


@dataclass(frozen=True)
class TaskSpec:
    name: str
    dataset: str
    split: str = "validation"
    languages: tuple[str, ...] = ("eng-Latn",)
    main_score_name: str = "map_at_1000"


SAMPLE = TaskSpec("AutoRerank-sample-validation", "data/sample", languages=("eng-Latn", "cmn-Hans"))
SCIFACT = TaskSpec("AutoRerank-scifact-validation", "data/scifact")
CMRC = TaskSpec("AutoRerank-cmrc2018-validation", "data/cmrc2018", languages=("cmn-Hans",))
T2 = TaskSpec("T2Reranking", "C-MTEB/T2Reranking", split="dev", languages=("cmn-Hans",))


def write_model(results: Path, name: str, revision: str, scores: dict[TaskSpec, dict[str, float]], *,
                kind: str = "bi-encoder", role: str = "base", run_id: str | None = None,
                base: tuple[str, str] | None = None, autorerank: bool = True, seed: int = 0) -> Path:
    """Write one model's revision folder: TaskResult files + model_meta.json (+ autorerank/metadata.json)."""
    folder = results / "results" / name.replace("/", "__") / revision
    folder.mkdir(parents=True, exist_ok=True)
    tasks_meta = {}
    for i, (spec, headline) in enumerate(scores.items()):
        tr = task_result(spec.name, headline, split=spec.split, languages=spec.languages,
                         main_score_name=spec.main_score_name, seed=seed + i)
        tr.to_disk(folder / f"{spec.name}.json")
        s = tr.scores[spec.split][0]
        tasks_meta[spec.name] = {
            "dataset": spec.dataset, "dataset_hash": hashlib.sha256(spec.dataset.encode()).hexdigest(), "split": spec.split,
            "main_score_name": spec.main_score_name, "main_score": s["main_score"],
            "scores": {k: s[k] for k in ("map_at_1000", "mrr_at_10", "ndcg_at_10")},
            "languages": [lang.split("-")[0] for lang in spec.languages],
            "mteb_version": tr.mteb_version, "precision": "fp32", "batch_size": 32,
            "wall_time_s": 3.2 + i, "evaluated_at": "2026-11-23T21:30:00Z",
        }
    (folder / "model_meta.json").write_text(json.dumps(model_meta(name, revision, cross_encoder=kind == "cross-encoder"), indent=4))
    if autorerank:
        meta = {
            "model_name": name, "revision": revision, "kind": kind, "role": role, "run_id": run_id,
            "base_model": base[0] if base else None,
            "base_model_name": base[0] if base else None, "base_model_revision": base[1] if base else None,
            "tasks": tasks_meta,
        }
        (folder / RESULTS_METADATA).parent.mkdir(exist_ok=True)
        (folder / RESULTS_METADATA).write_text(json.dumps(meta, indent=2))
    return folder


def gate_record(verdict: str, *, kind: str, base: float, fine_tuned: float, steps: int, run_id: str) -> dict:
    """status.json["gate"] as the real gate writes it: `GateResult.to_dict()` with the gate's own advice.

    The numbers are chosen to give `verdict` and checked with the gate's decision rule (`decide`),
    so a fixture can never show a verdict the gate would not reach on them.
    """
    from wrapper.gate import DEFAULT_TOLERANCE, MIN_INFORMATIVE_QUERIES, GateResult, advice_for, decide

    delta = round(fine_tuned - base, 6)
    spread = 0.004 if verdict == "collapsed" else 0.21
    informative = MIN_INFORMATIVE_QUERIES - 2 if verdict == "inconclusive" else 40
    ci = [round(delta - 0.01, 6), round(delta + 0.01, 6)]
    reached = decide(base, fine_tuned, spread, informative_queries=informative, ci=ci)
    if reached != verdict:
        raise ValueError(f"fixture numbers base={base} fine_tuned={fine_tuned} give {reached!r}, not {verdict!r}")
    details = {"validation_queries": 40, "informative_queries": informative, "kind": kind}
    if verdict == "inconclusive":
        details["inconclusive_because"] = (f"only {informative} of the 40 validation queries have a negative to "
                                           f"rank against (at least {MIN_INFORMATIVE_QUERIES} needed)")
    return GateResult(
        verdict=verdict, metric="map_at_1000", base=base, fine_tuned=fine_tuned, delta=delta, spread=spread,
        probe_pairs=64, tolerance=DEFAULT_TOLERANCE, ci=ci, base_model=BUNDLED, task=SAMPLE.name, details=details,
        advice=advice_for(verdict, kind, fresh_head=kind == "cross-encoder", steps=steps, run=run_id),
    ).to_dict()


def write_run(runs: Path, run_id: str, *, kind: str = "bi-encoder", verdict: str | None = "improved",
              base: float = 0.61, fine_tuned: float = 0.64, steps: int = 10, dataset: str = "data/sample",
              state: str = "succeeded") -> Path:
    """Write a run folder (status.json with the gate, metrics.jsonl, config.yml) per Contract 3."""
    folder = runs / run_id
    folder.mkdir(parents=True, exist_ok=True)
    task = "st:triplet" if kind == "bi-encoder" else "cross-encoder:mnrl"
    config = (
        f"task: {task}\nbase_model: {BUNDLED}\nproject_name: {run_id[-40:]}\nlog: none\nbackend: local\n"
        f"data:\n  path: {dataset}/autotrain\n  train_split: train\n  valid_split: validation\n"
        "  column_mapping:\n    sentence1_column: anchor\n    sentence2_column: positive\n    sentence3_column: negative\n"
        "params:\n  epochs: 1\n  batch_size: 16\n  lr: 2.0e-05\n"
    )
    (folder / "config.yml").write_text(config)
    gate = (gate_record(verdict, kind=kind, base=base, fine_tuned=fine_tuned, steps=steps, run_id=run_id)
            if verdict else None)
    status = {
        "run_id": run_id, "state": state, "backend": "autotrain" if kind == "bi-encoder" else "cross-encoder",
        "task": task, "kind": kind, "base_model": BUNDLED, "dataset": dataset, "config": f"runs/{run_id}/config.yml",
        "created_at": "2026-11-23T21:00:00Z", "started_at": "2026-11-23T21:00:01Z", "ended_at": "2026-11-23T21:05:00Z",
        "exit_code": 0, "cause": None, "model": f"runs/{run_id}/model", "pid": None,
        "steps": {"done": steps, "total": steps}, "gate": gate,
    }
    (folder / "status.json").write_text(json.dumps(status, indent=2))
    with (folder / "metrics.jsonl").open("w") as fh:
        for step in range(1, steps + 1):
            rec = {"step": step, "epoch": round(step / steps, 3), "loss": round(1.2 * 0.85 ** step + 0.1, 4),
                   "learning_rate": 2e-5 * (1 - step / (steps + 1))}
            if step % 5 == 0:
                rec["eval_cosine_accuracy"] = round(0.7 + 0.02 * step / 5, 4)
                rec["eval_loss"] = round(0.9 * 0.9 ** step, 4)
            fh.write(json.dumps(rec) + "\n")
    return folder


@dataclass
class Scenario:
    results: Path
    runs: Path
    models: dict[str, str] = field(default_factory=dict)  # short key -> model name


FT_GOOD = "autorerank/20261123-214500-sample-minilm"
FT_BAD = "autorerank/20261123-220000-sample-ce-bce"
FT_COLLAPSED = "autorerank/20261123-221500-sample-ce-fast"


def build_scenario(root: Path) -> Scenario:
    """A realistic mix: the bundled base, three fine-tunes (improved / regressed / collapsed), one external model.

    Expected MAP (x100) on AutoRerank-sample-validation: base 61.0, improved 64.0,
    regressed 55.0, collapsed 13.0, external 58.0.
    """
    root = Path(root)
    results, runs = root / "results", root / "runs"
    base = (BUNDLED, BUNDLED_REV)
    write_model(results, BUNDLED, BUNDLED_REV, {
        SAMPLE: {"map_at_1000": 0.61, "mrr_at_10": 0.66, "ndcg_at_10": 0.68},
        CMRC: {"map_at_1000": 0.30, "mrr_at_10": 0.31, "ndcg_at_10": 0.35},
    }, role="base", seed=1)
    write_model(results, FT_GOOD, "a1b2c3d4e5f6", {
        SAMPLE: {"map_at_1000": 0.64, "mrr_at_10": 0.70, "ndcg_at_10": 0.70},
        CMRC: {"map_at_1000": 0.29, "mrr_at_10": 0.30, "ndcg_at_10": 0.34},
    }, role="fine-tune", run_id=FT_GOOD.split("/")[1], base=base, seed=2)
    write_run(runs, FT_GOOD.split("/")[1], verdict="improved", base=0.61, fine_tuned=0.64)
    # regressed overall, but it gained on cmrc2018: must still not look like a success
    write_model(results, FT_BAD, "0badc0ffee00", {
        SAMPLE: {"map_at_1000": 0.55, "mrr_at_10": 0.60, "ndcg_at_10": 0.62},
        CMRC: {"map_at_1000": 0.33, "mrr_at_10": 0.34, "ndcg_at_10": 0.38},
    }, kind="cross-encoder", role="fine-tune", run_id=FT_BAD.split("/")[1], base=base, seed=3)
    write_run(runs, FT_BAD.split("/")[1], kind="cross-encoder", verdict="regressed", base=0.61, fine_tuned=0.55)
    write_model(results, FT_COLLAPSED, "c011a95ed000", {
        SAMPLE: {"map_at_1000": 0.13, "mrr_at_10": 0.12, "ndcg_at_10": 0.20},
    }, kind="cross-encoder", role="fine-tune", run_id=FT_COLLAPSED.split("/")[1], base=base, seed=4)
    write_run(runs, FT_COLLAPSED.split("/")[1], kind="cross-encoder", verdict="collapsed", base=0.61, fine_tuned=0.13)
    # an external model evaluated with plain mteb: no autorerank/metadata.json at all
    write_model(results, "BAAI/bge-small-en-v1.5", "5c38ec7c405e", {
        SAMPLE: {"map_at_1000": 0.58, "mrr_at_10": 0.63, "ndcg_at_10": 0.65},
    }, autorerank=False, seed=5)
    return Scenario(results=results, runs=runs, models={
        "base": BUNDLED, "good": FT_GOOD, "bad": FT_BAD, "collapsed": FT_COLLAPSED, "external": "BAAI/bge-small-en-v1.5",
    })


def build_many(root: Path, n_files: int = 1000, tasks_per_model: int = 4) -> Path:
    """`n_files` TaskResult files (n_files / tasks_per_model models) for the load benchmark; returns results dir.

    The first model's files are written by mteb's `to_disk`; the rest are copies with
    the scores changed (same bytes layout), which keeps generation fast.
    """
    results = Path(root) / "results"
    specs = [TaskSpec(f"AutoRerank-bench{i}-validation", f"data/bench{i}") for i in range(tasks_per_model)]
    first = write_model(results, BUNDLED, BUNDLED_REV, {s: {"map_at_1000": 0.6} for s in specs}, role="base")
    templates = {s.name: json.loads((first / f"{s.name}.json").read_text()) for s in specs}
    ar_template = json.loads((first / RESULTS_METADATA).read_text())
    meta_template = json.loads((first / "model_meta.json").read_text())
    rng = random.Random(0)
    n_models = max(1, n_files // tasks_per_model)
    for m in range(1, n_models):
        name, rev = f"autorerank/bench-run-{m:04d}", f"{m:012x}"
        folder = results / "results" / name.replace("/", "__") / rev
        folder.mkdir(parents=True, exist_ok=True)
        ar = {**ar_template, "model_name": name, "revision": rev, "role": "fine-tune", "run_id": f"bench-run-{m:04d}",
              "base_model": BUNDLED, "base_model_name": BUNDLED, "base_model_revision": BUNDLED_REV}
        for s in specs:
            data = json.loads(json.dumps(templates[s.name]))
            entry = data["scores"]["validation"][0]
            for key in ("map_at_1000", "mrr_at_10", "ndcg_at_10"):
                entry[key] = round(min(1.0, entry[key] + rng.uniform(-0.1, 0.1)), 6)
            entry["main_score"] = entry["map_at_1000"]
            (folder / f"{s.name}.json").write_text(json.dumps(data, indent=2))
        (folder / RESULTS_METADATA).parent.mkdir(exist_ok=True)
        (folder / RESULTS_METADATA).write_text(json.dumps(ar, indent=2))
        (folder / "model_meta.json").write_text(json.dumps({**meta_template, "name": name, "revision": rev}, indent=4))
    return results


if __name__ == "__main__":  # pragma: no cover - manual demo data
    import sys

    target = Path(sys.argv[1] if len(sys.argv) > 1 else "demo_leaderboard")
    sc = build_scenario(target)
    print(f"wrote {sc.results} and {sc.runs}")
