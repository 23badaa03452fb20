"""Child processes, in one place: start, stop a tree, ports, SIGTERM, a child's environment.

Every child we start (training, AutoTrain's UI, the leaderboard, `autorerank serve`,
the studio's jobs) goes through `start`: an argv list, its own session and process
group (`start_new_session`, done by the C fork code: safe when runs start from threads,
unlike `preexec_fn`), stdin closed. `stop_tree` ends it and everything it started:
a first signal to the group and to every descendant (some, like uvicorn under
`autotrain app`, open sessions of their own), `GRACE_SECONDS` to finish, then SIGKILL.

`start(..., die_with_parent=True)` also makes the child get SIGTERM when the thread
that started it dies (Linux PR_SET_PDEATHSIG; a SIGKILLed wrapper leaves no trainer
behind). It is set by a tiny exec trampoline, not `preexec_fn`. Start such a child
from a thread that lives as long as the child.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Mapping, Sequence

#: seconds a stopped child gets to end by itself before SIGKILL
GRACE_SECONDS = 10.0
#: seconds to wait for SIGKILLed processes to disappear
KILL_WAIT_SECONDS = 5.0
LOCALHOST = "127.0.0.1"
DEFAULT_UI_PORT = 8080  # `autorerank ui` (AutoTrain's web UI)
DEFAULT_LEADERBOARD_PORT = 8501  # `autorerank leaderboard` (Streamlit)
DEFAULT_SERVE_PORT = 8000  # `autorerank serve`
#: the switches that keep transformers / datasets / huggingface_hub off the network
OFFLINE_VARS = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
#: environment variables holding a Hub token
TOKEN_VARS = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")
#: the folder holding the `wrapper` package (a child's PYTHONPATH when it runs our modules)
PROJECT_ROOT = Path(__file__).resolve().parent.parent

# Runs as `python -I -S -c _GUARD <parent pid> argv...`: ask for SIGTERM when the parent
# dies, give up if it already has, then become argv (same pid, same process group).
_GUARD = (
    "import ctypes,os,signal,sys\n"
    "try: ctypes.CDLL(None,use_errno=True).prctl(1,signal.SIGTERM,0,0,0)\n"
    "except Exception: pass\n"
    "if os.getppid()!=int(sys.argv[1]): sys.exit(143)\n"
    "os.execvp(sys.argv[2],sys.argv[2:])\n"
)


def start(
    argv: Sequence[str | os.PathLike],
    *,
    cwd: str | os.PathLike | None = None,
    env: Mapping[str, str] | None = None,
    stdout=None,
    stderr=None,
    die_with_parent: bool = False,
    **popen: object,
) -> subprocess.Popen:
    """Start `argv` in a new session (its pid is its process group id); stdin is closed."""
    args = [os.fspath(a) for a in argv]
    if die_with_parent and sys.platform.startswith("linux"):
        args = [sys.executable, "-I", "-S", "-c", _GUARD, str(os.getpid()), *args]
    return subprocess.Popen(args, cwd=cwd, env=None if env is None else dict(env), stdin=subprocess.DEVNULL,
                            stdout=stdout, stderr=stderr, start_new_session=True, **popen)  # type: ignore[arg-type]


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def _signal_group(pgid: int | None, sig: int) -> None:
    if pgid is not None:
        try:
            os.killpg(pgid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def stop_tree(
    proc: subprocess.Popen | int, *, grace: float = GRACE_SECONDS, sig: int = signal.SIGTERM
) -> int | None:
    """Stop `proc`, its process group and all its descendants: `sig`, `grace` s, then SIGKILL.

    Safe to call on a process that has ended (it still sweeps its group). Never signals
    our own process group. Returns the exit code when `proc` is a Popen we could reap.
    """
    import psutil

    pid = proc if isinstance(proc, int) else proc.pid
    pgid: int | None = pid
    tree: list = []
    # a reaped child's pid may belong to a stranger now: then only its old group is swept
    if isinstance(proc, int) or proc.poll() is None:
        try:
            pgid = os.getpgid(pid)
            root = psutil.Process(pid)
            tree = [p for p in (root, *root.children(recursive=True)) if _live(p)]
        except (ProcessLookupError, psutil.Error):
            pass
    if pgid == os.getpgrp():
        pgid = None
    _terminate(tree, pgid, grace, sig, reap=proc.poll if isinstance(proc, subprocess.Popen) else None)
    if isinstance(proc, subprocess.Popen):
        try:
            return proc.wait(timeout=KILL_WAIT_SECONDS)
        except subprocess.TimeoutExpired:
            return None
    return None


def stop_pids(pids: Sequence[int], *, grace: float = GRACE_SECONDS, sig: int = signal.SIGTERM) -> None:
    """Stop these processes (not their children): `sig`, `grace` s, then SIGKILL."""
    import psutil

    found = []
    for pid in pids:
        try:
            found.append(psutil.Process(pid))
        except psutil.Error:
            pass
    _terminate([p for p in found if _live(p)], None, grace, sig)


def _terminate(tree: list, pgid: int | None, grace: float, sig: int, reap=None) -> None:
    """`sig` to the group and each process, wait up to `grace` s, SIGKILL what is left."""
    import psutil

    _signal_group(pgid, sig)
    for p in tree:
        try:
            p.send_signal(sig)
        except psutil.Error:
            pass
    alive = _wait_gone(tree, pgid, grace, reap)
    if alive or (pgid is not None and _group_alive(pgid)):
        _signal_group(pgid, signal.SIGKILL)
        for p in alive:
            try:
                p.kill()
            except psutil.Error:
                pass
        _wait_gone(alive, pgid, KILL_WAIT_SECONDS, reap)


def _wait_gone(tree: list, pgid: int | None, timeout: float, reap=None) -> list:
    """Wait until no process of `tree` is live and group `pgid` is empty (its zombies
    reaped too); return the live ones. Reaps nothing itself but through `reap`
    (Popen.poll, which keeps the exit code; psutil.wait_procs would take it)."""
    deadline = time.monotonic() + timeout
    while True:
        if reap is not None:
            reap()
        alive = [p for p in tree if _live(p)]
        if (not alive and (pgid is None or not _group_alive(pgid))) or time.monotonic() >= deadline:
            return alive
        time.sleep(0.05)


def _live(p) -> bool:
    import psutil

    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def port_free(host: str, port: int) -> bool:
    """True when a server could listen on host:port now (a port in TIME_WAIT counts as free)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def check_port_number(port: int, *, where: str = "--port", flag: str = "--port") -> None:
    """`InputError` at `where` unless 1 <= port <= 65535."""
    from wrapper.errors import InputError

    if not 1 <= int(port) <= 65535:
        raise InputError.at(where, f"{port} is not a TCP port", hint=f"use a number between 1024 and 65535, "
                            f"e.g. {flag} {DEFAULT_SERVE_PORT}")


