"""Retrieve-then-rerank with llama-index, using autorerank's models (runs offline).

    .venv/bin/python examples/llamaindex_rerank.py --reranker RUN_OR_FOLDER [--embed bundled|RUN]

A VectorStoreIndex over data/raw/sample/corpus.jsonl is embedded with the bundled
all-MiniLM-L6-v2 (or a bi-encoder fine-tune: `--embed RUN`); the retriever's top-10 is
reordered by the fine-tuned cross-encoder as a llama-index node postprocessor
(`SentenceTransformerRerank`), and the top-3 before and after are printed for a few
sample queries. No LLM is needed. With an LLM configured, the same pieces make a query
engine:

    query_engine = index.as_query_engine(similarity_top_k=10, node_postprocessors=[rerank])
    print(query_engine.query("forgot my password"))

A FlagEmbedding fine-tune goes in `FlagEmbeddingReranker(model=folder, top_n=3)` instead.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "data" / "raw" / "sample" / "corpus.jsonl"
PAIRS = ROOT / "data" / "raw" / "sample" / "pairs.csv"


def model_folder(model: str) -> str:
    """A run id, folder or `bundled` -> the local folder llama-index loads."""
    sys.path.insert(0, str(ROOT))
    from wrapper.evaluate.models import resolve_model

    return str(resolve_model(model).path)


def sample_queries(n: int) -> list[str]:
    seen: list[str] = []
    with PAIRS.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            if row["query"] not in seen:
                seen.append(row["query"])
            if len(seen) == n:
                break
    return seen


def build_index(embed_folder: str, corpus: Path = CORPUS):
    from llama_index.core import Document, VectorStoreIndex
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding

    docs = []
    with corpus.open(encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            docs.append(Document(text=row["text"], doc_id=row["_id"], metadata={"title": row.get("title", "")},
                                 excluded_embed_metadata_keys=["title"], excluded_llm_metadata_keys=["title"]))
    embed = HuggingFaceEmbedding(model_name=embed_folder, device="cpu")
    return VectorStoreIndex.from_documents(docs, embed_model=embed)


def before_after(index, reranker_folder: str, queries: list[str], top_k: int = 10, top_n: int = 3) -> list[dict]:
    from llama_index.core.postprocessor import SentenceTransformerRerank

    rerank = SentenceTransformerRerank(model=reranker_folder, top_n=top_n, device="cpu")
    retriever = index.as_retriever(similarity_top_k=top_k)
    out = []
    for query in queries:
        nodes = retriever.retrieve(query)
        # read the retriever's top-n first: the postprocessor overwrites node scores in place
        before = [(n.node.metadata.get("title"), round(float(n.score), 4)) for n in nodes[:top_n]]
        reranked = rerank.postprocess_nodes(nodes, query_str=query)
        out.append({"query": query, "before": before,
                    "after": [(n.node.metadata.get("title"), round(float(n.score), 4)) for n in reranked]})
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reranker", required=True, help="a cross-encoder run id or folder")
    parser.add_argument("--embed", default="bundled", help="bi-encoder: bundled, a run id or a folder")
    parser.add_argument("--queries", type=int, default=3)
    args = parser.parse_args(argv)
    index = build_index(model_folder(args.embed))
    for item in before_after(index, model_folder(args.reranker), sample_queries(args.queries)):
        print(f"query: {item['query']}")
        print("  retriever top-3:  " + " | ".join(f"{t} ({s})" for t, s in item["before"]))
        print("  reranked top-3:   " + " | ".join(f"{t} ({s})" for t, s in item["after"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
