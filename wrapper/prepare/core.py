"""`prepare`: raw files -> a validated, split, mined dataset folder (Contract 1)."""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from tqdm.auto import tqdm

from wrapper.dataset import sha256_file
from wrapper.dataset import writer as writers
from wrapper.errors import InputError
from wrapper.prepare import manifest as M
from wrapper.prepare.formats import SourceInfo, read_corpus_file, read_source
from wrapper.prepare.mining import MiningStats, load_miner, mine
from wrapper.prepare.options import PrepareOptions
from wrapper.prepare.records import Collector, QueryEntry
from wrapper.prepare.groups import query_groups
from wrapper.prepare.split import split_groups, split_info, split_queries
from wrapper.prepare.teacher import check_teacher, teacher_scores

@dataclass
class PrepareReport:
    """What `prepare` did: the manifest it wrote, and where."""

    out: Path
    manifest: dict[str, Any]

    def summary(self) -> str:
        text = M.summary_text(self.manifest, self.out)
        teacher = self.manifest.get("teacher")
        if teacher:
            text += (f"\n  teacher scores: {teacher['pairs']:,} pairs by {teacher['model']} ({teacher['kind']}, "
                     f"{teacher['score']}; {teacher['pairs_from_mining']:,} kept from mining) "
                     "in flagembedding/train.jsonl")
        return text


