"""Which checkpoint MODEL names, what kind it is, and its unique name + revision.

MODEL is one of:

- a run id (`runs/<run-id>/status.json`, Contract 3) or a run folder: the run's
  final model, named `autorerank/<run-id>`; its base model comes along;
- a local checkpoint folder (a run's `checkpoint-N/` is named after its run);
- `bundled` (the packaged all-MiniLM-L6-v2, named by its Hub id);
- a Hugging Face Hub id (downloaded through the Hub cache; revision = commit).

Every checkpoint gets a unique (name, revision) so mteb never mixes results of
two different models (Contract 4): the revision of a local folder is the first
12 hex digits of the sha256 of its weights file.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wrapper import settings
from wrapper.dataset import sha256_files
from wrapper.errors import InputError

BI_ENCODER = "bi-encoder"
CROSS_ENCODER = "cross-encoder"
KINDS = (BI_ENCODER, CROSS_ENCODER)

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json",
                "pytorch_model.bin.index.json")
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


@dataclass
class ModelRef:
    """A resolved checkpoint, not loaded yet (cheap: used to skip finished work)."""

    name: str  # unique model name in results/ (e.g. autorerank/<run-id>)
    revision: str
    kind: str  # bi-encoder | cross-encoder
    path: Path  # local folder with the weights
    role: str = "external"  # fine-tune | base | external
    run_id: str | None = None
    source: str | None = None  # what the user typed
    run: Any = None  # the wrapper.run.Run this checkpoint belongs to (a run's model or one of its checkpoints)
    trust_remote_code: bool = False  # the model's code lives in its repository and the user allowed it

    @property
    def run_status(self) -> dict | None:
        return self.run.status if self.run is not None else None

    @property
    def run_dir(self) -> Path | None:
        return self.run.dir if self.run is not None else None

    @property
    def base_model(self) -> str | None:
        """The run's base model, resolved at train time (a folder or a Hub id)."""
        return self.run.base_model if self.run is not None else None

    @property
    def dataset(self) -> str | None:
        """The run's prepared dataset folder (absolute), or None."""
        root = self.run.dataset_root if self.run is not None else None
        return str(root) if root is not None else None


@dataclass
class LoadedModel:
    """A checkpoint loaded with sentence-transformers."""

    model: Any  # SentenceTransformer | CrossEncoder
    kind: str
    name: str
    revision: str
    path: Path
    run_status: dict | None = None
    ref: ModelRef | None = None


# --------------------------------------------------------------------------- folder facts


def weights_file(folder: Path) -> Path | None:
    for name in WEIGHT_FILES:
        if (folder / name).is_file():
            return folder / name
    for sub in sorted(folder.glob("*/model.safetensors")):  # e.g. 0_Transformer/
        return sub
    return None


#: (path, size, mtime_ns) of every weights file -> hash; saves re-hashing within one process
_HASH_MEMO: dict[tuple, str] = {}


def weights_hash(folder: Path) -> str:
    """First 12 hex digits of the sha256 of the weights (all shards for an index)."""
    path = weights_file(folder)
    if path is None:
        raise InputError.at(folder, "no model weights here (model.safetensors or pytorch_model.bin)",
                            hint="point at the folder that holds the final model, e.g. runs/<id>/model")
    files = [path]
    if path.name.endswith(".index.json"):
        try:
            index = json.loads(path.read_text(encoding="utf-8"))
            files = [folder / f for f in sorted(set(index.get("weight_map", {}).values()))]
        except (json.JSONDecodeError, OSError):
            files = [path]
    key = tuple((str(f.resolve()), f.stat().st_size, f.stat().st_mtime_ns) for f in files if f.is_file())
    if key in _HASH_MEMO:
        return _HASH_MEMO[key]
    _HASH_MEMO[key] = sha256_files(files)[:12]
    return _HASH_MEMO[key]


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def detect_kind(folder: Path) -> str:
    """Cross-encoder or bi-encoder, from the files a checkpoint folder holds.

    sentence-transformers >= 4 marks its CrossEncoder in
    config_sentence_transformers.json; a plain Hugging Face reranker has a
    sequence-classification architecture (or num_labels) in config.json; a
    SentenceTransformer has modules.json; any other transformer is embedded with
    mean pooling as a bi-encoder.
    """
    st_config = _read_json(folder / "config_sentence_transformers.json")
    model_type = st_config.get("model_type")
    if model_type == "CrossEncoder":
        return CROSS_ENCODER
    if model_type == "SentenceTransformer":
        return BI_ENCODER
    if (folder / "modules.json").is_file():
        return BI_ENCODER
    config = _read_json(folder / "config.json")
    architectures = config.get("architectures") or []
    if any(str(a).endswith("ForSequenceClassification") for a in architectures):
        return CROSS_ENCODER
    if "num_labels" in config or "id2label" in config and not architectures:
        return CROSS_ENCODER
    if config:
        return BI_ENCODER
    raise InputError.at(folder, "not a model folder (no config.json, modules.json or config_sentence_transformers.json)",
                        hint="pass a run id, a checkpoint folder, `bundled` or a Hub id")


# --------------------------------------------------------------------------- runs


