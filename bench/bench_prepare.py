"""prepare: mining speed/memory vs sentence-transformers, and streaming 1M labelled pairs.

    .venv/bin/python -m bench.bench_prepare [--quick] [--size quick|moderate|full] [--part mining]

Measured in one run, each case in its own subprocess (clean peak RSS from
`getrusage`), wall time including model loading. Ours and the baseline run under
the same conditions: alternately (ours first in odd repetitions, the baseline
first in even ones), `repeats` times each (quick 3, full 2); the figures are the
minimum (least disturbed by other load on a shared machine) and the median, and
every ratio is ours / baseline.

1. Mining on SciFact (BEIR, `qrels/train.tsv`: 809 queries, corpus 5,183 abstracts;
   subsets: quick 40 queries / 120 abstracts, moderate 100 queries / 500 abstracts), bundled
   all-MiniLM-L6-v2, 4 negatives per query, relative margin 0.05, top sampling, batch 32:
   - ours:     `prepare(folder, out, PrepareOptions(num_negatives=4, eval_negatives=4, margin=0.05))`
               (reads, validates, splits, mines every query, writes every file), at prepare's
               default precision `auto` (bf16 weights where the CPU does bf16, see wrapper.precision)
   - baseline: `sentence_transformers.util.mine_hard_negatives(dataset of (query, positive),
               model (fp32), corpus=all abstracts, num_negatives=4, relative_margin=0.05)`
   Figures: time ratio ours/baseline (goal <= 0.4, issue #12), peak RSS of each; and ours again
   in fp32 (one run): its time, and how far the mined lists agree with it (mean overlap of each
   train query's negatives and of each held-out query's candidate list).
2. `prepare --no-mine` on 1,000,000 synthetic labelled pairs (100,000 queries x 10
   passages; quick: 100,000 rows) from a CSV: rows/s and peak RSS (goal: < 2 GB),
   against baseline `pandas.read_csv` of the same file (just parsing it).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = Path(__file__).resolve().parent / "out" / "prepare"
SCIFACT = ROOT.parent / "shared" / "datasets" / "scifact"
QUICK_QUERIES, QUICK_DOCS = 40, 120
#: mining data sizes: (queries, abstracts) of a SciFact subset; None = all of SciFact
SIZES: dict[str, tuple[int, int] | None] = {"quick": (QUICK_QUERIES, QUICK_DOCS), "moderate": (100, 500), "full": None}
MINING_GOAL = 0.4  # issue #12: mining wall time <= 0.4x sentence-transformers' mine_hard_negatives


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _cpu_s() -> float:
    """CPU seconds (user + system) of this process: less sensitive than wall time to other load."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# --------------------------------------------------------------------------- data
def scifact_folder(size: bool | str, folder: Path = OUT) -> Path:
    """SciFact as BEIR: the shared copy ("full" / False) or a subset ("quick" / True, "moderate")."""
    size = {True: "quick", False: "full"}.get(size, size) if isinstance(size, bool) else size
    if SIZES[size] is None:
        return SCIFACT
    n_queries, n_docs = SIZES[size]
    dst = folder / f"scifact-{size}"
    if (dst / "qrels/train.tsv").exists():
        return dst
    (dst / "qrels").mkdir(parents=True, exist_ok=True)
    lines = (SCIFACT / "qrels/train.tsv").read_text(encoding="utf-8").splitlines()
    keep: list[str] = []
    rows = []
    for line in lines[1:]:
        qid = line.split("\t")[0]
        if qid not in keep:
            if len(keep) == n_queries:
                break
            keep.append(qid)
        rows.append(line)
    (dst / "qrels/train.tsv").write_text("\n".join([lines[0]] + rows) + "\n", encoding="utf-8")
    needed = {r.split("\t")[1] for r in rows}
    docs = []
    with open(SCIFACT / "corpus.jsonl", encoding="utf-8") as fh:
        for line in fh:
            if json.loads(line)["_id"] in needed or len(docs) < n_docs - len(needed):
                docs.append(line)
    (dst / "corpus.jsonl").write_text("".join(docs), encoding="utf-8")
    with open(SCIFACT / "queries.jsonl", encoding="utf-8") as fh:
        (dst / "queries.jsonl").write_text("".join(q for q in fh if json.loads(q)["_id"] in keep), encoding="utf-8")
    return dst


