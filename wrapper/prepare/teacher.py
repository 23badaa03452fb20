"""Teacher scores: one score per (training query, positive/negative) for distillation.

`prepare` keeps them in `flagembedding/train.jsonl` as `pos_scores` / `neg_scores`
(aligned with `pos` / `neg`), FlagEmbedding's `--knowledge_distillation` format,
which our cross-encoder backend reads too (`params.distill`).

A score is a *logit*: what a softmax over one query's candidates turns into a
target distribution (FlagEmbedding applies exactly that softmax, without a
temperature). So

- a cross-encoder teacher's score is its raw logit (no sigmoid);
- a bi-encoder teacher's score is its cosine similarity x `BI_ENCODER_SCALE`
  (20, the scale sentence-transformers' MultipleNegativesRankingLoss puts on
  cosines); a bare cosine in [-1, 1] would make every softmax almost uniform.

The default teacher is the miner (`teacher="miner"`): mining has already scored
every mined negative and every labelled passage of the queries it mined for, so
only the pairs it did not see (random negatives, queries that needed no mining)
are encoded again. `--teacher MODEL` scores every pair with MODEL instead (a
bi-encoder or a cross-encoder: a folder, a run id, `bundled` or a Hub id).
"""

from __future__ import annotations

import time
from typing import Any, Callable

from tqdm.auto import tqdm

from wrapper.errors import InputError
from wrapper.prepare.options import PrepareOptions
from wrapper.prepare.records import Collector, QueryEntry

BI_ENCODER_SCALE = 20.0
MINER = "miner"  # PrepareOptions.teacher: reuse the miner and its mining scores
DECIMALS = 5


def check_teacher(options: PrepareOptions) -> None:
    """Fail before any heavy work when --teacher names nothing loadable (resolving loads no weights)."""
    if options.teacher in (None, MINER):
        return
    from wrapper.evaluate.models import resolve_model

    try:
        resolve_model(options.teacher)
    except InputError as exc:
        raise InputError(f"--teacher {options.teacher!r}: {exc}\n  hint: pass a cross-encoder or sentence-transformers "
                         "model folder, a run id, 'bundled', or a Hub id when the Hub is reachable") from None


def load_teacher(name: str, device: str | None = None) -> tuple[Any, str, str]:
    """(loaded model, kind, resolved name) for --teacher; a clear InputError when it cannot be loaded."""
    from wrapper.evaluate.models import load, resolve_model

    try:
        ref = resolve_model(name)
        return load(ref, device=device), ref.kind, ref.name
    except InputError as exc:
        raise InputError(f"--teacher {name!r}: {exc}\n  hint: pass a cross-encoder or sentence-transformers "
                         "model folder, a run id, 'bundled', or a Hub id when the Hub is reachable") from None


def score_pairs(model: Any, kind: str, pairs: list[tuple[str, str]], *, batch_size: int = 32,
                progress: bool = False) -> list[float]:
    """Teacher logits of (query, passage) pairs (see the module doc for the scale)."""
    if not pairs:
        return []
    import torch

    if kind == "cross-encoder":
        with torch.inference_mode():
            raw = model.predict(pairs, batch_size=batch_size, activation_fn=torch.nn.Identity(),
                                convert_to_numpy=True, show_progress_bar=progress)
        return [round(float(x), DECIMALS) for x in raw.reshape(-1)]
    queries = sorted({q for q, _ in pairs})
    passages = sorted({p for _, p in pairs})
    with torch.inference_mode():
        q_emb = model.encode_query(queries, batch_size=batch_size, normalize_embeddings=True,
                                   convert_to_tensor=True, show_progress_bar=progress)
        p_emb = model.encode_document(passages, batch_size=batch_size, normalize_embeddings=True,
                                      convert_to_tensor=True, show_progress_bar=progress)
        qi = {t: i for i, t in enumerate(queries)}
        pi = {t: i for i, t in enumerate(passages)}
        a = q_emb[torch.tensor([qi[q] for q, _ in pairs])]
        b = p_emb[torch.tensor([pi[p] for _, p in pairs])]
        cos = (a * b).sum(dim=-1).tolist()
    return [bi_encoder_logit(c) for c in cos]


def bi_encoder_logit(cosine: float) -> float:
    return round(float(cosine) * BI_ENCODER_SCALE, DECIMALS)


def teacher_scores(
    collector: Collector,
    entries: list[QueryEntry],
    negatives: Callable[[QueryEntry], list[int]],
    options: PrepareOptions,
    *,
    mined: dict[str, dict[int, float]],
    miner: Callable[[], Any],
) -> tuple[dict[str, dict[int, float]] | None, dict[str, Any] | None]:
    """Scores {query text: {passage id: logit}} for every positive and negative of `entries`.

    `mined` holds the miner's cosines from mining; `miner()` loads (or returns) the
    miner. Returns (None, None) when no teacher applies (--teacher off, or the
    default teacher without mining).
    """
    name = options.teacher
    if name is None or (name == MINER and not options.mine):
        return None, None
    started = time.perf_counter()
    scores: dict[str, dict[int, float]] = {}
    if name == MINER:
        kind, label, source, model = "bi-encoder", options.miner, "miner", None
        for entry in entries:
            known = mined.get(entry.text, {})
            scores[entry.text] = {pid: bi_encoder_logit(s) for pid, s in known.items()}
    else:
        model, kind, label = load_teacher(name, options.device)
        source = "teacher"
    reused = sum(len(s) for s in scores.values())

    missing: list[tuple[QueryEntry, int]] = []
    for entry in entries:
        have = scores.setdefault(entry.text, {})
        for pid in list(entry.pos) + negatives(entry):
            if pid not in have:
                missing.append((entry, pid))
    if missing:
        if model is None:
            model = miner()
        pairs = [(entry.text, collector.passages[pid]) for entry, pid in missing]
        with tqdm(total=1, desc=f"teacher scores ({len(pairs):,} pairs)", disable=not options.progress) as bar:
            values = score_pairs(model, kind, pairs, batch_size=options.batch_size, progress=options.progress)
            bar.update(1)
        for (entry, pid), value in zip(missing, values):
            scores[entry.text][pid] = value
    info = {
        "model": label,
        "kind": kind,
        "source": source,
        "score": "logit" if kind == "cross-encoder" else f"cosine x {BI_ENCODER_SCALE:g}",
        "scale": 1.0 if kind == "cross-encoder" else BI_ENCODER_SCALE,
        "pairs": reused + len(missing),
        "pairs_from_mining": reused,
        "seconds": round(time.perf_counter() - started, 2),
    }
    return scores, info
