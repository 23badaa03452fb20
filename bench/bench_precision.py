"""bf16 vs fp32 (and ONNX int8) on scifact dev: throughput and whether ranking changes.

Bi-encoder (the bundled all-MiniLM-L6-v2, a real model): each of N dev queries ranks its
positives among CANDIDATES abstracts (its positives + other queries' positives, seeded);
MAP in fp32 vs bf16 weights, texts/s of each. Cross-encoder (bundled + fresh head,
seeded): pairs/s fp32 vs bf16 and Kendall tau between them; ONNX fp32 and int8 graphs
(`wrapper.export.onnx`): pairs/s and tau / top-3 overlap against the fp32 original.
"""

from __future__ import annotations

import json
import random
import sys
import time
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parent / "out" / "precision"
SCIFACT = Path("/work/shared/datasets/scifact")
CANDIDATES = 15


def _slice(n_queries: int):
    corpus = {}
    with (SCIFACT / "corpus.jsonl").open(encoding="utf-8") as h:
        for line in h:
            row = json.loads(line)
            corpus[row["_id"]] = (row.get("title", "") + " " + row["text"]).strip()
    queries = {}
    with (SCIFACT / "queries.jsonl").open(encoding="utf-8") as h:
        for line in h:
            row = json.loads(line)
            queries[row["_id"]] = row["text"]
    qrels: dict[str, set] = {}
    for line in (SCIFACT / "qrels" / "dev.tsv").read_text().splitlines()[1:]:
        qid, did, score = line.split("\t")
        if int(score) > 0 and did in corpus:
            qrels.setdefault(qid, set()).add(did)
    qids = sorted(qrels)[:n_queries]
    pool = sorted({d for q in qrels for d in qrels[q]})  # every dev positive: scientific abstracts, hard-ish
    rng = random.Random(0)
    groups = []
    for q in qids:
        others = [d for d in pool if d not in qrels[q]]
        cands = sorted(qrels[q]) + rng.sample(others, min(CANDIDATES - len(qrels[q]), len(others)))
        groups.append((queries[q], cands, qrels[q]))
    return corpus, groups


