"""A real headless chromium opens the running leaderboard (`autorerank leaderboard --port N`).

Screenshots are saved as test artifacts in `artifacts/leaderboard.png` (the
overview), `artifacts/leaderboard-compare.png` (fine-tuned vs base) and
`artifacts/leaderboard-model.png` (the drill-down). Skipped with a
reason when Debian's chromium is not installed (`apt-get install -y chromium`).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import autorerank_bin
from tests.leaderboard_fixtures import FT_BAD, FT_GOOD, build_scenario
from wrapper import procs

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

pytestmark = pytest.mark.slow
needs_chromium = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} not installed (apt-get install -y chromium)")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`autorerank leaderboard` over the fixture folders, as a subprocess in its own process group;
    started once for the module (the tests only read)."""
    home = tmp_path_factory.mktemp("leaderboard")
    sc = build_scenario(home)
    port = procs.free_port()
    log = (home / "server.log").open("w")
    proc = subprocess.Popen(
        [autorerank_bin(), "leaderboard", "--port", str(port), "--results", str(sc.results), "--runs", str(sc.runs)],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=home,
        env=procs.child_env(offline=True, drop_tokens=True,
                            extra={"AUTORERANK_RESULTS": str(sc.results), "AUTORERANK_RUNS": str(sc.runs)}),
    )
    url = f"http://127.0.0.1:{port}/"
    wait_healthy(url, proc, log, home / "server.log", "leaderboard")
    try:
        yield url
        # SIGTERM to the CLI alone must stop the streamlit child too (no orphaned server on the port)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) != 0
        assert port_released(port), "the streamlit server outlived `autorerank leaderboard`"
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # safety net: only the group this test started
        except ProcessLookupError:
            pass
        proc.wait()
        log.close()


def wait_healthy(url: str, proc, log, log_path: Path, what: str, timeout: float = 90) -> None:
    """Wait until Streamlit at `url` answers its health check; fail with the server's log if it dies or hangs."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url + "_stcore/health", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            log.close()
            pytest.fail(f"{what} did not start:\n{log_path.read_text()}")
        time.sleep(0.5)


def port_released(port: int, timeout: float = 10) -> bool:
    """True once nothing listens on `port` any more (waits up to `timeout` s)."""
    deadline = time.monotonic() + timeout
    while port_open(port) and time.monotonic() < deadline:
        time.sleep(0.2)
    return not port_open(port)


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_cli_serves_on_localhost_only(server):
    """Without a browser: the CLI's server answers on 127.0.0.1 and serves the Streamlit shell."""
    with urllib.request.urlopen(server, timeout=10) as resp:
        assert resp.status == 200 and "<title>Streamlit</title>" in resp.read().decode()
    port = int(server.rsplit(":", 1)[1].strip("/"))
    outward = outward_ip()
    if outward:
        with socket.socket() as sock:
            sock.settimeout(1)
            assert sock.connect_ex((outward, port)) != 0, f"the leaderboard also listens on {outward}"


def outward_ip() -> str | None:
    """This machine's non-loopback address (the one a UDP socket would use), if any."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(("10.255.255.255", 1))
            ip = sock.getsockname()[0]
        except OSError:
            return None
    return None if ip.startswith("127.") else ip


@needs_chromium
def test_browser_renders_leaderboard_and_drill_down(server):
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    errors: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 2000})
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(server, wait_until="domcontentloaded")
            page.get_by_text("Reranker leaderboard").first.wait_for(timeout=60_000)
            page.locator("[data-testid='stDataFrame']").first.wait_for(timeout=60_000)
            page.locator("[data-testid='stVegaLiteChart'] canvas, [data-testid='stVegaLiteChart'] svg").first.wait_for(timeout=60_000)
            page.wait_for_timeout(1500)  # let the grid and charts finish drawing
            page.screenshot(path=str(ARTIFACTS / "leaderboard.png"), full_page=True)
            body = page.inner_text("body")
            assert "Fine-tunes that passed the gate" in body and "1 / 3" in body
            assert "Download CSV" in body
            assert "Traceback" not in body and "couldn't produce plot" not in body

            page.goto(server + "compare", wait_until="domcontentloaded")
            page.get_by_text("Regression gate").first.wait_for(timeout=60_000)
            page.locator("[data-testid='stVegaLiteChart']").first.wait_for(timeout=60_000)
            page.wait_for_timeout(1500)
            page.screenshot(path=str(ARTIFACTS / "leaderboard-compare.png"), full_page=True)
            assert "couldn't produce plot" not in page.inner_text("body")

            page.goto(server + f"model?model={FT_BAD}", wait_until="domcontentloaded")
            page.get_by_text("Training run").first.wait_for(timeout=60_000)
            page.locator("[data-testid='stVegaLiteChart']").first.wait_for(timeout=60_000)
            page.wait_for_timeout(1500)
            page.screenshot(path=str(ARTIFACTS / "leaderboard-model.png"), full_page=True)
            body = page.inner_text("body")
            assert "▼ regressed" in body and "cross-encoder:mnrl" in body
            assert FT_GOOD not in body.split("Training run")[1]
        finally:
            browser.close()
    assert not errors, errors
    assert (ARTIFACTS / "leaderboard.png").stat().st_size > 20_000
