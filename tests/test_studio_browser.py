"""A real headless chromium goes through the whole studio flow on the sample data.

upload data/raw/sample/pairs.csv -> prepare (no mining) -> train a tiny cross-encoder
(bundled MiniLM, 4 steps, 64 tokens) -> the gate's verdict -> evaluate -> the model on
the leaderboard -> the playground ranks a held-out query. Every page is opened with a
fresh load (a new Streamlit session), so each step also checks that a page finds the
job or run the previous one started. Screenshots: artifacts/studio-<page>.png.
Skipped with a reason when Debian's chromium is not installed (`apt-get install -y chromium`).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import autorerank_bin
from tests.test_leaderboard_browser import CHROMIUM, CHROMIUM_ARGS, outward_ip, port_released, wait_healthy
from wrapper.procs import free_port

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
SAMPLE = Path(__file__).resolve().parents[1] / "data" / "raw" / "sample" / "pairs.csv"
LONG = 420_000  # ms: training + gate, or an evaluation, on two busy cores

pytestmark = pytest.mark.slow
needs_chromium = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} not installed (apt-get install -y chromium)")


@pytest.fixture
def studio(isolated_home):
    """`autorerank studio --port N` in the test's folder, in its own process group."""
    port = free_port()
    log = (isolated_home / "studio.log").open("w")
    proc = subprocess.Popen([autorerank_bin(), "studio", "--port", str(port)], stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}/"
    wait_healthy(url, proc, log, isolated_home / "studio.log", "studio")
    try:
        yield url, proc
        proc.send_signal(signal.SIGTERM)  # the CLI alone: it must stop streamlit and the jobs too
        assert proc.wait(timeout=30) != 0
        assert port_released(port), "the streamlit server outlived `autorerank studio`"
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # safety net: only the group this test started
        except ProcessLookupError:
            pass
        proc.wait()
        log.close()


def test_studio_binds_loopback_only(studio):
    """The CLI's streamlit child gets --server.address 127.0.0.1 and nothing answers on the outward address."""
    import psutil

    url, proc = studio
    children = psutil.Process(proc.pid).children(recursive=True)
    argv = next(c.cmdline() for c in children if "streamlit" in " ".join(c.cmdline()))
    assert argv[argv.index("--server.address") + 1] == "127.0.0.1"
    port = int(url.rsplit(":", 1)[1].strip("/"))
    outward = outward_ip()
    if outward:
        import socket

        with socket.socket() as sock:
            sock.settimeout(1)
            assert sock.connect_ex((outward, port)) != 0, f"the studio also listens on {outward}"


def _settle(page, timeout: int = 60_000) -> None:
    """Wait until Streamlit has finished the current rerun (the app root says so; the running-man widget is
    not drawn with the toolbar in viewer mode)."""
    page.wait_for_timeout(300)
    page.locator("[data-testid='stApp'][data-test-script-state='notRunning']").wait_for(timeout=timeout)
    page.locator("[data-stale='true']").first.wait_for(state="detached", timeout=timeout)


def _open(page, url: str, text: str) -> None:
    page.goto(url, wait_until="domcontentloaded")
    page.get_by_text(text).first.wait_for(timeout=60_000)
    _settle(page)


def _shot(page, name: str) -> None:
    page.wait_for_timeout(800)
    page.screenshot(path=str(ARTIFACTS / f"studio-{name}.png"), full_page=True)


def _select(page, label: str, option: str) -> None:
    page.get_by_role("combobox", name=label, exact=True).click()
    page.get_by_role("option", name=option, exact=True).click()
    _settle(page)


def _number(page, label: str, value: int) -> None:
    box = page.get_by_label(label, exact=True)
    box.fill(str(value))
    box.press("Enter")
    _settle(page)


