"""`autorerank serve MODEL`: a /rerank HTTP API over one model (FastAPI + uvicorn)."""

from __future__ import annotations

from pathlib import Path

import click

from wrapper.precision import PRECISIONS
from wrapper.procs import DEFAULT_SERVE_PORT, LOCALHOST


@click.command()
@click.argument("model", metavar="MODEL")
@click.option("--host", default=LOCALHOST, show_default=True, help="Interface to bind (0.0.0.0 exposes it).")
@click.option("--port", type=int, default=DEFAULT_SERVE_PORT, show_default=True)
@click.option("--precision", type=click.Choice(PRECISIONS), default="auto", show_default=True,
              help="auto: bf16 where the CPU/GPU does it natively, else fp32.")
@click.option("--device", default=None, help="cpu, cuda, cuda:1 ... (default: CUDA when available).")
@click.option("--batch-size", type=int, default=32, show_default=True, help="Pairs per forward pass.")
@click.option("--max-documents", type=int, default=1000, show_default=True, help="Documents per request (413 above).")
@click.option("--max-chars", type=int, default=20000, show_default=True,
              help="Characters per query or document (422 above).")
@click.option("--max-wait-ms", type=float, default=5.0, show_default=True,
              help="How long a batch waits for concurrent requests.")
@click.option("--max-batch-pairs", type=click.IntRange(min=1), default=None,
              help="Pairs scored in one model call (default: 8 x --batch-size, at least 64).")
@click.option("--runs", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Parent folder of run folders (default: $AUTORERANK_RUNS or ./runs).")
def serve(model, host, port, precision, device, batch_size, max_documents, max_chars, max_wait_ms, max_batch_pairs,
          runs) -> None:
    """Serve MODEL (a run id, model folder, `bundled` or Hub id) at POST /rerank.

    \b
    The request/response shape of the Cohere / Jina / TEI rerank APIs:
      curl -s 127.0.0.1:8000/rerank -H 'content-type: application/json' \\
        -d '{"query": "what is bf16?", "documents": ["a float format", "a city"], "top_n": 1}'
    GET /health and /info show the model, its revision, precision and gate verdict.
    """
    import uvicorn

    from wrapper.procs import check_port
    from wrapper.serve import Limits, create_app, load_scorer

    check_port(host, port)
    limits = Limits(max_documents=max_documents, max_chars=max_chars, max_wait_ms=max_wait_ms,
                    max_batch_pairs=max_batch_pairs or max(batch_size * 8, 64))
    scorer = load_scorer(model, precision=precision, device=device, batch_size=batch_size, runs=runs)
    ident = scorer.identity
    click.echo(f"serving {ident['name']} ({ident['kind']}, {ident['precision']}) at http://{host}:{port}/rerank",
               err=True)
    uvicorn.run(create_app(scorer.score, ident, limits), host=host, port=port, log_level="warning")
