"""Mining's nearest-neighbour search: the exact stream vs FAISS (`prepare --ann`), pool by pool.

    .venv/bin/python -m bench.bench_ann [--quick] [--pools 200000,1000000 --queries 10000] [--scifact-only]

What is timed is the search alone (`wrapper.prepare.ann`: `make`, `add` chunk by chunk as mining does,
`result`), on synthetic embeddings with the shape of real ones: 384 dimensions (all-MiniLM-L6-v2),
unit length, drawn around topic centres (100 passages each), queries near passages of the pool (see `_vectors`).
Encoding costs the same whichever search runs, so it is left out; each case runs in its own subprocess, so its peak
RSS is its own; the parent writes the vectors once, each worker loads them (pool x 384 x 4 bytes).

Part 2, real data: `prepare` of SciFact (BEIR train qrels: 809 queries, 5,183 abstracts, the bundled
model) with `--ann exact` and with `--ann faiss`: the share of each training query's mined negatives
and of each held-out query's candidate list that FAISS's run keeps, and both mining times.

Per pool: seconds of each method, the ratio faiss/exact (the baseline is the exact stream, measured
in the same run), the memory each search adds to the loaded vectors (peak RSS minus RSS once the
vectors are in; in `prepare` the exact stream never holds the pool's vectors at all), and FAISS's
recall: the mean share of each query's exact
top-`window` that FAISS also returns. `ann.AUTO_FAISS_FROM` (where `--ann auto` switches) should sit
where the ratio falls below 1 with recall >= 0.99.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out" / "ann"
DIM, PER_TOPIC, WINDOW, CHUNK = 384, 100, 30, 32768
#: (passages, queries) per case
CASES = {"quick": [(20_000, 2_000), (100_000, 2_000)],
         "full": [(20_000, 10_000), (200_000, 10_000), (200_000, 50_000), (1_000_000, 10_000), (1_000_000, 50_000)]}


def _vectors(pool: int, queries: int, seed: int = 0):
    """Unit vectors around topic centres (100 passages per topic, so a query's top 30 are mostly on its
    topic, as in a real corpus, not spread at random over the sphere): a passage is ~0.8 cosine from its
    centre, ~0.6 from a passage of its topic and ~0 from others; a query is a noisy copy of one passage
    (~0.85 cosine to it)."""
    import torch

    gen = torch.Generator().manual_seed(seed)

    def noise(n: int, norm: float):
        return torch.randn(n, DIM, generator=gen) * (norm / DIM ** 0.5)

    unit = torch.nn.functional.normalize
    topics = max(1, pool // PER_TOPIC)
    centres = unit(torch.randn(topics, DIM, generator=gen), dim=1)
    topic = torch.randint(0, topics, (pool,), generator=gen)
    passages = unit(centres[topic] + noise(pool, 0.75), dim=1)
    q = unit(passages[torch.randint(0, pool, (queries,), generator=gen)] + noise(queries, 0.6), dim=1)
    return q, passages


def _status_mb(field: str) -> float:
    """VmRSS (now) or VmHWM (peak) of this process: unlike getrusage's ru_maxrss, VmHWM starts afresh at
    exec, so a worker does not report the peak of the parent it was forked from."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return 0.0


def worker(method: str, pool: int, queries: int, ids_out: str) -> dict:
    import numpy as np
    import torch

    from wrapper.prepare import ann

    folder = Path(ids_out).parent
    q = torch.from_numpy(np.load(folder / f"queries-{pool}-{queries}.npy"))
    passages = torch.from_numpy(np.load(folder / f"passages-{pool}.npy"))
    loaded = _status_mb("VmRSS")
    t0 = time.perf_counter()
    search = ann.make(method, q, WINDOW, pool)
    for start in range(0, pool, CHUNK):
        search.add(passages[start:start + CHUNK], start)
    _, ids = search.result()
    seconds = time.perf_counter() - t0
    np.save(ids_out, ids.cpu().numpy())
    peak = _status_mb("VmHWM")
    return {"seconds": round(seconds, 3), "search_extra_mb": round(peak - loaded), "vectors_mb": round(loaded),
            "threads": torch.get_num_threads(), **search.describe()}


