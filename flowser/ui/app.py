"""The web dashboard: requests to answers, over any boto3 SWF client.

Contract between the dashboard's modules (pages.py, execution.py) and its hosts
===============================================================================

**Types.** The dashboard has its own neutral :class:`Request` and :class:`Response`
(it never imports ``backends``). A host (``flowser/cli/ui.py``, ``flowser serve
--ui`` through ``flowser/cli/runtime.py``) adapts its HTTP server's request to
``Request(method, path, query, headers, body)`` (header names lower-case, ``path``
the full path, e.g. ``/ui/d/orders``), calls ``UI.handle(request)`` and sends the
``Response`` back: ``status``, ``headers``, ``body`` bytes, or ``stream`` (an
iterable of bytes, each piece sent at once: server-sent events).

**Routes.** Everything lives under ``/ui/`` (``PREFIX``). A module registers its
pages by defining ``ROUTES: list[Route]``; :func:`routes` concatenates
``pages.ROUTES`` and ``execution.ROUTES`` (and this module's own: static files and
the event stream). A pattern is relative to the prefix, e.g.
``Route("GET", "/d/{domain}/x/{workflow_id}/{run_id}", handler)``: ``{name}``
matches one non-empty path segment, percent-decoded. A handler is
``handler(ui: UI, request: Request, **params: str) -> Response``. GET routes also
answer HEAD. The first matching route wins; none: a 404 page.

The execution page (execution.py, Engineer B) owns
``/d/{domain}/x/{workflow_id}/{run_id}`` and anything below it (e.g.
``…/history.json``), except ``…/signal``, ``…/cancel`` and ``…/terminate`` (pages.py's
actions, matched first; ``pages.action_links(domain, workflow_id, run_id, is_open)`` is
the HTML of their buttons, for the execution page), and offers ``offline_page(ui, request, history, upload_id)
-> Response``: the view of a ``flowser.historyfile.HistoryFile`` opened from a file
(``/ui/open`` stores the upload in ``ui.uploads[upload_id]`` and its GET
``/ui/open/{upload_id}`` calls ``offline_page``; links inside the offline view go to
``href("open", upload_id, ...)``).

**A page's inputs.** ``ui.client`` is the boto3 SWF client (thread-safe; shared by
every request), ``params["domain"]`` the domain, ``request.param(name)`` /
``request.params(name)`` the query string, ``request.form()`` a POST's
urlencoded fields. A missing thing is ``raise HttpError(404, "text")``; an SWF
fault a handler does not catch becomes an error page (UnknownResourceFault: 404),
never a traceback.

**HTML** (html.py): ``esc(value)`` escapes any value for text and attributes
(``html.escape(str(value), quote=True)``): every value that comes from a workflow
or a request goes through it. ``href(*segments, **query)`` builds a URL under
``/ui/`` with each segment percent-encoded (still ``esc`` it in an attribute).
``layout(title, body, *, request=None, crumbs=(), scripts=(), main_attrs=None)`` is the
whole page around ``body`` (trusted HTML): header with the nav, the crumbs
(``[(label, url or None), ...]``), footer, ``ui.css``; ``scripts`` are names of files
in ``flowser/ui/static/`` (e.g. ``("live.js",)``), loaded as ``/ui/static/<name>``
with ``defer``. ``page(title, body, **layout_kwargs) -> Response`` is the 200
answer; ``json_response``, ``redirect``, ``error_page`` likewise.

Answers carry a ``Content-Security-Policy`` that allows scripts from
``/ui/static/`` only: **no inline script** (nor ``on*=`` attributes); a script reads
its settings from ``data-*`` attributes (e.g. ``layout(..., main_attrs={"data-events":
url})``). Inline ``style=""`` attributes are allowed (timeline bar widths).

**Actions, sessions, CSRF.** Every answer makes sure the browser has a session
(cookie ``flowser_ui_<port>``, HttpOnly, SameSite=Strict, Path=/ui/). Every POST route
is checked here before its handler runs: the form field ``csrf`` must be the
session's token (an HMAC of the session id under a per-process secret) and, when
the host gave credentials, the session must be logged in (``/ui/login``), else 403
(except ``/ui/login`` itself). With
credentials, every GET too (but ``/ui/login`` and ``/ui/static/``) needs a logged-in
session, whose key may use the route's ``{domain}``: else a redirect to the login
page (or 403). The histories are no more open than the SWF endpoint beside them.
A form includes ``ui.csrf_field(request)``. GET never changes anything. Only
pages.py has actions (signal, request cancel, terminate, start).

**Live updates.** ``GET /ui/d/{domain}/events[?workflowId=W[&runId=R]]`` (this
module) is a ``text/event-stream`` of the domain's events, filtered to one
execution when asked. Its first message is ``event: mode``, ``data:
{"mode": "stream"|"sse"|"polling"}``. In ``polling`` mode (AWS, moto: no event
stream), the answer ends there: a script closes its EventSource and refreshes
on a timer instead. Otherwise each history event is ``event: history``, ``data:
{"id", "workflowId", "runId", "workflowType": {"name","version"}, "eventType",
"eventId", "event": <the event as flowser.historyfile.dump_event gives it>}``; a
reader that fell behind gets ``event: lost``, ``data: {"lost": n}``; an error that
ends the stream is ``event: error``, ``data: {"message": "..."}``; a comment
line goes out every ``keepalive`` seconds. The stream ends when the server stops
or the client goes.
"""

