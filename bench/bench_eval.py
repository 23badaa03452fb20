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
2. issue #12's fast path: `autorerank eval --precision auto` (bf16 weights where the CPU
   does bf16, fp32 head; pairs in token-length sorted batches, each distinct pair once) vs
   the same warm fp32 `CrossEncoder.predict` (batch 32). Goal >= 2.5x with MAP (mteb's
   map_at_1000 of the two evaluations) within 0.002 of the fp32 evaluation's.
3. re-evaluating an already evaluated checkpoint (everything skipped) vs the
   first evaluation. Goal <= 1 s. Also as a fresh `autorerank eval` process vs
   a bare Python that only imports torch, sentence-transformers and mteb (full run only).

Data: SciFact dev claims from ../shared/datasets/scifact (real abstracts, cut to
40 (quick) or 100 (full) words), each
with its cited abstracts as positives and random other abstracts as negatives;
model: the bundled all-MiniLM-L6-v2 as a CrossEncoder whose 1-label head is a ridge probe
fitted on SciFact *train* pairs (their positives vs random abstracts; seeded, cached under
out/models): a ranking with real signal, so a MAP difference means something (a fresh random
head scores nearly constant values, and any noise reorders them).
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
    corpus, queries, qrels = _scifact(max_words, "dev")
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
    from wrapper.dataset.writer import write_dataset

    data = folder / "data" / "scifact-bench"
    write_dataset(data, eval_splits={"validation": rows}, name="scifact-bench",
                  extra={"content_hash": f"bench-{n_queries}-{n_candidates}-{max_words}-{seed}"})
    return data, pairs


def _cross_encoder(folder: Path, max_words: int = 100, n_queries: int = 40) -> Path:
    """The bundled MiniLM as a CrossEncoder with a ridge-probe head fitted on SciFact train pairs."""
    import torch
    from sentence_transformers import CrossEncoder

    from wrapper.settings import bundled_model_path

    target = folder / "models" / f"minilm-ce-probe-{max_words}"
    if (target / "model.safetensors").exists():
        return target
    torch.manual_seed(0)
    ce = CrossEncoder(str(bundled_model_path()), num_labels=1)
    corpus, queries, qrels = _scifact(max_words, "train")
    rng, ids = random.Random(1), sorted(corpus)
    pairs, labels = [], []
    for qid in sorted(qrels)[:n_queries]:
        for did in qrels[qid]:
            pairs.append((queries[qid], corpus[did]))
            labels.append(1.0)
        for did in rng.sample(ids, 3):
            if did not in qrels[qid]:
                pairs.append((queries[qid], corpus[did]))
                labels.append(0.0)
    hf = ce[0].model
    features = []
    with torch.inference_mode():
        for start in range(0, len(pairs), 16):
            batch = pairs[start:start + 16]
            enc = ce.tokenizer([q for q, _ in batch], [d for _, d in batch], padding=True, truncation=True,
                               max_length=256, return_tensors="pt")
            features.append(hf.bert(**enc).pooler_output)
    x = torch.cat(features).double()
    y = torch.tensor(labels, dtype=torch.float64)
    mean = x.mean(0)
    xc = x - mean
    w = torch.linalg.solve(xc.T @ xc + torch.eye(x.shape[1], dtype=torch.float64), xc.T @ (y - y.mean()))
    scale = 4.0 / float((xc @ w).std())  # logits spread ~4: sigmoid scores not saturated
    with torch.no_grad():
        hf.classifier.weight.copy_((w * scale).float().unsqueeze(0))
        hf.classifier.bias.fill_(-float(mean @ w) * scale)
    ce.save(str(target))
    return target


def _scifact(max_words: int, split: str) -> tuple[dict, dict, dict[str, list[str]]]:
    """SciFact corpus (title + text cut at `max_words` words), queries, and one split's qrels."""
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
    with open(SCIFACT / "qrels" / f"{split}.tsv", encoding="utf-8") as fh:
        next(fh)
        for line in fh:
            qid, did, score = line.rstrip("\n").split("\t")
            if did in corpus and int(score) > 0:
                qrels.setdefault(qid, []).append(did)
    return corpus, queries, qrels


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


#: (queries, candidates per query, words per passage, repeats)
SIZES = {"quick": (8, 8, 40, 2), "full": (40, 10, 100, 2)}
PARTS = ("overhead", "precision", "reeval")
PRECISION_GOAL, MAP_TOLERANCE = 2.5, 0.002  # issue #12


