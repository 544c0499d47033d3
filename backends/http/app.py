"""Requests to answers: SWF's wire protocol over HTTP, in front of one ``Engine``.

``App(engine, ...)(request) -> response`` routes

* ``POST /``: an SWF call. ``X-Amz-Target`` is ``SimpleWorkflowService.<Op>``
  or boto2's ``com.amazonaws.swf.service.model.SimpleWorkflowService.<Op>``;
  the body is JSON (``Content-Type`` ``application/x-amz-json-1.0``,
  ``application/json``, any ``charset`` parameter, or none). With
  credentials, the request's SigV4 signature is checked and the key's
  permissions applied first (``auth``); then the call is answered by
  ``backends.local.wire.handle``, the same codec as the in-process client,
  so every success and fault body, status and header is SWF's;
* ``GET /health``: 200 when Redis answers, else 503;
* ``GET /metrics``: Prometheus text (``metrics``);
* ``GET /flowser/listen?domain=D[&from=ID][&eventType=E...][&workflowType=T...]``:
  the domain's event stream (``backends.local.stream``) as server-sent
  events (``listen``), signed like SWF requests when the server has
  credentials;
* a mount (``App(..., mounts={"/ui/": handler})``): every request whose path is
  the prefix, or the prefix without its last ``/``, or below it, goes to
  ``handler(request) -> Response`` as it is, whatever its method (the dashboard
  of ``flowser serve --ui``; the server knows nothing of what is mounted).

Anything else gets an AWS-style error body; nothing ever answers with a
traceback. The App holds no state of its own besides counters: several
server processes on one Redis behave as one service.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from urllib.parse import parse_qs

from backends.local import caller, pollers, wire
from backends.local.engine import OPERATIONS, Engine, decode_token
from backends.local.faults import LimitExceededFault, SWFFault, UnknownOperationException, ValidationException
from backends.local.stream import FROM_OLDEST, parse_id
from backends.local.validation import validate

from .auth import CORAL, AccessKey, AuthError, Credentials, denied, signed_region
from .metrics import Metrics, merge
from .server import Request, Response

log = logging.getLogger("flowser.http.app")

JSON_TYPES = frozenset({"application/x-amz-json-1.0", "application/x-amz-json-1.1", "application/json"})
POLLS = frozenset({"PollForDecisionTask", "PollForActivityTask"})
KNOWN = frozenset(OPERATIONS)
DOMAIN_BY_NAME = frozenset({"RegisterDomain", "DescribeDomain", "DeprecateDomain", "UndeprecateDomain"})
DOMAIN_BY_ARN = frozenset({"TagResource", "UntagResource", "ListTagsForResource"})
TOKEN_KIND = {
    "RespondDecisionTaskCompleted": "d",
    "RespondActivityTaskCompleted": "a",
    "RespondActivityTaskFailed": "a",
    "RespondActivityTaskCanceled": "a",
    "RecordActivityTaskHeartbeat": "a",
}

ABANDON = Response(0, {}, abandon=True)
"""No answer: the connection closes (its poller is gone, or shares it with another process)."""

LISTEN_PATH = "/flowser/listen"
LISTEN_ACTION = "GetWorkflowExecutionHistory"
"""What a key must be allowed, on the domain, to listen to its events (they are its histories)."""
KEEPALIVE = 15.0
"""Seconds between two writes on an event stream at most: a comment line when there is nothing to send."""
LISTEN_BATCH = 500
"""Entries read from Redis at a time for one stream."""


class App:
    """The HTTP face of one engine (see the module docstring)."""

    def __init__(
        self,
        engine: Engine,
        *,
        credentials: Credentials | None = None,
        metrics: Metrics | None = None,
        max_polls: int = 2000,
        keepalive: float = KEEPALIVE,
        mounts: Mapping[str, Callable[[Request], Response]] | None = None,
    ) -> None:
        self.engine = engine
        self.mounts = dict(mounts or {})
        """Path prefix (ending in ``/``) -> handler of every request below it."""
        self.keepalive = keepalive
        """Seconds between two writes on an event stream at most (``listen``)."""
        self.credentials = credentials
        self.metrics = metrics or Metrics()
        self.max_polls = max_polls
        self._polls = 0
        self._polls_lock = threading.Lock()
        self.metrics.held_polls = lambda: self._polls
        self.siblings: Callable[[], list[str]] | None = None
        """``flowser serve --processes``: the metrics texts of the other processes (``metrics.merge``)."""

    # -- routing ------------------------------------------------------------------------
    def __call__(self, request: Request) -> Response:
        try:
            for prefix, handler in self.mounts.items():
                if request.path.startswith(prefix) or request.path == prefix.rstrip("/"):
                    return handler(request)
            if request.path == "/":
                if request.method == "POST":
                    return self.swf(request)
                return self.http_error(405, "UnknownOperationException", "SWF requests are POST /")
            if request.path in ("/health", "/metrics"):
                if request.method not in ("GET", "HEAD"):
                    return self.http_error(405, "UnknownOperationException", f"{request.path} answers GET only")
                return self.health() if request.path == "/health" else self.prometheus(request)
            if request.path == LISTEN_PATH:
                if request.method != "GET":
                    return self.http_error(405, "UnknownOperationException", f"{LISTEN_PATH} answers GET only")
                return self.listen(request)
            return self.http_error(404, "UnknownOperationException", "Not found: SWF requests are POST /")
        except Exception:
            log.exception("internal failure answering %s %s", request.method, request.path)
            return self.http_error(500, "InternalFailure", "Internal failure; nothing was changed")

    def http_error(self, status: int, code: str, message: str) -> Response:
        return Response(status, _headers(), wire.error_body(f"{CORAL}#{code}", message))

    # -- SWF ----------------------------------------------------------------------------
    def swf(self, request: Request) -> Response:
        began = time.perf_counter()
        target = request.headers.get("x-amz-target")
        operation = _operation(target)
        label = operation or "unknown"
        # ARNs carry the region the caller signed for (engine.region); the variable is this call's only
        region = caller.signed_region.set(signed_region(request.headers))
        try:
            response = self._swf(request, target, operation)
        finally:
            caller.signed_region.reset(region)
        error = _error_code(response) if response.status != 200 else None
        self.metrics.request(label, time.perf_counter() - began, error)
        return response

    def _swf(self, request: Request, target: str | None, operation: str | None) -> Response:
        media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media_type and media_type not in JSON_TYPES:
            return self.http_error(
                415, "UnsupportedMediaTypeException", f"Content-Type must be application/x-amz-json-1.0, not {media_type}"
            )
        key: AccessKey | None = None
        if self.credentials is not None:
            try:
                key = self.credentials.authenticate(
                    request.method, request.path, request.query, request.headers, request.body
                )
            except AuthError as err:
                return Response(err.status, _headers(), wire.error_body(err.wire_type, err.message))
        if key is not None and operation is not None:
            refusal = self._authorize(key, operation, request.body)
            if refusal is not None:
                return refusal
        if operation in POLLS:
            return self._poll(operation, target, request)
        status, headers, body = wire.handle(self.engine, target, request.body)
        if status == 200 and operation == "ListDomains" and key is not None and key.limits_domains:
            body = _only_allowed_domains(body, key)
        return Response(status, headers, body)

    def _authorize(self, key: AccessKey, operation: str, body: bytes) -> Response | None:
        """A refusal, or None if ``key`` may make this call.

        An invalid request is let through: the engine refuses it with the
        same fault, before reading anything, whatever domain it names.
        """
        if not key.allows_action(operation):
            return self._denied(key, operation, self.engine.arn("*"))
        if not key.limits_domains or operation == "ListDomains":
            return None
        try:
            params = validate(operation, json.loads(body.decode("utf-8")) if body.strip() else {})
        except (UnicodeDecodeError, ValueError, RecursionError, SWFFault):
            return None
        if operation in TOKEN_KIND:
            try:
                domain, *_ = decode_token(params["taskToken"], TOKEN_KIND[operation])
            except SWFFault:
                return None  # not a token: UnknownResourceFault, whoever asks
        elif operation in DOMAIN_BY_ARN:
            arn = params["resourceArn"]
            prefix, marker, name = arn.partition(":/domain/")
            if not marker or not prefix.startswith("arn:aws:swf:") or not key.allows_domain(name):
                return self._denied(key, operation, arn)
            return None
        else:
            domain = params["name"] if operation in DOMAIN_BY_NAME else params["domain"]
        if not key.allows_domain(domain):
            return self._denied(key, operation, self.engine.arn(domain))
        return None

    def _denied(self, key: AccessKey, operation: str, resource: str) -> Response:
        err = denied(key, operation, resource)
        return Response(err.status, _headers(), wire.error_body(err.wire_type, err.message))

    def _poll(self, operation: str, target: str | None, request: Request) -> Response:
        connection = request.connection
        if connection is not None and connection.pipelined:
            # Sent before the previous answer arrived: a client does not pipeline polls, but
            # processes sharing one inherited connection do, and one of them would read
            # another's answer. Claim nothing; both see the connection close and retry.
            self.metrics.abandoned_poll()
            return ABANDON
        with self._polls_lock:
            full = self._polls >= self.max_polls
            if not full:
                self._polls += 1
        if full:
            self.metrics.refused_poll()
            fault = LimitExceededFault(
                f"This server already holds {self.max_polls} polls (its --max-polls); "
                "retry later, or spread pollers over more server processes"
            )
            return Response(fault.status, _headers(), wire.fault_body(fault))
        watching = pollers.watching.set(connection)
        try:
            status, headers, answer = wire.handle(self.engine, target, request.body)
        except pollers.PollerGone:
            self.metrics.abandoned_poll()
            return ABANDON
        finally:
            pollers.watching.reset(watching)
            with self._polls_lock:
                self._polls -= 1
        return Response(status, headers, answer)

    # -- the event stream ---------------------------------------------------------------
    def listen(self, request: Request) -> Response:
        """The domain's event stream as server-sent events, from now, or after the id in ``from``
        or in the ``Last-Event-ID`` header (which wins: a reconnecting EventSource sends it).

        Each history event is a message ``id: <entry id>``, ``event: history``,
        ``data: {"id","workflowId","runId","workflowType","event"}``; a reader that fell
        behind the stream's bound first gets ``event: lost``, ``data: {"lost": n, "after": id}``;
        a fault that ends the stream (the domain was deleted by a reset) is a last
        ``event: error`` whose data is the fault's body.
        A comment line (``: keepalive``) goes out when nothing else has for ``keepalive``
        seconds, and an ``id:`` alone moves the reader past entries its filters left out.
        """
        key: AccessKey | None = None
        if self.credentials is not None:
            try:
                key = self.credentials.authenticate(
                    request.method, request.path, request.query, request.headers, request.body
                )
            except AuthError as err:
                return Response(err.status, _headers(), wire.error_body(err.wire_type, err.message))
        query = parse_qs(request.query, keep_blank_values=True)
        domain = (query.get("domain") or [""])[-1]
        try:
            if not domain:
                raise ValidationException(f"{LISTEN_PATH} needs a domain: ?domain=<name>")
            if key is not None and (not key.allows_action(LISTEN_ACTION) or not key.allows_domain(domain)):
                return self._denied(key, LISTEN_ACTION, self.engine.arn(domain))
            if self.engine.config.stream_maxlen <= 0:
                return self.http_error(501, "UnknownOperationException", "This server keeps no event stream (--stream-maxlen 0)")
            after = request.headers.get("last-event-id", "").strip() or (query.get("from") or [""])[-1].strip()
            if not after:
                cursor = self.engine.stream_position(domain)
            else:  # "0" (the oldest kept) stays as it is; any other id is "<seq>-0"
                cursor = after if after == FROM_OLDEST else f"{parse_id(after)}-0"
            self.engine.known_domain(domain)
        except SWFFault as fault:
            return Response(fault.status, _headers(), wire.fault_body(fault))
        event_types = _listed(query, "eventType")
        workflow_types = _listed(query, "workflowType")
        headers = _headers()
        headers.update({"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache"})
        return Response(
            200, headers, stream=self._events(domain, cursor, event_types, workflow_types, request.connection)
        )

    def _events(
        self,
        domain: str,
        cursor: str,
        event_types: frozenset[str],
        workflow_types: frozenset[str],
        connection: pollers.PollWatch | None,
    ) -> Iterator[bytes]:
        self.metrics.stream_opened()
        try:
            yield b": flowser listen\nretry: 1000\nid: %s\n\n" % cursor.encode()
            sent_id, last_write = cursor, time.monotonic()
            while not self.engine.stream.stopping:
                watching = pollers.watching.set(connection)
                try:
                    wait = max(last_write + self.keepalive - time.monotonic(), 0.0)
                    got = self.engine.read_stream(domain, cursor, wait=wait, count=LISTEN_BATCH)
                except pollers.PollerGone:
                    return
                except SWFFault as fault:  # the domain went (flowser reset), the store is unreachable...
                    yield b"event: error\ndata: %b\n\n" % wire.fault_body(fault)
                    return
                finally:
                    pollers.watching.reset(watching)
                out: list[bytes] = []
                if got.lost:
                    out.append(b'event: lost\ndata: {"lost":%d,"after":"%s"}\n\n' % (got.lost, cursor.encode()))
                sent = 0
                for entry in got.entries:
                    if (event_types and entry.event_type not in event_types) or (
                        workflow_types and entry.workflow_type["name"] not in workflow_types
                    ):
                        continue
                    out.append(b"id: %d-0\nevent: history\ndata: %b\n\n" % (entry.seq, entry.to_json()))
                    sent_id = entry.id
                    sent += 1
                cursor = got.cursor
                if out or time.monotonic() - last_write >= self.keepalive:
                    if not out:
                        out.append(b": keepalive\n\n")
                    if sent_id != cursor:  # entries the filters left out: move the reader past them
                        out.append(b"id: %s\n\n" % cursor.encode())
                        sent_id = cursor
                    yield b"".join(out)
                    last_write = time.monotonic()
                    if sent:
                        self.metrics.stream_sent(sent)
                if got.ended:
                    return
        finally:
            self.metrics.stream_closed()

    # -- health and metrics -------------------------------------------------------------
    def health(self) -> Response:
        try:
            self.engine.store.ping()
        except Exception as exc:
            return Response(503, _headers(), json.dumps({"status": "unavailable", "message": str(exc)}).encode())
        return Response(200, _headers(), b'{"status":"ok"}')

    def prometheus(self, request: Request) -> Response:
        if self.credentials is not None:
            token = self.credentials.metrics_token
            given = request.headers.get("authorization", "")
            if token is None or given != f"Bearer {token}":
                return self.http_error(403, "AccessDeniedException", "/metrics needs the metrics_token of the credentials")
        text = self.metrics.render(self.engine)
        if self.siblings is not None and "local=1" not in request.query.split("&"):
            text = merge(text, self.siblings())
        headers = _headers()
        headers["Content-Type"] = "text/plain; version=0.0.4; charset=utf-8"
        return Response(200, headers, text.encode("utf-8"))


def _headers() -> dict[str, str]:
    return {"Content-Type": wire.CONTENT_TYPE, "x-amzn-RequestId": wire.request_id()}


def _listed(query: dict[str, list[str]], name: str) -> frozenset[str]:
    """The values of a repeatable query parameter, each possibly a comma-separated list."""
    return frozenset(v.strip() for value in query.get(name, ()) for v in value.split(",") if v.strip())


def _operation(target: str | None) -> str | None:
    """The SWF operation ``X-Amz-Target`` names, or None (the engine answers UnknownOperationException)."""
    try:
        name = wire.operation_of(target)
    except UnknownOperationException:
        return None
    return name if name in KNOWN else None


def _error_code(response: Response) -> str:
    try:
        kind = json.loads(response.body)["__type"]
        return str(kind).rpartition("#")[2]
    except (ValueError, KeyError, TypeError):
        return f"HTTP{response.status}"


def _only_allowed_domains(body: bytes, key: AccessKey) -> bytes:
    result: dict[str, Any] = json.loads(body)
    result["domainInfos"] = [d for d in result.get("domainInfos", []) if key.allows_domain(d["name"])]
    return json.dumps(result, separators=(",", ":")).encode()
