"""The trials of each `autorerank auto` run, grouped (pure table building from `runs/*/status.json`).

A trial's status.json says `"auto": "<auto run id>"`, `"auto_trial": N` and its
`"auto_selection_map"`; the auto run's own status.json (backend "auto") holds the pick.
"""

from __future__ import annotations

from typing import Mapping

from wrapper.leaderboard.runs import RunInfo


def auto_table(runs: Mapping[str, RunInfo]):
    """One row per trial (and per merge of an auto run), grouped by auto run, best selection MAP first."""
    import pandas as pd

    picks = {info.run_id: (info.status.get("pick") or {}).get("run_id") for info in runs.values()
             if info.status.get("backend") == "auto"}
    rows = []
    seen = set()
    for info in runs.values():
        auto_id = info.status.get("auto")
        if not auto_id or info.status.get("backend") == "auto" or info.run_id in seen:
            continue
        seen.add(info.run_id)
        rows.append({"Auto run": auto_id, "Trial": info.status.get("auto_trial"), "Run": info.run_id,
                     "Task": info.status.get("task"), "Selection MAP": info.status.get("auto_selection_map"),
                     "Gate": info.verdict or info.status.get("state"),
                     "Picked": "yes" if picks.get(auto_id) == info.run_id else ""})
    frame = pd.DataFrame(rows, columns=["Auto run", "Trial", "Run", "Task", "Selection MAP", "Gate", "Picked"])
    if frame.empty:
        return frame
    return frame.sort_values(["Auto run", "Selection MAP"], ascending=[True, False], na_position="last",
                             ignore_index=True)
