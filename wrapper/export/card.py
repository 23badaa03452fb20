"""The model card (README.md with the YAML header the Hugging Face Hub reads) of an export."""

from __future__ import annotations

import json

import yaml

from wrapper.evaluate.models import CROSS_ENCODER


def _header(facts: dict) -> str:
    cross = facts["kind"] == CROSS_ENCODER
    meta = {
        "library_name": "sentence-transformers",
        "pipeline_tag": "text-ranking" if cross else "sentence-similarity",
        "tags": ["autorerank", "cross-encoder" if cross else "sentence-transformers", "reranker"],
    }
    if facts.get("base_model"):
        meta["base_model"] = facts["base_model"]
    if facts.get("dataset", {}).get("name"):
        meta["datasets"] = [facts["dataset"]["name"]]
    return "---\n" + yaml.safe_dump(meta, sort_keys=False, allow_unicode=True) + "---\n"


def _usage(facts: dict, folder_name: str) -> str:
    if facts["kind"] == CROSS_ENCODER:
        st = (f'from sentence_transformers import CrossEncoder\n\nmodel = CrossEncoder("{folder_name}")\n'
              'scores = model.predict([("what is bf16?", "a 16-bit float format"), ("what is bf16?", "a city")])\n')
        li = ("from llama_index.core.postprocessor import SentenceTransformerRerank\n\n"
              f'rerank = SentenceTransformerRerank(model="{folder_name}", top_n=3)\n'
              "index.as_query_engine(similarity_top_k=20, node_postprocessors=[rerank])\n")
    else:
        st = (f'from sentence_transformers import SentenceTransformer\n\nmodel = SentenceTransformer("{folder_name}")\n'
              'emb = model.encode(["what is bf16?", "a 16-bit float format"], normalize_embeddings=True)\n')
        li = ("from llama_index.embeddings.huggingface import HuggingFaceEmbedding\n\n"
              f'embed_model = HuggingFaceEmbedding(model_name="{folder_name}")\n'
              "index = VectorStoreIndex.from_documents(docs, embed_model=embed_model)\n")
    serve = (f"autorerank serve {folder_name} --port 8000\n"
             "curl -s 127.0.0.1:8000/rerank -H 'content-type: application/json' \\\n"
             "  -d '{\"query\": \"what is bf16?\", \"documents\": [\"a float format\", \"a city\"], \"top_n\": 1}'\n")
    return (f"## Usage\n\nsentence-transformers:\n\n```python\n{st}```\n\nllama-index:\n\n```python\n{li}```\n\n"
            f"autorerank serve (a Cohere/Jina/TEI-shaped /rerank API):\n\n```bash\n{serve}```\n")


def render(facts: dict, folder_name: str) -> str:
    """README.md text from the export facts (`wrapper.export.collect_facts`)."""
    lines = [_header(facts), f"# {facts['name']}\n",
             f"A {facts['kind']} fine-tuned with [autorerank](https://github.com/) "
             f"(revision `{facts['revision']}`).\n", "## Model\n",
             f"- base model: `{facts.get('base_model') or 'unknown'}`",
             f"- kind: {facts['kind']}", f"- run: `{facts.get('run_id') or 'not a run'}`\n"]
    ds = facts.get("dataset") or {}
    lines.append("## Training data\n")
    if ds:
        lines += [f"- name: `{ds.get('name')}` (folder `{ds.get('path')}`)",
                  f"- content hash: `{ds.get('content_hash')}`",
                  f"- splits: `{json.dumps(ds.get('splits'))}`",
                  f"- rows used / skipped: {ds.get('rows_used')} / {ds.get('rows_skipped')}\n"]
    else:
        lines.append("Not recorded (this model was not exported from a run with a prepared dataset).\n")
    recipe = facts.get("recipe") or {}
    lines.append("## Recipe\n")
    lines.append("```json\n" + json.dumps(recipe, indent=2, sort_keys=True) + "\n```\n" if recipe else "Not recorded.\n")
    gate = facts.get("gate")
    lines.append("## Regression gate\n")
    if gate:
        lines.append(f"Verdict: **{gate.get('verdict')}**. {gate.get('metric')}: base {gate.get('base')}, "
                     f"fine-tuned {gate.get('fine_tuned')}, delta {gate.get('delta')} (95% CI {gate.get('ci')}).\n")
        for g in gate.get("general") or []:
            lines.append(f"- general set {g.get('name')}: base {g.get('base')}, fine-tuned {g.get('fine_tuned')}, "
                         f"delta {g.get('delta')} (95% CI {g.get('ci')}): {g.get('verdict')}")
        if gate.get("advice"):
            lines.append(f"\n{gate['advice']}\n")
    else:
        lines.append("Not judged (run `autorerank gate RUN`).\n")
    lines.append("## Evaluation results\n")
    evals = facts.get("evaluation") or {}
    if evals:
        lines.append("| task | split | main score | value |\n|---|---|---|---|")
        for task, rec in sorted(evals.items()):
            lines.append(f"| {task} | {rec.get('split')} | {rec.get('main_score_name')} | {rec.get('main_score')} |")
        lines.append("")
    else:
        lines.append("None recorded in results/ for this revision (run `autorerank eval`).\n")
    onnx = facts.get("onnx")
    if onnx:
        lines.append("## ONNX\n")
        lines.append(f"`{onnx['file']}` ({onnx['quantize'] or 'fp32'}): agreement with the original on "
                     f"{onnx['queries']} queries: Kendall tau {onnx['kendall_tau']:.4f}, top-3 overlap "
                     f"{onnx['top3_overlap']:.4f}; run it with onnxruntime (see export.json).\n")
    lines.append(_usage(facts, folder_name))
    return "\n".join(lines)
