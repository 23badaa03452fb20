"""`autorerank config`: a prepared dataset -> autotrain_configs/NAME.yml."""

from __future__ import annotations

from pathlib import Path

import click

TASK_CHOICES = ["st:triplet", "st:pair", "st:qa", "cross-encoder:bce", "cross-encoder:mnrl", "cross-encoder:listwise",
                "flagembedding:reranker"]


@click.command()
@click.argument("dataset_dir", type=click.Path(path_type=Path, file_okay=False))
@click.option("--base-model", default=None,
              help="Hub id, local folder, or 'bundled' (all-MiniLM-L6-v2, offline). "
                   "Default: BAAI/bge-reranker-base when the Hub answers, else bundled.")
@click.option("--name", default=None, help="Config and AutoTrain project name (letters, digits, hyphens; <= 50). "
                                           "Default: <dataset>-<model preset>.")
@click.option("--task", default=None, metavar="[" + "|".join(TASK_CHOICES) + "]",
              help="st:* runs in AutoTrain (bi-encoder); cross-encoder:* runs our reranker backend; "
                   "flagembedding:reranker runs FlagEmbedding's encoder-only reranker fine-tune. "
                   "Default: st:triplet, or st:pair when the dataset has no negatives.")
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
def config(dataset_dir, base_model, name, task, epochs, lr, batch_size, max_steps, max_seq_length, extra,
           hub_username, out_dir, overwrite) -> None:
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

    from wrapper.config import default_base_model, preset_for, render_config
    from wrapper.errors import InputError

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
    if name is None:
        name = f"{dataset_dir.name}-{preset_for(base_model)[1]['slug']}"
        if task and task.startswith("cross-encoder:"):
            name += "-ce-" + task.split(":", 1)[1]
        elif task and task.startswith("flagembedding:"):
            name += "-flagembedding"
    path = render_config(
        dataset_dir, base_model=base_model, name=name, task=task, epochs=epochs, lr=lr, batch_size=batch_size,
        max_steps=max_steps, out_dir=out_dir, overwrite=overwrite, hub_username=hub_username, **params,
    )
    click.echo(str(path))
    click.echo(f"next: autorerank train {path}", err=True)
