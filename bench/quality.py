"""Does fine-tuning help on real data? scifact (English) and cmrc2018 (Chinese).

Everything goes through the tool's own stages - `prepare` (mining), `config`,
`train` (AutoTrain st:triplet and the cross-encoder backend), the regression
gate and `evaluate` (mteb). Only BM25 and random order, which are not models,
are scored by `bench.rerank_metrics` on the same candidate lists; in the quick
run the base bi-encoder is scored both ways as a cross-check of the metrics.

Setting (the classic retrieve-then-rerank): each dev query's candidates are the
30 passages the base bi-encoder (bundled all-MiniLM-L6-v2) ranks highest in the
corpus, excluding its labelled positives, plus all its labelled positives. The
candidate lists are built by `prepare` on the dev split with every query held
out (`val_ratio=1.0`), no rank window and no false-negative guard.

Reuse: every row (a prepared dataset, a training run, its gate, an evaluation) is
stored under `<work>/rows/` with a key over its parameters, its input data, the
rows it builds on, the `wrapper` source and the library versions (`bench.reuse`).
A second run reuses a row only when that key is unchanged, and says so: each row
prints "measured now" or "reused (measured <when>)", and quality.md lists them.
Change a training parameter below and that run, its gate and its evaluations are
measured again; `--fresh` measures everything again.

    .venv/bin/python -m bench.quality            # full: ~1 hour on 2 CPU cores
    .venv/bin/python -m bench.quality --quick    # a small scifact subset, a few minutes

Adding a model to every dataset: append to `TRAINERS` (label -> config kwargs from
the plan). Adding a row: `ledger.row(name, inputs, measure, outputs=...)` where
`inputs` holds the keys of the rows it uses (see `_dataset`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from bench.quality_inputs import beir_subset, read_jsonl, squad_subset
from bench.reuse import Ledger, Row, digest
from wrapper import jsonio, settings

SHARED = settings.PROJECT_ROOT.parent / "shared" / "datasets"
OUT = Path(__file__).resolve().parent / "out" / "quality"
#: dev queries scored per dataset in the full run (the whole corpus stays the candidate pool)
DEV_QUERIES = 150


@dataclass
class Plan:
    name: str
    train_source: Path
    train_format: str
    dev_source: Path
    dev_format: str
    corpus_texts: list[str]
    train_split: str | None = None
    dev_split: str | None = None
    # training budgets (CPU): AutoTrain st:triplet and the cross-encoder backend
    triplet_epochs: int = 1
    triplet_batch: int = 32
    triplet_lr: float = 2e-5
    ce_task: str = "cross-encoder:mnrl"
    ce_steps: int = 100
    ce_batch: int = 8
    ce_lr: float = 1e-4
    ce_max_length: int = 128
    results: dict = field(default_factory=dict)


#: fine-tunes trained on every dataset: label -> `render_config` keyword arguments for a plan
TRAINERS: dict[str, Callable[[Plan], dict]] = {
    "autotrain-bi-encoder": lambda p: dict(task="st:triplet", epochs=p.triplet_epochs, lr=p.triplet_lr,
                                           batch_size=p.triplet_batch),
    "cross-encoder": lambda p: dict(task=p.ce_task, max_steps=p.ce_steps, lr=p.ce_lr, batch_size=p.ce_batch,
                                    max_seq_length=p.ce_max_length),
}


def _plans(work: Path, quick: bool) -> list[Plan]:
    scifact = SHARED / "scifact"
    cmrc = SHARED / "cmrc2018"
    inputs = work / "inputs"
    if quick:
        sub = beir_subset(scifact, inputs / "scifact-quick", n_train=80, n_dev=40, extra_docs=400)
        return [
            Plan(
                "scifact", sub, "beir", sub, "beir",
                corpus_texts=[d["text"] for d in read_jsonl(sub / "corpus.jsonl")],
                train_split="train", dev_split="dev", ce_steps=30, ce_batch=8,
            )
        ]
    scifact_corpus = [f"{d.get('title', '')} {d['text']}".strip() for d in read_jsonl(scifact / "corpus.jsonl")]
    # dev subsets keep the whole corpus as the candidate pool but score fewer queries (CPU budget)
    scifact_sub = beir_subset(scifact, inputs / "scifact-dev150", n_train=None, n_dev=DEV_QUERIES, extra_docs=None)
    cmrc_dev = squad_subset(cmrc / "raw" / "cmrc2018_dev.json", inputs / f"cmrc2018_dev_{DEV_QUERIES}q.json", DEV_QUERIES)
    cmrc_pool = [p["context"] for art in json.loads((cmrc / "raw" / "cmrc2018_dev.json").read_text())["data"] for p in art["paragraphs"]]
    return [
        Plan("scifact", scifact, "beir", scifact_sub, "beir", scifact_corpus, train_split="train", dev_split="dev"),
        Plan("cmrc2018", cmrc / "raw" / "cmrc2018_trial.json", "squad", cmrc_dev, "squad", cmrc_pool),
    ]


def prepare_options(plan: Plan, which: str):
    from wrapper.prepare import PrepareOptions

    if which == "train":
        return PrepareOptions(format=plan.train_format, split=plan.train_split, name=f"{plan.name}-train",
                              val_ratio=0.1, num_negatives=1, overwrite=True, progress=False)
    return PrepareOptions(format=plan.dev_format, split=plan.dev_split, name=f"{plan.name}-dev",
                          val_ratio=1.0, num_negatives=1, eval_negatives=30, range_min=0, margin=None,
                          overwrite=True, progress=False)


def _prepare_row(ledger: Ledger, plan: Plan, which: str, data: Path) -> tuple[Row, Path]:
    from wrapper.prepare import prepare

    source = plan.train_source if which == "train" else plan.dev_source
    options = prepare_options(plan, which)
    out = data / f"{plan.name}-{which}"
    row = ledger.row(f"{plan.name}: prepare {which}", {"source": digest(source), "options": options},
                     lambda: {"queries": prepare([source], out, options).manifest.get("counts", {}).get("queries")},
                     outputs=(out,))
    return row, out


def _train_inputs(plan: Plan, label: str, train: Row, train_dir: Path, work: Path) -> tuple[Path, dict]:
    """Render the config (cheap, every time): the row's inputs are its text (every parameter, defaults
    included) and the key of the prepared training data."""
    from wrapper.config import render_config

    cfg = render_config(train_dir, base_model="bundled", name=f"q-{plan.name}-{label}", out_dir=work / "configs",
                        overwrite=True, **TRAINERS[label](plan))
    return cfg, {"data": train.key, "config": cfg.read_text(encoding="utf-8")}


def _train_row(ledger: Ledger, plan: Plan, label: str, train: Row, train_dir: Path, work: Path) -> Row:
    """Train only when the config, the data or the code changed."""
    from wrapper.train import train_run

    run_id = f"q-{plan.name}-{label}"
    runs = work / "runs"
    cfg, inputs = _train_inputs(plan, label, train, train_dir, work)

    def measure() -> dict:
        train_run(cfg, runs_dir=runs, run_id=run_id, progress=False)
        status = jsonio.read_json(runs / run_id / "status.json")
        if status.get("state") != "succeeded":
            raise RuntimeError(f"{run_id}: training ended {status.get('state')}: {status.get('cause')}")
        return {"run_id": run_id, "steps": (status.get("steps") or {}).get("done")}

    return ledger.row(f"{plan.name}: train {label}", inputs, measure, outputs=(runs / run_id,))


def _gate_row(ledger: Ledger, plan: Plan, label: str, trained: Row, work: Path) -> Row:
    from wrapper.gate import check_run

    def measure() -> dict:
        gate = check_run(work / "runs" / trained.result["run_id"], results=work / "results", runs=work / "runs",
                         general=[]).to_dict()
        return {k: gate[k] for k in ("verdict", "base", "fine_tuned", "delta", "ci", "spread") if k in gate}

    return ledger.row(f"{plan.name}: gate {label}", {"run": trained.key, "general": []}, measure)


def _eval_row(ledger: Ledger, name: str, model: str, model_key: str, dev: Row, dev_dir: Path, work: Path) -> Row:
    """mteb scores of `model` on the dev set; the time is the harness's, around the whole call."""
    from wrapper.evaluate import evaluate

    def measure() -> dict:
        report = evaluate(model, datasets=[dev_dir], splits=["validation"], results=work / "results",
                          runs=work / "runs", include_base=False, overwrite=True)
        row = [r for r in report.rows if r.get("role") != "base"][0]
        s = row["scores"]
        return {"map": s.get("map_at_1000"), "mrr_at_10": s.get("mrr_at_10"), "ndcg_at_10": s.get("ndcg_at_10")}

    return ledger.row(name, {"model": model_key, "data": dev.key}, measure)


