"""An LLM as a listwise reranker (RankGPT), evaluated like any model: the zero-shot baseline.

Method: Sun et al., "Is ChatGPT Good at Search? Investigating Large Language Models as
Re-Ranking Agents" (EMNLP 2023). The LLM sees a window of passages labelled [1]..[n] and the
query, and answers a permutation such as `[2] > [3] > [1]`. A sliding window (default 20
passages, step 10) moves from the bottom of the first-stage ranking to the top, so strong
passages bubble up. Malformed answers are repaired the paper's way: keep the numbers in order,
drop repeats and out-of-range ids, append the missing ids in their previous order; every
repair is counted.

Our own implementation rather than llama-index's `RankGPTRerank` or `rank-llm`: it has to share
`wrapper.llm` (the answer cache, retries, the 401 stop, the token counter) with `generate`;
RankGPTRerank needs a llama-index LLM object and ranks one window only; rank-llm brings a large
stack (vLLM-oriented) for what is about a hundred lines.

The model plugs into `mteb.evaluate` as a cross-encoder (`predict` gets every query-candidate
pair of a split at once), so results are written by the same code and in the same layout as a
checkpoint's: model name `llm:<model>` in our metadata (mteb's own name is `llm/<model>`,
folder `results/results/llm__<model>/<revision>/`), kind `llm-reranker`, with tokens, requests
and wall time in `autorerank/metadata.json`.
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import re
import threading
from collections import Counter
from pathlib import Path
from typing import Any

from wrapper import settings as _settings
from wrapper.errors import InputError
from wrapper.llm import CallFailed, CompletionCache, LLMClient, LLMSettings, default_cache_path, public_url

KIND = "llm-reranker"
PROMPT_VERSION = "rankgpt-v1"
SYSTEM = "You are RankGPT, an assistant that ranks passages by their relevance to a search query."


def display_name(model: str) -> str:
    return f"llm:{model}"


def mteb_name(model: str) -> str:
    """mteb wants 'org/name'; the folder becomes `llm__<model>` (characters a filesystem may refuse -> '-')."""
    return "llm/" + re.sub(r"[^A-Za-z0-9._-]+", "-", model).strip("-")


def build_messages(query: str, passages: list[str], max_chars: int = 1000) -> list[dict[str, str]]:
    n = len(passages)
    lines = [f"I will give you {n} passages, each with a numeric identifier in brackets.", ""]
    for i, text in enumerate(passages, 1):
        lines.append(f"[{i}] {' '.join(text.split())[:max_chars]}")
    lines += ["", f"Query: {' '.join(query.split())}", "",
              f"Rank the {n} passages above by relevance to the query, most relevant first. Answer only with "
              "the identifiers in the form [2] > [1] > [3], with no other words."]
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "\n".join(lines)}]


class PermutationStats:
    """What the LLM's answers needed (thread-safe counters)."""

    def __init__(self):
        self._lock = threading.Lock()
        self.counts: Counter = Counter()

    def add(self, **values: int) -> None:
        with self._lock:
            self.counts.update({k: v for k, v in values.items() if v})

    def as_dict(self) -> dict[str, int]:
        keys = ("windows", "windows_failed", "answers_repaired", "missing_ids", "repeated_ids", "out_of_range_ids",
                "answers_with_prose", "empty_answers")
        with self._lock:
            return {k: int(self.counts.get(k, 0)) for k in keys}


def parse_permutation(answer: str, n: int, stats: PermutationStats | None = None) -> list[int]:
    """0-based order of `n` window items from an answer like '[2] > [1]', repaired as RankGPT does."""
    numbers = [int(x) for x in re.findall(r"\d+", answer)]
    prose = bool(re.sub(r"[\d\[\]>\s,.]", "", answer))
    order: list[int] = []
    repeated = out_of_range = 0
    for number in numbers:
        index = number - 1
        if not 0 <= index < n:
            out_of_range += 1
        elif index in order:
            repeated += 1
        else:
            order.append(index)
    missing = [i for i in range(n) if i not in order]
    order += missing
    if stats is not None:
        repaired = bool(missing or repeated or out_of_range or prose)
        stats.add(answers_repaired=int(repaired), missing_ids=len(missing), repeated_ids=repeated,
                  out_of_range_ids=out_of_range, answers_with_prose=int(prose),
                  empty_answers=int(not answer.strip()))
    return order


