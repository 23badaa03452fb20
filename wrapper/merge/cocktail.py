"""Loading the sources, checking they can be mixed, mixing them with LM-Cocktail, saving the result.

Why not `LM_Cocktail.mix_models(...)` end to end (LM-Cocktail 0.0.4, read from its source):

- for `model_type="encoder"` it re-saves the output as a sentence-transformers
  model with CLS pooling + Normalize, whatever the sources used (all-MiniLM-L6-v2
  uses mean pooling: its embeddings would change);
- for `model_type="reranker"` it loads every source with
  `AutoModelForSequenceClassification`: a base that is a plain encoder (the usual
  fresh-head cross-encoder fine-tune) gets a *random* 2-label head that is then
  averaged into (or fails to broadcast against) the fine-tune's 1-label head;
  and its output has no `config_sentence_transformers.json` (activation lost);
- it only merges the transformer, not other sentence-transformers modules with
  weights (Dense), checks the weight sum one-sidedly, and prints.

So each source is loaded as the run's own sentence-transformers type, and the
whole state dict is mixed with LM-Cocktail's own averaging (`LM_Cocktail.utils.
merge_param`, what `mix_models` calls). The result is loaded into a copy of the
fine-tune and saved by sentence-transformers, so modules, pooling, normalisation,
activation, max length and tokenizer are the fine-tune's, byte for byte.

A cross-encoder whose base is a bi-encoder: the base has no classification head.
Parameters a source lacks are mixed over the sources that have them (weights
renormalised); for a fine-tune and its head-less base that means the encoder is
mixed and the fine-tune's head is kept as trained. `Mixer.notes` says so.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from wrapper.errors import InputError, RunFailed
from wrapper.evaluate.models import BI_ENCODER, CROSS_ENCODER
from wrapper.merge.sources import MergePlan, Source


@contextlib.contextmanager
def _quiet():
    """Silence load reports while loading sources (a fresh head on a bi-encoder base is expected here)."""
    import logging

    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    st_logger = logging.getLogger("sentence_transformers")
    st_level = st_logger.level
    hf_logging.set_verbosity_error()
    st_logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
        st_logger.setLevel(st_level)


def load_as(path: Path, kind: str, *, num_labels: int | None = None, device: str | None = "cpu",
            trust_remote_code: bool = False):
    """Load a model folder as a SentenceTransformer or CrossEncoder (InputError when it cannot)."""
    from sentence_transformers import CrossEncoder, SentenceTransformer

    extra = {"trust_remote_code": True} if trust_remote_code else {}
    try:
        with _quiet():
            if kind == CROSS_ENCODER:
                kwargs = {"num_labels": num_labels} if num_labels is not None else {}
                return CrossEncoder(str(path), device=device, **kwargs, **extra)
            return SentenceTransformer(str(path), device=device, **extra)
    except Exception as exc:  # a broken or foreign folder: one message
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError.at(path, f"cannot load as a {kind} ({reason})",
                            hint="is the folder a complete sentence-transformers / transformers checkpoint?") from None


def hf_model(model):
    """The Hugging Face model inside a sentence-transformers model (its first module)."""
    return model[0].auto_model


def head_keys(model) -> list[str]:
    """State-dict keys of the task head of a cross-encoder: its parameters outside the base encoder."""
    inner = hf_model(model)
    prefix = inner.base_model_prefix + "."
    inner_keys = list(inner.state_dict())
    module_keys = list(model[0].state_dict())
    first = inner_keys[0]
    via = next(k[: -len(first)] for k in module_keys if k.endswith(first))  # e.g. "model."
    return [f"0.{via}{k}" for k in inner_keys if not k.startswith(prefix)]


def _module_signature(model) -> list[str]:
    return [type(m).__name__ for m in model]


def _pooling(model) -> dict | None:
    for module in model:
        if type(module).__name__ == "Pooling" and hasattr(module, "get_config_dict"):
            return module.get_config_dict()
    return None


class Mixer:
    """The loaded sources of a merge plan, mixable by weight in memory."""

    def __init__(self, plan: MergePlan, *, device: str | None = None):
        self.plan = plan
        self.kind = plan.kind
        fine = plan.sources[0]
        self.trust = trust = any(src.ref.trust_remote_code for src in plan.sources)
        first = load_as(fine.path, self.kind, trust_remote_code=trust)
        num_labels = hf_model(first).config.num_labels if self.kind == CROSS_ENCODER else None
        self.states: list[dict] = []
        self.missing: list[set[str]] = []
        self.notes: list[str] = []
        models = [first]
        for source in plan.sources[1:]:
            headless = self.kind == CROSS_ENCODER and source.ref.kind == BI_ENCODER
            models.append(load_as(source.path, self.kind, num_labels=num_labels if headless else None,
                                  trust_remote_code=trust))
        for source, model in zip(plan.sources, models):
            self._check_compatible(fine, first, source, model)
            lacks: set[str] = set()
            if self.kind == CROSS_ENCODER and source.ref.kind == BI_ENCODER:
                lacks = set(head_keys(model))
                self.notes.append(
                    f"{source.label} is a bi-encoder with no classification head: its encoder is mixed in, "
                    f"the head ({', '.join(sorted(k.rsplit('.', 2)[-2] + '.' + k.rsplit('.', 1)[-1] for k in lacks))}) "
                    f"comes only from the model(s) that have one")
            self.states.append({k: v.detach().to("cpu").clone() for k, v in model.state_dict().items()})
            self.missing.append(lacks)
        del models
        # the template every mix is loaded into: a fresh copy of the fine-tune (its files, its config)
        self.template = load_as(fine.path, self.kind, device=device, trust_remote_code=trust)

    def _check_compatible(self, fine: Source, first, source: Source, model) -> None:
        if source is fine:
            return
        where = f"{source.spec} ({source.path})"
        a, b = hf_model(first).config, hf_model(model).config
        if a.model_type != b.model_type:
            raise InputError.at(where, f"a {b.model_type} model cannot be mixed with the fine-tune's {a.model_type}",
                                hint="merge models of the same architecture (the fine-tune's base family)")
        sa, sb = first.state_dict(), model.state_dict()
        ignore = set(head_keys(model)) if self.kind == CROSS_ENCODER and source.ref.kind == BI_ENCODER else set()
        only_a = sorted(set(sa) - set(sb) - ignore)
        only_b = sorted(set(sb) - set(sa) - ignore)
        if only_a or only_b:
            example = (only_a or only_b)[0]
            raise InputError.at(where, f"different architecture from the fine-tune: {len(only_a) + len(only_b)} "
                                f"parameters exist in only one of them (e.g. {example})",
                                hint="merge models of the same architecture and size")
        for key in sa:
            if key not in ignore and tuple(sa[key].shape) != tuple(sb[key].shape):
                raise InputError.at(where, f"different architecture from the fine-tune: {key} has shape "
                                    f"{tuple(sb[key].shape)}, the fine-tune's {tuple(sa[key].shape)}",
                                    hint="merge models of the same architecture and size")
        if self.kind == BI_ENCODER:
            if _module_signature(first) != _module_signature(model) or _pooling(first) != _pooling(model):
                raise InputError.at(where, f"different sentence-transformers modules from the fine-tune "
                                    f"({_module_signature(model)} {_pooling(model)} vs "
                                    f"{_module_signature(first)} {_pooling(first)})",
                                    hint="merge models with the same pooling and modules")
        va, vb = first.tokenizer.get_vocab(), model.tokenizer.get_vocab()
        if va != vb:
            differ = len(set(va.items()) ^ set(vb.items()))
            raise InputError.at(where, f"different tokenizer from the fine-tune ({len(vb)} vs {len(va)} tokens, "
                                f"{differ} entries differ)",
                                hint="merged weights only make sense with the same vocabulary")

    def state(self, weights: list[float]) -> dict:
        """The weighted average of the sources' parameters (LM-Cocktail's merge_param)."""
        from LM_Cocktail.utils import merge_param

        if len(weights) != len(self.states):
            raise ValueError(f"{len(weights)} weights for {len(self.states)} models")
        groups: dict[tuple[int, ...], list[str]] = {}
        for key in self.states[0]:
            holders = tuple(i for i, lacks in enumerate(self.missing) if key not in lacks)
            groups.setdefault(holders, []).append(key)
        merged: dict = {}
        for holders, keys in groups.items():
            share = [weights[i] for i in holders]
            total = sum(share)
            # a parameter only zero-weighted sources have (a head when the fine-tune's weight is 0)
            # still has to come from somewhere: equal shares among them
            share = [w / total for w in share] if total > 0 else [1.0 / len(holders)] * len(holders)
            if len(holders) == 1:
                merged.update({k: self.states[holders[0]][k].clone() for k in keys})
                continue
            merged.update(merge_param([{k: self.states[i][k] for k in keys} for i in holders], share))
        return merged

    def model(self, weights: list[float]):
        """The template with the mix of `weights` loaded (the same object every call)."""
        self.template.load_state_dict(self.state(weights))
        self.template.eval()
        return self.template

    def save(self, weights: list[float], out_dir: Path) -> dict:
        """Write the mix of `weights` to `out_dir` with sentence-transformers; verify by reloading."""
        import torch

        state = self.state(weights)
        self.template.load_state_dict(state)
        with _quiet():
            self.template.save(str(out_dir))
        reloaded = load_as(out_dir, self.kind, trust_remote_code=self.trust)
        got = reloaded.state_dict()
        bad = [k for k, v in state.items() if k not in got or not torch.equal(got[k].cpu(), v.cpu())]
        if bad:
            raise RunFailed(f"{out_dir}: the saved merge does not reload to the mixed weights ({bad[0]}, ...)")
        return {"parameters": len(state), "max_length": _max_length(reloaded)}


def _max_length(model: Any) -> int | None:
    value = getattr(model, "max_seq_length", None) or getattr(model, "max_length", None)
    return int(value) if value else None
