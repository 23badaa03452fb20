"""Built-in MTEB / C-MTEB reranking tasks, from the Hub or a local copy of the dataset repo.

A local copy is `mteb_data/<repo name>/` with the repo's README `configs:`.
Without the Hub or a copy, or when a copy lacks the `top_ranked` candidate
lists, we refuse instead of silently scoring full-corpus retrieval (wrong numbers).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from wrapper.errors import InputError
from wrapper.evaluate.catalog import TaskSpec, short_lang, tasks_hint


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
        raise InputError.at("--tasks", f"unknown task {name!r}", hint=tasks_hint()) from None
    if probe.metadata.type != "Reranking":
        raise InputError.at("--tasks", f"{name} is a {probe.metadata.type} task; autorerank evaluates rerankers",
                            hint=tasks_hint())
    kwargs: dict[str, Any] = {}
    if selector:
        subsets = probe.metadata.hf_subsets_to_langscripts
        if selector in subsets:
            kwargs["hf_subsets"] = [selector]
        elif any(short_lang(code) == selector or code == selector for codes in subsets.values() for code in codes):
            kwargs["languages"] = [selector]
        else:
            langs = sorted({short_lang(c) for codes in subsets.values() for c in codes})
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
    langs = sorted({short_lang(c) for s in selected.hf_subsets for c in selected.metadata.hf_subsets_to_langscripts[s]})

    def factory(kwargs=kwargs, copy=copy):
        task = mteb.get_task(name, **kwargs)
        if copy is not None:
            task.metadata = task.metadata.model_copy(
                update={"dataset": {**task.metadata.dataset, "path": str(copy)}}, deep=True)
        return task

    label = name if not selector else f"{name}:{selector}"
    return TaskSpec(name=name, split=None, kind="builtin", data_source=source, languages=langs,
                    revision=revision, dataset=label, _factory=factory)
