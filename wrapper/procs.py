"""Child processes, in one place: start, supervise, stop a tree, ports, SIGTERM, a child's environment.

Every child (training, AutoTrain's UI, the leaderboard and studio servers, the studio's
jobs) is a `Child`: an argv list started in its own session and process group
(`start_new_session`: thread-safe, unlike `preexec_fn`), stdin closed, its output
inherited, sent to one log file, or pumped line by line (two threads) into per-stream
logs and a callback. `supervise(child)` waits for it in the foreground and turns Ctrl-C,
SIGTERM and SIGHUP into a clean stop of the whole tree and an `Outcome`; `on_exit`
reaps a background child on a thread (studio jobs). `stop_tree` ends a child and all it
started (the group and every descendant: uvicorn under `autotrain app` opens a session
of its own): a signal, `GRACE_SECONDS`, then SIGKILL. `die_with_parent=True` adds Linux
PR_SET_PDEATHSIG through a small exec trampoline: the child gets SIGTERM when the
*thread* that started it ends (a SIGKILLed wrapper leaves no trainer behind), so start
such a child from a thread that outlives it. Nothing else in the code base polls a
child process.
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Mapping, Sequence

GRACE_SECONDS = 10.0  # a stopped child's time to end by itself before SIGKILL
KILL_WAIT_SECONDS = 5.0  # time for SIGKILLed processes to disappear
LOCALHOST = "127.0.0.1"
DEFAULT_UI_PORT = 8080  # `autorerank ui` (AutoTrain's web UI)
DEFAULT_LEADERBOARD_PORT = 8501  # `autorerank leaderboard` (Streamlit)
DEFAULT_SERVE_PORT = 8000  # `autorerank serve`
OFFLINE_VARS = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
TOKEN_VARS = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")
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


def start(argv: Sequence[str | os.PathLike], *, cwd: str | os.PathLike | None = None,
          env: Mapping[str, str] | None = None, stdout=None, stderr=None, die_with_parent: bool = False,
          **popen: object) -> subprocess.Popen:
    """Start `argv` in a new session (its pid is its process group id); stdin is closed."""
    args = [os.fspath(a) for a in argv]
    if die_with_parent and sys.platform.startswith("linux"):
        # a missing program fails here, as it would without the trampoline
        path = (os.environ if env is None else env).get("PATH", os.defpath)
        found = (os.access(Path(cwd or ".") / args[0], os.X_OK) if os.sep in args[0]
                 else shutil.which(args[0], path=path) is not None)
        if not found:
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), args[0])
        args = [sys.executable, "-I", "-S", "-c", _GUARD, str(os.getpid()), *args]
    return subprocess.Popen(args, cwd=cwd, env=None if env is None else dict(env), stdin=subprocess.DEVNULL,
                            stdout=stdout, stderr=stderr, start_new_session=True, **popen)  # type: ignore[arg-type]


def _killpg(pgid: int | None, sig: int) -> bool:
    """Send `sig` to group `pgid` (0 tests it); False when there is no such group."""
    try:
        os.killpg(pgid, sig)  # type: ignore[arg-type]
        return pgid is not None
    except (ProcessLookupError, PermissionError, TypeError):
        return False


def stop_tree(proc: subprocess.Popen | int, *, grace: float = GRACE_SECONDS, sig: int = signal.SIGTERM) -> int | None:
    """Stop `proc`, its process group and all its descendants: `sig`, `grace` s, then SIGKILL.

    Safe on a process that has ended (its group is still swept); never signals our own
    group. Returns the exit code when `proc` is a Popen.
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
            tree = [root, *root.children(recursive=True)]
        except (ProcessLookupError, psutil.Error):
            pass
    popen = proc if isinstance(proc, subprocess.Popen) else None
    _terminate(tree, None if pgid == os.getpgrp() else pgid, grace, sig, reap=popen.poll if popen else None)
    try:
        return popen.wait(timeout=KILL_WAIT_SECONDS) if popen else None
    except subprocess.TimeoutExpired:
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
    _terminate(found, None, grace, sig)


def _terminate(tree: list, pgid: int | None, grace: float, sig: int, reap=None) -> None:
    """`sig` to the group and each live process, wait up to `grace` s, SIGKILL what is left."""
    tree = [p for p in tree if _live(p)]
    _killpg(pgid, sig)
    _send(tree, sig)
    alive = _wait_gone(tree, pgid, grace, reap)
    if alive or _killpg(pgid, 0):
        _killpg(pgid, signal.SIGKILL)
        _send(alive, signal.SIGKILL)
        _wait_gone(alive, pgid, KILL_WAIT_SECONDS, reap)


