"""`autorerank ui`: AutoTrain's web UI on 127.0.0.1:8080, offline-capable."""

from __future__ import annotations

import signal
from pathlib import Path

import click

from wrapper import procs


@click.command("ui")
@click.option("--host", default=procs.LOCALHOST, show_default=True,
              help="Address to bind. Anything but 127.0.0.1 exposes the UI to your network.")
@click.option("--port", default=procs.DEFAULT_UI_PORT, show_default=True, type=int, help="Port to serve on.")
@click.option("--workdir", type=click.Path(file_okay=False), default=None,
              help="Where AutoTrain puts the projects it trains (default: <runs>/ui, i.e. runs/ui).")
@click.option("--offline/--online", "offline", default=None,
              help="Force the mode. Default: online if huggingface.co answers and HF_TOKEN is set, "
                   "else offline (no Hub model lists, a local user, push to Hub off).")
@click.option("--autotrain-env", type=click.Path(file_okay=False), default=None,
              help="AutoTrain's virtual environment (default: $AUTORERANK_AUTOTRAIN_ENV or .venv-autotrain).")
@click.option("--timeout", "ready_timeout", default=180.0, show_default=True, type=float,
              help="Seconds to wait for the UI to answer.")
@click.option("--dataset", type=click.Path(file_okay=False), default=None,
              help="A prepared dataset (data/<name>): write its pair CSVs for the Text Regression task (the "
                   "reranker route) into the working folder and open the page on that task.")
@click.option("--base-model", default="bundled", show_default=True,
              help="With --dataset: the reranker the pairs are made for (its separator, its logits as targets).")
@click.option("--trust-remote-code", is_flag=True, help="Allow a base model whose code lives in its repository.")
def ui(host, port, workdir, offline, autotrain_env, ready_timeout, dataset, base_model, trust_remote_code):
    """Start AutoTrain's web UI and stop it cleanly on Ctrl-C.

    \b
    Examples:
      autorerank ui                      # http://127.0.0.1:8080/
      autorerank ui --port 8090 --offline
      autorerank ui --workdir runs/ui-scifact

    Offline, choose the task "ST Triplet", pick the bundled all-MiniLM-L6-v2
    (listed) or tick "Custom" and give a local model folder, keep Hardware
    "Local", then either upload a CSV with anchor,positive,negative columns, or
    use a prepared dataset in place: Dataset Source "Hugging Face Hub", the
    ABSOLUTE path of data/<name>/autotrain, train split "train", valid split
    "validation". Models land in <workdir>/<project name>/. Ctrl-C stops the UI
    and any training it started (exit code 0).
    """
    from wrapper import autotrain_ui
    from wrapper.errors import RunFailed

    pairs = None
    if dataset:
        folder = Path(workdir) if workdir else autotrain_ui.default_workdir()
        pairs = autotrain_ui.reranker_pairs(dataset, base_model, folder, trust_remote_code=trust_remote_code)
    try:
        with procs.interrupt_on():  # `kill <pid>` (SIGTERM) stops as cleanly as Ctrl-C while it starts
            server = autotrain_ui.start(host=host, port=port, workdir=workdir, offline=offline,
                                        autotrain_env=autotrain_env, ready_timeout=ready_timeout,
                                        task="text-regression" if pairs else None,
                                        models=[pairs[1]["base_model"]] if pairs else [])
    except KeyboardInterrupt:
        click.echo("stopped before the UI answered", err=True)
        return
    mode = (f"offline ({server.why}): no Hub, local user, push to Hub off" if server.offline
            else f"online ({server.why}): AutoTrain as is")
    click.echo(f"AutoTrain UI ({mode}): {server.url}")
    click.echo(f"  projects: {server.workdir}")
    click.echo(f"  log:      {server.log_path}")
    if pairs:
        folder, summary = pairs
        click.echo(f"  reranker route: task Text Regression, base model {summary['base_model']} (listed), "
                   f"{summary['targets']} targets")
        click.echo(f"    upload {folder / 'train.csv'} as Training Data"
                   + (f" and {folder / 'validation.csv'} as Validation Data" if "validation" in summary["splits"]
                      else "") + "; columns text -> text, target -> target")
    if host not in ("127.0.0.1", "localhost", "::1"):
        click.echo(f"  warning: bound to {host}; anyone who can reach this machine can use it", err=True)
    click.echo("  Ctrl-C to stop", err=True)
    outcome = procs.supervise(server.child, signals=(signal.SIGTERM,))
    if outcome.interrupted:
        # a server ended by Ctrl-C ended the normal way: exit code 0
        click.echo("stopped", err=True)
        return
    raise RunFailed(
        f"AutoTrain's UI stopped on its own (exit code {outcome.exit_code})\n  log: {server.log_path}\n"
        + "\n".join("  | " + line for line in autotrain_ui.log_tail(server.log_path).splitlines())
    )
