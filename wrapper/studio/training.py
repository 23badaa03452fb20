"""The studio's Train, Evaluate and Playground choices, as library functions.

Train: the tasks and presets come from `wrapper.config` (`TASKS`, `preset_for`); the
YAML shown before launch is what `autorerank config` writes (`render_config`, rendered
into a scratch folder); a launch writes `autotrain_configs/<name>.yml` and starts
`python -m wrapper train CONFIG --run-id ID` as a job. The run folder (`status.json`,
`metrics.jsonl`) is read back through `wrapper.run.Run` and the leaderboard's
loaders. Evaluate: `python -m wrapper eval RUN|MODEL --dataset D --split S` as a job.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wrapper import settings

BASE_MODEL_CHOICES = ("bundled", "BAAI/bge-reranker-base", "BAAI/bge-reranker-large", "BAAI/bge-reranker-v2-m3",
                      "maidalun1020/bce-reranker-base_v1", "cross-encoder/ms-marco-MiniLM-L6-v2",
                      "mixedbread-ai/mxbai-rerank-base-v1", "Alibaba-NLP/gte-reranker-modernbert-base",
                      "tomaarsen/Qwen3-Reranker-0.6B-seq-cls")
#: the Task box's first entry: the task `autorerank config` picks for the base model
RECOMMENDED = "recommended for this base"
#: the params the Train page shows per backend family (the rest stay at the preset, see the YAML)
KEY_PARAMS = {
    "st": ("epochs", "lr", "batch_size", "max_seq_length"),
    "text_regression": ("epochs", "lr", "batch_size", "max_seq_length"),
    "cross-encoder": ("epochs", "lr", "batch_size", "max_seq_length", "max_steps"),
    "flagembedding": ("num_train_epochs", "learning_rate", "per_device_train_batch_size", "train_group_size",
                      "query_max_len", "passage_max_len", "max_steps"),
}
TASK_HELP = {
    "text_regression": "AutoTrain (its own environment) refines the reranker's own head on pair texts",
    "st:": "AutoTrain (its own environment) trains a bi-encoder on the triplets",
    "cross-encoder:": "our sentence-transformers CrossEncoder backend: a true reranker",
    "flagembedding:": "FlagEmbedding's encoder-only reranker fine-tune",
}


def tasks() -> list[str]:
    """Every training task `autorerank config` accepts (wrapper.config.TASKS)."""
    from wrapper.config import TASKS

    return list(TASKS)


def task_help(task: str) -> str:
    return next((text for prefix, text in TASK_HELP.items() if task.startswith(prefix)), "")


def family(task: str) -> str:
    from wrapper.config.render import _family

    return _family(task)


def plan(dataset_dir: str | os.PathLike, *, base_model: str, task: str | None, name: str = "studio",
         params: dict[str, Any] | None = None):
    """What `autorerank config` would write (a `wrapper.config.ConfigPlan`: the dict, the task and why, notes)."""
    from wrapper.config import build_config

    return build_config(Path(dataset_dir), base_model=base_model, name=name, task=task, **_clean(params or {}))


def recommended_task(dataset_dir: str | os.PathLike, base_model: str) -> tuple[str, str]:
    """(task, why) that `autorerank config` picks for this base model and dataset."""
    chosen = plan(dataset_dir, base_model=base_model, task=None)
    return chosen.raw["task"], chosen.route.reason


def sizing_lines(dataset_dir: str | os.PathLike, *, base_model: str, task: str, params: dict[str, Any],
                 probe: bool = True) -> list[str]:
    """Parameters, memory, time per epoch and what would fit (`wrapper.sizing`), as `config` prints them."""
    from wrapper.sizing import estimate

    return estimate(plan(dataset_dir, base_model=base_model, task=task, params=params), probe=probe).lines()


def preset_params(base_model: str, task: str) -> dict[str, Any]:
    """The preset's params for this base model and task, plus None for the key params it leaves unset."""
    from wrapper import basemodel
    from wrapper.config import preset_for

    key, preset = preset_for(base_model, reranker=basemodel.inspect(base_model).is_reranker)
    fam = family(task)
    params = dict(preset[fam])
    for name in KEY_PARAMS[fam]:
        params.setdefault(name, None)
    return {"preset": key, **params}


