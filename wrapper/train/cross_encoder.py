"""The cross-encoder backend: a sentence-transformers `CrossEncoder` fine-tuned as a reranker.

AutoTrain's `st:triplet` trains a bi-encoder; this trains the reranker the product
promises. It is a child-process entry point (supervised like AutoTrain)::

    python -m wrapper.train.cross_encoder --config runs/<id>/config.yml --output runs/<id>/model

Losses (`task: cross-encoder:<loss>`):
- `bce`      binary cross-entropy over (query, passage) pairs: positives 1, mined negatives 0
- `mnrl`     multiple-negatives ranking over (query, positive, negative_1..k) tuples
- `listwise` ListNet over (query, [positives + negatives]) lists

`params.distill` (`kl` or `margin-mse`, mnrl only) adds a distillation term on the
teacher scores `prepare` kept (`pos_scores`/`neg_scores`, see wrapper/train/distill.py),
mixed with the label loss by `label_weight` / `distill_weight`.

Training data is the prepared dataset's `flagembedding/train.jsonl` (`data.path` is the
dataset folder; the backend asks `wrapper.dataset.Dataset` for the file); evaluation is `CrossEncoderRerankingEvaluator` on `eval/<valid_split>.jsonl`
during training, and the best checkpoint by MAP is what ends up in `--output`
(with a model card). Progress is printed as `AUTORERANK_*` lines on stdout,
which `wrapper.train.autotrain.LogParser` reads.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from wrapper.dataset import read_jsonl
from wrapper.train.logparse import METRIC_PREFIX, TOTAL_PREFIX

EVAL_NAME = "validation"
#: `AUTORERANK_LOG_BATCHES=1`: every process prints the dataset rows of its first batch after this
BATCH_PREFIX = "AUTORERANK_FIRST_BATCH "
BEST_METRIC = f"eval_{EVAL_NAME}_map"


def _texts(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value.strip() else []
    return [v for v in value if isinstance(v, str) and v.strip()]


def _scored(record: dict, key: str) -> dict[str, float]:
    """text -> teacher score for `record[key]` ("pos"/"neg") from its `<key>_scores` list."""
    texts, scores = record.get(key), record.get(f"{key}_scores")
    if isinstance(texts, str):
        texts, scores = [texts], [scores] if not isinstance(scores, list) else scores
    if not isinstance(texts, list) or not isinstance(scores, list) or len(scores) != len(texts):
        return {}
    return {t: float(s) for t, s in zip(texts, scores) if isinstance(t, str) and isinstance(s, (int, float))}


def build_train_rows(records: list[dict], loss: str, num_negatives: int, *,
                     teacher: bool = False) -> dict[str, list]:
    """Columns of the training dataset for `loss` from flagembedding records {query, pos, neg}.

    With `teacher` (mnrl only), a `label` column holds each row's teacher scores
    [t_positive, t_negative_1..k] from `pos_scores`/`neg_scores` (NaN for a
    negative borrowed from another query).
    """
    if loss == "bce":
        q, p, labels = [], [], []
        for r in records:
            for pos in _texts(r.get("pos")):
                q.append(r["query"]), p.append(pos), labels.append(1.0)
            for neg in _texts(r.get("neg"))[:num_negatives]:
                q.append(r["query"]), p.append(neg), labels.append(0.0)
        return {"query": q, "passage": p, "label": labels}
    if loss == "mnrl":
        # Every row needs the same number k of negatives. k is the largest value <= num_negatives
        # that at least 3/4 of the queries have; shorter lists are topped up with passages of
        # other queries (easy but true negatives), chosen deterministically.
        usable = [r for r in records if _texts(r.get("pos"))]
        counts = sorted(len(_texts(r.get("neg"))) for r in usable)
        k = min(num_negatives, counts[len(counts) // 4]) if counts else 0
        pool = [p for r in usable for p in _texts(r.get("pos"))]
        columns: dict[str, list] = {"query": [], "positive": []}
        for i in range(k):
            columns[f"negative_{i + 1}"] = []
        if teacher:
            columns["label"] = []
        for n, r in enumerate(usable):
            pos_texts = _texts(r.get("pos"))
            negs = _texts(r.get("neg"))[:k]
            j = n
            while len(negs) < k and len(pool) > len(pos_texts):
                j += 7
                candidate = pool[j % len(pool)]
                if candidate not in pos_texts and candidate not in negs:
                    negs.append(candidate)
            if len(negs) < k:
                continue
            pos_scores, neg_scores = (_scored(r, "pos"), _scored(r, "neg")) if teacher else ({}, {})
            for pos in pos_texts:
                columns["query"].append(r["query"])
                columns["positive"].append(pos)
                for i in range(k):
                    columns[f"negative_{i + 1}"].append(negs[i])
                if teacher:
                    columns["label"].append([pos_scores.get(pos, math.nan)]
                                            + [neg_scores.get(n, math.nan) for n in negs])
        return columns
    if loss == "listwise":
        q, docs, labels = [], [], []
        for r in records:
            pos, neg = _texts(r.get("pos")), _texts(r.get("neg"))[:num_negatives]
            if not pos:
                continue
            q.append(r["query"])
            docs.append(pos + neg)
            labels.append([1.0] * len(pos) + [0.0] * len(neg))
        return {"query": q, "docs": docs, "labels": labels}
    raise ValueError(f"unknown loss {loss!r}")


def check_distillation(loss: str, records: list[dict], train_file: Path) -> None:
    """`distill` needs the mnrl row layout and teacher scores in every record; InputError otherwise."""
    from wrapper.errors import InputError

    if loss != "mnrl":
        raise InputError.at("params.distill", f"distillation works with cross-encoder:mnrl, not cross-encoder:{loss}",
                            hint="render the config with --task cross-encoder:mnrl, or set distill: none")
    for lineno, record in enumerate(records, 1):
        if not isinstance(record.get("pos_scores"), list) or not isinstance(record.get("neg_scores"), list):
            raise InputError.at(train_file, "no teacher scores (pos_scores/neg_scores) for params.distill",
                                line=lineno, hint="prepare the dataset again with mining on (the miner's scores "
                                "are kept) or with --teacher MODEL; or set distill: none")


def make_loss(loss: str, model, num_negatives: int, *, params: Any = None):
    """The loss for `loss`; with `params` (a CrossEncoderParams whose distill is on) the distillation loss."""
    from sentence_transformers.cross_encoder import losses

    if params is not None:
        from wrapper.train.distill import make_distill_loss

        return make_distill_loss(model, num_negatives=num_negatives, mode=params.distill,
                                 label_weight=params.label_weight, distill_weight=params.distill_weight,
                                 temperature=params.distill_temperature)
    if loss == "bce":
        return losses.BinaryCrossEntropyLoss(model)
    if loss == "mnrl":
        return losses.MultipleNegativesRankingLoss(model, num_negatives=num_negatives)
    if loss == "listwise":
        return losses.ListNetLoss(model)
    raise ValueError(f"unknown loss {loss!r}")


def eval_samples(path: Path) -> list[dict]:
    samples = []
    for r in read_jsonl(path):
        pos, neg = _texts(r.get("positive")), _texts(r.get("negative"))
        if pos and neg:
            samples.append({"query": r["query"], "positive": pos, "negative": neg})
    return samples


def is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def emit(prefix: str, payload: Any) -> None:
    if is_main_process():
        text = payload if isinstance(payload, str) else json.dumps(payload, default=float)
        print(prefix + text, flush=True)


def _from_env(value: str) -> str:
    """AutoTrain's `${VAR}` convention: read VAR from the environment."""
    if value.startswith("${") and value.endswith("}"):
        return os.environ.get(value[2:-1], "")
    return value


