"""`autorerank auto`: the best safe reranker for a time budget, chosen on evidence.

    result = run_auto("data/sample", budget_s=360)      # -> AutoResult(run_dir, record)

1. The auto run folder `runs/<id>/` (id `auto-<dataset>-<base>` or `--name`): `status.json` (a run
   of backend "auto" whose model is the pick, so eval/export/serve take it), `auto.json` (the
   record, `wrapper.auto.record`), `study.db` (Optuna's SQLite storage), `data/` (the derived
   dataset with the selection split, `wrapper.auto.split`), `configs/`.
2. The probe: the base's seconds per training example at each token length, on this machine.
3. Trials: Optuna (TPE; the presets' recipes enqueued first, one per route) proposes a recipe,
   the budget sets its steps, `config` + `train` run it as an ordinary run `runs/<id>-tNN/`
   (its status.json says `"auto": "<id>"`), its MAP on the selection split is the trial's value,
   and the gate judges it on the untouched held-out split and the general sets.
4. The pick: among trials whose gate says `improved`, the best selection MAP; if the best trial
   by selection MAP `forgot`, `merge --auto` of it is gated too; nothing improved: keep the base,
   and why. A regressed, forgotten or collapsed model is never picked (`wrapper.auto.pick`).

The budget holds: a trial starts only if its estimated cost fits what is left (`space.CostModel`,
learned from the trials), and a running trial is stopped at the deadline (the record says so).
Ctrl-C stops cleanly (exit 130); the same command resumes: finished trials and their gates are
kept in auto.json and study.db and never run again.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from wrapper import settings
from wrapper.auto import record as rec
from wrapper.auto.pick import choose, make_pick, selection_map
from wrapper.auto.space import LENGTHS, CostModel, Recipe, epochs_for, examples_per_step, lr_range, routes_for
from wrapper.auto.split import SELECTION, carve
from wrapper.errors import BudgetReached, InputError, Interrupted, RunFailed

MIN_TRIALS = 3  # the budget is shared so that at least this many trials run
MAX_EPOCHS = 3  # a trial never trains more passes over the data than this
PICK_RESERVE_S = 30.0  # kept back for the pick (status, table); a merge needs its own estimate


@dataclass
class AutoResult:
    run_dir: Path
    record: dict

    @property
    def table(self) -> str:
        return rec.table(self.record)


def default_name(dataset_dir: str | Path, base_model: str) -> str:
    """The auto run's id when `--name` is not given: `auto-<dataset>-<base>` (resumed by the same command)."""
    from wrapper import basemodel

    base = Path(base_model).name if basemodel.is_bundled(base_model) or Path(base_model).exists() else base_model
    return f"auto-{_slug(Path(dataset_dir).resolve().name)}-{_slug(base)}"


def _slug(text: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9-]+", "-", text).strip("-")[:40] or "auto"


def _typical_tokens(base, derived) -> int:
    """The 75th percentile of the training pairs' token lengths (batches pad to their longest, not to the
    maximum length: a cost at the maximum would overestimate short data many times over)."""
    from transformers import AutoTokenizer

    from wrapper.dataset import read_jsonl

    tok = AutoTokenizer.from_pretrained(base.ref, trust_remote_code=base.remote_code)
    pairs = [(r["query"], p) for r in read_jsonl(derived.train_file("flagembedding"))[:64]
             for p in [*(r.get("pos") or [])[:1], *(r.get("neg") or [])[:1]]]
    lengths = sorted(len(tok(q, p, truncation=True, max_length=512)["input_ids"]) for q, p in pairs) or [128]
    return lengths[int(0.75 * (len(lengths) - 1))]


def _probe(record: dict, base, derived, lengths: list[int], say) -> CostModel:
    """Seconds per example at each candidate maximum length, timed at the data's typical length under it."""
    from wrapper.sizing import probe_seconds_per_example

    cost = CostModel()
    if "tokens_p75" not in record:
        record["tokens_p75"] = _typical_tokens(base, derived)
    stored = record.setdefault("probe", {})
    for length in lengths:
        if str(length) not in stored:
            stored[str(length)] = probe_seconds_per_example(base.ref, min(length, record["tokens_p75"]),
                                                            trust_remote_code=base.remote_code)
        cost.per_example[length] = stored[str(length)]
    say(f"probe: pairs of about {record['tokens_p75']} tokens: "
        + ", ".join(f"{v * 1000:.0f} ms/example at max length {k}" for k, v in stored.items()))
    for key, value in (record.get("startup") or {}).items():
        cost.startup[key] = value
    cost.learned = set(record.get("startup_learned") or [])
    cost.gate_s, cost.gates = record.get("gate_s", cost.gate_s), int(record.get("gates") or 0)
    return cost


