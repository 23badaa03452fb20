"""`autorerank generate`: documents -> training questions written by an LLM.

```python
from wrapper.generate import GenerateOptions, generate
report = generate([Path("docs/")], Path("generated.jsonl"),
                  GenerateOptions(llm_base_url="http://127.0.0.1:11434/v1", llm_model="qwen2.5:7b"))
print(report.summary())
```

Stages: read documents (`documents`) -> chunk them (`chunking`, llama-index SentenceSplitter)
-> one chat call per chunk asking for N questions in the chunk's language (`questions`,
through `wrapper.llm`: cache, retries, bounded concurrency) -> quality filter -> consistency
filter (`consistency`) -> write (Contract 0 in docs/ARCHITECTURE.md):

- OUT (JSONL): `{"query", "positive", "source", "doc_id", "chunk_id", "lang"}` per question,
  read by `autorerank prepare` as the `positives` format;
- the chunks (JSONL `{"id", "text", "source", "doc_id", "lang"}`), a `--corpus` for mining;
- `<OUT stem>.manifest.json`: every document, chunk, call and question accounted for.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from wrapper.dataset import sha256_file
from wrapper.errors import InputError, RunFailed
from wrapper.jsonio import atomic_path, write_json

__all__ = ["GenerateOptions", "GenerateReport", "generate", "manifest_path"]


class GenerateOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    llm_base_url: str
    llm_model: str
    questions_per_chunk: int = Field(3, ge=1, le=20)
    chunk_size: int = 500
    chunk_overlap: int = 50
    concurrency: int = Field(8, ge=1, le=256)
    timeout_s: float = Field(60.0, gt=0)
    max_retries: int = Field(5, ge=0)
    backoff_s: float = Field(1.0, ge=0)
    temperature: float = 0.0
    prompt_template: Path | None = None
    max_question_chars: int = Field(300, ge=10)
    filter_top_k: int | None = Field(5, ge=1)  # None: the consistency filter is off
    miner: str = "bundled"
    cache: Path | None = None
    chunks_out: Path | None = None
    text_col: str | None = None
    encoding: str = "utf-8"
    skip_unreadable: bool = False
    dry_run: bool = False


@dataclass
class GenerateReport:
    out: Path
    chunks_out: Path
    manifest: dict[str, Any]
    dry_run: bool = False
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> str:
        m = self.manifest
        calls, chunks, qs = m["calls"], m["chunks"], m["questions"]
        lines = [f"documents: {m['documents']['read']} read from {len(m['sources'])} file(s)"
                 + _reasons(m["documents"]["skipped_by_reason"], "skipped"),
                 f"chunks:    {chunks['total']} ({_langs(chunks['by_language'])})"
                 + _reasons(chunks["dropped_by_reason"], "dropped")]
        if self.dry_run:
            lines.append(f"dry run:   {calls['planned']} calls planned, {calls['to_send']} to send "
                         f"({calls['planned'] - calls['to_send']} already cached), about "
                         f"{calls['estimated_prompt_tokens']:,} prompt tokens; nothing sent, nothing written")
            return "\n".join(lines)
        usage = calls["usage"]
        lines += [
            f"calls:     {calls['planned']} planned: {calls['from_cache']} from cache, {usage['calls']} answered, "
            f"{calls['failed']} failed; {usage['requests']} requests, {usage['retries']} retries",
            f"tokens:    {usage['prompt_tokens']:,} prompt + {usage['completion_tokens']:,} completion "
            f"(this run's requests; cached answers cost nothing)",
            f"questions: {qs['raw']} written by the LLM, {qs['kept']} kept" + _reasons(qs["dropped_by_reason"], "dropped"),
        ]
        cf = qs["consistency_filter"]
        if cf.get("enabled"):
            lines.append(f"filter:    source chunk in the miner's top {cf['top_k']}: {cf['kept']} of {cf['checked']} "
                         f"kept ({cf['source_rank_1']} ranked it first)")
        else:
            lines.append("filter:    consistency filter off")
        lines += [f"wrote:     {self.out} ({qs['kept']} pairs), {self.chunks_out} ({chunks['total']} chunks), "
                  f"{manifest_path(self.out)}",
                  f"next:      autorerank prepare {self.out} --corpus {self.chunks_out} --out data/{self.out.stem}"]
        return "\n".join(lines)


def _reasons(counter: dict, verb: str) -> str:
    counts = {k: v for k, v in counter.items() if v}
    return f"; {verb}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) if counts else ""


def _langs(by_lang: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(by_lang.items())) or "none"


def manifest_path(out: Path) -> Path:
    return out.with_name(out.stem + ".manifest.json")


def generate(sources: list[Path], out: Path, options: GenerateOptions, *, progress: bool = True) -> GenerateReport:
    """Read, chunk, ask, filter, write. Raises InputError / RunFailed (a 401 stops at once)."""
    from wrapper.generate.chunking import chunk_documents
    from wrapper.generate.documents import read_documents
    from wrapper.generate.questions import QuestionFilter, build_prompt, load_template
    from wrapper.llm import CallFailed, CompletionCache, LLMClient, LLMSettings, default_cache_path, public_url

    started = time.perf_counter()
    out = Path(out)
    if out.suffix.lower() != ".jsonl":
        raise InputError.at(out, "--out must be a .jsonl file", hint="e.g. --out generated.jsonl")
    chunks_out = Path(options.chunks_out) if options.chunks_out else out.with_name(out.stem + ".chunks.jsonl")
    if chunks_out.resolve() == out.resolve():
        raise InputError.at("--chunks", "must differ from --out")
    template = load_template(options.prompt_template)
    settings = LLMSettings(options.llm_base_url, options.llm_model, concurrency=options.concurrency,
                           timeout_s=options.timeout_s, max_retries=options.max_retries,
                           backoff_s=options.backoff_s, temperature=options.temperature)
    settings.validate()

    read = read_documents([Path(s) for s in sources], text_col=options.text_col, encoding=options.encoding,
                          skip_unreadable=options.skip_unreadable)
    chunks, chunk_dropped = chunk_documents(read.documents, options.chunk_size, options.chunk_overlap)
    if not chunks:
        raise InputError.at(", ".join(map(str, sources)), "the documents gave no chunk of text to ask about",
                            hint=f"chunks shorter than 20 characters are dropped; dropped: {dict(chunk_dropped)}")
    prompts = [build_prompt(c.text, c.lang, options.questions_per_chunk, template) for c in chunks]
    manifest: dict[str, Any] = {
        "format_version": 1,
        "kind": "generated-positives",
        "sources": read.files,
        "llm": {"base_url": public_url(options.llm_base_url), "model": options.llm_model},
        "options": options.model_dump(mode="json", exclude={"llm_base_url", "dry_run"}),
        "documents": {"read": len(read.documents), "skipped_by_reason": dict(read.skipped)},
        "chunks": {"total": len(chunks), "by_language": dict(Counter(c.lang for c in chunks)),
                   "dropped_by_reason": dict(chunk_dropped)},
    }
    cache_path = Path(options.cache) if options.cache else default_cache_path()
    cache = CompletionCache(cache_path)
    client = LLMClient(settings, cache)
    try:
        if options.dry_run:
            to_send = sum(not client.is_cached(p) for p in prompts)
            manifest["calls"] = {"planned": len(prompts), "to_send": to_send,
                                 "estimated_prompt_tokens": sum(len(p[0]["content"]) for p in prompts) // 4}
            manifest["questions"] = {}
            return GenerateReport(out, chunks_out, manifest, dry_run=True)
        replies = client.map(prompts, desc="asking the LLM", progress=progress)
    finally:
        client.close()
        cache.close()

    qfilter = QuestionFilter(max_chars=options.max_question_chars)
    candidates: list[tuple[str, int]] = []
    failed = 0
    for i, (chunk, reply) in enumerate(zip(chunks, replies)):
        if isinstance(reply, CallFailed):
            failed += 1
            continue
        candidates += [(q, i) for q in qfilter.keep(reply.text, chunk.lang)]
    if failed == len(chunks):
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(client.usage.retry_reasons.items())) or "see above"
        raise RunFailed(f"every one of the {failed} LLM calls failed after its retries ({reasons}); nothing written."
                        "\n  hint: check that the endpoint is up (answers already received are cached; "
                        "run the same command again to continue)")
    consistency: dict[str, Any] = {"enabled": False}
    if options.filter_top_k is not None and candidates:
        from wrapper.generate.consistency import consistency_filter

        result = consistency_filter([q for q, _ in candidates], [i for _, i in candidates], [c.text for c in chunks],
                                    miner=options.miner, top_k=options.filter_top_k, progress=progress)
        consistency = result.counts(options.filter_top_k)
        candidates = [pair for pair, keep in zip(candidates, result.keep) if keep]

    with_questions = {i for _, i in candidates}
    _write_jsonl(out, ({"query": q, "positive": chunks[i].text, "source": chunks[i].source,
                        "doc_id": chunks[i].doc_id, "chunk_id": chunks[i].id, "lang": chunks[i].lang}
                       for q, i in candidates))
    _write_jsonl(chunks_out, ({"id": c.id, "text": c.text, "source": c.source, "doc_id": c.doc_id, "lang": c.lang}
                              for c in chunks))
    usage = client.usage.as_dict()
    manifest["chunks"].update({
        "with_questions": len(with_questions),
        "without_questions": {"call_failed": failed,
                              "no_question_kept": len(chunks) - failed - len(with_questions)},
    })
    manifest["calls"] = {"planned": len(prompts), "from_cache": usage["cache_hits"], "answered": usage["calls"],
                         "failed": failed, "usage": usage}
    manifest["questions"] = {"raw": qfilter.raw, "kept": len(candidates), "per_chunk": options.questions_per_chunk,
                             "dropped_by_reason": dict(qfilter.dropped) | (
                                 {"consistency_filter": consistency["dropped"]} if consistency.get("enabled") else {}),
                             "consistency_filter": consistency}
    manifest["files"] = {"pairs": out.name, "chunks": str(chunks_out), "pairs_sha256": sha256_file(out),
                         "chunks_sha256": sha256_file(chunks_out)}
    manifest["cache"] = str(cache_path)
    manifest["wall_time_s"] = round(time.perf_counter() - started, 3)
    write_json(manifest_path(out), manifest)
    return GenerateReport(out, chunks_out, manifest)


def _write_jsonl(path: Path, records) -> None:
    import json

    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        for record in records:
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
