"""Hand-over to Infinity (`infinity-emb`): an exported reranker served by an engine production teams run.

    env = ensure_env(say)                       # .venv-infinity, created on first use
    proc = start(model_dir, port=7997, log=fh)  # `infinity_emb v2` on 127.0.0.1, supervised like ours
    wait_ready(base_url, proc)
    scores = rerank(base_url, query, documents)   # per document, in the order given

Infinity 0.0.78 pins sentence-transformers < 4 and numpy < 2, so it lives in its own environment
(like AutoTrain): `.venv-infinity` beside the project, or `$AUTORERANK_INFINITY_ENV`. It loads a model
folder as a reranker when the folder's config is a one-logit `*ForSequenceClassification`, which is
what `autorerank export` writes; its /rerank answers `relevance_score` = sigmoid(logit), so its
ranking is ours. Nothing here reaches the network: offline variables are set, and Infinity's
anonymous usage statistics are off.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Callable

from wrapper import procs, settings

#: what the environment installs (requirements/infinity.txt pins it)
REQUIREMENTS = settings.PROJECT_ROOT / "requirements" / "infinity.txt"
TORCH_PIN = "torch==2.13.0"  # the CPU wheel scripts/setup.sh installs
ENV_INFINITY_ENV = "AUTORERANK_INFINITY_ENV"
NO_TELEMETRY = {"INFINITY_ANONYMOUS_USAGE_STATS": "0", "DO_NOT_TRACK": "1"}


def env_dir() -> Path:
    """`$AUTORERANK_INFINITY_ENV`, else `./.venv-infinity` if it exists, else beside the source tree."""
    if os.environ.get(ENV_INFINITY_ENV):
        return Path(os.environ[ENV_INFINITY_ENV])
    local = Path(".venv-infinity")
    return local.resolve() if local.exists() else settings.PROJECT_ROOT / ".venv-infinity"


def _stamp() -> str:
    return f"{TORCH_PIN}\n{REQUIREMENTS.read_text(encoding='utf-8')}"


def installed(folder: Path | None = None) -> bool:
    folder = folder or env_dir()
    stamp = folder / ".autorerank-stamp"
    return (folder / "bin" / "infinity_emb").is_file() and stamp.is_file() and stamp.read_text() == _stamp()


def ensure_env(say: Callable[[str], None] = lambda m: print(m, file=sys.stderr)) -> Path:
    """Create or update the Infinity environment (a minute or two, once); return its folder."""
    folder = env_dir()
    if installed(folder):
        return folder
    say(f"infinity: setting up {folder} (infinity-emb and a CPU torch; once)")
    pip = [str(folder / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    steps = [[sys.executable, "-m", "venv", str(folder)], [*pip, TORCH_PIN], [*pip, "-r", str(REQUIREMENTS)]]
    for argv in steps[0 if not (folder / "bin" / "python").is_file() else 1:]:
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            from wrapper.errors import InputError

            raise InputError.at(folder, f"setting up {folder} failed ({' '.join(argv[-2:])}): "
                                f"{done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode}",
                                hint=f"check pip's access to PyPI, or point ${ENV_INFINITY_ENV} at an environment "
                                     "with infinity-emb[server,torch]==0.0.78")
    (folder / ".autorerank-stamp").write_text(_stamp(), encoding="utf-8")
    return folder


def argv(model_dir: Path, *, host: str = procs.LOCALHOST, port: int, batch_size: int = 32,
         dtype: str = "float32", env: Path | None = None) -> list[str]:
    """`infinity_emb v2` for one model folder on the CPU; `dtype` float32 or bfloat16 (our fp32/bf16)."""
    return [str((env or env_dir()) / "bin" / "infinity_emb"), "v2", "--model-id", str(Path(model_dir).resolve()),
            "--served-model-name", "model", "--host", host, "--port", str(port), "--engine", "torch",
            "--device", "cpu", "--dtype", dtype, "--batch-size", str(batch_size), "--no-model-warmup"]


def start(model_dir: Path, *, port: int, log, host: str = procs.LOCALHOST, batch_size: int = 32,
          dtype: str = "float32", env: Path | None = None):
    """Start Infinity in its own session (stopped with `procs.stop_tree`), output to `log`."""
    folder = env or env_dir()
    child_env = procs.child_env(offline=True, venv=folder, drop_tokens=True, extra=NO_TELEMETRY)
    return procs.start(argv(model_dir, host=host, port=port, batch_size=batch_size, dtype=dtype, env=folder),
                       env=child_env, stdout=log, stderr=log, die_with_parent=True)


def wait_ready(base_url: str, proc, timeout_s: float = 300) -> None:
    """Until GET /models answers (Infinity has loaded the model) or the process exits."""
    procs.wait_answering(base_url + "/models", proc, what="infinity", timeout_s=timeout_s)


def rerank(base_url: str, query: str, documents: list[str], client=None) -> list[float]:
    """Infinity's scores for `documents`, in the order given (its answer is sorted by score)."""
    import httpx

    body = {"query": query, "documents": documents, "model": "model", "return_documents": False}
    response = (client or httpx).post(base_url + "/rerank", json=body, timeout=120)
    response.raise_for_status()
    scores = [0.0] * len(documents)
    for item in response.json()["results"]:
        scores[item["index"]] = float(item["relevance_score"])
    return scores


__all__ = ["ENV_INFINITY_ENV", "argv", "ensure_env", "env_dir", "installed", "rerank", "start", "wait_ready"]