def _study(folder: Path, name: str, seed: int, priors: list[dict]):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = f"sqlite:///{folder / 'study.db'}"
    study = optuna.create_study(study_name=name, storage=storage, direction="maximize", load_if_exists=True,
                                sampler=optuna.samplers.TPESampler(seed=seed, n_startup_trials=len(priors)))
    if not study.trials:
        for params in priors:
            study.enqueue_trial(params)
    for trial in study.trials:  # killed mid-trial last time: it never finished, so it runs again
        if trial.state == optuna.trial.TrialState.RUNNING:
            study.enqueue_trial(trial.params)
            study.tell(trial.number, state=optuna.trial.TrialState.FAIL)
    return study


def _suggest(trial, routes: list[str], base, lengths: list[int], has_teacher: bool) -> Recipe:
    task = trial.suggest_categorical("task", routes)
    lo, hi = lr_range(task, base.is_reranker)
    lr = trial.suggest_float(f"lr_{task}", lo, hi, log=True)
    length = trial.suggest_categorical("max_length", lengths)
    distill = task == "cross-encoder:mnrl" and has_teacher and trial.suggest_categorical("distill", [False, True])
    return Recipe(task=task, lr=lr, max_length=length, distill=bool(distill))


def _priors(routes: list[str], base, lengths: list[int]) -> list[dict]:
    from wrapper.config import preset_for
    from wrapper.config.render import _family

    _, preset = preset_for(base.name, reranker=base.is_reranker)
    out = []
    for task in routes:
        params = preset[_family(task)]
        lo, hi = lr_range(task, base.is_reranker)
        lr = min(max(float(params.get("lr", params.get("learning_rate", lo))), lo), hi)
        length = int(params.get("max_seq_length", params.get("passage_max_len", lengths[0])))
        out.append({"task": task, f"lr_{task}": lr, "max_length": min(lengths, key=lambda n: abs(n - length))})
    return out


