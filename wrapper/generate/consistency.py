"""Consistency filter: keep a generated question only if the miner finds its own chunk.

Every chunk and every question is encoded with the miner (a sentence-transformers model,
default the bundled all-MiniLM-L6-v2); a question is kept when its source chunk is among the
`top_k` chunks closest to it. This drops questions the passage does not really answer, and
ones so generic that many chunks would answer them (they make poor training pairs).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class FilterResult:
    keep: list[bool]
    ranks: list[int]  # 1-based rank of the source chunk for each question

    def counts(self, top_k: int) -> dict:
        ranks = self.ranks
        return {"enabled": True, "top_k": top_k, "checked": len(ranks), "kept": sum(self.keep),
                "dropped": len(ranks) - sum(self.keep),
                "source_rank_1": sum(r == 1 for r in ranks),
                "mean_source_rank": round(sum(ranks) / len(ranks), 3) if ranks else None}


def consistency_filter(questions: list[str], sources: list[int], chunks: list[str], *, miner: str = "bundled",
                       top_k: int = 5, batch_size: int = 32, device: str | None = None,
                       progress: bool = True) -> FilterResult:
    """`sources[i]` is the index in `chunks` of the chunk question `i` was generated from."""
    if not questions:
        return FilterResult([], [])
    import torch
    from sentence_transformers import SentenceTransformer

    from wrapper.settings import resolve_model

    model = SentenceTransformer(resolve_model(miner), device=device)
    chunk_emb = model.encode(chunks, batch_size=batch_size, convert_to_tensor=True, normalize_embeddings=True,
                             show_progress_bar=progress)
    question_emb = model.encode(questions, batch_size=batch_size, convert_to_tensor=True,
                                normalize_embeddings=True, show_progress_bar=progress)
    keep: list[bool] = []
    ranks: list[int] = []
    index = torch.tensor(sources, dtype=torch.long, device=chunk_emb.device)
    for start in range(0, len(questions), 1024):
        scores = question_emb[start:start + 1024] @ chunk_emb.T
        own = scores.gather(1, index[start:start + 1024].unsqueeze(1))
        rank = (scores > own).sum(dim=1) + 1
        for value in rank.tolist():
            ranks.append(int(value))
            keep.append(int(value) <= top_k)
    return FilterResult(keep, ranks)