def _ap(scores, cands, relevant) -> float:
    order = np.argsort(-np.asarray(scores))
    hits, total = 0, 0.0
    for rank, i in enumerate(order, 1):
        if cands[i] in relevant:
            hits += 1
            total += hits / rank
    return total / max(len(relevant), 1)


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def run(quick: bool = False, out: Path | None = None) -> dict:
    import torch
    from sentence_transformers import CrossEncoder

    from wrapper import precision, settings
    from wrapper.export import onnx as onnx_export

    folder = Path(out or OUT)
    folder.mkdir(parents=True, exist_ok=True)
    corpus, groups = _slice(10 if quick else 100)
    docs = sorted({d for _, cands, _ in groups for d in cands})
    result: dict = {"queries": len(groups), "candidates": CANDIDATES, "texts": len(docs) + len(groups),
                    "auto_resolves_to": precision.resolve("auto")}
    path = settings.bundled_model_path()
    maps = {}
    for prec in ("fp32", "bf16"):
        model = precision.load(path, "bi-encoder", precision=prec)
        model.encode(["warm up"] * 8)
        texts = [corpus[d] for d in docs] + [q for q, _, _ in groups]
        emb, secs = _timed(lambda: model.encode(texts, batch_size=32, normalize_embeddings=True,
                                                convert_to_numpy=True))
        emb = emb.astype(np.float32)
        index = {d: emb[i] for i, d in enumerate(docs)}
        qemb = emb[len(docs):]
        aps = [_ap([float(qemb[k] @ index[d]) for d in cands], cands, rel) for k, (_, cands, rel) in enumerate(groups)]
        maps[prec] = float(np.mean(aps))
        result[f"bi_{prec}_texts_per_s"] = round(len(texts) / secs, 1)
        result[f"bi_{prec}_map"] = round(maps[prec], 4)
    result["bi_map_diff_bf16_minus_fp32"] = round(maps["bf16"] - maps["fp32"], 4)
    result["bi_speedup_bf16"] = round(result["bi_bf16_texts_per_s"] / result["bi_fp32_texts_per_s"], 3)

    pair_groups = [[(q, corpus[d]) for d in cands] for q, cands, _ in groups[: 6 if quick else 30]]
    pairs = [p for g in pair_groups for p in g]
    torch.manual_seed(0)
    ce_dir = folder / "minilm-ce"
    if not (ce_dir / "config.json").is_file():
        CrossEncoder(str(path), num_labels=1).save(str(ce_dir))
    scores = {}
    for prec in ("fp32", "bf16"):
        ce = precision.load(ce_dir, "cross-encoder", precision=prec)
        ce.predict(pairs[:8], show_progress_bar=False)
        s, secs = _timed(lambda: ce.predict(pairs, batch_size=32, show_progress_bar=False))
        scores[prec] = np.asarray(s, dtype=np.float32)
        result[f"ce_{prec}_pairs_per_s"] = round(len(pairs) / secs, 1)
        if prec == "fp32":
            fp32_model = ce
    result["ce_speedup_bf16"] = round(result["ce_bf16_pairs_per_s"] / result["ce_fp32_pairs_per_s"], 3)

    def split(flat):
        at, out_ = 0, []
        for g in pair_groups:
            out_.append(flat[at:at + len(g)])
            at += len(g)
        return out_

    result["ce_bf16_vs_fp32"] = onnx_export.agreement(list(zip(split(scores["fp32"]), split(scores["bf16"]))))
    for name, quant in (("onnx_fp32", None), ("onnx_int8", "int8")):
        onnx_path = onnx_export.export(fp32_model, folder / name, quantize=quant)
        scorer = onnx_export.OnnxScorer(onnx_path, fp32_model.tokenizer, max_length=512)
        scorer.predict(pairs[:8])
        s, secs = _timed(lambda: scorer.predict(pairs))
        result[f"ce_{name}_pairs_per_s"] = round(len(pairs) / secs, 1)
        result[f"ce_{name}_vs_fp32"] = onnx_export.agreement(list(zip(split(scores["fp32"]), split(s))))
    (folder / "result.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    return result


def headline(result: dict) -> list[dict]:
    r = result
    return [
        {"figure": f"bi-encoder bf16 weights, scifact dev ({r['queries']} q x {r['candidates']}), "
                   f"MAP {r['bi_bf16_map']} vs {r['bi_fp32_map']}",
         "ours": f"{r['bi_bf16_texts_per_s']} texts/s", "baseline": f"fp32: {r['bi_fp32_texts_per_s']} texts/s",
         "ratio": r["bi_speedup_bf16"], "goal": "MAP within 0.002",
         "met": abs(r["bi_map_diff_bf16_minus_fp32"]) <= 0.002},
        {"figure": f"cross-encoder bf16 (Kendall tau {r['ce_bf16_vs_fp32']['kendall_tau']:.3f} to fp32)",
         "ours": f"{r['ce_bf16_pairs_per_s']} pairs/s", "baseline": f"fp32 predict: {r['ce_fp32_pairs_per_s']} pairs/s",
         "ratio": r["ce_speedup_bf16"], "goal": "", "met": None},
        {"figure": f"ONNX int8 cross-encoder (tau {r['ce_onnx_int8_vs_fp32']['kendall_tau']:.3f}, "
                   f"top-3 overlap {r['ce_onnx_int8_vs_fp32']['top3_overlap']:.3f})",
         "ours": f"{r['ce_onnx_int8_pairs_per_s']} pairs/s", "baseline": f"fp32 predict: {r['ce_fp32_pairs_per_s']} pairs/s",
         "ratio": round(r["ce_onnx_int8_pairs_per_s"] / r["ce_fp32_pairs_per_s"], 3), "goal": "", "met": None},
    ]


if __name__ == "__main__":
    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
