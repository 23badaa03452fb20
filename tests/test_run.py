"""`Run`: one object per run folder, whatever folder the command runs in.

Runs written before train recorded absolute paths hold relative ones (`data/x`, `models/base`,
the model as `<project_name>`); `Run` resolves them against the project that held `runs/`, so a
command started elsewhere finds the same files. Hub ids are never mistaken for folders.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from wrapper.errors import InputError
from wrapper.run import Run


def _old_run(project: Path, **status) -> Path:
    """A run folder as an older version of train wrote it: paths relative to the project."""
    folder = project / "runs" / "old-run"
    (folder / "old-run").mkdir(parents=True)
    (project / "models" / "base").mkdir(parents=True)
    (project / "data" / "x").mkdir(parents=True)
    record = {"run_id": "old-run", "state": "succeeded", "backend": "cross-encoder", "task": "cross-encoder:bce",
              "base_model": "models/base", "dataset": "data/x", "model": "old-run",
              "project_dir": str(project), **status}
    (folder / "status.json").write_text(json.dumps(record))
    return folder


def test_relative_paths_of_an_old_run_resolve_against_its_project_from_any_folder(tmp_path, monkeypatch):
    project = tmp_path / "project"
    folder = _old_run(project)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    run = Run.open(folder)
    assert run.base_model == str(project / "models" / "base")
    assert run.dataset_root == project / "data" / "x"
    assert run.model_dir == folder / "old-run"  # the model folder recorded by its project name
    assert run.require_model() == folder / "old-run"


def test_a_hub_id_stays_a_hub_id_unless_the_project_held_a_folder_of_that_name(tmp_path, monkeypatch):
    project = tmp_path / "project"
    folder = _old_run(project, base_model="BAAI/bge-reranker-base")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "BAAI" / "bge-reranker-base").mkdir(parents=True)  # here, not in the run's project
    assert Run.open(folder).base_model == "BAAI/bge-reranker-base"
    (project / "BAAI" / "bge-reranker-base").mkdir(parents=True)  # transformers loaded this folder there
    assert Run.open(folder).base_model == str(project / "BAAI" / "bge-reranker-base")


def test_a_run_id_is_found_under_the_runs_folder_and_a_bad_one_is_named(tmp_path, monkeypatch):
    project = tmp_path / "project"
    _old_run(project)
    monkeypatch.chdir(tmp_path)
    assert Run.open("old-run", runs=project / "runs").dir == project / "runs" / "old-run"
    with pytest.raises(InputError, match="not a run: no such run folder"):
        Run.open("no-such-run", runs=project / "runs")


def test_a_moved_model_folder_is_a_clear_error_naming_status_json(tmp_path):
    folder = _old_run(tmp_path / "project")
    os.rename(folder / "old-run", folder / "moved")
    with pytest.raises(InputError, match="status.json(.|\n)*does not exist"):
        Run.open(folder).require_model()
