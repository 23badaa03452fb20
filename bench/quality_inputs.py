"""Inputs of `bench.quality`: deterministic subsets of the shared scifact and cmrc2018 copies.

Input preparation only (which queries and passages the benchmark uses); everything
measured goes through the tool's own stages in `bench/quality.py`.
"""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

from wrapper.dataset import read_jsonl  # noqa: F401  (bench.quality imports it from here)


def beir_subset(src: Path, dst: Path, *, n_train: int | None, n_dev: int | None, extra_docs: int | None, seed: int = 0) -> Path:
    """A BEIR folder with a subset of the queries (and optionally of the corpus): input preparation only."""
    rng = random.Random(seed)
    dst.mkdir(parents=True, exist_ok=True)
    (dst / "qrels").mkdir(exist_ok=True)
    keep_docs: set[str] = set()
    for split, n in (("train", n_train), ("dev", n_dev)):
        lines = (src / "qrels" / f"{split}.tsv").read_text(encoding="utf-8").splitlines()
        header, rows = lines[0], [line.split("\t") for line in lines[1:] if line.strip()]
        qids = sorted({r[0] for r in rows})
        if n is not None and n < len(qids):
            qids = sorted(rng.sample(qids, n))
        chosen = set(qids)
        rows = [r for r in rows if r[0] in chosen]
        keep_docs.update(r[1] for r in rows)
        (dst / "qrels" / f"{split}.tsv").write_text("\n".join([header] + ["\t".join(r) for r in rows]) + "\n", encoding="utf-8")
    if extra_docs is None:
        shutil.copyfile(src / "corpus.jsonl", dst / "corpus.jsonl")
    else:
        docs = read_jsonl(src / "corpus.jsonl")
        others = [d for d in docs if d["_id"] not in keep_docs]
        chosen_docs = [d for d in docs if d["_id"] in keep_docs] + rng.sample(others, min(extra_docs, len(others)))
        with open(dst / "corpus.jsonl", "w", encoding="utf-8") as fh:
            for d in chosen_docs:
                fh.write(json.dumps(d, ensure_ascii=False) + "\n")
    shutil.copyfile(src / "queries.jsonl", dst / "queries.jsonl")
    return dst


def squad_subset(src: Path, dst: Path, n_questions: int, seed: int = 0) -> Path:
    """Keep every paragraph (the candidate pool) but only `n_questions` questions."""
    doc = json.loads(src.read_text(encoding="utf-8"))
    all_ids = [qa["id"] for art in doc["data"] for p in art["paragraphs"] for qa in p.get("qas", [])]
    keep = set(random.Random(seed).sample(all_ids, min(n_questions, len(all_ids))))
    for art in doc["data"]:
        for p in art["paragraphs"]:
            p["qas"] = [qa for qa in p.get("qas", []) if qa["id"] in keep]
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return dst
