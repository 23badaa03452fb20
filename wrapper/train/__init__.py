"""`autorerank train`: run a config in a supervised child process and record the run.

    from wrapper.train import train_run
    result = train_run(Path("autotrain_configs/sample.yml"))   # -> RunResult(run_dir, status)

`st:*` configs run AutoTrain from its own environment (a bi-encoder); `text_regression`
configs run AutoTrain on the reranker's own head (`wrapper.train.autotrain_reranker`);
`cross-encoder:*` configs run `python -m wrapper.train.cross_encoder` (optionally on N
processes); `flagembedding:reranker` runs FlagEmbedding. All write the same run folder (Contract 3): config.yml, status.json, metrics.jsonl, stdout/stderr logs,
pid. Success is judged from the log and the model files, not the exit code.

`train_run` is three steps: `resolve` (config -> run folder, config.yml and
config.resolved.yml), `build_command` (the backend's argv/env/model folder, looked up
in `BACKENDS`), `record_outcome` (the supervised child's end -> status.json).

Adding a backend is one entry in `BACKENDS`::

    "flagembedding": Backend(tasks=("flagembedding:",), build="wrapper.train.flagembedding:command",
                             kind="cross-encoder", single_process_why=None),

`build` names a function `command(run: ResolvedRun) -> Command` (imported only when a
run of that backend starts); it receives the resolved run as one object: `run.config`,
`run.dataset` (a `wrapper.dataset.Dataset`: ask it for your file), `run.run` (the `Run`
folder), `run.base_model` (resolved once), `run.offline`, `run.num_processes`,
`run.launcher`; it writes `run.run_config` (config.resolved.yml, what the child reads)
with `run.write_resolved(data_path=...)`, and returns the argv (a list), the env
(`wrapper.train.child.child_env`, built on `wrapper.procs`), the model folder the child
writes, and the total steps if known. `single_process_why` set to a reason refuses
`--num-processes > 1` with that reason. The child's log lines are parsed by
`wrapper.train.logparse.LogParser` (AutoTrain's `on_log` lines and our `AUTORERANK_*`
lines) or the subclass the command names.

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



@dataclass
class RunResult:
    run: Any  # wrapper.run.Run

    @property
    def run_dir(self) -> Path:
        return self.run.dir

    @property
    def status(self) -> dict:
        return self.run.status


@dataclass(frozen=True)
class Backend:
    """One training backend: which tasks it runs and where its command is built."""

    tasks: tuple[str, ...]  # task prefixes, e.g. ("cross-encoder:",)
    build: str  # "module:function", function(run: ResolvedRun) -> Command
    kind: str  # "cross-encoder" | "bi-encoder" (status.json, the leaderboard's filter)
    single_process_why: str | None = None  # set: --num-processes > 1 (and --nnodes) is refused with this reason


BACKENDS: dict[str, Backend] = {
    "autotrain": Backend(tasks=("st:",), build="wrapper.train:autotrain_command", kind="bi-encoder",
                         single_process_why="runs in AutoTrain, which launches on every visible GPU by itself"),
    "autotrain-reranker": Backend(tasks=("text_regression",), build="wrapper.train.autotrain_reranker:command",
                                  kind="cross-encoder",
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
    """A config resolved into its run folder: what `build_command` and the backends receive."""

    config_path: Path
    config: Any  # wrapper.config.TrainConfig
    backend: str
    run: Any  # wrapper.run.Run (the folder exists; status.json is written when the command is built)
    dataset: Any  # wrapper.dataset.Dataset
    base_model: str  # resolved once: an absolute folder or a Hub id
    offline: bool
    num_processes: int = 1
    launcher: str = "torchrun"
    autotrain_env: Path | None = None
    nodes: Any = None  # wrapper.train.launch.Nodes: this machine's place in a run across machines

    @property
    def run_id(self) -> str:
        return self.run.id

    @property
    def run_dir(self) -> Path:
        return self.run.dir

    @property
    def run_config(self) -> Path:
        return self.run.dir / "config.resolved.yml"

    def write_resolved(self, *, data_path: Path | None = None, **changes: Any) -> Path:
        """config.resolved.yml: the config with the resolved base model, `data.path` = `data_path`
        (default: the dataset root) and any top-level `changes`; returns its path."""
        import yaml

        raw = yaml.safe_load((self.run.dir / "config.yml").read_text(encoding="utf-8"))
        raw["data"]["path"] = str(data_path or self.dataset.root)
        raw["base_model"] = self.base_model
        raw.update(changes)
        self.run_config.write_text(yaml.safe_dump(raw, sort_keys=False, allow_unicode=True), encoding="utf-8")
        return self.run_config


@dataclass
class Command:
    """What a backend runs: argv (a list), its env, the model folder it writes, steps if known."""

    argv: list[str]
    env: dict[str, str]
    model_dir: Path
    total_steps: int | None = None
    epochs: int | None = None
    extra_status: dict = field(default_factory=dict)
    parser: Any = None  # a LogParser for the child's lines; None: LogParser(total_steps, epochs)


def resolve(
    config_path: Path,
    *,
    runs_dir: Path | None = None,
    run_id: str | None = None,
    num_processes: int = 1,
    autotrain_env: Path | None = None,
    launcher: str = "torchrun",
    nodes=None,
) -> ResolvedRun:
    """Check the config and flags, create the run folder and write config.yml (a copy of what was run)."""
    from wrapper import basemodel, settings
    from wrapper.config import config_dataset, load_config
    from wrapper.errors import InputError
    from wrapper.run import Run

    config_path = Path(config_path)
    config = load_config(config_path)
    backend = backend_for(config.task)
    if num_processes < 1:
        raise InputError.at("--num-processes", f"must be at least 1, got {num_processes}")
    why = BACKENDS[backend].single_process_why
    if num_processes > 1 and why:
        raise InputError.at("--num-processes", f"{config.task} {why}",
                            hint="leave --num-processes out; limit GPUs with CUDA_VISIBLE_DEVICES")
    if nodes is not None and why:
        raise InputError.at("--nnodes", f"{config.task} {why}, on one machine",
                            hint="train across machines with a cross-encoder:* or flagembedding:reranker task")
    if config.hub and config.hub.push_to_hub:
        if not os.environ.get("HF_TOKEN"):
            raise InputError.at(config_path, "hub.push_to_hub is true but $HF_TOKEN is not set",
                                hint="export HF_TOKEN=... (a write token), or remove the hub: section")
        if not settings.hub_reachable():
            raise InputError.at(config_path, "hub.push_to_hub is true but the Hugging Face Hub is not reachable",
                                hint="remove the hub: section to train offline")
    dataset = config_dataset(config, config_path)
    try:
        base_model = basemodel.resolve(config.base_model)
    except InputError:
        raise InputError.at(config_path, f"{config.base_model!r} looks like a local path but is not a folder",
                            column="base_model",
                            hint="point base_model at an existing model folder, a Hub id or 'bundled'") from None
    run = Run.create(settings.runs_dir(runs_dir), config.project_name, run_id)
    (run.dir / "config.yml").write_text(config_path.read_text(encoding="utf-8"), encoding="utf-8")
    return ResolvedRun(
        config_path=config_path, config=config, backend=backend, run=run, dataset=dataset, base_model=base_model,
        offline=not settings.hub_reachable(), num_processes=num_processes, launcher=launcher,
        autotrain_env=autotrain_env, nodes=nodes,
    )


def cross_encoder_command(run: ResolvedRun) -> Command:
    """`python -m wrapper.train.cross_encoder` (torchrun/accelerate for N processes)."""
    from wrapper.train.child import child_env
    from wrapper.train.launch import cross_encoder_argv

    run.write_resolved()
    model_dir = run.run_dir / "model"
    argv = cross_encoder_argv(
        ["--config", str(run.run_config), "--output", str(model_dir)],
        num_processes=run.num_processes, launcher=run.launcher, nodes=run.nodes,  # type: ignore[arg-type]
    )
    return Command(argv=argv, env=child_env(offline=run.offline, project_path=True), model_dir=model_dir,
                   total_steps=None, epochs=run.config.params_model().epochs)


def autotrain_command(run: ResolvedRun) -> Command:
    """`autotrain --config config.resolved.yml` from the AutoTrain env; total steps from the train split."""
    from wrapper.train import autotrain as at
    from wrapper.train.child import child_env

    params = run.config.params_model()
    venv = at.find_env(run.autotrain_env)
    train_file = run.dataset.train_file("autotrain")
    run.write_resolved(data_path=train_file.parent)
    total = at.autotrain_total_steps(at.count_rows(train_file), params.batch_size, params.epochs,
                                     params.gradient_accumulation)
    return Command(argv=at.autotrain_argv(venv, run.run_config), env=child_env(venv=venv, offline=run.offline),
                   model_dir=run.run_dir / run.config.project_name, total_steps=total, epochs=params.epochs)


def build_command(run: ResolvedRun) -> Command:
    """The command of `run.backend` (its `BACKENDS` entry's `build` function)."""
    module, _, func = BACKENDS[run.backend].build.partition(":")
    return getattr(importlib.import_module(module), func)(run)


def _start_status(run: ResolvedRun, cmd: Command | None, **final: Any) -> None:
    """status.json of a run about to start (`cmd`), or of one that ended before it started (`final`)."""
    from wrapper.run import utcnow

    now = utcnow()
    fields = dict(
        run_id=run.run_id,
        state="running",
        backend=run.backend,
        task=run.config.task,
        kind=BACKENDS[run.backend].kind,
        base_model=run.base_model,
        base_model_input=run.config.base_model,
        trust_remote_code=run.config.trust_remote_code,
        dataset=str(run.dataset.root),
        project_dir=str(Path.cwd()),
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
        nodes=None if run.nodes is None else {"count": run.nodes.count, "rank": run.nodes.rank,
                                              "endpoint": run.nodes.endpoint},
        **(cmd.extra_status if cmd else {}),
    )
    run.run.update(**{**fields, **final})


def _ended_before_start(run: ResolvedRun, cmd: Command | None, what: str, exc: BaseException) -> None:
    """Record in status.json why a run whose folder exists never ran (`what` failed); Ctrl-C -> Interrupted."""
    from wrapper.errors import Interrupted
    from wrapper.run import utcnow

    interrupted = isinstance(exc, KeyboardInterrupt)
    final = {"state": "interrupted" if interrupted else "failed", "ended_at": utcnow(),
             "cause": f"stopped before it could {what}" if interrupted else f"could not {what}: {exc}"}
    if cmd is None:  # no status.json yet: write the whole of it
        _start_status(run, None, **final)
    else:
        run.run.update(**final)
    if interrupted:
        raise Interrupted(f"run {run.run_id} interrupted before it started") from None


def record_outcome(run: ResolvedRun, cmd: Command, outcome, parser) -> RunResult:
    """status.json from how the child ended: succeeded (returned), interrupted / failed (raised)."""
    from wrapper.errors import BudgetReached, Interrupted, RunFailed
    from wrapper.procs import DEADLINE
    from wrapper.run import utcnow
    from wrapper.train.child import model_files_ok

    run_dir, run_id, total = run.run_dir, run.run_id, cmd.total_steps
    steps = {"done": parser.last_step, "total": parser.total_steps}
    worker = run.nodes is not None and run.nodes.rank > 0  # its share trained; node 0 saves the model
    if outcome.interrupted:
        late = outcome.signal_name == DEADLINE
        run.run.update(state="interrupted", ended_at=utcnow(), exit_code=outcome.exit_code, steps=steps, pid=None,
                       cause="stopped at the end of the time budget" if late else f"stopped by {outcome.signal_name}")
        if late:
            raise BudgetReached(f"run {run_id} stopped at the end of its time budget; folder: {run_dir}")
        raise Interrupted(f"run {run_id} interrupted ({outcome.signal_name}); folder: {run_dir}")

    cause = None
    if parser.failed_marker:
        cause = parser.cause or "the trainer reported a failure (see stdout.log)"
    elif outcome.exit_code != 0:
        cause = parser.cause or f"the training process exited with code {outcome.exit_code} (see stderr.log)"
    elif not model_files_ok(cmd.model_dir) and not worker:
        cause = f"the training process ended but wrote no model to {cmd.model_dir} (see stdout.log/stderr.log)"
    if cause is None:
        run.run.update(state="succeeded", ended_at=utcnow(), exit_code=outcome.exit_code,
                       model=None if worker else str(cmd.model_dir.absolute()),
                       cause=f"node {run.nodes.rank} of {run.nodes.count}: node 0 saved the model" if worker else None,
                       steps={"done": parser.last_step or total,
                                                                   "total": parser.total_steps or total},
                       pid=None, wall_s=round(outcome.wall_s, 2))
        return RunResult(run=run.run)
    run.run.update(state="failed", ended_at=utcnow(), exit_code=outcome.exit_code,
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
    deadline: float | None = None,
    labels: dict | None = None,
    nodes=None,
) -> RunResult:
    """Train `config_path` in `runs_dir/<run_id>/` and return the run folder and final status.

    `deadline` (a `time.monotonic()` value) stops the child when it passes (`BudgetReached`);
    `labels` are extra status.json keys (e.g. `{"auto": "<auto run id>"}`)."""
    from wrapper.train.logparse import LogParser
    from wrapper.train.supervise import supervise

    run = resolve(config_path, runs_dir=runs_dir, run_id=run_id, num_processes=num_processes,
                  autotrain_env=autotrain_env, launcher=launcher, nodes=nodes)
    try:
        cmd = build_command(run)
    except BaseException as exc:  # e.g. a config rule the backend checks: the folder exists, say why it is empty
        _ended_before_start(run, None, "build the training command", exc)
        raise
    _start_status(run, cmd, **(labels or {}))
    parser = cmd.parser or LogParser(total_steps=cmd.total_steps, epochs=cmd.epochs)
    try:
        outcome = supervise(cmd.argv, run_dir=run.run_dir, env=cmd.env, parser=parser, progress=progress,
                            desc=run.config.task, deadline=deadline)
    except BaseException as exc:  # could not even start the child
        _ended_before_start(run, cmd, "start the training process", exc)
        raise
    return record_outcome(run, cmd, outcome, parser)


__all__ = ["BACKENDS", "Backend", "Command", "ResolvedRun", "RunResult", "backend_for", "build_command",
           "record_outcome", "resolve", "train_run"]
