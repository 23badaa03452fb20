"""The llama-index hand-off: every kind of model autorerank produces loads in the matching
llama-index class and reorders nodes; a cross-encoder's ranking there equals ours."""

from __future__ import annotations

import importlib.util
import sys

import pytest

from wrapper import procs

pytestmark = [pytest.mark.slow, pytest.mark.skipif(importlib.util.find_spec("llama_index.embeddings") is None,
                                                   reason="needs the [llamaindex] extra")]

QUERY = "how do I reset my password"
TEXTS = ["The Eiffel Tower is in Paris.", "To reset your password, click 'Forgot password' on the sign-in page.",
         "Invoices are sent on the first day of each month.", "Passwords must have at least 12 characters.",
         "Bananas are rich in potassium."]


def _nodes():
    from llama_index.core.schema import NodeWithScore, TextNode

    return [NodeWithScore(node=TextNode(text=t, id_=f"n{i}"), score=0.0) for i, t in enumerate(TEXTS)]


def _our_order(folder, kind="cross-encoder"):
    from wrapper.serve.scorer import load_scorer

    scores = load_scorer(str(folder), precision="fp32").score([(QUERY, TEXTS)])[0]
    return [f"n{i}" for i in sorted(range(len(TEXTS)), key=lambda i: -scores[i])]


@pytest.fixture(scope="module")
def ce_folders(tmp_path_factory, bundled_model_path, ce_folder):
    """Two differently headed cross-encoders: the shared seed-0 one and a seed-1 one."""
    import torch
    from sentence_transformers import CrossEncoder

    torch.manual_seed(1)
    other = tmp_path_factory.mktemp("li") / "ce1"
    CrossEncoder(str(bundled_model_path), num_labels=1).save(str(other))
    return [ce_folder, other]


def test_cross_encoder_in_sentence_transformer_rerank_ranks_like_autorerank(ce_folders):
    from llama_index.core.postprocessor import SentenceTransformerRerank

    rerank = SentenceTransformerRerank(model=str(ce_folders[0]), top_n=len(TEXTS), device="cpu")
    ranked = rerank.postprocess_nodes(_nodes(), query_str=QUERY)
    assert [n.node.id_ for n in ranked] == _our_order(ce_folders[0])


def test_flagembedding_folder_in_flag_embedding_reranker(ce_folders, tmp_path):
    """The FlagEmbedding backend writes a plain transformers sequence-classification folder."""
    from llama_index.postprocessor.flag_embedding_reranker import FlagEmbeddingReranker
    from sentence_transformers import CrossEncoder

    ce = CrossEncoder(str(ce_folders[1]))
    folder = tmp_path / "flag"
    ce.model.save_pretrained(str(folder))
    ce.tokenizer.save_pretrained(str(folder))
    rerank = FlagEmbeddingReranker(model=str(folder), top_n=3, use_fp16=False)
    ranked = rerank.postprocess_nodes(_nodes(), query_str=QUERY)
    assert [n.node.id_ for n in ranked] == _our_order(folder)[:3]


def test_merged_reranker_in_sentence_transformer_rerank(ce_folders, tmp_path):
    from llama_index.core.postprocessor import SentenceTransformerRerank
    from LM_Cocktail import mix_models

    merged = tmp_path / "merged"
    mix_models([str(f) for f in ce_folders], model_type="reranker", weights=[0.5, 0.5], output_path=str(merged))
    rerank = SentenceTransformerRerank(model=str(merged), top_n=len(TEXTS), device="cpu")
    ranked = rerank.postprocess_nodes(_nodes(), query_str=QUERY)
    assert [n.node.id_ for n in ranked] == _our_order(merged)


def test_bi_encoder_in_hugging_face_embedding_retrieves_like_autorerank(bundled_model_path):
    """An AutoTrain st:triplet run writes a SentenceTransformer folder like the bundled one."""
    from llama_index.core import VectorStoreIndex
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding

    embed = HuggingFaceEmbedding(model_name=str(bundled_model_path), device="cpu")
    index = VectorStoreIndex([n.node for n in _nodes()], embed_model=embed)
    retrieved = [n.node.id_ for n in index.as_retriever(similarity_top_k=len(TEXTS)).retrieve(QUERY)]
    ours = _our_order(bundled_model_path)
    assert retrieved == ours and ours[0] == "n1"  # a real embedding puts the reset passage first


def test_example_runs_offline(ce_folders, tmp_path):
    log = tmp_path / "example.log"
    argv = [sys.executable, str(procs.PROJECT_ROOT / "examples" / "llamaindex_rerank.py"),
            "--reranker", str(ce_folders[0]), "--queries", "2"]
    with open(log, "wb") as out:
        proc = procs.start(argv, env=procs.child_env(offline=True, project_path=True), stdout=out, stderr=out)
        code = proc.wait(timeout=600)
    text = log.read_text()
    assert code == 0, text[-2000:]
    assert text.count("query: ") == 2 and text.count("retriever top-3:") == 2 and text.count("reranked top-3:") == 2
