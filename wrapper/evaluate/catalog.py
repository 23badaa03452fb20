"""The task vocabulary: built-in task names, groups, the local-task naming, and `TaskSpec`.

Pure data and small helpers (no mteb import), shared by the local, built-in
and cross-lingual task builders in `tasks`, `builtin` and `rerank_data`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

LOCAL_PREFIX = "AutoRerank"
LOCAL_MAIN_SCORE = "map_at_1000"
#: scores copied into our metadata and shown in tables (besides the main score)
REPORTED_SCORES = ("map_at_1000", "mrr_at_10", "ndcg_at_10")

#: built-in reranking tasks we know how to load (mteb name -> short description)
BUILTIN_TASKS = {
    "T2Reranking": "C-MTEB, zh web search, dev, 5,908 queries",
    "MMarcoReranking": "C-MTEB, zh machine-translated MS MARCO, dev, 100 queries",
    "CMedQAv1-reranking": "C-MTEB, zh medical QA, test, 1,000 queries",
    "CMedQAv2-reranking": "C-MTEB, zh medical QA, test, 1,000 queries",
    "MIRACLReranking": "MTEB, 18 languages (select one: MIRACLReranking:zho), dev, ndcg_at_10",
}
#: named groups of tasks
TASK_GROUPS = {
    "cmteb-rerank": ["T2Reranking", "MMarcoReranking", "CMedQAv1-reranking", "CMedQAv2-reranking"],
    "miracl-zh": ["MIRACLReranking:zho"],
}
#: C-MTEB cross-lingual T2 tasks (not in mteb 2.x): name -> (file name stems we accept, languages)
T2_CROSSLINGUAL = {
    "T2RerankingZh2En": (("T2RerankingZh2En", "zh2en", "t2reranking_zh2en"), ["cmn-Hans", "eng-Latn"]),
    "T2RerankingEn2Zh": (("T2RerankingEn2Zh", "en2zh", "t2reranking_en2zh"), ["eng-Latn", "cmn-Hans"]),
}
#: the word in --tasks that means "the local tasks of the dataset(s)"
LOCAL_ALIAS = "local"


@dataclass
class TaskSpec:
    """A task to evaluate, plus what our metadata records about its data."""

    name: str
    split: str | None  # None: the task's own eval splits
    kind: str  # "local" | "builtin" | "t2-crosslingual"
    dataset: str | None = None  # data/<name> for local tasks
    dataset_hash: str | None = None
    data_source: str | None = None  # "hub", a local copy folder, or a JSONL file
    languages: list[str] = field(default_factory=list)
    revision: str | None = None  # the dataset revision the result must carry to count as done
    num_pairs: int | None = None
    _factory: Any = None

    def build(self):
        """The mteb task object (data loaded lazily, or already for local data)."""
        return self._factory()


def short_lang(code: str) -> str:
    return code.split("-")[0]


def tasks_hint() -> str:
    return ("built-in: " + ", ".join(BUILTIN_TASKS) + "; groups: " + ", ".join(TASK_GROUPS)
            + "; cross-lingual: " + ", ".join(T2_CROSSLINGUAL) + f"; '{LOCAL_ALIAS}' = the dataset's own eval splits")


def expand_task_names(tokens: list[str]) -> list[str]:
    """Split commas, expand groups, keep order, drop duplicates."""
    out: list[str] = []
    for token in tokens:
        for part in str(token).split(","):
            part = part.strip()
            if not part:
                continue
            for name in TASK_GROUPS.get(part, [part]):
                if name not in out:
                    out.append(name)
    return out
