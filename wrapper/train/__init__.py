"""`autorerank train`: run a config in a supervised child process and record the run.

    from wrapper.train import train_run
    result = train_run(Path("autotrain_configs/sample.yml"))   # -> RunResult(run_dir, status)

`st:*` configs run AutoTrain from its own environment; `cross-encoder:*` configs run
`python -m wrapper.train.cross_encoder` (optionally on N processes). Both write the
same run folder (Contract 3): config.yml, status.json, metrics.jsonl, stdout/stderr logs,
pid. Success is judged from the log and the model files, not the exit code.

Raises `RunFailed` (after writing status.json) when the run failed, `Interrupted`
when it was stopped (Ctrl-C / SIGTERM), `InputError` for a bad config.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from wrapper.train.run import reconcile, read_status  # noqa: F401  (re-exported for readers)


@dataclass
class RunResult:
    run_dir: Path
    status: dict


def _kind(task: str) -> str:
    return "cross-encoder" if task.startswith("cross-encoder:") else "bi-encoder"


def _dataset_dir_for_status(data_path: Path) -> str:
    root = data_path.parent
    try:
        return str(root.relative_to(Path.cwd()))
    except ValueError:
        return str(root)


def _resolve_model_for_child(base_model: str) -> str:
    """The bundled alias -> its folder; a relative local folder -> absolute (the child's cwd differs)."""
    from wrapper import settings

    resolved = settings.resolve_model(base_model)
    local = Path(resolved).expanduser()
    if not local.is_absolute() and local.is_dir():
        return str(local.resolve())
    return resolved


def train_run(
    config_path: Path,
    *,
    runs_dir: Path | None = None,
    run_id: str | None = None,
    progress: bool = True,
    num_processes: int = 1,
    autotrain_env: Path | None = None,
    launcher: str = "torchrun",
) -> RunResult:
    """Train `config_path` in `runs_dir/<run_id>/` and return the run folder and final status."""
    import yaml

    from wrapper import settings
    from wrapper.config import load_config, resolve_data_path, split_file
    from wrapper.errors import InputError, Interrupted, RunFailed
    from wrapper.train import autotrain as at
    from wrapper.train.launch import cross_encoder_argv
    from wrapper.train.run import make_run_id, utcnow, write_status
    from wrapper.train.supervise import supervise

    config_path = Path(config_path)
    config = load_config(config_path)
    if num_processes < 1:
        raise InputError.at("--num-processes", f"must be at least 1, got {num_processes}")
    if num_processes > 1 and not config.is_cross_encoder:
        raise InputError.at(
            "--num-processes", f"{config.task} runs in AutoTrain, which launches on every visible GPU by itself",
            hint="leave --num-processes out; limit GPUs with CUDA_VISIBLE_DEVICES",
        )
    if config.hub and config.hub.push_to_hub:
        if not os.environ.get("HF_TOKEN"):
            raise InputError.at(config_path, "hub.push_to_hub is true but $HF_TOKEN is not set",
                                hint="export HF_TOKEN=... (a write token), or remove the hub: section")
        if not settings.hub_reachable():
            raise InputError.at(config_path, "hub.push_to_hub is true but the Hugging Face Hub is not reachable",
                                hint="remove the hub: section to train offline")
    runs_root = settings.runs_dir(runs_dir)
    run_id = run_id or make_run_id(config.project_name, runs_root)
    run_dir = (runs_root / run_id).absolute()
    if run_dir.exists() and any(run_dir.iterdir()):
        raise InputError.at(run_dir, "this run folder already exists and is not empty",
                            hint="choose another --run-id or leave it out for a fresh one")
    run_dir.mkdir(parents=True, exist_ok=True)

    # config.yml: a byte-identical copy of what the user ran. config.resolved.yml: what the
    # child reads - the same with an absolute data path, because its cwd is the run folder.
    data_path = resolve_data_path(config)
    text = config_path.read_text(encoding="utf-8")
    (run_dir / "config.yml").write_text(text, encoding="utf-8")
    raw = yaml.safe_load(text)
    raw["data"]["path"] = str(data_path)
    raw["base_model"] = _resolve_model_for_child(config.base_model)
    run_config = run_dir / "config.resolved.yml"
    run_config.write_text(yaml.safe_dump(raw, sort_keys=False, allow_unicode=True), encoding="utf-8")

    params = config.params_model()
    offline = not settings.hub_reachable()
    cross = config.is_cross_encoder
    if cross:
        model_dir = run_dir / "model"
        argv = cross_encoder_argv(
            ["--config", str(run_config), "--output", str(model_dir)],
            num_processes=num_processes, launcher=launcher,  # type: ignore[arg-type]
        )
        env = at.child_env(offline=offline)
        # the child must import this package even when it is not installed
        root = str(Path(__file__).resolve().parent.parent.parent)
        env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        total = None
        epochs = params.epochs
    else:
        venv = at.find_env(autotrain_env)
        model_dir = run_dir / config.project_name
        argv = at.autotrain_argv(venv, run_config)
        env = at.child_env(venv=venv, offline=offline)
        train_file = split_file(data_path, config.data.train_split)
        n_train = at.count_rows(train_file) if train_file else 0
        total = at.autotrain_total_steps(n_train, params.batch_size, params.epochs, params.gradient_accumulation)
        epochs = params.epochs

    now = utcnow()
    write_status(
        run_dir,
        run_id=run_id,
        state="running",
        backend="cross-encoder" if cross else "autotrain",
        task=config.task,
        kind=_kind(config.task),
        base_model=raw["base_model"],
        dataset=_dataset_dir_for_status(data_path),
        config=str(run_dir / "config.yml"),
        source_config=str(config_path.resolve()),
        created_at=now,
        started_at=now,
        ended_at=None,
        exit_code=None,
        cause=None,
        model=None,
        pid=None,
        wrapper_pid=os.getpid(),
        num_processes=num_processes if cross else 1,
        steps={"done": 0, "total": total},
        argv=argv,
    )
    parser = at.LogParser(total_steps=total, epochs=epochs)
    try:
        outcome = supervise(argv, run_dir=run_dir, env=env, parser=parser, progress=progress,
                            desc=config.task)
    except BaseException as exc:  # could not even start the child
        write_status(run_dir, state="failed", ended_at=utcnow(),
                     cause=f"could not start the training process: {exc}")
        if isinstance(exc, KeyboardInterrupt):
            raise Interrupted(f"run {run_id} interrupted before it started") from None
        raise
    steps = {"done": parser.last_step, "total": parser.total_steps}
    if outcome.interrupted:
        status = write_status(run_dir, state="interrupted", ended_at=utcnow(), exit_code=outcome.exit_code,
                              cause=f"stopped by {outcome.signal_name}", steps=steps, pid=None)
        raise Interrupted(f"run {run_id} interrupted ({outcome.signal_name}); folder: {run_dir}")

    ok_files = at.model_files_ok(model_dir)
    cause = None
    if parser.failed_marker:
        cause = parser.cause or "the trainer reported a failure (see stdout.log)"
    elif outcome.exit_code != 0:
        cause = parser.cause or f"the training process exited with code {outcome.exit_code} (see stderr.log)"
    elif not ok_files:
        cause = f"the training process ended but wrote no model to {model_dir} (see stdout.log/stderr.log)"
    if cause is None:
        status = write_status(run_dir, state="succeeded", ended_at=utcnow(), exit_code=outcome.exit_code,
                              model=str(model_dir), steps={"done": parser.last_step or total,
                                                           "total": parser.total_steps or total},
                              pid=None, wall_s=round(outcome.wall_s, 2))
        return RunResult(run_dir=run_dir, status=status)
    status = write_status(run_dir, state="failed", ended_at=utcnow(), exit_code=outcome.exit_code,
                          cause=cause, steps=steps, pid=None, wall_s=round(outcome.wall_s, 2))
    raise RunFailed(f"run {run_id} failed: {cause}\n  logs: {run_dir / 'stdout.log'}, {run_dir / 'stderr.log'}")


__all__ = ["RunResult", "train_run", "reconcile", "read_status"]
