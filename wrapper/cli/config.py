"""`autorerank config`: a prepared dataset -> autotrain_configs/NAME.yml."""

from __future__ import annotations

from pathlib import Path

import click

TASK_CHOICES = ["text_regression", "cross-encoder:bce", "cross-encoder:mnrl", "cross-encoder:listwise",
                "flagembedding:reranker", "st:triplet", "st:pair", "st:qa"]


@click.command()
@click.argument("dataset_dir", type=click.Path(path_type=Path, file_okay=False))
@click.option("--base-model", default=None,
              help="Hub id, local folder, or 'bundled' (all-MiniLM-L6-v2, offline). "
                   "Default: BAAI/bge-reranker-base when the Hub answers, else bundled.")
@click.option("--name", default=None, help="Config and AutoTrain project name (letters, digits, hyphens; <= 50). "
                                           "Default: <dataset>-<model preset>.")
@click.option("--task", default=None, metavar="[" + "|".join(TASK_CHOICES) + "]",
              help="text_regression: AutoTrain trains a reranker's own head on pair texts; cross-encoder:* runs "
                   "our reranker backend; flagembedding:reranker runs FlagEmbedding's reranker fine-tune; st:* "
                   "runs AutoTrain's sentence-transformers tasks (a bi-encoder). Default: from the base model - "
                   "a reranker gets text_regression where AutoTrain reads its pairs exactly, else "
                   "cross-encoder:mnrl; an embedding model gets st:triplet (st:pair without negatives).")
@click.option("--drop-reranker-head", "drop_head", is_flag=True,
              help="Allow st:* on a reranker base: AutoTrain keeps its encoder and drops its trained head.")
@click.option("--trust-remote-code", is_flag=True,
              help="Allow a base whose model code lives in its repository (config.json auto_map); that code "
                   "runs on this machine.")
@click.option("--targets", type=click.Choice(["anchored", "binary"]), default=None,
              help="text_regression targets: anchored (the base's own logit moved up for a positive, down for a "
                   "negative; default) or binary (1/0).")
@click.option("--margin", type=float, default=None,
              help="text_regression, anchored: the move, in standard deviations of the base's logits (default 2).")
@click.option("--negatives", type=int, default=None, help="text_regression: negatives per training query (default 7).")
@click.option("--probe/--no-probe", default=True, show_default=True,
              help="Time a few training steps on this machine to estimate the time per epoch.")
@click.option("--epochs", type=int, default=None, help="Training epochs (preset default otherwise).")
@click.option("--lr", type=float, default=None, help="Learning rate (preset default otherwise).")
@click.option("--batch-size", type=int, default=None, help="Per-device batch size.")
@click.option("--max-steps", type=int, default=None,
              help="Stop after N optimizer steps (cross-encoder and flagembedding tasks only).")
@click.option("--max-seq-length", type=int, default=None, help="Max tokens per input.")
@click.option("--param", "extra", multiple=True, metavar="KEY=VALUE",
              help="Any other params key (repeatable), e.g. --param warmup_ratio=0.05.")
@click.option("--hub-username", default=None,
              help="Add a hub: section (push_to_hub; the token is read from $HF_TOKEN at train time).")
@click.option("--out-dir", type=click.Path(path_type=Path, file_okay=False), default=Path("autotrain_configs"),
              show_default=True)
@click.option("--overwrite", is_flag=True, help="Replace an existing config of that name.")
def config(dataset_dir, base_model, name, task, drop_head, trust_remote_code, targets, margin, negatives, probe,
           epochs, lr, batch_size, max_steps, max_seq_length, extra, hub_username, out_dir, overwrite) -> None:
    """Write an AutoTrain-schema config for DATASET_DIR (a folder from `autorerank prepare`).

    \b
    Examples:
      autorerank config data/sample --base-model bundled --name sample-minilm
      autorerank config data/sample --base-model bundled --name sample-ce --task cross-encoder:bce
      autorerank config data/sample --base-model BAAI/bge-reranker-base --name sample-bge --epochs 2
      autorerank config data/sample --base-model bundled --task flagembedding:reranker \\
          --param train_group_size=4 --param passage_max_len=128
    """
    import yaml

    from wrapper.config import build_config, default_base_model, default_name, write_config
    from wrapper.errors import InputError
    from wrapper.sizing import estimate

    params = {}
    for item in extra:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InputError.at("--param", f"expected KEY=VALUE, got {item!r}")
        parsed = yaml.safe_load(value)
        if isinstance(parsed, str):  # YAML 1.1 reads 5e-5 (no dot) as a string
            try:
                parsed = float(parsed) if parsed.strip().lower() not in ("nan", "inf", "-inf", "infinity") else parsed
            except ValueError:
                pass
        params[key.strip()] = parsed
    named = {"epochs": epochs, "lr": lr, "batch_size": batch_size, "max_steps": max_steps}
    for key in list(params):
        if key in named:  # --param lr=... is the same as --lr ...; the flag wins
            value = params.pop(key)
            named[key] = value if named[key] is None else named[key]
    epochs, lr, batch_size, max_steps = (named[k] for k in ("epochs", "lr", "batch_size", "max_steps"))
    if max_seq_length is not None:
        params["max_seq_length"] = max_seq_length
    base_model = base_model or default_base_model()
    plan = build_config(dataset_dir, base_model=base_model, name=name or "unnamed", task=task, epochs=epochs, lr=lr,
                        batch_size=batch_size, max_steps=max_steps, hub_username=hub_username, drop_head=drop_head,
                        trust_remote_code=trust_remote_code, targets=targets, margin=margin, negatives=negatives,
                        **params)
    if name is None:
        plan.raw["project_name"] = default_name(dataset_dir, base_model, plan.raw["task"], reranker=plan.base.is_reranker)
    path = write_config(plan, out_dir=out_dir, overwrite=overwrite)
    click.echo(str(path))
    click.echo(f"task: {plan.raw['task']}" + (" (as asked)" if plan.route.reason == "asked for" else f": {plan.route.reason}"), err=True)
    for note in plan.notes:
        click.secho(f"warning: {note}", fg="yellow", err=True)
    for line in estimate(plan, probe=probe).lines():
        click.echo(f"  {line}", err=True)
    click.echo(f"next: autorerank train {path}", err=True)

