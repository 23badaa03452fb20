"""The whole loop in one call, on the embedded default: prepare the sample data, then `auto`
(trials on several routes, each gated in domain and in general, the pick), then the before/after.

`run_demo` is what `autorerank demo` (the README's first command) runs: the bundled
all-MiniLM-L6-v2 and the sample data in `data/raw/sample/`, offline. The prepared dataset is
reused when its source and options are unchanged; the auto run resumes (or, finished, is
reused) unless `fresh=True`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from wrapper import settings
from wrapper.dataset import Dataset, is_dataset, manifest_path, sha256_file

#: the demo's time budget for `auto` (set-up from a fresh clone takes 4-5 min on 2 cores; 15 min in all)
DEMO_BUDGET_S = 480


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
    budget_s: float = DEMO_BUDGET_S
    tasks: list[str] | None = None  # auto's routes (None: every route the base can take)
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
    auto_dir: Path | None = None
    record: dict = field(default_factory=dict)
    steps: list[DemoStep] = field(default_factory=list)

    @property
    def pick(self) -> dict:
        return self.record.get("pick") or {}

    def before_after(self) -> str:
        """The base and the pick on the held-out split, from the pick's gate record."""
        trial = next((t for t in self.record.get("trials", []) if t["run_id"] == self.pick.get("run_id")), None)
        merge = self.record.get("merge") or {}
        gate = (trial or {}).get("gate") or (merge.get("gate") if merge.get("run_id") == self.pick.get("run_id")
                                              else None)
        best = max((t for t in self.record.get("trials", []) if t.get("gate")), default=None,
                   key=lambda t: t.get("selection_map") or -1)
        gate = gate or (best or {}).get("gate")
        if not gate:
            return "no trial finished: nothing to compare"
        lines = [f"{'model':<44} {'held-out MAP':>12} {'vs base':>9}  verdict",
                 f"{'base (all-MiniLM-L6-v2)':<44} {gate['base']:>12.4f} {'':>9}  before"]
        label = self.pick.get("run_id") if self.pick.get("run_id") != "base" else (best or {}).get("run_id", "")
        lines.append(f"{label:<44} {gate['fine_tuned']:>12.4f} {gate['delta']:>+9.4f}  {gate['verdict']}"
                     + ("  (picked)" if self.pick.get("run_id") == label else "  (best trial, not picked)"))
        return "\n".join(lines)


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
    prepare([opts.raw], out, PrepareOptions(name=opts.name, overwrite=True, corpus=corpus, progress=True, **wanted))
    return out


def run_demo(opts: DemoOptions | None = None, say: Callable[[str], None] | None = None) -> DemoResult:
    from wrapper.auto import run_auto

    opts = opts or DemoOptions()
    out = DemoResult(dataset=opts.data_root / opts.name)
    t0 = time.perf_counter()
    manifest = manifest_path(out.dataset)
    before = manifest.stat().st_mtime if manifest.exists() else None
    prepare_dataset(opts)
    action = "reused" if before == manifest.stat().st_mtime else "done"
    out.steps.append(DemoStep("prepare", action, time.perf_counter() - t0, str(out.dataset)))
    t0 = time.perf_counter()
    result = run_auto(out.dataset, budget_s=opts.budget_s, base_model=opts.base_model, general=opts.general,
                      tasks=opts.tasks, runs=opts.runs, results=opts.results, fresh=opts.fresh or action == "done",
                      say=say)
    out.auto_dir, out.record = result.run_dir, result.record
    out.steps.append(DemoStep("auto", "done", time.perf_counter() - t0, str(result.run_dir)))
    return out
