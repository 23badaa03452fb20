"""`autorerank eval`: evaluate a checkpoint (and its base model) with MTEB.

```python
from wrapper.evaluate import evaluate, load_model
report = evaluate("20261123-214500-sample-minilm")      # a run id: fine-tune + its base
report = evaluate("bundled", datasets=[Path("data/sample")], tasks=["local", "cmteb-rerank"],
                  mteb_data=Path("mteb-data"))
print(report.table())
```

Stages: resolve the model (`models`), build the tasks (`tasks`), skip what
`results/` already holds, evaluate the rest with `mteb.evaluate` (no mteb
cache), save each finished task atomically in mteb's layout plus our
`autorerank/metadata.json` (`results`). Library code: never prints, raises
`wrapper.errors.*`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wrapper import settings
from wrapper.errors import InputError, Interrupted, RunFailed
from wrapper.evaluate import results as _results
from wrapper.evaluate.models import (
    BI_ENCODER,
    CROSS_ENCODER,
    LoadedModel,
    ModelRef,
    base_model_ref,
    load,
    load_model,
    resolve_model,
)
from wrapper.evaluate.tasks import (
    BUILTIN_TASKS,
    REPORTED_SCORES,
    T2_CROSSLINGUAL,
    TASK_GROUPS,
    TaskSpec,
    check_top_ranked,
    resolve_task_specs,
)

__all__ = [
    "BUILTIN_TASKS", "TASK_GROUPS", "T2_CROSSLINGUAL", "EvalReport", "LoadedModel", "ModelRef",
    "evaluate", "load_model", "resolve_model",
]

logger = logging.getLogger(__name__)


@dataclass
class EvalReport:
    """What an evaluation did: one row per (model, task, split)."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    results_dir: Path | None = None
    warnings: list[str] = field(default_factory=list)

    def score(self, role: str, task: str, split: str | None = None) -> float | None:
        """The main score of the `role` model ("fine-tune", "base", "external") on a task."""
        for row in self.rows:
            if row["role"] == role and row["task"] == task and (split is None or row["split"] == split):
                return row["main_score"]
        return None

    def table(self) -> str:
        """A before/after table: one line per task split, base and fine-tune side by side."""
        if not self.rows:
            return "(nothing evaluated)"
        models: list[tuple[str, str]] = []
        for row in self.rows:
            key = (row["role"], row["model_name"])
            if key not in models:
                models.append(key)
        order = {"base": 0, "external": 1, "fine-tune": 2}
        models.sort(key=lambda m: order.get(m[0], 3))
        headers = ["task", "split", "metric"] + [f"{role}: {name}" for role, name in models]
        has_delta = any(r == "base" for r, _ in models) and any(r == "fine-tune" for r, _ in models)
        if has_delta:
            headers.append("delta")
        lines: list[list[str]] = []
        keys: list[tuple[str, str, str]] = []
        for row in self.rows:
            key = (row["task"], row["split"], row["main_score_name"])
            if key not in keys:
                keys.append(key)
        for task, split, metric in keys:
            cells = [task, split, metric]
            values: dict[str, float | None] = {}
            for role, name in models:
                match = next((r for r in self.rows if r["task"] == task and r["split"] == split
                              and r["role"] == role and r["model_name"] == name), None)
                value = match["main_score"] if match else None
                values[role] = value
                mark = " (cached)" if match and match.get("skipped") else ""
                cells.append("-" if value is None else f"{value:.4f}{mark}")
            if has_delta:
                base, tuned = values.get("base"), values.get("fine-tune")
                cells.append("-" if base is None or tuned is None else f"{tuned - base:+.4f}")
            lines.append(cells)
        widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(headers)]
        fmt = "  ".join(f"{{:<{w}}}" for w in widths)
        out = [fmt.format(*headers), fmt.format(*("-" * w for w in widths))]
        out += [fmt.format(*line) for line in lines]
        return "\n".join(out)


# --------------------------------------------------------------------------- helpers


def _precision(model) -> str:
    dtype = str(getattr(model, "dtype", "") or "")
    for key, name in (("bfloat16", "bf16"), ("float16", "fp16"), ("float32", "fp32"), ("float64", "fp64")):
        if key in dtype:
            return name
    return "fp32"