def config_name(dataset_dir: str | os.PathLike, base_model: str, task: str) -> str:
    """The config name `autorerank config` gives (`wrapper.config.default_name`)."""
    from wrapper.config import default_name

    return default_name(dataset_dir, base_model, task)


def render_yaml(dataset_dir: str | os.PathLike, *, name: str, base_model: str, task: str,
                params: dict[str, Any]) -> str:
    """The text `autorerank config` would write for these choices (validated; nothing is written here)."""
    from wrapper.config import render_config

    final = settings.configs_dir() / f"{name}.yml"
    with tempfile.TemporaryDirectory(prefix="studio-config-") as scratch:
        path = render_config(Path(dataset_dir), name=name, out_dir=Path(scratch), base_model=base_model, task=task,
                             **_clean(params))
        return path.read_text(encoding="utf-8").replace(str(path), str(final))


def _clean(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if k != "preset" and v is not None}


def write_config(dataset_dir: str | os.PathLike, *, name: str, base_model: str, task: str,
                 params: dict[str, Any]) -> Path:
    """Write `autotrain_configs/<name>.yml` (replacing one of that name) and return its path."""
    from wrapper.config import render_config

    return render_config(Path(dataset_dir), name=name, base_model=base_model, task=task, overwrite=True,
                         out_dir=settings.configs_dir(), **_clean(params))


def new_run_id(name: str) -> str:
    from wrapper.run import make_run_id

    return make_run_id(name, settings.runs_dir())


def train_argv(config_path: str | os.PathLike, run_id: str, *, general: bool = True) -> list[str]:
    """`python -m wrapper train CONFIG --run-id ID --no-progress [--no-general]` (runs in $AUTORERANK_RUNS)."""
    from wrapper.studio.jobs import python_cli

    args = ["train", os.fspath(config_path), "--run-id", run_id, "--no-progress"]
    if not general:
        args.append("--no-general")
    return python_cli(*args)


def ui_argv(port: int | None = None, *, dataset_dir: str | os.PathLike | None = None,
            base_model: str | None = None) -> list[str]:
    """`python -m wrapper ui --port 8080` (AutoTrain's own UI on 127.0.0.1); with a dataset, ready for the
    reranker route (`--dataset D --base-model B`: Text Regression and the pair CSVs)."""
    from wrapper import procs
    from wrapper.studio.jobs import python_cli

    extra = ["--dataset", os.fspath(dataset_dir), "--base-model", base_model] if dataset_dir and base_model else []
    return python_cli("ui", "--port", str(port or procs.DEFAULT_UI_PORT), "--host", procs.LOCALHOST, *extra)


def auto_name(dataset_dir: str | os.PathLike, base_model: str) -> str:
    from wrapper.auto import default_name

    return default_name(dataset_dir, base_model)


def auto_argv(dataset_dir: str | os.PathLike, base_model: str, minutes: float, *, general: bool = True) -> list[str]:
    """`python -m wrapper auto D --budget Nm --base-model B --name ID` (runs in $AUTORERANK_RUNS)."""
    from wrapper.studio.jobs import python_cli

    args = ["auto", os.fspath(dataset_dir), "--budget", f"{minutes:g}m", "--base-model", base_model,
            "--name", auto_name(dataset_dir, base_model)]
    return python_cli(*args, *([] if general else ["--no-general"]))


def read_auto(run_id: str) -> dict | None:
    """An auto run's record (auto.json), or None before the search wrote it."""
    from wrapper.auto import record

    return record.load(settings.runs_dir() / run_id)


def trials_frame(auto_record: dict):
    """The trials of an auto run as a table: trial, recipe, selection MAP, seconds, gate."""
    import pandas as pd

    rows = []
    for t in auto_record.get("trials", []):
        gate = t.get("gate") or {}
        rows.append({"trial": f"t{t['number']:02d}", "recipe": t.get("label"), "selection MAP": t.get("selection_map"),
                     "seconds": t.get("seconds"), "gate": gate.get("verdict") or t.get("state"),
                     "Δ held-out": gate.get("delta"), "run": t.get("run_id")})
    return pd.DataFrame(rows, columns=["trial", "recipe", "selection MAP", "seconds", "gate", "Δ held-out", "run"])


