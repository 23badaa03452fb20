"""`autorerank serve` under load on 127.0.0.1 vs a direct `CrossEncoder.predict` of the same pairs.

A real server (subprocess, `wrapper.procs`) serves a cross-encoder built from the bundled
model; 1, 8 and 32 concurrent clients (threads, httpx) each send requests of one sample
query + DOCS passages from data/raw/sample/corpus.jsonl. Per concurrency: p50/p99
latency and pairs/s. Baseline: one warm `predict` over the same pairs, same precision, in
this process while the server is idle. Bounded: a fixed number of requests per level.
"""

from __future__ import annotations

import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
OUT = Path(__file__).resolve().parent / "out" / "serve"
CORPUS = ROOT / "data" / "raw" / "sample" / "corpus.jsonl"
DOCS = 10
LEVELS = (1, 8, 32)


def _texts() -> list[str]:
    with CORPUS.open(encoding="utf-8") as handle:
        return [json.loads(line)["text"] for line in handle]


def _wait_up(base: str, proc, deadline_s: float = 300) -> None:
    import httpx

    end = time.time() + deadline_s
    while time.time() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            if httpx.get(base + "/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError("server did not come up")


def run(quick: bool = False, out: Path | None = None) -> dict:
    import httpx
    import torch
    from sentence_transformers import CrossEncoder

    from wrapper import precision, procs, settings

    folder = Path(out or OUT)
    folder.mkdir(parents=True, exist_ok=True)
    model_dir = folder / "minilm-ce"
    if not (model_dir / "config.json").is_file():
        torch.manual_seed(0)
        CrossEncoder(str(settings.bundled_model_path()), num_labels=1).save(str(model_dir))
    prec = precision.resolve("auto")
    texts = _texts()
    per_level = 32 if quick else 128  # requests per concurrency level
    requests = [("how do I reset my password", [texts[(i * DOCS + j) % len(texts)] for j in range(DOCS)])
                for i in range(per_level)]
    pairs = [(q, d) for q, docs in requests for d in docs]

    port = procs.free_port()
    base = f"http://127.0.0.1:{port}"
    argv = [sys.executable, "-m", "wrapper", "serve", str(model_dir), "--port", str(port), "--precision", prec,
            "--max-wait-ms", "5"]
    with open(folder / "server.log", "wb") as log:
        proc = procs.start(argv, env=procs.child_env(offline=True, project_path=True), stdout=log, stderr=log)
    result: dict = {"precision": prec, "requests_per_level": per_level, "docs_per_request": DOCS, "pairs": len(pairs)}
    try:
        _wait_up(base, proc)
        with httpx.Client(timeout=600) as warm:
            warm.post(base + "/rerank", json={"query": requests[0][0], "documents": requests[0][1]})
        for level in LEVELS:
            latencies: list[float] = []
            client = httpx.Client(timeout=600, limits=httpx.Limits(max_connections=level))

            def one(job):
                t0 = time.perf_counter()
                r = client.post(base + "/rerank", json={"query": job[0], "documents": job[1]})
                r.raise_for_status()
                latencies.append(time.perf_counter() - t0)

            t0 = time.perf_counter()
            with ThreadPoolExecutor(level) as pool:
                list(pool.map(one, requests))
            wall = time.perf_counter() - t0
            client.close()
            result[f"clients_{level}"] = {"pairs_per_s": round(len(pairs) / wall, 1),
                                          "p50_ms": round(float(np.percentile(latencies, 50)) * 1000, 1),
                                          "p99_ms": round(float(np.percentile(latencies, 99)) * 1000, 1)}
    finally:
        procs.stop_tree(proc, grace=5)
    direct = precision.load(model_dir, "cross-encoder", precision=prec)
    direct.predict(pairs[:32], batch_size=32, show_progress_bar=False)  # warm
    t0 = time.perf_counter()
    direct.predict(pairs, batch_size=32, show_progress_bar=False)
    result["direct_predict_pairs_per_s"] = round(len(pairs) / (time.perf_counter() - t0), 1)
    for level in LEVELS:
        result[f"ratio_clients_{level}_vs_direct"] = round(
            result[f"clients_{level}"]["pairs_per_s"] / result["direct_predict_pairs_per_s"], 3)
    (folder / "result.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    return result


def headline(result: dict) -> list[dict]:
    r = result
    rows = []
    for level in LEVELS:
        c = r[f"clients_{level}"]
        rows.append({"figure": f"`serve` {level} client(s), {r['docs_per_request']} docs/request ({r['precision']}), "
                               f"p50 {c['p50_ms']} ms, p99 {c['p99_ms']} ms",
                     "ours": f"{c['pairs_per_s']} pairs/s",
                     "baseline": f"direct `CrossEncoder.predict` ({r['precision']}): {r['direct_predict_pairs_per_s']} pairs/s",
                     "ratio": r[f"ratio_clients_{level}_vs_direct"], "goal": ">= 0.9" if level == 8 else "",
                     "met": r[f"ratio_clients_{level}_vs_direct"] >= 0.9 if level == 8 else None})
    return rows


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
