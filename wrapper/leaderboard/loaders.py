"""Pure loaders for the leaderboard: `results/` (mteb cache + autorerank/metadata.json) and `runs/`.

Nothing here imports Streamlit, prints or raises on a bad file: a corrupt or
partial file becomes a `Problem` (path + reason) that the UI shows as a warning,
and loading goes on with the other files.

The mteb TaskResult files are the source of truth for scores. They are parsed
as plain JSON (the same layout `mteb.TaskResult.to_disk` writes) because that is
several times faster than `mteb.ResultCache` for a folder of 1,000 files (see
`bench/bench_leaderboard.py`); `autorerank/metadata.json` enriches each row (kind, role,
run, base model, dataset, evaluation details) and `model_meta.json` is a
fallback for the model kind.

Caching: `fingerprint(path)` lists (relative path, mtime_ns, size) for every
file a loader reads; the UI keys `st.cache_data` on it so an edited, added or
removed file refreshes the page, and an unchanged folder costs one directory scan.
"""

from __future__ import annotations

from wrapper.settings import RESULTS_METADATA
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: metric key in the mteb scores -> label shown to users
METRICS: dict[str, str] = {
    "main_score": "main score",
    "map_at_1000": "MAP",
    "mrr_at_10": "MRR@10",
    "ndcg_at_10": "NDCG@10",
}

#: files in a revision folder that are not TaskResults
NON_TASK_FILES = frozenset({"model_meta.json"})

#: order tried when a result does not say which metric is its main score
_MAIN_SCORE_GUESS = ("map_at_1000", "ndcg_at_10", "mrr_at_10", "map_at_10", "ndcg_at_1000")

#: columns of the long results table (one row per model x revision x task x split)
ROW_COLUMNS = [
    "model_name", "revision", "task", "split", "main_score_name",
    *METRICS,
    "languages", "kind", "role", "run_id", "base_model", "base_model_name", "base_model_revision",
    "dataset", "dataset_hash", "mteb_version", "precision", "batch_size", "wall_time_s",
    "evaluated_at", "evaluation_time_s", "is_reference", "source", "path",
]

REFERENCE_CSV = Path(__file__).resolve().parent / "reference_scores.csv"


@dataclass(frozen=True)
class Problem:
    """A file that was skipped or only partly used, and why (shown as a warning)."""

    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclass
