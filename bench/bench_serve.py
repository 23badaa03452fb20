"""`autorerank serve` under load on 127.0.0.1 vs a direct `CrossEncoder.predict` of the same pairs.

A real server (subprocess, `wrapper.procs`) serves a cross-encoder built from the bundled
model; 1, 8 and 32 concurrent clients each send requests of one sample query + DOCS
passages from data/raw/sample/corpus.jsonl, one after another (a closed loop). Per
concurrency: p50/p99 latency and pairs/s. Baseline: one warm `predict` over the same pairs,
same precision, in this process while the server is idle. Bounded: a fixed number of
requests per level.

The load generator is one asyncio thread (aiohttp, one keep-alive connection per client):
it shares the 2 cores with the server, so it must cost little - a pool of httpx threads
took enough CPU and GIL time to starve the server of whole requests per batch. This
VM's speed drifts by about 10% from one 10-second pass to the next, so each level runs
ROUNDS times, each round a direct pass and a server pass back to back; the ratio
reported is the median round's. Each round also times `predict` in calls of the most
pairs the server can batch at that level (clients x DOCS): one big `predict` sorts all
pairs by length and pads less, which no server sees at 8 clients.

Then Infinity (`infinity_emb v2`, torch on the CPU, `.venv-infinity`, set up on first use) serves the
same model folder at the same precision under the same load (the same requests, levels and rounds),
right after ours on the same machine: pairs/s, p50, p99 and its ratio to ours (`--no-infinity` skips it).
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
OUT = Path(__file__).resolve().parent / "out" / "serve"
CORPUS = ROOT / "data" / "raw" / "sample" / "corpus.jsonl"
DOCS = 10
LEVELS = (1, 8, 32)
ROUNDS = 3


def _texts() -> list[str]:
    with CORPUS.open(encoding="utf-8") as handle:
        return [json.loads(line)["text"] for line in handle]


def _health(base: str) -> dict:
    import httpx

    return httpx.get(base + "/health", timeout=30).json()


def _percentiles(latencies: list[float]) -> dict:
    """p50 and p99 of request latencies (seconds) in milliseconds."""
    return {f"p{q}_ms": round(float(np.percentile(latencies, q)) * 1000, 1) for q in (50, 99)}


def _counted(before: dict, after: dict) -> dict:
    """Requests served and model calls made between two /health readings."""
    return {"requests": after["requests"] - before["requests"], "model_calls": after["batches"] - before["batches"]}


async def _load(url: str, requests: list, clients: int, extra: dict | None = None) -> tuple[float, list[float]]:
    """`clients` concurrent clients share `requests`, each sending its next one when the last is
    answered -> (wall seconds, each request's latency)."""
    import aiohttp

    latencies: list[float] = []
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=clients),
                                     timeout=aiohttp.ClientTimeout(total=600)) as session:
        async def client(jobs):
            for query, docs in jobs:
                t0 = time.perf_counter()
                async with session.post(url, json={"query": query, "documents": docs, **(extra or {})}) as response:
                    response.raise_for_status()
                    await response.read()
                latencies.append(time.perf_counter() - t0)

        t0 = time.perf_counter()
        await asyncio.gather(*(client(requests[k::clients]) for k in range(clients)))
        return time.perf_counter() - t0, latencies


def _direct_pairs_per_s(model, pairs, call_pairs: int | None = None) -> float:
    """Pairs/s of `predict` over `pairs`: in one call, or in calls of `call_pairs` pairs each."""
    step = call_pairs or len(pairs)
    t0 = time.perf_counter()
    for at in range(0, len(pairs), step):
        model.predict(pairs[at:at + step], batch_size=32, show_progress_bar=False)
    return len(pairs) / (time.perf_counter() - t0)


