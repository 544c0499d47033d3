"""What the transport knows of the caller of one request and the engine needs: a context variable
set around the call (``backends.http.app``), never process-wide state.

``signed_region``: the region of the request's SigV4 credential scope, if it was signed; the
engine's domain ARNs carry it, else ``EngineConfig.region`` (docs/semantics.md).
"""

from __future__ import annotations

from contextvars import ContextVar

signed_region: ContextVar[str | None] = ContextVar("flowser_signed_region", default=None)
