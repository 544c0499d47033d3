"""HTML for the dashboard: escaping, URLs, the page layout, and the common answers.

Every value that comes from a workflow or a request goes through :func:`esc`;
``body`` arguments are trusted HTML built that way.
"""

from __future__ import annotations

import datetime as dt
import html
import json
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import quote, urlencode

from .app import PREFIX, Request, Response

HTML_TYPE = "text/html; charset=utf-8"

Crumbs = Sequence[tuple[str, str | None]]


def esc(value: Any) -> str:
    """``value`` as text safe in HTML content and in quoted attributes."""
    return html.escape("" if value is None else str(value), quote=True)


def href(*segments: str, **query: Any) -> str:
    """A URL under ``/ui/``: each segment percent-encoded, then the query (None and "" left out)."""
    path = PREFIX + "/" + "/".join(quote(str(s), safe="") for s in segments)
    pairs: list[tuple[str, str]] = []
    for name, value in query.items():
        if value is None or value == "":
            continue
        if isinstance(value, list | tuple):
            pairs.extend((name, str(v)) for v in value)
        else:
            pairs.append((name, str(value)))
    return path + ("?" + urlencode(pairs) if pairs else "")


def link(text: Any, url: str, **attrs: str) -> str:
    extra = "".join(f' {name.rstrip("_")}="{esc(value)}"' for name, value in attrs.items())
    return f'<a href="{esc(url)}"{extra}>{esc(text)}</a>'


def status_class(status: str | None) -> str:
    """The CSS class of an execution status (``OPEN``, ``COMPLETED``, ``FAILED``...): ``status-<lower>``."""
    return "status-" + esc((status or "unknown").lower().replace("_", "-"))


def status_badge(status: str | None) -> str:
    return f'<span class="status {status_class(status)}">{esc(status or "?")}</span>'


def relative(when: Any, now: dt.datetime | None = None) -> str:
    """``<time>`` with a relative text (``3 min ago``) and the absolute time in its title."""
    if not isinstance(when, dt.datetime):
        return ""
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    now = now or dt.datetime.now(dt.UTC)
    seconds = (now - when).total_seconds()
    ago = seconds >= 0
    seconds = abs(seconds)
    if seconds < 45:
        text = "just now" if ago else "in a moment"
    else:
        for size, unit in ((86400 * 365, "y"), (86400, "d"), (3600, "h"), (60, "min")):
            if seconds >= size:
                amount = int(seconds // size)
                text = f"{amount} {unit} ago" if ago else f"in {amount} {unit}"
                break
    absolute = when.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    return f'<time datetime="{esc(absolute)}" title="{esc(absolute)}">{esc(text)}</time>'


def layout(
    title: str,
    body: str,
    *,
    request: Request | None = None,
    crumbs: Crumbs = (),
    scripts: Iterable[str] = (),
    main_attrs: dict[str, str] | None = None,
    backend: str | None = None,
) -> str:
    """The whole page around ``body``: header and nav, the crumbs, footer, the stylesheet.

    ``scripts``: files of ``flowser/ui/static/`` loaded with ``defer``; ``main_attrs``:
    attributes of ``<main>`` (``data-*`` settings for the scripts), escaped here.
    """
    trail = ""
    if crumbs:
        items = []
        for label, url in crumbs:
            items.append(f"<li>{link(label, url)}</li>" if url else f'<li aria-current="page">{esc(label)}</li>')
        trail = f'<nav class="crumbs" aria-label="Breadcrumb"><ol>{"".join(items)}</ol></nav>'
    user = ""
    session = request.session if request is not None else None
    if session is not None and session.user:
        user = (
            f'<form method="post" action="{esc(href("logout"))}" class="who">'
            f'<span>Signed in as <strong>{esc(session.user)}</strong></span>'
            f'<input type="hidden" name="csrf" value="{esc(session.csrf)}">'
            f'<button type="submit">Log out</button></form>'
        )
    script_tags = "".join(f'<script src="{esc(href("static", name))}" defer></script>' for name in scripts)
    attrs = "".join(f' {esc(name)}="{esc(value)}"' for name, value in (main_attrs or {}).items())
    footer = "flowser dashboard" + (f" · backend {esc(backend)}" if backend else "")
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)} · flowser</title>"
        f'<link rel="stylesheet" href="{esc(href("static", "ui.css"))}">{script_tags}</head>'
        '<body><a class="skip" href="#main">Skip to content</a>'
        f'<header class="top"><a class="brand" href="{esc(href())}">flowser</a>'
        f'<nav aria-label="Main"><ul><li>{link("Domains", href())}</li><li>{link("Open a history file", href("open"))}</li></ul></nav>'
        f"{user}</header>"
        f'<main id="main"{attrs}>{trail}<h1>{esc(title)}</h1>{body}</main>'
        f'<footer class="bottom">{footer}</footer>'
        "</body></html>\n"
    )


def page(title: str, body: str, *, status: int = 200, **kwargs: Any) -> Response:
    """The HTML answer of a whole page (``layout``'s arguments)."""
    return Response(status, {"Content-Type": HTML_TYPE, "Cache-Control": "no-store"}, layout(title, body, **kwargs).encode())


def fragment(body: str, status: int = 200) -> Response:
    """A piece of HTML (what a script swaps into a page)."""
    return Response(status, {"Content-Type": HTML_TYPE, "Cache-Control": "no-store"}, body.encode())


def json_response(value: Any, status: int = 200, *, download: str | None = None) -> Response:
    headers = {"Content-Type": "application/json", "Cache-Control": "no-store"}
    if download:
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in download)
        headers["Content-Disposition"] = f'attachment; filename="{safe}"'
    return Response(status, headers, json.dumps(value, indent=2, default=str).encode())


def redirect(url: str, status: int = 303) -> Response:
    return Response(status, {"Location": url, "Content-Type": HTML_TYPE}, f'<a href="{esc(url)}">Continue</a>'.encode())


def error_page(status: int, message: str, *, login: bool = False) -> Response:
    titles = {
        400: "Bad request",
        403: "Forbidden",
        404: "Not found",
        405: "Method not allowed",
        409: "Conflict",
        501: "Not implemented",
        503: "Backend unavailable",
    }
    more = f"<p>{link('Log in', href('login'))}</p>" if login else ""
    body = f'<p class="error" role="alert">{esc(message)}</p>{more}<p>{link("Back to the domains", href())}</p>'
    return page(titles.get(status, "Error"), body, status=status)
