"""Which MTEB tasks to run, and where their data comes from.

Three sources, one result layout:

- **local tasks**: each `data/<name>/eval/<split>.jsonl` of a prepared dataset
  (Contract 1) becomes a reranking task `AutoRerank-<name>-<split>`; every
  query's positives and negatives are its candidate list (`top_ranked`), so a
  bi-encoder and a cross-encoder rank exactly the same candidates. Always
  available offline. Main score `map_at_1000` (the classic MAP).
- **built-in MTEB / C-MTEB reranking tasks** (`T2Reranking`, `MMarcoReranking`,
  `CMedQAv1-reranking`, `CMedQAv2-reranking`, `MIRACLReranking[:lang]`, groups
  like `cmteb-rerank`): from the Hub, or from a local copy of the dataset repo
  (`mteb_data/<repo name>/` with its README `configs:`). Without either, or when
  a copy lacks the `top_ranked` candidate lists, we refuse instead of silently
  scoring full-corpus retrieval (wrong numbers).
- **T2RerankingZh2En / T2RerankingEn2Zh** (C-MTEB tasks mteb 2.x lacks): from the
  user's query/positive/negative JSONL files.

Everything here builds task objects; nothing is evaluated. This module builds
the local and cross-lingual specs and resolves `--tasks`; `catalog` holds the
names and `TaskSpec`, `rerank_data` the JSONL -> mteb task step, `builtin` the
Hub / local-copy loading.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from wrapper.dataset import Dataset
from wrapper.errors import InputError
from wrapper.evaluate.builtin import builtin_task_spec, check_top_ranked
from wrapper.evaluate.catalog import (
    BUILTIN_TASKS,
    LOCAL_ALIAS,
    LOCAL_MAIN_SCORE,
    LOCAL_PREFIX,
    REPORTED_SCORES,
    T2_CROSSLINGUAL,
    TASK_GROUPS,
    TaskSpec,
    expand_task_names,
    short_lang,
)
from wrapper.evaluate.rerank_data import RerankData, detect_languages, make_task, read_rerank_jsonl

__all__ = [
    "BUILTIN_TASKS", "LOCAL_ALIAS", "LOCAL_MAIN_SCORE", "LOCAL_PREFIX", "REPORTED_SCORES", "T2_CROSSLINGUAL",
    "TASK_GROUPS", "RerankData", "TaskSpec", "builtin_task_spec", "check_top_ranked", "detect_languages",
    "expand_task_names", "local_task_specs", "make_task", "read_rerank_jsonl", "resolve_task_specs",
    "t2_crosslingual_spec",
]


# --------------------------------------------------------------------------- local tasks


def local_task_specs(dataset: Dataset | Path, splits: list[str] | None = None) -> list[TaskSpec]:
    """One task per `eval/<split>.jsonl` of a prepared dataset (Contract 1)."""
    if not isinstance(dataset, Dataset):
        dataset = Dataset.open(dataset)
    dataset_dir, manifest = dataset.root, dataset.manifest
    name = manifest.get("name") or dataset_dir.name
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
        raise InputError.at(dataset.manifest_file, f"dataset name {name!r} cannot name a task", column="name",
                            hint="use letters, digits, '-', '_' or '.'")
    files = dataset.split_files()
    if not files:
        raise InputError.at(dataset_dir / "eval", "no eval/<split>.jsonl files",
                            hint="prepare with --val-ratio > 0 so a held-out split exists")
    if splits:
        unknown = [s for s in splits if s not in files]
        if unknown:
            raise InputError.at(dataset_dir / "eval", f"no split {', '.join(map(repr, unknown))}",
                                hint=f"available: {', '.join(sorted(files))}")
        files = {s: files[s] for s in splits}
    dataset_hash = manifest.get("content_hash")
    specs = []
    for split, path in files.items():
        data = read_rerank_jsonl(path)
        revision = hashlib.sha256(f"{dataset_hash}:{data.content_hash}".encode()).hexdigest()[:12]
        task_name = f"{LOCAL_PREFIX}-{name}-{split}"

        def factory(data=data, task_name=task_name, split=split, revision=revision):
            return make_task(task_name, f"Held-out split {split!r} of the prepared dataset {name!r}.", data, split,
                              reference_path=str(dataset_dir), revision=revision)

        specs.append(TaskSpec(
            name=task_name, split=split, kind="local", dataset=str(dataset_dir),
            dataset_hash=dataset_hash or data.content_hash, data_source=str(path),
            languages=[short_lang(lang) for lang in data.languages], revision=revision,
            num_pairs=data.num_pairs, _factory=factory,
        ))
    return specs


# --------------------------------------------------------------------------- T2 cross-lingual


def t2_crosslingual_spec(name: str, folder: Path | None) -> TaskSpec:
    stems, langs = T2_CROSSLINGUAL[name]
    hint = (f"C-MTEB's {name} is not part of mteb 2.x; pass --t2-crosslingual DIR with {stems[0]}.jsonl "
            '(lines {"query": ..., "positive": [...], "negative": [...]}, from the C-MTEB dataset of the same name)')
    if folder is None:
        raise InputError.at(name, "needs its JSONL file", hint=hint)
    folder = Path(folder)
    path = None
    for stem in stems:
        for candidate in (folder / f"{stem}.jsonl", folder / stem.lower() / "dev.jsonl", folder / stem / "dev.jsonl"):
            if candidate.is_file():
                path = candidate
                break
        if path:
            break
    if folder.is_file():
        path = folder
    if path is None:
        raise InputError.at(folder, f"no {stems[0]}.jsonl (or {stems[1]}.jsonl) here", hint=hint)
    data = read_rerank_jsonl(path, require_query_id=False)
    data.languages = langs
    revision = data.content_hash[:12]

    def factory():
        return make_task(name, f"C-MTEB {name} (T2Ranking dev, cross-lingual), from {path.name}.", data, "dev",
                          reference_path=f"C-MTEB/{name}", revision=revision)

    return TaskSpec(name=name, split="dev", kind="t2-crosslingual", data_source=str(path),
                    dataset_hash=data.content_hash, languages=[short_lang(x) for x in langs],
                    revision=revision, num_pairs=data.num_pairs, _factory=factory)


# --------------------------------------------------------------------------- all tasks


def resolve_task_specs(
    tokens: list[str] | None,
    datasets: list[Path],
    *,
    splits: list[str] | None = None,
    mteb_data: Path | None = None,
    t2_crosslingual: Path | None = None,
) -> list[TaskSpec]:
    """All tasks to run: the datasets' local tasks (when `tokens` is None or names
    'local'), then the named built-in / cross-lingual tasks."""
    names = expand_task_names(tokens) if tokens else [LOCAL_ALIAS]
    specs: list[TaskSpec] = []
    want_local = LOCAL_ALIAS in names or any(n.startswith(f"{LOCAL_PREFIX}-") for n in names)
    if want_local:
        if not datasets:
            raise InputError.at("--tasks", "the local tasks need a prepared dataset",
                                hint="pass --dataset data/<name> (a run uses its own dataset by default)")
        for dataset in datasets:
            specs += local_task_specs(dataset, splits)
        explicit = [n for n in names if n.startswith(f"{LOCAL_PREFIX}-")]
        if explicit and LOCAL_ALIAS not in names:
            known = {s.name for s in specs}
            unknown = [n for n in explicit if n not in known]
            if unknown:
                raise InputError.at("--tasks", f"unknown local task {unknown[0]!r}",
                                    hint=f"the datasets give: {', '.join(sorted(known))}")
            specs = [s for s in specs if s.name in explicit]
    hub: bool | None = None
    for name in names:
        if name == LOCAL_ALIAS or name.startswith(f"{LOCAL_PREFIX}-"):
            continue
        if name in T2_CROSSLINGUAL:
            specs.append(t2_crosslingual_spec(name, t2_crosslingual))
            continue
        if hub is None and not mteb_data:
            from wrapper.settings import hub_reachable

            hub = hub_reachable()
        spec = builtin_task_spec(name, mteb_data=mteb_data, hub=hub)
        specs.append(spec)
    return specs