def _case(method: str, pool: int, queries: int, out: Path) -> dict:
    ids = out / f"{method}-{pool}-{queries}.npy"
    proc = subprocess.run([sys.executable, "-m", "bench.bench_ann", "--worker", method, str(pool), str(queries), str(ids)],
                          capture_output=True, text=True, check=False, cwd=Path(__file__).resolve().parents[1])
    if proc.returncode != 0:
        raise RuntimeError(f"{method} at {pool}: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _write_vectors(pool: int, queries: int, out: Path) -> None:
    import numpy as np

    q, passages = _vectors(pool, queries)
    np.save(out / f"queries-{pool}-{queries}.npy", q.numpy())
    np.save(out / f"passages-{pool}.npy", passages.numpy())


def recall(exact_ids: Path, faiss_ids: Path, k: int = WINDOW) -> float:
    """Mean share of each query's exact top `k` that FAISS's top `WINDOW` holds."""
    import numpy as np

    a, b = np.load(exact_ids), np.load(faiss_ids)
    return float(np.mean([len(set(x[:k]) & set(y)) / len(set(x[:k])) for x, y in zip(a.tolist(), b.tolist())]))


def _lists(folder: Path) -> tuple[dict, dict]:
    """Each training query's mined negatives and each held-out query's candidates of a prepared dataset."""
    from wrapper.dataset import Dataset, read_jsonl

    dataset = Dataset.open(folder)
    train = {row["query"]: set(row["neg"]) for row in read_jsonl(dataset.train_file("flagembedding"))}
    held = {row["query_id"]: set(row["negative"]) for split in dataset.splits for row in dataset.read_split(split)}
    return train, held


def _kept(a: dict, b: dict) -> float:
    return sum(len(a[k] & b.get(k, set())) / len(a[k]) for k in a if a[k]) / max(sum(1 for k in a if a[k]), 1)


def scifact(out: Path) -> dict:
    """`prepare` SciFact twice, exact then FAISS; how much of the exact run's lists FAISS keeps."""
    from wrapper.prepare import PrepareOptions, prepare

    scifact_dir = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "scifact"
    runs = {}
    for method in ("exact", "faiss"):
        report = prepare([scifact_dir], out / f"scifact-{method}", PrepareOptions(
            split="train", overwrite=True, progress=False, ann=method))
        runs[method] = report.manifest["mining"]
    exact_train, exact_held = _lists(out / "scifact-exact")
    faiss_train, faiss_held = _lists(out / "scifact-faiss")
    row = {"negatives_kept": round(_kept(exact_train, faiss_train), 4),
           "candidates_kept": round(_kept(exact_held, faiss_held), 4),
           "exact_mining_s": runs["exact"].get("seconds"), "faiss_mining_s": runs["faiss"].get("seconds"),
           "faiss": runs["faiss"].get("ann"), "queries": runs["exact"].get("queries")}
    print(json.dumps(row), flush=True)
    return row


def run(quick: bool, out: Path = OUT, pools: list[int] | None = None, queries: int | None = None) -> dict:
    from wrapper.prepare.ann import AUTO_FAISS_FROM, AUTO_FAISS_QUERIES

    size = "quick" if quick else "full"
    out.mkdir(parents=True, exist_ok=True)
    cases = [(pool, queries or 10_000) for pool in pools] if pools else CASES[size]
    rows = []
    for pool, queries in cases:
        _write_vectors(pool, queries, out)
        exact = _case("exact", pool, queries, out)
        faiss = _case("faiss", pool, queries, out)
        ids = {m: out / f"{m}-{pool}-{queries}.npy" for m in ("exact", "faiss")}
        row = {"pool": pool, "queries": queries, "window": WINDOW,
               "exact_s": exact["seconds"], "faiss_s": faiss["seconds"],
               "ratio_faiss_over_exact": round(faiss["seconds"] / exact["seconds"], 3),
               "exact_extra_mb": exact["search_extra_mb"], "faiss_extra_mb": faiss["search_extra_mb"],
               "vectors_mb": exact["vectors_mb"],
               "recall": round(recall(ids["exact"], ids["faiss"]), 4),
               "recall_at_10": round(recall(ids["exact"], ids["faiss"], 10), 4),
               "nlist": faiss.get("nlist"), "nprobe": faiss.get("nprobe")}
        for path in out.glob("*.npy"):
            path.unlink()
        rows.append(row)
        print(json.dumps(row), flush=True)
    real = None if quick else scifact(out)
    result = {"rows": rows, "scifact": real, "auto_faiss_from": AUTO_FAISS_FROM, "auto_faiss_queries": AUTO_FAISS_QUERIES,
              "ratios": {f"faiss/exact search time, {r['pool']:,} passages x {r['queries']:,} queries":
                         r["ratio_faiss_over_exact"] for r in rows}}
    (out / "result.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print("     pool  queries   exact s   faiss s  faiss/exact  recall@30    @10  extra MB exact/faiss  nlist/nprobe")
    for r in rows:
        print(f"{r['pool']:>9,} {r['queries']:>8,}  {r['exact_s']:>8.2f}  {r['faiss_s']:>8.2f}"
              f"  {r['ratio_faiss_over_exact']:>11.3f}  {r['recall']:>9.4f} {r['recall_at_10']:.4f}"
              f"  {r['exact_extra_mb']:>10}/{r['faiss_extra_mb']:<10}  {r['nlist']}/{r['nprobe']}")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--pools", help="comma-separated pool sizes (default: the CASES of quick or full)")
    parser.add_argument("--queries", type=int, help="queries for each of --pools (default 10,000)")
    parser.add_argument("--scifact-only", action="store_true", help="only part 2 (prepare SciFact twice)")
    parser.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        method, pool, queries, ids = args.worker
        print(json.dumps(worker(method, int(pool), int(queries), ids)))
        return 0
    if args.scifact_only:
        OUT.mkdir(parents=True, exist_ok=True)
        scifact(OUT)
        return 0
    pools = [int(p) for p in args.pools.split(",")] if args.pools else None
    run(args.quick, OUT, pools, args.queries)
    return 0


if __name__ == "__main__":
    sys.exit(main())
