"""The FastAPI app of `autorerank serve`.

POST /rerank (also /v1/rerank, the Cohere / Jina path): `{"query": str, "documents":
[str | {"text": str}], "top_n": int?, "return_documents": bool?}` -> `{"model", "results":
[{"index", "relevance_score", "document"?: {"text"}}]}`, best first. GET /health and
GET /info give the model's identity (name, revision, kind, precision, gate verdict).
Every error is JSON `{"error": {"type", "message"}}` with a 4xx status: 400 malformed
JSON, 422 wrong types / empty lists / a text over the length limit, 413 too many
documents. The server never dies on a bad request.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import Callable, Union

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr

from wrapper.serve.batching import Batcher, Job
from wrapper.serve.limits import Limits


class DocumentObject(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: StrictStr


class RerankRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: StrictStr
    documents: list[Union[StrictStr, DocumentObject]]
    top_n: int | None = Field(None, ge=1, strict=True)
    return_documents: StrictBool = False
    model: StrictStr | None = None  # sent by Cohere/Jina clients; this server has one model


def _error(status: int, kind: str, message: str, **extra):
    from fastapi.responses import JSONResponse

    return JSONResponse(status_code=status, content={"error": {"type": kind, "message": message, **extra}})


def create_app(score: Callable[[list[Job]], list[list[float]]], identity: dict | None = None,
               limits: Limits | None = None):
    """The app over `score(jobs)` (e.g. `Scorer.score`); `identity` is shown by /health and /info."""
    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError

    limits = limits or Limits()
    identity = dict(identity or {})
    batcher = Batcher(score, max_batch_pairs=limits.max_batch_pairs, max_wait_ms=limits.max_wait_ms)

    @asynccontextmanager
    async def lifespan(_app):
        await batcher.start()
        yield
        await batcher.stop()

    app = FastAPI(title="autorerank serve", lifespan=lifespan)
    app.state.batcher = batcher
    app.state.limits = limits

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError):
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            return _error(400, "invalid_json", "the request body is not valid JSON")
        details = [{"field": ".".join(str(p) for p in e.get("loc", ())[1:]) or "body", "problem": e.get("msg")}
                   for e in errors]
        first = details[0] if details else {"field": "body", "problem": "invalid"}
        return _error(422, "invalid_request", f"{first['field']}: {first['problem']}", details=details)

    @app.exception_handler(Exception)
    async def _crash(_request: Request, exc: Exception):
        return _error(500, "internal_error", f"{type(exc).__name__}: {exc}")

    @app.get("/health")
    async def health():
        return {"status": "ok", "model": identity, "batches": batcher.calls, "requests": batcher.jobs}

    @app.get("/info")
    async def info():
        return {**identity, "limits": limits.model_dump()}

    async def rerank(body: RerankRequest):
        docs = [d if isinstance(d, str) else d.text for d in body.documents]
        if not docs:
            return _error(422, "empty_documents", "documents: the list is empty; send at least one document")
        if len(docs) > limits.max_documents:
            return _error(413, "too_many_documents",
                          f"documents: {len(docs)} documents, the limit is {limits.max_documents} per request; "
                          "split the request", limit=limits.max_documents)
        if not body.query.strip():
            return _error(422, "empty_query", "query: empty; send the search query")
        too_long = [i for i, d in enumerate(docs) if len(d) > limits.max_chars]
        if len(body.query) > limits.max_chars or too_long:
            where = "query" if len(body.query) > limits.max_chars else f"documents.{too_long[0]}"
            return _error(422, "text_too_long", f"{where}: longer than the limit of {limits.max_chars} characters; "
                          "shorten or chunk it", limit=limits.max_chars)
        scores = await batcher.submit(body.query, docs)
        order = sorted(range(len(docs)), key=lambda i: -scores[i])[: body.top_n or len(docs)]
        results = []
        for i in order:
            item = {"index": i, "relevance_score": scores[i]}
            if body.return_documents:
                item["document"] = {"text": docs[i]}
            results.append(item)
        return {"model": identity.get("name"), "results": results}

    app.post("/rerank")(rerank)
    app.post("/v1/rerank")(rerank)
    return app
