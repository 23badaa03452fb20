"""One model behind the API: score many (query, documents) jobs in one call."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from wrapper.evaluate.models import CROSS_ENCODER


@dataclass
class Scorer:
    """`score(jobs)` -> one list of relevance scores per (query, documents) job.

    A cross-encoder scores every pair of every job in one `predict`; a bi-encoder
    encodes every text once (normalised) and scores by cosine similarity.
    """

    model: Any
    kind: str
    batch_size: int = 32
    identity: dict = field(default_factory=dict)

    def score(self, jobs: list[tuple[str, list[str]]]) -> list[list[float]]:
        if self.kind == CROSS_ENCODER:
            pairs = [(query, doc) for query, docs in jobs for doc in docs]
            flat = self.model.predict(pairs, batch_size=self.batch_size, show_progress_bar=False,
                                      convert_to_numpy=True) if pairs else []
            flat = [float(x) for x in flat]
        else:
            texts = [text for query, docs in jobs for text in (query, *docs)]
            emb = self.model.encode(texts, batch_size=self.batch_size, show_progress_bar=False,
                                    convert_to_numpy=True, normalize_embeddings=True)
            flat, at = [], 0
            for _query, docs in jobs:
                q = emb[at]
                flat.extend(float(q @ emb[at + 1 + i]) for i in range(len(docs)))
                at += 1 + len(docs)
        out, at = [], 0
        for _query, docs in jobs:
            out.append(flat[at:at + len(docs)])
            at += len(docs)
        return out


def load_scorer(model: str, *, precision: str = "auto", device: str | None = None, batch_size: int = 32,
                runs=None) -> Scorer:
    """Resolve MODEL (run id, folder, `bundled`, Hub id), load it in `precision`; the identity
    names it (name, revision, kind, precision, the run's gate verdict)."""
    from wrapper import precision as prec
    from wrapper.evaluate.models import load, resolve_model

    ref = resolve_model(model, runs)
    resolved = prec.resolve(precision, device)
    loaded = load(ref, device=device, precision=resolved)
    gate = (ref.run_status or {}).get("gate") or {}
    identity = {"name": ref.name, "revision": ref.revision, "kind": ref.kind, "precision": resolved,
                "path": str(ref.path), "run_id": ref.run_id, "base_model": ref.base_model,
                "gate": {k: gate.get(k) for k in ("verdict", "metric", "base", "fine_tuned", "delta", "ci")}
                if gate else None}
    return Scorer(model=loaded, kind=ref.kind, batch_size=batch_size, identity=identity)