def rerank_one(client: LLMClient, query: str, passages: list[str], *, window: int = 20, step: int = 10,
               stats: PermutationStats | None = None, max_chars: int = 1000) -> list[int]:
    """Indices of `passages` (first-stage order) in the LLM's order, by RankGPT's sliding window."""
    order = list(range(len(passages)))
    if len(order) <= 1:
        return order
    end = len(order)
    start = max(0, end - window)
    while True:
        ids = order[start:end]
        try:
            reply = client.chat(build_messages(query, [passages[i] for i in ids], max_chars))
        except CallFailed:
            if stats is not None:
                stats.add(windows=1, windows_failed=1)
        else:
            if stats is not None:
                stats.add(windows=1)
            order[start:end] = [ids[j] for j in parse_permutation(reply.text, len(ids), stats)]
        if start == 0:
            return order
        end -= step
        start = max(0, end - window)


class LLMRerankerModel:
    """An mteb cross-encoder whose `predict` ranks each query's candidates with the LLM, listwise."""

    def __init__(self, client: LLMClient, *, window: int = 20, step: int = 10, revision: str,
                 progress: bool = True):
        from mteb.models import ModelMeta

        if window < 2 or not 1 <= step < window:
            raise InputError.at("--llm-window/--llm-step", f"need window >= 2 and 1 <= step < window, "
                                f"got {window}/{step}")
        self.client, self.window, self.step, self.progress = client, window, step, progress
        self.stats = PermutationStats()
        self.queries = 0
        self.mteb_model_meta = ModelMeta.create_empty(overwrites={
            "name": mteb_name(client.settings.model), "revision": revision, "model_type": ["cross-encoder"],
            "framework": ["API"], "open_weights": False})

    def predict(self, inputs1, inputs2, *, task_metadata=None, hf_split=None, hf_subset=None, prompt_type=None,
                **kwargs):
        import numpy as np
        from tqdm.auto import tqdm

        queries = [text for batch in inputs1 for text in batch["text"]]
        docs = [text for batch in inputs2 for text in batch["text"]]
        groups: list[tuple[int, int]] = []  # mteb lists each query's candidates together
        for i, query in enumerate(queries):
            if groups and queries[groups[-1][0]] == query and groups[-1][1] == i:
                groups[-1] = (groups[-1][0], i + 1)
            else:
                groups.append((i, i + 1))
        scores = np.zeros(len(queries), dtype=np.float32)

        def one(group: tuple[int, int]) -> None:
            start, end = group
            order = rerank_one(self.client, queries[start], docs[start:end], window=self.window, step=self.step,
                               stats=self.stats)
            for rank, j in enumerate(order):
                scores[start + j] = float(len(order) - rank)

        bar = tqdm(total=len(groups), desc="LLM reranking", unit=" queries", disable=not self.progress)
        with cf.ThreadPoolExecutor(max_workers=self.client.settings.concurrency, thread_name_prefix="rankgpt") as pool:
            futures = [pool.submit(one, g) for g in groups]
            try:
                for future in cf.as_completed(futures):
                    future.result()
                    bar.update(1)
            finally:
                for future in futures:
                    future.cancel()
                bar.close()
        self.queries += len(groups)
        return scores


