"""The gate as run by `train` and `merge` after they made a run (`wrapper.cli.gate.gate_flags` / `gate_after`).

Fast: the runs here cannot be gated (their dataset is gone), which is the branch
where the two commands differ from `autorerank gate` itself.
"""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest

from wrapper.cli.gate import gate_after, gate_flags
from wrapper.errors import InputError


def _ungateable_run(home: Path) -> Path:
    run = home / "runs" / "r1"
    run.mkdir(parents=True)
    status = {"run_id": "r1", "state": "succeeded", "dataset": str(home / "gone"), "model": str(run / "model")}
    (run / "status.json").write_text(json.dumps(status), encoding="utf-8")
    return run


def test_gate_flags_check_fail_on_before_any_work():
    assert gate_flags(False, (), False, None) == (set(), None)
    assert gate_flags(False, ("data/x",), False, "regressed") == ({"regressed"}, ["data/x"])
    assert gate_flags(True, (), True, None) == (set(), [])
    with pytest.raises(click.UsageError, match="--fail-on needs the gate"):
        gate_flags(True, (), False, "regressed")
    with pytest.raises(InputError, match="unknown verdict 'regresed'"):
        gate_flags(False, (), False, "regresed")


def test_gate_after_warns_when_it_cannot_run_and_raises_under_fail_on(isolated_home, capsys):
    run = _ungateable_run(isolated_home)
    gate_after(run, "r1", what="merge", runs=None, general=[], refuse=set())
    err = capsys.readouterr().err
    assert "gate:    not run:" in err and "is not there" in err and "(the merge is fine to use" in err
    with pytest.raises(InputError, match="is not there"):  # automation asked for a verdict: none is no pass
        gate_after(run, "r1", what="merge", runs=None, general=[], refuse={"regressed"})


@pytest.mark.parametrize("command", [["train", "missing.yml"], ["merge", "r1"]])
def test_fail_on_with_no_gate_is_refused_before_training_or_merging(run_cli, command):
    code, _, err = run_cli(*command, "--no-gate", "--fail-on", "regressed")
    assert code == 2 and "--fail-on needs the gate" in err
