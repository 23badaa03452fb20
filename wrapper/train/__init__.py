"""`autorerank train`: run a config in a supervised child process and record the run.

    from wrapper.train import train_run
    result = train_run(Path("autotrain_configs/sample.yml"))   # -> RunResult(run_dir, status)

`st:*` configs run AutoTrain from its own environment; `cross-encoder:*` configs run
`python -m wrapper.train.cross_encoder` (optionally on N processes). Both write the
same run folder (Contract 3): config.yml, status.json, metrics.jsonl, stdout/stderr logs,
pid. Success is judged from the log and the model files, not the exit code.

`train_run` is three steps: `resolve` (config -> run folder, config.yml and
config.resolved.yml), `build_command` (the backend's argv/env/model folder, looked up
in `BACKENDS`), `record_outcome` (the supervised child's end -> status.json).

Adding a backend is one entry in `BACKENDS`::

    "flagembedding": Backend(tasks=("flagembedding:",), build="wrapper.train.flagembedding:command",
                             kind="cross-encoder", single_process_why=None),

`build` names a function `command(run: ResolvedRun) -> Command` (imported only when a
run of that backend starts); it reads `run.run_config` (config.resolved.yml, absolute
data path and model), `run.run_dir`, `run.offline`, `run.num_processes`, `run.launcher`,
and returns the argv (a list), the env (`autotrain.child_env`, built on `wrapper.procs`), the model folder
the child writes, and the total steps if known. `single_process_why` set to a reason
refuses `--num-processes > 1` with that reason. The child's log lines are parsed by
`autotrain.LogParser` (AutoTrain's `on_log` lines and our `AUTORERANK_*` lines).

Raises `RunFailed` (after writing status.json) when the run failed, `Interrupted`
when it was stopped (Ctrl-C / SIGTERM), `InputError` for a bad config. Once the run
folder exists, every way out leaves a status.json saying how the run ended and why.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wrapper.train.run import reconcile, read_status  # noqa: F401  (re-exported for readers)


@dataclass
class RunResult:
    run_dir: Path
    status: dict


@dataclass(frozen=True)
class Backend:
    """One training backend: which tasks it runs and where its command is built."""

    tasks: tuple[str, ...]  # task prefixes, e.g. ("cross-encoder:",)
    build: str  # "module:function", function(run: ResolvedRun) -> Command
    kind: str  # "cross-encoder" | "bi-encoder" (status.json, the leaderboard's filter)
    single_process_why: str | None = None  # set: --num-processes > 1 is refused with this reason


BACKENDS: dict[str, Backend] = {
    "autotrain": Backend(tasks=("st:",), build="wrapper.train:autotrain_command", kind="bi-encoder",
                         single_process_why="runs in AutoTrain, which launches on every visible GPU by itself"),
    "cross-encoder": Backend(tasks=("cross-encoder:",), build="wrapper.train:cross_encoder_command",
                             kind="cross-encoder"),
    "flagembedding": Backend(tasks=("flagembedding:",), build="wrapper.train.flagembedding:command",
                             kind="cross-encoder"),
}


def backend_for(task: str) -> str:
    """The name of the backend in `BACKENDS` that runs `task`."""
    for name, backend in BACKENDS.items():
        if task.startswith(backend.tasks):
            return name
    raise ValueError(f"no training backend runs task {task!r}; known: "
                     + ", ".join(p for b in BACKENDS.values() for p in b.tasks))


@dataclass
class ResolvedRun:
    """A config resolved into its run folder (what `build_command` and the backends read)."""

    config_path: Path
    config: Any  # wrapper.config.TrainConfig
    backend: str
    run_id: str
    run_dir: Path
    run_config: Path  # config.resolved.yml: absolute data path, resolved base model
    data_path: Path
    base_model: str
    offline: bool
    num_processes: int = 1
    launcher: str = "torchrun"
    autotrain_env: Path | None = None


@dataclass
class Command:
    """What a backend runs: argv (a list), its env, the model folder it writes, steps if known."""

    argv: list[str]
    env: dict[str, str]
    model_dir: Path
    total_steps: int | None = None
    epochs: int | None = None
    extra_status: dict = field(default_factory=dict)
    parser: Any = None  # a LogParser for the child's lines; None: autotrain.LogParser(total_steps, epochs)


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


def resolve(
    config_path: Path,
    *,
    runs_dir: Path | None = None,
    run_id: str | None = None,
    num_processes: int = 1,
    autotrain_env: Path | None = None,
    launcher: str = "torchrun",
) -> ResolvedRun:
    """Check the config and flags, create the run folder, write config.yml and config.resolved.yml."""
    import yaml

    from wrapper import settings
    from wrapper.config import load_config, resolve_data_path
    from wrapper.errors import InputError
    from wrapper.train.run import make_run_id

    config_path = Path(config_path)
    config = load_config(config_path)
    backend = backend_for(config.task)
    if num_processes < 1:
        raise InputError.at("--num-processes", f"must be at least 1, got {num_processes}")
    why = BACKENDS[backend].single_process_why
    if num_processes > 1 and why:
        raise InputError.at("--num-processes", f"{config.task} {why}",
                            hint="leave --num-processes out; limit GPUs with CUDA_VISIBLE_DEVICES")
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
    return ResolvedRun(
        config_path=config_path, config=config, backend=backend, run_id=run_id, run_dir=run_dir,
        run_config=run_config, data_path=data_path, base_model=raw["base_model"],
        offline=not settings.hub_reachable(), num_processes=num_processes, launcher=launcher,
        autotrain_env=autotrain_env,
    )


def cross_encoder_command(run: ResolvedRun) -> Command:
    """`python -m wrapper.train.cross_encoder` (torchrun/accelerate for N processes)."""
    from wrapper.train import autotrain as at
    from wrapper.train.launch import cross_encoder_argv

    model_dir = run.run_dir / "model"
    argv = cross_encoder_argv(
        ["--config", str(run.run_config), "--output", str(model_dir)],
        num_processes=run.num_processes, launcher=run.launcher,  # type: ignore[arg-type]
    )
    return Command(argv=argv, env=at.child_env(offline=run.offline, project_path=True), model_dir=model_dir,
                   total_steps=None, epochs=run.config.params_model().epochs)


def autotrain_command(run: ResolvedRun) -> Command:
    """`autotrain --config config.resolved.yml` from the AutoTrain env; total steps from the train split."""
    from wrapper.config import split_file
    from wrapper.train import autotrain as at

    params = run.config.params_model()
    venv = at.find_env(run.autotrain_env)
    train_file = split_file(run.data_path, run.config.data.train_split)
    n_train = at.count_rows(train_file) if train_file else 0
    total = at.autotrain_total_steps(n_train, params.batch_size, params.epochs, params.gradient_accumulation)
    return Command(argv=at.autotrain_argv(venv, run.run_config), env=at.child_env(venv=venv, offline=run.offline),
                   model_dir=run.run_dir / run.config.project_name, total_steps=total, epochs=params.epochs)


def build_command(run: ResolvedRun) -> Command:
    """The command of `run.backend` (its `BACKENDS` entry's `build` function)."""
    module, _, func = BACKENDS[run.backend].build.partition(":")
    return getattr(importlib.import_module(module), func)(run)


def _start_status(run: ResolvedRun, cmd: Command | None, **final: Any) -> None:
    """status.json of a run about to start (`cmd`), or of one that ended before it started (`final`)."""
    from wrapper.train.run import utcnow, write_status

    now = utcnow()
    fields = dict(
        run_id=run.run_id,
        state="running",
        backend=run.backend,
        task=run.config.task,
        kind=BACKENDS[run.backend].kind,
        base_model=run.base_model,
        dataset=_dataset_dir_for_status(run.data_path),
        config=str(run.run_dir / "config.yml"),
        source_config=str(run.config_path.resolve()),
        created_at=now,
        started_at=now,
        ended_at=None,
        exit_code=None,
        cause=None,
        model=None,
        pid=None,
        wrapper_pid=os.getpid(),
        num_processes=run.num_processes if BACKENDS[run.backend].single_process_why is None else 1,
        steps={"done": 0, "total": cmd.total_steps if cmd else None},
        argv=cmd.argv if cmd else None,
        **(cmd.extra_status if cmd else {}),
    )
    write_status(run.run_dir, **{**fields, **final})


def _ended_before_start(run: ResolvedRun, cmd: Command | None, what: str, exc: BaseException) -> None:
    """Record in status.json why a run whose folder exists never ran (`what` failed); Ctrl-C -> Interrupted."""
    from wrapper.errors import Interrupted
    from wrapper.train.run import utcnow, write_status

    interrupted = isinstance(exc, KeyboardInterrupt)
    final = {"state": "interrupted" if interrupted else "failed", "ended_at": utcnow(),
             "cause": f"stopped before it could {what}" if interrupted else f"could not {what}: {exc}"}
    if cmd is None:  # no status.json yet: write the whole of it
        _start_status(run, None, **final)
    else:
        write_status(run.run_dir, **final)
    if interrupted:
        raise Interrupted(f"run {run.run_id} interrupted before it started") from None


def record_outcome(run: ResolvedRun, cmd: Command, outcome, parser) -> RunResult:
    """status.json from how the child ended: succeeded (returned), interrupted / failed (raised)."""
    from wrapper.errors import Interrupted, RunFailed
    from wrapper.train.autotrain import model_files_ok
    from wrapper.train.run import utcnow, write_status

    run_dir, run_id, total = run.run_dir, run.run_id, cmd.total_steps
    steps = {"done": parser.last_step, "total": parser.total_steps}
    if outcome.interrupted:
        write_status(run_dir, state="interrupted", ended_at=utcnow(), exit_code=outcome.exit_code,
                     cause=f"stopped by {outcome.signal_name}", steps=steps, pid=None)
        raise Interrupted(f"run {run_id} interrupted ({outcome.signal_name}); folder: {run_dir}")

    cause = None
    if parser.failed_marker:
        cause = parser.cause or "the trainer reported a failure (see stdout.log)"
    elif outcome.exit_code != 0:
        cause = parser.cause or f"the training process exited with code {outcome.exit_code} (see stderr.log)"
    elif not model_files_ok(cmd.model_dir):
        cause = f"the training process ended but wrote no model to {cmd.model_dir} (see stdout.log/stderr.log)"
    if cause is None:
        status = write_status(run_dir, state="succeeded", ended_at=utcnow(), exit_code=outcome.exit_code,
                              model=str(cmd.model_dir), steps={"done": parser.last_step or total,
                                                               "total": parser.total_steps or total},
                              pid=None, wall_s=round(outcome.wall_s, 2))
        return RunResult(run_dir=run_dir, status=status)
    write_status(run_dir, state="failed", ended_at=utcnow(), exit_code=outcome.exit_code,
                 cause=cause, steps=steps, pid=None, wall_s=round(outcome.wall_s, 2))
    raise RunFailed(f"run {run_id} failed: {cause}\n  logs: {run_dir / 'stdout.log'}, {run_dir / 'stderr.log'}")


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
    from wrapper.train.autotrain import LogParser
    from wrapper.train.supervise import supervise

    run = resolve(config_path, runs_dir=runs_dir, run_id=run_id, num_processes=num_processes,
                  autotrain_env=autotrain_env, launcher=launcher)
    try:
        cmd = build_command(run)
    except BaseException as exc:  # e.g. a config rule the backend checks: the folder exists, say why it is empty
        _ended_before_start(run, None, "build the training command", exc)
        raise
    _start_status(run, cmd)
    parser = cmd.parser or LogParser(total_steps=cmd.total_steps, epochs=cmd.epochs)
    try:
        outcome = supervise(cmd.argv, run_dir=run.run_dir, env=cmd.env, parser=parser, progress=progress,
                            desc=run.config.task)
    except BaseException as exc:  # could not even start the child
        _ended_before_start(run, cmd, "start the training process", exc)
        raise
    return record_outcome(run, cmd, outcome, parser)


__all__ = ["BACKENDS", "Backend", "Command", "ResolvedRun", "RunResult", "backend_for", "build_command",
           "read_status", "reconcile", "record_outcome", "resolve", "train_run"]
