"""The `text_regression` backend: AutoTrain fine-tunes a reranker's own one-logit head.

AutoTrain 0.8.36's `text_regression` loads `AutoModelForSequenceClassification(num_labels=1,
ignore_mismatched_sizes=True)` (a one-logit reranker keeps its trained head), tokenizes ONE text
column and trains with MSE on the raw logit. This backend gives it what a reranker needs:

1. pair texts `query + separator + passage`, where the separator is the one `config` found for
   the base's tokenizer (XLM-R: `</s></s>`), so the model reads each text as the pair;
2. targets that refine the head instead of flattening it (`pairs.targets`):
   - `anchored` (default): the base's own logit for the pair, moved by `margin` standard
     deviations of those logits: up for a positive, down for a negative. The head keeps its
     scale and only learns where to move. (0/1 targets pull every logit of a head trained at
     another scale towards 0..1 first: FACTS.md measured 0.513 MAP against the base's 0.545.)
   - `binary`: 1 for a positive, 0 for a negative (for a fresh head);
3. `pairs/train.csv` and `pairs/validation.csv` (columns `text`, `target`) and
   `pairs/summary.json` in the run folder, and AutoTrain's own config `config.autotrain.yml`
   pointing at them; then this process becomes `autotrain --config config.autotrain.yml`
   (exec: same pid, same process group, so the run's supervision covers both steps).

    python -m wrapper.train.autotrain_reranker --config runs/<id>/config.resolved.yml --autotrain-env .venv-autotrain

`command(run)` is the `BACKENDS` entry. Training rows: every (query, positive) and the first
`pairs.negatives` (query, negative) of `flagembedding/train.jsonl`; validation rows: every
candidate of `eval/validation.jsonl`.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
from pathlib import Path

from wrapper.train.logparse import METRIC_PREFIX

PAIRS_DIR = "pairs"
#: the smallest logit spread `margin` is measured in (logits of a trained reranker spread over several units)
MIN_SPREAD = 0.5
AUTOTRAIN_CONFIG = "config.autotrain.yml"


def pair_rows(records: list[dict], negatives: int | None) -> list[tuple[str, str, float]]:
    """(query, passage, label) of train-style records ({query, pos, neg}) or eval records ({query, positive,
    negative}); `negatives`: at most that many negatives per query (None: all)."""
    rows = []
    for r in records:
        pos = r.get("pos", r.get("positive")) or []
        neg = r.get("neg", r.get("negative")) or []
        rows += [(r["query"], p, 1.0) for p in pos]
        rows += [(r["query"], n, 0.0) for n in (neg if negatives is None else neg[:negatives])]
    return rows


def targets(labels: list[float], base_logits: list[float] | None, mode: str, margin: float) -> list[float]:
    """Regression targets (see the module doc); `base_logits` is needed for `anchored`."""
    if mode == "binary":
        return list(labels)
    if base_logits is None:
        raise ValueError("anchored targets need the base model's logits")
    shift = margin * logit_spread(base_logits)
    return [z + shift if y > 0 else z - shift for y, z in zip(labels, base_logits)]


def logit_spread(logits: list[float]) -> float:
    """The unit of `margin`: the standard deviation of the base's logits, at least MIN_SPREAD (a head that
    gives every pair the same score, e.g. a fresh one, still gets targets that separate them)."""
    return max(statistics.pstdev(logits) if len(logits) > 1 else 0.0, MIN_SPREAD)


def base_logits(base: str, pairs: list[tuple[str, str]], *, max_length: int, trust_remote_code: bool) -> list[float]:
    """The raw logit the base model gives each (query, passage) pair."""
    import torch
    from sentence_transformers import CrossEncoder

    from wrapper.scoring import predict_pairs

    model = CrossEncoder(base, num_labels=1, max_length=max_length, trust_remote_code=trust_remote_code,
                         device="cuda" if torch.cuda.is_available() else "cpu")
    return [float(x) for x in predict_pairs(model, pairs, batch_size=32, activation_fn=torch.nn.Identity())]


def _write_csv(path: Path, texts: list[str], values: list[float]) -> None:
    import csv

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["text", "target"])
        writer.writerows((text, f"{value:.6g}") for text, value in zip(texts, values))


def write_pairs(dataset, folder: Path, pairs, *, base_model: str, max_length: int, valid_split: str | None,
                trust_remote_code: bool = False, score=base_logits) -> dict:
    """Write `train.csv` (and `validation.csv`) of pair texts and targets into `folder` for a
    `PairsSection`; returns the summary (also written as summary.json)."""
    from wrapper.dataset import read_jsonl

    splits = {"train": pair_rows(read_jsonl(dataset.train_file("flagembedding")), pairs.negatives)}
    if valid_split:
        splits["validation"] = pair_rows(dataset.read_split(valid_split), None)
    summary: dict = {"separator": pairs.separator, "exact": pairs.exact, "targets": pairs.targets,
                     "margin": pairs.margin, "splits": {}}
    for name, rows in splits.items():
        labels = [y for _, _, y in rows]
        logits = None
        if pairs.targets == "anchored":
            logits = score(base_model, [(q, p) for q, p, _ in rows], max_length=max_length,
                           trust_remote_code=trust_remote_code)
        values = targets(labels, logits, pairs.targets, pairs.margin)
        _write_csv(folder / f"{name}.csv", [q + pairs.separator + p for q, p, _ in rows], values)
        info = {"rows": len(rows), "positives": int(sum(labels))}
        if logits is not None:
            pos = [z for z, y in zip(logits, labels) if y > 0] or [math.nan]
            neg = [z for z, y in zip(logits, labels) if y <= 0] or [math.nan]
            info.update(base_logit_mean_positive=round(statistics.fmean(pos), 4),
                        base_logit_mean_negative=round(statistics.fmean(neg), 4),
                        base_logit_std=round(statistics.pstdev(logits), 4) if len(logits) > 1 else 0.0,
                        target_shift=round(pairs.margin * logit_spread(logits), 4) if pairs.targets == "anchored"
                        else None)
        summary["splits"][name] = info
    from wrapper.jsonio import write_json

    write_json(folder / "summary.json", summary)
    return summary


def autotrain_config(resolved: Path, pairs_dir: Path, out: Path) -> Path:
    """AutoTrain's own text_regression YAML: the resolved config without our keys, data from `pairs_dir`."""
    import yaml

    raw = yaml.safe_load(resolved.read_text(encoding="utf-8"))
    for key in ("pairs", "trust_remote_code"):
        raw.pop(key, None)
    raw["data"].update(path=str(pairs_dir), train_split="train",
                       column_mapping={"text_column": "text", "target_column": "target"})
    out.write_text(yaml.safe_dump(raw, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return out


def count_rows(config, dataset) -> int:
    from wrapper.dataset import iter_jsonl

    n = config.pairs.negatives
    return sum(len(r.get("pos") or []) + min(len(r.get("neg") or []), n)
               for _, r in iter_jsonl(dataset.train_file("flagembedding")))


def command(run):  # run: wrapper.train.ResolvedRun -> wrapper.train.Command
    """`python -m wrapper.train.autotrain_reranker` for a resolved run (its `BACKENDS` entry's `build`)."""
    from wrapper.errors import InputError
    from wrapper.train import Command
    from wrapper.train.autotrain import autotrain_total_steps, find_env
    from wrapper.train.child import child_env

    config = run.config
    params = config.params_model()
    if params.mixed_precision == "fp16":
        import torch

        if not torch.cuda.is_available():
            raise InputError.at(run.config_path, "params.mixed_precision is fp16, which needs a CUDA GPU",
                                hint="remove mixed_precision (fp32) to train on the CPU")
    venv = find_env(run.autotrain_env)
    resolved = run.write_resolved()
    total = autotrain_total_steps(count_rows(config, run.dataset), params.batch_size, params.epochs,
                                  params.gradient_accumulation)
    argv = [sys.executable, "-m", "wrapper.train.autotrain_reranker", "--config", str(resolved),
            "--autotrain-env", str(venv)]
    return Command(argv=argv, env=child_env(offline=run.offline, project_path=True),
                   model_dir=run.run_dir / config.project_name, total_steps=total, epochs=params.epochs)


def main(argv: list[str] | None = None) -> int:
    """Write the pairs, then become AutoTrain (this process's pid, group and pipes carry on)."""
    import json

    from wrapper.config import config_dataset, load_config
    from wrapper.train.autotrain import autotrain_argv
    from wrapper.train.child import child_env

    ap = argparse.ArgumentParser(prog="python -m wrapper.train.autotrain_reranker", description=__doc__.split("\n")[0])
    ap.add_argument("--config", required=True, type=Path, help="the run's config.resolved.yml (task text_regression)")
    ap.add_argument("--autotrain-env", required=True, type=Path, help="AutoTrain's virtual environment")
    ns = ap.parse_args(argv)
    config = load_config(ns.config)
    run_dir = ns.config.resolve().parent
    summary = write_pairs(config_dataset(config, ns.config), run_dir / PAIRS_DIR, config.pairs,
                          base_model=config.base_model, max_length=config.params_model().max_seq_length,
                          valid_split=config.data.valid_split, trust_remote_code=config.trust_remote_code)
    rows = {name: info["rows"] for name, info in summary["splits"].items()}
    print(f"autorerank: {config.pairs.targets} targets for {rows} pair texts in {run_dir / PAIRS_DIR}", flush=True)
    train = summary["splits"]["train"]
    print(METRIC_PREFIX + json.dumps({"step": 0, "pair_rows": train["rows"],
                                      **{k: v for k, v in train.items() if k.startswith("base_logit")}}), flush=True)
    cfg = autotrain_config(ns.config, run_dir / PAIRS_DIR, run_dir / AUTOTRAIN_CONFIG)
    env = child_env(venv=ns.autotrain_env, offline=os.environ.get("HF_HUB_OFFLINE") == "1")
    # AutoTrain runs remote model code by default; only a config that allows it may
    env["ALLOW_REMOTE_CODE"] = "true" if config.trust_remote_code else "false"
    argv = autotrain_argv(ns.autotrain_env, cfg)
    os.execve(argv[0], argv, env)
    return 1  # pragma: no cover - execve does not return


if __name__ == "__main__":
    sys.exit(main())