def eval_argv(model: str, dataset_dir: str | os.PathLike, split: str = "validation", *, tasks: str = "",
              mteb_data: str = "") -> list[str]:
    """`python -m wrapper eval MODEL --dataset D --split S [--tasks local,T...] [--mteb-data DIR]`
    (results in $AUTORERANK_RESULTS). `tasks`: built-in MTEB / C-MTEB tasks or groups, comma-separated."""
    from wrapper.studio.jobs import python_cli

    args = ["eval", model, "--dataset", os.fspath(dataset_dir), "--split", split]
    extra = [t.strip() for t in (tasks or "").split(",") if t.strip() and t.strip() != "local"]
    if extra:
        args += ["--tasks", ",".join(["local", *extra])]
    if mteb_data and mteb_data.strip():
        args += ["--mteb-data", str(Path(mteb_data.strip()).expanduser())]  # no shell expands `~` here
    return python_cli(*args)


# --------------------------------------------------------------------------- runs
@dataclass
class RunView:
    """One run folder as the Train page shows it."""

    run_id: str
    path: Path
    status: dict
    metrics: list[dict]

    @property
    def state(self) -> str:
        return str(self.status.get("state") or "unknown")

    @property
    def gate(self) -> dict:
        return self.status.get("gate") or {}

    @property
    def steps(self) -> tuple[int | None, int | None]:
        steps = self.status.get("steps") or {}
        return (steps.get("done"), steps.get("total")) if isinstance(steps, dict) else (None, None)


def read_run(run_dir: str | os.PathLike) -> RunView | None:
    """The run (`wrapper.run.Run`, reconciled: a dead wrapper's run reads "interrupted") and its
    metrics.jsonl, or None when the folder is not a readable run."""
    from wrapper.errors import InputError
    from wrapper.leaderboard.loaders import load_metrics
    from wrapper.run import Run, is_run

    if not is_run(run_dir):
        return None
    try:
        run = Run.load(run_dir)
    except (InputError, OSError):
        return None
    records, _ = load_metrics(run.dir / "metrics.jsonl")
    return RunView(run.dir.name, run.dir, run.status, records)


def runs(*, succeeded_only: bool = False) -> list[RunView]:
    """Run folders under $AUTORERANK_RUNS (or ./runs), newest first."""
    from wrapper.run import Run

    out = [view for run in reversed(Run.all(settings.runs_dir())) if (view := read_run(run.dir)) is not None]
    if succeeded_only:
        out = [v for v in out if v.state == "succeeded" and v.status.get("model")]
    return out


def verdict_words(gate: dict) -> tuple[str, str]:
    """(level, text) for the gate's verdict: level is success, error or warning."""
    verdict = gate.get("verdict")
    if not verdict:
        return "info", "no gate verdict recorded"

    def num(key: str) -> str:
        value = gate.get(key)
        return f"{value:.4f}" if isinstance(value, (int, float)) else "?"

    ci = gate.get("ci") or [None, None]
    ci_text = (f"{ci[0]:+.4f}..{ci[1]:+.4f}" if all(isinstance(c, (int, float)) for c in ci) else "n/a")
    lines = [f"Gate verdict: {str(verdict).upper().replace('_', ' ')} on {gate.get('metric')}: "
             f"base {num('base')} -> fine-tuned {num('fine_tuned')} (delta {num('delta')}, 95% CI {ci_text})"]
    for general in gate.get("general") or []:
        lines.append(f"general set {general.get('name')}: {general.get('verdict')} "
                     f"(delta {general.get('delta') if general.get('delta') is None else format(general['delta'], '+.4f')})")
    if gate.get("advice"):
        lines.append(f"Advice: {gate['advice']}")
    level = "success" if verdict == "improved" else "error" if verdict in ("regressed", "collapsed", "forgot") else "warning"
    return level, "\n\n".join(lines)


def model_choices() -> list[str]:
    """What the Evaluate and Playground pages can pick: succeeded runs (newest first), then the bundled model."""
    return [v.run_id for v in runs(succeeded_only=True)] + ["bundled"]
