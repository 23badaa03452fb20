"""The pick of an auto run: the best trial the gate found improved, a merge when the best forgot, or the base."""

from __future__ import annotations

import time
from pathlib import Path

from wrapper.auto import record as rec


def selection_map(run_dir: Path, selection) -> float:
    """MAP of a run's model on the selection split (an `EvalSet`)."""
    from wrapper.evaluate.models import load, run_ref
    from wrapper.gate import score_set
    from wrapper.run import Run

    ref = run_ref(Run.open(run_dir))
    return score_set(load(ref), ref.kind, selection).map


def choose(record: dict) -> dict:
    """The pick from the trials (and the merge) of a record: the best selection MAP among those the gate
    found `improved`; none: the base model, with the verdicts that ruled each trial out."""
    done = sorted((t for t in record["trials"] if t["state"] == "complete"), key=lambda t: -t["selection_map"])
    candidates = [(t["selection_map"], t["run_id"]) for t in done if (t.get("gate") or {}).get("verdict") == "improved"]
    merge = record.get("merge") or {}
    if (merge.get("gate") or {}).get("verdict") == "improved":
        candidates.append((merge["selection_map"], merge["run_id"]))
    if candidates:
        score, run_id = max(candidates)
        return {"run_id": run_id, "verdict": "improved", "selection_map": score, "model": None,
                "why": (f"the best selection MAP ({score:.4f}) among the {len(candidates)} model(s) the gate found "
                        "improved on the held-out split without forgetting a general set")}
    counts: dict[str, int] = {}
    for t in record["trials"]:
        key = (t.get("gate") or {}).get("verdict") or t["state"]
        counts[key] = counts.get(key, 0) + 1
    seen = ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "no trial finished"
    best = done[0] if done else None
    why = (f"keep the base model: no trial improved on the held-out split without forgetting ({seen})"
           + (f"; the best by selection MAP, t{best['number']:02d}, was {best['gate']['verdict']}" if best else "")
           + (f"; its merge with the base was {merge['gate']['verdict']}" if merge.get("gate") else ""))
    return {"run_id": "base", "why": why, "verdict": None, "selection_map": None, "model": None}


def make_pick(record, folder, deadline, runs_root, results, specs, selection, save, say) -> None:
    """The best trial (selection MAP) whose gate says improved; a merge of the best if it forgot; else the base."""
    from wrapper.gate import check_run
    from wrapper.merge import merge_run
    from wrapper.run import Run

    done = sorted((t for t in record["trials"] if t["state"] == "complete"), key=lambda t: -t["selection_map"])
    best = done[0] if done else None
    if best and best["gate"]["verdict"] == "forgot" and not record.get("merge"):
        left = deadline - time.monotonic()
        need = 4 * record.get("gate_s", 30.0)
        if left > need:
            say(f"the best trial t{best['number']:02d} forgot general ability: merge --auto with its base")
            t0 = time.monotonic()
            merged = merge_run(best["run_id"], auto=True, general=specs, runs=runs_root,
                               name=f"{folder.name}-merge", auto_queries=60)
            gate = check_run(Run.open(merged.run_dir), general=specs, results=results, runs=runs_root)
            Run.open(merged.run_dir).update(auto=folder.name, auto_trial="merge")
            record["merge"] = {"run_id": merged.run_dir.name, "from": best["run_id"],
                               "weight": merged.curve.chosen if merged.curve else None,
                               "selection_map": round(selection_map(merged.run_dir, selection), 4),
                               "weight_curve": str(merged.run_dir / "merge_curve.json"),
                               "gate": rec.gate_summary(gate.to_dict()), "seconds": round(time.monotonic() - t0, 1)}
            Run.open(merged.run_dir).update(auto_selection_map=record["merge"]["selection_map"])
            save()
        else:
            record["merge"] = {"skipped": f"the best trial forgot, but {left:.0f} s were left and a merge needs "
                                          f"about {need:.0f} s", "from": best["run_id"]}
            say(f"no merge: {record['merge']['skipped']}")
    record["pick"] = choose(record)
    if record["pick"]["run_id"] != "base":
        record["pick"]["model"] = str(Run.open(runs_root / record["pick"]["run_id"]).model_dir)
    say(f"pick: {record['pick']['run_id']}: {record['pick']['why']}")
    save()


__all__ = ["choose", "make_pick", "selection_map"]
