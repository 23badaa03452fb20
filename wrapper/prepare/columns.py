"""Column roles, label parsing and format detection for the row formats; `SourceInfo`.

A row format (pairs, listwise, triplets, positives) finds its columns by the
usual names (`ALIASES`) or by the `--*-col` flags; `detect_format` picks one
from a table's columns and first row for `--format auto`. `SourceInfo` is what
every format reader (rows, squad, beir) reports about its source.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from wrapper.errors import InputError
from wrapper.prepare import records as R
from wrapper.prepare.options import Format, PrepareOptions
from wrapper.prepare.readers import FileKind, TableSource

#: recognised column names per role (case-insensitive), first match wins
ALIASES: dict[str, tuple[str, ...]] = {
    "query": ("query", "question", "anchor", "q", "query_text", "sentence1", "prompt"),
    "passage": ("passage", "document", "doc", "text", "context", "answer", "response", "content",
                "passage_text", "sentence2", "corpus", "title"),  # title last: QBQTC's (query, title, label)
    "label": ("label", "labels", "score", "relevance", "rel", "relevant", "is_relevant", "rating", "grade"),
    "pos": ("pos", "positive", "positives", "positive_passage", "pos_passage", "sentence2"),
    "neg": ("neg", "negative", "negatives", "hard_negative", "hard_negatives", "negative_passage",
            "neg_passage", "sentence3"),
}
ROLE_FLAGS = {"query": "--query-col", "passage": "--passage-col", "label": "--label-col", "pos": "--pos-col",
              "neg": "--neg-col"}
KNOWN_COLUMNS = {name for names in ALIASES.values() for name in names}

#: the roles each row format needs (optional ones in brackets are looked up but not required)
ROLES: dict[Format, tuple[str, ...]] = {
    Format.pairs: ("query", "passage", "label"),
    Format.listwise: ("query", "pos", "neg"),
    Format.triplets: ("query", "pos", "neg"),
    Format.positives: ("query", "pos"),
}
OPTIONAL_ROLES = {Format.listwise: {"neg"}}

TRUE_WORDS = {"true", "yes", "y", "relevant", "pos", "positive"}
FALSE_WORDS = {"false", "no", "n", "irrelevant", "not_relevant", "neg", "negative"}


@dataclass
class SourceInfo:
    """What was read from one source (goes into the manifest's `sources`)."""

    path: str
    format: str
    file_kind: str
    rows_read: int = 0
    columns: dict[str, str] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    hashed_files: list[Path] = field(default_factory=list)


# --------------------------------------------------------------------------- labels
def _explicit(options: PrepareOptions, role: str) -> str | None:
    if role == "pos":
        return options.pos_col or (options.passage_col if not options.neg_col and not options.label_col else None)
    return {"query": options.query_col, "passage": options.passage_col, "label": options.label_col,
            "neg": options.neg_col}[role]


def _find_column(columns: list[str], role: str, options: PrepareOptions, taken: set[str]) -> str | None:
    explicit = _explicit(options, role)
    if explicit is not None:
        return explicit if explicit in columns else None
    lower = {c.lower(): c for c in columns}
    for alias in ALIASES[role]:
        if alias in lower and lower[alias] not in taken:
            return lower[alias]
    return None


def parse_label(value: Any) -> float | None | str:
    """A label as a float; None when missing; the string "invalid" when it cannot be read."""
    if value is None:
        return None
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return None if (isinstance(value, float) and math.isnan(value)) else float(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("", "nan", "none", "null", "na", "n/a"):
            return None
        if text in TRUE_WORDS:
            return 1.0
        if text in FALSE_WORDS:
            return 0.0
        try:
            number = float(text)
        except ValueError:
            return "invalid"
        return None if math.isnan(number) else number
    return "invalid"


def label_skip_reason(label: float | None | str) -> str | None:
    """The skip reason for a parsed label that cannot be used (None when it can)."""
    if label is None:
        return R.MISSING_LABEL
    if label == "invalid":
        return R.INVALID_LABEL
    return None


def auto_threshold(labels: Iterable[Any]) -> float:
    """1, unless the labels look like probabilities (fractions in [0, 1]): then 0.5."""
    for value in labels:
        number = parse_label(value)
        if isinstance(number, float) and 0.0 < number < 1.0 and number != int(number):
            return 0.5
    return 1.0


def as_text_list(value: Any) -> list[Any] | None:
    """A listwise `pos`/`neg` cell as a list (a lone string counts as one item; JSON text is parsed)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    if hasattr(value, "tolist"):  # numpy arrays from Parquet
        return list(value.tolist())
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                parsed = json.loads(text)
                if isinstance(parsed, list):
                    return parsed
            except ValueError:
                pass
        return [value]
    return None


def columns_message(columns: list[str]) -> str:
    shown = ", ".join(repr(c) for c in columns[:20]) + (" ..." if len(columns) > 20 else "")
    return f"columns found: {shown}"


# --------------------------------------------------------------------------- detection
def detect_format(table: TableSource, options: PrepareOptions) -> Format:
    """Pick the row format from the columns (and the first row's values)."""
    cols = table.columns
    if table.headerless:
        if len(cols) == 2:
            return Format.positives
        if len(cols) == 3:
            third = next(iter(table.first_rows), None)
            value = third.fields.get("column3") if third else None
            return Format.pairs if isinstance(parse_label(value), float) else Format.triplets
        raise InputError.at(
            table.path,
            f"the first line does not look like a header, and a headerless file needs 2 or 3 columns (found {len(cols)})",
            line=1,
            hint="add a header row naming the columns (e.g. query,passage,label) or pass --query-col etc.",
        )
    if options.label_col:
        return Format.pairs
    taken: set[str] = set()
    q = _find_column(cols, "query", options, taken)
    found = {role: _find_column(cols, role, options, {q} if q else set()) for role in ("passage", "label", "pos", "neg")}
    first = table.first_rows[0].fields if table.first_rows else {}
    neg_value = first.get(found["neg"]) if found["neg"] else None
    pos_value = first.get(found["pos"]) if found["pos"] else None
    if found["neg"] and (isinstance(neg_value, (list, tuple)) or isinstance(pos_value, (list, tuple))):
        return Format.listwise
    if found["pos"] and isinstance(pos_value, (list, tuple)):
        return Format.listwise
    if found["neg"] and (found["pos"] or found["passage"]):
        return Format.triplets
    if found["label"] and (found["passage"] or found["pos"]):
        return Format.pairs
    if q and (found["pos"] or found["passage"]):
        return Format.positives
    raise InputError.at(
        table.path,
        "cannot tell the format from the columns; " + columns_message(cols),
        hint=(
            "expected one of: pairs (query, passage, label), triplets (query, positive, negative), "
            "listwise (query, pos[], neg[]), positives (query, positive); name your columns with "
            "--query-col/--passage-col/--label-col/--pos-col/--neg-col or pick one with --format"
        ),
    )


def resolve_columns(table: TableSource, fmt: Format, options: PrepareOptions) -> dict[str, str]:
    """Map each role of `fmt` to a column of `table`, or fail listing the columns found."""
    if table.headerless:
        n = len(table.columns)
        need = len(ROLES[fmt])
        if n < need:
            raise InputError.at(table.path, f"{fmt.value} needs {need} columns, this headerless file has {n}", line=1,
                                hint="add a header row or choose another --format")
        return {role: f"column{i + 1}" for i, role in enumerate(ROLES[fmt])}
    mapping: dict[str, str] = {}
    taken: set[str] = set()
    for role in ROLES[fmt]:
        col = None
        if fmt is Format.pairs and role == "passage":
            col = _find_column(table.columns, "passage", options, taken) or _find_column(table.columns, "pos", options, taken)
        elif role == "pos" and fmt in (Format.triplets, Format.positives):
            col = _find_column(table.columns, "pos", options, taken)
            if col is None and not options.pos_col:
                col = _find_column(table.columns, "passage", options, taken)
        else:
            col = _find_column(table.columns, role, options, taken)
        if col is None:
            if role in OPTIONAL_ROLES.get(fmt, ()):
                continue
            explicit = _explicit(options, role)
            flag = ROLE_FLAGS[role]
            if explicit:
                problem = f"column {explicit!r} (from {flag}) is not in the file; {columns_message(table.columns)}"
            else:
                looked = ", ".join(ALIASES[role][:6])
                problem = (f"no {role} column for format {fmt.value!r} (looked for {looked}); "
                           f"{columns_message(table.columns)}")
            raise InputError.at(table.path, problem, line=1 if table.kind in (FileKind.csv, FileKind.tsv) else None,
                                hint=f"name the column with {flag} COLUMN")
        mapping[role] = col
        taken.add(col)
    return mapping