class LoadedResults:
    """Everything read from a results folder."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    #: (model_name, revision) -> the parsed autorerank/metadata.json (or {})
    meta: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    files_read: int = 0

    def frame(self):
        """The rows as a pandas DataFrame with `ROW_COLUMNS` (empty frame when no rows)."""
        import pandas as pd

        return pd.DataFrame(self.rows, columns=ROW_COLUMNS)


@dataclass
class RunInfo:
    """One `runs/<run-id>/` folder."""

    run_id: str
    path: str
    status: dict[str, Any]
    config_text: str | None = None

    @property
    def gate(self) -> dict[str, Any]:
        gate = self.status.get("gate")
        return gate if isinstance(gate, dict) else {}

    @property
    def verdict(self) -> str | None:
        verdict = self.gate.get("verdict")
        return str(verdict) if verdict else None


@dataclass
class LoadedRuns:
    runs: dict[str, RunInfo] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)


# ---------------------------------------------------------------------------
# fingerprints (cache keys)


def _scan(root: Path, patterns: tuple[str, ...]) -> tuple[tuple[str, int, int], ...]:
    entries = []
    for pattern in patterns:
        for path in root.glob(pattern):
            try:
                st = path.stat()
            except OSError:  # removed between glob and stat
                continue
            entries.append((path.relative_to(root).as_posix(), st.st_mtime_ns, st.st_size))
    return tuple(sorted(entries))


def results_fingerprint(results_dir: str | os.PathLike) -> tuple[tuple[str, int, int], ...]:
    """(relative path, mtime_ns, size) of every file `load_results` reads (results/*/*/*.json + our metadata)."""
    base = Path(results_dir) / "results"
    entries: list[tuple[str, int, int]] = []
    try:
        models = [e for e in os.scandir(base) if e.is_dir()]
    except OSError:
        return ()
    for model in models:
        try:
            revisions = [e for e in os.scandir(model.path) if e.is_dir()]
        except OSError:
            continue
        for rev in revisions:
            try:
                files = list(os.scandir(rev.path))
            except OSError:
                continue
            for f in files:
                if not f.name.endswith(".json"):
                    continue
                try:
                    st = f.stat()
                except OSError:  # removed between listing and stat
                    continue
                entries.append((f"results/{model.name}/{rev.name}/{f.name}", st.st_mtime_ns, st.st_size))
            try:  # our metadata, in its subfolder
                st = os.stat(os.path.join(rev.path, RESULTS_METADATA))
            except OSError:
                continue
            entries.append((f"results/{model.name}/{rev.name}/{RESULTS_METADATA}", st.st_mtime_ns, st.st_size))
    return tuple(sorted(entries))


def runs_fingerprint(runs_dir: str | os.PathLike) -> tuple[tuple[str, int, int], ...]:
    """(relative path, mtime_ns, size) of every status.json and config.yml under `runs_dir`."""
    root = Path(runs_dir)
    if not root.is_dir():
        return ()
    return _scan(root, ("*/status.json", "*/config.yml"))


# ---------------------------------------------------------------------------
# results


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return None if math.isnan(value) or math.isinf(value) else value


def _languages(entries: list[dict]) -> list[str]:
    langs: list[str] = []
    for entry in entries:
        for lang in entry.get("languages") or []:
            code = str(lang).split("-")[0]
            if code not in langs:
                langs.append(code)
    return langs


def _guess_main_score_name(entry: dict, main: float) -> str:
    for name in _MAIN_SCORE_GUESS:
        value = _number(entry.get(name))
        if value is not None and abs(value - main) < 1e-9:
            return name
    return "main_score"


def parse_task_result(data: Any, path: str) -> tuple[list[dict[str, Any]], str | None]:
    """Rows (one per split) from one parsed TaskResult JSON, or ([], reason it is unusable).

    Several hf_subsets of a split are averaged, like `mteb.TaskResult.get_score`.
    """
    if not isinstance(data, dict):
        return [], "not a JSON object (expected mteb's TaskResult)"
    scores = data.get("scores")
    if not isinstance(scores, dict) or not scores:
        return [], "no 'scores' (a partial or interrupted mteb result; re-run `autorerank eval`)"
    task = data.get("task_name") or Path(path).stem
    rows = []
    for split, entries in scores.items():
        if not isinstance(entries, list) or not entries or not all(isinstance(e, dict) for e in entries):
            return [], f"split {split!r} has no score entries"
        mains = [_number(e.get("main_score")) for e in entries]
        if any(m is None for m in mains):
            return [], f"split {split!r}: 'main_score' missing or not a number"
        row: dict[str, Any] = {"task": str(task), "split": str(split)}
        main = sum(mains) / len(mains)  # type: ignore[arg-type]
        row["main_score"] = main
        for metric in METRICS:
            if metric == "main_score":
                continue
            values = [_number(e.get(metric)) for e in entries]
            row[metric] = None if any(v is None for v in values) else sum(values) / len(values)  # type: ignore[arg-type]
        row["main_score_name"] = _guess_main_score_name(entries[0], mains[0])  # type: ignore[arg-type]
        row["languages"] = _languages(entries)
        row["mteb_version"] = data.get("mteb_version")
        row["evaluation_time_s"] = _number(data.get("evaluation_time"))
        rows.append(row)
    return rows, None


def _read_json(path: Path) -> tuple[Any, str | None]:
    """Parse one JSON file with pydantic-core's parser (about 3x faster than `json` here)."""
    from pydantic_core import from_json

    try:
        raw = path.read_bytes()
    except OSError as exc:
        return None, f"cannot be read ({exc.__class__.__name__}: {exc})"
    if not raw.strip():
        return None, "empty file (probably written while the evaluation was interrupted)"
    try:
        return from_json(raw), None
    except ValueError as exc:
        return None, f"not valid JSON ({exc})"


def _kind_from_model_meta(meta: Any) -> str | None:
    if isinstance(meta, dict) and isinstance(meta.get("is_cross_encoder"), bool):
        return "cross-encoder" if meta["is_cross_encoder"] else "bi-encoder"
    return None