def _own_metrics_bi_encoder(records: list[dict]) -> dict:
    from sentence_transformers import SentenceTransformer

    from bench.rerank_metrics import score_lists

    model = SentenceTransformer(str(settings.bundled_model_path()))

    def scorer(query: str, passages: list[str]) -> list[float]:
        emb = model.encode([query] + passages, normalize_embeddings=True, convert_to_tensor=True)
        return (emb[1:] @ emb[0]).tolist()

    return score_lists(records, scorer)


def _scores(row: Row, **extra) -> dict:
    return {**row.result, **extra, "provenance": row.provenance()}


def _dataset(ledger: Ledger, plan: Plan, work: Path, quick: bool) -> tuple[dict, Row, Path, dict[str, Row]]:
    """Every row of one dataset: prepare, baselines, base model, each trainer's run, gate and evaluation."""
    from bench.rerank_metrics import bm25, load_eval, random_order

    data = work / "data"
    train, train_dir = _prepare_row(ledger, plan, "train", data)
    dev, dev_dir = _prepare_row(ledger, plan, "dev", data)
    records = load_eval(dev_dir / "eval" / "validation.jsonl")
    corpus = hashlib.sha256("\0".join(plan.corpus_texts).encode()).hexdigest()
    entry: dict = {"dev_queries": len(records),
                   "candidates_per_query": round(sum(len(r["positive"]) + len(r["negative"]) for r in records) / max(len(records), 1), 1),
                   "timings": {"prepare_train_s": train.seconds, "prepare_dev_s": dev.seconds},
                   "models": {}}
    rnd = ledger.row(f"{plan.name}: random order", {"data": dev.key}, lambda: random_order(records))
    entry["models"]["random"] = _scores(rnd)
    b = ledger.row(f"{plan.name}: bm25", {"data": dev.key, "corpus": corpus}, lambda: bm25(records, plan.corpus_texts))
    entry["models"]["bm25"] = _scores(b)
    base = _eval_row(ledger, f"{plan.name}: evaluate base bi-encoder", "bundled",
                     digest(settings.bundled_model_path()), dev, dev_dir, work)
    entry["models"]["base bi-encoder"] = _scores(base, eval_wall_s=base.seconds)
    if quick:
        check = ledger.row(f"{plan.name}: metric cross-check", {"data": dev.key},
                           lambda: {"bench_map": _own_metrics_bi_encoder(records)["map"]})
        entry["metric_cross_check"] = {"mteb_map": base.result["map"], "bench_map": check.result["bench_map"]}
    trained: dict[str, Row] = {}
    for label in TRAINERS:
        run = trained[label] = _train_row(ledger, plan, label, train, train_dir, work)
        gate = _gate_row(ledger, plan, label, run, work)
        ev = _eval_row(ledger, f"{plan.name}: evaluate {label}", run.result["run_id"], run.key, dev, dev_dir, work)
        entry["models"][f"fine-tuned {label}"] = _scores(
            ev, eval_wall_s=ev.seconds, train_wall_s=run.seconds, steps=run.result["steps"], gate=gate.result,
            trained=run.provenance())
    return entry, dev, dev_dir, trained


