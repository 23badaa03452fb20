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

    .venv/bin/python -m bench.quality            # full: ~1 hour on 2 CPU cores
    .venv/bin/python -m bench.quality --quick    # a small scifact subset, a few minutes
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

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


def _read_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _beir_subset(src: Path, dst: Path, *, n_train: int | None, n_dev: int | None, extra_docs: int | None, seed: int = 0) -> Path:
    """A BEIR folder with a subset of the queries (and optionally of the corpus): input preparation only."""
    rng = random.Random(seed)
    dst.mkdir(parents=True, exist_ok=True)
    (dst / "qrels").mkdir(exist_ok=True)
    keep_docs: set[str] = set()
    for split, n in (("train", n_train), ("dev", n_dev)):
        lines = (src / "qrels" / f"{split}.tsv").read_text(encoding="utf-8").splitlines()
        header, rows = lines[0], [line.split("\t") for line in lines[1:] if line.strip()]
        qids = sorted({r[0] for r in rows})
        if n is not None and n < len(qids):
            qids = sorted(rng.sample(qids, n))
        chosen = set(qids)
        rows = [r for r in rows if r[0] in chosen]
        keep_docs.update(r[1] for r in rows)
        (dst / "qrels" / f"{split}.tsv").write_text("\n".join([header] + ["\t".join(r) for r in rows]) + "\n", encoding="utf-8")
    if extra_docs is None:
        shutil.copyfile(src / "corpus.jsonl", dst / "corpus.jsonl")
    else:
        docs = _read_jsonl(src / "corpus.jsonl")
        others = [d for d in docs if d["_id"] not in keep_docs]
        chosen_docs = [d for d in docs if d["_id"] in keep_docs] + rng.sample(others, min(extra_docs, len(others)))
        with open(dst / "corpus.jsonl", "w", encoding="utf-8") as fh:
            for d in chosen_docs:
                fh.write(json.dumps(d, ensure_ascii=False) + "\n")
    shutil.copyfile(src / "queries.jsonl", dst / "queries.jsonl")
    return dst


def _squad_subset(src: Path, dst: Path, n_questions: int, seed: int = 0) -> Path:
    """Keep every paragraph (the candidate pool) but only `n_questions` questions."""
    doc = json.loads(src.read_text(encoding="utf-8"))
    all_ids = [qa["id"] for art in doc["data"] for p in art["paragraphs"] for qa in p.get("qas", [])]
    keep = set(random.Random(seed).sample(all_ids, min(n_questions, len(all_ids))))
    for art in doc["data"]:
        for p in art["paragraphs"]:
            p["qas"] = [qa for qa in p.get("qas", []) if qa["id"] in keep]
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return dst


def _plans(work: Path, quick: bool) -> list[Plan]:
    scifact = SHARED / "scifact"
    cmrc = SHARED / "cmrc2018"
    inputs = work / "inputs"
    if quick:
        sub = _beir_subset(scifact, inputs / "scifact-quick", n_train=80, n_dev=40, extra_docs=400)
        return [
            Plan(
                "scifact", sub, "beir", sub, "beir",
                corpus_texts=[d["text"] for d in _read_jsonl(sub / "corpus.jsonl")],
                train_split="train", dev_split="dev", ce_steps=30, ce_batch=8,
            )
        ]
    scifact_corpus = [f"{d.get('title', '')} {d['text']}".strip() for d in _read_jsonl(scifact / "corpus.jsonl")]
    # dev subsets keep the whole corpus as the candidate pool but score fewer queries (CPU budget)
    scifact_sub = _beir_subset(scifact, inputs / "scifact-dev150", n_train=None, n_dev=DEV_QUERIES, extra_docs=None)
    cmrc_dev = _squad_subset(cmrc / "raw" / "cmrc2018_dev.json", inputs / f"cmrc2018_dev_{DEV_QUERIES}q.json", DEV_QUERIES)
    cmrc_pool = [p["context"] for art in json.loads((cmrc / "raw" / "cmrc2018_dev.json").read_text())["data"] for p in art["paragraphs"]]
    return [
        Plan("scifact", scifact, "beir", scifact_sub, "beir", scifact_corpus, train_split="train", dev_split="dev"),
        Plan("cmrc2018", cmrc / "raw" / "cmrc2018_trial.json", "squad", cmrc_dev, "squad", cmrc_pool),
    ]