def load_results(results_dir: str | os.PathLike) -> LoadedResults:
    """Read every `results/<org__name>/<revision>/<Task>.json` under `results_dir`.

    Never raises for a bad file: it is skipped and reported in `.problems`.
    """
    root = Path(results_dir)
    out = LoadedResults()
    base = root / "results"
    if not base.is_dir():
        return out
    for model_dir in sorted(p for p in base.iterdir() if p.is_dir()):
        for rev_dir in sorted(p for p in model_dir.iterdir() if p.is_dir()):
            _load_revision(root, rev_dir, out)
    return out


def _load_revision(root: Path, rev_dir: Path, out: LoadedResults) -> None:
    def rel(p: Path) -> str:
        try:
            return p.relative_to(root.parent).as_posix()
        except ValueError:
            return str(p)

    task_files = sorted(p for p in rev_dir.glob("*.json") if p.name not in NON_TASK_FILES)
    if not task_files:
        return
    model_name = rev_dir.parent.name.replace("__", "/")
    revision = rev_dir.name

    ours: dict[str, Any] = {}
    ar_path = rev_dir / RESULTS_METADATA
    if ar_path.exists():
        data, problem = _read_json(ar_path)
        out.files_read += 1
        if problem:
            out.problems.append(Problem(rel(ar_path), problem + "; scores shown without autorerank metadata"))
        elif not isinstance(data, dict):
            out.problems.append(Problem(rel(ar_path), "not a JSON object; scores shown without autorerank metadata"))
        else:
            ours = data

    kind_from_meta = None
    mm_path = rev_dir / "model_meta.json"
    if mm_path.exists():
        data, problem = _read_json(mm_path)
        out.files_read += 1
        if problem:
            out.problems.append(Problem(rel(mm_path), problem))
        else:
            kind_from_meta = _kind_from_model_meta(data)
            if isinstance(data, dict) and isinstance(data.get("name"), str) and not ours.get("model_name"):
                model_name = data["name"]

    model_name = str(ours.get("model_name") or model_name)
    revision = str(ours.get("revision") or revision)
    out.meta[(model_name, revision)] = ours
    tasks_meta = ours.get("tasks") if isinstance(ours.get("tasks"), dict) else {}
    role = ours.get("role") or "external"
    run_id = ours.get("run_id")
    if not run_id and role == "fine-tune" and model_name.startswith("autorerank/"):
        run_id = model_name.split("/", 1)[1]
    common = {
        "model_name": model_name,
        "revision": revision,
        "kind": ours.get("kind") or kind_from_meta or "unknown",
        "role": role,
        "run_id": run_id,
        "base_model": ours.get("base_model"),
        "base_model_name": ours.get("base_model_name"),
        "base_model_revision": ours.get("base_model_revision"),
        "is_reference": False,
        "source": "evaluated",
    }

    for path in task_files:
        out.files_read += 1
        data, problem = _read_json(path)
        if problem is None:
            rows, problem = parse_task_result(data, path.name)
        if problem:
            out.problems.append(Problem(rel(path), f"skipped: {problem}"))
            continue
        for row in rows:
            tmeta = tasks_meta.get(row["task"]) if isinstance(tasks_meta.get(row["task"]), dict) else {}
            langs = list(row["languages"])
            for lang in tmeta.get("languages") or []:
                if lang not in langs:
                    langs.append(lang)
            if tmeta.get("main_score_name"):
                row["main_score_name"] = tmeta["main_score_name"]
            out.rows.append(
                {
                    **common,
                    **row,
                    "languages": langs,
                    "dataset": tmeta.get("dataset") or row["task"],
                    "dataset_hash": tmeta.get("dataset_hash"),
                    "precision": tmeta.get("precision"),
                    "batch_size": tmeta.get("batch_size"),
                    "wall_time_s": _number(tmeta.get("wall_time_s")),
                    "evaluated_at": tmeta.get("evaluated_at"),
                    "mteb_version": tmeta.get("mteb_version") or row.get("mteb_version"),
                    "path": rel(path),
                }
            )


# ---------------------------------------------------------------------------
# published reference rows


