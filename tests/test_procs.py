"""wrapper.procs with real child processes: a tree stopped with grace (and SIGKILL for
one that ignores SIGTERM), a session of its own reached through descendants, SIGTERM
turned into an interrupt, the parent-death signal, ports against real bound sockets,
supervised runs started from two threads at once, the child environment."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import psutil
import pytest

from wrapper import procs
from wrapper.errors import InputError

# A parent that starts: a child in its own group, a grandchild that opens a new session
# (like uvicorn under `autotrain app`) and one that ignores SIGTERM; prints their pids.
TREE = textwrap.dedent("""
    import os, subprocess, sys, time
    stubborn = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(120)"
    polite = ("import pathlib, signal, sys, time; signal.signal(signal.SIGTERM, lambda *a: "
              "(pathlib.Path(sys.argv[1]).write_text('SIGTERM'), sys.exit(0))); time.sleep(120)")
    a = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    b = subprocess.Popen([sys.executable, "-c", polite, sys.argv[1]], start_new_session=True)
    c = subprocess.Popen([sys.executable, "-c", stubborn])
    time.sleep(0.5)  # let the stubborn one install its handler
    print(a.pid, b.pid, c.pid, flush=True)
    time.sleep(120)
""")


def _live(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_stop_tree_ends_the_group_the_new_session_and_kills_what_ignores_sigterm(tmp_path):
    note = tmp_path / "b.txt"
    proc = procs.start([sys.executable, "-c", TREE, note], stdout=subprocess.PIPE, text=True)
    assert os.getpgid(proc.pid) == proc.pid and os.getsid(proc.pid) == proc.pid  # its own session
    kids = [int(p) for p in proc.stdout.readline().split()]
    assert len(kids) == 3 and all(_live(p) for p in kids)
    assert os.getsid(kids[1]) != proc.pid  # the grandchild left the group: only the tree reaches it
    started = time.monotonic()
    code = procs.stop_tree(proc, grace=1.0)
    took = time.monotonic() - started
    assert code == -signal.SIGTERM  # the exit code is ours to read (not reaped by psutil)
    assert not any(_live(p) for p in kids)
    assert note.read_text() == "SIGTERM"  # the one in its own session was asked first, not just killed
    assert 1.0 <= took < 1.0 + procs.KILL_WAIT_SECONDS  # waited the grace for the stubborn one, no more
    with pytest.raises(ProcessLookupError):
        os.killpg(proc.pid, 0)


def test_stop_tree_without_stragglers_returns_at_once_and_sweeps_a_finished_leaders_group():
    quick = procs.start([sys.executable, "-c", "import time; time.sleep(60)"])
    started = time.monotonic()
    assert procs.stop_tree(quick) == -signal.SIGTERM
    assert time.monotonic() - started < 3  # not the full GRACE_SECONDS
    # the leader exits by itself but leaves a child in its group behind
    leaver = procs.start([sys.executable, "-c", "import subprocess, sys; "
                          "print(subprocess.Popen(['sleep', '60']).pid, flush=True)"],
                         stdout=subprocess.PIPE, text=True)
    orphan = int(leaver.stdout.readline())
    assert leaver.wait(timeout=30) == 0 and _live(orphan)
    assert procs.stop_tree(leaver, grace=2) == 0
    assert not _live(orphan)


def test_stop_pids_sigkills_at_once_with_no_grace():
    child = subprocess.Popen(["sleep", "60"])
    procs.stop_pids([child.pid, 999_999_999], grace=0, sig=signal.SIGKILL)  # an unknown pid is skipped
    assert child.wait(timeout=5) == -signal.SIGKILL


INTERRUPTED = textwrap.dedent("""
    import signal, sys, time
    from wrapper import procs
    try:
        with procs.interrupt_on((signal.SIGTERM, signal.SIGHUP)):
            print("ready", flush=True)
            time.sleep(30)
    except KeyboardInterrupt as exc:
        print("interrupted", signal.Signals(procs.signal_of(exc)).name, flush=True)
    print("restored", signal.getsignal(signal.SIGTERM) is signal.SIG_DFL, flush=True)
    with procs.signals_ignored():
        print("ignoring", flush=True)
        time.sleep(1.5)
    print("survived", flush=True)
""")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_a_signal_becomes_a_keyboard_interrupt_and_cleanup_can_ignore_the_next(sig):
    proc = subprocess.Popen([sys.executable, "-c", INTERRUPTED], stdout=subprocess.PIPE, text=True,
                            env=procs.child_env(project_path=True))
    assert proc.stdout.readline().strip() == "ready"
    proc.send_signal(sig)
    assert proc.stdout.readline().split() == ["interrupted", sig.name]
    assert proc.stdout.readline().split() == ["restored", "True"]
    assert proc.stdout.readline().strip() == "ignoring"
    proc.send_signal(signal.SIGTERM)  # ignored inside signals_ignored()
    out, _ = proc.communicate(timeout=30)
    assert out.strip() == "survived" and proc.returncode == 0


def test_interrupt_on_outside_the_main_thread_changes_nothing():
    before = signal.getsignal(signal.SIGTERM)
    seen = []

    def worker():
        with procs.interrupt_on():
            seen.append(signal.getsignal(signal.SIGTERM))

    t = threading.Thread(target=worker)
    t.start()
    t.join()
    assert seen == [before] and signal.getsignal(signal.SIGTERM) == before


PARENT = textwrap.dedent("""
    import sys, time
    from wrapper import procs
    child = procs.start(["sleep", "60"], die_with_parent=True)
    print(child.pid, flush=True)
    time.sleep(60)
