"""SWF's wire protocol (AWS JSON 1.0) in front of an ``Engine``, without sockets.

``handle(engine, target, body)`` takes the ``X-Amz-Target`` header and the raw
request body and returns ``(status, headers, body)`` exactly as SWF answers:
JSON with timestamps as epoch seconds, an empty body for the operations that
have no output, and faults as ``{"__type": "<namespace>#<code>", "message"}``.
Both the in-process client (``client``) and the HTTP server (``backends.http``)
speak through it, so there is one encoding of every answer.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import uuid
from functools import lru_cache
from typing import Any, Protocol

import botocore.session

from .events import EventPage
from .faults import InternalFailure, SerializationException, SWFFault, UnknownOperationException
from .pollers import PollerGone

log = logging.getLogger("flowser.wire")

TARGET_PREFIXES = ("SimpleWorkflowService.", "com.amazonaws.swf.service.model.SimpleWorkflowService.")
CONTENT_TYPE = "application/x-amz-json-1.0"


class Handler(Protocol):
    def handle(self, operation: str, params: Any) -> dict[str, Any]: ...


@lru_cache(maxsize=1)
def operations_without_output() -> frozenset[str]:
    """Operations SWF answers with an empty body (no output shape in botocore's model)."""
    model = botocore.session.get_session().get_service_model("swf")
    return frozenset(name for name in model.operation_names if model.operation_model(name).output_shape is None)


def operation_of(target: str | None) -> str:
    """``SimpleWorkflowService.StartWorkflowExecution`` (or the boto2-era form) -> operation name."""
    if target:
        for prefix in TARGET_PREFIXES:
            if target.startswith(prefix) and len(target) > len(prefix):
                return target[len(prefix) :]
    raise UnknownOperationException(f"Unknown operation {target!r}" if target else "Missing X-Amz-Target")


class _RequestIds:
    """UUID-shaped request ids: a random prefix per process (renewed in a forked child) and a counter.

    Unique like ``uuid4`` ids, without a ``getrandom`` call per request.
    """

    def __init__(self) -> None:
        self.renew()
        os.register_at_fork(after_in_child=self.renew)

    def renew(self) -> None:
        self._prefix = uuid.uuid4().hex[:20]
        self._counter = itertools.count()

    def __call__(self) -> str:
        p, n = self._prefix, next(self._counter) & 0xFFFFFFFFFF
        return f"{p[:8]}-{p[8:12]}-4{p[12:15]}-8{p[15:18]}-{p[18:20]}{n:010x}"


request_id = _RequestIds()


def error_body(wire_type: str, message: str | None) -> bytes:
    """``{"__type": "<namespace>#<code>", "message": ...}``: the body of every error answer,
    the engine's faults and the HTTP server's own refusals alike."""
    body: dict[str, Any] = {"__type": wire_type}
    if message is not None:
        body["message"] = message
    return json.dumps(body).encode()


def fault_body(fault: SWFFault) -> bytes:
    """A fault's error body (SWF sends a SerializationException without a message)."""
    return error_body(fault.wire_type, None if isinstance(fault, SerializationException) else fault.message)


def handle(engine: Handler, target: str | None, body: bytes) -> tuple[int, dict[str, str], bytes]:
    headers = {"Content-Type": CONTENT_TYPE, "x-amzn-RequestId": request_id()}
    try:
        operation = operation_of(target)
        try:
            params = json.loads(body.decode("utf-8")) if body and body.strip() else {}
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise SerializationException(None) from exc
        result = engine.handle(operation, params)
    except SWFFault as fault:
        return fault.status, headers, fault_body(fault)
    except PollerGone:
        raise  # the server drops the connection: there is no one to answer
    except Exception:
        log.exception("internal failure answering %s", target)
        return 500, headers, fault_body(InternalFailure("Internal failure; nothing was changed"))
    if operation in operations_without_output():
        return 200, headers, b""
    return 200, headers, encode(result)


_dumps = json.JSONEncoder(separators=(",", ":")).encode


def encode(result: dict[str, Any]) -> bytes:
    """An answer's JSON; a page of history events is spliced in as stored (no per-event work)."""
    events = result.get("events")
    if not isinstance(events, EventPage):
        return _dumps(result).encode()
    rest = _dumps({k: v for k, v in result.items() if k != "events"}).encode()
    spliced = b'"events":[' + b",".join(events.json_items()) + b"]}"
    return rest[:-1] + (b"," + spliced if rest != b"{}" else spliced)
