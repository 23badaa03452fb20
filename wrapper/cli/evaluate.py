"""`autorerank eval MODEL`: a thin shell over `wrapper.evaluate.evaluate`."""

from __future__ import annotations

from pathlib import Path

import click

EXAMPLES = """
\b
Examples:
  autorerank eval 20261123-214500-sample-minilm          # a run: fine-tune + its base, on its dataset
  autorerank eval bundled --dataset data/sample          # any checkpoint on a prepared dataset
  autorerank eval runs/x/model --tasks local,cmteb-rerank --mteb-data ~/mteb-data
  autorerank eval BAAI/bge-reranker-base --tasks MIRACLReranking:zho
  autorerank eval bundled --tasks T2RerankingZh2En --t2-crosslingual ~/t2-jsonl
  autorerank eval --list-tasks
  autorerank eval --llm-reranker --llm-base-url http://127.0.0.1:11434/v1 --llm-model qwen2.5:7b --dataset data/sample
"""


def _list_tasks() -> str:
    from wrapper.evaluate.tasks import BUILTIN_TASKS, LOCAL_ALIAS, T2_CROSSLINGUAL, TASK_GROUPS

    lines = ["built-in MTEB / C-MTEB reranking tasks (Hub, or --mteb-data DIR/<repo name>):"]
    lines += [f"  {name:<20} {about}" for name, about in BUILTIN_TASKS.items()]
    lines.append("groups:")
    lines += [f"  {name:<20} {', '.join(members)}" for name, members in TASK_GROUPS.items()]
    lines.append("C-MTEB cross-lingual (from JSONL, --t2-crosslingual DIR):")
    lines += [f"  {name:<20} {stems[0]}.jsonl" for name, (stems, _) in T2_CROSSLINGUAL.items()]
    lines.append(f"  {LOCAL_ALIAS:<20} AutoRerank-<dataset>-<split> from the dataset's eval/*.jsonl (the default)")
    return "\n".join(lines)


@click.command("eval", epilog=EXAMPLES)
@click.argument("model", required=False)
@click.option("--dataset", "datasets", multiple=True, type=click.Path(path_type=Path),
              help="Prepared dataset folder (data/<name>) whose eval/*.jsonl become tasks; repeatable. "
                   "Default: the run's own dataset.")
@click.option("--tasks", "tasks", multiple=True, metavar="NAMES",
              help="Comma-separated tasks or groups: local, T2Reranking, MMarcoReranking, CMedQAv1-reranking, "
                   "CMedQAv2-reranking, MIRACLReranking:zho, cmteb-rerank, T2RerankingZh2En ... (see --list-tasks).")
@click.option("--split", "splits", multiple=True, help="Only these eval splits of the dataset (e.g. validation).")
@click.option("--results", type=click.Path(path_type=Path), default=None,
              help="Results folder (mteb layout). Default: $AUTORERANK_RESULTS or ./results.")
@click.option("--runs", type=click.Path(path_type=Path), default=None,
              help="Runs folder for run ids. Default: $AUTORERANK_RUNS or ./runs.")
@click.option("--overwrite", is_flag=True, help="Re-evaluate tasks that results/ already holds.")
@click.option("--no-base", is_flag=True, help="Do not evaluate the run's base model.")
@click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True)
@click.option("--precision", type=click.Choice(["auto", "fp32", "bf16"]), default="fp32", show_default=True,
              help="auto: bf16 weights where the CPU/GPU does bf16 natively (about 1.6-3x faster), else fp32; "
                   "results record the precision used.")
@click.option("--mteb-data", type=click.Path(path_type=Path, file_okay=False), default=None,
              envvar="AUTORERANK_MTEB_DATA", show_envvar=True,
              help="Folder with local copies of MTEB dataset repos (DIR/T2Reranking/README.md ...), for offline use.")
@click.option("--t2-crosslingual", type=click.Path(path_type=Path), default=None,
              help="Folder with T2RerankingZh2En.jsonl / T2RerankingEn2Zh.jsonl (query/positive/negative).")
@click.option("--list-tasks", is_flag=True, help="List the tasks and groups, then exit.")
@click.option("--llm-reranker", is_flag=True,
              help="Evaluate an LLM as a listwise reranker (RankGPT) instead of MODEL; needs --llm-base-url, --llm-model.")
