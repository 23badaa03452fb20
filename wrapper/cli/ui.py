"""`autorerank ui`: AutoTrain's web UI on 127.0.0.1:8080, offline-capable."""

from __future__ import annotations

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
def ui(host, port, workdir, offline, autotrain_env, ready_timeout):
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
    from wrapper.errors import RunFailed
    from wrapper.train import ui as ui_lib

    server = None
    try:
        with procs.interrupt_on():  # `kill <pid>` (SIGTERM) stops as cleanly as Ctrl-C
            server = ui_lib.start(host=host, port=port, workdir=workdir, offline=offline,
                                  autotrain_env=autotrain_env, ready_timeout=ready_timeout)
            mode = (f"offline ({server.why}): no Hub, local user, push to Hub off" if server.offline
                    else f"online ({server.why}): AutoTrain as is")
            click.echo(f"AutoTrain UI ({mode}): {server.url}")
            click.echo(f"  projects: {server.workdir}")
            click.echo(f"  log:      {server.log_path}")
            if host not in ("127.0.0.1", "localhost", "::1"):
                click.echo(f"  warning: bound to {host}; anyone who can reach this machine can use it", err=True)
            click.echo("  Ctrl-C to stop", err=True)
            code = server.wait()
        raise RunFailed(
            f"AutoTrain's UI stopped on its own (exit code {code})\n  log: {server.log_path}\n"
            + "\n".join("  | " + line for line in ui_lib.log_tail(server.log_path).splitlines())
        )
    except KeyboardInterrupt:
        if server is None:
            click.echo("stopped before the UI answered", err=True)
            return
        click.echo("stopping AutoTrain UI ...", err=True)
        with procs.signals_ignored():  # a second Ctrl-C must not cut the cleanup short
            server.stop()
        click.echo("stopped", err=True)
        # a server ended by Ctrl-C ended the normal way: exit code 0
