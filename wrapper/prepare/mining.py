"""Hard-negative mining with any sentence-transformers model, streamed over the corpus.

For every query that has fewer negatives than its target, the model scores the
whole pool (the given corpus, or every passage seen) and keeps the best ones that
are not the query's positives or labelled negatives, with

- a rank window: the `range_min` top hits are skipped (they are often unlabelled positives);
- a false-negative guard: a candidate scoring above `pos - |pos| * margin`
  (`pos` = the query's weakest positive's score) is dropped and counted;
- an optional mix of random negatives drawn from the pool.

Held-out (validation/test) queries are different: their candidates are the
miner's plain top hits with no rank window and no guard - the retrieve-then-
rerank setting the evaluation and the regression gate measure. A guarded list
would be biased towards the miner: the guard drops exactly the passages the
miner ranks above a positive, so the base model (usually the miner) would score
a perfect MAP on it and no fine-tune could ever look better.

Memory: each unique text is encoded once; the corpus is encoded in chunks of
`chunk_size` passages. The search (`wrapper.prepare.ann`, `--ann`) is exact by
default (a running top-k per query: no million-by-N score matrix, no stored
embeddings) and a FAISS IVF index where `ann.choose` finds it faster (large pools
searched by many queries; the embeddings once, in the index; each query probes a
few cells).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from tqdm.auto import tqdm

from wrapper.errors import InputError
from wrapper.prepare.options import PrepareOptions
from wrapper.prepare.records import Collector, QueryEntry
from wrapper.scoring import encode_sorted



@dataclass
class MiningStats:
    queries: int = 0  # queries that needed mined negatives
    mined_total: int = 0
    per_query: list[int] = field(default_factory=list)
    no_negative_queries: int = 0  # needed some, got none (and had no labelled ones)
    short_queries: int = 0  # got fewer than needed
    removed_by_false_negative_guard: int = 0
    random_negatives: int = 0
    pool_size: int = 0
    candidate_window: int = 0
    positive_score_mean: float | None = None
    negative_score_mean: float | None = None
    miner: str | None = None
    precision: str | None = None  # the miner's weights: fp32 | bf16 (see wrapper.precision)
    ann: dict | None = None  # the search: {"method": "exact"} or FAISS's index and its parameters
    seconds: float = 0.0
    #: the miner's cosine per (query text, passage id) it scored: every mined hard negative and every
    #: labelled positive/negative of the queries it mined for (kept as teacher scores; not in the manifest)
    scores: dict[str, dict[int, float]] = field(default_factory=dict, repr=False)

    def as_manifest(self) -> dict[str, Any]:
        per = self.per_query
        return {
            "queries": self.queries,
            "miner": self.miner,
            "precision": self.precision,
            "ann": self.ann,
            "pool_size": self.pool_size,
            "candidate_window": self.candidate_window,
            "negatives_mined": self.mined_total,
            "negatives_per_query": {
                "mean": round(sum(per) / len(per), 3) if per else 0,
                "min": min(per) if per else 0,
                "max": max(per) if per else 0,
            },
            "no_negative_queries": self.no_negative_queries,
            "short_queries": self.short_queries,
            "removed_by_false_negative_guard": self.removed_by_false_negative_guard,
            "random_negatives": self.random_negatives,
            "positive_score_mean": self.positive_score_mean,
            "negative_score_mean": self.negative_score_mean,
            "seconds": round(self.seconds, 2),
        }


def load_miner(name: str, device: str | None = None, precision: str = "fp32"):
    """Load a SentenceTransformer from a name or path in `precision` (auto | fp32 | bf16, see
    wrapper.precision); a clear InputError when it cannot."""
    from wrapper import precision as prec
    from wrapper.settings import resolve_model

    resolved = resolve_model(name)
    prec.check(precision, "--precision")
    try:
        return prec.load(resolved, "bi-encoder", precision=precision, device=device)
    except Exception as exc:  # OSError (not found / offline), ValueError (not a model), ...
        raise InputError(
            f"--miner {name!r}: cannot load it as a sentence-transformers model ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''})\n"
            "  hint: pass a local model folder, 'bundled' (the packaged all-MiniLM-L6-v2), or a Hub id "
            "when the Hugging Face Hub is reachable; or use --no-mine"
        ) from None


def mine(
    collector: Collector,
    targets: dict[str, int],
    options: PrepareOptions,
    model: Any = None,
    held_out: frozenset[str] | set[str] = frozenset(),
    loader: Callable[[], Any] | None = None,
) -> MiningStats:
    """Top up each query's negatives to `targets[query_text]` with mined ones (sets `entry.mined`).

    Queries whose text is in `held_out` get the miner's plain top hits (no rank
    window, no false-negative guard, no random mix): evaluation candidates.
    The model is `model`, else `loader()`, else loaded from `options.miner`, and
    only when some query needs mining.
    """
    stats = MiningStats(pool_size=len(collector.passages))
    started = time.perf_counter()
    needing: list[tuple[QueryEntry, int]] = []
    for text, target in targets.items():
        entry = collector.queries[text]
        need = target - len(entry.neg)
        if need > 0:
            needing.append((entry, need))
    stats.queries = len(needing)
    if not needing:
        return stats
    from wrapper import precision as prec

    if model is None:  # a loaded miner runs in options.precision (auto: bf16 where the CPU/GPU does it)
        model = loader() if loader is not None else load_miner(options.miner, options.device, options.precision)
        stats.precision = prec.apply(model, "bi-encoder", options.precision, options.device)
    else:
        stats.precision = prec.dtype_name(model)
    stats.miner = options.miner

    plain = [entry.text in held_out for entry, _ in needing]
    need_random = [0 if p else min(options.random_negatives, need) for (_, need), p in zip(needing, plain)]
    need_hard = [need - r for (_, need), r in zip(needing, need_random)]
    chosen: list[list[int]] = [[] for _ in needing]
    excluded: list[set[int]] = []
    for entry, _ in needing:
        ex = set(entry.pos) | set(entry.neg)
        own = collector.passage_ids.get(entry.text)
        if own is not None:
            ex.add(own)  # the query text itself, when it is also a passage
        excluded.append(ex)

    if max(need_hard) > 0:
        top_scores, top_ids, pos_min, window, labelled, stats.ann = _stream_top_k(
            collector, needing, need_hard, excluded, options, model)
        stats.candidate_window = window
        for (qi, pid), score in labelled.items():
            stats.scores.setdefault(needing[qi][0].text, {})[pid] = score
        guarded = options.margin is not None
        neg_scores: list[float] = []
        pos_seen = [p for p in pos_min if p != float("inf")]
        stats.positive_score_mean = round(sum(pos_seen) / len(pos_seen), 4) if pos_seen else None
        for qi, (entry, _) in enumerate(needing):
            want = need_hard[qi]
            if want <= 0:
                continue
            rank = 0
            threshold = None
            skip_top = 0 if plain[qi] else options.range_min
            if guarded and not plain[qi] and pos_min[qi] != float("inf"):
                threshold = pos_min[qi] - abs(pos_min[qi]) * options.margin
            for score, pid in zip(top_scores[qi], top_ids[qi]):
                if pid < 0 or pid in excluded[qi]:
                    continue
                rank += 1
                if rank <= skip_top:
                    continue
                if threshold is not None and score > threshold:
                    stats.removed_by_false_negative_guard += 1
                    continue
                chosen[qi].append(pid)
                neg_scores.append(score)
                stats.scores.setdefault(entry.text, {})[pid] = score
                if len(chosen[qi]) >= want:
                    break
        stats.negative_score_mean = round(sum(neg_scores) / len(neg_scores), 4) if neg_scores else None

    if sum(need_random):
        rng = random.Random(options.seed)
        pool = len(collector.passages)
        for qi in range(len(needing)):
            want = need_random[qi]
            taken = set(chosen[qi])
            attempts = 0
            while want > 0 and attempts < 50 + 20 * want:
                attempts += 1
                pid = rng.randrange(pool)
                if pid in excluded[qi] or pid in taken:
                    continue
                taken.add(pid)
                chosen[qi].append(pid)
                stats.random_negatives += 1
                want -= 1

    for qi, (entry, need) in enumerate(needing):
        entry.mined = chosen[qi]
        got = len(chosen[qi])
        stats.per_query.append(got)
        stats.mined_total += got
        if got < need:
            stats.short_queries += 1
        if got == 0 and not entry.neg:
            stats.no_negative_queries += 1
    stats.seconds = time.perf_counter() - started
    return stats


def _stream_top_k(collector: Collector, needing, need_hard, excluded, options: PrepareOptions, model):
    """Encode the pool chunk by chunk; keep the top `window` (score, id) per query, each query's weakest
    positive score, and the score of every (query, labelled positive or negative) pair."""
    pool = len(collector.passages)
    max_excluded = max(len(ex) for ex in excluded)
    slack = 10 if options.margin is not None else 1
    window = min(pool, options.range_min + max_excluded + max(need_hard) * slack)
    pool_ = _encode_pool(model, options.encode_processes)
    try:
        return _search(collector, needing, excluded, options, model, window, pool_)
    finally:
        if pool_ is not None:
            model.stop_multi_process_pool(pool_)


def _encode_pool(model, processes: int):
    """sentence-transformers' multi-process pool for `--encode-processes` (None: encode here)."""
    import torch

    if processes == 0:
        gpus = torch.cuda.device_count()
        return model.start_multi_process_pool([f"cuda:{i}" for i in range(gpus)]) if gpus > 1 else None
    return model.start_multi_process_pool(["cpu"] * processes) if processes > 1 else None


