"""`autorerank studio`: the whole loop in the browser (data -> train -> evaluate -> compare -> try it).

- `jobs`:       our own CLI as supervised child processes (argv lists, logs, re-attach after a reload).
- `data`:       uploads (only under data/raw/uploads/), typed paths, prepare's own detection, the
                prepare job's argv, prepared datasets and their manifests.
- `training`:   tasks, presets, the rendered config, train / eval / AutoTrain-UI jobs, run folders.
- `playground`: rank passages with the base and fine-tunes side by side.
- `serve`:      runs the Streamlit app on 127.0.0.1 (what the CLI calls).
- `ui_*`:       Streamlit wiring of each page (the only modules here that import Streamlit);
                the page scripts live in `dashboards/studio_pages/`, the entry in `dashboards/studio.py`.
"""

from pathlib import Path

#: the Streamlit entry script run by `autorerank studio`
ENTRY_SCRIPT = Path(__file__).resolve().parents[2] / "dashboards" / "studio.py"