def check_port(host: str, port: int, *, where: str = "--port", flag: str = "--port") -> None:
    """`InputError` at `where` when `port` is no TCP port or host:port is taken; the hint
    suggests `flag <port + 1>`."""
    from wrapper.errors import InputError

    check_port_number(port, where=where, flag=flag)
    if not port_free(host, port):
        raise InputError.at(
            where, f"{host}:{port} is already in use (or cannot be bound)",
            hint=f"pick another port, e.g. {flag} {port + 1}, or stop the other server",
        )


def free_port(host: str = LOCALHOST) -> int:
    """A port the OS says is free on `host` now."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


class Stopped(KeyboardInterrupt):
    """The KeyboardInterrupt `interrupt_on` raises; `.signum` is the signal that came."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def signal_of(exc: BaseException) -> int:
    """The signal behind a KeyboardInterrupt: `Stopped.signum`, else SIGINT (Ctrl-C)."""
    return getattr(exc, "signum", signal.SIGINT)


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextmanager
def interrupt_on(signals: Sequence[int] = (signal.SIGTERM,)) -> Iterator[None]:
    """Inside the block, `signals` raise `Stopped` (a KeyboardInterrupt) in the main thread,
    so `kill <pid>` stops as cleanly as Ctrl-C. Elsewhere than the main thread: no effect."""
    if not _in_main_thread():
        yield
        return

    def _raise(signum, frame):  # noqa: ARG001
        raise Stopped(signum)

    previous = {sig: signal.signal(sig, _raise) for sig in signals}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextmanager
def signals_ignored(signals: Sequence[int] = (signal.SIGINT, signal.SIGTERM)) -> Iterator[None]:
    """Ignore `signals` inside the block (cleanup a second Ctrl-C must not cut short)."""
    if not _in_main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in signals}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def child_env(
    *,
    base: Mapping[str, str] | None = None,
    offline: bool = False,
    venv: str | os.PathLike | None = None,
    project_path: bool = False,
    drop_tokens: bool = False,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """A child's environment: a copy of `base` (default os.environ) with

    - `venv`: its bin/ first on PATH, VIRTUAL_ENV set, PYTHONPATH/PYTHONHOME dropped
      (our env's packages must not shadow that env's pins);
    - `offline`: the HF offline switches (`OFFLINE_VARS`);
    - `project_path`: the project root first on PYTHONPATH (the child imports `wrapper`
      even when it is not installed);
    - `drop_tokens`: no Hub token (`TOKEN_VARS`);
    - unbuffered Python output, TOKENIZERS_PARALLELISM=false unless set, then `extra`.
    """
    env = dict(os.environ if base is None else base)
    if venv is not None:
        env["PATH"] = f"{Path(venv) / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        env["VIRTUAL_ENV"] = str(venv)
        env.pop("PYTHONHOME", None)
        env.pop("PYTHONPATH", None)
    if project_path:
        env["PYTHONPATH"] = str(PROJECT_ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    if offline:
        env.update(OFFLINE_VARS)
    if drop_tokens:
        for var in TOKEN_VARS:
            env.pop(var, None)
    env["PYTHONUNBUFFERED"] = "1"
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    env.update(extra or {})
    return env