def _prepare(plan: Plan, data: Path) -> tuple[Path, Path, dict]:
    from wrapper.prepare import PrepareOptions, prepare

    timings = {}
    train_dir, dev_dir = data / f"{plan.name}-train", data / f"{plan.name}-dev"
    t0 = time.perf_counter()
    if not (train_dir / "dataset.json").exists():
        prepare([plan.train_source], train_dir, PrepareOptions(
            format=plan.train_format, split=plan.train_split, name=f"{plan.name}-train",
            val_ratio=0.1, num_negatives=1, overwrite=True, progress=False))
    timings["prepare_train_s"] = round(time.perf_counter() - t0, 1)
    t0 = time.perf_counter()
    if not (dev_dir / "dataset.json").exists():
        prepare([plan.dev_source], dev_dir, PrepareOptions(
            format=plan.dev_format, split=plan.dev_split, name=f"{plan.name}-dev",
            val_ratio=1.0, num_negatives=1, eval_negatives=30, range_min=0, margin=None,
            overwrite=True, progress=False))
    timings["prepare_dev_s"] = round(time.perf_counter() - t0, 1)
    return train_dir, dev_dir, timings


def _train(plan: Plan, train_dir: Path, work: Path) -> dict[str, dict]:
    from wrapper.config import render_config
    from wrapper.gate import check_run
    from wrapper.train import train_run

    runs, configs = work / "runs", work / "configs"
    out = {}
    specs = [
        ("autotrain-bi-encoder", dict(task="st:triplet", epochs=plan.triplet_epochs, lr=plan.triplet_lr,
                                      batch_size=plan.triplet_batch)),
        ("cross-encoder", dict(task=plan.ce_task, max_steps=plan.ce_steps, lr=plan.ce_lr, batch_size=plan.ce_batch,
                               max_seq_length=plan.ce_max_length)),
    ]
    for label, kwargs in specs:
        run_id = f"q-{plan.name}-{label}"
        cfg = render_config(train_dir, base_model="bundled", name=run_id, out_dir=configs, overwrite=True, **kwargs)
        status_path = runs / run_id / "status.json"
        t0 = time.perf_counter()
        if not (status_path.exists() and jsonio.read_json(status_path).get("state") == "succeeded"):
            if (runs / run_id).exists():
                shutil.rmtree(runs / run_id)
            train_run(cfg, runs_dir=runs, run_id=run_id, progress=False)
        status = jsonio.read_json(status_path)
        wall = round(time.perf_counter() - t0, 1)
        gate = check_run(runs / run_id, results=work / "results", runs=runs)
        out[label] = {
            "run_id": run_id,
            "train_wall_s": wall if wall > 5 else _run_seconds(status),
            "steps": (status.get("steps") or {}).get("done"),
            "gate": {k: gate.to_dict()[k] for k in ("verdict", "base", "fine_tuned", "delta", "spread")},
        }
    return out


def _run_seconds(status: dict) -> float | None:
    from datetime import datetime

    try:
        start = datetime.fromisoformat(status["started_at"].replace("Z", "+00:00"))
        end = datetime.fromisoformat(status["ended_at"].replace("Z", "+00:00"))
        return round((end - start).total_seconds(), 1)
    except (KeyError, TypeError, ValueError):
        return None


def _evaluate(model: str, dev_dir: Path, work: Path) -> dict:
    from wrapper.evaluate import evaluate

    report = evaluate(model, datasets=[dev_dir], splits=["validation"], results=work / "results",
                      runs=work / "runs", include_base=False)
    row = [r for r in report.rows if r.get("role") != "base"][0]
    s = row["scores"]
    return {"map": s.get("map_at_1000"), "mrr_at_10": s.get("mrr_at_10"), "ndcg_at_10": s.get("ndcg_at_10"),
            "eval_wall_s": row.get("wall_time_s")}


def _own_metrics_bi_encoder(records: list[dict]) -> dict:
    from sentence_transformers import SentenceTransformer

    from bench.rerank_metrics import score_lists

    model = SentenceTransformer(str(settings.bundled_model_path()))

    def scorer(query: str, passages: list[str]) -> list[float]:
        emb = model.encode([query] + passages, normalize_embeddings=True, convert_to_tensor=True)
        return (emb[1:] @ emb[0]).tolist()

    return score_lists(records, scorer)


