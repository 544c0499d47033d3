"""The execution page (Engineer B's; a placeholder until theirs lands)."""

from __future__ import annotations

from typing import Any

from .app import UI, Request, Response, Route
from .html import esc, href, page


def execution_page(ui: UI, request: Request, domain: str, workflow_id: str, run_id: str) -> Response:
    crumbs = [("Domains", href()), (domain, href("d", domain)), (workflow_id, None)]
    return page(workflow_id, f"<p>Run {esc(run_id)}: the execution page is coming.</p>", request=request, crumbs=crumbs)


def offline_page(ui: UI, request: Request, history: Any, upload_id: str) -> Response:
    return page("History file", f"<p>{len(history.events)} events: the offline view is coming.</p>", request=request)


ROUTES = [Route("GET", "/d/{domain}/x/{workflow_id}/{run_id}", execution_page)]
