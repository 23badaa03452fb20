"""The rows of `bench.quality`: each stage of the tool, run once per key (see `bench.reuse`).

A row's `inputs` hold everything its result depends on (parameters, the keys of the
rows it builds on); `bench.reuse.Ledger.row` adds the code and library versions.
"""

from __future__ import annotations

from pathlib import Path

from bench.reuse import Ledger, Row, digest
from wrapper import jsonio

#: general-domain sets every gate of the bench checks besides the other datasets' dev sets
SHIPPED_GENERAL = "default"


def prepare_row(ledger: Ledger, name: str, source: Path, options, out: Path) -> Row:
    from wrapper.prepare import prepare

    return ledger.row(f"{name}: prepare", {"source": digest(source), "options": options},
                      lambda: {"queries": prepare([source], out, options).manifest.get("counts", {}).get("queries")},
                      outputs=(out,))


def train_row(ledger: Ledger, name: str, cfg: Path, inputs: dict, runs: Path, run_id: str) -> Row:
    """Train only when the config, the data or the code changed."""
    from wrapper.train import train_run

    def measure() -> dict:
        train_run(cfg, runs_dir=runs, run_id=run_id, progress=False)
        status = jsonio.read_json(runs / run_id / "status.json")
        if status.get("state") != "succeeded":
            raise RuntimeError(f"{run_id}: training ended {status.get('state')}: {status.get('cause')}")
        return {"run_id": run_id, "steps": (status.get("steps") or {}).get("done")}

    return ledger.row(name, inputs, measure, outputs=(runs / run_id,))


def _gate_summary(gate: dict) -> dict:
    keep = {k: gate[k] for k in ("verdict", "base", "fine_tuned", "delta", "ci", "spread") if k in gate}
    keep["general"] = [{k: g.get(k) for k in ("name", "base", "fine_tuned", "delta", "ci", "queries", "verdict")}
                       for g in gate.get("general", [])]
    return keep


def gate_row(ledger: Ledger, name: str, run: Row, general: dict[str, str], work: Path) -> Row:
    """The gate on the run's held-out split and on `general` (spec -> the key of the row that built it)."""
    from wrapper.gate import check_run

    def measure() -> dict:
        gate = check_run(work / "runs" / run.result["run_id"], results=work / "results", runs=work / "runs",
                         general=list(general)).to_dict()
        return _gate_summary(gate)

    return ledger.row(name, {"run": run.key, "general": sorted(general.values())}, measure)


def eval_row(ledger: Ledger, name: str, model: str, model_key: str, dev: Row, dev_dir: Path, work: Path) -> Row:
    """mteb scores of `model` on the dev set; the time is the harness's, around the whole call."""
    from wrapper.evaluate import evaluate

    def measure() -> dict:
        report = evaluate(model, datasets=[dev_dir], splits=["validation"], results=work / "results",
                          runs=work / "runs", include_base=False, overwrite=True)
        row = [r for r in report.rows if r.get("role") != "base"][0]
        s = row["scores"]
        return {"map": s.get("map_at_1000"), "mrr_at_10": s.get("mrr_at_10"), "ndcg_at_10": s.get("ndcg_at_10")}

    return ledger.row(name, {"model": model_key, "data": dev.key}, measure)


def merge_row(ledger: Ledger, name: str, run: Row, general: dict[str, str], work: Path, *,
              tolerance: float | None = None, queries: int | None = None) -> Row:
    """`autorerank merge RUN --auto` against the run's base, then its gate (in domain and on `general`)."""
    from wrapper.gate import check_run
    from wrapper.merge import merge_run

    merged_id = f"{run.result['run_id']}-merged"

    def measure() -> dict:  # the ledger clears the old merged run folder (its `outputs`) first
        kwargs = {} if queries is None else {"auto_queries": queries}
        result = merge_run(run.result["run_id"], auto=True, name=merged_id, runs=work / "runs",
                           general=list(general), auto_tolerance=tolerance, **kwargs)
        gate = check_run(result.run_dir, results=work / "results", runs=work / "runs", general=list(general))
        return {"run_id": merged_id, "weight": result.curve.chosen, "reason": result.curve.reason,
                "curve": result.curve.to_dict()["points"], "tolerance": result.curve.tolerance,
                "gate": _gate_summary(gate.to_dict())}

    return ledger.row(name, {"run": run.key, "general": sorted(general.values()), "tolerance": tolerance,
                             "queries": queries}, measure, outputs=(work / "runs" / merged_id,))