""")


def test_a_child_started_with_die_with_parent_ends_when_its_parent_is_killed():
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True,
                              env=procs.child_env(project_path=True))
    child = int(parent.stdout.readline())
    deadline = time.monotonic() + 10  # the trampoline execs into `sleep`: same pid
    while psutil.Process(child).name() != "sleep" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert psutil.Process(child).name() == "sleep" and os.getsid(child) == child
    parent.kill()  # SIGKILL: no chance to clean up
    parent.wait()
    deadline = time.monotonic() + 10
    while _live(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _live(child)


@pytest.mark.parametrize("die_with_parent", [False, True])
def test_a_missing_program_fails_at_start_either_way(tmp_path, die_with_parent):
    for missing in (str(tmp_path / "no-such-program"), "no-such-program-autorerank"):
        with pytest.raises(FileNotFoundError, match="no-such-program"):
            procs.start([missing], die_with_parent=die_with_parent)


def test_ports_against_a_real_bound_socket():
    with socket.socket() as busy:
        busy.bind((procs.LOCALHOST, 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert not procs.port_free(procs.LOCALHOST, port)
        with pytest.raises(InputError, match=rf"--port: 127\.0\.0\.1:{port} is already in use[\s\S]*--port {port + 1}"):
            procs.check_port(procs.LOCALHOST, port)
    assert procs.port_free(procs.LOCALHOST, port)
    procs.check_port(procs.LOCALHOST, port)
    with pytest.raises(InputError, match="--port: 70000 is not a TCP port"):
        procs.check_port(None, 70000)
    fresh = procs.free_port()
    with socket.socket() as s:
        s.bind((procs.LOCALHOST, fresh))  # really free


def test_the_cli_defaults_are_the_named_ports():
    from wrapper.cli.leaderboard import leaderboard
    from wrapper.cli.ui import ui

    def default(cmd, name):
        return next(p.default for p in cmd.params if p.name == name)

    assert default(ui, "port") == procs.DEFAULT_UI_PORT == 8080
    assert default(ui, "host") == procs.LOCALHOST
    assert default(leaderboard, "port") == procs.DEFAULT_LEADERBOARD_PORT == 8501


FAKE_RUN = textwrap.dedent("""
    import os, sys, time
    print("AUTORERANK_TOTAL_STEPS 2", flush=True)
    for step in (1, 2):
        time.sleep(0.3)
        print('AUTORERANK_METRICS {"step": %d, "loss": 0.5}' % step, flush=True)
    print("pgid", os.getpgid(0), "sid", os.getsid(0), file=sys.stderr, flush=True)
""")


def test_supervised_runs_started_from_two_threads_at_once(tmp_path):
    from wrapper.train.logparse import LogParser
    from wrapper.train.supervise import supervise

    outcomes: dict[int, object] = {}
    barrier = threading.Barrier(2)

    def run(i: int):
        run_dir = tmp_path / f"r{i}"
        run_dir.mkdir()
        (run_dir / "status.json").write_text("{}")
        barrier.wait()
        parser = LogParser()
        outcomes[i] = (supervise([sys.executable, "-c", FAKE_RUN], run_dir=run_dir, env=procs.child_env(),
                                 parser=parser, progress=False, status_every_s=0.1), parser)

    threads = [threading.Thread(target=run, args=(i,)) for i in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(outcomes) == [0, 1]
    groups = set()
    for i, (out, parser) in outcomes.items():
        assert out.exit_code == 0 and not out.interrupted and parser.last_step == 2
        _, pgid, _, sid = (tmp_path / f"r{i}" / "stderr.log").read_text().split()
        assert pgid == sid  # each run leads its own session
        groups.add(pgid)
    assert len(groups) == 2


def test_child_env_layers(tmp_path):
    base = {"PATH": "/usr/bin", "PYTHONPATH": "/theirs", "PYTHONHOME": "/h", "HF_TOKEN": "t",
            "HUGGING_FACE_HUB_TOKEN": "t2", "TOKENIZERS_PARALLELISM": "true"}
    env = procs.child_env(base=base, venv=tmp_path, offline=True, drop_tokens=True, extra={"X": "1"})
    assert env["PATH"] == f"{tmp_path / 'bin'}{os.pathsep}/usr/bin" and env["VIRTUAL_ENV"] == str(tmp_path)
    assert "PYTHONPATH" not in env and "PYTHONHOME" not in env
    assert all(env[k] == "1" for k in procs.OFFLINE_VARS) and not set(procs.TOKEN_VARS) & set(env)
    assert env["TOKENIZERS_PARALLELISM"] == "true" and env["PYTHONUNBUFFERED"] == "1" and env["X"] == "1"
    ours = procs.child_env(base={"PYTHONPATH": "/theirs"}, project_path=True)
    assert ours["PYTHONPATH"] == f"{procs.PROJECT_ROOT}{os.pathsep}/theirs"
    assert (Path(ours["PYTHONPATH"].split(os.pathsep)[0]) / "wrapper" / "procs.py").is_file()
    assert "HF_HUB_OFFLINE" not in procs.child_env(base={}) and base["HF_TOKEN"] == "t"  # base untouched
