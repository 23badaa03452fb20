"""`autorerank ui` (`wrapper.autotrain_ui`): the pieces of AutoTrain's web UI, checked fast.

The argv, the child environment, port and env errors, the launcher's import contract.
`test_autotrain_ui_live.py` runs the real AutoTrain UI (and a browser) with the helpers here.
"""

from __future__ import annotations

import ast
import csv
import json
import socket
import sys
import urllib.request
from pathlib import Path

import pytest

from wrapper.errors import InputError
from wrapper import autotrain_ui as ui

REPO_ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO_ROOT / "artifacts"
AUTOTRAIN_ENV = REPO_ROOT / ".venv-autotrain"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]

needs_autotrain = pytest.mark.skipif(
    not (AUTOTRAIN_ENV / "bin" / "autotrain").exists(),
    reason=f"AutoTrain env not found at {AUTOTRAIN_ENV} (run `make setup`)",
)
needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="Debian chromium is not installed at /usr/bin/chromium "
    "(run `scripts/setup.sh --browser` or `apt-get install chromium`)",
)


def port_refuses(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def get_json(url: str):
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def alive(processes) -> list:
    import psutil

    out = []
    for proc in processes:
        try:
            if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                out.append(proc)
        except psutil.Error:
            pass
    return out


def fake_env(tmp_path: Path) -> Path:
    """An env folder with the two executables build_command looks for (never run)."""
    env = tmp_path / "at-env"
    (env / "bin").mkdir(parents=True)
    for name in ("python", "autotrain"):
        (env / "bin" / name).write_text("")
    return env


def write_triplets(path: Path, n: int = 24) -> Path:
    topics = ["cats", "rain", "coffee", "chess", "piano", "rivers", "bread", "trains"]
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["anchor", "positive", "negative"])
        for i in range(n):
            t, o = topics[i % len(topics)], topics[(i + 3) % len(topics)]
            w.writerow([f"tell me about {t} ({i})", f"A short text about {t}, item {i}.",
                        f"A short text about {o}, item {i}."])
    return path


# ---------------------------------------------------------------- fast


def test_offline_command_runs_the_launcher_with_autotrain_python(tmp_path):
    env = fake_env(tmp_path)
    argv = ui.build_command(host="127.0.0.1", port=9001, offline=True, autotrain_env=env)
    assert argv[0] == str(env / "bin" / "python")
    assert Path(argv[1]) == ui.LAUNCHER and ui.LAUNCHER.exists()
    assert argv[2:] == ["--host", "127.0.0.1", "--port", "9001", "--user", "local"]


def test_online_command_is_autotrain_app_as_is(tmp_path):
    env = fake_env(tmp_path)
    argv = ui.build_command(host="0.0.0.0", port=8080, offline=False, autotrain_env=env)
    assert argv == [str(env / "bin" / "autotrain"), "app", "--host", "0.0.0.0", "--port", "8080"]


def test_missing_autotrain_env_says_how_to_fix(tmp_path):
    with pytest.raises(InputError, match=r"no `python` executable[\s\S]*make setup"):
        ui.build_command(host="127.0.0.1", port=8080, offline=True, autotrain_env=tmp_path / "nope")


def test_offline_child_env_has_no_token_and_autotrain_first(tmp_path):
    env_dir = fake_env(tmp_path)
    base = {"PATH": "/usr/bin", "HF_TOKEN": "hf_not_a_real_token", "HUGGING_FACE_HUB_TOKEN": "x",
            "PYTHONPATH": "/somewhere"}
    env = ui.child_env(offline=True, autotrain_env=env_dir, base=base)
    assert "HF_TOKEN" not in env and "HUGGING_FACE_HUB_TOKEN" not in env
    assert env["PATH"].split(":")[0] == str(env_dir / "bin")
    assert env["HF_HUB_OFFLINE"] == "1" and env["HF_DATASETS_OFFLINE"] == "1"
    assert "PYTHONPATH" not in env
    # the bundled model is offered in the UI's model list
    from wrapper.settings import bundled_model_path

    assert str(bundled_model_path()) in env["AUTOTRAIN_CUSTOM_MODELS"].split(",")
    assert base["HF_TOKEN"] == "hf_not_a_real_token"  # caller's mapping untouched


def test_online_child_env_keeps_the_token_for_autotrain(tmp_path):
    env = ui.child_env(offline=False, autotrain_env=fake_env(tmp_path),
                       base={"PATH": "/usr/bin", "HF_TOKEN": "hf_x", "AUTOTRAIN_CUSTOM_MODELS": "org/m"})
    assert env["HF_TOKEN"] == "hf_x"
    assert "HF_HUB_OFFLINE" not in env
    assert env["AUTOTRAIN_CUSTOM_MODELS"].split(",")[0] == "org/m"


@pytest.mark.parametrize(
    "host, expected",
    [("127.0.0.1", "http://127.0.0.1:8080/"), ("0.0.0.0", "http://127.0.0.1:8080/"),
     ("::", "http://[::1]:8080/"), ("localhost", "http://localhost:8080/")],
)
def test_url_reaches_the_bound_host(host, expected):
    assert ui.url_for(host, 8080) == expected


def test_busy_port_is_an_input_error_before_anything_starts(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(InputError, match=rf"--port {port}[\s\S]*--port {port + 1}"):
            ui.start(port=port, offline=True, autotrain_env=fake_env(tmp_path), workdir=tmp_path / "wd")
    assert not (tmp_path / "wd").exists()


def test_bad_port_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="not a TCP port"):
        ui.start(port=70000, offline=True, autotrain_env=fake_env(tmp_path))


