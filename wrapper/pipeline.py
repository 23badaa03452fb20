"""The whole loop in one call: prepare -> config -> train (AutoTrain and cross-encoder)
-> gate (evaluate fine-tune and base) -> results for the leaderboard.

`run_demo` is what `autorerank demo` (the README's first command) runs on the
embedded default: the bundled all-MiniLM-L6-v2 and the sample data in
`data/raw/sample/`. Every step reuses what is already done (the prepared
dataset, a succeeded run with the same config, cached results) unless
`fresh=True`.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from wrapper import settings
from wrapper.dataset import Dataset, is_dataset, manifest_path, sha256_file
from wrapper.errors import RunFailed
from wrapper.run import STATUS, Run, is_run


@dataclass
class DemoOptions:
    raw: Path = settings.PROJECT_ROOT / "data" / "raw" / "sample" / "pairs.csv"
    #: extra passages for the mining pool (distractors that answer no query)
    corpus: Path | None = settings.PROJECT_ROOT / "data" / "raw" / "sample" / "corpus.jsonl"
    name: str = "sample"
    data_root: Path = Path("data")
    runs: Path | None = None
    results: Path | None = None
    base_model: str = "bundled"
    fresh: bool = False
    # prepare: a quarter of the queries held out so the before/after is not noise
    val_ratio: float = 0.25
    num_negatives: int = 4
    seed: int = 42
    # AutoTrain st:triplet (bi-encoder)
    triplet_epochs: int = 2
    triplet_lr: float = 3e-5
    triplet_batch_size: int = 16
    # our cross-encoder backend (a fresh one-logit head on the bundled encoder)
    cross_encoder_task: str = "cross-encoder:bce"
    cross_encoder_epochs: int = 2
    cross_encoder_lr: float = 1e-4
    cross_encoder_batch_size: int = 16
    skip_cross_encoder: bool = False
    #: general-domain sets for the gate's out-of-domain check (None: the shipped default set)
    general: list[str] | None = None


@dataclass
class DemoStep:
    name: str
    action: str  # "done" | "reused"
    seconds: float
    detail: str = ""


@dataclass
class DemoResult:
    dataset: Path
    runs: dict[str, Path] = field(default_factory=dict)
    gates: dict[str, dict] = field(default_factory=dict)
    rows: list[dict] = field(default_factory=list)
    steps: list[DemoStep] = field(default_factory=list)

    def table(self) -> str:
        """The before/after table the CLI prints."""
        header = f"{'model':<40} {'kind':<13} {'MAP':>7} {'MRR@10':>7} {'NDCG@10':>8} {'vs base':>8}  verdict"
        lines = [header, "-" * len(header)]
        for row in self.rows:
            delta = "" if row.get("delta") is None else f"{row['delta']:+.4f}"
            lines.append(
                f"{row['label']:<40} {row['kind']:<13} {row['map']:>7.4f} {row['mrr_at_10']:>7.4f} "
                f"{row['ndcg_at_10']:>8.4f} {delta:>8}  {row.get('verdict', '')}"
            )
        return "\n".join(lines)


def _timed(result: DemoResult, name: str):
    class _Timer:
        def __enter__(self):
            self.t0 = time.perf_counter()
            self.action = "done"
            self.detail = ""
            return self

        def __exit__(self, *exc):
            if exc[0] is None:
                result.steps.append(DemoStep(name, self.action, time.perf_counter() - self.t0, self.detail))

    return _Timer()


def prepare_dataset(opts: DemoOptions) -> Path:
    """Prepare the sample data unless an up-to-date prepared copy exists. Returns its folder."""
    from wrapper.prepare import PrepareOptions, prepare

    out = opts.data_root / opts.name
    wanted = {"val_ratio": opts.val_ratio, "num_negatives": opts.num_negatives, "seed": opts.seed}
    if is_dataset(out) and not opts.fresh:
        manifest = Dataset.open(out).manifest
        have = manifest.get("options", {})
        sources = manifest.get("sources", [])
        same_source = bool(sources) and sources[0].get("sha256") == sha256_file(opts.raw)
        if same_source and all(have.get(k) == v for k, v in wanted.items()):
            return out
    corpus = (str(opts.corpus),) if opts.corpus else ()
    prepare(
        [opts.raw],
        out,
        PrepareOptions(name=opts.name, overwrite=True, corpus=corpus, progress=True, **wanted),
    )
    return out


def train_or_reuse(config_path: Path, run_id: str, runs: Path, fresh: bool) -> Path:
    """Train `config_path` as run `run_id`, unless that run already succeeded on this exact config."""
    from wrapper.train import train_run

    run_dir = runs / run_id
    if is_run(run_dir) and not fresh:
        run = Run.load(run_dir)
        run_config = run_dir / "config.yml"
        same = run_config.exists() and run_config.read_text() == Path(config_path).read_text()
        if run.state == "succeeded" and same and run.model_dir is not None and run.model_dir.exists():
            return run_dir
    if run_dir.exists():
        shutil.rmtree(run_dir)
    result = train_run(Path(config_path), runs_dir=runs, run_id=run_id, progress=True)
    return result.run_dir


def run_demo(opts: DemoOptions | None = None) -> DemoResult:
    from wrapper.config import render_config
    from wrapper.gate import DEFAULT_GENERAL, GATE_VERSION, check_run, resolve_general

    opts = opts or DemoOptions()
    runs = settings.runs_dir(opts.runs)
    results = settings.results_dir(opts.results)
    out = DemoResult(dataset=opts.data_root / opts.name)
    general = [DEFAULT_GENERAL] if opts.general is None else list(opts.general)
    general_names = [s.name for s in resolve_general(general)]

    with _timed(out, "prepare") as t:
        manifest = manifest_path(out.dataset)
        before = manifest.stat().st_mtime if manifest.exists() else None
        prepare_dataset(opts)
        after = manifest.stat().st_mtime
        t.action = "reused" if before == after else "done"
        t.detail = str(out.dataset)
    # freshly prepared data (first run, or the sample or options changed): earlier runs are stale
    retrain = opts.fresh or t.action == "done"

    plans = [("triplet", "st:triplet", opts.triplet_epochs, opts.triplet_lr, opts.triplet_batch_size)]
    if not opts.skip_cross_encoder:
        plans.append(
            ("cross-encoder", opts.cross_encoder_task, opts.cross_encoder_epochs, opts.cross_encoder_lr,
             opts.cross_encoder_batch_size)
        )

    for label, task, epochs, lr, batch_size in plans:
        run_id = f"{opts.name}-minilm-{label}"
        with _timed(out, f"config {label}") as t:
            config_path = render_config(
                out.dataset,
                base_model=opts.base_model,
                name=run_id,
                task=task,
                epochs=epochs,
                lr=lr,
                batch_size=batch_size,
                overwrite=True,
            )
            t.detail = str(config_path)
        with _timed(out, f"train {label}") as t:
            status_file = runs / run_id / STATUS
            before = status_file.stat().st_mtime if status_file.exists() else None
            try:
                run_dir = train_or_reuse(config_path, run_id, runs, retrain)
            except RunFailed as exc:
                raise RunFailed(f"demo: the {label} run failed: {exc}") from exc
            after = (run_dir / STATUS).stat().st_mtime
            t.action = "reused" if before == after and not retrain else "done"
            t.detail = str(run_dir)
            run_reused = t.action == "reused"
        out.runs[label] = run_dir
        with _timed(out, f"evaluate + gate {label}") as t:
            stored = (Run.load(run_dir).gate or {}) if run_reused else {}
            same_general = [g.get("name") for g in stored.get("general", [])] == general_names
            if stored.get("version") == GATE_VERSION and same_general:
                t.action = "reused"  # same run, same dataset: the verdict stands
                out.gates[label] = stored
            else:
                out.gates[label] = check_run(run_dir, results=results, runs=runs, general=general).to_dict()
            t.detail = out.gates[label]["verdict"]

    out.rows = _summary_rows(out, results, runs)
    return out


def _summary_rows(out: DemoResult, results: Path, runs: Path) -> list[dict]:
    """Base model first, then each fine-tune, with scores read back from the results folder."""
    from wrapper.evaluate import evaluate

    rows: list[dict] = []
    seen_base = False
    for label, run_dir in out.runs.items():
        status = Run.load(run_dir).status
        report = evaluate(str(run_dir), datasets=[out.dataset], splits=["validation"], results=results, runs=runs)
        for row in report.rows:
            scores = row.get("scores", {})
            entry = {
                "kind": row.get("kind", "?"),
                "map": scores.get("map_at_1000", row.get("main_score", float("nan"))),
                "mrr_at_10": scores.get("mrr_at_10", float("nan")),
                "ndcg_at_10": scores.get("ndcg_at_10", float("nan")),
            }
            if row.get("role") == "base":
                if seen_base:
                    continue
                seen_base = True
                rows.insert(0, {**entry, "label": "base (all-MiniLM-L6-v2)", "delta": None, "verdict": "before"})
            else:
                gate = status.get("gate") or out.gates.get(label, {})
                rows.append(
                    {
                        **entry,
                        "label": f"fine-tune: {status['run_id']}",
                        "delta": gate.get("delta"),
                        "verdict": gate.get("verdict", ""),
                    }
                )
    return rows
