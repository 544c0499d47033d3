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
* ``GET /metrics``: Prometheus text (``metrics``).

Anything else gets an AWS-style error body; nothing ever answers with a
traceback. The App holds no state of its own besides counters: several
server processes on one Redis behave as one service.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

from backends.local import caller, pollers, wire
from backends.local.engine import OPERATIONS, Engine, decode_token
from backends.local.faults import LimitExceededFault, SWFFault, UnknownOperationException
from backends.local.validation import validate

from .auth import CORAL, AccessKey, AuthError, Credentials, denied, signed_region
from .metrics import Metrics
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


class App:
    """The HTTP face of one engine (see the module docstring)."""

    def __init__(
        self,
        engine: Engine,
        *,
        credentials: Credentials | None = None,
        metrics: Metrics | None = None,
        max_polls: int = 2000,
    ) -> None:
        self.engine = engine
        self.credentials = credentials
        self.metrics = metrics or Metrics()
        self.max_polls = max_polls
        self._polls = 0
        self._polls_lock = threading.Lock()
        self.metrics.held_polls = lambda: self._polls

    # -- routing ------------------------------------------------------------------------
    def __call__(self, request: Request) -> Response:
        try:
            if request.path == "/":
                if request.method == "POST":
                    return self.swf(request)
                return self.http_error(405, "UnknownOperationException", "SWF requests are POST /")
            if request.path in ("/health", "/metrics"):
                if request.method not in ("GET", "HEAD"):
                    return self.http_error(405, "UnknownOperationException", f"{request.path} answers GET only")
                return self.health() if request.path == "/health" else self.prometheus(request)
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
        headers = _headers()
        headers["Content-Type"] = "text/plain; version=0.0.4; charset=utf-8"
        return Response(200, headers, text.encode("utf-8"))


def _headers() -> dict[str, str]:
    return {"Content-Type": wire.CONTENT_TYPE, "x-amzn-RequestId": wire.request_id()}


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
