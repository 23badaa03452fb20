"""The held-out sets the gate judges on, and how a model is scored on one.

An `EvalSet` is a list of Contract 1 eval records (`{"query_id", "query",
"positive": [...], "negative": [...]}`) with a name and where it came from:

- the in-domain set: the run's own prepared dataset, `eval/<split>.jsonl`;
- general-domain sets (`--general SPEC`, repeatable):
  ``default``        the small English + Chinese general-domain set shipped with
                     autorerank (`wrapper/data/general/`, see its PROVENANCE.md);
  ``DIR``/``DIR:split`` a prepared dataset folder (its validation split, or the named one);
  an MTEB task name  a built-in reranking task (`T2Reranking`, `MIRACLReranking:zho`, ...)
                     from the Hub or a local copy (`AUTORERANK_MTEB_DATA`), its
                     first eval split, capped at `MTEB_MAX_QUERIES` queries.

`score_set` gives every query's average precision (MAP = their mean, as MTEB's
`map_at_1000`); `score_cached` keeps those per (model, revision, set content) in
`<results>/gate-cache/` so a base model is scored on a general set once, not per run.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from wrapper import jsonio
from wrapper.dataset import Dataset, is_dataset, iter_records
from wrapper.errors import InputError
from wrapper.gate.stats import average_precision

DEFAULT_GENERAL = "default"
#: the shipped general-domain set (a prepared-dataset-shaped folder)
GENERAL_SET_DIR = Path(__file__).resolve().parent.parent / "data" / "general"
#: an MTEB task can hold thousands of queries: the gate judges on the first N (by query id)
MTEB_MAX_QUERIES = 300
CACHE_FOLDER = "gate-cache"


@dataclass
class EvalSet:
    name: str
    source: str
    records: list[dict]
    content_hash: str = ""

    def __post_init__(self):
        if not self.content_hash:
            blob = json.dumps(self.records, sort_keys=True, ensure_ascii=False).encode("utf-8")
            self.content_hash = hashlib.sha256(blob).hexdigest()

    @property
    def informative(self) -> int:
        """Queries with a positive and at least one negative to rank it against."""
        return sum(1 for r in self.records if r.get("positive") and r.get("negative"))


@dataclass
class SetScore:
    name: str
    map: float
    ap: list[float]  # per judged query (one with a positive), in record order
    informative: int
    scores: list[list[float]] = field(default_factory=list)  # per judged query: positives then negatives
    skipped: int = 0  # queries without a positive (no AP)


def in_domain_set(dataset: Dataset, split: str = "validation") -> EvalSet:
    """A prepared dataset's eval split (the run's own held-out queries, in domain)."""
    path = dataset.eval_split(split)
    return EvalSet(name=f"{dataset.root.name}:{split}", source=str(path),
                   records=[record for _, record in iter_records(path)])


def _dataset_set(spec: str) -> EvalSet | None:
    """A prepared dataset folder (`DIR` or `DIR:split`) as a general set; None if `spec` is not one."""
    folder, split = (spec, "") if Path(spec).is_dir() else spec.rpartition(":")[::2]
    folder_path = Path(folder)
    if not folder or not is_dataset(folder_path):
        return None
    dataset = Dataset.open(folder_path)
    if not split:
        names = dataset.splits
        split = "validation" if "validation" in names else (names[0] if len(names) == 1 else "")
        if not split:
            raise InputError.at(folder_path, f"cannot tell which eval split to use ({', '.join(names) or 'none'})",
                                hint=f"name it: --general {folder}:SPLIT")
    es = in_domain_set(dataset, split)
    name = dataset.manifest.get("name") or dataset.root.name
    es.name = name if split == "validation" else f"{name}:{split}"
    return es


def _mteb_set(token: str, mteb_data: Path | None, max_queries: int) -> EvalSet:
    from wrapper.evaluate.tasks import builtin_task_spec, check_top_ranked

    spec = builtin_task_spec(token, mteb_data=mteb_data)
    task = spec.build()
    task.load_data()
    check_top_ranked(task)
    records: list[dict] = []
    for subset, splits in task.dataset.items():
        split = task.metadata.eval_splits[0]
        data = splits.get(split) if isinstance(splits, dict) else None
        if data is None:
            continue
        corpus = {row["id"]: (f"{row.get('title') or ''} {row['text']}".strip()) for row in data["corpus"]}
        queries = {row["id"]: row["text"] for row in data["queries"]}
        for qid in sorted(data["top_ranked"])[: max_queries]:
            relevant = data["relevant_docs"].get(qid, {})
            cands = [d for d in data["top_ranked"][qid] if d in corpus]
            records.append({"query_id": f"{subset}/{qid}", "query": queries.get(qid, ""),
                            "positive": [corpus[d] for d in cands if relevant.get(d, 0) > 0],
                            "negative": [corpus[d] for d in cands if relevant.get(d, 0) <= 0]})
    if not records:
        raise InputError.at(token, "the task loaded no queries with candidate lists")
    return EvalSet(name=token, source=spec.data_source or "hub", records=records[:max_queries])


def resolve_general(specs: list[str], *, mteb_data: Path | None = None,
                    max_queries: int = MTEB_MAX_QUERIES) -> list[EvalSet]:
    """The general-domain sets named by `specs` (see the module docstring)."""
    if mteb_data is None and os.environ.get("AUTORERANK_MTEB_DATA"):
        mteb_data = Path(os.environ["AUTORERANK_MTEB_DATA"])
    sets: list[EvalSet] = []
    for spec in specs:
        spec = str(spec).strip()
        if spec == DEFAULT_GENERAL:
            if not is_dataset(GENERAL_SET_DIR):
                raise InputError.at(GENERAL_SET_DIR, "the shipped general-domain set is missing from this install",
                                    hint="reinstall autorerank, or name your own set with --general DIR")
            sets.append(_dataset_set(str(GENERAL_SET_DIR)))
            continue
        found = _dataset_set(spec)
        if found is not None:
            sets.append(found)
            continue
        if Path(spec.partition(":")[0]).exists() or "/" in spec or os.sep in spec:
            raise InputError.at(spec, "not a prepared dataset folder (no manifest from `autorerank prepare`)",
                                hint="pass data/<name> written by `autorerank prepare`, or an MTEB task name")
        sets.append(_mteb_set(spec, mteb_data, max_queries))
    unique: dict[str, EvalSet] = {}
    for s in sets:
        unique.setdefault(s.content_hash, s)
    return list(unique.values())


# --------------------------------------------------------------------------- scoring


def raw_scores(model, kind: str, eval_set: EvalSet, batch_size: int = 32) -> list[list[float]]:
    """Per record: the model's scores for its positives, then its negatives (cosine for bi-encoders)."""
    pairs = [(r["query"], p) for r in eval_set.records for p in list(r.get("positive", [])) + list(r.get("negative", []))]
    if not pairs:
        return [[] for _ in eval_set.records]
    if kind == "cross-encoder":
        flat = [float(s) for s in model.predict(pairs, batch_size=batch_size, show_progress_bar=False)]
    else:
        texts_q = sorted({q for q, _ in pairs})
        texts_p = sorted({p for _, p in pairs})
        q_emb = model.encode(texts_q, batch_size=batch_size, convert_to_tensor=True, normalize_embeddings=True)
        p_emb = model.encode(texts_p, batch_size=batch_size, convert_to_tensor=True, normalize_embeddings=True)
        qi = {t: i for i, t in enumerate(texts_q)}
        pi = {t: i for i, t in enumerate(texts_p)}
        import torch

        a = q_emb[torch.tensor([qi[q] for q, _ in pairs])]
        b = p_emb[torch.tensor([pi[p] for _, p in pairs])]
        flat = [float(x) for x in (a * b).sum(dim=-1).tolist()]
    out, at = [], 0
    for r in eval_set.records:
        n = len(r.get("positive", [])) + len(r.get("negative", []))
        out.append(flat[at:at + n])
        at += n
    return out


