"""Every knob of `autorerank prepare`, in one strict schema.

`PrepareOptions` is what the CLI builds from its flags and what the demo and other
stages pass to `wrapper.prepare.prepare`. Unknown fields are refused
(`extra="forbid"`), closed vocabularies are enums, and `PrepareOptions.build`
turns a validation failure into an `InputError` that names the bad flag.
"""

from __future__ import annotations

from enum import Enum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from wrapper.errors import InputError


class Format(str, Enum):
    """Input layouts `prepare` understands (`auto` detects one per source)."""

    auto = "auto"
    pairs = "pairs"  # (query, passage, label) rows
    listwise = "listwise"  # {"query", "pos": [...], "neg": [...]} (FlagEmbedding)
    triplets = "triplets"  # (query|anchor, positive, negative) rows, headerless TSV too
    beir = "beir"  # folder: corpus.jsonl, queries.jsonl, qrels/<split>.tsv
    squad = "squad"  # SQuAD-style QA JSON: a question's own paragraph is its positive
    positives = "positives"  # (query, positive) rows; negatives must be mined


#: how a flag is spelled on the command line, for messages
FLAG_NAMES = {
    "format": "--format",
    "query_col": "--query-col",
    "passage_col": "--passage-col",
    "label_col": "--label-col",
    "pos_col": "--pos-col",
    "neg_col": "--neg-col",
    "split": "--split",
    "label_threshold": "--label-threshold",
    "val_ratio": "--val-ratio",
    "test_ratio": "--test-ratio",
    "seed": "--seed",
    "group_by": "--group-by",
    "mine": "--mine/--no-mine",
    "miner": "--miner",
    "num_negatives": "--num-negatives",
    "eval_negatives": "--eval-negatives",
    "range_min": "--range-min",
    "margin": "--margin",
    "random_negatives": "--random-negatives",
    "batch_size": "--batch-size",
    "corpus": "--corpus",
    "name": "--name",
    "overwrite": "--overwrite",
    "encoding": "--encoding",
    "use_title": "--title/--no-title",
    "max_line_bytes": "--max-line-bytes",
    "chunk_size": "--chunk-size",
    "device": "--device",
    "precision": "--precision",
    "teacher": "--teacher",
}


class PrepareOptions(BaseModel):
    """Options of `prepare` with their defaults (see `autorerank prepare --help`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Format = Format.auto
    # column mapping (None: recognise the usual names, see formats.ALIASES)
    query_col: str | None = None
    passage_col: str | None = None
    label_col: str | None = None
    pos_col: str | None = None
    neg_col: str | None = None
    #: BEIR qrels split (qrels/<split>.tsv); None: "train" if present, else the only one
    split: str | None = None
    #: labels >= threshold are positives; None: 1, or 0.5 when labels are fractions in [0, 1]
    label_threshold: float | None = None

    #: 1.0 holds every query out: an evaluation-only dataset (no training rows)
    val_ratio: float = Field(0.1, gt=0.0, le=1.0)
    test_ratio: float = Field(0.0, ge=0.0, lt=1.0)
    seed: int = 42
    #: split whole groups, not single queries: "passage" (queries sharing a labelled passage stay
    #: together), "article" (SQuAD articles), or a column of a table (rows sharing its value);
    #: None splits by query
    group_by: str | None = Field(None, min_length=1)

    mine: bool = True
    #: any sentence-transformers model name or path; "bundled" = the packaged all-MiniLM-L6-v2
    miner: str = "bundled"
    #: negatives per training query (labelled ones count; mining tops up)
    num_negatives: int = Field(4, ge=1, le=1000)
    #: candidates per held-out query (labelled + mined); None: 2 x num_negatives
    eval_negatives: int | None = Field(None, ge=1, le=10000)
    #: rank window: skip this many of the top hits (they are often unlabelled positives)
    range_min: int = Field(0, ge=0)
    #: false-negative guard: keep a mined negative only if its score <= pos - |pos| * margin
    #: (relative to the query's weakest positive); None switches the guard off
    margin: float | None = Field(0.05, ge=0.0, le=1.0)
    #: how many of each query's mined negatives are drawn at random from the pool instead
    random_negatives: int = Field(0, ge=0)
    batch_size: int = Field(32, ge=1)
    #: extra files of passages added to the mining pool (jsonl/csv/tsv/parquet/txt)
    corpus: tuple[str, ...] = ()

    #: dataset name (names evaluation tasks AutoRerank-<name>-<split>); None: the --out folder's name
    name: str | None = Field(None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    overwrite: bool = False
    encoding: str = "utf-8"
    #: BEIR: prefix each document's title to its text (as BEIR/MTEB do)
    use_title: bool = True
    #: a longer line is refused (a file without line breaks, or the wrong format)
    max_line_bytes: int = Field(32 * 1024 * 1024, ge=1024)
    #: teacher scores for distillation, kept in flagembedding/train.jsonl (pos_scores/neg_scores):
    #: "miner" reuses the miner's mining scores (nothing without mining); a model name/path/run id
    #: (bi-encoder or cross-encoder) scores every training pair with it; None keeps no scores
    teacher: str | None = Field("miner", min_length=1)
    #: passages encoded and scored per mining step (bounds memory on huge corpora)
    chunk_size: int = Field(32768, ge=1)
    #: the nearest-neighbour search of mining: exact, a FAISS IVF index, or auto (by the pool's size)
    ann: Literal["auto", "exact", "faiss"] = "auto"
    #: processes that encode for mining (sentence-transformers' multi-process pool): 1 = this one;
    #: 0 = one per GPU when there are several (else 1)
    encode_processes: int = Field(1, ge=0, le=64)
    device: str | None = None
    #: the miner's weights: auto = bf16 where the CPU/GPU does bf16 natively, else fp32 (wrapper.precision)
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    progress: bool = True

    @model_validator(mode="after")
    def _consistent(self) -> "PrepareOptions":
        eval_only = self.val_ratio == 1.0 and self.test_ratio == 0.0
        if self.val_ratio + self.test_ratio >= 1.0 and not eval_only:
            raise ValueError(
                f"val_ratio + test_ratio must leave queries for training (got {self.val_ratio} + {self.test_ratio} >= 1)"
            )
        if self.random_negatives > self.num_negatives:
            raise ValueError(
                f"random_negatives ({self.random_negatives}) cannot exceed num_negatives ({self.num_negatives})"
            )
        return self

    @property
    def eval_candidates(self) -> int:
        return self.eval_negatives if self.eval_negatives is not None else 2 * self.num_negatives

    @classmethod
    def build(cls, **values: Any) -> "PrepareOptions":
        """Validate `values` and raise an `InputError` naming the flag on failure."""
        try:
            return cls(**values)
        except ValidationError as exc:
            problems = []
            for err in exc.errors():
                field = str(err["loc"][0]) if err["loc"] else ""
                flag = FLAG_NAMES.get(field, field or "options")
                msg = err["msg"].removeprefix("Value error, ")
                problems.append(f"{flag}: {msg}")
            raise InputError("invalid prepare options:\n  " + "\n  ".join(problems)) from None
