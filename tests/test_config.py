"""`autorerank config`: presets render, the strict schema rejects what AutoTrain would
choke on (with the allowed list), files and columns are checked, no token literal is
ever written, and AutoTrain's own parser accepts what we write.

The tiny prepared dataset (`write_tiny_dataset`, in conftest) follows Contract 1.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import REPO_ROOT, write_tiny_dataset
from wrapper.config import PRESETS, load_config, parse_config, render_config
from wrapper.errors import InputError

@pytest.fixture
def dataset(isolated_home) -> Path:
    return write_tiny_dataset(Path("data") / "tiny")


def _load(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


# ----------------------------------------------------------------------- rendering

@pytest.mark.parametrize("base_model", [*PRESETS, "some-org/some-encoder"])
@pytest.mark.parametrize("task", ["st:triplet", "cross-encoder:bce"])
def test_every_preset_renders_a_valid_config(dataset, base_model, task, bundled_model_path):
    from wrapper.basemodel import inspect

    base = inspect(base_model)  # known rerankers are known offline, without their files
    reranker = base.is_reranker
    assert reranker == (base_model not in ("bundled", "some-org/some-encoder"))
    if reranker and task.startswith("st:"):
        with pytest.raises(InputError, match="drop its trained reranking head"):
            render_config(dataset, base_model=base_model, name="tiny-x", task=task, trust_remote_code=True)
    if base.remote_code:
        with pytest.raises(InputError, match="needs remote code"):
            render_config(dataset, base_model=base_model, name="tiny-x", task=task, drop_head=reranker)
    path = render_config(dataset, base_model=base_model, name="tiny-x", task=task, drop_head=reranker,
                         trust_remote_code=base.remote_code)
    assert path == Path("autotrain_configs") / "tiny-x.yml"
    raw = _load(path)
    assert raw["task"] == task and raw["project_name"] == "tiny-x" and raw["backend"] == "local"
    assert raw["data"] == {
        "path": "data/tiny", "train_split": "train", "valid_split": "validation",
        "column_mapping": ({"sentence1_column": "anchor", "sentence2_column": "positive",
                            "sentence3_column": "negative"} if task == "st:triplet"
                           else {"sentence1_column": "anchor", "sentence2_column": "positive"}),
    }
    if base_model == "bundled":  # AutoTrain must load it offline: the real folder, not the alias
        assert raw["base_model"] == str(bundled_model_path.resolve())
    else:
        assert raw["base_model"] == base_model
    load_config(path)  # round-trips through the strict schema and the file checks
    warned = "Note: st:triplet drops " + base_model in path.read_text()
    assert warned == (reranker and task.startswith("st:"))


def test_bundled_cross_encoder_preset_uses_settings_that_learn(dataset):
    # FACTS.md: fresh head on MiniLM at lr 2e-5 learns nothing; 1e-4 with 128 tokens learns
    raw = _load(render_config(dataset, base_model="bundled", name="ce", task="cross-encoder:bce"))
    assert raw["params"]["lr"] == pytest.approx(1e-4)
    assert raw["params"]["max_seq_length"] == 128


def test_flags_override_the_preset_and_extra_params_pass_through(dataset):
    raw = _load(render_config(dataset, base_model="bundled", name="o", task="cross-encoder:mnrl", epochs=3,
                              lr=3e-5, batch_size=4, max_steps=7, num_negatives=2))
    assert (raw["params"]["epochs"], raw["params"]["lr"], raw["params"]["batch_size"],
            raw["params"]["max_steps"], raw["params"]["num_negatives"]) == (3, 3e-5, 4, 7, 2)


def test_default_task_follows_has_negatives(isolated_home):
    with_negs = write_tiny_dataset(Path("data/a"))
    without = write_tiny_dataset(Path("data/b"), has_negatives=False)
    assert _load(render_config(with_negs, base_model="bundled", name="a"))["task"] == "st:triplet"
    raw = _load(render_config(without, base_model="bundled", name="b"))
    assert raw["task"] == "st:pair"
    assert "sentence3_column" not in raw["data"]["column_mapping"]
    with pytest.raises(InputError, match=r"st:triplet needs negatives(.|\n)*--task st:pair"):
        render_config(without, base_model="bundled", name="c", task="st:triplet")


def test_existing_config_is_not_overwritten_without_the_flag(dataset):
    render_config(dataset, base_model="bundled", name="same")
    with pytest.raises(InputError, match=r"(?s)already exists.*--overwrite"):
        render_config(dataset, base_model="bundled", name="same")
    render_config(dataset, base_model="bundled", name="same", overwrite=True, epochs=2)
    assert _load(Path("autotrain_configs/same.yml"))["params"]["epochs"] == 2


def test_hub_section_only_ever_holds_the_token_placeholder(dataset):
    raw = _load(render_config(dataset, base_model="bundled", name="h", hub_username="alice"))
    assert raw["hub"] == {"username": "alice", "token": "${HF_TOKEN}", "push_to_hub": True}


# ------------------------------------------------------------------------ rejection

def _good(dataset: Path) -> dict:
    return _load(render_config(dataset, base_model="bundled", name="good", overwrite=True))


def test_unknown_top_level_key_is_rejected_with_the_allowed_list(dataset):
    raw = _good(dataset) | {"epochs": 3}
    with pytest.raises(InputError, match=r"unknown key 'epochs'; allowed keys: task, base_model, project_name"):
        parse_config(raw, "cfg.yml")


def test_unknown_param_is_rejected_with_the_allowed_list_for_that_task(dataset):
    raw = _good(dataset)
    raw["params"]["learning_rate"] = 1e-5
    with pytest.raises(InputError, match=r"cfg.yml: .*unknown key 'params.learning_rate' for task st:triplet; "
                                         r"allowed keys: epochs, lr, batch_size"):
        parse_config(raw, "cfg.yml")


def test_unknown_data_key_and_bad_task_are_rejected(dataset):
    raw = _good(dataset)
    raw["data"]["columns"] = {}
    with pytest.raises(InputError, match=r"unknown key 'data.columns'; allowed keys: path, train_split"):
        parse_config(raw)
    raw = _good(dataset) | {"task": "st:magic"}
    with pytest.raises(InputError, match=r"task: got 'st:magic', expected one of 'st:triplet'"):
        parse_config(raw)


def test_max_steps_is_refused_for_autotrain_tasks_with_a_hint(dataset):
    with pytest.raises(InputError, match=r"params.max_steps(.|\n)*hint: AutoTrain tasks have no max_steps"):
        render_config(dataset, base_model="bundled", name="m", max_steps=5)


@pytest.mark.parametrize("name", ["my_project", "has space", "x" * 51, "dots.not.allowed"])
def test_bad_project_name_is_rejected_with_autotrains_rule(dataset, name):
    with pytest.raises(InputError, match="letters, digits and hyphens only, at most 50 characters"):
        render_config(dataset, base_model="bundled", name=name)
    assert not list(Path("autotrain_configs").glob("*.yml"))


def test_missing_mapped_column_names_the_file_and_column(dataset):
    raw = _good(dataset)
    raw["data"]["column_mapping"]["sentence3_column"] = "hard_negative"
    with pytest.raises(InputError) as info:
        load_config_from(raw)
    message = str(info.value)
    assert "train.csv, line 1, column" in message and "'hard_negative'" in message
    assert "anchor, positive, negative" in message


def load_config_from(raw: dict):
    path = Path("cfg.yml")
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return load_config(path)


def test_missing_data_folder_and_split_are_reported(dataset):
    raw = _good(dataset)
    raw["data"]["path"] = "data/nope"
    with pytest.raises(InputError, match="data.path 'data/nope' is not a prepared dataset folder"):
        load_config_from(raw)
    raw = _good(dataset)
    raw["data"]["valid_split"] = "dev"
    with pytest.raises(InputError, match="data.valid_split 'dev': a prepared dataset has only the 'validation'"):
        load_config_from(raw)
    raw = _good(dataset)
    raw["data"]["path"] = "data/tiny/autotrain"  # a config written before data.path held the dataset folder
    assert load_config_from(raw).data.path == "data/tiny/autotrain"
    raw = _good(dataset)
    raw["task"], raw["data"]["valid_split"] = "cross-encoder:bce", "dev"
    with pytest.raises(InputError, match=r"eval/dev.jsonl: the prepared dataset has no eval split 'dev'"):
        load_config_from(raw)


def test_token_literal_is_rejected_anywhere(dataset):
    raw = _good(dataset)
    raw["hub"] = {"username": "alice", "token": "hf_" + "a1B2" * 9, "push_to_hub": True}
    with pytest.raises(InputError, match=r"hub.token: must be the placeholder '\$\{HF_TOKEN\}'"):
        parse_config(raw)
    raw = _good(dataset)
    raw["params"]["optimizer"] = "hf_" + "Z9" * 15
    with pytest.raises(InputError, match="params.optimizer contains what looks like a Hugging Face token"):
        parse_config(raw)


def test_yaml_syntax_error_points_at_the_line(isolated_home):
    Path("bad.yml").write_text("task: st:triplet\nparams: {epochs: 1\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"bad.yml, line 3, column \d+: not valid YAML"):
        load_config("bad.yml")


def test_dataset_without_manifest_is_explained(isolated_home):
    Path("empty").mkdir()
    with pytest.raises(InputError, match=r"dataset.json: not found.*autorerank prepare"):
        render_config(Path("empty"), base_model="bundled", name="e")


# ----------------------------------------------------------------------------- CLI

def test_cli_writes_the_config_and_reports_errors_in_one_line(dataset, run_cli):
    code, out, err = run_cli("config", dataset, "--base-model", "bundled", "--name", "cli-one",
                             "--task", "cross-encoder:listwise", "--param", "num_negatives=3", "--max-steps", "9")
    assert code == 0, err
    assert out.strip() == str(Path("autotrain_configs") / "cli-one.yml")
    params = _load(Path(out.strip()))["params"]
    assert params["num_negatives"] == 3 and params["max_steps"] == 9
    code, out, err = run_cli("config", dataset, "--base-model", "bundled", "--name", "bad_name")
    assert code == 2
    assert err.startswith("error: config for 'bad_name'") and "Traceback" not in err


def test_cli_default_name_comes_from_dataset_and_preset(dataset, run_cli):
    code, out, err = run_cli("config", dataset, "--base-model", "bundled", "--task", "cross-encoder:bce")
    assert code == 0, err
    assert out.strip().endswith("tiny-minilm-ce-bce.yml")


# --------------------------------------------------- AutoTrain's own parser accepts

CHECK_WITH_AUTOTRAIN = r"""
import json, sys
from autotrain.parser import AutoTrainConfigParser
from autotrain.trainers.sent_transformers.params import SentenceTransformersParams
out = {}
for path in sys.argv[1:]:
    parser = AutoTrainConfigParser(path)
    params = SentenceTransformersParams(**parser.parsed_config)
    out[path] = {"task": parser.task, "trainer": params.trainer, "model": params.model,
                 "project_name": params.project_name, "lr": params.lr, "epochs": params.epochs,
                 "sentence3_column": params.sentence3_column, "push_to_hub": params.push_to_hub}