def _send(tree: list, sig: int) -> None:
    import psutil

    for p in tree:
        try:
            p.send_signal(sig)
        except psutil.Error:
            pass


def _wait_gone(tree: list, pgid: int | None, timeout: float, reap=None) -> list:
    """Wait until no process of `tree` is live and group `pgid` is empty (zombies reaped);
    return the live ones. Reaps only through `reap` (Popen.poll, which keeps the exit
    code that psutil.wait_procs would take)."""
    deadline = time.monotonic() + timeout
    while True:
        if reap is not None:
            reap()
        alive = [p for p in tree if _live(p)]
        if (not alive and not _killpg(pgid, 0)) or time.monotonic() >= deadline:
            return alive
        time.sleep(0.05)


def _live(p) -> bool:
    import psutil

    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def pid_alive(pid: int | None) -> bool:
    """True when `pid` is a live (non-zombie) process."""
    if not pid or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is dead for our purposes
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def group_members(pgid: int, *, cwd_within: str | os.PathLike) -> list[int]:
    """Pids of process group `pgid` whose working directory is inside `cwd_within`.

    The cwd check guards against a recycled pid: our training children always run with
    cwd = their run folder.
    """
    folder = Path(cwd_within).resolve()
    members = []
    proc = Path("/proc")
    if not proc.exists():
        return members
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.getpgid(int(entry.name)) != pgid:
                continue
            cwd = Path(os.readlink(entry / "cwd")).resolve()
        except (OSError, ProcessLookupError):
            continue
        if cwd == folder or folder in cwd.parents:
            members.append(int(entry.name))
    return members


@dataclass
class Outcome:
    """How a supervised child ended: its exit code, whether we stopped it and why, its wall time."""

    exit_code: int | None
    interrupted: bool = False
    signal_name: str | None = None
    wall_s: float = 0.0


class Child:
    """A child process started by `start` (see the module doc for the three output modes).

    `log`: stdout and stderr go to this file. `logs=(out, err)`: each stream is pumped
    line by line into its file and `on_line(line, stream)` ("stdout"/"stderr"). Neither:
    the child writes to our terminal. `on_exit(code)` runs on a thread once it ends.
    """

    def __init__(self, argv: Sequence[str | os.PathLike], *, cwd: str | os.PathLike | None = None,
                 env: Mapping[str, str] | None = None, log: str | os.PathLike | None = None,
                 logs: tuple[str | os.PathLike, str | os.PathLike] | None = None,
                 on_line: Callable[[str, str], None] | None = None, on_exit: Callable[[int], None] | None = None,
                 die_with_parent: bool = False):
        self.argv = [os.fspath(a) for a in argv]
        self.started = time.monotonic()
        self._threads: list[threading.Thread] = []
        self._files: list = []
        if logs is not None:
            self.proc = start(self.argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              die_with_parent=die_with_parent, text=True, encoding="utf-8", errors="replace",
                              bufsize=1)
            for stream, path, name in ((self.proc.stdout, logs[0], "stdout"), (self.proc.stderr, logs[1], "stderr")):
                sink = open(path, "w", encoding="utf-8", errors="replace")
                self._files.append(sink)
                thread = threading.Thread(target=self._pump, args=(stream, sink, name, on_line), daemon=True)
                thread.start()
                self._threads.append(thread)
        elif log is not None:
            with open(log, "wb") as sink:
                self.proc = start(self.argv, cwd=cwd, env=env, stdout=sink, stderr=subprocess.STDOUT,
                                  die_with_parent=die_with_parent)
        else:
            self.proc = start(self.argv, cwd=cwd, env=env, die_with_parent=die_with_parent)
        if on_exit is not None:
            threading.Thread(target=lambda: on_exit(self.proc.wait()), daemon=True,
                             name=f"reap-{self.proc.pid}").start()

    @staticmethod
    def _pump(stream, sink, name: str, on_line) -> None:
        for line in stream:
            sink.write(line)
            sink.flush()
            if on_line is not None:
                on_line(line, name)

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def exit_code(self) -> int | None:
        return self.proc.poll()

    def running(self) -> bool:
        return self.proc.poll() is None

    def wait(self, timeout: float | None = None) -> int:
        return self.proc.wait(timeout=timeout)

    def stop(self, grace: float = GRACE_SECONDS) -> int | None:
        """Stop the child's whole tree (see `stop_tree`); returns its exit code."""
        return stop_tree(self.proc, grace=grace)

    def close(self, timeout: float = 10.0) -> None:
        """Wait for the output pumps to drain, then close the log files."""
        for thread in self._threads:
            thread.join(timeout=timeout)
        for sink in self._files:
            sink.close()


