"""The auto run's record, `auto.json`, and the table `autorerank auto` prints from it.

    {"budget_s", "elapsed_s", "state": "running | succeeded | interrupted",
     "dataset", "base_model", "routes", "probe": {length: seconds per example},
     "selection_split": {"dataset", "split": "selection", "queries", "seed", "group_by"},
     "gate_split": {"dataset", "split": "validation", "queries"},
     "search": {"library", "sampler", "storage", "priors"},
     "trials": [{"number", "recipe", "label", "run_id", "backend", "task", "selection_map", "seconds",
                 "state": "complete | failed | stopped | interrupted", "cause", "gate": {"verdict", "base",
                 "fine_tuned", "delta", "ci", "general": [{"name", "verdict", "delta"}]}}],
     "merge": null | {"run_id", "from", "selection_map", "gate": {...}},
     "pick": {"run_id": "<run id> | base", "why", "verdict", "selection_map", "model"}}

Written atomically after every trial, so a killed search leaves a record that the next one resumes.
"""

from __future__ import annotations

from pathlib import Path

from wrapper.jsonio import read_json, write_json

AUTO_JSON = "auto.json"


def load(folder: Path) -> dict | None:
    path = Path(folder) / AUTO_JSON
    return read_json(path) if path.is_file() else None


def save(folder: Path, record: dict) -> None:
    write_json(Path(folder) / AUTO_JSON, record)


def gate_summary(gate: dict | None) -> dict | None:
    """The part of a gate record a trial row keeps."""
    if not gate:
        return None
    return {"verdict": gate.get("verdict"), "base": gate.get("base"), "fine_tuned": gate.get("fine_tuned"),
            "delta": gate.get("delta"), "ci": gate.get("ci"),
            "general": [{"name": g.get("name"), "verdict": g.get("verdict"), "delta": g.get("delta")}
                        for g in gate.get("general") or []]}


def _num(value, fmt: str = ".4f") -> str:
    return "-" if value is None else format(value, fmt)


def table(record: dict) -> str:
    """The trials, best selection MAP first, and the pick, as fixed-width text."""
    rows = sorted(record.get("trials", []), key=lambda t: -(t.get("selection_map") or -1))
    head = f"{'trial':<6}{'recipe':<46}{'select MAP':>11}{'seconds':>9}  {'gate (held-out, general)':<40}"
    lines = [head, "-" * len(head)]
    for t in rows:
        gate = t.get("gate") or {}
        general = ", ".join(f"{g['name']} {g['verdict']}" for g in gate.get("general") or [])
        verdict = gate.get("verdict") or t.get("state")
        delta = f" {gate['delta']:+.4f}" if gate.get("delta") is not None else ""
        lines.append(f"{'t%02d' % t['number']:<6}{t.get('label', '')[:45]:<46}{_num(t.get('selection_map')):>11}"
                     f"{_num(t.get('seconds'), '.0f'):>9}  {verdict}{delta}" + (f"; {general}" if general else ""))
    merge = record.get("merge")
    if merge:
        gate = merge.get("gate") or {}
        lines.append(f"{'merge':<6}{('merge --auto of ' + merge['from'])[:45]:<46}{_num(merge.get('selection_map')):>11}"
                     f"{_num(merge.get('seconds'), '.0f'):>9}  {gate.get('verdict')}")
    pick = record.get("pick") or {}
    if pick:
        lines.append("")
        lines.append(f"pick: {pick.get('run_id')} ({pick.get('verdict') or 'the base model'}): {pick.get('why')}")
    lines.append(f"time: {record.get('elapsed_s', 0):.0f} s of a {record.get('budget_s', 0):.0f} s budget; "
                 f"chosen on the {record.get('selection_split', {}).get('split')} split "
                 f"({record.get('selection_split', {}).get('queries')} training queries held out), judged on "
                 f"the untouched {record.get('gate_split', {}).get('split')} split "
                 f"({record.get('gate_split', {}).get('queries')} queries)")
    return "\n".join(lines)


__all__ = ["AUTO_JSON", "gate_summary", "load", "save", "table"]
