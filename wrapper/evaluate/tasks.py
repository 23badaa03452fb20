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

Everything here builds task objects; nothing is evaluated.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wrapper.dataset import iter_records, read_manifest, sha256_file, split_files
from wrapper.errors import InputError

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

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN_WORD = re.compile(r"[A-Za-z]{2,}")


# --------------------------------------------------------------------------- data


@dataclass
class RerankData:
    """One split of query -> candidate lists, ready for mteb's RetrievalSplitData."""

    queries: dict[str, str]  # query id -> text
    corpus: dict[str, str]  # doc id -> text
    relevant: dict[str, dict[str, int]]  # query id -> {doc id: 1}
    candidates: dict[str, list[str]]  # query id -> doc ids (top_ranked)
    source: Path
    content_hash: str
    languages: list[str] = field(default_factory=list)  # mteb lang-script codes

    @property
    def num_pairs(self) -> int:
        return sum(len(c) for c in self.candidates.values())


def _doc_id(text: str) -> str:
    return "d" + hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]


def detect_languages(texts: list[str]) -> list[str]:
    """`eng-Latn` and/or `cmn-Hans`, judged from the characters of the texts."""
    cjk = latin = 0
    for text in texts:
        cjk += len(_CJK.findall(text))
        latin += len(_LATIN_WORD.findall(text))
    langs = []
    # a Chinese character carries about as much as an English word; a language
    # needs at least 10% of the signal to count
    total = cjk + latin
    if total == 0 or latin >= 0.1 * total:
        langs.append("eng-Latn")
    if total and cjk >= 0.1 * total:
        langs.append("cmn-Hans")
    return langs


def read_rerank_jsonl(path: Path, *, require_query_id: bool = True) -> RerankData:
    """Read `{"query_id", "query", "positive": [...], "negative": [...]}` lines.

    Raises InputError naming the line and field for anything unusable. Texts are
    de-duplicated into one corpus; a text that is both positive and negative for
    the same query counts as positive.
    """
    queries: dict[str, str] = {}
    corpus: dict[str, str] = {}
    relevant: dict[str, dict[str, int]] = {}
    candidates: dict[str, list[str]] = {}
    all_texts: list[str] = []
    for _, record in iter_records(path, require_query_id=require_query_id):
        qid, query = record["query_id"], record["query"]
        queries[qid] = query
        rel: dict[str, int] = {}
        cands: list[str] = []
        for text in record["positive"]:
            did = _doc_id(text)
            corpus[did] = text
            if did not in rel:
                rel[did] = 1
                cands.append(did)
        for text in record["negative"]:
            did = _doc_id(text)
            corpus[did] = text
            if did not in rel and did not in cands:
                cands.append(did)
        relevant[qid] = rel
        candidates[qid] = cands
        all_texts.append(query)
        all_texts.extend(record["positive"][:1])
    if not queries:
        raise InputError.at(path, "no queries in file", hint="the eval split is empty; prepare with a larger --val-ratio")
    return RerankData(
        queries=queries, corpus=corpus, relevant=relevant, candidates=candidates, source=path,
        content_hash=sha256_file(path), languages=detect_languages(all_texts),
    )


# --------------------------------------------------------------------------- task classes


def _make_task(name: str, description: str, data: RerankData, split: str, *, reference_path: str,
               revision: str, main_score: str = LOCAL_MAIN_SCORE):
    """An mteb reranking task (AbsTaskRetrieval with top_ranked) over in-memory data."""
    from datasets import Dataset
    from mteb.abstasks.retrieval import AbsTaskRetrieval
    from mteb.abstasks.task_metadata import TaskMetadata

    metadata = TaskMetadata(
        name=name,
        description=description,
        dataset={"path": reference_path, "revision": revision},
        type="Reranking",
        category="t2t",
        modalities=["text"],
        eval_splits=[split],
        eval_langs=data.languages or ["eng-Latn"],
        main_score=main_score,
        license="not specified",
        annotations_creators="human-annotated",
        dialect=[],
        sample_creation="found",
        bibtex_citation="",
    )

    class _RerankTask(AbsTaskRetrieval):
        def load_data(self, num_proc=None, *, timer=None, **kwargs):  # noqa: ARG002
            if self.data_loaded:
                return
            self.dataset = {
                "default": {
                    split: {
                        "corpus": Dataset.from_dict({
                            "id": list(data.corpus), "title": [""] * len(data.corpus), "text": list(data.corpus.values()),
                        }),
                        "queries": Dataset.from_dict({"id": list(data.queries), "text": list(data.queries.values())}),
                        "relevant_docs": {q: dict(r) for q, r in data.relevant.items()},
                        "top_ranked": {q: list(c) for q, c in data.candidates.items()},
                    }
                }
            }
            self.data_loaded = True

    _RerankTask.metadata = metadata
    _RerankTask.__name__ = re.sub(r"\W", "_", name)
    task = _RerankTask()
    return task


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


