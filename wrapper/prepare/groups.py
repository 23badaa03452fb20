"""`--group-by`: which queries must land in the same split.

SQuAD-style data (cmrc2018, DRCD) asks several questions about one paragraph; a
split by query then puts the same passage in train and validation, and the
validation score measures memory of the passage. Grouping keeps such queries together:

- `passage`: queries that share a labelled passage (a positive or a labelled
  negative of the source) are one group (connected components), so no labelled
  passage text is in two splits;
- `article`: queries from one SQuAD article (its title, else its place in the file);
- any other value names a column of a table: rows sharing its value stay together
  (a query whose rows carry two values joins both groups; one without a value is
  a group of its own).

Mined negatives are not part of the grouping: they come from the whole pool, as a
shared corpus does in BEIR (a held-out passage mined as a training negative does not
teach the model the held-out answer).
"""

from __future__ import annotations

from pathlib import Path

from wrapper.errors import InputError
from wrapper.prepare.records import Collector, QueryEntry

PASSAGE = "passage"
ARTICLE = "article"
KEYWORDS = (PASSAGE, ARTICLE)


def column_of(group_by: str | None) -> str | None:
    """The table column `--group-by` names (None for the keywords or no grouping)."""
    return None if group_by is None or group_by in KEYWORDS else group_by


def refuse(path: Path, group_by: str | None, kind: str, allowed: tuple[str, ...], *, columns: bool = False) -> None:
    """Raise when `--group-by group_by` cannot apply to a source of `kind` (`allowed` keywords, and
    any column name when `columns`)."""
    if group_by is None or group_by in allowed or (columns and group_by not in KEYWORDS):
        return
    what = f"--group-by {group_by}" if group_by in KEYWORDS else f"--group-by {group_by!r} (a column name)"
    choices = " or ".join(allowed) + (" or a column name" if columns else "")
    raise InputError.at(path, f"{what} does not apply to {kind}",
                        hint=f"for {kind} use --group-by {choices}; 'article' needs SQuAD-style JSON "
                             "(data[].paragraphs), a column name needs a table (CSV/TSV/JSON Lines/Parquet)")


class _UnionFind:
    def __init__(self, items: list[str]) -> None:
        self.parent = {i: i for i in items}

    def find(self, x: str) -> str:
        root = x
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[x] != root:
            self.parent[x], x = root, self.parent[x]
        return root

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:  # the smaller id is the root: the result does not depend on the order of unions
            lo, hi = (ra, rb) if ra < rb else (rb, ra)
            self.parent[hi] = lo


def query_groups(collector: Collector, by_id: dict[str, QueryEntry], group_by: str) -> dict[str, str]:
    """query id -> its group's id (the smallest query id in the group)."""
    uf = _UnionFind(sorted(by_id))
    owner: dict[object, str] = {}  # passage id or group key -> the first query seen with it
    for qid in sorted(by_id):
        entry = by_id[qid]
        if group_by == PASSAGE:
            keys: list[object] = [*entry.pos, *entry.neg]
        else:
            keys = sorted(collector.group_keys.get(entry.text, ()))
        for key in keys:
            first = owner.setdefault(key, qid)
            if first != qid:
                uf.union(first, qid)
    return {qid: uf.find(qid) for qid in by_id}
