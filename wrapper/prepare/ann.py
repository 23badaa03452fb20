"""The nearest-neighbour search behind mining: exact (streamed) or FAISS (an IVF index), one interface.

    search = make(method, q_emb, window, pool)     # method: "exact" | "faiss" (see `choose`)
    for start, c_emb in chunks: search.add(c_emb, start)
    scores, ids = search.result()                  # (queries x window) each, best first, ids -1 = none

- `ExactTopK` keeps a running top-`window` per query while the corpus streams by: a million passages
  never need a million-by-N score matrix, but every query meets every passage (time ~ queries x pool).
- `FaissTopK` puts the passages into a FAISS `IndexIVFFlat` (inner product: the miner's embeddings are
  normalised; `nlist` ~ 4 sqrt(pool) k-means cells, trained on the first vectors that arrive) and asks
  each query's `nprobe` nearest cells only. The vectors are kept once (in the index).

`choose("auto", pool, queries)` is FAISS only where it pays (`bench/bench_ann.py`, 2 cores): the exact
stream is one matrix product per chunk, ~5 ns per (query, passage) pair, and holds no passage
vectors; FAISS first trains and fills its index (~34 s per million passages) and then scans each probed
cell ~14x slower per pair than the matrix product. So its gain grows with the queries: from about
20,000 queries over 200,000 passages on, not before. FAISS keeps every passage vector (1.5 GB per
million at 384 dimensions), the exact stream none.
"""

from __future__ import annotations

import math
from typing import Any

#: `--ann auto`: FAISS from this many passages and this many queries on (below, the exact stream is as
#: fast or faster, and exact)
AUTO_FAISS_FROM, AUTO_FAISS_QUERIES = 200_000, 20_000
#: k-means training vectors per IVF cell (FAISS warns below 39) and k-means iterations (FAISS's default
#: is 25; 10 costs 2.5x less training at 1M passages, and the bench's recall did not move)
TRAIN_PER_CELL, KMEANS_ITERATIONS = 40, 10


def choose(method: str, pool: int, queries: int) -> str:
    if method == "auto":
        return "faiss" if pool >= AUTO_FAISS_FROM and queries >= AUTO_FAISS_QUERIES else "exact"
    return method


def ivf_params(pool: int) -> dict[str, int]:
    """`nlist` cells and `nprobe` cells searched: every cell on small pools (exact), 1/64 of them on large
    ones (recall 0.998 of the exact top 30 at 1M in the bench, search 4x faster than 1/16)."""
    nlist = max(1, min(65536, int(4 * math.sqrt(pool)), pool // TRAIN_PER_CELL or 1))
    nprobe = nlist if nlist <= 128 else max(64, nlist // 64)
    return {"nlist": nlist, "nprobe": min(nprobe, nlist)}


class ExactTopK:
    """Every query against every passage, keeping a running top-`window` per query."""

    name = "exact"
    BLOCK = 1024  # queries scored at once against a chunk

    def __init__(self, q_emb, window: int):
        import torch

        self.q_emb, self.window = q_emb, window
        self.scores = torch.full((len(q_emb), window), -float("inf"), device=q_emb.device)
        self.ids = torch.full((len(q_emb), window), -1, dtype=torch.long, device=q_emb.device)

    def add(self, c_emb, start: int) -> None:
        import torch

        ids = torch.arange(start, start + len(c_emb), device=self.q_emb.device)
        k = min(self.window, len(c_emb))
        for qs in range(0, len(self.q_emb), self.BLOCK):
            qe = min(qs + self.BLOCK, len(self.q_emb))
            s, i = torch.topk(self.q_emb[qs:qe] @ c_emb.T, k=k, dim=1)
            merged_s = torch.cat([self.scores[qs:qe], s], dim=1)
            merged_i = torch.cat([self.ids[qs:qe], ids[i]], dim=1)
            best, order = torch.topk(merged_s, k=self.window, dim=1)
            self.scores[qs:qe] = best
            self.ids[qs:qe] = torch.gather(merged_i, 1, order)

    def result(self):
        return self.scores, self.ids

    def describe(self) -> dict[str, Any]:
        return {"method": "exact"}


class FaissTopK:
    """FAISS IndexIVFFlat over the streamed passages, searched once at the end."""

    name = "faiss"

    def __init__(self, q_emb, window: int, pool: int):
        import faiss

        self.q_emb, self.window = q_emb, window
        self.params = ivf_params(pool)
        dim = q_emb.shape[1]
        self.quantizer = faiss.IndexFlatIP(dim)
        self.index = faiss.IndexIVFFlat(self.quantizer, dim, self.params["nlist"], faiss.METRIC_INNER_PRODUCT)
        self.index.cp.niter = KMEANS_ITERATIONS
        self.want_train = min(pool, TRAIN_PER_CELL * self.params["nlist"])
        self.buffer: list = []
        self.buffered = 0

    def add(self, c_emb, start: int) -> None:
        import numpy as np

        vectors = np.ascontiguousarray(c_emb.float().cpu().numpy(), dtype="float32")
        if self.index.is_trained:
            self.index.add(vectors)
            return
        self.buffer.append(vectors)
        self.buffered += len(vectors)
        if self.buffered >= self.want_train:
            self._train()

    def _train(self) -> None:
        import numpy as np

        data = np.concatenate(self.buffer)
        self.index.train(data[: self.want_train])
        self.index.add(data)  # ids are the order of arrival: the pool's own ids
        self.buffer, self.buffered = [], 0

    def result(self):
        import numpy as np
        import torch

        if not self.index.is_trained:
            self._train()
        self.index.nprobe = self.params["nprobe"]
        scores, ids = self.index.search(np.ascontiguousarray(self.q_emb.float().cpu().numpy()), self.window)
        scores = torch.from_numpy(scores).to(self.q_emb.device)
        scores[torch.from_numpy(ids) < 0] = -float("inf")
        return scores, torch.from_numpy(ids).long().to(self.q_emb.device)

    def describe(self) -> dict[str, Any]:
        import faiss

        return {"method": "faiss", "index": "IndexIVFFlat", "metric": "inner product", **self.params,
                "trained_on": self.want_train, "faiss": faiss.__version__}


def make(method: str, q_emb, window: int, pool: int):
    if method == "faiss":
        try:
            return FaissTopK(q_emb, window, pool)
        except ImportError:
            from wrapper.errors import InputError

            raise InputError.at("--ann", "faiss is not installed",
                                hint="pip install faiss-cpu (or faiss-gpu), or use --ann exact") from None
    return ExactTopK(q_emb, window)


__all__ = ["AUTO_FAISS_FROM", "AUTO_FAISS_QUERIES", "ExactTopK", "FaissTopK", "choose", "ivf_params", "make"]