def _length_sorted_cross_encoder_wrapper():
    """mteb's CrossEncoderWrapper, scoring all pairs of a split together (`wrapper.scoring.predict_pairs`).

    mteb calls `predict` once per 32-pair batch in candidate order, so each batch
    pads to its longest passage; scoring the whole split at once lets batches hold
    pairs of similar token length, each distinct pair once: same scores, less
    padding (see bench/bench_eval.py). Non-text inputs keep mteb's own path.
    """
    import numpy as np
    from mteb.models.sentence_transformer_wrapper import CrossEncoderWrapper

    class LengthSortedCrossEncoderWrapper(CrossEncoderWrapper):
        def predict(self, inputs1, inputs2, *, task_metadata, hf_split, hf_subset, prompt_type=None, **kwargs):
            queries: list = []
            documents: list = []
            for batch_q, batch_d in zip(self._iter_inputs(inputs1, self.query_prefix),
                                        self._iter_inputs(inputs2, self.passage_prefix), strict=True):
                queries.extend(batch_q)
                documents.extend(batch_d)
            if not all(isinstance(x, str) for x in queries + documents):
                return super().predict(inputs1, inputs2, task_metadata=task_metadata, hf_split=hf_split,
                                       hf_subset=hf_subset, prompt_type=prompt_type, **kwargs)
            if not queries:
                return np.array([])
            from wrapper.scoring import predict_pairs

            show = kwargs.pop("show_progress_bar", True)
            return predict_pairs(self.model, list(zip(queries, documents, strict=True)), show_progress=show, **kwargs)

    return LengthSortedCrossEncoderWrapper


def _wrap(model, ref: ModelRef):
    """mteb's wrapper for a sentence-transformers model, carrying our unique name + revision."""
    from mteb.models.sentence_transformer_wrapper import SentenceTransformerEncoderWrapper

    if ref.kind == CROSS_ENCODER:
        wrapper = _length_sorted_cross_encoder_wrapper()(model)
    else:
        wrapper = SentenceTransformerEncoderWrapper(model)
    wrapper.mteb_model_meta = wrapper.mteb_model_meta.model_copy(
        update={"name": ref.name, "revision": ref.revision}, deep=True)
    return wrapper


def _header(ref: ModelRef, base: ModelRef | None) -> dict[str, Any]:
    return {
        "model_name": ref.name, "revision": ref.revision, "kind": ref.kind, "role": ref.role,
        "run_id": ref.run_id, "base_model": ref.base_model if ref.role == "fine-tune" else None,
        "base_model_name": base.name if base else None,
        "base_model_revision": base.revision if base else None,
        "model_path": str(ref.path),
    }


def _row(ref: ModelRef, spec: TaskSpec, split: str, scores: dict[str, float], main_name: str, *,
         skipped: bool, wall: float, result_file: Path) -> dict[str, Any]:
    return {
        "model_name": ref.name, "revision": ref.revision, "kind": ref.kind, "role": ref.role,
        "run_id": ref.run_id, "task": spec.name, "split": split, "main_score_name": main_name,
        "main_score": scores.get(main_name), "scores": {k: scores[k] for k in _reported(main_name) if k in scores},
        "skipped": skipped, "wall_time_s": round(wall, 3), "dataset": spec.dataset,
        "result_file": str(result_file),
    }


def _reported(main_name: str) -> list[str]:
    names = list(REPORTED_SCORES)
    if main_name not in names:
        names.insert(0, main_name)
    return names


# --------------------------------------------------------------------------- evaluate