@click.option("--llm-base-url", envvar="AUTORERANK_LLM_BASE_URL", show_envvar=True,
              help="OpenAI-compatible endpoint (e.g. http://127.0.0.1:11434/v1); key from $AUTORERANK_LLM_API_KEY.")
@click.option("--llm-model", envvar="AUTORERANK_LLM_MODEL", show_envvar=True, help="Model the endpoint serves.")
@click.option("--llm-window", type=int, default=20, show_default=True, help="RankGPT sliding window (passages).")
@click.option("--llm-step", type=int, default=10, show_default=True, help="RankGPT window step.")
@click.option("--llm-concurrency", type=click.IntRange(1, 256), default=8, show_default=True,
              help="Queries reranked at once.")
@click.option("--llm-cache", type=click.Path(path_type=Path, dir_okay=False),
              help="Answer cache [default: $AUTORERANK_LLM_CACHE or .autorerank/llm-cache.sqlite].")
def eval_command(model, datasets, tasks, splits, results, runs, overwrite, no_base, batch_size, precision, mteb_data,
                 t2_crosslingual, list_tasks, llm_reranker, llm_base_url, llm_model, llm_window, llm_step,
                 llm_concurrency, llm_cache):
    """Evaluate MODEL (a run id, a checkpoint folder, `bundled` or a Hub id) with MTEB.

    Bi-encoders and cross-encoders are detected. A run's base model is evaluated
    too, so every fine-tune has its "before". Results go to RESULTS in mteb's
    layout plus autorerank/metadata.json; finished (model, revision, task) are skipped.
    """
    if list_tasks:
        click.echo(_list_tasks())
        return
    if llm_reranker:
        _eval_llm(datasets, tasks, splits, results, overwrite, mteb_data, t2_crosslingual, llm_base_url, llm_model,
                  llm_window, llm_step, llm_concurrency, llm_cache)
        return
    if not model:
        raise click.UsageError("missing MODEL (a run id, a checkpoint folder, `bundled` or a Hub id)")
    import warnings

    from wrapper.evaluate import evaluate

    with warnings.catch_warnings():
        # mteb 2.26 warns about sentence-transformers 6 renames on every model: noise for our users
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        report = evaluate(
            model, datasets=list(datasets) or None, tasks=list(tasks) or None, splits=list(splits) or None,
            results=results, overwrite=overwrite, include_base=not no_base, batch_size=batch_size,
            mteb_data=mteb_data, runs=runs, t2_crosslingual=t2_crosslingual, precision=precision,
        )
    for warning in report.warnings:
        click.secho(f"warning: {warning}", fg="yellow", err=True)
    click.echo(report.table())
    done = sum(not r["skipped"] for r in report.rows)
    cached = len(report.rows) - done
    click.echo(f"\n{done} evaluated, {cached} already in {report.results_dir} (use --overwrite to redo)"
               if cached else f"\n{done} evaluated; results in {report.results_dir}")


def _eval_llm(datasets, tasks, splits, results, overwrite, mteb_data, t2_crosslingual, base_url, model, window, step,
              concurrency, cache) -> None:
    if not base_url or not model:
        raise click.UsageError("--llm-reranker needs --llm-base-url and --llm-model")
    from wrapper.evaluate.llm_reranker import evaluate_llm

    report = evaluate_llm(base_url, model, datasets=list(datasets) or None, tasks=list(tasks) or None,
                          splits=list(splits) or None, results=results, overwrite=overwrite, window=window, step=step,
                          concurrency=concurrency, cache=cache, mteb_data=mteb_data, t2_crosslingual=t2_crosslingual)
    click.echo(report.table())
    usage, perms = report.llm_usage, report.permutations
    click.echo(f"\nLLM: {usage['calls']} calls answered, {usage['cache_hits']} from cache, {usage['retries']} retries; "
               f"{usage['prompt_tokens']:,} prompt + {usage['completion_tokens']:,} completion tokens; "
               f"{perms['answers_repaired']} of {perms['windows']} permutations repaired; results in {report.results_dir}")
