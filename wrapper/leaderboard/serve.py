"""Run the Streamlit leaderboard as a supervised subprocess (argv list, 127.0.0.1 only)."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Callable

from wrapper import procs, settings
from wrapper.errors import InputError, Interrupted, RunFailed
from wrapper.leaderboard import ENTRY_SCRIPT

HOST = procs.LOCALHOST
DEFAULT_PORT = procs.DEFAULT_LEADERBOARD_PORT


def streamlit_argv(port: int, entry: Path = ENTRY_SCRIPT) -> list[str]:
    """`streamlit run` on 127.0.0.1, headless, without usage statistics."""
    return [
        sys.executable, "-m", "streamlit", "run", str(entry),
        "--server.address", HOST,
        "--server.port", str(port),
        "--server.headless", "true",
        "--browser.gatherUsageStats", "false",
        "--client.toolbarMode", "viewer",  # no "Deploy" button or developer menu: this is a local tool
        "--server.fileWatcherType", "none",
    ]


def leaderboard_env(results: Path, runs: Path) -> dict[str, str]:
    env = procs.child_env(extra={settings.ENV_RESULTS: str(results.resolve()), settings.ENV_RUNS: str(runs.resolve())})
    env.setdefault("STREAMLIT_BROWSER_GATHER_USAGE_STATS", "false")
    return env


def serve(
    port: int = DEFAULT_PORT,
    results: str | os.PathLike | None = None,
    runs: str | os.PathLike | None = None,
    announce: Callable[[str], None] | None = None,
) -> int:
    """Run the leaderboard until the user stops it. Returns streamlit's exit code.

    `announce` receives one line (URL and folders) once the inputs are checked.
    """
    results_dir = settings.results_dir(results)
    runs_dir = settings.runs_dir(runs)
    if results and not Path(results).is_dir():
        raise InputError.at(
            results, "results folder not found",
            hint="pass the folder `autorerank eval` wrote to (default ./results), or leave out --results",
        )
    if runs and not Path(runs).is_dir():
        raise InputError.at(runs, "runs folder not found", hint="pass the folder `autorerank train` wrote to (default ./runs)")
    if not ENTRY_SCRIPT.exists():
        raise RunFailed(f"{ENTRY_SCRIPT}: the leaderboard entry script is missing; reinstall autorerank from its source tree")
    procs.check_port(HOST, port)
    if announce:
        announce(f"leaderboard: http://{HOST}:{port}  (results: {results_dir}, runs: {runs_dir}; Ctrl-C stops it)")
    return supervise(streamlit_argv(port), leaderboard_env(results_dir, runs_dir))


def supervise(argv: list[str], env: dict[str, str], what: str = "leaderboard") -> int:
    """Run the streamlit server child; Ctrl-C or SIGTERM to us stops it and everything it started
    (no orphaned server or jobs). Shared by the leaderboard and the studio; `what` names it in messages."""
    outcome = procs.supervise(procs.Child(argv, env=env), signals=(signal.SIGTERM,))
    if outcome.interrupted:
        name = "SIGTERM" if outcome.signal_name == "SIGTERM" else "Ctrl-C"
        raise Interrupted(f"{what} stopped ({name})")
    code = outcome.exit_code
    if code not in (0, -signal.SIGINT, -signal.SIGTERM, 130):
        raise RunFailed(f"streamlit exited with code {code}; see the messages above")
    return code
