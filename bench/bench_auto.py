"""`autorerank auto` on real data against the hand-made rows of `bench.quality`.

    .venv/bin/python -m bench.bench_auto --dataset scifact --budget 30m
    .venv/bin/python -m bench.bench_auto --dataset cmrc2018 --budget 30m

The training data is `bench.quality`'s (prepared by it, reused when stored: the same training
queries, its 10% held-out split is the gate's). `auto` searches within the budget with the other
dataset's dev set and the shipped set as general sets, as every quality gate does; its pick is
then scored on the dataset's dev set (150 queries the search never saw) and set against every
hand-made row of the last quality report (`bench/out/quality/full/quality.json`), with the gate's
verdicts beside it. Writes `bench/out/auto/<dataset>.json` and prints one markdown row.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"


def _hand_rows(quality: dict, dataset: str) -> dict[str, float]:
    """Dev MAP of every fine-tune of the quality report on `dataset` (baselines such as BM25 left out)."""
    entry = (quality.get("datasets") or {}).get(dataset) or {}
    rows = {label.removeprefix("fine-tuned: "): m.get("map") for label, m in (entry.get("models") or {}).items()
            if label.startswith("fine-tuned: ") and isinstance(m, dict) and m.get("map") is not None}
    for label, row in (entry.get("from_reranker") or {}).items():
        rows[label] = (row.get("fine_tuned") or {}).get("map")
    return {k: v for k, v in rows.items() if v is not None}


def run(dataset: str, budget_s: float, out: Path | None = None, quick: bool = False, fresh: bool = False) -> dict:
    from bench import quality
    from bench.reuse import Ledger
    from wrapper.auto import run_auto
    from wrapper.evaluate import evaluate
    from wrapper.gate import DEFAULT_GENERAL

    work = (out or OUT) / "quality" / ("quick" if quick else "full")
    ledger = Ledger(work / "rows", log=lambda line: print(f"[auto] {line}", file=sys.stderr, flush=True))
    plans = {p.name: p for p in quality._plans(work, quick)}
    if dataset not in plans:
        raise SystemExit(f"--dataset: expected one of {', '.join(plans)}")
    plan = plans[dataset]
    dev, dev_dir = quality._prepare_row(ledger, plan, "dev", work / "data")
    _, train_dir = quality._prepare_row(ledger, plan, "train", work / "data")
    general = [str(quality._prepare_row(ledger, other, "dev", work / "data")[1])
               for name, other in plans.items() if name != dataset] + [DEFAULT_GENERAL]
    started = time.monotonic()
    result = run_auto(train_dir, budget_s=budget_s, general=general, runs=work / "runs", results=work / "results",
                      name=f"auto-{dataset}", fresh=fresh, say=lambda msg: print(f"[auto] {msg}", file=sys.stderr, flush=True))
    wall = time.monotonic() - started
    record, pick = result.record, result.record["pick"]
    scores = None
    if pick["run_id"] != "base":
        report = evaluate(pick["run_id"], datasets=[dev_dir], splits=["validation"], results=work / "results",
                          runs=work / "runs", include_base=True, show_progress=False)
        scores = {r["role"]: r["scores"].get("map_at_1000") for r in report.rows}
    report_file = work / "quality.json"
    hand = _hand_rows(json.loads(report_file.read_text()), dataset) if report_file.is_file() else {}
    out_file = (out or OUT) / "auto" / f"{dataset}.json"
    out_file.parent.mkdir(parents=True, exist_ok=True)
    summary = {"dataset": dataset, "budget_s": budget_s, "wall_s": round(wall, 1), "record": record,
               "pick_dev_map": (scores or {}).get("fine-tune"), "base_dev_map": (scores or {}).get("base"),
               "hand_rows_dev_map": hand, "best_hand_row": max(hand.items(), key=lambda kv: kv[1]) if hand else None}
    out_file.write_text(json.dumps(summary, indent=2), encoding="utf-8")
    print(markdown(summary))
    return summary


def markdown(summary: dict) -> str:
    record, pick = summary["record"], summary["record"]["pick"]
    best = summary.get("best_hand_row")
    gate = next((t.get("gate") for t in record["trials"] if t["run_id"] == pick["run_id"]), None) or \
        ((record.get("merge") or {}).get("gate") if (record.get("merge") or {}).get("run_id") == pick["run_id"] else None)
    general = ", ".join(f"{g['name']} {g['verdict']}" for g in (gate or {}).get("general", []))
    trials = len([t for t in record["trials"] if t["state"] == "complete"])
    pick_map = summary.get("pick_dev_map")
    return (f"| {summary['dataset']} | auto pick {pick['run_id']} ({trials} trials, {summary['wall_s']:.0f} s of "
            f"{summary['budget_s']:.0f} s) | {pick_map if pick_map is None else f'{pick_map:.4f}'} | "
            f"best hand row {best[0] if best else '-'}: {best[1] if best else '-'} | "
            f"{(gate or {}).get('verdict', pick['why'])}; {general} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", required=True, help="scifact or cmrc2018")
    parser.add_argument("--budget", default="30m", help="auto's budget (default 30m)")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--fresh", action="store_true", help="start the search over instead of resuming it")
    args = parser.parse_args(argv)
    from wrapper.cli.auto import parse_budget

    run(args.dataset, parse_budget(args.budget), args.out, fresh=args.fresh)
    return 0


if __name__ == "__main__":
    sys.exit(main())