def _short_lang(code: str) -> str:
    return code.split("-")[0]


# --------------------------------------------------------------------------- local tasks


def local_task_specs(dataset_dir: Path, splits: list[str] | None = None) -> list[TaskSpec]:
    """One task per `eval/<split>.jsonl` of a prepared dataset (Contract 1)."""
    dataset_dir = Path(dataset_dir)
    manifest = read_manifest(dataset_dir)
    name = manifest.get("name") or dataset_dir.name
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
        raise InputError.at(dataset_dir / "dataset.json", f"dataset name {name!r} cannot name a task", column="name",
                            hint="use letters, digits, '-', '_' or '.'")
    files = split_files(dataset_dir, manifest)
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
            return _make_task(task_name, f"Held-out split {split!r} of the prepared dataset {name!r}.", data, split,
                              reference_path=str(dataset_dir), revision=revision)

        specs.append(TaskSpec(
            name=task_name, split=split, kind="local", dataset=str(dataset_dir),
            dataset_hash=dataset_hash or data.content_hash, data_source=str(path),
            languages=[_short_lang(lang) for lang in data.languages], revision=revision,
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
        return _make_task(name, f"C-MTEB {name} (T2Ranking dev, cross-lingual), from {path.name}.", data, "dev",
                          reference_path=f"C-MTEB/{name}", revision=revision)

    return TaskSpec(name=name, split="dev", kind="t2-crosslingual", data_source=str(path),
                    dataset_hash=data.content_hash, languages=[_short_lang(x) for x in langs],
                    revision=revision, num_pairs=data.num_pairs, _factory=factory)


# --------------------------------------------------------------------------- built-in tasks


def _local_copy(mteb_data: Path, repo_path: str) -> Path | None:
    """Where a local copy of the dataset repo `org/name` may live under `mteb_data`."""
    org, _, repo = repo_path.rpartition("/")
    for candidate in (mteb_data / repo, mteb_data / repo_path, mteb_data / f"{org}__{repo}"):
        if candidate.is_dir():
            return candidate
    if (mteb_data / "README.md").is_file() and mteb_data.name == repo:
        return mteb_data
    return None


def _readme_configs(copy: Path) -> list[str]:
    readme = copy / "README.md"
    if not readme.is_file():
        raise InputError.at(readme, "missing: a local copy of an MTEB dataset needs the repo's README.md",
                            hint="copy the whole dataset repo (its README.md holds the `configs:` list the loader reads)")
    text = readme.read_text(encoding="utf-8")
    match = re.match(r"\A---\s*\n(.*?)\n---\s*(\n|\Z)", text, re.S)
    if not match:
        raise InputError.at(readme, "no YAML front matter (--- ... ---) with `configs:`",
                            hint="use the README.md of the dataset repo unchanged")
    import yaml

    try:
        meta = yaml.safe_load(match.group(1)) or {}
    except yaml.YAMLError as exc:
        raise InputError.at(readme, f"front matter is not valid YAML ({exc})") from None
    configs = meta.get("configs") if isinstance(meta, dict) else None
    if not isinstance(configs, list) or not configs:
        raise InputError.at(readme, "front matter has no `configs:` list", line=2,
                            hint="use the README.md of the dataset repo unchanged")
    return [str(c.get("config_name")) for c in configs if isinstance(c, dict)]


def _check_copy_configs(copy: Path, task_name: str, subsets: list[str]) -> None:
    names = set(_readme_configs(copy))
    missing = []
    for subset in subsets:
        prefix = "" if subset == "default" else f"{subset}-"
        need = [f"{prefix}corpus", f"{prefix}queries", f"{prefix}top_ranked"]
        need.append(f"{prefix}qrels" if prefix else "default")
        missing += [n for n in need if n not in names and not (n == "default" and "qrels" in names)]
    if missing:
        raise InputError.at(
            copy / "README.md", f"{task_name}: the copy lacks the config(s) {', '.join(missing)}",
            hint="without `top_ranked` a reranking task silently turns into full-corpus retrieval (wrong numbers); "
                 "copy the complete dataset repo, not a datasets Arrow cache",
        )


def check_top_ranked(task) -> None:
    """Refuse a loaded reranking task whose candidate lists are missing (see module doc)."""
    for subset, splits in (task.dataset or {}).items():
        for split, data in splits.items():
            if split not in task.eval_splits:
                continue
            if not data.get("top_ranked"):
                raise InputError.at(
                    task.metadata.dataset["path"],
                    f"{task.metadata.name} ({subset}/{split}) loaded without its top_ranked candidate lists",
                    hint="this happens with a datasets Arrow cache alone; the scores would be full-corpus retrieval, "
                         "not reranking. Use the Hub or --mteb-data with a complete copy of the dataset repo",
                )


def builtin_task_spec(token: str, *, mteb_data: Path | None, hub: bool | None = None) -> TaskSpec:
    """`T2Reranking`, `MIRACLReranking:zho` (language) or `MIRACLReranking:zh` (subset)."""
    import mteb

    name, _, selector = token.partition(":")
    try:
        probe = mteb.get_task(name)
    except KeyError:
        raise InputError.at("--tasks", f"unknown task {name!r}", hint=_tasks_hint()) from None
    if probe.metadata.type != "Reranking":
        raise InputError.at("--tasks", f"{name} is a {probe.metadata.type} task; autorerank evaluates rerankers",
                            hint=_tasks_hint())
    kwargs: dict[str, Any] = {}
    if selector:
        subsets = probe.metadata.hf_subsets_to_langscripts
        if selector in subsets:
            kwargs["hf_subsets"] = [selector]
        elif any(_short_lang(code) == selector or code == selector for codes in subsets.values() for code in codes):
            kwargs["languages"] = [selector]
        else:
            langs = sorted({_short_lang(c) for codes in subsets.values() for c in codes})
            raise InputError.at("--tasks", f"{name} has no language or subset {selector!r}",
                                hint=f"choose one of: {', '.join(langs)}")
    selected = mteb.get_task(name, **kwargs)
    repo_path = selected.metadata.dataset["path"]
    revision = selected.metadata.dataset["revision"]
    copy = _local_copy(Path(mteb_data), repo_path) if mteb_data else None
    if copy is not None:
        _check_copy_configs(copy, name, list(selected.hf_subsets))
        source = str(copy)
    else:
        if hub is None:
            from wrapper.settings import hub_reachable

            hub = hub_reachable()
        if not hub:
            where = f"no copy under {mteb_data}" if mteb_data else "no --mteb-data given"
            raise InputError.at(
                name, f"needs its dataset {repo_path} from the Hugging Face Hub, which is unreachable ({where})",
                hint=f"on a machine with internet: `hf download {repo_path} --repo-type dataset "
                     f"--local-dir DIR/{repo_path.rpartition('/')[2]}`, then pass --mteb-data DIR",
            )
        source = "hub"
    langs = sorted({_short_lang(c) for s in selected.hf_subsets for c in selected.metadata.hf_subsets_to_langscripts[s]})

    def factory(kwargs=kwargs, copy=copy):
        task = mteb.get_task(name, **kwargs)
        if copy is not None:
            task.metadata = task.metadata.model_copy(
                update={"dataset": {**task.metadata.dataset, "path": str(copy)}}, deep=True)
        return task

    label = name if not selector else f"{name}:{selector}"
    return TaskSpec(name=name, split=None, kind="builtin", data_source=source, languages=langs,
                    revision=revision, dataset=label, _factory=factory)


def _tasks_hint() -> str:
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