def run_ref(run, source: str | None = None, role: str = "fine-tune") -> ModelRef:
    """The final model of a `wrapper.run.Run` that succeeded (InputError naming its status.json otherwise)."""
    run.require_succeeded("be evaluated")
    folder = run.require_model()
    kind = run.kind if run.kind in KINDS else detect_kind(folder)
    return ModelRef(name=f"autorerank/{run.id}", revision=weights_hash(folder), kind=kind, path=folder, role=role,
                    run_id=run.id, source=source or run.id, run=run,
                    trust_remote_code=bool(run.status.get("trust_remote_code")))


# --------------------------------------------------------------------------- public


def resolve_model(model: str, runs: Path | None = None, *, role: str | None = None) -> ModelRef:
    """Resolve MODEL (see module doc) to a folder, kind, name and revision; loads nothing."""
    if not model or not str(model).strip():
        raise InputError.at("MODEL", "empty", hint="pass a run id, a checkpoint folder, `bundled` or a Hub id")
    from wrapper.run import Run

    model = str(model)
    if Run.locate(model, runs) is not None:
        return run_ref(Run.open(model, runs), source=model, role=role or "fine-tune")

    path = Path(model)
    if path.is_dir():
        folder = path
        bundled = _is_bundled(folder)
        run = None if bundled else Run.enclosing(folder)
        if bundled:
            name = settings.BUNDLED_MODEL_ID
        elif run is not None:
            final = run.model_dir
            if final is not None and final.resolve() == folder.resolve():
                name = f"autorerank/{run.id}"
            else:
                name = f"autorerank/{run.id}-{folder.name}"
        else:
            name = _local_name(folder)
        return ModelRef(name=name, revision=weights_hash(folder), kind=detect_kind(folder), path=folder,
                        role=role or ("fine-tune" if run is not None else "external"),
                        run_id=run.id if run is not None else None, source=model, run=run)

    if model in settings.BUNDLED_MODEL_ALIASES:
        folder = settings.bundled_model_path()
        return ModelRef(name=settings.BUNDLED_MODEL_ID, revision=weights_hash(folder), kind=detect_kind(folder),
                        path=folder, role=role or "external", source=model)

    if _HUB_ID.match(model):
        folder, commit = _hub_snapshot(model)
        return ModelRef(name=model, revision=commit, kind=detect_kind(folder), path=folder,
                        role=role or "external", source=model)

    raise InputError.at(model, "not a run id, a model folder, `bundled` or a Hub id",
                        hint=f"run ids are the folder names under {settings.runs_dir(runs)}/; "
                             "Hub ids look like org/name")


def _is_bundled(folder: Path) -> bool:
    try:
        return folder.resolve() == settings.bundled_model_path().resolve()
    except Exception:  # the bundled package may be missing
        return False


def _local_name(folder: Path) -> str:
    """`local/<folder>` (or the folder's recorded Hub id, e.g. a Hub snapshot)."""
    parts = folder.resolve().parts
    if "snapshots" in parts:  # a Hub cache snapshot: models--org--name/snapshots/<commit>
        idx = parts.index("snapshots")
        repo = parts[idx - 1]
        if repo.startswith("models--"):
            return repo[len("models--"):].replace("--", "/", 1)
    clean = re.sub(r"[^\w.-]", "_", folder.resolve().name) or "model"
    return f"local/{clean}"


def _hub_snapshot(repo_id: str) -> tuple[Path, str]:
    """Download (or find in the Hub cache) a model repo; returns (folder, commit)."""
    from huggingface_hub import snapshot_download

    try:
        folder = Path(snapshot_download(repo_id))
    except Exception as exc:  # offline, gated, not found: one message for all
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError.at(
            repo_id, f"cannot fetch this Hub model ({reason})",
            hint="check the id and your network/HF_TOKEN, or pass a local folder; `bundled` works offline",
        ) from None
    return folder, folder.name


def base_model_ref(ref: ModelRef, runs: Path | None = None) -> ModelRef | None:
    """The base model a fine-tune started from (the run's `base_model`), as its own kind (role 'base')."""
    base = ref.base_model
    if not base:
        return None
    found = resolve_model(base, runs, role="base")
    found.trust_remote_code = ref.trust_remote_code  # the run was allowed to run its base's code
    return found


def load(ref: ModelRef, *, device: str | None = None, precision: str = "fp32"):
    """Load the checkpoint with sentence-transformers as its kind, in `precision`
    (`auto | fp32 | bf16`, see wrapper.precision)."""
    from wrapper import precision as prec

    try:
        extra = {"trust_remote_code": True} if ref.trust_remote_code else {}
        return prec.load(ref.path, ref.kind, precision=precision, device=device, **extra)
    except Exception as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError.at(ref.path, f"cannot load as a {ref.kind} ({reason})",
                            hint="is the folder a complete sentence-transformers / transformers checkpoint?") from None


def load_model(model: str, runs: Path | None = None) -> LoadedModel:
    """Resolve and load MODEL (public API)."""
    ref = resolve_model(model, runs)
    return LoadedModel(model=load(ref), kind=ref.kind, name=ref.name, revision=ref.revision, path=ref.path,
                       run_status=ref.run_status, ref=ref)
