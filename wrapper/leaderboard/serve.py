"""Run the Streamlit leaderboard as a supervised subprocess (argv list, 127.0.0.1 only)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Callable

from wrapper import settings
from wrapper.errors import InputError, Interrupted, RunFailed
from wrapper.leaderboard import ENTRY_SCRIPT

HOST = "127.0.0.1"
DEFAULT_PORT = 8501


def streamlit_argv(port: int, entry: Path = ENTRY_SCRIPT) -> list[str]:
    """`streamlit run` on 127.0.0.1, headless, without usage statistics."""
    return [
        sys.executable, "-m", "streamlit", "run", str(entry),
        "--server.address", HOST,
        "--server.port", str(port),
        "--server.headless", "true",
        "--browser.gatherUsageStats", "false",
        "--server.fileWatcherType", "none",
    ]


def check_port(port: int) -> None:
    if not 1 <= port <= 65535:
        raise InputError.at("--port", f"{port} is not a TCP port", hint="use a number between 1024 and 65535, e.g. --port 8501")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # like the server itself: a port still in TIME_WAIT from a stopped server is free to use
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError as exc:
            raise InputError.at(
                "--port", f"{HOST}:{port} is already in use ({exc.strerror})",
                hint=f"pick another port, e.g. --port {port + 1}, or stop the other server",
            ) from None


def leaderboard_env(results: Path, runs: Path) -> dict[str, str]:
    env = dict(os.environ)
    env[settings.ENV_RESULTS] = str(results.resolve())
    env[settings.ENV_RUNS] = str(runs.resolve())
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
    check_port(port)
    if announce:
        announce(f"leaderboard: http://{HOST}:{port}  (results: {results_dir}, runs: {runs_dir}; Ctrl-C stops it)")
    return _supervise(streamlit_argv(port), leaderboard_env(results_dir, runs_dir))


def _supervise(argv: list[str], env: dict[str, str]) -> int:
    """Run the server child; Ctrl-C or SIGTERM to us stops the child too (no orphaned server)."""
    proc = subprocess.Popen(argv, env=env)

    def _on_term(signum, frame):  # noqa: ARG001
        raise Interrupted("leaderboard stopped (SIGTERM)")

    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _on_term) if in_main else None
    try:
        code = proc.wait()
    except KeyboardInterrupt:
        raise Interrupted("leaderboard stopped") from None
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if in_main:
            signal.signal(signal.SIGTERM, previous)
    if code not in (0, -signal.SIGINT, -signal.SIGTERM, 130):
        raise RunFailed(f"streamlit exited with code {code}; see the messages above")
    return code
