"""Distillation from teacher scores in the cross-encoder backend (wrapper/train/distill.py).

The loss terms are checked on hand-made logits (fast); a tiny real run on the
bundled all-MiniLM-L6-v2, with teacher scores computed by the bundled bi-encoder,
must learn (loss goes down, scores spread, positives ranked first) - marked slow.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest

from conftest import write_tiny_dataset
from wrapper.errors import InputError
from wrapper.train.cross_encoder import build_train_rows, check_distillation

torch = pytest.importorskip("torch")


def test_kl_is_smallest_when_the_student_ranks_like_the_teacher():
    from wrapper.train.distill import distill_term

    teacher = torch.tensor([[4.0, 1.0, 0.0, -2.0]])
    same = distill_term(teacher.clone(), teacher, "kl")
    flat = distill_term(torch.zeros_like(teacher), teacher, "kl")
    reversed_ = distill_term(teacher.flip(1), teacher, "kl")
    assert same < flat < reversed_
    # cross-entropy to the teacher's softmax: at the optimum it equals the teacher's entropy
    p = torch.softmax(teacher, dim=1)
    assert float(same) == pytest.approx(float(-(p * p.log()).sum()), rel=1e-5)
    # a temperature flattens the target: a higher entropy at the optimum
    hot = torch.softmax(teacher / 4.0, dim=1)
    assert float(distill_term(teacher, teacher, "kl", temperature=4.0)) == pytest.approx(
        float(-(hot * hot.log()).sum()), rel=1e-5)
    assert distill_term(teacher, teacher, "kl", temperature=4.0) > same


def test_margin_mse_is_zero_for_equal_margins_whatever_the_offset():
    from wrapper.train.distill import distill_term

    teacher = torch.tensor([[9.0, 7.0, 8.5], [3.0, 1.0, 2.0]])
    assert float(distill_term(teacher - 5.0, teacher, "margin-mse")) == pytest.approx(0.0, abs=1e-7)
    student = torch.tensor([[1.0, 1.0, 1.0], [0.0, 0.0, 0.0]])  # margins 0 vs (2, 0.5) and (2, 1)
    assert float(distill_term(student, teacher, "margin-mse")) == pytest.approx((4 + 0.25 + 4 + 1) / 4)


def test_candidates_without_a_teacher_score_are_left_out():
    from wrapper.train.distill import distill_term

    nan = math.nan
    teacher = torch.tensor([[5.0, 1.0, nan]])
    student = torch.tensor([[2.0, 0.0, 100.0]], requires_grad=True)
    for mode in ("kl", "margin-mse"):
        loss = distill_term(student, teacher, mode)
        assert torch.isfinite(loss)
        loss.backward()
        assert float(student.grad[0, 2]) == 0.0 and float(student.grad[0, 0]) != 0.0
        student.grad = None
    assert float(distill_term(student, teacher, "kl")) == pytest.approx(
        float(distill_term(student[:, :2], teacher[:, :2], "kl")))
    # a row without a scored positive adds nothing (and no NaN)
    none = distill_term(student, torch.tensor([[nan, 1.0, 2.0]]), "kl")
    assert float(none) == 0.0


def test_unknown_mode_is_refused():
    from wrapper.train.distill import distill_term

    with pytest.raises(ValueError, match="margin-mse"):
        distill_term(torch.zeros(1, 2), torch.zeros(1, 2), "mse")


def test_mnrl_rows_carry_aligned_teacher_scores_and_nan_for_borrowed_negatives():
    records = [
        {"query": "q1", "pos": ["p1", "p1b"], "neg": ["n1", "n2"], "pos_scores": [9.0, 8.0], "neg_scores": [3.0, 2.0]},
        {"query": "q2", "pos": ["p2"], "neg": ["m1", "m2"], "pos_scores": [7.0], "neg_scores": [1.0, 0.5]},
        {"query": "q3", "pos": ["p3"], "neg": ["k1", "k2"], "pos_scores": [6.0], "neg_scores": [4.0, 5.0]},
        {"query": "q4", "pos": ["p4"], "neg": ["j1"], "pos_scores": [6.5], "neg_scores": [0.0]},
    ]
    cols = build_train_rows(records, "mnrl", 2, teacher=True)
    assert list(cols) == ["query", "positive", "negative_1", "negative_2", "label"]
    by_pos = {p: (n1, n2, lab) for p, n1, n2, lab in
              zip(cols["positive"], cols["negative_1"], cols["negative_2"], cols["label"])}
    assert by_pos["p1"] == ("n1", "n2", [9.0, 3.0, 2.0])
    assert by_pos["p1b"] == ("n1", "n2", [8.0, 3.0, 2.0])
    assert by_pos["p3"] == ("k1", "k2", [6.0, 4.0, 5.0])
    n1, n2, lab = by_pos["p4"]  # one own negative, one borrowed from another query (no teacher score)
    assert n1 == "j1" and lab[:2] == [6.5, 0.0] and math.isnan(lab[2])
    assert "label" not in build_train_rows(records, "mnrl", 2)


def test_distillation_needs_mnrl_and_scores(tmp_path):
    train_file = tmp_path / "train.jsonl"
    scored = [{"query": "q", "pos": ["p"], "neg": ["n"], "pos_scores": [1.0], "neg_scores": [0.0]}]
    check_distillation("mnrl", scored, train_file)
    with pytest.raises(InputError, match="cross-encoder:mnrl"):
        check_distillation("bce", scored, train_file)
    with pytest.raises(InputError, match=r"(?s)train.jsonl, line 2: no teacher scores.*--teacher"):
        check_distillation("mnrl", scored + [{"query": "q2", "pos": ["p"], "neg": ["n"]}], train_file)


@pytest.mark.slow
def test_a_tiny_distillation_run_learns(isolated_home, bundled_model_path):
    """Distillation alone (no label loss) from the bundled bi-encoder's scores: the student learns to rank."""
    from sentence_transformers import CrossEncoder, SentenceTransformer

    from wrapper.config import render_config
    from wrapper.jsonio import read_json, read_jsonl
    from wrapper.prepare.teacher import score_pairs
    from wrapper.train import train_run

    root = write_tiny_dataset(Path("data") / "tiny", n_queries=40, negatives=3)
    train_file = root / "flagembedding" / "train.jsonl"
    records = [json.loads(line) for line in train_file.read_text().splitlines()]
    teacher = SentenceTransformer(str(bundled_model_path), device="cpu")
    for r in records:
        scores = score_pairs(teacher, "bi-encoder", [(r["query"], p) for p in r["pos"] + r["neg"]])
        r["pos_scores"], r["neg_scores"] = scores[:len(r["pos"])], scores[len(r["pos"]):]
    train_file.write_text("".join(json.dumps(r) + "\n" for r in records))

    config = render_config(root, base_model="bundled", name="tiny-distill", task="cross-encoder:mnrl",
                           max_steps=24, batch_size=4, max_seq_length=48, num_negatives=3, lr=1e-4,
                           logging_steps=4, eval_steps=12, distill="kl", label_weight=0.0)
    result = train_run(config, run_id="distill", progress=False)
    status = result.status
    assert status["state"] == "succeeded", status.get("cause")
    losses = [m["loss"] for m in read_jsonl(Path(os.environ["AUTORERANK_RUNS"]) / "distill" / "metrics.jsonl")
              if "loss" in m]
    assert len(losses) >= 4 and sum(losses[-2:]) / 2 < sum(losses[:2]) / 2  # the loss went down
    summary = read_json(Path(status["model"]) / "autorerank_training.json")
    assert summary["params"]["distill"] == "kl"

    model = CrossEncoder(status["model"], device="cpu")
    val = [json.loads(line) for line in (root / "eval" / "validation.jsonl").read_text().splitlines()]
    firsts, spread = 0, []
    for r in val:
        s = model.predict([(r["query"], d) for d in r["positive"] + r["negative"]])
        spread.append(float(max(s) - min(s)))
        firsts += int(s.argmax() == 0)
    assert min(spread) > 0.01  # not collapsed to a constant
    assert firsts >= len(val) * 3 // 4  # the positive comes first for most held-out queries
