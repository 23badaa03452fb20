"""`autorerank studio`: the whole loop in the browser (Streamlit on 127.0.0.1)."""

from __future__ import annotations

import click

from wrapper import procs


@click.command("studio")
@click.option("--port", type=int, default=procs.DEFAULT_LEADERBOARD_PORT, show_default=True, help="Port to serve on.")
@click.option("--host", default=procs.LOCALHOST, show_default=True,
              help="Loopback address to bind (127.0.0.1, ::1 or localhost); the studio is never exposed to a network.")
def studio(port: int, host: str) -> None:
    """Data -> train -> evaluate -> compare -> try it, in the browser, without the terminal.

    Pages: Data (upload or name a file, preview, prepare), Train (task, preset, the
    config's YAML, live curves, the gate's verdict), Evaluate, the leaderboard pages,
    Playground (base vs fine-tunes on your own query). Files go under the folder
    it is started in: data/, autotrain_configs/, runs/, results/.

    \b
    Examples:
      autorerank studio                 # http://127.0.0.1:8501/
      autorerank studio --port 8600
    """
    from wrapper.studio.serve import serve

    serve(port=port, host=host, announce=lambda line: click.echo(line, err=True))
