"""`autorerank generate` against the test stand-in LLM: inputs, chunking, prompts, filters, outputs, resume."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO_ROOT
from llm_standin import StandIn
from wrapper.errors import InputError
from wrapper.generate import GenerateOptions, generate, manifest_path
from wrapper.generate.chunking import chunk_documents, detect_language
from wrapper.generate.documents import Document, read_documents
from wrapper.generate.questions import QuestionFilter, split_answer
from wrapper.jsonio import read_json, read_jsonl
from wrapper.llm import CompletionCache, request_key

DOCS = REPO_ROOT / "data" / "raw" / "docs"
FEW = [DOCS / "en" / "object-storage.md", DOCS / "en" / "api-limits.md", DOCS / "zh" / "安全组.html",
       DOCS / "zh" / "实名认证.md"]


def _options(url: str, tmp_path: Path, **kw) -> GenerateOptions:
    base = dict(llm_base_url=url, llm_model="standin", chunk_size=96, chunk_overlap=8, filter_top_k=None,
                backoff_s=0.01, timeout_s=1.0, cache=tmp_path / "cache.sqlite")
    base.update(kw)
    return GenerateOptions(**base)


# ----------------------------------------------------------------------------- reading documents


def test_every_sample_format_is_read():
    read = read_documents([DOCS])
    by_id = {d.doc_id: d.text for d in read.documents}
    assert "Service credits" in by_id["en/status-and-incidents.pdf"]  # .pdf (page 2)
    assert "归档存储" in by_id["zh/对象存储常见问题.docx"]  # .docx, table row included
    html = by_id["en/invoices-and-payment.html"]
    assert "Invoices are issued" in html and "analytics" not in html and "font-family" not in html
    assert by_id["faq.csv#faq-2"].startswith("Can I move a project")
    # counted, never silently lost: the empty CSV row and the script beside the documents
    assert read.skipped == {"empty_text_row": 1, "unsupported_file_type": 1}


def _encrypted_pdf(path: Path) -> None:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    for page in PdfReader(str(DOCS / "en" / "status-and-incidents.pdf")).pages:
        writer.add_page(page)
    writer.encrypt("s3cret")
    with open(path, "wb") as fh:
        writer.write(fh)


@pytest.mark.parametrize("name, make, message, reason", [
    ("locked.pdf", _encrypted_pdf, "the PDF is encrypted", "encrypted_pdf"),
    ("blob.txt", lambda p: p.write_bytes(b"\x89PNG\x00\x00\x01binary"), "binary file", "binary_file"),
    ("empty.md", lambda p: p.write_text("  \n\n", encoding="utf-8"), "no text", "empty_file"),
    ("broken.docx", lambda p: p.write_bytes(b"PK not really a zip"), "not a readable .docx", "broken_docx"),
    ("broken.pdf", lambda p: p.write_bytes(b"%PDF-1.4 garbage"), "PDF", None),
])
def test_an_unreadable_file_is_named_or_counted(tmp_path, name, make, message, reason):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "good.md").write_text("Backups run every night at two o'clock.", encoding="utf-8")
    make(folder / name)
    with pytest.raises(InputError, match=message) as info:
        read_documents([folder])
    assert name in str(info.value) and "--skip-unreadable" in str(info.value)
    read = read_documents([folder], skip_unreadable=True)
    assert [d.doc_id for d in read.documents] == ["good.md"]
    assert sum(read.skipped.values()) == 1 and (reason is None or read.skipped[reason] == 1)


def test_a_jsonl_without_a_text_column_says_which_columns_it_has(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text('{"id": 1, "body_html": "x"}\n', encoding="utf-8")
    with pytest.raises(InputError, match=r"rows.jsonl: no text column; columns: id, body_html\n  hint: .*--text-col"):
        read_documents([path])
    assert read_documents([path], text_col="body_html").documents[0].doc_id == "rows.jsonl#1"


def test_a_bad_jsonl_line_is_named(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text('{"text": "fine"}\n{"text": oops}\n', encoding="utf-8")
    with pytest.raises(InputError, match="rows.jsonl, line 2: not valid JSON"):
        read_documents([path])


# ----------------------------------------------------------------------------- chunking and filtering


def test_chinese_is_chunked_at_sentence_ends_within_the_token_budget():
    from llama_index.core.utils import get_tokenizer

    text = "".join(f"第{i}条：开启版本控制以后，误删的对象可以从历史版本恢复，历史版本会计入存储费用。" for i in range(40))
    chunks, _ = chunk_documents([Document("zh.md", "zh.md", text)], chunk_size=64, chunk_overlap=8)
    assert len(chunks) > 5 and {c.lang for c in chunks} == {"zh"}
    assert all(c.text.endswith("。") for c in chunks)
    tokenizer = get_tokenizer()
    assert max(len(tokenizer(c.text)) for c in chunks) <= 64
    assert detect_language("Northwind Cloud 中国区支持开具增值税普通发票和增值税专用发票。") == "zh"
    assert detect_language("Enable dual-stack on the private network first.") == "en"


def test_chunk_options_are_checked():
    with pytest.raises(InputError, match="--chunk-overlap"):
        chunk_documents([Document("a", "a", "text")], chunk_size=100, chunk_overlap=100)


@pytest.mark.parametrize("answer, lang, kept, reason", [
    ("1. How do I rotate an API key?\n2) What is the request limit per key?", "en", 2, None),
    ("", "en", 0, "empty_answer"),
    ("Sure, here are some questions:", "en", 0, "not_a_question"),
    ("How " + "very " * 80 + "long?", "en", 0, "too_long"),
    ("如何开通对象存储的版本控制？", "en", 0, "off_language"),
    ("How do I rotate an API key?", "zh", 0, "off_language"),
    ("- 安全组最多可以加入几个", "zh", 1, None),
    ("How do I rotate an API key?\nhow do I rotate an api key??", "en", 1, "duplicate"),
])
def test_the_question_filter(answer, lang, kept, reason):
    qfilter = QuestionFilter()
    assert len(qfilter.keep(answer, lang)) == kept
    if reason:
        assert qfilter.dropped[reason] >= 1


def test_numbering_and_quotes_are_removed():
    assert split_answer('1. "What is SCIM?"\nQ2: Why 2FA?\n• 问题3：如何备案？') == ["What is SCIM?", "Why 2FA?", "如何备案？"]


# ----------------------------------------------------------------------------- generate end to end (stand-in)


def test_generate_writes_pairs_chunks_and_a_manifest_that_accounts_for_everything(tmp_path):
    out = tmp_path / "gen.jsonl"
    with StandIn(faults=["off_language", "500", "empty"]) as llm:
        # Chinese documents first: the off-language fault (an English answer) hits a Chinese chunk
        report = generate(FEW[::-1], out, _options(llm.url, tmp_path, concurrency=1), progress=False)
        prompts = [r["body"]["messages"][0]["content"] for r in llm.requests]
    pairs, chunks = read_jsonl(out), read_jsonl(tmp_path / "gen.chunks.jsonl")
    manifest = read_json(manifest_path(out))
    assert manifest == report.manifest
    ids = {c["id"] for c in chunks}
    assert pairs and all(p["chunk_id"] in ids and p["query"] and p["positive"] for p in pairs)
    assert {p["lang"] for p in pairs} == {"en", "zh"}
    # prompts in the chunk's language
    zh_chunks = [c for c in chunks if c["lang"] == "zh"]
    assert len({p for p in prompts if "个问题" in p}) == len(zh_chunks) and zh_chunks
    # every chunk and every call accounted for
    c, calls, q = manifest["chunks"], manifest["calls"], manifest["questions"]
    assert c["total"] == len(chunks) == calls["planned"]
    assert c["with_questions"] + sum(c["without_questions"].values()) == c["total"]
    assert calls["from_cache"] + calls["answered"] + calls["failed"] == calls["planned"]
    assert calls["usage"]["retries"] == 1 and calls["usage"]["requests"] == calls["planned"] + 1
    assert q["raw"] == q["kept"] + sum(v for k, v in q["dropped_by_reason"].items() if k != "empty_answer")
    assert q["dropped_by_reason"]["empty_answer"] == 1 and q["dropped_by_reason"]["off_language"] >= 1
    assert q["kept"] == len(pairs)
    assert f"autorerank prepare {out} --corpus {tmp_path / 'gen.chunks.jsonl'}" in report.summary()


def test_dry_run_sends_nothing_and_counts_the_calls(tmp_path):
    with StandIn() as llm:
        report = generate(FEW, tmp_path / "gen.jsonl", _options(llm.url, tmp_path, dry_run=True), progress=False)
        assert llm.count() == 0
        generate(FEW[:1], tmp_path / "one.jsonl", _options(llm.url, tmp_path), progress=False)
        again = generate(FEW, tmp_path / "gen.jsonl", _options(llm.url, tmp_path, dry_run=True), progress=False)
    planned = report.manifest["calls"]["planned"]
    assert report.manifest["calls"]["to_send"] == planned > 0
    assert 0 < again.manifest["calls"]["to_send"] < planned  # the first document's calls are cached now
    assert not (tmp_path / "gen.jsonl").exists()
    assert "nothing sent" in report.summary()


def test_a_user_template_replaces_the_prompts(tmp_path):
    template = tmp_path / "prompt.txt"
    template.write_text("Context ({language}):\n---------------------\n{context}\n---------------------\n"
                        "Give {n} questions.", encoding="utf-8")
    with StandIn() as llm:
        generate(FEW[:1], tmp_path / "g.jsonl", _options(llm.url, tmp_path, prompt_template=template,
                                                         questions_per_chunk=2), progress=False)
        prompt = llm.requests[0]["body"]["messages"][0]["content"]
    assert prompt.startswith("Context (English):") and "Give 2 questions." in prompt
    bad = tmp_path / "bad.txt"
    bad.write_text("no placeholder", encoding="utf-8")
    with pytest.raises(InputError, match=r"bad.txt: the prompt template has no \{context\}"):
        generate(FEW[:1], tmp_path / "g.jsonl", _options("http://127.0.0.1:9/v1", tmp_path, prompt_template=bad))


@pytest.mark.slow  # loads the bundled model as the miner
def test_the_consistency_filter_keeps_questions_whose_chunk_the_miner_finds(tmp_path):
    with StandIn() as llm:
        report = generate(FEW, tmp_path / "g.jsonl", _options(llm.url, tmp_path, filter_top_k=1), progress=False)
    cf = report.manifest["questions"]["consistency_filter"]
    assert cf["enabled"] and cf["checked"] == cf["kept"] + cf["dropped"] and cf["kept"] > 0
    assert cf["source_rank_1"] == cf["kept"]  # top 1: only questions that find their own chunk first
    assert "source chunk in the miner's top 1" in report.summary()


GENERATE = ("import sys; from wrapper.cli import main; main(sys.argv[1:])")


def test_a_killed_generate_resumes_from_the_cache_without_repeating_a_call(tmp_path):
    out, cache = tmp_path / "gen.jsonl", tmp_path / "cache.sqlite"
    argv = [sys.executable, "-c", GENERATE, "generate", *map(str, FEW), "--out", str(out), "--cache", str(cache),
            "--chunk-size", "64", "--chunk-overlap", "8", "--concurrency", "2", "--filter-top-k", "off"]
    with StandIn(delay_s=0.1) as llm:
        child = subprocess.Popen(argv + ["--llm-base-url", llm.url, "--llm-model", "standin"], cwd=REPO_ROOT,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 120
        while llm.count() < 6 and time.time() < deadline and child.poll() is None:
            time.sleep(0.05)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        first_run = llm.count()
        store = CompletionCache(cache)
        cached = store.keys()
        store.close()
        assert not out.exists()  # killed before it wrote anything
        report = generate(FEW, out, _options(llm.url, tmp_path, chunk_size=64, concurrency=2), progress=False)
        second = [request_key(r["body"]) for r in llm.requests[first_run:]]
    assert len(cached) >= 4
    assert not set(second) & cached  # nothing answered before the kill was asked again
    calls = report.manifest["calls"]
    assert calls["from_cache"] == len(cached) and calls["answered"] == len(second)
    assert calls["planned"] == len(cached) + len(second)
    assert os.environ.get("AUTORERANK_LLM_API_KEY") is None


def test_cli_a_401_stops_at_once_and_the_key_never_reaches_a_file_or_log(tmp_path, run_cli, monkeypatch, caplog):
    import logging

    caplog.set_level(logging.DEBUG)
    secret = "sk-test-NEVER-WRITE-ME-7d1e"
    monkeypatch.setenv("AUTORERANK_LLM_API_KEY", secret)
    common = [*map(str, FEW), "--chunk-size", "96", "--chunk-overlap", "8", "--filter-top-k", "off"]
    with StandIn(api_key="the-right-key") as llm:
        code, out, err = run_cli("generate", *common, "--out", "bad.jsonl", "--concurrency", "1",
                                 "--llm-base-url", llm.url, "--llm-model", "standin")
        assert code == 1 and llm.count() == 1  # the first 401 ends the run: nothing more is sent
    assert err.count("error:") == 1 and "refused the API key (HTTP 401)" in err and "Traceback" not in err
    with StandIn(api_key=secret) as llm:
        code, out, err2 = run_cli("generate", *common, "--out", "good.jsonl",
                                  "--llm-base-url", llm.url, "--llm-model", "standin")
        assert code == 0, err2
        assert all(r["status"] == 200 for r in llm.requests)  # the key was sent
    assert "autorerank prepare good.jsonl --corpus good.chunks.jsonl" in out
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.suffix == ".sqlite" for p in written) and any(p.name == "good.manifest.json" for p in written)
    for path in written:
        assert secret.encode() not in path.read_bytes(), path
    for text in (out, err, err2, caplog.text):
        assert secret not in text


def test_when_every_call_fails_nothing_is_written_and_the_message_says_why(tmp_path):
    from wrapper.errors import RunFailed

    with StandIn(always="500") as llm:
        with pytest.raises(RunFailed, match=r"every one of the \d+ LLM calls failed after its retries \(http 500"):
            generate(FEW[:1], tmp_path / "g.jsonl", _options(llm.url, tmp_path, max_retries=1), progress=False)
    assert not (tmp_path / "g.jsonl").exists()