def run(quick: bool = False, out: Path | None = None, parts: tuple[str, ...] = PARTS) -> dict:
    """`parts`: overhead (eval vs predict in fp32, cold load), precision (eval --precision auto vs
    fp32 predict, MAP vs the fp32 evaluation), reeval (cached re-evaluation)."""
    folder = Path(out or OUT)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from sentence_transformers import CrossEncoder

    from wrapper import precision
    from wrapper.evaluate import evaluate

    # passages: title + abstract cut at `max_words` words (whole abstracts run ~3 pairs/s on 2 shared cores)
    n_queries, n_candidates, max_words, repeats = SIZES["quick" if quick else "full"]
    batch_size = 32
    folder.mkdir(parents=True, exist_ok=True)
    dataset, pairs = _make_dataset(folder, n_queries, n_candidates, max_words)
    ce_path = _cross_encoder(folder, max_words)
    results, results_auto = folder / "results", folder / "results-auto"

    model = CrossEncoder(str(ce_path))
    model.predict(pairs[:batch_size], batch_size=batch_size, show_progress_bar=False)  # warm-up

    def evaluation(where: Path, prec: str) -> tuple[float, float, float]:
        """(seconds in mteb.evaluate, seconds end to end, MAP) of a fresh evaluation in `prec`."""
        if where.exists():
            shutil.rmtree(where)
        with _Timed() as inner:
            start = time.perf_counter()
            report = evaluate(str(ce_path), datasets=[dataset], results=where, batch_size=batch_size,
                              show_progress=False, precision=prec)
            wall = time.perf_counter() - start
        [row] = report.rows
        [mteb_call_s] = inner.calls  # exactly one evaluation happened
        return mteb_call_s, wall, row["main_score"]

    direct_s, cold_s, eval_s, e2e_s, auto_s, maps = [], [], [], [], [], {}
    for i in range(repeats):  # interleaved, alternating who goes first: drift on shared cores hits both alike
        def baseline():
            start = time.perf_counter()
            model.predict(pairs, batch_size=batch_size, show_progress_bar=False)
            direct_s.append(time.perf_counter() - start)

        def ours():
            if "overhead" in parts:
                # what a hand-written script does: load the model, then score (first calls are slower)
                start = time.perf_counter()
                CrossEncoder(str(ce_path)).predict(pairs, batch_size=batch_size, show_progress_bar=False)
                cold_s.append(time.perf_counter() - start)
            if "overhead" in parts or ("precision" in parts and i == 0):  # fp32: the MAP reference
                inner, wall, maps["fp32"] = evaluation(results, "fp32")
                eval_s.append(inner)
                e2e_s.append(wall)
            if "precision" in parts:
                inner, _, maps["auto"] = evaluation(results_auto, "auto")
                auto_s.append(inner)

        for step in ((baseline, ours) if i % 2 == 0 else (ours, baseline)):
            step()

    n = len(pairs)
    direct = min(direct_s)
    result: dict = {"pairs": n, "queries": n_queries, "batch_size": batch_size, "passage_words_max": max_words,
                    "repeats": repeats, "parts": list(parts), "direct_predict_pairs_per_s": round(n / direct, 1),
                    "map_at_1000": maps.get("fp32")}
    if "precision" in parts:
        auto = min(auto_s)
        result.update({
            "eval_auto_precision": precision.resolve("auto"),
            "eval_auto_pairs_per_s": round(n / auto, 1),
            "ratio_eval_auto_vs_direct_fp32_predict": round(direct / auto, 3),
            "goal_eval_auto_ratio": PRECISION_GOAL,
            "map_fp32": maps["fp32"], "map_auto": maps["auto"],
            "map_diff_auto_minus_fp32": round(maps["auto"] - maps["fp32"], 5),
            "goal_map_tolerance": MAP_TOLERANCE,
            "eval_auto_all_s": [round(x, 2) for x in auto_s],
        })
    result["direct_all_s"] = [round(x, 2) for x in direct_s]
    result["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    if "overhead" in parts:
        through_eval, end_to_end, cold = min(eval_s), min(e2e_s), min(cold_s)
        result.update({
            "eval_pairs_per_s": round(n / through_eval, 1),
            "eval_end_to_end_pairs_per_s": round(n / end_to_end, 1),
            "ratio_eval_vs_direct_predict": round(direct / through_eval, 3),
            "ratio_eval_end_to_end_vs_direct_predict": round(direct / end_to_end, 3),
            "direct_load_and_predict_pairs_per_s": round(n / cold, 1),
            "ratio_eval_end_to_end_vs_direct_load_and_predict": round(cold / end_to_end, 3),
            "goal_eval_ratio": ">= 0.95",
        })
    if "reeval" in parts:
        if not e2e_s:  # the first evaluation to compare with (and to skip)
            e2e_s.append(evaluation(results, "fp32")[1])
        result.update(_reeval(ce_path, dataset, results, batch_size, quick, e2e_s[-1] if e2e_s else None))
    (folder / "bench_eval.json").write_text(json.dumps(result, indent=2))
    return result


def _reeval(ce_path: Path, dataset: Path, results: Path, batch_size: int, quick: bool, first_e2e: float | None) -> dict:
    """Re-evaluating the evaluated checkpoint (everything skipped), in-process and as a CLI process."""
    from wrapper.evaluate import evaluate
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
    cached = statistics.median(cached_s)
    return {"reeval_cached_s": round(cached, 3),
            "ratio_reeval_vs_first_eval": round(cached / first_e2e, 4) if first_e2e else None,
            "goal_reeval_s": "<= 1", **cli}


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
    import argparse

    parser = argparse.ArgumentParser(prog="python -m bench.bench_eval", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--part", action="append", choices=PARTS, help="run only these parts (repeatable)")
    ns = parser.parse_args(argv)
    result = run(quick=ns.quick, parts=tuple(ns.part or PARTS))
    print(f"pairs: {result['pairs']} ({result['queries']} SciFact queries), batch {result['batch_size']}, "
          f"MiniLM-L6 cross-encoder (probe head)")
    print(f"direct CrossEncoder.predict, fp32 (baseline): {result['direct_predict_pairs_per_s']} pairs/s")
    if "eval_auto_pairs_per_s" in result:
        print(f"autorerank eval --precision auto ({result['eval_auto_precision']}): {result['eval_auto_pairs_per_s']} "
              f"pairs/s = {result['ratio_eval_auto_vs_direct_fp32_predict']:.3f}x baseline (goal >= {PRECISION_GOAL});"
              f" MAP {result['map_auto']} vs fp32 {result['map_fp32']} (diff {result['map_diff_auto_minus_fp32']},"
              f" goal within {MAP_TOLERANCE})")
    if "eval_pairs_per_s" in result:
        print(f"autorerank eval, evaluation (fp32):  {result['eval_pairs_per_s']} pairs/s = "
              f"{result['ratio_eval_vs_direct_predict']:.3f}x baseline (goal >= 0.95)")
        print(f"autorerank eval, end to end (load + hash + eval + writes): {result['eval_end_to_end_pairs_per_s']} "
              f"pairs/s = {result['ratio_eval_end_to_end_vs_direct_predict']:.3f}x baseline")
        print(f"baseline 2, a script that loads the CrossEncoder then predicts: "
              f"{result['direct_load_and_predict_pairs_per_s']} pairs/s; autorerank eval end to end = "
              f"{result['ratio_eval_end_to_end_vs_direct_load_and_predict']:.3f}x")
    if "reeval_cached_s" in result:
        print(f"re-evaluation of an evaluated checkpoint: {result['reeval_cached_s']} s = "
              f"{result['ratio_reeval_vs_first_eval']}x the first evaluation (goal <= 1 s)")
    if "reeval_cli_process_s" in result:
        print(f"the same as a fresh `autorerank eval` process: {result['reeval_cli_process_s']} s = "
              f"{result['ratio_reeval_cli_vs_bare_imports']:.3f}x a bare `import torch, sentence_transformers, mteb` "
              f"({result['import_baseline_s']} s)")
    print(f"load average at the end: {result['load_avg_at_end']} (2 shared cores)")
    return 0


if __name__ == "__main__":
    sys.exit(main())


def headline(result: dict) -> list[dict]:
    """The figures for the one-table summary (see bench/__main__.py); ratio = ours / baseline."""
    r = result
    rows = []
    if "eval_auto_pairs_per_s" in r:
        ratio, diff = r["ratio_eval_auto_vs_direct_fp32_predict"], r["map_diff_auto_minus_fp32"]
        tol = r.get("goal_map_tolerance", MAP_TOLERANCE)
        rows.append({
            "figure": f"`autorerank eval --precision auto` ({r['eval_auto_precision']}) scoring, {r['pairs']} pairs; "
                      f"MAP {r['map_auto']} vs fp32 eval {r['map_fp32']}",
            "ours": f"{r['eval_auto_pairs_per_s']} pairs/s",
            "baseline": f"warm fp32 `CrossEncoder.predict`: {r['direct_predict_pairs_per_s']} pairs/s",
            "ratio": ratio, "goal": f">= {r.get('goal_eval_auto_ratio', PRECISION_GOAL)}, MAP within {tol}",
            "met": ratio >= r.get("goal_eval_auto_ratio", PRECISION_GOAL) and abs(diff) <= tol})
    if "eval_pairs_per_s" in r:
        rows += [
            {"figure": f"`autorerank eval` cross-encoder scoring ({r['pairs']} pairs)", "ours": f"{r['eval_pairs_per_s']} pairs/s",
             "baseline": f"warm `CrossEncoder.predict`: {r['direct_predict_pairs_per_s']} pairs/s",
             "ratio": r["ratio_eval_vs_direct_predict"], "goal": ">= 0.95", "met": r["ratio_eval_vs_direct_predict"] >= 0.95},
            {"figure": "`autorerank eval` end to end, incl. model load", "ours": f"{r['eval_end_to_end_pairs_per_s']} pairs/s",
             "baseline": f"load + `predict` script: {r['direct_load_and_predict_pairs_per_s']} pairs/s",
             "ratio": r["ratio_eval_end_to_end_vs_direct_load_and_predict"], "goal": "", "met": None},
        ]
    if "reeval_cached_s" in r:
        rows.append({"figure": "re-evaluating a finished checkpoint (cached)", "ours": f"{r['reeval_cached_s']} s",
                     "baseline": "the first evaluation", "ratio": r["ratio_reeval_vs_first_eval"], "goal": "<= 1 s",
                     "met": r["reeval_cached_s"] <= 1.0})
    return rows
