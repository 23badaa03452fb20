"""Leaderboard cold load of 1,000 mteb result files (goal: <= 2 s on 2 shared cores).

    .venv/bin/python -m bench.bench_leaderboard [--quick]

Measured in one run on the same generated folder (`tests/leaderboard_fixtures.build_many`:
real mteb TaskResult files + model_meta.json + autorerank/metadata.json, 4 tasks per model):

- ours:      `loaders.load_results` + `tables.combine` + `tables.leaderboard_table`
             (no st.cache_data: what the first page view costs)
- baseline:  `mteb.ResultCache(path).load_results(tasks=[...])`, mteb's own reader of the
             same folder, which gives only TaskResult objects, no table (named tasks keep it
             off autorerank/metadata.json, which it would try to parse as a TaskResult and fail on)
- baseline2: `mteb.TaskResult.from_disk` for every task file (mteb's per-file parser)
- cached:    `loaders.results_fingerprint` alone: what a rerun costs when nothing changed

Figures are medians of `repeats` runs. Every ratio is ours / baseline, as in every
bench module: our time / the baseline's time (below 1 = we are faster).
"""

from __future__ import annotations

import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = Path(__file__).resolve().parent / "out" / "leaderboard"


def _median_time(fn, repeats: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def run(quick: bool = False, out: Path | None = None) -> dict:
    folder = Path(out or OUT)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import mteb

    from tests.leaderboard_fixtures import build_many
    from wrapper.leaderboard import loaders, tables

    sizes = [1000] if quick else [1000, 4000]
    repeats = 3 if quick else 5
    folder.mkdir(parents=True, exist_ok=True)
    result: dict = {"goal_s": 2.0, "repeats": repeats, "sizes": {}}
    for n in sizes:
        work = Path(tempfile.mkdtemp(prefix="bench-leaderboard-", dir=folder))
        try:
            t0 = time.perf_counter()
            results = build_many(work, n_files=n)
            gen_s = time.perf_counter() - t0
            task_files = [p for p in results.glob("results/*/*/*.json") if p.name not in loaders.NON_TASK_FILES]
            task_names = sorted({p.stem for p in task_files})
            ref_rows, _ = loaders.load_reference()

            def ours():
                loaded = loaders.load_results(results)
                df = tables.combine(loaded, ref_rows)
                return loaded, tables.leaderboard_table(df, "main_score", {})

            def resultcache():
                return mteb.ResultCache(results).load_results(tasks=task_names, include_remote=False)

            def from_disk():
                return [mteb.TaskResult.from_disk(p) for p in task_files]

            ours()  # warm imports and the OS file cache for everyone alike
            ours_s, (loaded, table) = _median_time(ours, repeats)
            rc_s, bench_results = _median_time(resultcache, repeats)
            fd_s, _ = _median_time(from_disk, repeats)
            fp_s, fp = _median_time(lambda: loaders.results_fingerprint(results), repeats)
            n_rc = sum(len(m.task_results) for m in bench_results.model_results)
            assert len(loaded.rows) == len(task_files) == n_rc, (len(loaded.rows), len(task_files), n_rc)
            assert not loaded.problems
            result["sizes"][str(n)] = {
                "files": len(task_files),
                "models": int(table.shape[0]) - 3,  # minus the published reference rows
                "generate_s": round(gen_s, 3),
                "ours_cold_load_s": round(ours_s, 4),
                "baseline_mteb_ResultCache_s": round(rc_s, 4),
                "baseline_mteb_TaskResult_from_disk_s": round(fd_s, 4),
                "cached_rerun_fingerprint_s": round(fp_s, 4),
                "time_ratio_ours_over_ResultCache": round(ours_s / rc_s, 3),
                "time_ratio_ours_over_TaskResult_from_disk": round(ours_s / fd_s, 3),
                "cached_rerun_vs_cold_load": round(fp_s / ours_s, 3),
                "meets_goal": ours_s <= 2.0,
                "fingerprint_entries": len(fp),
            }
        finally:
            shutil.rmtree(work, ignore_errors=True)
    (folder / "leaderboard.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


def main(argv: list[str] | None = None) -> int:
    quick = "--quick" in (argv if argv is not None else sys.argv[1:])
    res = run(quick=quick)
    for r in res["sizes"].values():
        print(f"{r['files']} result files, {r['models']} models (median of {res['repeats']}):")
        print(f"  ours cold load + table           {r['ours_cold_load_s']:.3f} s   goal <= {res['goal_s']} s: {'met' if r['meets_goal'] else 'MISSED'}")
        print(f"  baseline mteb.ResultCache        {r['baseline_mteb_ResultCache_s']:.3f} s   -> ours/baseline {r['time_ratio_ours_over_ResultCache']:.3f}")
        print(f"  baseline TaskResult.from_disk    {r['baseline_mteb_TaskResult_from_disk_s']:.3f} s   -> ours/baseline {r['time_ratio_ours_over_TaskResult_from_disk']:.3f}")
        print(f"  cached rerun (fingerprint only)  {r['cached_rerun_fingerprint_s']:.4f} s   = {r['cached_rerun_vs_cold_load']:.3f}x of a cold load")
    print(f"wrote {OUT / 'leaderboard.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


def headline(result: dict) -> list[dict]:
    """The figures for the one-table summary (see bench/__main__.py)."""
    rows = []
    for n, s in result["sizes"].items():
        rows.append({"figure": f"leaderboard cold load, {int(n):,} result files", "ours": f"{s['ours_cold_load_s']} s",
                     "baseline": f"`mteb.ResultCache` load: {s['baseline_mteb_ResultCache_s']} s",
                     "ratio": s["time_ratio_ours_over_ResultCache"],
                     "goal": "<= 2 s", "met": s["ours_cold_load_s"] <= result["goal_s"]})
    return rows