def revision_for(settings: LLMSettings, window: int, step: int) -> str:
    blob = "|".join([public_url(settings.base_url), settings.model, PROMPT_VERSION, str(window), str(step),
                     str(settings.temperature)])
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def evaluate_llm(llm_base_url: str, llm_model: str, *, datasets: list[Path] | None = None,
                 tasks: list[str] | None = None, splits: list[str] | None = None, results: Path | None = None,
                 overwrite: bool = False, window: int = 20, step: int = 10, concurrency: int = 8,
                 timeout_s: float = 60.0, max_retries: int = 5, cache: Path | None = None,
                 mteb_data: Path | None = None, t2_crosslingual: Path | None = None, show_progress: bool = True):
    """Rerank every task's candidates with the LLM and save results like a model's (an EvalReport)."""
    from wrapper import evaluate as ev
    from wrapper.evaluate import results as _results
    from wrapper.evaluate.models import ModelRef

    dataset_dirs = [Path(d) for d in datasets or []]
    if not tasks and not dataset_dirs:
        raise InputError.at("--llm-reranker", "nothing to evaluate",
                            hint="pass --dataset data/<name> (a prepared dataset) and/or --tasks ...")
    specs = ev.resolve_task_specs(tasks, dataset_dirs, splits=splits, mteb_data=mteb_data,
                                  t2_crosslingual=t2_crosslingual)
    llm = LLMSettings(llm_base_url, llm_model, concurrency=concurrency, timeout_s=timeout_s, max_retries=max_retries)
    llm.validate()
    revision = revision_for(llm, window, step)
    results_dir = _settings.results_dir(results)
    report = ev.EvalReport(results_dir=results_dir)
    ref = ModelRef(name=display_name(llm_model), revision=revision, kind=KIND, path=Path("."), role="external",
                   source=llm_model)
    folder = _results.model_folder(results_dir, mteb_name(llm_model), revision)
    header = {"model_name": ref.name, "revision": revision, "kind": KIND, "role": "external", "run_id": None,
              "base_model": None, "base_model_name": None, "base_model_revision": None,
              "llm": {"base_url": public_url(llm_base_url), "model": llm_model, "method": PROMPT_VERSION,
                      "window": window, "step": step}}
    cache_store = CompletionCache(Path(cache) if cache else default_cache_path())
    client = LLMClient(llm, cache_store)
    model = LLMRerankerModel(client, window=window, step=step, revision=revision, progress=show_progress)
    try:
        for spec in specs:
            path = folder / f"{spec.name}.json"
            stored = None if overwrite else _results.load_task_result(path)
            if stored is not None and spec.split and _results.is_done(stored, splits=[spec.split], subsets=None,
                                                                       dataset_revision=spec.revision):
                meta = _results.read_metadata(folder).get("tasks", {}).get(spec.name, {})
                main_name = meta.get("main_score_name") or "map_at_1000"
                report.rows.append(ev._row(ref, spec, spec.split, _results.split_scores(stored, spec.split),
                                           main_name, skipped=True, wall=float(meta.get("wall_time_s") or 0),
                                           result_file=path))
                continue
            task = spec.build()
            task.load_data()
            ev.check_top_ranked(task)
            before = client.usage.as_dict()
            stats_before = model.stats.as_dict()
            result, wall = ev._run_mteb(model, task, batch_size=32, show_progress=show_progress)
            saved = _results.save_task_result(results_dir, model.mteb_model_meta,
                                              _results.merge_with_stored(path, result))
            spent = _diff(client.usage.as_dict(), before)
            permutations = _diff(model.stats.as_dict(), stats_before)
            main_name = task.metadata.main_score
            for split in task.eval_splits:
                scores = _results.split_scores(result, split, list(task.hf_subsets))
                report.rows.append(ev._row(ref, spec, split, scores, main_name, skipped=False, wall=wall,
                                           result_file=saved))
                entry = ev._task_entry(spec, split, scores, main_name, ref, None, 1, wall)
                entry.update({"precision": None, "batch_size": None, "llm_usage": spent,
                              "permutations": permutations})
                _results.update_metadata(folder, header, spec.name, entry)
    finally:
        client.close()
        cache_store.close()
    report.llm_usage = client.usage.as_dict()  # type: ignore[attr-defined]
    report.permutations = model.stats.as_dict()  # type: ignore[attr-defined]
    return report


def _diff(after: dict[str, Any], before: dict[str, Any]) -> dict[str, Any]:
    return {k: (v - before.get(k, 0)) if isinstance(v, int) else v for k, v in after.items()}
