"""The `autorerank` command: a thin shell over the library.

Each pipeline stage has its own module here that declares its click command and
calls into `wrapper.<stage>`; heavy libraries are imported inside the commands so
`autorerank --help` stays instant. `main()` is the one error boundary: known
errors become one message and an exit code, a traceback only with
AUTORERANK_DEBUG=1.
"""

from __future__ import annotations

import os
import sys

import click

from wrapper import __version__
from wrapper.errors import AutoRerankError

# Commands are registered by name -> "module:attribute" and imported on use.
COMMANDS = {
    "generate": "wrapper.cli.generate:generate",
    "prepare": "wrapper.cli.prepare:prepare",
    "config": "wrapper.cli.config:config",
    "train": "wrapper.cli.train:train",
    "auto": "wrapper.cli.auto:auto",
    "merge": "wrapper.cli.merge:merge",
    "ui": "wrapper.cli.ui:ui",
    "eval": "wrapper.cli.evaluate:eval_command",
    "leaderboard": "wrapper.cli.leaderboard:leaderboard",
    "studio": "wrapper.cli.studio:studio",
    "demo": "wrapper.cli.demo:demo",
    "gate": "wrapper.cli.gate:gate",
    "serve": "wrapper.cli.serve:serve",
    "export": "wrapper.cli.export:export",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx):
        return list(COMMANDS)

    def get_command(self, ctx, name):
        target = COMMANDS.get(name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        import importlib

        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:  # a stage not built yet
            if exc.name == module_name:
                return None
            raise
        return getattr(module, attr)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="autorerank")
def cli() -> None:
    """Fine-tune a reranker on your own data.

    \b
    generate     documents -> training questions written by an LLM (then prepare)
    prepare      raw files -> data/<name>/ (validated triplets, mined negatives)
    config       data/<name>/ -> autotrain_configs/<name>.yml
    train        a config -> runs/<run-id>/ (AutoTrain, cross-encoder or FlagEmbedding backend)
    auto         the best safe model for a time budget: trials, gates, the pick
    merge        a run + its base -> a mixed model in a new run (LM-Cocktail)
    ui           AutoTrain's web UI on 127.0.0.1:8080, offline-capable
    gate         judge a run against its base, in domain and in general
    eval         a run or checkpoint -> results/ (MTEB layout)
    leaderboard  the Streamlit leaderboard over results/ and runs/
    studio       the whole loop in the browser: data, train, evaluate, compare, try it
    demo         the whole loop on the bundled model and sample data
    serve        a /rerank HTTP API over a model (Cohere/Jina/TEI shape)
    export       a run -> a self-contained model folder with a model card (or ONNX)
    """


def main(argv: list[str] | None = None) -> None:
    debug = os.environ.get("AUTORERANK_DEBUG") == "1"
    try:
        cli.main(args=argv, prog_name="autorerank", standalone_mode=False)
    except AutoRerankError as exc:
        if debug:
            raise
        click.secho(f"error: {exc}", fg="red", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    sys.exit(0)