from __future__ import annotations

import hashlib
import hmac
import importlib.resources
import json
import logging
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote

log = logging.getLogger("flowser.ui")

PREFIX = "/ui"
COOKIE = "flowser_ui"
KEEPALIVE = 15.0
MAX_UPLOADS = 8
"""Histories opened from files kept in memory at once (the oldest goes first)."""
STATIC_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".svg": "image/svg+xml"}
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}

OPEN_GETS = ("/login", "/static/")
"""Pages anyone may see, credentials or not."""
NO_LOGIN = frozenset({PREFIX + "/login"})
"""POSTs that need CSRF but no login: logging in."""

Check = Callable[[str, str], bool]
"""``check(access_key_id, secret) -> bool``: whether a login is right (the host's credentials)."""
Allows = Callable[[str, str, str], bool]
"""``allows(access_key_id, operation, domain) -> bool``: whether a logged-in key may do that
(``operation`` "": whether it may use the domain at all)."""


class HttpError(Exception):
    """Raised by a handler: answered as an error page with ``status``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Request:
    method: str
    path: str
    query: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    """Lower-case names."""
    body: bytes = b""
    session: Session | None = None
    """Set by :meth:`UI.handle` before the handler runs."""

    def params(self, name: str) -> list[str]:
        return parse_qs(self.query, keep_blank_values=True).get(name, [])

    def param(self, name: str, default: str = "") -> str:
        values = self.params(name)
        return values[-1] if values else default

    def form(self) -> dict[str, list[str]]:
        """A POST's ``application/x-www-form-urlencoded`` fields (multipart: ``multipart()``)."""
        try:
            return parse_qs(self.body.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError as exc:
            raise HttpError(400, "The form is not UTF-8") from exc

    def field(self, name: str, default: str = "") -> str:
        values = self.form().get(name)
        return values[-1] if values else default

    def cookie(self, name: str) -> str | None:
        """The value of a cookie (split by hand: a malformed cookie of another site on this host,
        which ``http.cookies`` would give up on, does not hide ours)."""
        for pair in self.headers.get("cookie", "").split(";"):
            key, sep, value = pair.strip().partition("=")
            if sep and key == name:
                return value.strip().strip('"')
        return None

    @property
    def cookie_name(self) -> str:
        """The session cookie's name: one per port (cookies are per host, not per port, and
        ``flowser ui`` and ``flowser serve --ui`` side by side must not overwrite each other's)."""
        port = self.headers.get("host", "").rpartition(":")[2]
        return f"{COOKIE}_{port}" if port.isdigit() else COOKIE


@dataclass
class Response:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    stream: Iterable[bytes] | None = None
    """A body sent piece by piece as it is made (server-sent events), instead of ``body``."""


@dataclass
class Session:
    id: str
    csrf: str
    user: str | None = None
    """The access key id logged in with, when the host has credentials."""
    new: bool = False


Handler = Callable[..., Response]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: str
    handler: Handler

    def match(self, method: str, path: str) -> dict[str, str] | None:
        if method != self.method and not (method == "HEAD" and self.method == "GET"):
            return None
        want = self.pattern.strip("/").split("/") if self.pattern.strip("/") else []
        got = path.strip("/").split("/") if path.strip("/") else []
        if path.endswith("/") and path != "/" and not self.pattern.endswith("/"):
            return None
        if len(want) != len(got):
            return None
        params: dict[str, str] = {}
        for w, g in zip(want, got, strict=True):
            if w.startswith("{") and w.endswith("}"):
                value = unquote(g)
                if not value:
                    return None
                params[w[1:-1]] = value
            elif w != g:
                return None
        return params


def routes() -> list[Route]:
    """Every route of the dashboard, in matching order."""
    from . import execution, pages

    return [
        Route("GET", "/static/{name}", static),
        Route("GET", "/d/{domain}/events", events),
        *pages.ROUTES,
        *execution.ROUTES,
    ]


class UI:
    """The dashboard over one SWF client (see the module docstring)."""

    def __init__(
        self,
        client: Any,
        *,
        check: Check | None = None,
        allows: Allows | None = None,
        keepalive: float = KEEPALIVE,
        backend: str | None = None,
        stopping: Callable[[], bool] | None = None,
    ) -> None:
        self.client = client
        self.check = check
        """None: no credentials; actions need a session and its CSRF token only."""
        self.allows = allows
        self.keepalive = keepalive
        self.backend = backend
        """What the client talks to, for the footer (e.g. ``redis://…``, ``http://…``)."""
        self.stopping = stopping or (lambda: False)
        self.secret = secrets.token_bytes(32)
        self.uploads: OrderedDict[str, Any] = OrderedDict()
        """Histories opened from a file (``flowser.historyfile.HistoryFile``) by upload id."""
        self._sessions: dict[str, str] = {}
        """Logged-in sessions: session id -> access key id."""
        self._lock = threading.Lock()
        self.routes = routes()

    # -- sessions ------------------------------------------------------------------------
    def csrf_token(self, session_id: str) -> str:
        return hmac.new(self.secret, b"csrf:" + session_id.encode(), hashlib.sha256).hexdigest()

    def _session_id_ok(self, value: str) -> bool:
        sid, _, mac = value.partition(".")
        want = hmac.new(self.secret, b"sid:" + sid.encode(), hashlib.sha256).hexdigest()[:32]
        return bool(sid) and hmac.compare_digest(mac, want)

    def _session(self, request: Request) -> Session:
        value = request.cookie(request.cookie_name)
        if value and self._session_id_ok(value):
            sid = value.partition(".")[0]
            with self._lock:
                user = self._sessions.get(sid)
            return Session(sid, self.csrf_token(sid), user)
        sid = secrets.token_urlsafe(24)
        return Session(sid, self.csrf_token(sid), None, new=True)

    def _cookie(self, request: Request, session: Session) -> str:
        mac = hmac.new(self.secret, b"sid:" + session.id.encode(), hashlib.sha256).hexdigest()[:32]
        return f"{request.cookie_name}={session.id}.{mac}; Path={PREFIX}/; HttpOnly; SameSite=Strict"

    def csrf_field(self, request: Request) -> str:
        """The hidden input every POST form carries."""
        token = request.session.csrf if request.session is not None else ""
        return f'<input type="hidden" name="csrf" value="{token}">'

    def login(self, request: Request, key_id: str) -> None:
        """Log this browser in as ``key_id``, under a new session (and so a new CSRF token): a
        session id known before the login is worth nothing after it."""
        sid = secrets.token_urlsafe(24)
        with self._lock:
            if request.session is not None:
                self._sessions.pop(request.session.id, None)
            self._sessions[sid] = key_id
        request.session = Session(sid, self.csrf_token(sid), key_id, new=True)

    def logout(self, request: Request) -> None:
        if request.session is not None:
            with self._lock:
                self._sessions.pop(request.session.id, None)
            request.session.user = None

    @property
    def needs_login(self) -> bool:
        return self.check is not None

    def may(self, request: Request, operation: str, domain: str) -> bool:
        """Whether this session may do ``operation`` on ``domain`` (always, without credentials)."""
        if self.check is None:
            return True
        user = request.session.user if request.session is not None else None
        if user is None:
            return False
        return self.allows is None or self.allows(user, operation, domain)

    def keep_upload(self, history: Any) -> str:
        upload_id = secrets.token_urlsafe(12)
        with self._lock:
            self.uploads[upload_id] = history
            while len(self.uploads) > MAX_UPLOADS:
                self.uploads.popitem(last=False)
        return upload_id

    # -- answering -------------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        from .html import error_page, redirect

        request.session = self._session(request)
        try:
            path = request.path
            if path == PREFIX:
                response = redirect(PREFIX + "/")
            elif not path.startswith(PREFIX + "/"):
                response = error_page(404, "Not found: the dashboard is under /ui/")
            else:
                response = self._dispatch(request, path[len(PREFIX) :])
        except HttpError as err:
            response = error_page(err.status, err.message)
        except Exception as exc:
            response = self._failure(exc)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if request.session.new:  # a new browser, or a login
            response.headers["Set-Cookie"] = self._cookie(request, request.session)
        return response

    def _dispatch(self, request: Request, path: str) -> Response:
        from .html import error_page

        allowed: set[str] = set()
        for route in self.routes:
            params = route.match(request.method, path)
            if params is None:
                if route.match(route.method, path) is not None:
                    allowed.add(route.method)
                continue
            if route.method == "POST":
                refusal = self._refuse_post(request)
                if refusal is not None:
                    return refusal
            elif not route.pattern.startswith(OPEN_GETS):
                refusal = self._refuse_read(request, params.get("domain"))
                if refusal is not None:
                    return refusal
            return route.handler(self, request, **params)
        if allowed:
            response = error_page(405, f"{request.method} is not answered here")
            response.headers["Allow"] = ", ".join(sorted(allowed | ({"HEAD"} if "GET" in allowed else set())))
            return response
        return error_page(404, "Not found")

    def _refuse_post(self, request: Request) -> Response | None:
        from .html import error_page

        assert request.session is not None
        given = ""
        if request.headers.get("content-type", "").startswith("multipart/form-data"):
            from .pages import multipart

            given = next((value.decode("utf-8", "replace") for _, value in multipart(request).get("csrf", [])), "")
        else:
            given = request.field("csrf")
        if request.session.new or not hmac.compare_digest(given.encode(), request.session.csrf.encode()):
            return error_page(
                403, "This form has expired or did not come from this dashboard (CSRF check failed): load the page again."
            )
        if self.check is not None and request.session.user is None and request.path not in NO_LOGIN:
            return error_page(403, "Log in first: this server has credentials.", login=True)
        return None

    def _refuse_read(self, request: Request, domain: str | None) -> Response | None:
        """With credentials, every page but the login needs a logged-in key (allowed the domain, if any)."""
        from .html import error_page, href, redirect

        if self.check is None:
            return None
        assert request.session is not None
        if request.session.user is None:
            return redirect(href("login", next=request.path + ("?" + request.query if request.query else "")))
        if domain is not None and self.allows is not None and not self.allows(request.session.user, "", domain):
            return error_page(403, f"Your key may not use the domain {domain}.")
        return None

    def _failure(self, exc: Exception) -> Response:
        from .html import error_page

        code = _fault_code(exc)
        if code == "UnknownResourceFault":
            return error_page(404, _fault_message(exc))
        if code is not None:
            return error_page(400 if code != "AccessDeniedException" else 403, f"{code}: {_fault_message(exc)}")
        if isinstance(exc, NotImplementedError):
            return error_page(501, f"Not implemented by this backend: {exc}")
        module = type(exc).__module__ or ""
        if module.startswith(("botocore", "urllib3", "redis")) or isinstance(exc, ConnectionError | TimeoutError):
            text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            return error_page(503, f"Cannot reach the backend: {text}")
        log.exception("internal failure")
        return error_page(500, "Internal failure; nothing was changed.")


def _fault_code(exc: BaseException) -> str | None:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        return str(code) if code else None
    return None


def _fault_message(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Message") or exc)
    return str(exc)


# -- static files --------------------------------------------------------------------------
def static(ui: UI, request: Request, name: str) -> Response:
    from .html import error_page

    suffix = "." + name.rpartition(".")[2]
    if "/" in name or name.startswith(".") or suffix not in STATIC_TYPES:
        return error_page(404, "Not found")
    resource = importlib.resources.files("flowser.ui").joinpath("static", name)
    if not resource.is_file():
        return error_page(404, "Not found")
    return Response(200, {"Content-Type": STATIC_TYPES[suffix], "Cache-Control": "no-cache"}, resource.read_bytes())


# -- live events -----------------------------------------------------------------------------
def events(ui: UI, request: Request, domain: str) -> Response:
    """The domain's events as server-sent events (see the module docstring)."""
    from flowser.listen import listen_stream

    workflow_id = request.param("workflowId") or None
    run_id = request.param("runId") or None
    headers = {"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache"}
    if request.method == "HEAD":  # no listener that nothing would read, nor close
        ui.client.describe_domain(name=domain)
        return Response(200, headers)
    stop = threading.Event()
    # no polling here: its first look reads every open run's history, for each page that opens this
    listener = listen_stream(ui.client, domain, stop=lambda: stop.is_set() or ui.stopping())
    if listener is None:
        return Response(200, headers, stream=iter([b'retry: 60000\nevent: mode\ndata: {"mode": "polling"}\n\n']))
    return Response(200, headers, stream=_sse(ui, listener, stop, workflow_id, run_id))


def _sse(ui: UI, listener: Any, stop: threading.Event, workflow_id: str | None, run_id: str | None) -> Iterator[bytes]:
    from flowser.historyfile import dump_event
    from flowser.listen import Lost

    try:
        mode = listener.mode
        yield b"retry: 2000\nevent: mode\ndata: %s\n\n" % json.dumps({"mode": mode}).encode()
        queue: list[bytes] = []
        lock = threading.Lock()
        done = threading.Event()

        def pump() -> None:
            try:
                for item in listener:
                    if isinstance(item, Lost):
                        piece = b"event: lost\ndata: %s\n\n" % json.dumps({"lost": item.count}).encode()
                    else:
                        if workflow_id is not None and item.workflow_id != workflow_id:
                            continue
                        if run_id is not None and item.run_id != run_id:
                            continue
                        data = {
                            "id": item.id,
                            "workflowId": item.workflow_id,
                            "runId": item.run_id,
                            "workflowType": item.workflow_type,
                            "eventType": item.event_type,
                            "eventId": item.event_id,
                            "event": dump_event(item.event),
                        }
                        piece = b"event: history\ndata: %s\n\n" % json.dumps(data, separators=(",", ":")).encode()
                    with lock:
                        queue.append(piece)
            except Exception as exc:
                message = _fault_message(exc)
                with lock:
                    queue.append(b"event: error\ndata: %s\n\n" % json.dumps({"message": message}).encode())
            finally:
                done.set()

        thread = threading.Thread(target=pump, name="flowser-ui-events", daemon=True)
        thread.start()
        last = time.monotonic()
        while True:
            with lock:
                out, queue[:] = b"".join(queue), []
            if out:
                yield out
                last = time.monotonic()
            elif done.is_set():
                return
            elif ui.stopping():
                return
            elif time.monotonic() - last >= ui.keepalive:
                yield b": keepalive\n\n"
                last = time.monotonic()
            done.wait(0.2)
    finally:
        stop.set()
        listener.close()
