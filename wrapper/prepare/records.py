"""The normalised form every input format is turned into, with exact row accounting.

Each format handler calls `Collector.new_row()` for every input row, then either
`skip(row, reason)` or `add(row, query, passage, positive=...)` once per text
the row contributes. Passages are interned (one string per unique text), queries
are grouped by their text, and every rejected contribution remembers its reason,
so that at the end

    rows_read == rows_used + sum(skipped_by_reason.values())

holds exactly: a row is *used* when at least one of its contributions survived
(deduplication, "a negative equal to a positive", "a query with no positive").
"""

from __future__ import annotations

import hashlib
from array import array
from collections import Counter
from dataclasses import dataclass, field

# Row-level skip reasons (counted in the manifest; the names are part of the output)
EMPTY_TEXT = "empty_text"
MISSING_LABEL = "missing_label"
INVALID_LABEL = "invalid_label"
DUPLICATE = "duplicate"
NEGATIVE_EQUALS_POSITIVE = "negative_equals_positive"
NO_POSITIVE = "query_without_positive"
MISSING_DOCUMENT = "qrels_missing_document"
MISSING_QUERY = "qrels_missing_query"
WRONG_FIELD_COUNT = "wrong_field_count"
INVALID_ITEM = "invalid_item"


def query_id_for(text: str) -> str:
    """A stable id for a query that came without one (hash of its text)."""
    return "q" + hashlib.sha1(text.encode("utf-8")).hexdigest()[:12]


def clean_text(value: object) -> str:
    """Text of a cell: None/NaN -> "", numbers -> their string, whitespace stripped."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, float):
        if value != value:  # NaN
            return ""
        return repr(value)
    if isinstance(value, (int, bool)):
        return str(value)
    return ""  # lists/dicts are not texts


@dataclass
class QueryEntry:
    query_id: str
    text: str
    # passage id -> the row that contributed it (insertion-ordered)
    pos: dict[int, int] = field(default_factory=dict)
    neg: dict[int, int] = field(default_factory=dict)
    mined: list[int] = field(default_factory=list)


class Collector:
    """Accumulates (query, passage, role) contributions from any number of sources."""

    def __init__(self) -> None:
        self.passage_ids: dict[str, int] = {}
        self.passages: list[str] = []
        self.queries: dict[str, QueryEntry] = {}
        self._query_ids: set[str] = set()
        self._row_items = array("i")
        self._row_reason: dict[int, str] = {}
        self.items_dropped: Counter[str] = Counter()
        self.finalised = False
        #: query text -> the group keys its rows carried (--group-by article / COLUMN)
        self.group_keys: dict[str, set[str]] = {}

    # -- rows ---------------------------------------------------------------
    @property
    def rows_read(self) -> int:
        return len(self._row_items)

    def new_row(self) -> int:
        self._row_items.append(0)
        return len(self._row_items) - 1

    def skip(self, row: int, reason: str) -> None:
        """The whole row is unusable for `reason`."""
        self._row_reason[row] = reason

    def drop_item(self, row: int, reason: str) -> None:
        """One text of the row is unusable (the row may still be used for others)."""
        self.items_dropped[reason] += 1
        self._row_reason[row] = reason

    # -- texts --------------------------------------------------------------
    def passage_id(self, text: str) -> int:
        pid = self.passage_ids.get(text)
        if pid is None:
            pid = len(self.passages)
            self.passage_ids[text] = pid
            self.passages.append(text)
        return pid

    def add_to_pool(self, text: str) -> int:
        """A passage that is only a mining candidate (corpus documents)."""
        return self.passage_id(text)

    def query(self, text: str, query_id: str | None = None) -> QueryEntry:
        entry = self.queries.get(text)
        if entry is None:
            qid = query_id or query_id_for(text)
            if qid in self._query_ids:  # same id, different text (e.g. two sources): keep both apart
                qid = f"{qid}~{query_id_for(text)}"
            self._query_ids.add(qid)
            entry = QueryEntry(qid, text)
            self.queries[text] = entry
        return entry

    def add(self, row: int, query: QueryEntry, passage: str, *, positive: bool) -> bool:
        """Record that `row` says `passage` is a positive/negative of `query`; False if rejected."""
        pid = self.passage_id(passage)
        if positive:
            if pid in query.pos:
                self.drop_item(row, DUPLICATE)
                return False
            old_row = query.neg.pop(pid, None)
            if old_row is not None:  # it was first given as a negative: the positive wins
                self._row_items[old_row] -= 1
                self.drop_item(old_row, NEGATIVE_EQUALS_POSITIVE)
            query.pos[pid] = row
        else:
            if pid in query.neg:
                self.drop_item(row, DUPLICATE)
                return False
            if pid in query.pos:
                self.drop_item(row, NEGATIVE_EQUALS_POSITIVE)
                return False
            query.neg[pid] = row
        self._row_items[row] += 1
        return True

    def tag_group(self, query_text: str, key: str) -> None:
        """Record that a row of `query_text` belongs to group `key` (--group-by article / COLUMN)."""
        self.group_keys.setdefault(query_text, set()).add(key)

    # -- the end ------------------------------------------------------------
    def finalise(self) -> int:
        """Drop queries without a positive (their rows become skipped). Returns how many."""
        dropped = 0
        for text in [t for t, q in self.queries.items() if not q.pos]:
            entry = self.queries.pop(text)
            for row in entry.neg.values():
                self._row_items[row] -= 1
                self.drop_item(row, NO_POSITIVE)
            dropped += 1
        self.finalised = True
        return dropped

    def counts(self) -> dict:
        used = 0
        skipped: Counter[str] = Counter()
        for row, items in enumerate(self._row_items):
            if items > 0:
                used += 1
            else:
                skipped[self._row_reason.get(row, "unknown")] += 1
        return {
            "rows_read": self.rows_read,
            "rows_used": used,
            "rows_skipped": sum(skipped.values()),
            "skipped_by_reason": dict(sorted(skipped.items())),
            "items_dropped": dict(sorted(self.items_dropped.items())),
        }