def run(quick: bool = False, only: str | None = None, out: Path | None = None, fresh: bool = False,
        plans: list[Plan] | None = None, code: dict | None = None) -> dict:
    """Measure (or reuse) every row. `plans` replaces the scifact/cmrc2018 plans and `code` the
    measured code version (`bench.reuse.code_version()`); tests pin both."""
    work = (out or OUT) / ("quick" if quick else "full")
    ledger = Ledger(work / "rows", code=code, log=lambda line: print(f"[quality] {line}", file=sys.stderr, flush=True))
    if fresh:
        ledger.forget()
    results: dict = {"setting": "dev candidates = base bi-encoder top-30 non-positives + all positives; MAP = mteb map_at_1000",
                     "code": ledger.code, "datasets": {}}
    plans = [p for p in (plans if plans is not None else _plans(work, quick)) if only is None or p.name == only]
    devs: dict[str, tuple[Row, Path]] = {}
    runs: dict[str, dict[str, Row]] = {}
    for plan in plans:
        entry, dev, dev_dir, trained = _dataset(ledger, plan, work, quick)
        devs[plan.name], runs[plan.name] = (dev, dev_dir), trained
        results["datasets"][plan.name] = entry
        _save(work, results, ledger)

    # out-of-domain: each dataset's fine-tunes on the other dataset's dev set
    if len(plans) > 1:
        ood: dict = {}
        for src, trained in runs.items():
            for dst, (dev, dev_dir) in devs.items():
                if dst == src:
                    continue
                key = f"{src}-trained on {dst} dev"
                ood[key] = {"base bi-encoder": results["datasets"][dst]["models"]["base bi-encoder"]["map"]}
                for label, run_row in trained.items():
                    ev = _eval_row(ledger, f"out of domain: {run_row.result['run_id']} on {dst}",
                                   run_row.result["run_id"], run_row.key, dev, dev_dir, work)
                    ood[key][label] = ev.result["map"]
        results["out_of_domain_map"] = ood

    _save(work, results, ledger)
    print(markdown(results))
    return results