def _shape(task: str, derived, base) -> tuple[int, int, int]:
    """(rows of one epoch, pair examples per optimizer step, batch size) of a route on the derived dataset."""
    from wrapper.config import preset_for
    from wrapper.config.render import _family
    from wrapper.dataset import read_jsonl

    records = read_jsonl(derived.train_file("flagembedding"))
    negs = sorted(len(r.get("neg") or []) for r in records)
    median = negs[len(negs) // 2] if negs else 0
    params = preset_for(base.name, reranker=base.is_reranker)[1][_family(task)]
    batch = int(params.get("batch_size", params.get("per_device_train_batch_size", 16)))
    if task.startswith("st:"):
        rows = sum(len(r.get("pos") or []) * max(len(r.get("neg") or []), 1) for r in records)
    elif task.startswith("flagembedding:"):
        rows = len(records)
    else:
        rows = sum(len(r.get("pos") or []) + min(len(r.get("neg") or []), 7) for r in records)
    negatives = min(median, 4 if task.startswith("cross-encoder") else median)
    return rows, examples_per_step(task, batch, negatives), batch


def run_auto(dataset_dir: str | Path, *, budget_s: float, base_model: str = "bundled", general: list[str] | None = None,
             tasks: list[str] | None = None, name: str | None = None, runs: Path | None = None,
             results: Path | None = None, fresh: bool = False, seed: int = 0, trust_remote_code: bool = False,
             say: Callable[[str], None] | None = None) -> AutoResult:
    """Search recipes for `budget_s` seconds and pick the best safe model (see the module doc)."""
    import shutil

    from wrapper import basemodel
    from wrapper.config.route import check_remote_code
    from wrapper.dataset import Dataset
    from wrapper.gate import DEFAULT_GENERAL, EvalSet, resolve_general
    from wrapper.run import Run, utcnow, write_status

    say = say or (lambda _msg: None)
    started = time.monotonic()
    if budget_s < 60:
        raise InputError.at("--budget", f"{budget_s:.0f} s is too short for even one trial and its gate",
                            hint="give at least 1m (the sample data wants about 6m)")
    dataset = Dataset.open(dataset_dir, training=True)
    base = basemodel.inspect(base_model)
    check_remote_code(base, trust_remote_code)
    runs_root = settings.runs_dir(runs)
    auto_id = name or default_name(dataset.root, base_model)
    folder = (runs_root / auto_id).absolute()
    record = None if fresh else rec.load(folder)
    if fresh and folder.exists():
        shutil.rmtree(folder)
    if record and record.get("dataset", {}).get("content_hash") != dataset.content_hash:
        raise InputError.at(folder, "this auto run searched another version of the dataset",
                            hint="pass --fresh to start over, or --name for a new auto run")
    if record and record.get("state") == "succeeded":
        say(f"auto run {auto_id} finished already (--fresh starts over)")
        return AutoResult(folder, record)
    specs = [DEFAULT_GENERAL] if general is None else list(general)
    general_names = [s.name for s in resolve_general(specs)]
    folder.mkdir(parents=True, exist_ok=True)
    derived_dir = folder / "data" / f"{_slug(dataset.name)}-auto"
    if not (record and derived_dir.is_dir()):
        carved = carve(dataset, derived_dir)
        record = {"state": "running", "budget_s": budget_s, "elapsed_s": 0.0, "created_at": utcnow(),
                  "dataset": {"path": str(dataset.root), "name": dataset.name, "content_hash": dataset.content_hash},
                  "base_model": base.name,
                  "selection_split": {"dataset": str(derived_dir), "split": SELECTION, "queries":
                                      carved["selection_queries"], "seed": carved["seed"],
                                      "group_by": carved["group_by"], "train_queries": carved["train_queries"]},
                  "gate_split": {"dataset": str(dataset.root), "split": "validation",
                                 "queries": carved["held_out_queries"]},
                  "general_sets": general_names, "trials": [], "merge": None, "pick": None}
    record.update(state="running", budget_s=budget_s)
    derived = Dataset.open(derived_dir)
    selection = EvalSet(name=f"{dataset.name}:{SELECTION}", source=str(derived.eval_split(SELECTION)),
                        records=derived.read_split(SELECTION))
    has_teacher = bool(derived.manifest.get("teacher") or dataset.manifest.get("teacher"))
    lengths = [n for n in LENGTHS if not base.max_positions or n <= base.max_positions] or [64]
    exact = False
    if base.is_reranker:
        exact = basemodel.pair_input(base).exact
    routes = routes_for(base, has_teacher=has_teacher, only=tasks, exact_pairs=exact,
                        has_negatives=derived.has_negatives)
    record["routes"] = routes
    elapsed_before = float(record.get("elapsed_s") or 0.0)
    deadline = started + budget_s - elapsed_before
    write_status(folder, run_id=auto_id, state="running", backend="auto", kind="cross-encoder", task=None,
                 base_model=base.ref, base_model_input=base.name, dataset=str(dataset.root),
                 project_dir=str(Path.cwd()), model=None, wrapper_pid=os.getpid(), auto=auto_id,
                 created_at=record["created_at"], started_at=utcnow())

    def elapsed() -> float:
        return elapsed_before + time.monotonic() - started

    def save() -> None:
        record["elapsed_s"] = round(elapsed(), 1)
        rec.save(folder, record)

    cost = _probe(record, base, derived, lengths, say)
    import optuna

    study = _study(folder, auto_id, seed, _priors(routes, base, lengths))
    record["search"] = {"library": f"optuna {optuna.__version__}", "sampler": "TPE (the presets' recipes first)",
                        "storage": str(folder / "study.db"), "seed": seed}
    save()
    try:
        _trials(study, record, base, derived, selection, routes, lengths, has_teacher, cost, deadline, folder,
                auto_id, runs_root, results, specs, save, say, trust_remote_code)
        make_pick(record, folder, deadline, runs_root, results, specs, selection, save, say)
    except (Interrupted, KeyboardInterrupt):
        record["state"] = "interrupted"
        save()
        write_status(folder, state="interrupted", ended_at=utcnow(), cause="stopped by the user (run the same "
                     "command again to resume)")
        raise Interrupted(f"auto run {auto_id} interrupted; the same command resumes it ({folder})") from None
    record["state"] = "succeeded"
    save()
    pick = record["pick"]
    picked = Run.open(runs_root / pick["run_id"]) if pick["run_id"] != "base" else None
    write_status(folder, state="succeeded", ended_at=utcnow(), task=picked.task if picked else None,
                 kind=picked.kind if picked else None, model=str(picked.model_dir) if picked else None,
                 gate=picked.gate if picked else None, pick=pick, wall_s=record["elapsed_s"])
    return AutoResult(folder, record)


def _trials(study, record, base, derived, selection, routes, lengths, has_teacher, cost, deadline, folder, auto_id,
            runs_root, results, specs, save, say, trust_remote_code=False) -> None:
    import optuna

    from wrapper.config import build_config, write_config
    from wrapper.gate import check_run
    from wrapper.run import Run
    from wrapper.train import train_run

    done = {t["number"] for t in record["trials"] if t["state"] in ("complete", "failed", "stopped")}
    refused = 0  # trials in a row that did not fit: another route may still fit, so ask again a few times
    while True:
        left = deadline - time.monotonic() - PICK_RESERVE_S
        trial = study.ask()
        recipe = _suggest(trial, routes, base, lengths, has_teacher)
        rows, per_step, batch = _shape(recipe.task, derived, base)
        share = left / max(MIN_TRIALS - len(done), 1)
        cap = MAX_EPOCHS * max(rows // batch, 1)
        recipe.steps = min(cost.steps_for(recipe, per_step, share), cap)
        if recipe.task.startswith("st:") or recipe.task == "text_regression":
            recipe.epochs = epochs_for(recipe.steps, rows, batch)
            recipe.steps = recipe.epochs * max(-(-rows // batch), 1)
        need = cost.trial_s(recipe, per_step)
        if need > left:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            refused += 1
            if refused >= len(routes) + 1:
                say(f"budget: {max(left, 0):.0f} s left after {PICK_RESERVE_S:.0f} s kept for the pick, a trial needs "
                    f"about {need:.0f} s: no more trials")
                return
            continue
        refused = 0
        number = max([t["number"] for t in record["trials"]] + [0]) + 1
        while (runs_root / f"{auto_id}-t{number:02d}").exists():  # a trial a kill cut short keeps its folder
            number += 1
        run_id = f"{auto_id}-t{number:02d}"
        entry = {"number": number, "recipe": {**trial.params, "steps": recipe.steps, "epochs": recipe.epochs},
                 "label": recipe.label(), "run_id": run_id, "task": recipe.task, "optuna_trial": trial.number}
        say(f"trial t{number:02d}: {recipe.label()} (about {need:.0f} s; {left:.0f} s left)")
        t0 = time.monotonic()
        try:
            plan = build_config(derived.root, base_model=base.name, name=_config_name(run_id), valid_split=SELECTION,
                                trust_remote_code=trust_remote_code, **recipe.config_options())
            config = write_config(plan, out_dir=folder / "configs", overwrite=True)
            run = train_run(config, runs_dir=runs_root, run_id=run_id, progress=False,
                            deadline=deadline - cost.gate_s, labels={"auto": auto_id, "auto_trial": number})
            entry["backend"] = run.status.get("backend")
            entry["selection_map"] = round(selection_map(run.run_dir, selection), 4)
            run.run.update(auto_selection_map=entry["selection_map"])  # the leaderboard groups trials by it
            cost.learn(recipe, per_step, time.monotonic() - t0)
            g0 = time.monotonic()
            gate = check_run(Run.open(run.run_dir), general=specs, results=results, runs=runs_root)
            cost.learn_gate(time.monotonic() - g0)
            entry.update(state="complete", gate=rec.gate_summary(gate.to_dict()))
            study.tell(trial, entry["selection_map"])
        except BudgetReached:
            entry.update(state="stopped", cause="stopped at the end of the time budget")
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        except (RunFailed, InputError) as exc:
            entry.update(state="failed", cause=str(exc).splitlines()[0])
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
        except (Interrupted, KeyboardInterrupt):
            entry.update(state="interrupted", seconds=round(time.monotonic() - t0, 1))
            record["trials"].append(entry)
            raise
        entry["seconds"] = round(time.monotonic() - t0, 1)
        record["trials"].append(entry)
        record.update(startup=dict(cost.startup), startup_learned=sorted(cost.learned), gate_s=cost.gate_s,
                      gates=cost.gates)
        done.add(number)
        gate = entry.get("gate") or {}
        say(f"  t{number:02d}: selection MAP {entry.get('selection_map', '-')}, gate {gate.get('verdict', entry['state'])}"
            f", {entry['seconds']:.0f} s")
        save()
        if entry["state"] == "stopped":
            return


def _config_name(run_id: str) -> str:
    return _slug(run_id)[-50:].strip("-")


__all__ = ["AutoResult", "choose", "default_name", "run_auto"]
