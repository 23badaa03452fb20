"""File checks for a parsed config: data folder, split files and their columns; `load_config`."""

from __future__ import annotations

import csv
from pathlib import Path

from wrapper.config.schema import TrainConfig, parse_config
from wrapper.dataset import iter_jsonl
from wrapper.errors import InputError


def split_file(data_path: Path, split: str) -> Path | None:
    for ext in ("csv", "jsonl"):
        candidate = data_path / f"{split}.{ext}"
        if candidate.exists():
            return candidate
    return None


def _columns_of(path: Path) -> list[str]:
    if path.suffix == ".csv":
        with open(path, newline="", encoding="utf-8") as fh:
            header = next(csv.reader(fh), None)
        if not header:
            raise InputError.at(path, "the file is empty; expected a header line", line=1)
        return header
    return list(first_record(path)[1])


def first_record(path: Path) -> tuple[int, dict]:
    """(line number, object) of the first JSON line of a training file; an InputError when there is none."""
    for lineno, record in iter_jsonl(path):
        return lineno, record
    raise InputError.at(path, "the file is empty; expected one JSON object per line",
                        hint="run `autorerank prepare` again")


def resolve_data_path(config: TrainConfig, base: Path | None = None) -> Path:
    """`data.path` as an absolute path (relative paths are relative to `base`, default cwd)."""
    path = Path(config.data.path).expanduser()
    if not path.is_absolute():
        path = (base or Path.cwd()) / path
    return path.resolve()


def validate_files(config: TrainConfig, source: object = "<config>", base: Path | None = None) -> None:
    """Check that the data the config names exists and has the mapped columns."""
    data_path = resolve_data_path(config, base)
    if not data_path.is_dir():
        raise InputError.at(
            source,
            f"data.path {config.data.path!r} is not a folder (resolved to {data_path})",
            hint="point it at data/<name>/autotrain (flagembedding:reranker: data/<name>/flagembedding) "
                 "written by `autorerank prepare`",
        )
    mapping = config.data.column_mapping
    wanted = [c for c in (mapping.sentence1_column, mapping.sentence2_column,
                          mapping.sentence3_column, mapping.target_column) if c]
    splits = [("train_split", config.data.train_split)]
    if config.data.valid_split:
        splits.append(("valid_split", config.data.valid_split))
    for key, split in splits:
        found = split_file(data_path, split)
        if found is None:
            raise InputError.at(
                source,
                f"data.{key} {split!r}: neither {split}.csv nor {split}.jsonl exists in {data_path}",
                hint="run `autorerank prepare` first or fix data.path / the split name",
            )
        columns = _columns_of(found)
        for column in wanted:
            if column not in columns:
                raise InputError.at(
                    found,
                    f"this column (named in data.column_mapping) is missing; the file has {', '.join(columns)}",
                    line=1,
                    column=column,
                    hint="fix data.column_mapping to name existing columns",
                )
    if config.is_flagembedding:
        from wrapper.config.flagembedding import check_base_folder, check_train_file

        check_base_folder(config.base_model, source)
        check_train_file(config, data_path, source)
    if config.is_cross_encoder:
        root = data_path.parent
        train = root / "flagembedding" / "train.jsonl"
        if not train.exists():
            raise InputError.at(
                source,
                f"the cross-encoder backend trains on {train}, which does not exist",
                hint="data.path must be data/<name>/autotrain of a dataset written by `autorerank prepare`",
            )
        if config.data.valid_split:
            val = root / "eval" / f"{config.data.valid_split}.jsonl"
            if not val.exists():
                raise InputError.at(
                    source,
                    f"the cross-encoder backend evaluates on {val}, which does not exist",
                    hint="set data.valid_split to null to train without evaluation",
                )


def validate_config(raw: dict, source: object = "<config>", base: Path | None = None) -> TrainConfig:
    config = parse_config(raw, source)
    validate_files(config, source, base)
    return config


def load_config(path: str | Path, *, check_files: bool = True, base: Path | None = None) -> TrainConfig:
    """Read and validate a config YAML (schema and, by default, the data files)."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise InputError.at(path, "config file not found", hint="create one with `autorerank config`")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise InputError.at(
            path, f"not valid YAML: {getattr(exc, 'problem', exc)}",
            line=mark.line + 1 if mark else None, column=mark.column + 1 if mark else None,
        ) from None
    config = parse_config(raw, path)
    if check_files:
        validate_files(config, path, base)
    return config
