"""Every reranker family users start from, through every command, resolved by its real Hub id.

Tiny random-weight models of each family (XLM-R: bge, bce; BERT: ms-marco; DeBERTa-v2: mxbai;
ModernBERT: gte; a Qwen3 sequence-classification decoder; a remote-code model: jina) live in a
local Hugging Face cache under their real repo ids (`hf_families.build_cache`, offline), and every
command gets `--base-model <repo id>` as a user who downloaded the model would type it. Random
weights rank nothing: these tests prove what loads, trains, mixes, exports and serves, and what
is refused with which message. Every outcome is recorded in `artifacts/families.json`; the README's
support table is made from that file (`python tests/hf_families.py --table artifacts/families.json`).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from conftest import REPO_ROOT, isolate, write_tiny_dataset
from hf_families import BY_ID, build_cache, use_cache

from wrapper.errors import InputError

XLMR, BERT, DEBERTA = "BAAI/bge-reranker-base", "cross-encoder/ms-marco-MiniLM-L6-v2", "mixedbread-ai/mxbai-rerank-base-v1"
MODERNBERT, QWEN3, JINA = ("Alibaba-NLP/gte-reranker-modernbert-base", "tomaarsen/Qwen3-Reranker-0.6B-seq-cls",
                           "jinaai/jina-reranker-v2-base-multilingual")
#: what `config` picks for each base (no --task), and the words of its reason
ROUTES = {
    XLMR: ("text_regression", "reads exactly as pairs"), "BAAI/bge-reranker-large": ("text_regression", ""),
    "BAAI/bge-reranker-v2-m3": ("text_regression", ""), "maidalun1020/bce-reranker-base_v1": ("text_regression", ""),
    BERT: ("cross-encoder:mnrl", "token types"), DEBERTA: ("text_regression", ""),
    MODERNBERT: ("text_regression", ""), QWEN3: ("cross-encoder:mnrl", "cannot load qwen3"),
    JINA: ("text_regression", ""),
}
#: one run per (base, task) that CI trains: each family's own route (the cross-encoder backend for BERT,
#: Qwen3 and the remote-code model, AutoTrain for the others), and FlagEmbedding's trainer on XLM-R
TRAINED = [(XLMR, "text_regression"), (XLMR, "flagembedding:reranker"), (BERT, "cross-encoder:mnrl"),
           (DEBERTA, "text_regression"), (MODERNBERT, "text_regression"), (QWEN3, "cross-encoder:mnrl"),
           (JINA, "cross-encoder:mnrl")]
SMALL = ["--epochs", "1", "--batch-size", "8", "--max-seq-length", "64"]
MATRIX: dict[str, dict[str, str]] = {}


def record(repo: str, stage: str, outcome: str) -> None:
    MATRIX.setdefault(repo, {})[stage] = outcome


@pytest.fixture(scope="session", autouse=True)
def _write_matrix():
    yield
    if MATRIX:
        out = REPO_ROOT / "artifacts" / "families.json"
        out.parent.mkdir(exist_ok=True)
        old = json.loads(out.read_text()) if out.is_file() else {}
        old.pop("families", None)
        for repo, stages in MATRIX.items():
            old.setdefault(repo, {}).update(stages)
        families = {r: BY_ID[r].family for r in BY_ID if r in old}  # in FAMILIES' order
        out.write_text(json.dumps({"families": families, **old}, indent=2))


@pytest.fixture(scope="session")
def hf_cache(tmp_path_factory) -> Path:
    cache = tmp_path_factory.mktemp("hf-cache") / "hub"
    build_cache(cache)
    return cache


@pytest.fixture
def hub(hf_cache, monkeypatch) -> Path:
    use_cache(monkeypatch, hf_cache)
    return hf_cache


@pytest.fixture
def data(isolated_home, hub) -> Path:
    return write_tiny_dataset(Path("data") / "tiny", n_queries=24, negatives=3, val_queries=8)


def _config(run_cli, data: Path, repo: str, *extra: str) -> tuple[int, str, dict | None]:
    name = "c-" + repo.split("/")[1][:30].replace(".", "-").replace("_", "-")
    code, out, err = run_cli("config", data, "--base-model", repo, "--name", name, "--no-probe", "--overwrite", *extra)
    raw = yaml.safe_load(Path(out.strip()).read_text()) if code == 0 else None
    return code, err, raw


# --------------------------------------------------------------------------- config (fast)


@pytest.mark.parametrize("repo", list(ROUTES))
def test_config_trains_a_reranker_as_a_reranker(repo, data, run_cli):
    task, words = ROUTES[repo]
    extra = ["--trust-remote-code"] if repo == JINA else []
    code, err, raw = _config(run_cli, data, repo, *extra)
    assert code == 0, err
    assert raw["task"] == task and f"task: {task}: {repo} is a reranker" in err and words in err
    assert raw["base_model"] == repo  # the Hub id: the cache (or the Hub) serves it
    if task == "text_regression":
        sep = "</s></s>" if BY_ID[repo].family in ("xlm-roberta", "remote-code") else "[SEP]"
        assert raw["pairs"] == {"separator": sep, "exact": True, "targets": "anchored", "margin": 2.0, "negatives": 7}
        assert raw["data"]["column_mapping"] == {"text_column": "text", "target_column": "target"}
    assert raw["params"]["max_seq_length"] <= 512  # bge-reranker-v2-m3 has 8,192 positions
    assert raw.get("trust_remote_code", False) == (repo == JINA)
    record(repo, "config", f"works: {task}")


def test_remote_code_is_refused_unless_allowed(data, run_cli):
    code, err, _ = _config(run_cli, data, JINA)
    assert code == 2 and "Traceback" not in err
    assert "needs remote code" in err and "modeling_tiny.py" in err and "--trust-remote-code" in err
    record(JINA, "config without --trust-remote-code", "refused: needs remote code (exit 2)")


def test_st_on_a_reranker_says_what_is_lost(data, run_cli):
    code, err, _ = _config(run_cli, data, XLMR, "--task", "st:triplet")
    assert code == 2 and "drop its trained reranking head (XLMRobertaForSequenceClassification)" in err
    assert "--drop-reranker-head" in err
    code, err, raw = _config(run_cli, data, XLMR, "--task", "st:triplet", "--drop-reranker-head")
    assert code == 0 and raw["task"] == "st:triplet"
    assert "warning: st:triplet drops BAAI/bge-reranker-base's trained reranking head" in err


def test_autotrain_on_bert_warns_about_token_types_and_lengths_are_clamped(data, run_cli):
    code, err, raw = _config(run_cli, data, BERT, "--task", "text_regression")
    assert code == 0 and raw["pairs"]["exact"] is False and "token types" in err and "warning:" in err
    record(BERT, "train (AutoTrain text_regression)", "not by default: one text has no token types (config warns)")
    code, err, raw = _config(run_cli, data, "BAAI/bge-reranker-v2-m3", "--max-seq-length", "10000")
    assert code == 0 and raw["params"]["max_seq_length"] == 8192
    assert "max_seq_length 10000 is more than BAAI/bge-reranker-v2-m3 has positions for (8192)" in err
    code, err, _ = _config(run_cli, data, QWEN3, "--task", "text_regression")
    assert code == 2 and "cannot load qwen3 models (added in 4.51)" in err and "--task cross-encoder:mnrl" in err
    record(QWEN3, "train (AutoTrain text_regression)", "refused: AutoTrain's transformers cannot load qwen3 (exit 2)")


def test_config_states_the_size_of_the_run(data, run_cli, hub):
    from safetensors import safe_open

    snapshot = next((hub / "models--BAAI--bge-reranker-base" / "snapshots").iterdir())
    with safe_open(str(snapshot / "model.safetensors"), "pt") as weights:
        expected = sum(weights.get_tensor(k).numel() for k in weights.keys())
    code, out, err = run_cli("config", data, "--base-model", XLMR, "--name", "sized")
    assert code == 0, err
    assert f"parameters: {expected:,}" in err
    assert "activations at batch 16 x 256 tokens" in err and "per epoch" in err and "measured" in err


# --------------------------------------------------------------------------- training (slow)


@pytest.fixture(scope="session")
def runs(hf_cache, tmp_path_factory):
    """Every (base, task) of TRAINED through `autorerank config` + `autorerank train` (no gate)."""
    from conftest import cli

    home = tmp_path_factory.mktemp("family-runs")
    out = {}
    with pytest.MonkeyPatch.context() as mp:
        isolate(mp, home)
        use_cache(mp, hf_cache)
        data = write_tiny_dataset(Path("data") / "tiny", n_queries=24, negatives=3, val_queries=8)
        for repo, task in TRAINED:
            extra = ["--trust-remote-code"] if repo == JINA else []
            if task == "flagembedding:reranker":
                extra += ["--epochs", "1", "--batch-size", "4", "--param", "passage_max_len=48"]
            elif task == "text_regression":
                extra += [*SMALL, "--negatives", "2"]
            else:
                extra += [*SMALL, "--param", "num_negatives=2"]
            code, err, raw = _config(cli, data, repo, "--task", task, *extra)
            assert code == 0, err
            run_id = f"{repo.split('/')[1][:20]}-{task.split(':')[0]}".replace(".", "-").replace("_", "-")
            code, stdout, stderr = cli("train", f"autotrain_configs/{raw['project_name']}.yml", "--run-id", run_id,
                                       "--no-gate", "--no-progress")
            out[(repo, task)] = (home / "runs" / run_id, code, stderr)
    return home, out


def _trained(runs, repo, task, monkeypatch, hub):
    home, out = runs
    run_dir, code, err = out[(repo, task)]
    assert code == 0, err[-3000:]
    isolate(monkeypatch, home)
    use_cache(monkeypatch, hub)
    return run_dir


@pytest.mark.slow
@pytest.mark.parametrize("repo, task", TRAINED)
def test_each_family_trains_on_its_route_and_is_gated(repo, task, runs, monkeypatch, hub):
    from wrapper.gate import VERDICTS, check_run
    from wrapper.run import Run

    run = Run.open(_trained(runs, repo, task, monkeypatch, hub))
    assert run.state == "succeeded" and run.task == task and run.kind == "cross-encoder"
    assert run.base_model == repo  # resolved once, recorded as the Hub id
    result = check_run(run, general=[])
    assert result.verdict in VERDICTS and Run.open(run.dir).gate["verdict"] == result.verdict
    assert result.base_model == repo
    backend = {"text_regression": "train (AutoTrain text_regression)", "cross-encoder:mnrl": "train (cross-encoder)",
               "flagembedding:reranker": "train (FlagEmbedding)"}[task]
    record(repo, backend, "works")
    record(repo, "gate", f"works ({result.verdict} on random weights)")


@pytest.mark.slow
@pytest.mark.parametrize("repo", [XLMR, DEBERTA, MODERNBERT])
def test_autotrain_keeps_the_reranker_head(repo, runs, monkeypatch, hub):
    """AutoTrain's text_regression loads the base with its trained head and refines it: the fine-tune's
    head is the base's, moved a little, not a fresh random one."""
    import torch
    from safetensors.torch import load_file

    from wrapper.run import Run

    run = Run.open(_trained(runs, repo, "text_regression", monkeypatch, hub))
    base = load_file(str(next((hub / f"models--{repo.replace('/', '--')}" / "snapshots").iterdir()) /
                         "model.safetensors"))
    fine = load_file(str(run.model_dir / "model.safetensors"))
    head = [k for k in base if ("classifier" in k or k.startswith("score")) and k.endswith("weight")]
    assert head, sorted(base)[-5:]
    for key in head:
        cos = torch.nn.functional.cosine_similarity(base[key].flatten().float(), fine[key].flatten().float(), dim=0)
        assert cos > 0.99, (key, float(cos))  # a re-initialised head would be near 0
    assert (run.dir / "pairs" / "train.csv").read_text(encoding="utf-8").startswith("text,target\n")
    summary = json.loads((run.dir / "pairs" / "summary.json").read_text())
    assert summary["targets"] == "anchored" and summary["splits"]["train"]["rows"] == 16 * 3  # 16 queries x (1 + 2)
    record(repo, "head kept (AutoTrain)", "works")


