"""Run every benchmark of the project and write one table (markdown + JSON).

    .venv/bin/python -m bench                 # full run (tens of minutes on 2 cores)
    .venv/bin/python -m bench --quick         # small sizes, a few minutes
    .venv/bin/python -m bench --only prepare,eval

Each benchmark module exposes `run(quick: bool, out: Path) -> dict` and writes only
under `out` (here `<--out>/<name>`). Every figure that is a
ratio against a baseline measured in the same run is collected into
`bench/out/summary.md` and `bench/out/summary.json`.
"""

from __future__ import annotations

import argparse
import importlib
import json
import platform
import sys
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path

#: name -> (module, what it compares)
BENCHMARKS = {
    "prepare": ("bench.bench_prepare", "prepare + mining vs sentence-transformers mine_hard_negatives; 1M-row streaming"),
    "train": ("bench.bench_train", "wrapper overhead vs bare `autotrain --config`; cross-encoder backend vs plain ST script"),
    "eval": ("bench.bench_eval", "`autorerank eval` pairs/s vs direct CrossEncoder.predict; cached re-evaluation"),
    "ann": ("bench.bench_ann", "mining's search: FAISS IVF vs the exact stream up to 1M passages; FAISS vs exact negatives on scifact"),
    "leaderboard": ("bench.bench_leaderboard", "leaderboard cold load of 1,000 result files"),
    "generate": ("bench.bench_generate", "`generate` on 1,000 chunks, 8 in flight, stand-in LLM vs a bare httpx pool; cached re-run"),
    "serve": ("bench.bench_serve", "`autorerank serve` at 1/8/32 clients (p50/p99, pairs/s) vs direct CrossEncoder.predict"),
    "precision": ("bench.bench_precision", "bf16 vs fp32 (and ONNX int8) scoring: pairs/s, MAP difference, rank agreement"),
    "quality": ("bench.quality", "fine-tuning quality on scifact and cmrc2018 (MAP, MRR@10, NDCG@10)"),
}

OUT = Path(__file__).resolve().parent / "out"


def fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def render(summary: dict) -> list[str]:
    """One markdown table: every headline figure against its named baseline measured in the same run."""
    lines = [
        f"# autorerank benchmarks ({'quick' if summary['quick'] else 'full'} run, {summary['started_at']})",
        "",
        f"Machine: {summary['machine']['cpus']} CPUs, Python {summary['machine']['python']}. "
        "Every baseline is measured in the same run; ratio = ours / baseline. "
        "All figures: `bench/out/summary.json`.",
        "",
        "| benchmark | figure | ours | baseline (same run) | ratio | goal | met |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, entry in summary["benchmarks"].items():
        if not entry["ok"]:
            lines.append(f"| {name} | **failed** ({entry['seconds']} s) | {entry['error']} | | | | |")
            continue
        for row in importlib.import_module(BENCHMARKS[name][0]).headline(entry["result"]):
            met = {True: "yes", False: "**no**", None: ""}[row["met"]]
            lines.append(f"| {name} | {row['figure']} | {row['ours']} | {row['baseline']} | {fmt(row['ratio'])}x "
                         f"| {row['goal']} | {met} |")
        lines.append(f"| {name} | benchmark wall time | {entry['seconds']} s | | | | |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes (minutes, for CI)")
    parser.add_argument("--only", default="", help="comma-separated subset of: " + ", ".join(BENCHMARKS))
    parser.add_argument("--out", type=Path, default=OUT, help="where summary.md and summary.json go (default: bench/out)")
    args = parser.parse_args(argv)
    out = args.out

    selected = [s for s in args.only.split(",") if s] or list(BENCHMARKS)
    unknown = [s for s in selected if s not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; choose from {list(BENCHMARKS)}")

    out.mkdir(parents=True, exist_ok=True)
    summary = {
        "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "quick": args.quick,
        "machine": {"python": platform.python_version(), "cpus": __import__("os").cpu_count(), "platform": platform.platform()},
        "benchmarks": {},
    }
    failed = []
    for name in selected:
        module_name, what = BENCHMARKS[name]
        print(f"\n=== {name}: {what}", flush=True)
        t0 = time.perf_counter()
        try:
            module = importlib.import_module(module_name)
            result = module.run(quick=args.quick, out=out / name)
            summary["benchmarks"][name] = {"ok": True, "seconds": round(time.perf_counter() - t0, 1), "result": result}
        except Exception as exc:  # one failing benchmark must not hide the others
            traceback.print_exc()
            failed.append(name)
            summary["benchmarks"][name] = {"ok": False, "seconds": round(time.perf_counter() - t0, 1), "error": f"{type(exc).__name__}: {exc}"}
        (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str))

    lines = render(summary)
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    print("\n" + "\n".join(lines))
    print(f"\nwritten: {out / 'summary.md'} and {out / 'summary.json'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
