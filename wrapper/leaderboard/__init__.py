"""The leaderboard over `results/` (mteb cache + autorerank/metadata.json) and `runs/`.

- `loaders`: pure, never-raising readers (bad files become `Problem`s), over
             `common`, `fingerprints`, `mteb_results`, `reference` and `runs`.
- `tables`:  filters, models x tasks table, fine-tune vs base deltas, colours.
- `figures`: altair charts.
- `ui`:      Streamlit wiring (the only module that imports Streamlit);
             pages live in `dashboards/`.
"""

from pathlib import Path

#: the Streamlit entry script run by `autorerank leaderboard`
ENTRY_SCRIPT = Path(__file__).resolve().parents[2] / "dashboards" / "leaderboard.py"