@pytest.mark.slow
@pytest.mark.parametrize("repo, task", TRAINED)
def test_eval_merge_serve_and_llamaindex_take_each_family(repo, task, runs, monkeypatch, hub, tmp_path):
    import torch
    from fastapi.testclient import TestClient
    from llama_index.core.postprocessor import SentenceTransformerRerank
    from llama_index.core.schema import NodeWithScore, TextNode
    from sentence_transformers import CrossEncoder

    from wrapper.evaluate import evaluate
    from wrapper.merge import merge_run
    from wrapper.run import Run
    from wrapper.serve.app import create_app
    from wrapper.serve.scorer import load_scorer
    from wrapper.studio import playground

    run = Run.open(_trained(runs, repo, task, monkeypatch, hub))
    remote = repo == JINA
    rows = evaluate(str(run.dir), show_progress=False).rows
    assert [r["role"] for r in rows] == ["fine-tune", "base"] and rows[1]["model_name"] == repo
    assert rows[1]["revision"] == BY_ID[repo].revision  # the cache's commit, as from the Hub
    record(repo, "eval", "works")

    merged = Run.open(merge_run(str(run.dir), weights=[0.5, 0.5], name=f"mix-{run.dir.name}", general=[]).run_dir)
    mixed = CrossEncoder(str(merged.model_dir), trust_remote_code=remote).model.state_dict()
    fine = CrossEncoder(str(run.model_dir), trust_remote_code=remote).model.state_dict()
    base = CrossEncoder(repo, trust_remote_code=remote).model.state_dict()
    head = [k for k in fine if "classifier" in k or k.startswith("score")]
    assert head and all(torch.allclose(mixed[k], 0.5 * (fine[k] + base[k]), atol=1e-6) for k in head)
    record(repo, "merge (two heads mixed)", "works")

    query, docs = "how do I reset my password", ["Open Settings and click Reset password.", "Bananas are yellow.",
                                                 "Invoices are sent monthly."]
    ours = load_scorer(str(run.dir), precision="fp32").score([(query, docs)])[0]
    order = sorted(range(len(docs)), key=lambda i: -ours[i])
    client = TestClient(create_app(load_scorer(str(run.dir), precision="fp32").score))
    answer = client.post("/rerank", json={"query": query, "documents": docs}).json()
    assert [r["index"] for r in answer["results"]] == order
    record(repo, "serve", "works")
    scorer = load_scorer(str(run.dir), precision="fp32")
    assert playground.score(scorer, query, docs) == pytest.approx(ours, abs=1e-5)
    record(repo, "studio playground", "works")
    if remote:
        for cls in ("SentenceTransformerRerank", "FlagEmbeddingReranker"):
            record(repo, f"llama-index {cls}", "refused: it loads models without trust_remote_code")
        return
    from llama_index.postprocessor.flag_embedding_reranker import FlagEmbeddingReranker

    for cls, make in (("SentenceTransformerRerank",
                       lambda: SentenceTransformerRerank(model=str(run.model_dir), top_n=3, device="cpu")),
                      ("FlagEmbeddingReranker",
                       lambda: FlagEmbeddingReranker(model=str(run.model_dir), top_n=3, use_fp16=False))):
        nodes = [NodeWithScore(node=TextNode(text=t, id_=f"n{i}"), score=0.0) for i, t in enumerate(docs)]
        ranked = make().postprocess_nodes(nodes, query_str=query)
        assert [n.node.id_ for n in ranked] == [f"n{i}" for i in order], cls
        record(repo, f"llama-index {cls}", "works")