def bf16_available(torch) -> bool:
    """bf16 autocast pays off: a GPU with bf16, or a CPU with bf16 instructions (AVX512-BF16/AMX).

    Elsewhere `mixed_precision: bf16` falls back to fp32 (emulated bf16 is slower, not faster).
    """
    if torch.cuda.is_available():
        return torch.cuda.is_bf16_supported()
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def _schedule(total_steps: int, wanted: int, every: int) -> int:
    return every if every > 0 else max(1, math.ceil(total_steps / wanted))


def train(config_path: Path, output: Path, *, base_dir: Path | None = None) -> Path:
    """Train per the config and save the best model to `output`; returns `output`."""
    import torch
    from datasets import Dataset
    from sentence_transformers.cross_encoder import (
        CrossEncoder,
        CrossEncoderModelCardData,
        CrossEncoderTrainer,
        CrossEncoderTrainingArguments,
    )
    from sentence_transformers.cross_encoder.evaluation import CrossEncoderRerankingEvaluator
    from sentence_transformers.training_args import BatchSamplers
    from transformers import TrainerCallback
    from transformers.trainer_callback import PrinterCallback

    from wrapper.config import config_dataset, load_config

    config = load_config(config_path, base=base_dir)
    params = config.params_model()
    loss_name = config.loss or "bce"
    dataset = config_dataset(config, config_path, base_dir)
    train_file = dataset.train_file("flagembedding")
    records = read_jsonl(train_file)
    distill = params.distill != "none"
    if distill:
        check_distillation(loss_name, records, train_file)
    columns = build_train_rows(records, loss_name, params.num_negatives, teacher=distill)
    train_dataset = Dataset.from_dict(columns).shuffle(seed=params.seed)
    if len(train_dataset) == 0:
        raise ValueError(f"no usable training rows for loss {loss_name} in {train_file}")

    world = int(os.environ.get("WORLD_SIZE", "1"))
    per_epoch = max(math.ceil(len(train_dataset) / (params.batch_size * world)) // params.gradient_accumulation, 1)
    total = params.max_steps if params.max_steps > 0 else per_epoch * params.epochs

    evaluator = None
    if config.data.valid_split:
        samples = eval_samples(dataset.eval_split(config.data.valid_split))
        if samples:
            evaluator = CrossEncoderRerankingEvaluator(
                samples=samples, name=EVAL_NAME, at_k=10, batch_size=64, write_csv=False,
            )

    model = CrossEncoder(
        config.base_model,
        num_labels=1,
        max_length=params.max_seq_length,
        trust_remote_code=config.trust_remote_code,
        model_card_data=CrossEncoderModelCardData(
            language=None, license=None,
            model_name=f"{config.project_name} (autorerank cross-encoder:{loss_name})",
        ),
    )
    checkpoints = output.parent / "checkpoints"
    eval_every = _schedule(total, 4, params.eval_steps)
    args = CrossEncoderTrainingArguments(
        output_dir=str(checkpoints),
        num_train_epochs=params.epochs,
        max_steps=params.max_steps,
        per_device_train_batch_size=params.batch_size,
        per_device_eval_batch_size=params.batch_size,
        gradient_accumulation_steps=params.gradient_accumulation,
        gradient_checkpointing=params.gradient_checkpointing,
        learning_rate=params.lr,
        warmup_steps=int(round(params.warmup_ratio * total)),
        lr_scheduler_type=params.scheduler,
        **({"optim": params.optimizer} if params.optimizer else {}),
        weight_decay=params.weight_decay,
        max_grad_norm=params.max_grad_norm,
        seed=params.seed,
        fp16=params.mixed_precision == "fp16",
        bf16=params.mixed_precision == "bf16" and bf16_available(torch),
        logging_steps=_schedule(total, 20, params.logging_steps),
        eval_strategy="steps" if evaluator else "no",
        eval_steps=eval_every if evaluator else None,
        save_strategy="steps" if evaluator else "no",
        save_steps=eval_every,
        save_total_limit=params.save_total_limit,
        save_only_model=True,  # checkpoints exist only to keep the best one; no resume state
        load_best_model_at_end=evaluator is not None,
        metric_for_best_model=BEST_METRIC if evaluator else None,
        greater_is_better=True,
        batch_sampler=BatchSamplers.NO_DUPLICATES if loss_name == "mnrl" else BatchSamplers.BATCH_SAMPLER,
        report_to="none" if config.log == "none" else config.log,
        disable_tqdm=True,
        dataloader_num_workers=0,
        ddp_find_unused_parameters=False if world > 1 else None,
        use_cpu=not torch.cuda.is_available(),
    )

    class Emit(TrainerCallback):
        def on_train_begin(self, args, state, control, **kwargs):
            emit(TOTAL_PREFIX, str(state.max_steps))

        def on_log(self, args, state, control, logs=None, **kwargs):
            record = {"step": state.global_step, **{k: v for k, v in (logs or {}).items() if k != "total_flos"}}
            emit(METRIC_PREFIX, record)

    trainer = CrossEncoderTrainer(
        model=model,
        args=args,
        train_dataset=train_dataset,
        loss=make_loss(loss_name, model, params.num_negatives, params=params if distill else None),
        evaluator=evaluator,
        callbacks=[Emit()],
    )
    trainer.remove_callback(PrinterCallback)  # we print our own machine-readable lines
    if os.environ.get("AUTORERANK_LOG_BATCHES"):  # which rows this process trains on first (checks sharding)
        first = next(iter(trainer.get_train_dataloader().batch_sampler))
        print(BATCH_PREFIX + json.dumps({"rank": int(os.environ.get("RANK", "0")), "world": world,
                                         "rows": [int(i) for i in first]}), flush=True)
    cpu0 = time.process_time()
    trainer.train()
    train_cpu_s = time.process_time() - cpu0
    if is_main_process():
        final: dict[str, Any] = {"step": trainer.state.global_step, "train_cpu_s": round(train_cpu_s, 3)}
        if evaluator is not None:
            scores = evaluator(trainer.model)
            final.update({f"eval_{k}": v for k, v in scores.items()})
            final["best_checkpoint"] = trainer.state.best_model_checkpoint
        trainer.model.save_pretrained(str(output))
        (output / "autorerank_training.json").write_text(
            json.dumps({"task": config.task, "base_model": config.base_model, "loss": loss_name,
                        "params": params.model_dump(), "train_rows": len(train_dataset),
                        "steps": trainer.state.global_step, "final": final}, indent=2, default=str),
            encoding="utf-8",
        )
        emit(METRIC_PREFIX, final)
        if config.hub and config.hub.push_to_hub:
            username = _from_env(config.hub.username)
            repo = trainer.model.push_to_hub(f"{username}/{config.project_name}", token=os.environ.get("HF_TOKEN"),
                                             private=True, exist_ok=True)
            emit(METRIC_PREFIX, {"step": trainer.state.global_step, "pushed_to": str(repo)})
        shutil.rmtree(checkpoints, ignore_errors=True)
    return output


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m wrapper.train.cross_encoder", description=__doc__.split("\n")[0])
    ap.add_argument("--config", required=True, type=Path, help="an autorerank config with task cross-encoder:<loss>")
    ap.add_argument("--output", required=True, type=Path, help="folder for the final (best) model")
    ap.add_argument("--base-dir", type=Path, default=None, help="resolve relative data paths against this folder")
    ns = ap.parse_args(argv)
    train(ns.config, ns.output, base_dir=ns.base_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
