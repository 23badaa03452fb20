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

    .venv/bin/python -m bench.quality            # full: ~2 hours on 2 CPU cores (8 fine-tunes, 2 merges)
    .venv/bin/python -m bench.quality --quick    # a small scifact subset, a few minutes

Adding a model to every dataset: append to `TRAINERS` (label -> config kwargs from
the plan). Adding a row: `ledger.row(name, inputs, measure, outputs=...)` where
`inputs` holds the keys of the rows it uses (see `_dataset`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from bench.quality_inputs import beir_subset, read_jsonl, squad_subset
from bench.quality_report import headline, markdown, out_of_domain  # noqa: F401 (headline: bench/__main__)
from bench.quality_rows import SHIPPED_GENERAL, eval_row, gate_row, merge_row, prepare_row, train_row
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


def _ce_precision() -> dict:
    """bf16 autocast for the cross-encoder where the CPU has it (the demo's choice too)."""
    from wrapper.precision import bf16_supported

    return {"mixed_precision": "bf16"} if bf16_supported() else {}


#: fine-tunes trained on every dataset: label -> `render_config` keyword arguments for a plan
TRAINERS: dict[str, Callable[[Plan], dict]] = {
    "autotrain-bi-encoder": lambda p: dict(task="st:triplet", epochs=p.triplet_epochs, lr=p.triplet_lr,
                                           batch_size=p.triplet_batch),
    "cross-encoder": lambda p: dict(task=p.ce_task, max_steps=p.ce_steps, lr=p.ce_lr, batch_size=p.ce_batch,
                                    max_seq_length=p.ce_max_length, **_ce_precision()),
    # the same recipe plus a listwise KL to the miner's scores (prepare keeps them as teacher scores)
    "cross-encoder-distilled": lambda p: dict(task=p.ce_task, max_steps=p.ce_steps, lr=p.ce_lr,
                                              batch_size=p.ce_batch, max_seq_length=p.ce_max_length,
                                              distill="kl", **_ce_precision()),
    # the seed's route: FlagEmbedding's encoder-only reranker trainer, same budget as the cross-encoder;
    # its group size follows the training file's negatives (`config` fits it: 1 + the median query's)
    "flagembedding": lambda p: dict(task="flagembedding:reranker", max_steps=p.ce_steps, lr=p.ce_lr,
                                    batch_size=p.ce_batch, query_max_len=32, passage_max_len=p.ce_max_length),
    # AutoTrain's text_regression on a reranker's own head (anchored targets): one pass over the pairs
    # (1 positive + the mined negatives per query: about the pairs the cross-encoder sees in ce_steps)
    "autotrain-reranker": lambda p: dict(task="text_regression", epochs=1, lr=5e-5, batch_size=p.ce_batch,
                                         max_seq_length=p.ce_max_length),
}
#: fine-tunes that `merge --auto` mixes back with their base, per dataset (issue #9's bars)
MERGED: dict[str, tuple[str, ...]] = {"cmrc2018": ("cross-encoder", "autotrain-bi-encoder")}
#: the merge search's query sample per set, and the tolerance its rule allows below the base
MERGE_QUERIES = 100
#: fine-tunes that start from another dataset's fine-tune instead of the bundled bi-encoder:
#: (dataset, label) -> (source dataset, source trainer, recipe: a TRAINERS label). The
#: scifact cross-encoder stands in for a general reranker such as bge-reranker-base (the Hub is out of
#: reach), so `merge --auto` mixes two rerankers, the case LM-Cocktail is for. Its gate compares against
#: that reranker, and scifact dev is the reranker's own domain.
FROM_RERANKER: dict[tuple[str, str], tuple[str, str, str]] = {
    ("cmrc2018", "cross-encoder from the scifact reranker"): ("scifact", "cross-encoder", "cross-encoder"),
    # the same reranker through AutoTrain itself and through FlagEmbedding, at the same budget (issue #20)
    ("cmrc2018", "AutoTrain text_regression from the scifact reranker"): ("scifact", "cross-encoder",
                                                                          "autotrain-reranker"),
    ("cmrc2018", "FlagEmbedding from the scifact reranker"): ("scifact", "cross-encoder", "flagembedding"),
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
        # cmrc2018 first: its fine-tunes carry issue #9's forgetting and merge bars
        Plan("cmrc2018", cmrc / "raw" / "cmrc2018_trial.json", "squad", cmrc_dev, "squad", cmrc_pool),
        Plan("scifact", scifact, "beir", scifact_sub, "beir", scifact_corpus, train_split="train", dev_split="dev"),
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
    source = plan.train_source if which == "train" else plan.dev_source
    out = data / f"{plan.name}-{which}"
    return prepare_row(ledger, f"{plan.name}: prepare {which}", source, prepare_options(plan, which), out), out


def _run_id(plan: Plan, label: str) -> str:
    """A run id AutoTrain accepts as a project name too (letters, digits, hyphens, at most 50): a long
    label keeps its start and gets 8 hex digits of its hash, so ids stay distinct."""
    text = re.sub(r"[^A-Za-z0-9-]", "-", f"q-{plan.name}-{label}")
    if len(text) <= 50:
        return text
    return f"{text[:41].rstrip('-')}-{hashlib.sha1(text.encode()).hexdigest()[:8]}"


def _train_inputs(plan: Plan, label: str, train: Row, train_dir: Path, work: Path, recipe: str | None = None,
                  base: Row | None = None) -> tuple[Path, dict]:
    """Render the config of `label` (TRAINERS[recipe or label], from the bundled model or from the `base`
    run row's model); cheap, so every time. The row's inputs are the config text (every parameter,
    defaults included), the key of the prepared training data and the base run's key."""
    from wrapper.config import render_config

    base_model = "bundled" if base is None else str(work / "runs" / base.result["run_id"] / "model")
    cfg = render_config(train_dir, base_model=base_model, name=_run_id(plan, label), out_dir=work / "configs",
                        overwrite=True, **TRAINERS[recipe or label](plan))
    inputs = {"data": train.key, "config": cfg.read_text(encoding="utf-8")}
    return cfg, inputs if base is None else {**inputs, "base": base.key}


def _train(ledger: Ledger, plan: Plan, label: str, prepared: dict, work: Path, recipe: str | None = None,
           base: Row | None = None) -> Row:
    """The training row of `label` (see `_train_inputs`); trains only when its key is new."""
    cfg, inputs = _train_inputs(plan, label, *prepared["train"], work, recipe=recipe, base=base)
    return train_row(ledger, f"{plan.name}: train {label}", cfg, inputs, work / "runs", _run_id(plan, label))


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


def _dataset(ledger: Ledger, plan: Plan, work: Path, quick: bool, prepared: dict, general: dict[str, str],
             results: dict, trainers: set[str] | None = None) -> None:
    """Every row of one dataset: baselines, base model, each trainer's run (those in `trainers`; None:
    all), gate (in domain and on `general`: spec -> row key) and evaluation, then the merges of `MERGED`."""
    from bench.rerank_metrics import bm25, load_eval, random_order

    train, (dev, dev_dir) = prepared["train"][0], prepared["dev"]
    records = load_eval(dev_dir / "eval" / "validation.jsonl")
    corpus = hashlib.sha256("\0".join(plan.corpus_texts).encode()).hexdigest()
    entry: dict = {"dev_queries": len(records),
                   "candidates_per_query": round(sum(len(r["positive"]) + len(r["negative"]) for r in records) / max(len(records), 1), 1),
                   "timings": {"prepare_train_s": train.seconds, "prepare_dev_s": dev.seconds},
                   "general_sets": [Path(g).name for g in general], "models": {}, "merged": {}}
    results["datasets"][plan.name] = entry
    rnd = ledger.row(f"{plan.name}: random order", {"data": dev.key}, lambda: random_order(records))
    entry["models"]["random"] = _scores(rnd)
    b = ledger.row(f"{plan.name}: bm25", {"data": dev.key, "corpus": corpus}, lambda: bm25(records, plan.corpus_texts))
    entry["models"]["bm25"] = _scores(b)
    base = eval_row(ledger, f"{plan.name}: evaluate base bi-encoder", "bundled",
                    digest(settings.bundled_model_path()), dev, dev_dir, work)
    entry["models"]["base bi-encoder"] = _scores(base, eval_wall_s=base.seconds)
    if quick:
        check = ledger.row(f"{plan.name}: metric cross-check", {"data": dev.key},
                           lambda: {"bench_map": _own_metrics_bi_encoder(records)["map"]})
        entry["metric_cross_check"] = {"mteb_map": base.result["map"], "bench_map": check.result["bench_map"]}
    for label in (t for t in TRAINERS if trainers is None or t in trainers):
        run = _train(ledger, plan, label, prepared, work)
        entry["models"][f"fine-tuned {label}"] = _gated(ledger, plan, label, run, general, prepared["dev"], work)
        if label in MERGED.get(plan.name, ()):
            entry["merged"][label] = _merged(ledger, plan, label, run, general, prepared["dev"], work)
        _save(work, results, ledger)


def _gated(ledger: Ledger, plan: Plan, label: str, run: Row, general: dict[str, str], dev_rows: tuple[Row, Path],
           work: Path) -> dict:
    """A trained run's gate (in domain and on `general`) and its dev-set scores, with steps and times."""
    dev, dev_dir = dev_rows
    gate = gate_row(ledger, f"{plan.name}: gate {label}", run, general, work)
    ev = eval_row(ledger, f"{plan.name}: evaluate {label}", run.result["run_id"], run.key, dev, dev_dir, work)
    return _scores(ev, eval_wall_s=ev.seconds, train_wall_s=run.seconds, steps=run.result["steps"], gate=gate.result,
                   trained=run.provenance())


def _merged(ledger: Ledger, plan: Plan, label: str, run: Row, general: dict[str, str], dev_rows: tuple[Row, Path],
            work: Path) -> dict:
    """`merge --auto` of a run with its base (weight, curve, gate) and the merged model's dev-set scores."""
    dev, dev_dir = dev_rows
    merged = merge_row(ledger, f"{plan.name}: merge --auto {label}", run, general, work, queries=MERGE_QUERIES)
    mev = eval_row(ledger, f"{plan.name}: evaluate merged {label}", merged.result["run_id"], merged.key,
                   dev, dev_dir, work)
    return {**_scores(mev, merge_wall_s=merged.seconds), **merged.result, "merged": merged.provenance()}


def _from_reranker(ledger: Ledger, plan: Plan, label: str, src: Plan, src_label: str, recipe: str, prepared: dict,
                   general: dict[str, str], work: Path, results: dict) -> None:
    """One FROM_RERANKER row: the source fine-tune (reused when stored) as the base reranker, the
    fine-tune from it, its gate, `merge --auto` back into it, and all three evaluated on the dev set."""
    if "train" not in prepared[src.name]:
        prepared[src.name]["train"] = _prepare_row(ledger, src, "train", work / "data")
    base = _train(ledger, src, src_label, prepared[src.name], work)
    run = _train(ledger, plan, label, prepared[plan.name], work, recipe=recipe, base=base)
    dev, dev_dir = prepared[plan.name]["dev"]
    base_ev = eval_row(ledger, f"{plan.name}: evaluate {src.name} {src_label}", base.result["run_id"], base.key,
                       dev, dev_dir, work)
    results["datasets"].setdefault(plan.name, {}).setdefault("from_reranker", {})[label] = {
        "base": f"{src.name} {src_label}", "base_scores": _scores(base_ev),
        "fine_tuned": _gated(ledger, plan, label, run, general, prepared[plan.name]["dev"], work),
        "merged": _merged(ledger, plan, label, run, general, prepared[plan.name]["dev"], work)}
    _save(work, results, ledger)


def parse_only(only: str | list[str] | None) -> dict[str, set[str] | None] | None:
    """`--only` values (`DATASET` or `DATASET:TRAINER`, repeatable) -> dataset -> trainers (None: all)."""
    if not only:
        return None
    labels = [*TRAINERS, *(label for _, label in FROM_RERANKER)]
    chosen: dict[str, set[str] | None] = {}
    for item in [only] if isinstance(only, str) else only:
        name, _, trainer = item.partition(":")
        if trainer and trainer not in labels:
            raise SystemExit(f"--only {item}: unknown trainer {trainer!r}; expected one of {', '.join(labels)}")
        if not trainer or chosen.get(name, set()) is None:
            chosen[name] = None
        else:
            chosen.setdefault(name, set()).add(trainer)
    return chosen


def run(quick: bool = False, only: str | list[str] | None = None, out: Path | None = None, fresh: bool = False,
        plans: list[Plan] | None = None, code: dict | None = None) -> dict:
    """Measure (or reuse) every row. `plans` replaces the scifact/cmrc2018 plans and `code` the
    measured code version (`bench.reuse.code_version()`); tests pin both. `only` (`DATASET` or
    `DATASET:TRAINER`, one or a list) trains those fine-tunes only; every dataset's dev set is still
    prepared, as the others' general-domain sets."""
    work = (out or OUT) / ("quick" if quick else "full")
    ledger = Ledger(work / "rows", code=code, log=lambda line: print(f"[quality] {line}", file=sys.stderr, flush=True))
    if fresh:
        ledger.forget()
    results: dict = {"setting": "dev candidates = base bi-encoder top-30 non-positives + all positives; MAP = mteb map_at_1000",
                     "code": ledger.code, "datasets": {}}
    plans = plans if plans is not None else _plans(work, quick)
    chosen = parse_only(only)
    unknown = set(chosen or ()) - {p.name for p in plans}
    if unknown:
        raise SystemExit(f"--only: unknown dataset {', '.join(sorted(unknown))}; expected one of "
                         f"{', '.join(p.name for p in plans)}")
    # every dev set first: each dataset's gates use the others' dev sets as general-domain sets
    prepared = {p.name: {"dev": _prepare_row(ledger, p, "dev", work / "data")} for p in plans}

    def general_for(name: str) -> dict[str, str]:
        general = {str(d["dev"][1]): d["dev"][0].key for other, d in prepared.items() if other != name}
        return general if quick else {**general, SHIPPED_GENERAL: SHIPPED_GENERAL}

    for plan in plans:
        if chosen is not None and plan.name not in chosen:
            continue
        prepared[plan.name]["train"] = _prepare_row(ledger, plan, "train", work / "data")
        _dataset(ledger, plan, work, quick, prepared[plan.name], general_for(plan.name), results,
                 trainers=None if chosen is None else chosen[plan.name])
    by_name = {p.name: p for p in plans}
    for (name, label), (src, src_label, recipe) in FROM_RERANKER.items():
        wanted = chosen is None or (name in chosen and (chosen[name] is None or label in chosen[name]))
        if wanted and name in by_name and src in by_name:
            _from_reranker(ledger, by_name[name], label, by_name[src], src_label, recipe, prepared,
                           general_for(name), work, results)
    results["out_of_domain_map"] = out_of_domain(results)
    _save(work, results, ledger)
    print(markdown(results))
    return results


def _save(work: Path, results: dict, ledger: Ledger) -> None:
    results["rows"] = [{"row": r.name, **r.provenance()} for r in ledger.rows]
    jsonio.write_json(work / "quality.json", results)
    (work / "quality.md").write_text(markdown(results), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.quality", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", action="append", metavar="DATASET[:TRAINER]",
                        help="train only this dataset's fine-tunes, or one trainer's (repeatable; e.g. --only scifact "
                             "--only cmrc2018:flagembedding); every dev set is still prepared as a general set")
    parser.add_argument("--out", type=Path, default=OUT, help="work folder (rows are reused from here)")
    parser.add_argument("--fresh", action="store_true", help="measure every row again")
    args = parser.parse_args(argv)
    run(quick=args.quick, only=args.only, out=args.out, fresh=args.fresh)
    return 0


if __name__ == "__main__":
    sys.exit(main())