print("RESULT " + json.dumps(out))
"""


def _autotrain_python() -> Path:
    from wrapper.settings import autotrain_env_dir

    python = autotrain_env_dir() / "bin" / "python"
    if not python.exists():
        pytest.skip(f"AutoTrain env not found at {python.parent.parent}")
    return python


@pytest.mark.slow
def test_autotrain_parser_accepts_every_rendered_and_checked_in_config(dataset):
    rendered = []
    for i, base in enumerate([*PRESETS, "some-org/some-encoder"]):
        for task in ("st:triplet", "st:pair", "st:qa"):
            rendered.append(render_config(dataset, base_model=base, name=f"p{i}-{task[3:]}", task=task,
                                          drop_head=base not in ("bundled", "some-org/some-encoder"),
                                          trust_remote_code=True))
    rendered.append(render_config(dataset, base_model="bundled", name="hub-one", hub_username="alice"))
    # cross-encoder configs share the shape; AutoTrain does not know the task, so check
    # everything else by parsing them as st:pair
    ce = []
    for loss in ("bce", "mnrl", "listwise"):
        raw = _load(render_config(dataset, base_model="bundled", name=f"ce-{loss}", task=f"cross-encoder:{loss}"))
        raw["task"] = "st:pair"
        path = Path(f"ce-as-pair-{loss}.yml")
        path.write_text(yaml.safe_dump(raw), encoding="utf-8")
        ce.append(path)
    checked_in = sorted((REPO_ROOT / "autotrain_configs").glob("*.yml"))
    for path in checked_in:
        load_config(path, check_files=False)  # our own schema too
    st_checked_in = [p for p in checked_in if _load(p)["task"].startswith("st:")]
    paths = [str(p) for p in [*rendered, *ce, *st_checked_in]]
    proc = subprocess.run([str(_autotrain_python()), "-c", CHECK_WITH_AUTOTRAIN, *paths],
                          capture_output=True, text=True, timeout=300, env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin", "HOME": str(Path.home())})
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(l for l in proc.stdout.splitlines() if l.startswith("RESULT "))
    result = json.loads(line[len("RESULT "):])
    assert set(result) == set(paths)
    for path in rendered:
        raw = _load(path)
        got = result[str(path)]
        assert got["task"] == "sentence_transformers"
        assert got["trainer"] == raw["task"].split(":")[1]
        assert got["model"] == raw["base_model"] and got["project_name"] == raw["project_name"]
        assert got["lr"] == pytest.approx(raw["params"]["lr"]) and got["epochs"] == raw["params"]["epochs"]
    assert result[str(rendered[0])]["sentence3_column"] == "negative"
    assert result[str(rendered[-1])]["push_to_hub"] is True


def test_an_evaluation_only_dataset_cannot_be_trained_on(tmp_path):
    import json as _json

    from wrapper.config import render_config
    from wrapper.errors import InputError

    ds = tmp_path / "dev"
    ds.mkdir()
    (ds / "dataset.json").write_text(_json.dumps({"name": "dev", "eval_only": True, "has_negatives": True}))
    with pytest.raises(InputError, match="evaluation-only dataset"):
        render_config(ds, base_model="bundled", name="x", out_dir=tmp_path / "cfg")


# ------------------------------------------------------------ flagembedding:reranker


def test_flagembedding_config_has_autotrains_shape_and_flagembeddings_params(dataset):
    path = render_config(dataset, base_model="bundled", name="fe", task="flagembedding:reranker",
                         epochs=2, lr=3e-5, batch_size=4, max_steps=7, train_group_size=3)
    raw = _load(path)
    assert list(raw) == ["task", "base_model", "project_name", "log", "backend", "data", "params"]
    assert raw["data"]["path"] == "data/tiny" and raw["data"]["train_split"] == "train"
    assert raw["data"]["valid_split"] is None  # FlagEmbedding does not evaluate; the gate does afterwards
    assert raw["data"]["column_mapping"] == {"sentence1_column": "query", "sentence2_column": "pos",
                                             "sentence3_column": "neg"}
    params = raw["params"]
    # the generic flags land on FlagEmbedding's own argument names
    assert (params["num_train_epochs"], params["learning_rate"], params["per_device_train_batch_size"],
            params["max_steps"], params["train_group_size"]) == (2, 3e-5, 4, 7, 3)
    assert "lr" not in params and "epochs" not in params and "max_seq_length" not in params
    assert not params.get("fp16") and not params.get("bf16")  # this machine has no GPU
    config = load_config(path)
    assert config.is_flagembedding and config.params_model().query_max_len == 32
    assert "FlagEmbedding.finetune.reranker.encoder_only.base" in path.read_text()


def test_flagembedding_params_are_strict_with_the_allowed_list(dataset):
    raw = _load(render_config(dataset, base_model="bundled", name="fe", task="flagembedding:reranker"))
    raw["params"]["max_seq_length"] = 128
    with pytest.raises(InputError, match=r"unknown key 'params.max_seq_length' for task flagembedding:reranker; "
                                         r"allowed keys: num_train_epochs, .*query_max_len, passage_max_len"):
        parse_config(raw)
    del raw["params"]["max_seq_length"]
    raw["params"].update(fp16=True, bf16=True)
    with pytest.raises(InputError, match="fp16 and bf16 are both true"):
        parse_config(raw)
    raw["params"].update(fp16=False, bf16=False, train_group_size=1)
    with pytest.raises(InputError, match=r"params.train_group_size: .*greater than or equal to 2"):
        parse_config(raw)
    raw["params"]["train_group_size"] = 4
    raw["data"]["valid_split"] = "validation"
    with pytest.raises(InputError, match="(?s)FlagEmbedding does not evaluate during training.*valid_split: null"):
        parse_config(raw)


@pytest.mark.parametrize("task", ["flagembedding:layerwise", "flagembedding:decoder-only", "flagembedding:llm"])
def test_decoder_only_and_layerwise_tasks_are_rejected_naming_what_works(dataset, task, run_cli):
    with pytest.raises(InputError, match=r"decoder-only \(LLM\) and layerwise rerankers are not supported; "
                                         r"the supported task is flagembedding:reranker"):
        render_config(dataset, base_model="bundled", name="fe", task=task)
    raw = _load(render_config(dataset, base_model="bundled", name="fe", task="flagembedding:reranker"))
    raw["task"] = task
    with pytest.raises(InputError, match="the supported task is flagembedding:reranker"):
        parse_config(raw)
    code, _, err = run_cli("config", dataset, "--base-model", "bundled", "--task", task)
    assert code != 0 and "flagembedding:reranker" in err and "Traceback" not in err


@pytest.mark.parametrize("base", ["BAAI/bge-reranker-v2-gemma", "BAAI/bge-reranker-v2-minicpm-layerwise"])
def test_decoder_only_base_models_are_rejected_by_name(dataset, base):
    with pytest.raises(InputError, match=r"looks like a decoder-only or layerwise reranker.*flagembedding:reranker"):
        render_config(dataset, base_model=base, name="fe", task="flagembedding:reranker")


def test_a_local_causal_lm_folder_is_rejected_as_a_base(dataset, tmp_path):
    folder = tmp_path / "my-model"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "qwen2", "architectures": ["Qwen2ForCausalLM"]}))
    with pytest.raises(InputError, match=r"is a decoder-only model \(qwen2\)"):
        render_config(dataset, base_model=str(folder), name="fe", task="flagembedding:reranker")


def test_flagembedding_refuses_a_hub_push_and_a_dataset_without_negatives(dataset, isolated_home):
    with pytest.raises(InputError, match="hub.push_to_hub is not supported for flagembedding:reranker"):
        render_config(dataset, base_model="bundled", name="fe", task="flagembedding:reranker", hub_username="al")
    pairs = write_tiny_dataset(Path("data") / "pairs", has_negatives=False)
    with pytest.raises(InputError, match="flagembedding:reranker needs negatives"):
        render_config(pairs, base_model="bundled", name="fe", task="flagembedding:reranker")


def test_distill_needs_teacher_scores_in_the_train_file(dataset):
    with pytest.raises(InputError, match=r"train.jsonl, line 1: params.distill is true but this record has no "
                                         r"\"pos_scores\""):
        render_config(dataset, base_model="bundled", name="fe", task="flagembedding:reranker", distill=True)
    train = dataset / "flagembedding" / "train.jsonl"
    records = [json.loads(line) for line in train.read_text().splitlines()]
    with open(train, "w", encoding="utf-8") as fh:
        for r in records:
            fh.write(json.dumps({**r, "pos_scores": [3.0], "neg_scores": [-1.0] * len(r["neg"])}) + "\n")
    path = render_config(dataset, base_model="bundled", name="fe", task="flagembedding:reranker", distill=True)
    assert load_config(path).params_model().distill is True


def test_cli_max_seq_length_for_flagembedding_points_at_its_own_lengths(dataset, run_cli):
    code, _, err = run_cli("config", dataset, "--base-model", "bundled", "--task", "flagembedding:reranker",
                           "--max-seq-length", "64")
    assert code != 0 and "--param query_max_len=N --param passage_max_len=N" in err
    code, out, err = run_cli("config", dataset, "--base-model", "bundled", "--task", "flagembedding:reranker",
                             "--param", "lr=5e-5", "--param", "passage_max_len=64")
    assert code == 0, err
    params = _load(Path(out.strip()))["params"]
    assert params["learning_rate"] == 5e-5 and params["passage_max_len"] == 64
    assert out.strip().endswith("tiny-minilm-flagembedding.yml")


def test_flagembedding_group_size_fits_the_negatives_the_data_has(isolated_home):
    """FlagEmbedding repeats a query's negatives to fill its group: the preset size is lowered to what
    the data holds, and a size asked for that the data cannot fill is an error naming the file and fix."""
    few = write_tiny_dataset(Path("data") / "few", negatives=1)
    raw = _load(render_config(few, base_model="bundled", name="fe-few", task="flagembedding:reranker"))
    assert PRESETS["bundled"]["flagembedding"]["train_group_size"] > 2
    assert raw["params"]["train_group_size"] == 2  # 1 positive + the 1 negative each query has
    with pytest.raises(InputError, match=r"few/flagembedding/train\.jsonl: train_group_size 5 needs 4 negatives "
                                         r"per query, but 40 of 40 queries have fewer .*\n  hint: pass --param "
                                         r"train_group_size=2, or prepare the data with --num-negatives 4"):
        render_config(few, base_model="bundled", name="fe-few5", task="flagembedding:reranker", train_group_size=5)
    # enough negatives: the preset and an explicit size are kept as they are
    many = write_tiny_dataset(Path("data") / "many", negatives=5)
    raw = _load(render_config(many, base_model="bundled", name="fe-many", task="flagembedding:reranker"))
    assert raw["params"]["train_group_size"] == PRESETS["bundled"]["flagembedding"]["train_group_size"]