def _search(collector: Collector, needing, excluded, options: PrepareOptions, model, window: int, enc_pool):
    import torch

    from wrapper.prepare import ann

    n_queries = len(needing)
    pool = len(collector.passages)
    show = options.progress
    with torch.inference_mode():
        q_emb = encode_sorted(model.encode_query, model, [entry.text for entry, _ in needing],
                              options.batch_size, show, pool=enc_pool)
        device = q_emb.device
        search = ann.make(ann.choose(options.ann, pool, n_queries), q_emb, window, pool)
        # (query, labelled passage) pairs: positives feed the false-negative guard; all are kept as scores
        pos_q, pos_p, is_pos = [], [], []
        for qi, (entry, _) in enumerate(needing):
            for pid in list(entry.pos) + list(entry.neg):
                pos_q.append(qi)
                pos_p.append(pid)
                is_pos.append(pid in entry.pos)
        pos_q_t = torch.tensor(pos_q, dtype=torch.long, device=device)
        pos_p_t = torch.tensor(pos_p, dtype=torch.long, device=device)
        is_pos_t = torch.tensor(is_pos, dtype=torch.bool, device=device)
        pair_scores = torch.zeros(len(pos_q), device=device)
        pos_min = torch.full((n_queries,), float("inf"), device=device)

        starts = range(0, pool, options.chunk_size)
        for start in tqdm(starts, desc="mining: corpus chunks", unit=" chunk", disable=not show or len(starts) < 2):
            end = min(start + options.chunk_size, pool)
            c_emb = encode_sorted(model.encode_document, model, collector.passages[start:end],
                                  options.batch_size, show, pool=enc_pool).to(device)
            search.add(c_emb, start)
            in_chunk = (pos_p_t >= start) & (pos_p_t < end)
            if in_chunk.any():
                qsel, psel = pos_q_t[in_chunk], pos_p_t[in_chunk] - start
                pscores = (q_emb[qsel] * c_emb[psel]).sum(dim=1)
                pair_scores[in_chunk] = pscores
                positive = is_pos_t[in_chunk]
                if positive.any():
                    pos_min.scatter_reduce_(0, qsel[positive], pscores[positive], reduce="amin")
            del c_emb
        top_scores, top_ids = search.result()
    labelled = dict(zip(zip(pos_q, pos_p), pair_scores.cpu().tolist()))
    return (top_scores.cpu().tolist(), top_ids.cpu().tolist(), pos_min.cpu().tolist(), window, labelled,
            search.describe())
