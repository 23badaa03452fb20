"""`autorerank serve`: a /rerank HTTP API (TEI / Cohere / Jina shape) over one model.

`app.create_app` builds the FastAPI app, `batching.Batcher` merges concurrent requests
into one model call, `scorer.Scorer` wraps a cross-encoder or bi-encoder, `limits`
holds the request limits.
"""

from wrapper.serve.app import create_app
from wrapper.serve.batching import Batcher
from wrapper.serve.limits import Limits
from wrapper.serve.scorer import Scorer, load_scorer

__all__ = ["Batcher", "Limits", "Scorer", "create_app", "load_scorer"]
