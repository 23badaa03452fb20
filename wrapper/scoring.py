"""Order-preserving fast inference: batches of similar *token* length, each distinct pair once.

sentence-transformers sorts a call's inputs by characters before batching, a rough proxy
for tokens: on SciFact abstracts, batches sorted by tokens carry ~20% fewer padding tokens
(measured: 223k vs 181k padded tokens for 1,000 query-abstract pairs). Here each batch is
one `encode` / `predict` call of already-sorted inputs, so sentence-transformers' own sort
changes nothing, and results come back in input order. Scores are those of the model:
the same call on the same inputs, only grouped differently.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from tqdm.auto import tqdm


def token_lengths(model, texts: Sequence[str], pairs_with: Sequence[str] | None = None) -> list[int] | None:
    """Each text's (or each (text, pairs_with[i]) pair's) length in the model's tokens, truncated as
    the model truncates; None when the model has no text tokenizer to ask."""
    tokenizer = getattr(model, "tokenizer", None)
    if tokenizer is None or not callable(tokenizer):
        return None
    limit = getattr(model, "max_seq_length", None)
    args = (list(texts),) if pairs_with is None else (list(texts), list(pairs_with))
    try:
        encoded = tokenizer(*args, truncation=limit is not None, max_length=limit, add_special_tokens=True)
        return [len(ids) for ids in encoded["input_ids"]]
    except Exception:  # noqa: BLE001 - a sorting hint only: fall back to sentence-transformers' own order
        return None


def _longest_first(lengths: list[int]) -> list[int]:
    return sorted(range(len(lengths)), key=lambda i: -lengths[i])


def encode_sorted(encode: Callable, model, texts: list[str], batch_size: int, show: bool = False, pool=None):
    """`encode(texts)` as a normalized fp32 tensor in input order, in batches of similar token length
    (`encode` is the model's `encode_query` / `encode_document` / `encode`). With `pool` (a
    sentence-transformers multi-process pool) the texts are spread over its processes instead."""
    import torch

    kwargs = {"normalize_embeddings": True, "convert_to_tensor": True, "show_progress_bar": False}
    if pool is not None:
        return torch.as_tensor(encode(texts, batch_size=batch_size, pool=pool, normalize_embeddings=True,
                                      show_progress_bar=show)).float()
    lengths = token_lengths(model, texts) if len(texts) > batch_size else None
    if lengths is None:
        return encode(texts, batch_size=batch_size, **{**kwargs, "show_progress_bar": show}).float()
    order = _longest_first(lengths)
    parts = []
    for start in tqdm(range(0, len(order), batch_size), desc="encoding", unit=" batch", disable=not show):
        batch = [texts[i] for i in order[start:start + batch_size]]
        parts.append(encode(batch, batch_size=len(batch), **kwargs).float())
    sorted_emb = torch.cat(parts)
    out = torch.empty_like(sorted_emb)
    out[torch.tensor(order, dtype=torch.long, device=sorted_emb.device)] = sorted_emb
    return out


def predict_pairs(model, pairs: Sequence[tuple[str, str]], *, batch_size: int = 32, show_progress: bool = False,
                  **predict_kwargs: Any):
    """`CrossEncoder.predict(pairs)` as a float32 numpy array in input order: each distinct pair is
    scored once, in batches of similar token length."""
    import numpy as np

    index: dict[tuple[str, str], int] = {}
    unique: list[tuple[str, str]] = []
    inverse = np.empty(len(pairs), dtype=np.int64)
    for i, (query, passage) in enumerate(pairs):
        key = (query, passage)
        at = index.get(key)
        if at is None:
            at = index[key] = len(unique)
            unique.append(key)
        inverse[i] = at
    if not unique:
        return np.array([], dtype=np.float32)
    lengths = token_lengths(model, [q for q, _ in unique], [p for _, p in unique]) if len(unique) > batch_size else None
    if lengths is None:  # one call: sentence-transformers sorts by characters itself
        return np.asarray(model.predict(unique, batch_size=batch_size, show_progress_bar=show_progress,
                                        **predict_kwargs))[inverse]
    order = _longest_first(lengths)
    parts = []
    for start in tqdm(range(0, len(order), batch_size), desc="scoring", unit=" batch", disable=not show_progress):
        batch = [unique[k] for k in order[start:start + batch_size]]
        parts.append(np.asarray(model.predict(batch, batch_size=len(batch), show_progress_bar=False,
                                              **predict_kwargs)))
    sorted_scores = np.concatenate(parts)
    scores = np.empty_like(sorted_scores)
    scores[order] = sorted_scores
    return scores[inverse]