#: `Outcome.signal_name` of a child stopped because its deadline passed
DEADLINE = "deadline"


def supervise(child: Child, *, on_tick: Callable[[], None] | None = None, tick_s: float = 0.2,
              signals: Sequence[int] = (signal.SIGTERM, signal.SIGHUP), deadline: float | None = None) -> Outcome:
    """Wait for `child` in the foreground; Ctrl-C or one of `signals` stops its whole tree, and so does
    `deadline` (a `time.monotonic()` value: the Outcome then says `signal_name == DEADLINE`).

    `on_tick` runs every `tick_s` while it runs (status updates). Whatever happens, no
    process of the child's group survives this call and its logs are closed.
    """
    stop_signal: list[int] = []
    late = False
    try:
        with interrupt_on(signals):
            while child.running():
                time.sleep(tick_s)
                if on_tick is not None:
                    on_tick()
                if deadline is not None and time.monotonic() >= deadline:
                    late = True
                    break
    except KeyboardInterrupt as exc:  # Ctrl-C, or a signal through interrupt_on
        stop_signal.append(signal_of(exc))
    finally:
        with signals_ignored((signal.SIGINT, signal.SIGTERM, signal.SIGHUP)):
            # stopped or not, no straggler of the child's group survives it
            child.stop(grace=GRACE_SECONDS if stop_signal or child.running() else 0)
            child.close()
    name = signal.Signals(stop_signal[0]).name if stop_signal else DEADLINE if late else None
    return Outcome(exit_code=child.proc.returncode, interrupted=bool(stop_signal) or late, signal_name=name,
                   wall_s=time.monotonic() - child.started)


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


def check_port(host: str | None, port: int, *, where: str = "--port", flag: str = "--port") -> None:
    """`InputError` at `where` when `port` is no TCP port, or host:port is taken (host None:
    the number only); the hint suggests `flag <port + 1>`."""
    from wrapper.errors import InputError

    if not 1 <= int(port) <= 65535:
        raise InputError.at(where, f"{port} is not a TCP port", hint="use a number between 1024 and 65535")
    if host is not None and not port_free(host, port):
        raise InputError.at(where, f"{host}:{port} is already in use (or cannot be bound)",
                            hint=f"pick another port, e.g. {flag} {port + 1}, or stop the other server")


def free_port(host: str = LOCALHOST) -> int:
    """A port the OS says is free on `host` now."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def wait_answering(url: str, proc: subprocess.Popen, *, what: str, timeout_s: float = 300) -> None:
    """Until GET `url` answers 200 (a server child is ready) or `proc` exits: RuntimeError naming `what`."""
    import httpx

    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with code {proc.returncode} before it was ready (its log says why)")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{what} did not answer at {url} within {timeout_s:.0f} s")


class Stopped(KeyboardInterrupt):
    """The KeyboardInterrupt `interrupt_on` raises; `.signum` is the signal that came."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def signal_of(exc: BaseException) -> int:
    """The signal behind a KeyboardInterrupt: `Stopped.signum`, else SIGINT (Ctrl-C)."""
    return getattr(exc, "signum", signal.SIGINT)


@contextmanager
def _handling(signals: Sequence[int], handler) -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield  # Python delivers signals to the main thread only
        return
    previous = {sig: signal.signal(sig, handler) for sig in signals}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _raise_stopped(signum, frame):  # noqa: ARG001
    raise Stopped(signum)


def interrupt_on(signals: Sequence[int] = (signal.SIGTERM,)):
    """Inside the block, `signals` raise `Stopped` (a KeyboardInterrupt) in the main thread,
    so `kill <pid>` stops as cleanly as Ctrl-C. Outside the main thread: no effect."""
    return _handling(signals, _raise_stopped)


def signals_ignored(signals: Sequence[int] = (signal.SIGINT, signal.SIGTERM)):
    """Ignore `signals` inside the block (cleanup that a second Ctrl-C must not cut short)."""
    return _handling(signals, signal.SIG_IGN)


def child_env(*, base: Mapping[str, str] | None = None, offline: bool = False,
              venv: str | os.PathLike | None = None, project_path: bool = False, drop_tokens: bool = False,
              extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """A copy of `base` (default os.environ) with: `venv`'s bin/ first on PATH and no
    PYTHONPATH/PYTHONHOME (our packages must not shadow its pins); `offline`: `OFFLINE_VARS`;
    `project_path`: `PROJECT_ROOT` first on PYTHONPATH (the child imports `wrapper`);
    `drop_tokens`: no `TOKEN_VARS`; unbuffered output; TOKENIZERS_PARALLELISM=false
    unless set; then `extra`."""
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
