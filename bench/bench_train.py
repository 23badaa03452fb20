"""train: wrapper overhead vs bare AutoTrain, and the cross-encoder backend vs a plain ST script.

    .venv/bin/python -m bench.bench_train [--quick]

Measured in one run on the same synthetic prepared dataset (bundled all-MiniLM-L6-v2, CPU,
offline). The two sides of each comparison run side by side (at the same time), so both
see the same load from everything else on a shared machine; quick = 1 pair of runs,
full = 3 pairs (medians). Every side starts its training process in a new session, as
the wrapper does: with the kernel's scheduler autogroups (sched_autogroup_enabled=1) a
new session gets its own CPU share, which otherwise made the wrapper look 10-30% faster
than the baselines on a loaded machine.

1. AutoTrain st:triplet, same config file:
   - baseline: `autotrain --config cfg.yml` run directly (its env's bin/ first on PATH,
     same environment variables, cwd a fresh folder), wall time of the process;
   - ours:     `wrapper.train.train_run(cfg.yml)` (run folder, status, log parsing,
     metrics.jsonl, supervision), wall time of the call.
   Figure: time ratio ours/baseline (goal <= 1.03).
2. Cross-encoder BCE training, identical settings (pairs, batch, steps, lr, max length,
   seed, no evaluation, no checkpoints):
   - baseline: a plain script with `CrossEncoder` + `CrossEncoderTrainer` +
     `BinaryCrossEntropyLoss`, in its own process;
   - ours:     `train_run` on a `cross-encoder:bce` config (child process).
   Figures: training throughput ratio ours/baseline in pairs/s, from each trainer's own
   `train_runtime` (goal >= 0.97); the same in pairs per CPU-second of `trainer.train()`
   (`time.process_time`, far less sensitive to other load on a shared machine); and the
   end-to-end wall ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = Path(__file__).resolve().parent / "out" / "train"
TOPICS = ["apple", "river", "engine", "violin", "planet", "garden", "bridge", "coffee", "winter", "soccer",
          "castle", "ocean", "python", "desert", "camera", "forest", "doctor", "rocket", "island", "museum"]


def write_dataset(root: Path, n_queries: int, negatives: int = 4, seed: int = 0) -> Path:
    """A prepared dataset (Contract 1, through the writer prepare uses) of synthetic topic queries."""
    from wrapper.dataset.writer import write_dataset as write

    rnd = random.Random(seed)
    recs = []
    for i in range(n_queries):
        t = TOPICS[i % len(TOPICS)]
        negs = [f"Report {rnd.randint(0, 99)} explains the {o}: where the {o} comes from and why it matters."
                for o in rnd.sample([x for x in TOPICS if x != t], negatives)]
        recs.append((f"q{i}", f"what do we know about the {t} in report {i}",
                     f"Report {i} explains the {t}: where the {t} comes from and why the {t} matters.", negs))
    val, train = recs[:8], recs[8:]
    write(root, train=[{"query": q, "pos": [p], "neg": ns} for _, q, p, ns in train],
          eval_splits={"validation": [{"query_id": qid, "query": q, "positive": [p], "negative": ns}
                                      for qid, q, p, ns in val]})
    return root


PLAIN_SCRIPT = r"""
import json, sys
from datasets import Dataset
from sentence_transformers.cross_encoder import CrossEncoder, CrossEncoderTrainer, CrossEncoderTrainingArguments
from sentence_transformers.cross_encoder.losses import BinaryCrossEntropyLoss
from transformers.trainer_callback import PrinterCallback
cfg = json.loads(sys.argv[1])
rows = {"query": [], "passage": [], "label": []}
for line in open(cfg["train"], encoding="utf-8"):
    r = json.loads(line)
    for p in r["pos"]:
        rows["query"].append(r["query"]); rows["passage"].append(p); rows["label"].append(1.0)
    for n in r["neg"][: cfg["num_negatives"]]:
        rows["query"].append(r["query"]); rows["passage"].append(n); rows["label"].append(0.0)
ds = Dataset.from_dict(rows).shuffle(seed=cfg["seed"])
model = CrossEncoder(cfg["model"], num_labels=1, max_length=cfg["max_length"])
args = CrossEncoderTrainingArguments(
    output_dir=cfg["out"], max_steps=cfg["steps"], per_device_train_batch_size=cfg["batch"],
    learning_rate=cfg["lr"], warmup_steps=cfg["warmup"], weight_decay=0.01, seed=cfg["seed"],
    logging_steps=cfg["logging_steps"], save_strategy="no", eval_strategy="no", report_to="none",
    disable_tqdm=True, dataloader_num_workers=0, use_cpu=True)
