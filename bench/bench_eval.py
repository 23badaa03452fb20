"""Benchmark `autorerank eval`: throughput against direct scoring, and the cost of a re-run.

    .venv/bin/python -m bench.bench_eval [--quick]

Figures (each a ratio against a baseline measured in the same run):

1. cross-encoder pairs/s through `wrapper.evaluate.evaluate` (mteb underneath,
   results written atomically) vs `CrossEncoder.predict` on exactly the same
   (query, passage) pairs with the same batch size. Goal >= 0.95. Reported for
   the evaluation proper (the `mteb.evaluate` call inside `evaluate`, the model
   already loaded; timed here by wrapping that function, never taken from the
   figures `evaluate` reports about itself) and end to end (model resolution + weights hash + load + evaluation + writes); the end
   to end figure is also compared with a script that loads the CrossEncoder and
   predicts (a freshly loaded model's first batches are slower than a warm one's).
2. re-evaluating an already evaluated checkpoint (everything skipped) vs the
   first evaluation. Goal <= 1 s. Also as a fresh `autorerank eval` process vs
   a bare Python that only imports torch, sentence-transformers and mteb (full run only).

Data: SciFact dev claims from ../shared/datasets/scifact (real abstracts, cut to
40 (quick) or 100 (full) words), each
with its cited abstracts as positives and random other abstracts as negatives;
model: the bundled all-MiniLM-L6-v2 with a fresh 1-label head (a CrossEncoder).
Every ratio is ours / baseline in the unit shown (pairs/s, or seconds).
Outputs under bench/out/eval/ (or `run(out=...)`).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out" / "eval"
SCIFACT = ROOT.parent / "shared" / "datasets" / "scifact"


def _make_dataset(folder: Path, n_queries: int, n_candidates: int, max_words: int, seed: int = 0) -> tuple[Path, list[tuple[str, str]]]:
    """A prepared dataset (Contract 1) from SciFact dev + the list of its (query, passage) pairs."""
    corpus = {}
    with open(SCIFACT / "corpus.jsonl", encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            words = (row.get("title", "") + " " + row["text"]).split()
            corpus[row["_id"]] = " ".join(words[:max_words])
    queries = {}
    with open(SCIFACT / "queries.jsonl", encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            queries[row["_id"]] = row["text"]
    qrels: dict[str, list[str]] = {}
    with open(SCIFACT / "qrels" / "dev.tsv", encoding="utf-8") as fh:
        next(fh)
        for line in fh:
            qid, did, _ = line.rstrip("\n").split("\t")
            if did in corpus:
                qrels.setdefault(qid, []).append(did)
    rng = random.Random(seed)
    ids = sorted(corpus)
    rows, pairs = [], []
    for qid in sorted(qrels)[:n_queries]:
        positives = [corpus[d] for d in qrels[qid]]
        negatives = []
        while len(negatives) < n_candidates - len(positives):
            did = rng.choice(ids)
            if did not in qrels[qid] and corpus[did] not in negatives:
                negatives.append(corpus[did])
        rows.append({"query_id": qid, "query": queries[qid], "positive": positives, "negative": negatives})
        pairs += [(queries[qid], text) for text in positives + negatives]
    data = folder / "data" / "scifact-bench"
    if data.exists():
        shutil.rmtree(data)
    (data / "eval").mkdir(parents=True)
    (data / "eval" / "validation.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    manifest = {"name": "scifact-bench", "format_version": 1, "splits": {"validation": {"queries": len(rows)}},
                "has_negatives": True, "files": {"eval": {"validation": "eval/validation.jsonl"}},
                "content_hash": f"bench-{n_queries}-{n_candidates}-{max_words}-{seed}"}
    (data / "dataset.json").write_text(json.dumps(manifest), encoding="utf-8")
    return data, pairs


def _cross_encoder(folder: Path) -> Path:
    import torch
    from sentence_transformers import CrossEncoder

    from wrapper.settings import bundled_model_path

    target = folder / "models" / "minilm-ce"
    if not (target / "model.safetensors").exists():
        torch.manual_seed(0)
        CrossEncoder(str(bundled_model_path()), num_labels=1).save(str(target))
    return target


class _Timed:
    """Wraps `mteb.evaluate` while the harness runs: the seconds of each call, measured here."""

    def __init__(self):
        import mteb

        self.module, self.real, self.calls = mteb, mteb.evaluate, []

    def __call__(self, *args, **kwargs):
        start = time.perf_counter()
        try:
            return self.real(*args, **kwargs)
        finally:
            self.calls.append(time.perf_counter() - start)

    def __enter__(self):
        self.module.evaluate = self
        return self

    def __exit__(self, *exc):
        self.module.evaluate = self.real


def run(quick: bool = False, out: Path | None = None) -> dict:
    folder = Path(out or OUT)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from sentence_transformers import CrossEncoder

    from wrapper.evaluate import evaluate

    # passages: title + abstract cut at `max_words` words (whole abstracts run ~3 pairs/s on 2 shared cores)
    n_queries, n_candidates, max_words, repeats = (8, 8, 40, 2) if quick else (30, 10, 100, 3)
    batch_size = 32
    folder.mkdir(parents=True, exist_ok=True)
    dataset, pairs = _make_dataset(folder, n_queries, n_candidates, max_words)
    ce_path = _cross_encoder(folder)
    results = folder / "results"

    model = CrossEncoder(str(ce_path))
    model.predict(pairs[:batch_size], batch_size=batch_size, show_progress_bar=False)  # warm-up

    direct_s, cold_s, eval_s, e2e_s = [], [], [], []
    for _ in range(repeats):  # interleaved: drift on shared cores hits both sides alike
        start = time.perf_counter()
        model.predict(pairs, batch_size=batch_size, show_progress_bar=False)
        direct_s.append(time.perf_counter() - start)

        # what a hand-written script does: load the model, then score (first calls are slower)
        start = time.perf_counter()
        CrossEncoder(str(ce_path)).predict(pairs, batch_size=batch_size, show_progress_bar=False)
        cold_s.append(time.perf_counter() - start)

        if results.exists():
            shutil.rmtree(results)
        with _Timed() as inner:
            start = time.perf_counter()
            report = evaluate(str(ce_path), datasets=[dataset], results=results, batch_size=batch_size,
                              show_progress=False)
            e2e_s.append(time.perf_counter() - start)
        [row] = report.rows
        [mteb_call_s] = inner.calls  # exactly one evaluation happened
        eval_s.append(mteb_call_s)

    first_eval_e2e = e2e_s[-1]
    from wrapper.evaluate import models as _models

    cached_s = []
    for _ in range(3):
        _models._HASH_MEMO.clear()  # a fresh process hashes the weights again: count it
        start = time.perf_counter()
        again = evaluate(str(ce_path), datasets=[dataset], results=results, batch_size=batch_size,
                         show_progress=False)
        cached_s.append(time.perf_counter() - start)
        assert again.rows[0]["skipped"], "re-evaluation was not skipped"

    cli = _cli_reeval(ce_path, dataset, results, batch_size) if not quick else {}
    n = len(pairs)
    direct, cold, through_eval, end_to_end = (min(x) for x in (direct_s, cold_s, eval_s, e2e_s))
    cached = statistics.median(cached_s)
    result = {
        "pairs": n,
        "queries": n_queries,
        "batch_size": batch_size,
        "passage_words_max": max_words,
        "direct_predict_pairs_per_s": round(n / direct, 1),
        "eval_pairs_per_s": round(n / through_eval, 1),
        "eval_end_to_end_pairs_per_s": round(n / end_to_end, 1),
        "ratio_eval_vs_direct_predict": round(direct / through_eval, 3),
        "ratio_eval_end_to_end_vs_direct_predict": round(direct / end_to_end, 3),
        "direct_load_and_predict_pairs_per_s": round(n / cold, 1),
        "ratio_eval_end_to_end_vs_direct_load_and_predict": round(cold / end_to_end, 3),
        "goal_eval_ratio": ">= 0.95",
        "reeval_cached_s": round(cached, 3),
        "ratio_reeval_vs_first_eval": round(cached / first_eval_e2e, 4),
        "goal_reeval_s": "<= 1",
        **cli,
        "map_at_1000": row["main_score"],
    }
    (folder / "bench_eval.json").write_text(json.dumps(result, indent=2))
    return result


def _cli_reeval(ce_path: Path, dataset: Path, results: Path, batch_size: int) -> dict:
    """The cached re-evaluation as a fresh `autorerank eval` process, against the bare cost of
    starting Python and importing the libraries an evaluation needs (torch, sentence-transformers, mteb)."""
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1"}
    bare = [sys.executable, "-c", "import torch, sentence_transformers, mteb"]
    subprocess.run(bare, check=True, env=env, capture_output=True)  # warm the file cache first
    start = time.perf_counter()
    subprocess.run(bare, check=True, env=env, capture_output=True)
    import_s = time.perf_counter() - start
    start = time.perf_counter()
    cli = subprocess.run([sys.executable, "-m", "wrapper", "eval", str(ce_path), "--dataset", str(dataset),
                          "--results", str(results), "--batch-size", str(batch_size)],
                         env=env, capture_output=True, text=True, cwd=ROOT)
    cli_s = time.perf_counter() - start
    if cli.returncode != 0 or "already in" not in cli.stdout:
        raise RuntimeError(f"cached CLI re-evaluation failed: {cli.stdout[-500:]} {cli.stderr[-500:]}")
    return {"reeval_cli_process_s": round(cli_s, 2), "import_baseline_s": round(import_s, 2),
            "ratio_reeval_cli_vs_bare_imports": round(cli_s / import_s, 3)}


def main(argv: list[str] | None = None) -> int:
    quick = "--quick" in (argv if argv is not None else sys.argv[1:])
    result = run(quick=quick)
    print(f"pairs: {result['pairs']} ({result['queries']} SciFact queries), batch {result['batch_size']}, "
          f"MiniLM-L6 cross-encoder")
    print(f"direct CrossEncoder.predict (baseline): {result['direct_predict_pairs_per_s']} pairs/s")
    print(f"autorerank eval, evaluation:  {result['eval_pairs_per_s']} pairs/s = "
          f"{result['ratio_eval_vs_direct_predict']:.3f}x baseline (goal >= 0.95)")
    print(f"autorerank eval, end to end (load + hash + eval + writes): {result['eval_end_to_end_pairs_per_s']} "
          f"pairs/s = {result['ratio_eval_end_to_end_vs_direct_predict']:.3f}x baseline")
    print(f"baseline 2, a script that loads the CrossEncoder then predicts: "
          f"{result['direct_load_and_predict_pairs_per_s']} pairs/s; autorerank eval end to end = "
          f"{result['ratio_eval_end_to_end_vs_direct_load_and_predict']:.3f}x")
    print(f"re-evaluation of an evaluated checkpoint: {result['reeval_cached_s']} s = "
          f"{result['ratio_reeval_vs_first_eval']:.4f}x the first evaluation (goal <= 1 s)")
    if "reeval_cli_process_s" in result:
            print(f"the same as a fresh `autorerank eval` process: {result['reeval_cli_process_s']} s = "
              f"{result['ratio_reeval_cli_vs_bare_imports']:.3f}x a bare `import torch, sentence_transformers, mteb` "
              f"({result['import_baseline_s']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())


def headline(result: dict) -> list[dict]:
    """The figures for the one-table summary (see bench/__main__.py)."""
    r = result
    return [
        {"figure": f"`autorerank eval` cross-encoder scoring ({r['pairs']} pairs)", "ours": f"{r['eval_pairs_per_s']} pairs/s",
         "baseline": f"warm `CrossEncoder.predict`: {r['direct_predict_pairs_per_s']} pairs/s",
         "ratio": r["ratio_eval_vs_direct_predict"], "goal": ">= 0.95", "met": r["ratio_eval_vs_direct_predict"] >= 0.95},
        {"figure": "`autorerank eval` end to end, incl. model load", "ours": f"{r['eval_end_to_end_pairs_per_s']} pairs/s",
         "baseline": f"load + `predict` script: {r['direct_load_and_predict_pairs_per_s']} pairs/s",
         "ratio": r["ratio_eval_end_to_end_vs_direct_load_and_predict"], "goal": "", "met": None},
        {"figure": "re-evaluating a finished checkpoint (cached)", "ours": f"{r['reeval_cached_s']} s",
         "baseline": "the first evaluation", "ratio": r["ratio_reeval_vs_first_eval"], "goal": "<= 1 s",
         "met": r["reeval_cached_s"] <= 1.0},
    ]