def run(quick: bool = False, only: str | None = None) -> dict:
    from bench.rerank_metrics import bm25, load_eval, random_order

    work = OUT / ("quick" if quick else "full")
    data = work / "data"
    results: dict = {"setting": "dev candidates = base bi-encoder top-30 non-positives + all positives; MAP = mteb map_at_1000",
                     "datasets": {}}
    plans = [p for p in _plans(work, quick) if only is None or p.name == only]
    dev_dirs: dict[str, Path] = {}
    run_ids: dict[str, dict] = {}
    for plan in plans:
        print(f"[quality] {plan.name}: prepare", file=sys.stderr, flush=True)
        train_dir, dev_dir, timings = _prepare(plan, data)
        dev_dirs[plan.name] = dev_dir
        records = load_eval(dev_dir / "eval" / "validation.jsonl")
        entry: dict = {"dev_queries": len(records),
                       "candidates_per_query": round(sum(len(r["positive"]) + len(r["negative"]) for r in records) / max(len(records), 1), 1),
                       "timings": timings, "models": {}}
        entry["models"]["random"] = random_order(records)
        entry["models"]["bm25"] = bm25(records, plan.corpus_texts)
        print(f"[quality] {plan.name}: base bi-encoder", file=sys.stderr, flush=True)
        entry["models"]["base bi-encoder"] = _evaluate("bundled", dev_dir, work)
        if quick:
            entry["metric_cross_check"] = {"mteb_map": entry["models"]["base bi-encoder"]["map"],
                                           "bench_map": _own_metrics_bi_encoder(records)["map"]}
        print(f"[quality] {plan.name}: train", file=sys.stderr, flush=True)
        trained = _train(plan, train_dir, work)
        run_ids[plan.name] = trained
        for label, info in trained.items():
            print(f"[quality] {plan.name}: evaluate {label}", file=sys.stderr, flush=True)
            entry["models"][f"fine-tuned {label}"] = {**_evaluate(info["run_id"], dev_dir, work),
                                                       "train_wall_s": info["train_wall_s"], "steps": info["steps"],
                                                       "gate": info["gate"]}
            results["datasets"][plan.name] = entry
            _save(work, results)
        results["datasets"][plan.name] = entry
        _save(work, results)

    # out-of-domain: each dataset's fine-tunes on the other dataset's dev set
    if len(plans) > 1:
        ood: dict = {}
        for src in run_ids:
            for dst, dev_dir in dev_dirs.items():
                if dst == src:
                    continue
                key = f"{src}-trained on {dst} dev"
                ood[key] = {"base bi-encoder": results["datasets"][dst]["models"]["base bi-encoder"]["map"]}
                for label, info in run_ids[src].items():
                    print(f"[quality] out-of-domain: {info['run_id']} on {dst}", file=sys.stderr, flush=True)
                    ood[key][label] = _evaluate(info["run_id"], dev_dir, work)["map"]
        results["out_of_domain_map"] = ood

    _save(work, results)
    print(markdown(results))
    return results


def _save(work: Path, results: dict) -> None:
    (work / "quality.json").write_text(json.dumps(results, indent=2))
    (work / "quality.md").write_text(markdown(results))


def markdown(results: dict) -> str:
    lines = [f"Setting: {results['setting']}.", ""]
    for name, entry in results["datasets"].items():
        lines += [f"**{name} dev** ({entry['dev_queries']} queries, {entry['candidates_per_query']} candidates/query)", "",
                  "| model | MAP | MRR@10 | NDCG@10 | training | gate |", "|---|---|---|---|---|---|"]
        for model, m in entry["models"].items():
            train = f"{m['steps']} steps, {m['train_wall_s']} s" if m.get("steps") is not None else ""
            gate = m.get("gate", {}).get("verdict", "")
            lines.append(f"| {model} | {m['map']:.3f} | {m['mrr_at_10']:.3f} | {m['ndcg_at_10']:.3f} | {train} | {gate} |")
        lines.append("")
    if "out_of_domain_map" in results:
        lines += ["**Out of domain (MAP)**", "", "| trained on -> evaluated on | base | AutoTrain bi-encoder | cross-encoder |", "|---|---|---|---|"]
        for key, row in results["out_of_domain_map"].items():
            lines.append(f"| {key} | {row['base bi-encoder']:.3f} | {row['autotrain-bi-encoder']:.3f} | {row['cross-encoder']:.3f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", choices=["scifact", "cmrc2018"], help="one dataset (no out-of-domain crosses)")
    args = parser.parse_args()
    run(quick=args.quick, only=args.only)


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
            rows.append({"figure": f"{name} dev MAP, {label.removeprefix('fine-tuned ')} "
                                   f"({m.get('steps')} steps, {m.get('train_wall_s')} s; gate: {gate})",
                         "ours": f"{m['map']:.3f}", "baseline": f"base bi-encoder: {base:.3f} (BM25 {models['bm25']['map']:.3f})",
                         "ratio": round(m["map"] / base, 3), "goal": "> 1 (AutoTrain)" if "autotrain" in label else "",
                         "met": (m["map"] > base) if "autotrain" in label else None})
    for key, row in result.get("out_of_domain_map", {}).items():
        for label in ("autotrain-bi-encoder", "cross-encoder"):
            rows.append({"figure": f"out of domain: {key}, {label} MAP", "ours": f"{row[label]:.3f}",
                         "baseline": f"base bi-encoder: {row['base bi-encoder']:.3f}",
                         "ratio": round(row[label] / row["base bi-encoder"], 3), "goal": "", "met": None})
    return rows
