"""`autorerank generate DOCS... --out FILE`: a thin shell over `wrapper.generate`."""

from __future__ import annotations

from pathlib import Path

import click

EXAMPLES = """
\b
Examples:
  autorerank generate docs/ --out generated.jsonl --llm-base-url http://127.0.0.1:11434/v1 --llm-model qwen2.5:7b
  OPENAI_API_KEY=... autorerank generate manual.pdf faq.md --out gen.jsonl \\
      --llm-base-url https://api.openai.com/v1 --llm-model gpt-4o-mini --questions-per-chunk 2
  autorerank generate docs/ --out gen.jsonl --llm-base-url ... --llm-model ... --dry-run
\b
Then: autorerank prepare generated.jsonl --corpus generated.chunks.jsonl --out data/generated
"""


def _top_k(value: str) -> int | None:
    if value.strip().lower() in ("off", "none", "0", "no"):
        return None
    try:
        number = int(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a whole number (or 'off')", param_hint="--filter-top-k") from None
    if number < 1:
        raise click.BadParameter("must be at least 1 (or 'off')", param_hint="--filter-top-k")
    return number


@click.command("generate", epilog=EXAMPLES)
@click.argument("docs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", "-o", required=True, type=click.Path(path_type=Path, dir_okay=False),
              help="Generated (query, positive) pairs, JSONL; `prepare` reads it.")
@click.option("--chunks", "chunks_out", type=click.Path(path_type=Path, dir_okay=False),
              help="Where the chunks go (a --corpus for prepare) [default: <out stem>.chunks.jsonl].")
@click.option("--llm-base-url", envvar="AUTORERANK_LLM_BASE_URL", show_envvar=True, required=True,
              help="OpenAI-compatible endpoint up to /chat/completions, e.g. http://127.0.0.1:11434/v1 (Ollama).")
@click.option("--llm-model", envvar="AUTORERANK_LLM_MODEL", show_envvar=True, required=True,
              help="Model name the endpoint serves. The API key is read only from $AUTORERANK_LLM_API_KEY "
                   "or $OPENAI_API_KEY.")
@click.option("--questions-per-chunk", "-n", type=click.IntRange(1, 20), default=3, show_default=True)
@click.option("--chunk-size", type=int, default=500, show_default=True, help="Chunk size in tokens.")
@click.option("--chunk-overlap", type=int, default=50, show_default=True, help="Overlap between chunks in tokens.")
@click.option("--concurrency", type=click.IntRange(1, 256), default=8, show_default=True,
              help="Calls in flight at once.")
@click.option("--timeout", "timeout_s", type=click.FloatRange(min=0.1), default=60.0, show_default=True,
              help="Seconds to wait for one answer.")
@click.option("--retries", "max_retries", type=click.IntRange(min=0), default=5, show_default=True,
              help="Retries per call on 429/5xx/timeouts (exponential backoff, Retry-After honoured).")
@click.option("--prompt-template", type=click.Path(path_type=Path, dir_okay=False, exists=True),
              help="Text file replacing the built-in prompts: {context} (required), {n}, {language}.")
@click.option("--max-question-chars", type=click.IntRange(min=10), default=300, show_default=True,
              help="Drop longer questions.")
@click.option("--filter-top-k", default="5", show_default=True,
              help="Keep a question only if the miner ranks its chunk in the top K of all chunks; 'off' disables.")
@click.option("--miner", default="bundled", show_default=True,
              help="sentence-transformers model for the consistency filter.")
@click.option("--cache", type=click.Path(path_type=Path, dir_okay=False),
              help="Answer cache (SQLite) [default: $AUTORERANK_LLM_CACHE or .autorerank/llm-cache.sqlite].")
@click.option("--text-col", help="Text column of JSONL/CSV inputs (default: text, content, body, ...).")
@click.option("--encoding", default="utf-8", show_default=True, help="Encoding of text inputs.")
@click.option("--skip-unreadable", is_flag=True, help="Skip (and count) files that cannot be read instead of stopping.")
@click.option("--temperature", type=float, default=0.0, show_default=True)
@click.option("--dry-run", is_flag=True, help="Read and chunk, then say how many calls a run would make; send nothing.")
def generate(docs, out, filter_top_k, **flags) -> None:
    """Write training questions for DOCS (files or folders) with an LLM.

    Reads .txt .md .html .pdf .docx and JSONL/CSV with a text column, chunks them,
    asks the LLM for questions per chunk in the chunk's language, filters them and
    writes pairs that `autorerank prepare` reads, plus the chunks as a corpus.
    """
    from wrapper.generate import GenerateOptions
    from wrapper.generate import generate as run_generate

    options = GenerateOptions(filter_top_k=_top_k(filter_top_k), **flags)
    report = run_generate(list(docs), out, options)
    click.echo(report.summary())
