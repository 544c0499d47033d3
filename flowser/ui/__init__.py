"""The web dashboard (``flowser ui``, ``flowser serve --ui``): HTML served over any boto3 SWF client.

See :mod:`flowser.ui.app` for how its parts fit, and docs/ui.md.
"""

from __future__ import annotations

from .app import UI, HttpError, Request, Response, Route

__all__ = ["UI", "HttpError", "Request", "Response", "Route"]
