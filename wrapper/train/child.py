"""What every training backend's child needs and leaves: its environment, and a model folder check."""

from __future__ import annotations

from pathlib import Path

from wrapper import settings


def child_env(*, venv: Path | None = None, offline: bool | None = None, base: dict | None = None,
              project_path: bool = False) -> dict[str, str]:
    """Environment for a training child (`wrapper.procs.child_env` plus the trainer's switches).

    `venv`'s bin/ goes first on PATH (AutoTrain runs a bare `accelerate`). When the Hub
    is unreachable the HF offline switches are set so nothing waits on the network.
    tqdm bars are switched off: progress comes from the log lines.
    """
    from wrapper.procs import child_env as base_env

    if offline is None:
        offline = not settings.hub_reachable()
    env = base_env(base=base, venv=venv, offline=offline, project_path=project_path)
    env.update(
        TQDM_DISABLE="1",
        PAUSE_ON_FAILURE="0",  # AutoTrain would try to pause a HF Space on failure
        WANDB_DISABLED=env.get("WANDB_DISABLED", "true"),
    )
    return env


def model_files_ok(folder: Path) -> bool:
    """A loadable model folder: a config plus weights (and for ST models, modules.json)."""
    folder = Path(folder)
    if not (folder / "config.json").exists():
        return False
    weights = ("model.safetensors", "pytorch_model.bin")
    return any((folder / w).exists() for w in weights) or any(folder.glob("model-*.safetensors"))
