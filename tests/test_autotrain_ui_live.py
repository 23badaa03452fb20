"""`autorerank ui` for real: the real AutoTrain 0.8.36 UI in its own environment, a real headless
Debian chromium filling the page's own form, and real (tiny) trainings.

Nothing is mocked; the Hub is simply absent on these machines, and the browser is made
air-gapped by refusing every request that is not to the local server.
"""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import sys
import threading
import time

import pytest
from test_autotrain_ui import (ARTIFACTS, AUTOTRAIN_ENV, CHROMIUM, CHROMIUM_ARGS, alive, get_json,
                               needs_autotrain, needs_chromium, port_refuses, write_triplets)

from wrapper import autotrain_ui as ui
from wrapper import procs
from wrapper.errors import RunFailed


# ---------------------------------------------------------------- slow: real AutoTrain


# Runs in the AutoTrain env: apply the launcher's patches to the real AutoTrain 0.8.36
# modules and talk to the patched app in-process (no server, no browser).
PATCHED_APP_PROBE = """
import importlib.util, json, os, sys
launcher = sys.argv[1]
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != os.path.dirname(launcher)]
spec = importlib.util.spec_from_file_location("autotrain_ui_offline", launcher)
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)
app = mod.apply_offline_patches(user="alice")
import autotrain.app.models as models, autotrain.app.params as params, autotrain.app.ui_routes as routes
from fastapi.testclient import TestClient
client = TestClient(app)
index = client.get("/ui/")
choices = client.get("/ui/model_choices/st:triplet")
css, js = client.get(mod.OFFLINE_CSS_PATH), client.get(mod.OFFLINE_JS_PATH)
def push(job):
    return params.AppParams(job_params_json=json.dumps(job), token="", project_name="p", username="alice",
                            task="st:triplet", data_path="/d", base_model="m", train_split="train",
                            column_mapping={"sentence1": "a", "sentence2": "b", "sentence3": "c"},
                            using_hub_dataset=True).munge().push_to_hub
pushes = [push({"epochs": 1}), push({"epochs": 1, "push_to_hub": True})]
again = mod.apply_offline_patches(user="alice")  # idempotent, even on an app that has served requests
index2 = TestClient(app).get("/ui/").text
mod.apply_offline_patches(user="alice", cpu=True, task="text-regression")  # `autorerank ui --dataset` on a CPU
reranker_page = TestClient(app).get("/ui/").text
text_reg = client.get("/ui/params/text-regression/basic").json()
print("RESULT", json.dumps({
    "index": index.status_code, "css_tag": mod.OFFLINE_CSS_TAG in index.text,
    "js_tag": mod.OFFLINE_JS_TAG in index.text, "remote_logo": mod.REMOTE_LOGO in index.text,
    "local_logo": "/static/logo.png" in index.text, "user_shown": ">alice<" in index.text,
    "choices": [choices.status_code, [m["id"] for m in choices.json()]],
    "css": [css.status_code, css.headers["content-type"].split(";")[0], css.text == mod.OFFLINE_CSS],
    "js": [js.status_code, js.text == mod.OFFLINE_JS],
    "push": pushes,
    "again": [again is app, sum(getattr(r, "path", None) == mod.OFFLINE_CSS_PATH for r in app.routes),
              index2.count(mod.OFFLINE_CSS_TAG), index2.count(mod.OFFLINE_JS_TAG), push({"push_to_hub": True})],
    "repo_exists": routes.repo_exists("alice/p"), "users": routes.get_user_and_orgs(user_token=None),
    "verified": routes.token_verification(token=None)["name"], "hub_models": list(models.list_models()),
    "reranker": ['data-autorerank-task="text-regression"' in reranker_page, text_reg["mixed_precision"]["default"],
                 "text-regression" in reranker_page],
}))
"""