WORDS = ("alpha beta gamma delta epsilon zeta eta theta iota kappa lambda omicron sigma tau upsilon phi chi psi "
         "omega river stone cloud lamp paper garden window engine market signal").split()


def synthetic_pairs(n_rows: int, folder: Path = OUT) -> Path:
    path = folder / f"pairs-{n_rows}.csv"
    if path.exists():
        return path
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(0)
    per_query = 10
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write("query,passage,label\n")
        for q in range(n_rows // per_query):
            query = f"query {q} " + " ".join(rng.choices(WORDS, k=6))
            for j in range(per_query):
                passage = f"passage {q}-{j} " + " ".join(rng.choices(WORDS, k=14))
                fh.write(f"{query},{passage},{1 if j == 0 else 0}\n")
    tmp.replace(path)
    return path


# --------------------------------------------------------------------------- workers (subprocesses)
def worker_ours_mine(folder: str, out: str, precision: str = "auto") -> dict:
    import sentence_transformers  # noqa: F401  imported before the clock starts, as in the baseline

    from wrapper.prepare import PrepareOptions, prepare

    t0 = time.perf_counter()
    report = prepare([Path(folder)], Path(out), PrepareOptions(
        split="train", num_negatives=4, eval_negatives=4, margin=0.05, batch_size=32, val_ratio=0.1,
        overwrite=True, progress=False, precision=precision))
    seconds = time.perf_counter() - t0
    m = report.manifest["mining"]
    return {"seconds": seconds, "queries": m["queries"], "negatives": m["negatives_mined"],
            "no_negative_queries": m["no_negative_queries"], "precision": m.get("precision"),
            "mining_s": m.get("seconds")}


def worker_st_mine(folder: str) -> dict:
    from datasets import Dataset
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.util import mine_hard_negatives

    from wrapper.settings import bundled_model_path

    t0 = time.perf_counter()
    folder_p = Path(folder)
    corpus, queries = {}, {}
    with open(folder_p / "corpus.jsonl", encoding="utf-8") as fh:
        for line in fh:
            d = json.loads(line)
            corpus[d["_id"]] = f"{d.get('title', '')} {d['text']}".strip()
    with open(folder_p / "queries.jsonl", encoding="utf-8") as fh:
        for line in fh:
            q = json.loads(line)
            queries[q["_id"]] = q["text"]
    anchors, positives = [], []
    for line in (folder_p / "qrels/train.tsv").read_text(encoding="utf-8").splitlines()[1:]:
        qid, did, score = line.split("\t")
        if int(score) >= 1 and qid in queries and did in corpus:
            anchors.append(queries[qid])
            positives.append(corpus[did])
    model = SentenceTransformer(str(bundled_model_path()), device="cpu")
    ds = Dataset.from_dict({"query": anchors, "positive": positives})
    mined = mine_hard_negatives(ds, model, corpus=list(corpus.values()), num_negatives=4, relative_margin=0.05,
                                sampling_strategy="top", batch_size=32, output_format="n-tuple", verbose=False)
    return {"seconds": time.perf_counter() - t0, "rows": len(mined)}


def worker_ours_stream(csv_path: str, out: str) -> dict:
    from wrapper.prepare import PrepareOptions, prepare

    t0 = time.perf_counter()
    report = prepare([Path(csv_path)], Path(out), PrepareOptions(mine=False, overwrite=True, progress=False))
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "rows": report.manifest["counts"]["rows_read"],
            "queries": report.manifest["counts"]["queries"]}


def worker_pandas_read(csv_path: str) -> dict:
    import pandas as pd

    t0 = time.perf_counter()
    df = pd.read_csv(csv_path)
    return {"seconds": time.perf_counter() - t0, "rows": len(df)}


WORKERS = {"ours-mine": worker_ours_mine, "st-mine": worker_st_mine, "ours-stream": worker_ours_stream,
           "pandas-read": worker_pandas_read}