def evaluate(
    model: str,
    *,
    datasets: list[Path] | None = None,
    tasks: list[str] | None = None,
    splits: list[str] | None = None,
    results: Path | None = None,
    overwrite: bool = False,
    include_base: bool = True,
    batch_size: int = 32,
    mteb_data: Path | None = None,
    runs: Path | None = None,
    t2_crosslingual: Path | None = None,
    show_progress: bool = True,
    precision: str = "fp32",
) -> EvalReport:
    """Evaluate MODEL (run id / folder / `bundled` / Hub id) and, for a run, its base model.

    Tasks: `tasks=None` means the local tasks of `datasets` (a run's own dataset
    by default); names are built-in tasks, groups, `T2RerankingZh2En/En2Zh` or
    `local`. Already evaluated (model, revision, task) are skipped unless
    `overwrite`. Raises InputError for unusable input, RunFailed when mteb
    fails, Interrupted on Ctrl-C (finished tasks stay saved).
    """
    if batch_size < 1:
        raise InputError.at("--batch-size", f"must be at least 1, got {batch_size}")
    results_dir = settings.results_dir(results)
    report = EvalReport(results_dir=results_dir)
    ref = resolve_model(model, runs)

    dataset_dirs = [Path(d) for d in datasets] if datasets else []
    if not dataset_dirs and ref.role == "fine-tune" and ref.run is not None and ref.run.status.get("dataset"):
        root = ref.run.dataset_root
        if root is not None and root.is_dir():
            dataset_dirs = [root]
        elif not tasks:
            dataset_dirs = [ref.run.dataset.root]  # the run's dataset is gone: an InputError naming status.json
    if not tasks and not dataset_dirs:
        raise InputError.at(model, "nothing to evaluate: this model has no run dataset",
                            hint="pass --dataset data/<name> (a prepared dataset) and/or --tasks T2Reranking,...")
    specs = resolve_task_specs(tasks, dataset_dirs, splits=splits, mteb_data=mteb_data,
                               t2_crosslingual=t2_crosslingual)

    base: ModelRef | None = None
    if ref.role == "fine-tune" and ref.base_model:
        try:
            base = base_model_ref(ref, runs)
        except InputError as exc:
            if include_base:
                report.warnings.append(f"base model {ref.base_model!r} not evaluated: {exc}")
    refs = [ref] + ([base] if include_base and base is not None else [])

    if results_dir.exists():
        _results.clean_staging(results_dir)
    loaded_tasks: dict[str, Any] = {}
    try:
        for current in refs:
            _evaluate_one(current, base if current is ref else None, specs, report, results_dir=results_dir,
                          overwrite=overwrite, batch_size=batch_size, loaded_tasks=loaded_tasks,
                          show_progress=show_progress, precision=precision)
    finally:
        for task in loaded_tasks.values():
            try:
                task.unload_data()
            except Exception:  # noqa: BLE001 - best effort
                pass
    return report