trainer = CrossEncoderTrainer(model=model, args=args, train_dataset=ds, loss=BinaryCrossEntropyLoss(model))
trainer.remove_callback(PrinterCallback)
import time
cpu0 = time.process_time()
out = trainer.train()
train_cpu_s = time.process_time() - cpu0
model.save_pretrained(cfg["out"] + "/model")
print("RESULT " + json.dumps({"train_runtime": out.metrics["train_runtime"], "train_cpu_s": train_cpu_s,
                              "train_samples_per_second": out.metrics["train_samples_per_second"]}))
"""


def _env() -> dict:
    env = dict(os.environ)
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_DATASETS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    return env


def _autotrain_direct(config: Path, work: Path) -> float:
    """Bare `autotrain --config` on the same config (absolute data path), cwd = a fresh folder."""
    from wrapper.train.autotrain import find_env
    from wrapper.train.child import child_env

    venv = find_env()
    work.mkdir(parents=True)
    t0 = time.perf_counter()
    proc = subprocess.run([str(venv / "bin" / "autotrain"), "--config", str(config)], cwd=work,
                          env=child_env(venv=venv, offline=True, base=_env()),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"bare autotrain exited {proc.returncode}")
    return wall


def _side_by_side(a, b):
    """Run a() and b() at the same time; each sees the same load from the rest of the machine."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=2) as pool:
        fa, fb = pool.submit(a), pool.submit(b)
        return fa.result(), fb.result()


def _plain(cfg: dict) -> tuple[dict, float]:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", PLAIN_SCRIPT, json.dumps(cfg)], capture_output=True, text=True,
                          env=_env(), start_new_session=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"plain script failed: {proc.stderr[-2000:]}")
    line = next(l for l in proc.stdout.splitlines() if l.startswith("RESULT "))
    return json.loads(line[len("RESULT "):]), wall


def _ours(config: Path, runs: Path, run_id: str) -> tuple[float, dict]:
    from wrapper.train import train_run

    t0 = time.perf_counter()
    result = train_run(config, runs_dir=runs, run_id=run_id, progress=False)
    return time.perf_counter() - t0, result.status


def run(quick: bool = True, parts: tuple[str, ...] = ("autotrain", "cross_encoder"), out: Path | None = None) -> dict:
    folder = Path(out or OUT).resolve()
    os.environ.update(_env())
    folder.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="bench-train-", dir=folder))
    cwd = os.getcwd()
    os.chdir(work)
    try:
        n_queries = 24 if quick else 72  # (n - 8) * 4 triplets: 64 quick, 256 full
        reps = 1 if quick else 3
        dataset = write_dataset(work / "data" / "bench", n_queries).resolve()
        results: dict = {"settings": {"quick": quick, "repetitions": reps, "train_queries": n_queries - 8}}

        if "autotrain" in parts:
            _bench_autotrain(results, dataset, work, reps)
        if "cross_encoder" in parts:
            _bench_cross_encoder(results, dataset, work, reps, quick)
        (folder / ("results-quick.json" if quick else "results.json")).write_text(json.dumps(results, indent=2))
        return results
    finally:
        os.chdir(cwd)
        shutil.rmtree(work, ignore_errors=True)


def _bench_autotrain(results: dict, dataset: Path, work: Path, reps: int) -> None:
    from wrapper.config import render_config

    import yaml

    from wrapper.dataset import Dataset

    at_cfg = render_config(dataset, base_model="bundled", name="bench-at", task="st:triplet", batch_size=16,
                           out_dir=work / "configs")
    # bare AutoTrain reads the CSV folder itself (what `autorerank train` writes into config.resolved.yml)
    raw = yaml.safe_load(at_cfg.read_text(encoding="utf-8"))
    raw["data"]["path"] = str(Dataset.open(dataset).train_file("autotrain").parent)
    bare_cfg = work / "configs" / "bench-at-bare.yml"
    bare_cfg.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    direct, ours = [], []
    for i in range(reps):
        bare_wall, (wall, status) = _side_by_side(
            lambda: _autotrain_direct(bare_cfg.resolve(), work / f"direct{i}"),
            lambda: _ours(at_cfg, work / "runs", f"at{i}"),
        )
        assert status["state"] == "succeeded"
        direct.append(bare_wall)
        ours.append(wall)
        print(f"autotrain rep {i}: bare {direct[-1]:.1f}s, wrapper {wall:.1f}s", flush=True)
    results["autotrain"] = {
        "baseline": "bare `autotrain --config` (same config, same env)",
        "bare_s": round(statistics.median(direct), 2), "wrapper_s": round(statistics.median(ours), 2),
        "time_ratio": round(statistics.median(ours) / statistics.median(direct), 4), "goal": "<= 1.03",
    }
    print(f"wrapper overhead: {results['autotrain']['time_ratio']:.3f}x bare autotrain (goal <= 1.03)", flush=True)


