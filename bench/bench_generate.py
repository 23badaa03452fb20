"""Benchmark `autorerank generate`: the tool's own overhead on 1,000 chunks, 8 calls in flight.

    .venv/bin/python -m bench.bench_generate [--quick] [--filter]

The LLM is the test stand-in server (tests/llm_standin.py, real HTTP on 127.0.0.1, answers at
once), so the time measured is ours: reading, chunking (llama-index), prompt building, the
client (thread pool, cache writes in SQLite, counters), parsing and filtering, writing.

Figures:
1. `generate` on 1,000 chunks (1,000 documents of one chunk each: SciFact abstracts from
   ../shared/datasets, or the sample help-centre passages made unique when that is absent),
   concurrency 8, consistency filter off; goal: under 60 s of wall time. Baseline, same run: a
   bare thread pool of 8 posting the same 1,000 prompts with httpx (no cache, no parsing): the
   floor of the HTTP path.
2. the same run again, every answer from the cache (a resumed run): requests sent must be 0.
3. (only with `--filter`, it takes minutes) the consistency filter on those chunks, timed
   separately: it encodes every chunk and question with the miner on the CPU, a cost that grows
   with the model and the data, not with the LLM (2026-12-02, 2 busy cores: 505 s for 1,000
   abstracts and 3,000 questions; 2,350 of 3,000 kept at top 5).
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out" / "generate"
SCIFACT = ROOT.parent / "shared" / "datasets" / "scifact"
SAMPLE = ROOT / "data" / "raw" / "sample" / "corpus.jsonl"
GOAL_S = 60.0


def _documents(folder: Path, n: int) -> tuple[Path, str]:
    """A JSONL of n documents, each short enough to be one chunk."""
    rows = []
    if (SCIFACT / "corpus.jsonl").is_file():
        source = "SciFact abstracts (cut to 150 words)"
        with open(SCIFACT / "corpus.jsonl", encoding="utf-8") as fh:
            for line in fh:
                row = json.loads(line)
                rows.append(" ".join((row.get("title", "") + ". " + row["text"]).split()[:150]))
                if len(rows) == n:
                    break
    else:
        source = "sample help-centre passages, numbered to be unique"
        passages = [json.loads(line)["text"] for line in open(SAMPLE, encoding="utf-8")]
        rows = [f"Article {i}. {passages[i % len(passages)]}" for i in range(n)]
    path = folder / "documents.jsonl"
    with open(path, "w", encoding="utf-8") as fh:
        for i, text in enumerate(rows):
            fh.write(json.dumps({"id": f"d{i}", "text": text}, ensure_ascii=False) + "\n")
    return path, source


def _bare_pool(url: str, prompts: list[list[dict]], concurrency: int) -> float:
    import concurrent.futures as cf

    import httpx

    start = time.perf_counter()
    with httpx.Client(timeout=60, limits=httpx.Limits(max_connections=concurrency)) as client:
        def post(messages):
            response = client.post(url + "/chat/completions", json={"model": "standin", "messages": messages,
                                                                    "temperature": 0.0})
            return response.json()["choices"][0]["message"]["content"]

        with cf.ThreadPoolExecutor(concurrency) as pool:
            list(pool.map(post, prompts))
    return time.perf_counter() - start


def run(quick: bool = False, out: Path | None = None, with_filter: bool = False) -> dict:
    for path in (ROOT, ROOT / "tests"):
        if str(path) not in sys.path:
            sys.path.insert(0, str(path))
    from llm_standin import StandIn

    from wrapper.generate import GenerateOptions, generate
    from wrapper.generate.chunking import chunk_documents
    from wrapper.generate.documents import read_documents
    from wrapper.generate.questions import build_prompt

    folder = Path(out or OUT)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    n, concurrency = (300 if quick else 1000), 8
    docs, source = _documents(folder, n)
    result: dict = {"chunks_wanted": n, "concurrency": concurrency, "documents": source, "goal_s": GOAL_S}

    with StandIn() as llm:
        options = dict(llm_base_url=llm.url, llm_model="standin", concurrency=concurrency, filter_top_k=None,
                       cache=folder / "cache.sqlite")
        start = time.perf_counter()
        report = generate([docs], folder / "generated.jsonl", GenerateOptions(**options), progress=False)
        result["ours_s"] = round(time.perf_counter() - start, 3)
        calls = report.manifest["calls"]
        result.update(chunks=report.manifest["chunks"]["total"], requests=calls["usage"]["requests"],
                      pairs=report.manifest["questions"]["kept"])

        sent_before = llm.count()
        start = time.perf_counter()
        generate([docs], folder / "generated.jsonl", GenerateOptions(**options), progress=False)
        result["cached_rerun_s"] = round(time.perf_counter() - start, 3)
        result["cached_rerun_requests"] = llm.count() - sent_before

        read = read_documents([docs])
        chunks, _ = chunk_documents(read.documents)
        prompts = [build_prompt(c.text, c.lang, 3) for c in chunks]
        result["baseline_bare_httpx_pool_s"] = round(_bare_pool(llm.url, prompts, concurrency), 3)

        if with_filter:
            start = time.perf_counter()
            filtered = generate([docs], folder / "filtered.jsonl", GenerateOptions(**{**options, "filter_top_k": 5}),
                                progress=False)
            result["with_consistency_filter_s"] = round(time.perf_counter() - start, 3)
            result["consistency_filter"] = filtered.manifest["questions"]["consistency_filter"]
    result["ratio_ours_over_bare_pool"] = round(result["ours_s"] / result["baseline_bare_httpx_pool_s"], 3)
    (folder / "result.json").write_text(json.dumps(result, indent=2))
    return result


def headline(result: dict) -> list[dict]:
    """The figures for the one-table summary (see bench/__main__.py)."""
    rows = [{"figure": f"`generate` on {result['chunks']:,} chunks, {result['concurrency']} in flight, "
                       f"stand-in LLM ({result['requests']:,} requests)",
             "ours": f"{result['ours_s']} s",
             "baseline": f"bare httpx pool of {result['concurrency']}: {result['baseline_bare_httpx_pool_s']} s",
             "ratio": result["ratio_ours_over_bare_pool"], "goal": f"< {result['goal_s']:.0f} s",
             "met": result["ours_s"] < result["goal_s"]},
            {"figure": "the same run again, all answers from the cache (requests sent)",
             "ours": f"{result['cached_rerun_s']} s, {result['cached_rerun_requests']} requests",
             "baseline": f"first run: {result['ours_s']} s", "ratio": round(result["cached_rerun_s"] / result["ours_s"], 3),
             "goal": "0 requests", "met": result["cached_rerun_requests"] == 0}]
    if "with_consistency_filter_s" in result:
        cf = result["consistency_filter"]
        rows.append({"figure": f"with the consistency filter (top 5; {cf['kept']} of {cf['checked']} kept)",
                     "ours": f"{result['with_consistency_filter_s']} s", "baseline": f"filter off: {result['ours_s']} s",
                     "ratio": round(result["with_consistency_filter_s"] / result["ours_s"], 3), "goal": "", "met": None})
    return rows


if __name__ == "__main__":
    quick = "--quick" in sys.argv
    outcome = run(quick=quick, with_filter="--filter" in sys.argv)
    print(json.dumps(outcome, indent=2))
    for row in headline(outcome):
        print(row)
