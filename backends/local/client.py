"""The in-process client: a real botocore SWF client whose transport is the engine.

``local_client(engine)`` builds ``boto3``'s own SWF client and answers its
requests in-process (botocore's ``before-call`` event, as botocore's Stubber
does) through the same wire codec as the HTTP server. So it is, call for call, a boto3 SWF client: the
same methods, arguments, parameter validation, paginators, response parsing
(timezone-aware datetimes) and ``client.exceptions.<Fault>`` classes.
"""

from __future__ import annotations

import threading
import types
from collections.abc import Callable, Iterator
from typing import Any

import botocore.parsers
import botocore.session
from botocore import UNSIGNED
from botocore.awsrequest import AWSResponse
from botocore.config import Config

from . import wire

ENDPOINT = "http://flowser.local"


class _Body:
    """The minimal raw response botocore reads (``stream()``)."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._data


_session: botocore.session.Session | None = None
_session_lock = threading.Lock()


def _botocore_session() -> botocore.session.Session:
    """One botocore session per process: loading the SWF model once makes clients cheap."""
    global _session
    with _session_lock:
        if _session is None:
            _session = botocore.session.get_session()
        return _session


def local_client(
    engine: wire.Handler, *, region_name: str = "us-east-1", on_close: Callable[[], None] | None = None
) -> Any:
    """A boto3 SWF client served by ``engine`` in this process."""
    session = _botocore_session()
    with _session_lock:
        client = session.create_client(
            "swf",
            region_name=region_name,
            endpoint_url=ENDPOINT,
            aws_access_key_id="flowser",
            aws_secret_access_key="flowser",
            config=Config(signature_version=UNSIGNED),
        )

    parser = botocore.parsers.create_parser(client.meta.service_model.resolved_protocol)

    def call(model: Any, params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        """Answer a call from botocore's ``before-call`` event, the hook its own Stubber uses.

        botocore has validated and serialized the request; the engine answers
        through the wire codec; botocore's own JSON parser reads the answer. What
        is skipped is only the HTTP machinery in between (request signing,
        endpoint, retries), which an in-process call has no use for.
        """
        headers = params["headers"]
        target = headers.get("X-Amz-Target")
        if isinstance(target, bytes):
            target = target.decode()
        body = params.get("body") or b""
        if isinstance(body, str):
            body = body.encode()
        elif not isinstance(body, bytes):
            body = body.read()
        status, response_headers, payload = wire.handle(engine, target, body)
        http = AWSResponse(ENDPOINT + "/", status, response_headers, _Body(payload))
        parsed: dict[str, Any] = parser.parse(
            {"status_code": status, "headers": http.headers, "body": payload}, model.output_shape
        )
        metadata = parsed.setdefault("ResponseMetadata", {})
        metadata["HTTPStatusCode"] = status
        metadata["HTTPHeaders"] = dict(http.headers)
        metadata["RetryAttempts"] = 0
        return http, parsed

    client.meta.events.register("before-call.swf", call)
    original_close = client.close

    def close(self: Any) -> None:
        original_close()
        if on_close is not None:
            on_close()

    client.close = types.MethodType(close, client)
    client.flowser_engine = engine
    return client