def load_reference(csv_path: str | os.PathLike = REFERENCE_CSV) -> tuple[list[dict[str, Any]], list[Problem]]:
    """Published reference rows (scores x100 in the CSV, returned on mteb's 0-1 scale)."""
    import csv

    rows: list[dict[str, Any]] = []
    problems: list[Problem] = []
    path = Path(csv_path)
    if not path.exists():
        return rows, [Problem(str(path), "reference table missing; no reference rows shown")]
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(line for line in fh if not line.startswith("#"))
        for line_no, rec in enumerate(reader, start=2):
            try:
                value = float(rec["score_x100"]) / 100.0
                metric = rec["metric"].strip()
                if metric not in METRICS:
                    raise ValueError(f"metric {metric!r} is not one of {sorted(METRICS)}")
            except (KeyError, TypeError, ValueError) as exc:
                problems.append(Problem(f"{path.name}, line {line_no}", f"skipped reference row: {exc}"))
                continue
            scores = {m: None for m in METRICS}
            scores[metric] = value
            scores["main_score"] = value  # the published C-MTEB reranking main score is MAP
            rows.append(
                {
                    "model_name": rec["model"].strip(),
                    "revision": "published",
                    "task": rec["task"].strip(),
                    "split": rec.get("split", "").strip() or "test",
                    "main_score_name": metric,
                    **scores,
                    "languages": [s for s in rec.get("languages", "").split(";") if s],
                    "kind": rec.get("kind", "").strip() or "cross-encoder",
                    "role": "reference",
                    "run_id": None,
                    "base_model": None,
                    "base_model_name": None,
                    "base_model_revision": None,
                    "dataset": rec.get("dataset", "").strip() or rec["task"].strip(),
                    "is_reference": True,
                    "source": rec.get("source", "").strip(),
                    "path": path.name,
                }
            )
    return rows, problems


# ---------------------------------------------------------------------------
# runs


def load_runs(runs_dir: str | os.PathLike) -> LoadedRuns:
    """Every `runs/<id>/status.json` (and its config.yml text); bad files become problems."""
    root = Path(runs_dir)
    out = LoadedRuns()
    if not root.is_dir():
        return out
    for status_path in sorted(root.glob("*/status.json")):
        run_dir = status_path.parent
        data, problem = _read_json(status_path)
        if problem is None and not isinstance(data, dict):
            problem = "not a JSON object (expected the run's status)"
        if problem:
            out.problems.append(Problem(f"{root.name}/{run_dir.name}/status.json", f"skipped: {problem}"))
            continue
        data = _display_state(data)
        run_id = str(data.get("run_id") or run_dir.name)
        config_path = run_dir / "config.yml"
        config_text = None
        if config_path.exists():
            try:
                config_text = config_path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                out.problems.append(Problem(f"{root.name}/{run_dir.name}/config.yml", f"cannot be read: {exc}"))
        out.runs[run_id] = RunInfo(run_id=run_id, path=str(run_dir), status=data, config_text=config_text)
        if run_dir.name != run_id:
            out.runs.setdefault(run_dir.name, out.runs[run_id])
    return out


def _display_state(status: dict[str, Any]) -> dict[str, Any]:
    """A "running" run whose wrapper process is gone can never finish: show it as interrupted.

    Display only (this loader is cached and never writes); `autorerank train`'s
    `wrapper.train.reconcile` is what rewrites such a status.json.
    """
    if status.get("state") != "running":
        return status
    from wrapper.train.run import pid_alive

    pid = status.get("wrapper_pid")
    if pid and pid_alive(int(pid)):
        return status
    return {**status, "state": "interrupted", "cause": status.get("cause") or "the training process is gone (never finished)"}


def load_metrics(metrics_path: str | os.PathLike) -> tuple[list[dict[str, Any]], list[Problem]]:
    """The logged steps of a run's metrics.jsonl; torn or bad lines are skipped and reported."""
    path = Path(metrics_path)
    rows: list[dict[str, Any]] = []
    problems: list[Problem] = []
    if not path.exists():
        return rows, problems
    bad: list[int] = []
    with path.open(encoding="utf-8", errors="replace") as fh:
        for line_no, line in enumerate(fh, start=1):
            line = line.strip()
            if not line:
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                bad.append(line_no)
                continue
            if isinstance(rec, dict):
                rows.append(rec)
            else:
                bad.append(line_no)
    if bad:
        shown = ", ".join(map(str, bad[:5])) + (" ..." if len(bad) > 5 else "")
        problems.append(Problem(str(path), f"skipped {len(bad)} unreadable line(s): {shown}"))
    return rows, problems