@needs_chromium
def test_whole_flow_in_the_browser(studio, isolated_home):
    from playwright.sync_api import expect, sync_playwright

    url, _ = studio
    ARTIFACTS.mkdir(exist_ok=True)
    errors: list[str] = []
    timings: dict[str, float] = {}
    start = time.monotonic()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 2400})
            page.on("pageerror", lambda exc: errors.append(str(exc)))

            # Data: upload -> detected format -> prepare (mining off keeps it fast) -> the manifest
            t = time.monotonic()
            _open(page, url, "Upload a file")
            page.locator("[data-testid='stFileUploader'] input[type='file']").set_input_files(str(SAMPLE))
            page.get_by_text("query=query, passage=passage, label=label").wait_for(timeout=60_000)
            page.get_by_text("Prepare options").wait_for(timeout=60_000)
            _settle(page)
            assert (isolated_home / "data" / "raw" / "uploads" / "pairs.csv").read_bytes() == SAMPLE.read_bytes()
            body = page.inner_text("body")
            assert "File kind" in body and "pairs" in body
            page.get_by_text("Mine hard negatives").click()
            _settle(page)
            page.get_by_role("button", name="Prepare").click()
            page.get_by_text("Rows read").first.wait_for(timeout=120_000)
            _settle(page)
            body = page.inner_text("body")
            assert "Prepared `data/pairs`" in body or "Prepared data/pairs" in body
            assert "prepared 'pairs'" in body and "472 read" in body
            _shot(page, "data")
            timings["data"] = time.monotonic() - t

            # Train: a tiny cross-encoder; the YAML before launch; the gate's verdict at the end
            t = time.monotonic()
            _open(page, url + "train", "Prepared dataset")
            assert page.get_by_role("button", name="Deploy").count() == 0  # a local tool: no Deploy toolbar
            page.get_by_text("parameters: 22.7M").first.wait_for(timeout=60_000)  # the run's size, before launch
            _select(page, "Task", "cross-encoder:bce")
            _number(page, "Max tokens", 64)
            _number(page, "Batch size", 8)
            _number(page, "Max steps (optional)", 4)
            page.get_by_text("General-domain check").click()
            _settle(page)
            code = page.locator("[data-testid='stCode']").first.inner_text()
            assert "task: cross-encoder:bce" in code and "max_steps: 4" in code and "max_seq_length: 64" in code
            page.get_by_role("button", name="Start training").click()
            page.get_by_text("Gate verdict:").first.wait_for(timeout=LONG)
            _settle(page)
            _shot(page, "train")
            body = page.inner_text("body")
            assert "Advice:" in body and "Traceback" not in body
            runs = [p for p in (isolated_home / "runs").iterdir() if (p / "status.json").exists()]
            assert len(runs) == 1
            status = json.loads((runs[0] / "status.json").read_text())
            assert status["state"] == "succeeded" and status["task"] == "cross-encoder:bce"
            assert status["gate"]["verdict"].upper().replace("_", " ") in body
            run_id = runs[0].name
            timings["train"] = time.monotonic() - t

            # Evaluate the run (and its base) on the held-out split
            t = time.monotonic()
            _open(page, url + "evaluate", "Runs or models")
            assert run_id in page.inner_text("body")
            page.get_by_role("button", name="Evaluate").click()
            page.get_by_text("Open the leaderboard").wait_for(timeout=LONG)
            _settle(page)
            _shot(page, "evaluate")
            metas = list((isolated_home / "results").rglob("autorerank/metadata.json"))
            names = {json.loads(m.read_text())["model_name"] for m in metas}
            assert f"autorerank/{run_id}" in names and len(names) == 2
            timings["evaluate"] = time.monotonic() - t

            # Leaderboard: the fine-tune and its base are there, with the gate's verdict
            _open(page, url + "overview", "Reranker leaderboard")
            page.locator("[data-testid='stDataFrame']").first.wait_for(timeout=60_000)
            page.wait_for_timeout(1500)
            _shot(page, "leaderboard")
            body = page.inner_text("body")
            assert "Fine-tunes that passed the gate" in body and "/ 1" in body
            _open(page, url + f"model?model=autorerank/{run_id}", "Training run")
            assert "Gate: " in page.inner_text("body")  # the drill-down shows the run's verdict

            # Playground: a held-out query ranked by the base and the fine-tune
            t = time.monotonic()
            _open(page, url + "playground", "Candidate passages")
            # the run's base, by its name: not the bundled model's site-packages folder
            expect(page.get_by_label("Base model", exact=True)).to_have_value("bundled (all-MiniLM-L6-v2)")
            page.get_by_role("button", name="Use this query").click()
            expect(page.get_by_label("Query", exact=True)).not_to_have_value("", timeout=30_000)
            _settle(page)
            page.get_by_role("button", name="Rank").click()
            page.get_by_text("Passages that moved").wait_for(timeout=180_000)
            _settle(page)
            _shot(page, "playground")
            assert "Traceback" not in page.inner_text("body")
            timings["playground"] = time.monotonic() - t
            timings["total"] = time.monotonic() - start
        finally:
            browser.close()
            (ARTIFACTS / "studio-timings.json").write_text(json.dumps(timings, indent=1))
    assert not errors, errors
    for name in ("data", "train", "evaluate", "leaderboard", "playground"):
        assert (ARTIFACTS / f"studio-{name}.png").stat().st_size > 20_000