def _save(work: Path, results: dict, ledger: Ledger) -> None:
    results["rows"] = [{"row": r.name, **r.provenance()} for r in ledger.rows]
    jsonio.write_json(work / "quality.json", results)
    (work / "quality.md").write_text(markdown(results), encoding="utf-8")


def _when(prov: dict | None) -> str:
    if not prov:
        return ""
    when = prov["measured_at"].replace("T", " ").removesuffix("Z")
    return "now" if prov["status"] == "measured now" else f"reused (measured {when} UTC)"


def markdown(results: dict) -> str:
    lines = [f"Setting: {results['setting']}.", ""]
    for name, entry in results["datasets"].items():
        lines += [f"**{name} dev** ({entry['dev_queries']} queries, {entry['candidates_per_query']} candidates/query)", "",
                  "| model | MAP | MRR@10 | NDCG@10 | training | gate | measured |", "|---|---|---|---|---|---|---|"]
        for model, m in entry["models"].items():
            train = f"{m['steps']} steps, {m['train_wall_s']} s" if m.get("steps") is not None else ""
            gate = m.get("gate", {}).get("verdict", "")
            when = _when(m.get("trained")) if m.get("trained") else _when(m.get("provenance"))
            lines.append(f"| {model} | {m['map']:.3f} | {m['mrr_at_10']:.3f} | {m['ndcg_at_10']:.3f} | {train} | {gate} | {when} |")
        lines.append("")
    if "out_of_domain_map" in results:
        labels = list(TRAINERS)
        lines += ["**Out of domain (MAP)**", "", "| trained on -> evaluated on | base | " + " | ".join(labels) + " |",
                  "|---" * (len(labels) + 2) + "|"]
        for key, row in results["out_of_domain_map"].items():
            lines.append(f"| {key} | {row['base bi-encoder']:.3f} | " + " | ".join(f"{row[lb]:.3f}" for lb in labels) + " |")
        lines.append("")
    if results.get("rows"):
        lines += ["**Rows** (reused only when parameters, data, code and library versions are unchanged)", "",
                  "| row | status | measured at | seconds |", "|---|---|---|---|"]
        lines += [f"| {r['row']} | {r['status']} | {r['measured_at']} | {r['seconds']} |" for r in results["rows"]]
    return "\n".join(lines) + "\n"


def headline(result: dict) -> list[dict]:
    """The figures for the one-table summary (see bench/__main__.py): MAP against the base bi-encoder."""
    rows = []
    for name, entry in result["datasets"].items():
        models = entry["models"]
        base = models["base bi-encoder"]["map"]
        for label, m in models.items():
            if not label.startswith("fine-tuned"):
                continue
            gate = m.get("gate", {}).get("verdict", "")
            trained = m.get("trained") or {}
            when = f"; trained {trained['measured_at']}, reused" if trained.get("status") == "reused" else ""
            rows.append({"figure": f"{name} dev MAP, {label.removeprefix('fine-tuned ')} "
                                   f"({m.get('steps')} steps, {m.get('train_wall_s')} s; gate: {gate}{when})",
                         "ours": f"{m['map']:.3f}", "baseline": f"base bi-encoder: {base:.3f} (BM25 {models['bm25']['map']:.3f})",
                         "ratio": round(m["map"] / base, 3), "goal": "> 1 (AutoTrain)" if "autotrain" in label else "",
                         "met": (m["map"] > base) if "autotrain" in label else None})
    for key, row in result.get("out_of_domain_map", {}).items():
        for label in (k for k in row if k != "base bi-encoder"):
            rows.append({"figure": f"out of domain: {key}, {label} MAP", "ours": f"{row[label]:.3f}",
                         "baseline": f"base bi-encoder: {row['base bi-encoder']:.3f}",
                         "ratio": round(row[label] / row["base bi-encoder"], 3), "goal": "", "met": None})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.quality", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", choices=["scifact", "cmrc2018"], help="one dataset (no out-of-domain crosses)")
    parser.add_argument("--out", type=Path, default=OUT, help="work folder (rows are reused from here)")
    parser.add_argument("--fresh", action="store_true", help="measure every row again")
    args = parser.parse_args(argv)
    run(quick=args.quick, only=args.only, out=args.out, fresh=args.fresh)
    return 0


if __name__ == "__main__":
    sys.exit(main())