def _bench_cross_encoder(results: dict, dataset: Path, work: Path, reps: int, quick: bool) -> None:
    from wrapper.config import render_config
    from wrapper.settings import bundled_model_path

    steps, batch, max_len, lr = (12, 8, 64, 1e-4) if quick else (40, 16, 128, 1e-4)
    ce_cfg = render_config(dataset, base_model="bundled", name="bench-ce", task="cross-encoder:bce",
                           max_steps=steps, batch_size=batch, max_seq_length=max_len, lr=lr, logging_steps=4,
                           out_dir=work / "configs", num_negatives=4)
    raw_text = ce_cfg.read_text().replace("valid_split: validation", "valid_split: null")
    ce_cfg.write_text(raw_text)  # no evaluation on either side
    plain_cfg = {"train": str(dataset / "flagembedding" / "train.jsonl"), "model": str(bundled_model_path()),
                 "steps": steps, "batch": batch, "max_length": max_len, "lr": lr, "seed": 42,
                 "warmup": int(round(0.1 * steps)), "num_negatives": 4, "logging_steps": 4}
    base_sps, ours_sps, base_wall, ours_wall, base_cpu, ours_cpu = [], [], [], [], [], []
    pairs = steps * batch
    for i in range(reps):
        plain_cfg["out"] = str(work / f"plain{i}")
        (plain, plain_wall), (wall, status) = _side_by_side(
            lambda: _plain(plain_cfg), lambda: _ours(ce_cfg, work / "runs", f"ce{i}"))
        assert status["state"] == "succeeded"
        base_wall.append(plain_wall)
        base_sps.append(plain["train_samples_per_second"])
        base_cpu.append(pairs / plain["train_cpu_s"])
        ours_wall.append(wall)
        metrics = [json.loads(l) for l in (work / "runs" / f"ce{i}" / "metrics.jsonl").read_text().splitlines()]
        ours_sps.append(next(m for m in metrics if "train_samples_per_second" in m)["train_samples_per_second"])
        ours_cpu.append(pairs / next(m for m in metrics if "train_cpu_s" in m)["train_cpu_s"])
        print(f"cross-encoder rep {i}: plain {base_sps[-1]:.2f} pairs/s wall, {base_cpu[-1]:.2f} pairs/cpu-s "
              f"({base_wall[-1]:.1f}s); backend {ours_sps[-1]:.2f} pairs/s wall, {ours_cpu[-1]:.2f} pairs/cpu-s "
              f"({wall:.1f}s)", flush=True)
    results["cross_encoder"] = {
        "baseline": "plain sentence-transformers CrossEncoderTrainer script, identical settings",
        "settings": {"steps": steps, "batch_size": batch, "max_seq_length": max_len, "lr": lr},
        "plain_pairs_per_s": round(statistics.median(base_sps), 3),
        "backend_pairs_per_s": round(statistics.median(ours_sps), 3),
        "throughput_ratio": round(statistics.median(ours_sps) / statistics.median(base_sps), 4),
        "goal": ">= 0.97",
        "plain_pairs_per_cpu_s": round(statistics.median(base_cpu), 3),
        "backend_pairs_per_cpu_s": round(statistics.median(ours_cpu), 3),
        "cpu_throughput_ratio": round(statistics.median(ours_cpu) / statistics.median(base_cpu), 4),
        "plain_wall_s": round(statistics.median(base_wall), 2),
        "backend_wall_s": round(statistics.median(ours_wall), 2),
        "wall_ratio": round(statistics.median(ours_wall) / statistics.median(base_wall), 4),
    }
    ce = results["cross_encoder"]
    print(f"cross-encoder throughput: {ce['throughput_ratio']:.3f}x plain ST script by wall time, "
          f"{ce['cpu_throughput_ratio']:.3f}x by CPU time (goal >= 0.97); end-to-end wall {ce['wall_ratio']:.3f}x",
          flush=True)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", choices=["autotrain", "cross_encoder"], default=None)
    ns = ap.parse_args(argv)
    parts = (ns.only,) if ns.only else ("autotrain", "cross_encoder")
    print(json.dumps(run(quick=ns.quick, parts=parts), indent=2))


if __name__ == "__main__":
    main()


def headline(result: dict) -> list[dict]:
    """The figures for the one-table summary (see bench/__main__.py)."""
    rows = []
    if "autotrain" in result:
        a = result["autotrain"]
        rows.append({"figure": "`autorerank train` wall time (AutoTrain st:triplet)", "ours": f"{a['wrapper_s']} s",
                     "baseline": f"bare `autotrain --config`: {a['bare_s']} s", "ratio": a["time_ratio"],
                     "goal": "<= 1.03", "met": a["time_ratio"] <= 1.03})
    if "cross_encoder" in result:
        c = result["cross_encoder"]
        rows.append({"figure": "cross-encoder backend training throughput", "ours": f"{c['backend_pairs_per_s']} pairs/s",
                     "baseline": f"plain ST CrossEncoderTrainer script: {c['plain_pairs_per_s']} pairs/s",
                     "ratio": c["throughput_ratio"], "goal": ">= 0.97", "met": c["throughput_ratio"] >= 0.97})
    return rows
