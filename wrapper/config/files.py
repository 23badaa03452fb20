"""File checks for a parsed config: data folder, split files and their columns; `load_config`."""

from __future__ import annotations

import csv
from pathlib import Path

from wrapper.config.schema import TrainConfig, parse_config
from wrapper.dataset import iter_jsonl
from wrapper.errors import InputError


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


def config_dataset(config: TrainConfig, source: object = "<config>", base: Path | None = None):
    """The prepared dataset a config trains on (`data.path`: the dataset folder, or for configs written
    before that, a folder inside it such as `data/<name>/autotrain`); relative to `base` (default cwd)."""
    from wrapper.dataset import Dataset, is_dataset

    path = Path(config.data.path).expanduser()
    if not path.is_absolute():
        path = (base or Path.cwd()) / path
    if not is_dataset(path) and not is_dataset(path.parent):
        raise InputError.at(
            source, f"data.path {config.data.path!r} is not a prepared dataset folder (resolved to {path})",
            hint="point it at data/<name> written by `autorerank prepare`",
        )
    return Dataset.find(path, training=True)


def _check_columns(found: Path, wanted: list[str]) -> None:
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


def validate_files(config: TrainConfig, source: object = "<config>", base: Path | None = None) -> None:
    """Check that the data the config names exists and, for AutoTrain's st:* tasks, has the mapped columns."""
    dataset = config_dataset(config, source, base)
    for key, split, allowed in (("train_split", config.data.train_split, "train"),
                                ("valid_split", config.data.valid_split, "validation")):
        if split is not None and split != allowed and (config.task.startswith("st:") or key == "train_split"):
            raise InputError.at(
                source, f"data.{key} {split!r}: a prepared dataset has only the {allowed!r} split for training "
                f"(in {dataset.root})", hint=f"set data.{key}: {allowed}")
    if config.task.startswith("st:"):
        mapping = config.data.column_mapping
        wanted = [c for c in (mapping.sentence1_column, mapping.sentence2_column, mapping.sentence3_column) if c]
        _check_columns(dataset.train_file("autotrain"), wanted)
        if config.data.valid_split:
            _check_columns(dataset.train_file("autotrain_validation"), wanted)
        return
    train = dataset.train_file("flagembedding")
    if config.is_flagembedding:
        from wrapper.config.flagembedding import check_base_folder, check_train_file

        check_base_folder(config.base_model, source)
        check_train_file(config, train, source)
    if config.data.valid_split and not config.is_flagembedding:
        dataset.eval_split(config.data.valid_split)


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
