"""Request limits of `autorerank serve` (each one reported by name when exceeded)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Limits(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_documents: int = Field(1000, ge=1, description="documents per request (413 above)")
    max_chars: int = Field(20000, ge=1, description="characters per query or document (422 above)")
    max_batch_pairs: int = Field(256, ge=1, description="pairs scored in one model call")
    max_wait_ms: float = Field(5.0, ge=0, description="how long a batch waits for more requests")
