"""Distillation from teacher scores for the cross-encoder backend (`params.distill`).

`prepare` keeps a teacher score (a logit, see `wrapper.prepare.teacher`) for every
training (query, positive) and (query, negative) in `flagembedding/train.jsonl`
(`pos_scores` / `neg_scores`). With `distill: kl` or `distill: margin-mse`, each
training row (query, positive, negative_1..k) carries its teacher scores as its
label, and the loss is

    label_weight * (the task's label loss: multiple-negatives ranking)
    + distill_weight * (the distillation term over the positive and its k negatives)

- `kl`: listwise cross-entropy between the teacher's softmax(t / T) and the
  student's log-softmax(s / T) over a row's candidates (KL up to the teacher's
  entropy, a constant): what FlagEmbedding's `--knowledge_distillation` adds.
- `margin-mse`: mean squared error between the student's margins s_pos - s_neg_i
  and the teacher's t_pos - t_neg_i (Hofstaetter et al., 2020).

A candidate without a teacher score (a negative borrowed from another query to
fill a short row) is left out of the distillation term (its label is NaN).
The label loss is sentence-transformers' `MultipleNegativesRankingLoss`; its
logits are computed once and shared by both terms.
"""

from __future__ import annotations

from typing import Any

DISTILL_MODES = ("kl", "margin-mse")


def distill_term(student, teacher, mode: str, temperature: float = 1.0):
    """The distillation loss of student logits vs teacher scores, both (batch, 1 + k); NaN = no teacher score."""
    import torch

    known = ~torch.isnan(teacher)
    rows = known[:, 0] & (known[:, 1:].sum(dim=1) > 0)  # a positive and at least one negative scored
    if not rows.any():
        return student.sum() * 0.0
    student, teacher, known = student[rows].float(), teacher[rows].float(), known[rows]
    if mode == "kl":
        t = torch.where(known, teacher / temperature, torch.full_like(teacher, -torch.inf))
        s = torch.where(known, student / temperature, torch.full_like(student, -torch.inf))
        target = torch.softmax(t, dim=1)
        log_p = torch.log_softmax(s, dim=1)
        return -(target * torch.where(known, log_p, torch.zeros_like(log_p))).sum(dim=1).mean()
    if mode == "margin-mse":
        s_margin = student[:, :1] - student[:, 1:]
        t_margin = teacher[:, :1] - teacher[:, 1:]
        mask = known[:, 1:]
        return ((s_margin - torch.nan_to_num(t_margin)) ** 2)[mask].mean()
    raise ValueError(f"unknown distillation mode {mode!r}; expected one of {', '.join(DISTILL_MODES)}")


def make_distill_loss(model, *, num_negatives: int, mode: str, label_weight: float = 1.0,
                      distill_weight: float = 1.0, temperature: float = 1.0):
    """A loss over (query, positive, negative_1..k) rows whose label is the teacher scores [t_pos, t_neg_1..k]."""
    from sentence_transformers.cross_encoder.losses import MultipleNegativesRankingLoss

    if mode not in DISTILL_MODES:
        raise ValueError(f"unknown distillation mode {mode!r}; expected one of {', '.join(DISTILL_MODES)}")

    class TeacherDistillLoss(MultipleNegativesRankingLoss):
        def forward(self, inputs: list[list[str]], labels: Any, prompt: str | None = None,
                    task: str | None = None):
            import torch

            anchors, positives, hard = inputs[0], inputs[1], inputs[2:]
            batch = len(anchors)
            teacher = torch.stack(list(labels)) if isinstance(labels, (list, tuple)) else labels
            teacher = teacher.to(self.model.device).reshape(batch, 1 + len(hard))

            def logits(candidates):
                return self.call_model_with_columns(anchors, candidates, prompt=prompt, task=task)

            pos = logits(positives)
            hard_logits = [logits(neg) for neg in hard]
            own = torch.stack([pos, *hard_logits], dim=1)  # (batch, 1 + k) raw logits
            loss = distill_weight * distill_term(own, teacher, mode, temperature)
            if label_weight > 0:
                in_batch = [logits(neg) for neg in self.get_in_batch_negatives(anchors, inputs[1:])]
                loss = loss + label_weight * self.calculate_loss([pos, *in_batch, *hard_logits], batch)
            return loss

        def get_config_dict(self) -> dict[str, Any]:
            return {**super().get_config_dict(), "distill": mode, "label_weight": label_weight,
                    "distill_weight": distill_weight, "temperature": temperature}

    return TeacherDistillLoss(model, num_negatives=num_negatives)
