"""Run the studio (Streamlit) as a supervised subprocess, bound to a loopback address only.

The studio starts processes and reads any path its user types: it must never be
reachable from the network, so `--host` accepts loopback addresses only.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable

from wrapper import procs
from wrapper.errors import InputError, RunFailed
from wrapper.studio import ENTRY_SCRIPT

DEFAULT_PORT = procs.DEFAULT_LEADERBOARD_PORT  # Streamlit's own default, 8501
LOOPBACK = ("127.0.0.1", "::1", "localhost")


def check_host(host: str) -> str:
    """`host` when it is a loopback address; `localhost` becomes 127.0.0.1."""
    if host not in LOOPBACK:
        raise InputError.at("--host", f"{host!r} is not a loopback address; the studio starts jobs and reads local "
                                      "files, so it only listens on this machine",
                            hint="use --host 127.0.0.1 (the default) and reach it from elsewhere through an SSH "
                                 "tunnel: ssh -L 8501:127.0.0.1:8501 HOST")
    return procs.LOCALHOST if host == "localhost" else host


def streamlit_argv(host: str, port: int, entry: Path = ENTRY_SCRIPT) -> list[str]:
    """`streamlit run` bound to `host` (loopback), headless, without usage statistics; big uploads allowed."""
    return [
        sys.executable, "-m", "streamlit", "run", str(entry),
        "--server.address", check_host(host),
        "--server.port", str(port),
        "--server.headless", "true",
        "--browser.gatherUsageStats", "false",
        "--client.toolbarMode", "viewer",  # no "Deploy" button or developer menu: this is a local tool
        "--server.fileWatcherType", "none",
        "--server.maxUploadSize", "1024",
    ]


def serve(port: int = DEFAULT_PORT, host: str = procs.LOCALHOST, announce: Callable[[str], None] | None = None) -> int:
    """Run the studio until the user stops it (Ctrl-C / SIGTERM stop its jobs too). Returns streamlit's exit code."""
    from wrapper import settings
    from wrapper.leaderboard.serve import leaderboard_env, supervise

    argv = streamlit_argv(host, port)
    if not ENTRY_SCRIPT.exists():
        raise RunFailed(f"{ENTRY_SCRIPT}: the studio entry script is missing; reinstall autorerank from its source tree")
    procs.check_port(argv[argv.index("--server.address") + 1], port)
    results, runs = settings.results_dir(), settings.runs_dir()
    if announce:
        announce(f"studio: http://{'[::1]' if host == '::1' else procs.LOCALHOST if host == 'localhost' else host}:{port}  "
                 f"(project: {Path.cwd()}, results: {results}, runs: {runs}; Ctrl-C stops it and its jobs)")
    return supervise(argv, leaderboard_env(results, runs), "studio")