def _evaluate_one(ref: ModelRef, base: ModelRef | None, specs: list[TaskSpec], report: EvalReport, *,
                  results_dir: Path, overwrite: bool, batch_size: int, loaded_tasks: dict,
                  show_progress: bool, precision: str = "fp32") -> None:
    folder = _results.model_folder(results_dir, ref.name, ref.revision)
    header = _header(ref, base)
    loaded = None
    wrapper = None
    for spec in specs:
        path = folder / f"{spec.name}.json"
        stored = None if overwrite else _results.load_task_result(path)
        task = None
        if stored is not None:
            # cheap check without loading data: splits and subsets the result must cover
            if spec.split is not None:
                need_splits, need_subsets = [spec.split], None
            else:
                task = loaded_tasks.get(spec.name + str(spec.dataset)) or spec.build()
                need_splits, need_subsets = list(task.eval_splits), list(task.hf_subsets)
            if _results.is_done(stored, splits=need_splits, subsets=need_subsets, dataset_revision=spec.revision):
                meta = _results.read_metadata(folder).get("tasks", {}).get(spec.name, {})
                main_name = meta.get("main_score_name") or _main_score_name(stored, task, spec)
                for split in need_splits:
                    scores = _results.split_scores(stored, split, need_subsets)
                    report.rows.append(_row(ref, spec, split, scores, main_name, skipped=True,
                                            wall=float(meta.get("wall_time_s") or 0.0), result_file=path))
                if not meta:  # result present but our metadata missing (e.g. written by plain mteb)
                    _results.update_metadata(folder, header, spec.name, _task_entry(
                        spec, need_splits[0], scores, main_name, ref, None, batch_size, 0.0, need_subsets))
                continue

        key = spec.name + str(spec.dataset)
        if key not in loaded_tasks:
            task = task or spec.build()
            try:
                task.load_data()
            except InputError:
                raise
            except KeyboardInterrupt:
                raise Interrupted("interrupted while loading task data") from None
            except Exception as exc:
                raise RunFailed(f"{spec.name}: cannot load its data from {spec.data_source}: "
                                f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from exc
            check_top_ranked(task)
            loaded_tasks[key] = task
        task = loaded_tasks[key]
        if loaded is None:
            loaded = load(ref, precision=precision)  # auto | fp32 | bf16 (wrapper.precision)
            wrapper = _wrap(loaded, ref)
        result, wall = _run_mteb(wrapper, task, batch_size=batch_size, show_progress=show_progress)
        # keep other subsets/splits already stored for the same data (e.g. MIRACLReranking:zho, then :jpn)
        to_save = _results.merge_with_stored(path, result)
        try:
            result_file = _results.save_task_result(results_dir, wrapper.mteb_model_meta, to_save,
                                                    encode_kwargs={"batch_size": batch_size})
        except KeyboardInterrupt:
            raise Interrupted(f"interrupted while saving {spec.name}; nothing half-written was left") from None
        except OSError as exc:
            raise RunFailed(f"{spec.name}: cannot write its result under {results_dir}: {exc}") from exc
        main_name = task.metadata.main_score
        splits = list(task.eval_splits)
        subsets = list(task.hf_subsets)
        for split in splits:
            scores = _results.split_scores(result, split, subsets)
            report.rows.append(_row(ref, spec, split, scores, main_name, skipped=False, wall=wall,
                                    result_file=result_file))
            _results.update_metadata(folder, header, spec.name, _task_entry(
                spec, split, scores, main_name, ref, loaded, batch_size, wall,
                subsets if spec.kind == "builtin" else None))
    # everything skipped: still record a new role or base pairing, but leave an unchanged file alone
    # (the leaderboard caches on mtime)
    current = _results.read_metadata(folder)
    if current and any(value is not None and current.get(key) != value for key, value in header.items()
                       if key != "role") or (current and current.get("role") == "external" and ref.role != "external"):
        _results.update_metadata(folder, header)


def _main_score_name(stored, task, spec: TaskSpec) -> str:
    if task is not None:
        return task.metadata.main_score
    if spec.kind != "builtin":
        return "map_at_1000"
    return spec.build().metadata.main_score


def _task_entry(spec: TaskSpec, split: str, scores: dict, main_name: str, ref: ModelRef, model, batch_size: int,
                wall: float, subsets: list[str] | None = None) -> dict[str, Any]:
    """Our metadata for one task; `scores` cover `subsets` (mteb hf_subsets) when given."""
    import mteb

    entry = {
        "dataset": spec.dataset, "dataset_hash": spec.dataset_hash, "data_source": spec.data_source,
        "split": split, "main_score_name": main_name, "main_score": scores.get(main_name),
        "scores": {k: scores[k] for k in _reported(main_name) if k in scores},
        "languages": spec.languages, "mteb_version": mteb.__version__,
        "precision": _precision(model) if model is not None else None, "batch_size": batch_size,
        "wall_time_s": round(wall, 3), "pairs": spec.num_pairs, "evaluated_at": _results.now(),
        "kind": ref.kind,
    }
    if subsets:
        entry["subsets"] = subsets
    return entry


def _run_mteb(wrapper, task, *, batch_size: int, show_progress: bool):
    import mteb

    start = time.perf_counter()
    try:
        model_result = mteb.evaluate(
            wrapper, task, cache=None, overwrite_strategy="always", co2_tracker=False,
            encode_kwargs={"batch_size": batch_size, "show_progress_bar": show_progress},
            show_progress_bar=show_progress, raise_error=True,
        )
    except KeyboardInterrupt:
        raise Interrupted(f"interrupted during {task.metadata.name}; finished tasks are saved, "
                          "run the same command again to continue") from None
    except (InputError, RunFailed):
        raise
    except Exception as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise RunFailed(f"{task.metadata.name}: evaluation failed: {reason}") from exc
    wall = time.perf_counter() - start
    if model_result.exceptions or not model_result.task_results:
        errors = "; ".join(str(e.exception) for e in model_result.exceptions) or "no result"
        raise RunFailed(f"{task.metadata.name}: evaluation failed: {errors}")
    return model_result.task_results[0], wall


# keep the kinds importable from the package
KIND_BI_ENCODER = BI_ENCODER
KIND_CROSS_ENCODER = CROSS_ENCODER