def test_mode_needs_a_token_to_go_online(monkeypatch):
    assert ui.decide_mode(True, {"HF_TOKEN": "hf_x"}) == (True, "--offline")
    assert ui.decide_mode(None, {}) == (True, "no HF_TOKEN")
    # conftest sets HF_HUB_OFFLINE=1, so hub_reachable() is False without any network
    assert ui.decide_mode(None, {"HF_TOKEN": "hf_x"}) == (True, "Hugging Face Hub unreachable")
    assert ui.decide_mode(False, {"HF_TOKEN": "hf_x"}) == (False, "--online")
    with pytest.raises(InputError, match=r"HF_TOKEN: not set[\s\S]*--offline"):
        ui.decide_mode(False, {})


def test_default_workdir_is_under_runs(isolated_home):
    assert ui.default_workdir() == isolated_home / "runs" / "ui"


def test_cli_help_and_busy_port_exit_code(run_cli):
    code, out, _ = run_cli("ui", "--help")
    assert code == 0
    for flag in ("--host", "--port", "--workdir", "--offline / --online", "--timeout"):
        assert flag in out
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, out, err = run_cli("ui", "--port", port, "--offline")
    assert code == 2
    assert f"--port {port}" in err and "Traceback" not in err


def test_launcher_imports_only_stdlib_and_autotrain():
    """It runs inside the AutoTrain env, where `wrapper` and our deps do not exist."""
    tree = ast.parse(ui.LAUNCHER.read_text())
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            roots.add((node.module or "").split(".")[0])
    third_party = roots - set(sys.stdlib_module_names) - {"__future__"}
    assert "wrapper" not in roots
    # autotrain and what autotrain itself depends on (its web stack; torch, to tell a CPU from a GPU)
    assert third_party <= {"autotrain", "uvicorn", "fastapi", "starlette", "torch"}, third_party
    site = next(AUTOTRAIN_ENV.glob("lib/python3*/site-packages"), None)
    if site is not None:
        assert all((site / name).is_dir() for name in third_party)


def test_offline_styles_are_added_once_even_to_an_app_that_has_served():
    """The core of apply_offline_patches' idempotence, on a plain FastAPI app (no AutoTrain): a second
    call neither registers the routes again nor adds middleware (Starlette refuses that once started)."""
    from fastapi import FastAPI
    from fastapi.responses import HTMLResponse
    from fastapi.testclient import TestClient

    from wrapper.autotrain_ui import offline

    app = FastAPI()

    @app.get("/", response_class=HTMLResponse)
    def index():
        return "<html><head></head><body>page</body></html>"

    offline.add_offline_styles(app)
    assert TestClient(app).get("/").text.count(offline.OFFLINE_CSS_TAG) == 1
    offline.add_offline_styles(app)  # again, on an app that has started
    page = TestClient(app).get("/").text
    assert page.count(offline.OFFLINE_CSS_TAG) == 1 and page.count(offline.OFFLINE_JS_TAG) == 1
    assert [getattr(r, "path", None) for r in app.routes].count(offline.OFFLINE_CSS_PATH) == 1
    assert len(app.user_middleware) == 1
    # the task the page opens on, asked for by `autorerank ui --dataset`; a later call may change it
    offline.add_offline_styles(app, task="text-regression")
    assert '<html data-autorerank-task="text-regression">' in TestClient(app).get("/").text


def test_cpu_parameters_never_ask_for_fp16():
    """AutoTrain's UI defaults every task to fp16, which fails without a CUDA GPU."""
    from wrapper.autotrain_ui import offline

    assert offline.cpu_safe({"mixed_precision": "fp16", "lr": 5e-5}) == {"mixed_precision": "none", "lr": 5e-5}
    assert offline.cpu_safe({"mixed_precision": "none"}) == {"mixed_precision": "none"}
    assert offline.cpu_safe({"epochs": 1}) == {"epochs": 1}


def test_offline_command_opens_the_page_on_a_task(tmp_path):
    env_dir = fake_env(tmp_path)
    argv = ui.build_command(host="127.0.0.1", port=8080, offline=True, autotrain_env=env_dir, task="text-regression")
    assert argv[-2:] == ["--task", "text-regression"]
    env = ui.child_env(offline=True, autotrain_env=env_dir, base={"PATH": "/usr/bin"}, models=["BAAI/bge-reranker-base"])
    assert env["AUTOTRAIN_CUSTOM_MODELS"].split(",")[0] == "BAAI/bge-reranker-base"


def test_dataset_pairs_for_the_text_regression_task(isolated_home):
    """`autorerank ui --dataset`: the Text Regression task's upload files, made the way `train` makes them."""
    import csv

    from conftest import write_tiny_dataset

    dataset = write_tiny_dataset(Path("data/tiny"), n_queries=12, negatives=2, val_queries=4)
    folder, summary = ui.reranker_pairs(dataset, "bundled", isolated_home / "ui")
    assert folder == isolated_home / "ui" / "pairs" / "tiny"
    with open(folder / "train.csv", encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 8 * 3 and set(rows[0]) == {"text", "target"}  # 8 queries x (1 positive + 2 negatives)
    # the bundled model is no reranker: a fresh head gets 0/1 targets; its separator is BERT's [SEP]
    assert {r["target"] for r in rows} == {"1", "0"} and summary["targets"] == "binary"
    assert all(r["text"].count("[SEP]") == 1 for r in rows) and "token types" in summary["note"]
    assert (folder / "validation.csv").is_file()