@pytest.mark.slow
@needs_autotrain
def test_offline_patches_make_the_real_app_work_without_the_hub(tmp_path):
    """Beyond importing: each patch acts on the real AutoTrain app. The page answers 200
    without a token (it is 401 unpatched) and shows the local user, the model list holds
    only the custom models (no Hub listing), no Hub repo "exists", a job never pushes
    (AutoTrain's default is push_to_hub=True) and the page's CDN assets are replaced.
    Applying the patches twice is safe."""
    env = ui.child_env(offline=True, autotrain_env=AUTOTRAIN_ENV,
                       base={"PATH": "/usr/bin:/bin", "AUTOTRAIN_CUSTOM_MODELS": "/models/mine",
                             "HF_TOKEN": "hf_never_used"})
    proc = subprocess.run([str(AUTOTRAIN_ENV / "bin" / "python"), "-c", PATCHED_APP_PROBE, str(ui.LAUNCHER)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    line = next((l for l in proc.stdout.splitlines() if l.startswith("RESULT ")), None)
    assert proc.returncode == 0 and line, proc.stderr[-3000:]
    got = json.loads(line.removeprefix("RESULT "))
    assert got["index"] == 200 and got["user_shown"]
    assert got["css_tag"] and got["js_tag"] and not got["remote_logo"] and got["local_logo"]
    custom = [m for m in env["AUTOTRAIN_CUSTOM_MODELS"].split(",")]
    assert custom[0] == "/models/mine" and got["choices"] == [200, custom]
    assert got["css"] == [200, "text/css", True] and got["js"] == [200, True]
    assert got["push"] == [False, False]
    assert got["again"] == [True, 1, 1, 1, False]  # a second apply_offline_patches wraps nothing twice
    assert got["repo_exists"] is False and got["users"] == ["alice"] and got["verified"] == "alice"
    assert got["hub_models"] == []
    # ready for the reranker route: the page opens on Text Regression, its parameters train on a CPU
    assert got["reranker"] == [True, "none", True]


@pytest.mark.slow
@needs_autotrain
def test_unpatched_ui_dies_offline_and_we_say_so(tmp_path, monkeypatch):
    """`autotrain app` as is needs the Hub: it exits (code 0!) - start() must notice."""
    monkeypatch.setenv("HF_TOKEN", "hf_not_a_real_token")  # never sent: HF_HUB_OFFLINE=1
    with pytest.raises(RunFailed, match=r"exited \(code \d+\) before it answered[\s\S]*--offline"):
        ui.start(port=procs.free_port(), offline=False, workdir=tmp_path / "wd", ready_timeout=150)


@pytest.mark.slow
@needs_autotrain
def test_stop_reaches_the_server_autotrain_app_moves_to_its_own_session(tmp_path):
    """`autotrain app` starts uvicorn with setsid: killing our child's process group
    alone would leave uvicorn running. stop() must end the whole tree."""
    import os


    env_dir = AUTOTRAIN_ENV
    command = ui.build_command(host="127.0.0.1", port=procs.free_port(), offline=False, autotrain_env=env_dir)
    base = dict(os.environ, HF_TOKEN="hf_not_a_real_token")  # never sent: HF_HUB_OFFLINE=1
    log_path = tmp_path / "app.log"
    child = procs.Child(command, cwd=tmp_path, log=log_path,
                        env=ui.child_env(offline=False, autotrain_env=env_dir, base=base))
    server = ui.UIServer(child=child, url="", host="127.0.0.1", port=0, workdir=tmp_path,
                         log_path=log_path, offline=False)
    deadline = time.monotonic() + 120  # `autotrain app` takes 20-30 s to start uvicorn on a busy machine
    other_session = []
    while time.monotonic() < deadline and not other_session:
        other_session = [p for p in server.processes()[1:] if os.getsid(p.pid) != os.getsid(child.pid)]
        time.sleep(0.2)
    assert other_session, "expected autotrain app to start uvicorn in a new session"
    tree = server.processes()
    server.stop(grace=10)
    assert not alive(tree)
    assert not child.running()


@pytest.mark.slow
@needs_autotrain
@needs_chromium
def test_offline_ui_in_a_browser_trains_locally_and_never_pushes(tmp_path, bundled_model_path):
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    train_csv = write_triplets(tmp_path / "train.csv")
    port = procs.free_port()
    project = "ui-test-triplet"
    t0 = time.monotonic()
    server = ui.start(port=port, offline=True, workdir=tmp_path / "wd", ready_timeout=150)
    try:
        assert server.url == f"http://127.0.0.1:{port}/"
        assert server.log_path == tmp_path / "wd" / "autotrain.log"
        startup_s = time.monotonic() - t0

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            refused: list[str] = []

            def air_gap(route):  # the browser of an air-gapped user: only our server answers
                if route.request.url.startswith(server.url):
                    route.continue_()
                else:
                    refused.append(route.request.url)
                    route.abort()

            page.route("**/*", air_gap)
            page.goto(server.url)
            page.wait_for_selector("#task")
            page.wait_for_load_state("networkidle")  # the first task's params/models are in
            assert "ST Triplet" in page.locator("#task option").all_inner_texts()
            assert page.locator("#autotrain_user option").all_inner_texts() == ["local"]
            assert page.locator("#hardware").input_value() == "local-ui"

            page.select_option("#task", "st:triplet")
            page.wait_for_selector("#col_map_sentence3")
            page.wait_for_selector("#param_epochs")
            page.wait_for_load_state("networkidle")
            # offered, although the Hub list is empty (the list is fetched after the task changes)
            page.wait_for_function(
                "path => [...document.querySelectorAll('#base_model option')].some(o => o.value === path)",
                arg=str(bundled_model_path), timeout=30_000,
            )
            assert page.input_value("#col_map_sentence1") == "anchor"
            assert page.input_value("#col_map_sentence3") == "negative"

            # the offline stand-ins for the CDN styles/scripts make the page usable:
            # dialogs stay closed until asked for, the upload area opens on its tab
            assert page.locator("link[data-autorerank-offline]").count() == 1
            assert not page.is_visible("#confirmation-modal")
            assert not page.is_visible("#final-modal")
            page.click("#training-data-tab")
            assert page.is_visible("label[for=data_files_training]")
            assert page.locator("#start-training-button").bounding_box()["height"] < 100

            page.check("#base_model_checkbox")
            page.fill("#base_model_input", str(bundled_model_path))
            page.fill("#project_name", project)
            page.fill("#param_epochs", "1")
            page.set_input_files("#data_files_training", str(train_csv))
            shot = ARTIFACTS / "autotrain-ui.png"
            page.screenshot(path=str(shot))
            page.screenshot(path=str(ARTIFACTS / "autotrain-ui-full.png"), full_page=True)
            assert shot.stat().st_size > 10_000

            page.click("#start-training-button")
            assert page.is_visible("#confirmation-modal")
            page.screenshot(path=str(ARTIFACTS / "autotrain-ui-confirm.png"))
            page.click("#confirmation-modal .confirm")
            final = page.locator("#final-modal .text-center")
            page.wait_for_function(
                "['Success', 'Error'].some(w => document.querySelector('#final-modal .text-center')"
                ".innerText.includes(w))",
                timeout=90_000,
            )
            assert "Success" in final.inner_text(), final.inner_text()
            page.screenshot(path=str(ARTIFACTS / "autotrain-ui-submitted.png"))
            browser.close()
        # only CDN assets (styles, icons, logo) were refused: nothing the UI needs
        assert all(not u.startswith(server.url) for u in refused)

        out = server.workdir / project
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and not (out / "model.safetensors").exists():
            assert server.running(), ui.log_tail(server.log_path)
            time.sleep(1)
        assert (out / "model.safetensors").exists(), ui.log_tail(server.log_path)
        # the UI itself reports the job finished, and no training process is left
        while time.monotonic() < deadline and get_json(server.url + "ui/is_model_training")["model_training"]:
            time.sleep(1)
        while time.monotonic() < deadline and len(server.processes()) > 1:
            time.sleep(1)
        assert [p.pid for p in server.processes()] == [server.pid]

        params = json.loads((out / "training_params.json").read_text())
        assert params["push_to_hub"] is False
        assert params["trainer"] == "triplet" and params["model"] == str(bundled_model_path)
        assert not params.get("token")
        log = server.log_path.read_text(errors="replace")
        assert "Pushing model to hub" not in log
        assert "train has failed" not in log
        assert "patched for offline use" in log
        assert "eval_cosine_accuracy" in log

        from sentence_transformers import SentenceTransformer

        emb = SentenceTransformer(str(out), device="cpu").encode(["tell me about cats"])
        assert emb.shape == (1, 384)
        print(f"\nUI answered after {startup_s:.1f} s; model after {time.monotonic() - t0:.1f} s")
    finally:
        children = server.processes()
        code = server.stop()
    assert code == 0  # uvicorn shut down on SIGTERM
    assert port_refuses(port)
    assert not alive(children)


@pytest.mark.slow
@needs_autotrain
def test_offline_ui_trains_from_a_prepared_dataset_folder(tmp_path, bundled_model_path):
    """A prepared dataset (Contract 1: data/<name>/autotrain/{train,validation}.csv) is
    used in place, without upload: the page's "Hugging Face Hub" source takes a local
    folder. We send exactly the multipart request the page's own script sends."""
    import requests

    data = tmp_path / "data" / "tiny" / "autotrain"
    data.mkdir(parents=True)
    write_triplets(data / "train.csv", n=16)
    write_triplets(data / "validation.csv", n=6)
    port = procs.free_port()
    with ui.start(port=port, offline=True, workdir=tmp_path / "wd", ready_timeout=150) as server:
        form = {
            "project_name": "ui-prepared", "task": "st:triplet", "base_model": str(bundled_model_path),
            "hardware": "local-ui", "autotrain_user": "local",
            "params": json.dumps({"epochs": "1", "batch_size": "8", "mixed_precision": "none"}),
            "column_mapping": json.dumps({"sentence1": "anchor", "sentence2": "positive", "sentence3": "negative"}),
            "hub_dataset": str(data), "train_split": "train", "valid_split": "validation",
        }
        response = requests.post(server.url + "ui/create_project", data=form, timeout=60)
        assert response.status_code == 200, response.text
        assert response.json()["success"] == "true"
        busy = requests.post(server.url + "ui/create_project", data=form, timeout=60)
        assert busy.status_code == 409  # AutoTrain's own one-job-at-a-time guard still works

        out = server.workdir / "ui-prepared"
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and not (out / "model.safetensors").exists():
            assert server.running(), ui.log_tail(server.log_path)
            time.sleep(1)
        assert (out / "model.safetensors").exists(), ui.log_tail(server.log_path)
        params = json.loads((out / "training_params.json").read_text())
        assert params["push_to_hub"] is False and params["data_path"] == str(data)
        assert params["valid_split"] == "validation"
        log = server.log_path.read_text(errors="replace")
        assert "num_rows: 16" in log and "num_rows: 6" in log  # both splits, read in place
        assert "Pushing model to hub" not in log
    assert port_refuses(port)


@pytest.mark.slow
@needs_autotrain
def test_cli_prints_url_and_ctrl_c_stops_everything(tmp_path):
    port = procs.free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "wrapper", "ui", "--port", str(port), "--workdir", str(tmp_path / "wd"),
         "--offline", "--timeout", "150"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        # a shell's background jobs ignore SIGINT and children inherit that: undo it,
        # as in an interactive terminal where Ctrl-C reaches the command
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(l) for l in proc.stdout], daemon=True).start()
    children: list = []
    try:
        first = lines.get(timeout=170)
        assert f"http://127.0.0.1:{port}/" in first and "offline (--offline)" in first
        assert get_json(f"http://127.0.0.1:{port}/ui/is_model_training") == {"model_training": False, "pids": []}

        import psutil

        children = psutil.Process(proc.pid).children(recursive=True)
        assert children, "the UI server should be a child of the CLI"
        proc.send_signal(signal.SIGINT)  # what Ctrl-C sends
        code = proc.wait(timeout=40)
        err = proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
        for child in alive(children):  # never leave a server behind a failed test
            child.kill()
    assert code == 0, err
    assert "stopped" in err and "Traceback" not in err
    assert port_refuses(port)
    assert not alive(children)