def run(quick: bool = False, out: Path | None = None, levels: tuple[int, ...] = LEVELS,
        server_args: tuple[str, ...] = ("--max-wait-ms", "5"), engines: tuple[str, ...] = ("infinity",)) -> dict:
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
    per_level = 32 if quick else 128  # requests per concurrency level and round
    rounds = 1 if quick else ROUNDS
    requests = [("how do I reset my password", [texts[(i * DOCS + j) % len(texts)] for j in range(DOCS)])
                for i in range(per_level)]
    pairs = [(q, d) for q, docs in requests for d in docs]
    direct = precision.load(model_dir, "cross-encoder", precision=prec)
    direct.predict(pairs[:32], batch_size=32, show_progress_bar=False)  # warm

    port = procs.free_port()
    base = f"http://127.0.0.1:{port}"
    url = base + "/rerank"
    argv = [sys.executable, "-m", "wrapper", "serve", str(model_dir), "--port", str(port), "--precision", prec,
            *server_args]
    with open(folder / "server.log", "wb") as log:
        proc = procs.start(argv, env=procs.child_env(offline=True, project_path=True), stdout=log, stderr=log)
    result: dict = {"server_args": list(server_args), "precision": prec, "requests_per_level": per_level,
                    "docs_per_request": DOCS, "pairs": len(pairs), "rounds": rounds,
                    "load_generator": "one asyncio thread, aiohttp"}
    try:
        procs.wait_answering(base + "/health", proc, what="autorerank serve")
        for level in levels:
            asyncio.run(_load(url, requests[: max(level, 16)], level))  # warm this level's batch shapes
            before = _health(base)
            served, baseline, same_calls, latencies = [], [], [], []
            for _ in range(rounds):
                baseline.append(_direct_pairs_per_s(direct, pairs))
                same_calls.append(_direct_pairs_per_s(direct, pairs, level * DOCS))
                wall, lat = asyncio.run(_load(url, requests, level))
                served.append(len(pairs) / wall)
                latencies += lat
            ratios = [s / b for s, b in zip(served, baseline)]
            middle = ratios.index(statistics.median_low(ratios))
            result[f"clients_{level}"] = {"pairs_per_s": round(served[middle], 1), **_percentiles(latencies),
                                          "direct_pairs_per_s": round(baseline[middle], 1),
                                          "ratios": [round(r, 3) for r in ratios],
                                          # the most a server can batch here: all `level` requests in one call
                                          "direct_in_calls_of_pairs": level * DOCS,
                                          "direct_in_calls_pairs_per_s": round(statistics.median(same_calls), 1),
                                          **_counted(before, _health(base))}
            result[f"ratio_clients_{level}_vs_direct"] = round(ratios[middle], 3)
    finally:
        procs.stop_tree(proc, grace=5)
    if engines and "infinity" in engines:
        result["infinity"] = _infinity(model_dir, prec, requests, levels, rounds, folder, result)
    (folder / "result.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    return result


def _infinity(model_dir: Path, prec: str, requests: list, levels: tuple[int, ...], rounds: int, folder: Path,
              ours: dict) -> dict:
    """Infinity (`infinity_emb v2`, its own environment) on the same model folder and precision, under the
    same load, right after our server on the same machine: pairs/s, p50, p99 and the ratio to ours."""
    from wrapper import procs
    from wrapper.serve import infinity

    env = infinity.ensure_env()
    port = procs.free_port()
    base = f"http://127.0.0.1:{port}"
    pairs = sum(len(docs) for _, docs in requests)
    dtype = "bfloat16" if prec == "bf16" else "float32"
    with open(folder / "infinity.log", "wb") as log:
        proc = infinity.start(model_dir, port=port, log=log, env=env, dtype=dtype)
    out: dict = {"engine": "infinity-emb 0.0.78 (torch, cpu)", "dtype": dtype}
    try:
        infinity.wait_ready(base, proc)
        for level in levels:
            asyncio.run(_load(base + "/rerank", requests[: max(level, 16)], level, {"model": "model"}))  # warm
            served, latencies = [], []
            for _ in range(rounds):
                wall, lat = asyncio.run(_load(base + "/rerank", requests, level, {"model": "model"}))
                served.append(pairs / wall)
                latencies += lat
            ours_level = ours[f"clients_{level}"]["pairs_per_s"]
            out[f"clients_{level}"] = {"pairs_per_s": round(statistics.median(served), 1), **_percentiles(latencies),
                                       "ratio_vs_ours": round(statistics.median(served) / ours_level, 3)}
    finally:
        procs.stop_tree(proc, grace=5)
    return out


def headline(result: dict) -> list[dict]:
    r = result
    rows = []
    for level in (lv for lv in LEVELS if f"clients_{lv}" in r):
        c = r[f"clients_{level}"]
        rows.append({"figure": f"`serve` {level} client(s), {r['docs_per_request']} docs/request ({r['precision']}), "
                               f"p50 {c['p50_ms']} ms, p99 {c['p99_ms']} ms",
                     "ours": f"{c['pairs_per_s']} pairs/s",
                     "baseline": f"direct `CrossEncoder.predict` ({r['precision']}): {c['direct_pairs_per_s']} pairs/s "
                                 f"(median of {r['rounds']} paired rounds: {c['ratios']}); in calls of "
                                 f"{c['direct_in_calls_of_pairs']} pairs, the most the server can batch: "
                                 f"{c['direct_in_calls_pairs_per_s']} pairs/s",
                     "ratio": r[f"ratio_clients_{level}_vs_direct"], "goal": ">= 0.9" if level == 8 else "",
                     "met": r[f"ratio_clients_{level}_vs_direct"] >= 0.9 if level == 8 else None})
    for level in (lv for lv in LEVELS if f"clients_{lv}" in r.get("infinity", {})):
        c, o = r["infinity"][f"clients_{level}"], r[f"clients_{level}"]
        rows.append({"figure": f"Infinity {level} client(s), same model, load and machine ({r['infinity']['dtype']}), "
                               f"p50 {c['p50_ms']} ms, p99 {c['p99_ms']} ms",
                     "ours": f"{c['pairs_per_s']} pairs/s",
                     "baseline": f"`autorerank serve`: {o['pairs_per_s']} pairs/s, p50 {o['p50_ms']} ms, "
                                 f"p99 {o['p99_ms']} ms",
                     "ratio": c["ratio_vs_ours"], "goal": "", "met": None})
    return rows


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    print(json.dumps(run(quick="--quick" in sys.argv, engines=() if "--no-infinity" in sys.argv else ("infinity",)),
                     indent=2))
