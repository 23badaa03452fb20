"""The `flagembedding:reranker` backend: FlagEmbedding 1.4.2's encoder-only reranker fine-tune.

    torchrun --standalone --nnodes 1 --nproc_per_node N \\
        -m FlagEmbedding.finetune.reranker.encoder_only.base --model_name_or_path BASE \\
        --train_data data/<name>/flagembedding/train.jsonl --output_dir runs/<id>/model ...

`command(run)` builds that argv from the run's config (params are FlagEmbedding's own
argument names, see `wrapper.config.FlagEmbeddingParams`) and returns the same `Command`
as the other backends; `FlagEmbeddingLogParser` turns the HF Trainer's log lines into
metrics.jsonl records and the progress bar. Facts this relies on (FlagEmbedding 1.4.2,
transformers 5.23.0, read in their source and seen in runs):

- the Trainer prints each log as a dict of strings on stdout, without the step:
  `{'loss': '1.382', 'grad_norm': '1.128', 'learning_rate': '0.0001', 'epoch': '0.1667'}`,
  then `{'train_runtime': '45.11', ..., 'train_loss': '1.369', 'epoch': '1'}` at the end;
  with `--log_level info` it also prints `Total optimization steps = N` on stderr;
- the runner checks for an empty `--output_dir` only with `--do_train`, so the run folder
  (fresh by construction) is what keeps the model folder empty;
- the saved folder is a plain transformers `*ForSequenceClassification` with one label:
  sentence-transformers' `CrossEncoder` loads it with a Sigmoid over the logit, and
  `FlagReranker` returns the raw logit (`normalize=True`: the same sigmoid), so both
  rank alike and the gate/eval scores are deterministic without extra files;
- its model arguments (including `token`, defaulting to $HF_TOKEN) are logged at INFO,
  so the child gets no token at all (a Hub base model that needs one: log in with
  `huggingface-cli login`, which the Hub client reads itself).
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path
from typing import Any

from wrapper.errors import InputError
from wrapper.train.logparse import LogParser

MODULE = "FlagEmbedding.finetune.reranker.encoder_only.base"
_TOTAL_RE = re.compile(r"Total optimization steps = ([\d,]+)")
_EPOCHS_RE = re.compile(r"Num Epochs = ([\d,]+)")
_DICT_LINE_RE = re.compile(r"^\{'[A-Za-z_]+': .*\}$")
_RANK_PREFIX_RE = re.compile(r"^\[(?:rank|default)\d+\]:\s?")
_CHAIN_MARKERS = ("The above exception was the direct cause", "During handling of the above exception")
#: exception lines of the launcher, not of the trainer
_LAUNCHER_EXCEPTIONS = ("ChildFailedError", "torch.distributed.elastic")


def _number(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


class FlagEmbeddingLogParser(LogParser):
    """`LogParser` for FlagEmbedding's HF Trainer output (dict lines, stderr summary, tracebacks).

    The n-th training log is at step n * logging_steps (the Trainer logs every
    `logging_steps` steps and does not print the step); the final summary is at the
    last step. The failure cause is the last exception of the trainer, with the
    exceptions that led to it when the traceback is chained (datasets wraps a JSON
    error in `DatasetGenerationError`), never torchrun's `ChildFailedError`.
    """

    def __init__(self, total_steps: int | None = None, epochs: int | None = None, *, logging_steps: int = 1,
                 train_file: Path | None = None):
        super().__init__(total_steps=total_steps, epochs=epochs)
        self.logging_steps = max(int(logging_steps), 1)
        self.train_file = train_file
        self._logs = 0
        self._chain: list[str] = []
        self._chained = False
        self._in_traceback_of: str | None = None  # "new" | "chain" while reading a traceback's frames
        self._loading_data = False

    def feed(self, line: str) -> dict | None:
        text = _RANK_PREFIX_RE.sub("", line.rstrip("\r\n"))  # torchrun prefixes a failing rank's lines
        line = text
        stripped = text.strip()
        if "loading data from" in text:
            self._loading_data = True
        elif "***** Running training *****" in text:
            self._loading_data = False
            self.started = True
        if any(marker in stripped for marker in _CHAIN_MARKERS):
            self._chained = True
        match = _TOTAL_RE.search(text)
        if match:
            self.total_steps = int(match.group(1).replace(",", ""))
        match = _EPOCHS_RE.search(text)
        if match:
            self.epochs = int(match.group(1).replace(",", ""))
        before = self.last_exception
        super().feed(line)
        if stripped.startswith("Traceback (most recent call last)"):
            self._in_traceback_of = "chain" if self._chained else "new"
            self._chained = False
        elif self._in_traceback_of and stripped and not text[:1].isspace():
            # the first unindented line after the frames is the exception (any class name)
            if any(m in stripped for m in _LAUNCHER_EXCEPTIONS):
                self.last_exception = before
            else:
                if self._in_traceback_of == "new":
                    self._chain = []
                self._chain.append(stripped)
                self.last_exception = stripped
            self._in_traceback_of = None
        elif self.last_exception != before and any(m in (self.last_exception or "") for m in _LAUNCHER_EXCEPTIONS):
            self.last_exception = before
        if _DICT_LINE_RE.match(stripped):
            try:
                logs = ast.literal_eval(stripped)
            except (ValueError, SyntaxError):
                return None
            if isinstance(logs, dict):
                return self._record(logs)
        return None

    def _record(self, logs: dict) -> dict:
        logs = {key: _number(value) for key, value in logs.items()}
        if "train_runtime" in logs or "train_loss" in logs:  # the summary after the last step
            step = self.total_steps or self.last_step
        else:
            self._logs += 1
            step = self._logs * self.logging_steps
            if self.total_steps:
                step = min(step, self.total_steps)
        logs["step"] = step
        return self._normalise(logs)

    @property
    def cause(self) -> str | None:
        if not self._chain:
            return self.last_exception
        last, earlier = self._chain[-1], [e for e in dict.fromkeys(self._chain[:-1]) if e != self._chain[-1]]
        cause = f"{last} (caused by {'; '.join(earlier)})" if earlier else last
        if self._loading_data and self.train_file is not None:
            cause += f"; while reading the train file {self.train_file}"
        return cause


def total_steps(n_rows: int, params: Any, world: int) -> int:
    """What the HF Trainer computes with drop_last: rows // (batch * processes) // accumulation * epochs,
    or max_steps."""
    if params.max_steps > 0:
        return params.max_steps
    per_epoch = max(n_rows // (params.per_device_train_batch_size * world) // params.gradient_accumulation_steps, 1)
    return per_epoch * params.num_train_epochs


def check_batch(n_rows: int, params: Any, world: int, train_file: Path) -> None:
    """FlagEmbedding needs at least one full batch (it reshapes scores to [batch size, group])."""
    need = params.per_device_train_batch_size * world
    if n_rows < need:
        raise InputError.at(train_file, f"{n_rows} training queries, fewer than one full batch "
                                        f"({params.per_device_train_batch_size} per process x {world} processes)",
                            hint="lower params.per_device_train_batch_size or --num-processes")


def check_precision(params: Any, source: object) -> None:
    """fp16/bf16 only where the hardware has it."""
    if not (params.fp16 or params.bf16):
        return
    import torch

    if not torch.cuda.is_available():
        raise InputError.at(source, f"params.{'fp16' if params.fp16 else 'bf16'} is true but this machine has no "
                                    "CUDA GPU", hint="set it to false to train on the CPU")
    if params.bf16 and not torch.cuda.is_bf16_supported():
        raise InputError.at(source, "params.bf16 is true but this GPU has no bf16", hint="use fp16: true instead")


def flagembedding_args(params: Any, *, base_model: str, train_file: Path, output_dir: Path,
                       logging_steps: int, trust_remote_code: bool = False) -> list[str]:
    """FlagEmbedding's own arguments for a config's params."""
    args = [
        "--model_name_or_path", base_model,
        "--train_data", str(train_file),
        "--output_dir", str(output_dir),
        "--train_group_size", str(params.train_group_size),
        "--query_max_len", str(params.query_max_len),
        "--passage_max_len", str(params.passage_max_len),
        "--num_train_epochs", str(params.num_train_epochs),
        "--max_steps", str(params.max_steps),
        "--per_device_train_batch_size", str(params.per_device_train_batch_size),
        "--gradient_accumulation_steps", str(params.gradient_accumulation_steps),
        "--learning_rate", repr(float(params.learning_rate)),
        "--warmup_steps",
        repr(float(params.warmup_steps)) if params.warmup_steps < 1 else str(int(params.warmup_steps)),
        "--weight_decay", repr(float(params.weight_decay)),
        "--max_grad_norm", repr(float(params.max_grad_norm)),
        "--lr_scheduler_type", params.lr_scheduler_type,
        "--seed", str(params.seed),
        "--logging_steps", str(logging_steps),
        "--save_strategy", "no",  # the model is saved once at the end
        "--report_to", "none",
        "--log_level", "info",  # prints "Total optimization steps = N"
        "--dataloader_num_workers", "0",
        # FlagEmbedding reshapes the logits to [per_device_train_batch_size, group]: a short last batch crashes
        "--dataloader_drop_last", "True",
    ]
    if params.gradient_checkpointing:
        args += ["--gradient_checkpointing", "True"]
    if trust_remote_code:
        args += ["--trust_remote_code", "True"]
    if params.fp16:
        args += ["--fp16", "True"]
    if params.bf16:
        args += ["--bf16", "True"]
    if params.distill:
        args += ["--knowledge_distillation", "True"]
    return args


def launcher_argv(args: list[str], *, num_processes: int, launcher: str = "torchrun",
                  python: str | None = None, nodes=None) -> list[str]:
    """`MODULE args` under torchrun (default, also for one process; across machines with `nodes`) or accelerate."""
    python = python or sys.executable
    if nodes is not None:
        return [python, "-m", "torch.distributed.run", *nodes.torchrun_args(num_processes), "-m", MODULE, *args]
    if launcher == "accelerate":
        import torch

        return [python, "-m", "accelerate.commands.launch",
                *(["--multi_gpu"] if torch.cuda.is_available() and num_processes > 1 else []),
                *([] if torch.cuda.is_available() else ["--cpu"]),
                "--num_machines", "1", "--num_processes", str(num_processes), "-m", MODULE, *args]
    if launcher != "torchrun":
        raise ValueError(f"unknown launcher {launcher!r}; expected torchrun or accelerate")
    return [python, "-m", "torch.distributed.run", "--standalone", "--nnodes", "1",
            "--nproc_per_node", str(num_processes), "-m", MODULE, *args]


def command(run):  # run: wrapper.train.ResolvedRun -> wrapper.train.Command
    """The backend's command for a resolved run (its `BACKENDS` entry's `build`)."""
    from wrapper.train import Command
    from wrapper.train.autotrain import count_rows
    from wrapper.train.child import child_env

    config = run.config
    params = config.params_model()
    check_precision(params, run.config_path)
    train_file = run.dataset.train_file("flagembedding")
    run.write_resolved()
    n_rows = count_rows(train_file)
    check_batch(n_rows, params, run.num_processes, train_file)
    total = total_steps(n_rows, params, run.num_processes)
    logging_steps = params.logging_steps if params.logging_steps > 0 else max(total // 20, 1)
    model_dir = run.run_dir / "model"
    argv = launcher_argv(
        flagembedding_args(params, base_model=run.base_model, train_file=train_file, output_dir=model_dir,
                           logging_steps=logging_steps, trust_remote_code=config.trust_remote_code),
        num_processes=run.num_processes, launcher=run.launcher, nodes=run.nodes,
    )
    env = child_env(offline=run.offline)
    for var in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):  # FlagEmbedding logs its token argument
        env.pop(var, None)
    parser = FlagEmbeddingLogParser(total_steps=total, epochs=params.num_train_epochs, logging_steps=logging_steps,
                                    train_file=train_file)
    return Command(argv=argv, env=env, model_dir=model_dir, total_steps=total, epochs=params.num_train_epochs,
                   parser=parser)