@pytest.mark.slow
@pytest.mark.parametrize("repo, task", TRAINED)
def test_export_and_onnx_per_family(repo, task, runs, monkeypatch, hub, tmp_path):
    from wrapper.export import export_model
    from wrapper.run import Run

    run = Run.open(_trained(runs, repo, task, monkeypatch, hub))
    facts = export_model(str(run.dir), tmp_path / "st")
    assert facts["base_model"] == repo and (tmp_path / "st" / "README.md").is_file()
    record(repo, "export", "works")
    problems = facts["tei"]["problems"]
    assert problems == [] or repo == JINA, problems
    record(repo, "TEI loader rules", "works" if not problems else f"refused: {problems[0][:100]}")
    try:
        onnx = export_model(str(run.dir), tmp_path / "onnx", fmt="onnx")["onnx"]
    except InputError as exc:
        message = str(exc)
        assert "Traceback" not in message and "ONNX" in message
        record(repo, "export --format onnx", f"refused: {message.split(': ', 1)[-1].splitlines()[0][:120]}")
        return
    assert onnx["kendall_tau"] > 0.9
    record(repo, "export --format onnx", "works")


@pytest.mark.slow
@pytest.mark.parametrize("repo", [XLMR, BERT, DEBERTA, MODERNBERT, QWEN3])
def test_prepare_teacher_scores_with_each_family(repo, isolated_home, hub, sample_data):
    from wrapper.dataset import Dataset, read_jsonl
    from wrapper.prepare import PrepareOptions, prepare

    src = isolated_home / "pairs.csv"
    lines = (sample_data / "pairs.csv").read_text(encoding="utf-8").splitlines()
    src.write_text("\n".join(lines[:60]) + "\n", encoding="utf-8")
    prepare([src], isolated_home / "data" / "t", PrepareOptions(teacher=repo, num_negatives=2, progress=False))
    ds = Dataset.open(isolated_home / "data" / "t")
    assert ds.manifest["teacher"]["model"] == repo and ds.manifest["teacher"]["kind"] == "cross-encoder"
    record_ = read_jsonl(ds.train_file("flagembedding"))[0]
    assert len(record_["neg_scores"]) == len(record_["neg"]) and all(isinstance(x, float) for x in record_["neg_scores"])
    record(repo, "prepare --teacher", "works")


def test_flagembedding_refuses_a_decoder_base(data, run_cli):
    code, err, _ = _config(run_cli, data, QWEN3, "--task", "flagembedding:reranker")
    assert code == 2 and "decoder-only" in err and "Traceback" not in err
    record(QWEN3, "train (FlagEmbedding)", "refused: FlagEmbedding's decoder rerankers are out of scope")


def test_the_cache_fixture_is_what_the_hub_layout_says(hub):
    for repo, fam in BY_ID.items():
        folder = hub / f"models--{repo.replace('/', '--')}"
        assert (folder / "refs" / "main").read_text().strip() == fam.revision
        assert (folder / "snapshots" / fam.revision / "config.json").is_file()