def prepare(sources: Iterable[str | os.PathLike], out: str | os.PathLike, options: PrepareOptions | None = None) -> PrepareReport:
    """Read `sources`, clean, split by query, mine negatives and write the dataset to `out`."""
    options = options or PrepareOptions()
    sources = [Path(s) for s in sources]
    out = Path(out)
    if not sources:
        raise InputError("no SOURCE given\n  hint: autorerank prepare data.csv --out data/mine")
    writers.check_output(out, options.overwrite)  # fail before any heavy work
    check_teacher(options)

    collector = Collector()
    infos: list[SourceInfo] = [read_source(path, options, collector) for path in sources]
    corpus_info = []
    for extra in options.corpus:
        n = read_corpus_file(Path(extra), options, collector)
        corpus_info.append({"path": str(extra), "passages": n, "sha256": sha256_file(Path(extra))})
    dropped_queries = collector.finalise()
    counts = collector.counts()
    if not collector.queries:
        reasons = ", ".join(f"{k}: {v:,}" for k, v in counts["skipped_by_reason"].items()) or "no rows"
        raise InputError(
            f"no usable query in {', '.join(str(s) for s in sources)}: {counts['rows_read']:,} rows read, "
            f"none gave a query with a positive ({reasons})\n"
            "  hint: check --format and the column flags (--query-col, --passage-col, --label-col, ...) "
            "and, for graded labels, --label-threshold"
        )

    by_id: dict[str, QueryEntry] = {e.query_id: e for e in collector.queries.values()}
    ratios = {"val_ratio": options.val_ratio, "test_ratio": options.test_ratio, "seed": options.seed}
    groups = query_groups(collector, by_id, options.group_by) if options.group_by else None
    if groups is None:
        splits = split_queries(list(by_id), **ratios)
    else:
        splits = split_groups(groups, **ratios, group_by=options.group_by)

    loaded: list = []

    def miner():  # loaded once, only if mining or the teacher needs it
        if not loaded:
            loaded.append(load_miner(options.miner, options.device))
        return loaded[0]

    stats = MiningStats(pool_size=len(collector.passages))
    if options.mine:
        targets = {by_id[q].text: options.num_negatives for q in splits["train"]}
        held_out = {by_id[q].text for name in ("validation", "test") for q in splits[name]}
        targets.update({text: options.eval_candidates for text in held_out})
        stats = mine(collector, targets, options, held_out=held_out, loader=miner)

    passages = collector.passages

    def negatives(entry: QueryEntry) -> list[int]:
        return list(entry.neg) + entry.mined

    train = [by_id[q] for q in splits["train"]]
    scores, teacher = teacher_scores(collector, train, negatives, options, mined=stats.scores, miner=miner)

    def train_record(e: QueryEntry) -> dict[str, Any]:
        record: dict[str, Any] = {"query": e.text, "pos": [passages[p] for p in e.pos],
                                  "neg": [passages[n] for n in negatives(e)]}
        if scores is not None:  # FlagEmbedding's --knowledge_distillation fields, aligned with pos/neg
            record["pos_scores"] = [scores[e.text][p] for p in e.pos]
            record["neg_scores"] = [scores[e.text][n] for n in negatives(e)]
        return record

    # an evaluation-only dataset (--val-ratio 1.0) has no train queries: look at what is held out
    has_negatives = any(negatives(e) for e in (train or [by_id[q] for q in splits["validation"]]))
    columns = writers.AUTOTRAIN_COLUMNS if has_negatives else writers.AUTOTRAIN_COLUMNS[:2]

    def autotrain_rows(entries: list[QueryEntry], limit: int | None):
        for entry in entries:
            negs = negatives(entry)[:limit] if limit else negatives(entry)
            for pid in entry.pos:
                if has_negatives:
                    for nid in negs:
                        yield entry.text, passages[pid], passages[nid]
                else:
                    yield entry.text, passages[pid]

    split_manifest: dict[str, dict[str, Any]] = {}
    with writers.staging_folder(out, options.overwrite) as tmp:
        w = writers.DatasetWriter(tmp)
        bar = tqdm(total=4, desc="writing", disable=not options.progress)
        train_rows = w.autotrain("train", columns, autotrain_rows(train, None))
        val_entries = [by_id[q] for q in splits["validation"]]
        val_rows = w.autotrain("validation", columns, autotrain_rows(val_entries, options.num_negatives))
        bar.update(2)
        w.flagembedding(train_record(e) for e in train if negatives(e) or not has_negatives)
        bar.update(1)
        for name in ("validation", "test"):
            if name == "test" and options.test_ratio <= 0:
                continue
            entries = [by_id[q] for q in splits[name]]
            w.eval_split(name, ({"query_id": e.query_id, "query": e.text, "positive": [passages[p] for p in e.pos],
                                 "negative": [passages[n] for n in negatives(e)]} for e in entries))
            cands = [len(negatives(e)) for e in entries]
            split_manifest[name] = {
                "queries": len(entries),
                "positives": sum(len(e.pos) for e in entries),
                "negatives": sum(cands),
                "queries_without_negatives": sum(1 for c in cands if c == 0),
            }
        bar.update(1)
        bar.close()
        split_manifest["validation"]["triplets"] = val_rows
        split_manifest["train"] = {
            "queries": len(train),
            "triplets": train_rows,
            "positives": sum(len(e.pos) for e in train),
            "negatives": sum(len(negatives(e)) for e in train),
            "queries_without_negatives": sum(1 for e in train if not negatives(e)),
        }
        if "test" not in split_manifest:
            split_manifest["test"] = {"queries": 0}
        manifest = w.finish({
            "name": options.name or dataset_name(out),
            "format_version": M.FORMAT_VERSION,
            "created_at": M.now_iso(),
            "sources": [_source_entry(info) for info in infos],
            "corpus": corpus_info,
            "options": options.model_dump(mode="json"),
            "label_threshold": next((i.details["label_threshold"] for i in infos if "label_threshold" in i.details), None),
            "counts": {**counts, "queries": len(collector.queries), "queries_without_positive": dropped_queries,
                       "passages": len(passages)},
            "splits": {k: split_manifest[k] for k in ("train", "validation", "test")},
            "split": split_info(groups, splits, options.group_by),
            "has_negatives": has_negatives,
            "eval_only": not train,
            "autotrain_columns": columns,
            "mining": {"enabled": options.mine, **stats.as_manifest()},
            "teacher": teacher,
            "versions": M.versions(),
        })
    return PrepareReport(out, manifest)


def dataset_name(out: Path) -> str:
    """The --out folder's name made safe for task names (letters, digits, '-', '_', '.')."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", out.resolve().name).strip("-._")
    return name[:64] or "dataset"


def _source_entry(info: SourceInfo) -> dict[str, Any]:
    entry: dict[str, Any] = {"path": info.path, "format": info.format, "file_kind": info.file_kind,
                             "rows_read": info.rows_read}
    if len(info.hashed_files) == 1:
        entry["sha256"] = sha256_file(info.hashed_files[0])
    else:
        per_file = {str(p): sha256_file(p) for p in info.hashed_files}
        entry["files"] = per_file
        entry["sha256"] = hashlib.sha256("".join(f"{k}\0{v}\n" for k, v in per_file.items()).encode()).hexdigest()
    if info.columns:
        entry["columns"] = info.columns
    entry.update(info.details)
    return entry