def summarise(eval_set: EvalSet, scores: list[list[float]]) -> SetScore:
    """Per-query AP from raw scores (records without a positive are skipped and counted)."""
    aps, kept, skipped = [], [], 0
    for record, s in zip(eval_set.records, scores):
        pos, neg = list(record.get("positive", [])), list(record.get("negative", []))
        if not pos:
            skipped += 1
            continue
        aps.append(average_precision(s, [1] * len(pos) + [0] * len(neg), pos + neg))
        kept.append(s)
    mean = sum(aps) / len(aps) if aps else float("nan")
    return SetScore(name=eval_set.name, map=mean, ap=aps, informative=eval_set.informative, scores=kept,
                    skipped=skipped)


def score_set(model, kind: str, eval_set: EvalSet, batch_size: int = 32) -> SetScore:
    """Score a loaded model (SentenceTransformer or CrossEncoder) on every query of the set."""
    return summarise(eval_set, raw_scores(model, kind, eval_set, batch_size))


def _cache_path(results: Path, model_name: str, revision: str, eval_set: EvalSet) -> Path:
    safe = model_name.replace("/", "__")
    return Path(results) / CACHE_FOLDER / safe / revision / f"{eval_set.content_hash[:16]}.json"


def score_cached(ref, loader, eval_set: EvalSet, results: Path | None) -> SetScore:
    """`score_set` for a resolved model (`ModelRef`), reading/writing the gate cache.

    `loader()` loads the model only on a cache miss.
    """
    path = _cache_path(results, ref.name, ref.revision, eval_set) if results else None
    if path is not None and path.exists():
        try:
            cached = jsonio.read_json(path)
            if cached.get("set_hash") == eval_set.content_hash:
                return summarise(eval_set, cached["scores"])
        except (OSError, ValueError, KeyError):
            pass  # a damaged cache entry is recomputed
    scores = raw_scores(loader(), ref.kind, eval_set)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        jsonio.write_json(path, {"model": ref.name, "revision": ref.revision, "set": eval_set.name,
                                 "set_hash": eval_set.content_hash, "scores": scores})
    return summarise(eval_set, scores)
