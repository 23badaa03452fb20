"""The options of `autorerank prepare`, declared once: the CLI builds its flags from this table
and the studio's Data page shows the same help and defaults.

Each entry is `(flag names..., {click keyword: value})` with two plain-data spellings for
click types: `type="path"` (a pathlib path) and `choices=[...]` (one of these values).
"""

from __future__ import annotations

from typing import Any

from wrapper.prepare.options import Format


def _opt(*decls: str, **kwargs: Any) -> tuple[tuple[str, ...], dict[str, Any]]:
    return decls, kwargs


OPTIONS: list[tuple[tuple[str, ...], dict[str, Any]]] = [
    _opt("--out", "-o", type="path",
              help="Output folder [default: data/<--name>]; one of --out and --name is required."),
    _opt("--format", "fmt", choices=[f.value for f in Format], default="auto", show_default=True,
              help="Input format; auto detects it from each source's shape."),
    _opt("--query-col", help="Column holding the query (default: query, question, anchor, ...)."),
    _opt("--passage-col", help="Column holding the passage (pairs/positives)."),
    _opt("--label-col", help="Column holding the relevance label (pairs)."),
    _opt("--pos-col", help="Column holding the positive(s) (triplets/listwise/positives)."),
    _opt("--neg-col", help="Column holding the negative(s) (triplets/listwise)."),
    _opt("--split", "split", help="BEIR qrels split to read (qrels/<split>.tsv); default train."),
    _opt("--label-threshold", type=float, help="Labels >= this are positives [default: 1, or 0.5 for fractions]."),
    _opt("--val-ratio", type=float, default=0.1, show_default=True, help="Share of queries held out for validation (1.0: an evaluation-only dataset)."),
    _opt("--test-ratio", type=float, default=0.0, show_default=True, help="Share of queries held out for test."),
    _opt("--seed", type=int, default=42, show_default=True, help="Seed for the split and random negatives."),
    _opt("--group-by", "group_by", metavar="passage|article|COLUMN",
              help="Split whole groups, not single queries: 'passage' keeps queries that share a labelled "
                   "passage together (SQuAD: several questions per paragraph), 'article' keeps a SQuAD "
                   "article together, COLUMN keeps a table's rows with the same value together. "
                   "[default: split by query]"),
    _opt("--mine/--no-mine", default=True, show_default=True, help="Mine hard negatives."),
    _opt("--miner", default="bundled", show_default=True,
              help="sentence-transformers model (name or path) used to mine; 'bundled' = all-MiniLM-L6-v2."),
    _opt("--num-negatives", type=int, default=4, show_default=True, help="Negatives per training query."),
    _opt("--eval-negatives", type=int, help="Candidates per held-out query [default: 2 x --num-negatives]."),
    _opt("--range-min", type=int, default=0, show_default=True, help="Skip this many top hits when mining."),
    _opt("--margin", default="0.05", show_default=True,
              help="False-negative guard: drop candidates scoring above pos - |pos| x MARGIN; 'off' disables."),
    _opt("--random-negatives", type=int, default=0, show_default=True,
              help="How many of the negatives are drawn at random instead of mined."),
    _opt("--batch-size", type=int, default=32, show_default=True, help="Encoding batch size for mining."),
    _opt("--corpus", multiple=True, type="path",
              help="Extra passages to mine from (jsonl/csv/tsv/parquet/txt); repeatable."),
    _opt("--name", help="Dataset name in the manifest [default: the --out folder name]."),
    _opt("--encoding", default="utf-8", show_default=True, help="Text encoding of the inputs."),
    _opt("--title/--no-title", "use_title", default=True, show_default=True,
              help="BEIR: prefix document titles to their text."),
    _opt("--max-line-bytes", type=int, default=32 * 1024 * 1024, show_default=True,
              help="Refuse lines longer than this (catches files without line breaks)."),
    _opt("--teacher", default="miner", show_default=True,
              help="Teacher scores for distillation (pos_scores/neg_scores in flagembedding/train.jsonl): "
                   "'miner' keeps the mining scores; a model folder, run id or Hub id (a cross-encoder or "
                   "a bi-encoder) scores every training pair with it; 'off' keeps none."),
    _opt("--ann", choices=["auto", "exact", "faiss"], default="auto", show_default=True,
         help="Mining's nearest-neighbour search: exact, a FAISS IVF index, or auto (FAISS from 200,000 "
              "passages and 20,000 queries on, where it is faster; exact below); recorded in the manifest "
              "(mining.ann)."),
    _opt("--encode-processes", type=int, default=1, show_default=True,
         help="Processes that encode for mining (sentence-transformers' multi-process pool): N CPU processes, "
              "or 0 = one per GPU when there are several."),
    _opt("--device", help="Device for the miner (cpu, cuda, ...) [default: best available]."),
    _opt("--precision", choices=["auto", "fp32", "bf16"], default="auto", show_default=True,
              help="Miner weights: auto = bf16 where the CPU (avx512_bf16/AMX) or GPU does bf16, else fp32; "
                   "recorded in the manifest (mining.precision)."),
    _opt("--overwrite", is_flag=True, help="Replace an existing --out folder."),
]


def option_help() -> dict[str, dict[str, Any]]:
    """{parameter name: {"flag", "help", "default"}} of every prepare option."""
    out = {}
    for decls, kwargs in OPTIONS:
        flags = [d for d in decls if d.startswith("-")]
        names = [d for d in decls if not d.startswith("-")]
        name = names[0] if names else flags[0].lstrip("-").split("/")[0].replace("-", "_")
        out[name] = {"flag": flags[0].split("/")[0], "help": kwargs.get("help", ""),
                     "default": kwargs.get("default", () if kwargs.get("multiple") else
                                           False if "/" in flags[0] or kwargs.get("is_flag") else None)}
    return out