def _spawn(name: str, *args: str) -> dict:
    env = dict(os.environ, TOKENIZERS_PARALLELISM="false", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    proc = subprocess.run([sys.executable, "-m", "bench.bench_prepare", "--worker", name, *args],
                          cwd=ROOT, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"worker {name} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- entry point
def run(quick: bool = False, parts: tuple[str, ...] = ("mining", "streaming"), out: Path | None = None,
        repeats: int | None = None, size: str | None = None) -> dict:
    folder = Path(out or OUT).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    repeats = repeats or (3 if quick else 2)
    size = size or ("quick" if quick else "full")
    results: dict = {"quick": quick, "repeats": repeats, "mining_size": size}
    if "mining" in parts:
        results["mining"] = _bench_mining(size, folder, repeats)
    if "streaming" in parts:
        results["streaming"] = _bench_streaming(quick, folder, repeats)
    (folder / f"results{'-quick' if quick else ''}.json").write_text(json.dumps(results, indent=2))
    return results


def alternate(ours, baseline, repeats: int) -> tuple[list[dict], list[dict]]:
    """Run `ours()` and `baseline()` `repeats` times each, alternating which goes first."""
    a, b = [], []
    for i in range(repeats):
        if i % 2 == 0:
            a.append(ours())
            b.append(baseline())
        else:
            b.append(baseline())
            a.append(ours())
    return a, b


def _stats(runs: list[dict], key: str) -> tuple[float, float]:
    values = [r[key] for r in runs]
    return min(values), statistics.median(values)


def mined_overlap(ours: Path, reference: Path) -> dict:
    """How far two prepared datasets of the same data agree on what mining chose: per query, the
    share of `reference`'s negatives that `ours` also has (train: flagembedding/train.jsonl `neg`;
    held-out: the validation candidate lists), averaged over queries."""
    from wrapper.dataset import Dataset, iter_jsonl

    def train(folder: Path) -> dict[str, set]:
        return {r["query"]: set(r["neg"]) for _, r in iter_jsonl(folder / "flagembedding" / "train.jsonl")}

    def held_out(folder: Path) -> dict[str, set]:
        return {r["query"]: set(r["negative"]) for r in Dataset.open(folder).read_split("validation")}

    result = {}
    for name, read in (("train_negatives", train), ("validation_candidates", held_out)):
        a, b = read(ours), read(reference)
        shares = [len(a.get(q, set()) & negs) / len(negs) for q, negs in b.items() if negs]
        result[name] = {"queries": len(shares), "mean_overlap": round(statistics.fmean(shares), 4) if shares else None,
                        "identical_queries": sum(1 for q, negs in b.items() if a.get(q) == negs)}
    return result


def _bench_mining(size: str, folder: Path, repeats: int) -> dict:
    data = scifact_folder(size, folder)
    target, target_fp32 = folder / "ours-mine", folder / "ours-mine-fp32"
    ours, base = alternate(lambda: _spawn("ours-mine", str(data), str(target)), lambda: _spawn("st-mine", str(data)),
                           repeats)
    fp32 = _spawn("ours-mine", str(data), str(target_fp32), "fp32")  # once: the agreement and its own time
    overlap = mined_overlap(target, target_fp32)
    shutil.rmtree(target, ignore_errors=True)
    shutil.rmtree(target_fp32, ignore_errors=True)
    (o_min, o_med), (b_min, b_med) = _stats(ours, "seconds"), _stats(base, "seconds")
    (oc_min, _), (bc_min, _) = _stats(ours, "cpu_s"), _stats(base, "cpu_s")
    o_rss, b_rss = statistics.median(r["peak_rss_mb"] for r in ours), statistics.median(r["peak_rss_mb"] for r in base)
    n_docs = "5,183" if SIZES[size] is None else f"{SIZES[size][1]:,}"
    return {
        "data": f"scifact train qrels ({size}): {ours[0]['queries']} queries, {n_docs} abstracts",
        "size": size,
        "precision": ours[0]["precision"],
        "repeats": repeats,
        "ours_s": round(o_min, 2), "ours_median_s": round(o_med, 2), "ours_all_s": [round(r["seconds"], 2) for r in ours],
        "baseline_st_mine_hard_negatives_s": round(b_min, 2), "baseline_median_s": round(b_med, 2),
        "baseline_all_s": [round(r["seconds"], 2) for r in base],
        "time_ratio_ours_over_baseline": round(o_min / b_min, 3),
        "median_time_ratio_ours_over_baseline": round(o_med / b_med, 3),
        "goal_time_ratio": MINING_GOAL,
        "ours_fp32_s": round(fp32["seconds"], 2),
        "time_ratio_ours_fp32_over_baseline_min": round(fp32["seconds"] / b_min, 3),
        "agreement_with_fp32": overlap,
        "ours_cpu_s": round(oc_min, 1),
        "baseline_cpu_s": round(bc_min, 1),
        "cpu_ratio_ours_over_baseline": round(oc_min / bc_min, 3),
        "load_avg_ours_start_end": [r["load_avg"] for r in ours],
        "load_avg_baseline_start_end": [r["load_avg"] for r in base],
        "ours_peak_rss_mb": round(o_rss, 1),
        "baseline_peak_rss_mb": round(b_rss, 1),
        "rss_ratio_ours_over_baseline": round(o_rss / b_rss, 3),
        "ours_no_negative_queries": ours[0]["no_negative_queries"],
        "load_avg_at_end": [round(x, 2) for x in os.getloadavg()],
    }


def _bench_streaming(quick: bool, folder: Path, repeats: int) -> dict:
    n_rows = 100_000 if quick else 1_000_000
    csv_path = synthetic_pairs(n_rows, folder)
    target = folder / "ours-stream"
    stream, pandas = alternate(lambda: _spawn("ours-stream", str(csv_path), str(target)),
                               lambda: _spawn("pandas-read", str(csv_path)), repeats)
    shutil.rmtree(target, ignore_errors=True)
    (s_min, s_med), (p_min, p_med) = _stats(stream, "seconds"), _stats(pandas, "seconds")
    s_rss = statistics.median(r["peak_rss_mb"] for r in stream)
    p_rss = statistics.median(r["peak_rss_mb"] for r in pandas)
    return {
        "rows": stream[0]["rows"],
        "queries": stream[0]["queries"],
        "repeats": repeats,
        "ours_s": round(s_min, 2), "ours_median_s": round(s_med, 2),
        "ours_rows_per_s": round(stream[0]["rows"] / s_min),
        "ours_peak_rss_mb": round(s_rss, 1),
        "goal_peak_rss_mb": 2048,
        "baseline_pandas_read_csv_s": round(p_min, 2), "baseline_pandas_median_s": round(p_med, 2),
        "baseline_pandas_peak_rss_mb": round(p_rss, 1),
        "time_ratio_ours_over_pandas_read": round(s_min / p_min, 3),
        "median_time_ratio_ours_over_pandas_read": round(s_med / p_med, 3),
        "rss_ratio_ours_over_pandas_read": round(s_rss / p_rss, 3),
    }


def _print(results: dict) -> None:
    m, s = results.get("mining"), results.get("streaming")
    if m:
        _print_mining(m)
    if s:
        _print_streaming(s)


def _print_mining(m: dict) -> None:
    print(f"mining ({m['data']}):")
    print(f"  ours {m['ours_s']} s (median {m['ours_median_s']}) vs sentence-transformers mine_hard_negatives "
          f"{m['baseline_st_mine_hard_negatives_s']} s (median {m['baseline_median_s']}), best of {m['repeats']} alternating"
          f" -> time ratio {m['time_ratio_ours_over_baseline']} (median {m['median_time_ratio_ours_over_baseline']};"
          f" goal <= {m['goal_time_ratio']}; ours in {m.get('precision')})")
    if "agreement_with_fp32" in m:
        a = m["agreement_with_fp32"]
        print(f"  ours in fp32 (one run): {m['ours_fp32_s']} s ({m['time_ratio_ours_fp32_over_baseline_min']}x);"
              f" overlap with it: train negatives {a['train_negatives']['mean_overlap']},"
              f" held-out candidates {a['validation_candidates']['mean_overlap']}")
    print(f"  CPU time ours {m['ours_cpu_s']} s vs baseline {m['baseline_cpu_s']} s"
          f" -> CPU ratio {m['cpu_ratio_ours_over_baseline']} (load average ours {m['load_avg_ours_start_end']},"
          f" baseline {m['load_avg_baseline_start_end']}: the machine is shared)")
    print(f"  peak RSS ours {m['ours_peak_rss_mb']} MB vs baseline {m['baseline_peak_rss_mb']} MB"
          f" -> ratio {m['rss_ratio_ours_over_baseline']}")


def _print_streaming(s: dict) -> None:
    print(f"streaming {s['rows']:,} labelled pairs without mining:")
    print(f"  ours {s['ours_s']} s (best of {s['repeats']}, median {s['ours_median_s']}) = {s['ours_rows_per_s']:,} rows/s, peak RSS {s['ours_peak_rss_mb']} MB (goal < 2048)")
    print(f"  vs pandas.read_csv alone {s['baseline_pandas_read_csv_s']} s, {s['baseline_pandas_peak_rss_mb']} MB"
          f" -> time ratio {s['time_ratio_ours_over_pandas_read']}, RSS ratio {s['rss_ratio_ours_over_pandas_read']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_prepare", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--part", choices=["mining", "streaming"], help="run one part only")
    parser.add_argument("--size", choices=sorted(SIZES), help="mining data size (default: quick with --quick, else full)")
    parser.add_argument("--repeats", type=int, help="runs of ours and of the baseline each (default 3 quick, 2 full)")
    parser.add_argument("--worker", choices=sorted(WORKERS))
    parser.add_argument("args", nargs="*")
    ns = parser.parse_args(argv)
    if ns.worker:
        cpu0, load0 = _cpu_s(), os.getloadavg()[0]
        result = WORKERS[ns.worker](*ns.args)
        result["peak_rss_mb"] = _peak_rss_mb()
        result["cpu_s"] = _cpu_s() - cpu0  # imports excluded, like the wall time
        result["load_avg"] = [round(load0, 2), round(os.getloadavg()[0], 2)]
        print(json.dumps(result))
        return 0
    _print(run(quick=ns.quick, parts=(ns.part,) if ns.part else ("mining", "streaming"), repeats=ns.repeats,
               size=ns.size))
    return 0


if __name__ == "__main__":
    sys.exit(main())


def headline(result: dict) -> list[dict]:
    """The figures for the one-table summary (see bench/__main__.py)."""
    rows = []
    m, s = result.get("mining"), result.get("streaming")
    if m:
        goal = m.get("goal_time_ratio", 1.0)
        agree = m.get("agreement_with_fp32")
        agreement = (f"; overlap with our fp32 run: train negatives {agree['train_negatives']['mean_overlap']}, "
                     f"held-out candidates {agree['validation_candidates']['mean_overlap']}") if agree else ""
        rows.append({"figure": f"prepare + mining wall time ({m['data']}; best of {m.get('repeats', 1)}, alternating; "
                               f"ours in {m.get('precision') or 'fp32'}{agreement})",
                     "ours": f"{m['ours_s']} s (median {m.get('ours_median_s', m['ours_s'])} s)",
                     "baseline": f"ST `mine_hard_negatives` (fp32): {m['baseline_st_mine_hard_negatives_s']} s "
                                 f"(median {m.get('baseline_median_s', m['baseline_st_mine_hard_negatives_s'])} s)",
                     "ratio": m["time_ratio_ours_over_baseline"], "goal": f"<= {goal}",
                     "met": m["time_ratio_ours_over_baseline"] <= goal})
        rows.append({"figure": "prepare + mining peak RSS", "ours": f"{m['ours_peak_rss_mb']} MB",
                     "baseline": f"ST `mine_hard_negatives`: {m['baseline_peak_rss_mb']} MB",
                     "ratio": m["rss_ratio_ours_over_baseline"], "goal": "", "met": None})
    if s:
        rows.append({"figure": f"prepare {s['rows']:,} labelled pairs, no mining (ratio: peak RSS)", "ours":
                     f"{s['ours_rows_per_s']:,} rows/s, {s['ours_peak_rss_mb']} MB peak",
                     "baseline": f"`pandas.read_csv` alone: {s['baseline_pandas_read_csv_s']} s, "
                                 f"{s['baseline_pandas_peak_rss_mb']} MB",
                     "ratio": s["rss_ratio_ours_over_pandas_read"], "goal": "peak RSS < 2 GB",
                     "met": s["ours_peak_rss_mb"] < s["goal_peak_rss_mb"]})
    return rows
