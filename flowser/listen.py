"""Every history event of a domain, across all of its executions, as it is written.

    from flowser.listen import Lost, listen

    for item in listen(swf, "orders"):            # any boto3 SWF client
        if isinstance(item, Lost):
            print(f"fell behind: {item.count} events lost")
        else:
            print(item.workflow_id, item.event["eventType"])

How the events come depends on the client (``Listener.mode``):

* ``"stream"``: the local engine in-process (``backends.local.connect()``):
  the domain's event stream, read from Redis (``client.flowser_engine``);
* ``"sse"``: a client whose endpoint is ``flowser serve``: the same stream as
  server-sent events (``GET /flowser/listen``), signed with the client's
  credentials when it has some; a dropped connection is opened again with
  backoff, after the last id received, so nothing is missed or repeated;
* ``"polling"``: anything else (AWS, moto): visibility and histories looked at
  every ``poll_interval`` seconds; each run's new events once and in order.
  ``Listener.note`` says so (the command line prints it).

On the streams, ``after`` resumes after an id a listener gave (``StreamEvent.id``
or ``Listener.last_id``), ``"0"`` starts from the oldest event the stream keeps,
and None from now. A listener that fell behind the stream's bound gets a
``Lost`` item saying how many events are gone, before the events that follow;
it never skips silently. Polling cannot resume: it starts from now (``"0"``:
from the first event of the runs open now).

The framework talks to the client only: the engine's extra
(``read_stream``, ``stream_position``) is found on the client, the server's by
asking it.
"""

from __future__ import annotations

import collections
import datetime as dt
import json
import re
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlencode, urlsplit

from botocore.exceptions import ClientError
from botocore.utils import parse_timestamp

__all__ = ["Listener", "Lost", "StreamEvent", "StreamItem", "listen", "listen_stream"]

LISTEN_PATH = "/flowser/listen"
READ_WAIT = 1.0
"""Seconds a read waits for events before the listener looks at ``stop`` again."""
SILENCE = 45.0
"""Seconds without a byte (the server writes every 15 s) after which an SSE connection is taken for dead."""
BACKOFF = (0.1, 5.0)
"""First and longest wait before opening a dropped SSE connection again."""
PAGE = 100
_STREAM_ID = re.compile(r"(0|[1-9][0-9]{0,18})(-0)?")


@dataclass(frozen=True, slots=True)
class StreamEvent:
    """One history event, with the execution it belongs to."""

    id: str
    """Its place in the stream: ``after=`` this id resumes right after it (polling: ``<runId>/<eventId>``)."""
    domain: str
    workflow_id: str
    run_id: str
    workflow_type: dict[str, str]
    """``{"name": ..., "version": ...}``."""
    event: dict[str, Any]
    """As boto3's ``get_workflow_execution_history`` gives it (``eventTimestamp`` a datetime)."""

    @property
    def event_type(self) -> str:
        return str(self.event["eventType"])

    @property
    def event_id(self) -> int:
        return int(self.event["eventId"])

    @property
    def attributes(self) -> dict[str, Any]:
        """The event's ``<type>EventAttributes``."""
        kind = self.event_type
        return dict(self.event.get(kind[0].lower() + kind[1:] + "EventAttributes", {}))


@dataclass(frozen=True, slots=True)
class Lost:
    """The listener fell behind the stream's bound: ``count`` events after ``after_id`` are gone."""

    count: int
    after_id: str | None


StreamItem = StreamEvent | Lost
Stop = threading.Event | Callable[[], bool]


class _Source(Protocol):
    mode: str
    note: str | None
    cursor: str | None

    def read(self, wait: float) -> tuple[list[StreamItem], bool]:
        """Items that came within ``wait`` seconds (maybe none), and whether no more will come."""
        ...

    def close(self) -> None: ...


class Listener(Iterator[StreamItem]):
    """The events of one domain, as an iterator (``listen``); ``close()`` it, or use ``with``."""

    def __init__(
        self,
        source: _Source,
        event_types: frozenset[str],
        workflow_types: frozenset[str],
        stop: Stop | None,
    ) -> None:
        self._source = source
        self._event_types = event_types
        self._workflow_types = workflow_types
        self._stop = stop
        self._pending: collections.deque[StreamItem] = collections.deque()
        self._ended = False
        self.last_id: str | None = source.cursor
        """Where this listener is: ``after=`` this resumes with the next event it would give."""

    @property
    def mode(self) -> str:
        """``"stream"``, ``"sse"`` or ``"polling"`` (see the module docstring)."""
        return self._source.mode

    @property
    def note(self) -> str | None:
        """What a user should know about how events come (set when polling), or None."""
        return self._source.note

    def _stopped(self) -> bool:
        stop = self._stop
        if stop is None:
            return False
        return stop.is_set() if isinstance(stop, threading.Event) else bool(stop())

    def __next__(self) -> StreamItem:
        while not self._pending:
            if self._ended or self._stopped():
                self.close()
                raise StopIteration
            items, ended = self._source.read(READ_WAIT)
            self._pending.extend(item for item in items if self._wanted(item))
            self._ended = ended
            if not self._pending and self._source.cursor is not None:
                self.last_id = self._source.cursor
        item = self._pending.popleft()
        if isinstance(item, StreamEvent):
            self.last_id = item.id if self._pending else (self._source.cursor or item.id)
        return item

    def _wanted(self, item: StreamItem) -> bool:
        if isinstance(item, Lost):
            return True
        if self._event_types and item.event_type not in self._event_types:
            return False
        return not self._workflow_types or item.workflow_type.get("name") in self._workflow_types

    def close(self) -> None:
        self._ended = True
        self._source.close()

    def __enter__(self) -> Listener:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def listen(
    client: Any,
    domain: str,
    *,
    after: str | None = None,
    event_types: str | Iterable[str] | None = None,
    workflow_type: str | Iterable[str] | None = None,
    poll_interval: float = 5.0,
    stop: Stop | None = None,
) -> Listener:
    """Every history event of ``domain`` as it is written (see the module docstring).

    ``event_types``: only these event types; ``workflow_type``: only runs of
    these workflow type names. ``stop``: a ``threading.Event`` (or a callable)
    that ends the iteration once set (looked at least every second).
    ``poll_interval``: seconds between two looks when polling. Raises the
    client's ``UnknownResourceFault`` for an unknown domain.
    """
    listener = _listen(client, domain, after, event_types, workflow_type, poll_interval, stop, polling=True)
    assert listener is not None
    return listener


def listen_stream(
    client: Any,
    domain: str,
    *,
    after: str | None = None,
    event_types: str | Iterable[str] | None = None,
    workflow_type: str | Iterable[str] | None = None,
    stop: Stop | None = None,
) -> Listener | None:
    """:func:`listen` where the backend keeps an event stream (modes ``"stream"`` and ``"sse"``),
    else None, at the cost of one DescribeDomain: polling's first look (every open run's
    history) is never taken. For readers that have their own fallback (the dashboard)."""
    return _listen(client, domain, after, event_types, workflow_type, 5.0, stop, polling=False)


def _listen(
    client: Any,
    domain: str,
    after: str | None,
    event_types: str | Iterable[str] | None,
    workflow_type: str | Iterable[str] | None,
    poll_interval: float,
    stop: Stop | None,
    *,
    polling: bool,
) -> Listener | None:
    if after is not None and not _STREAM_ID.fullmatch(after):
        raise ValueError(f"after={after!r}: expected an event id (<number>-0) or 0 (the oldest kept)")
    client.describe_domain(name=domain)  # the client's own fault for an unknown domain, whatever the mode
    event_set, type_set = _names(event_types), _names(workflow_type)
    source: _Source
    engine = getattr(client, "flowser_engine", None)
    if engine is not None and callable(getattr(engine, "read_stream", None)):
        source = _EngineSource(client, engine, domain, after)
    else:
        endpoint = getattr(getattr(client, "meta", None), "endpoint_url", None)
        sse = _SseSource.open(client, endpoint, domain, after, event_set, type_set) if _may_serve(endpoint) else None
        if sse is None and not polling:
            return None
        source = sse if sse is not None else _PollingSource(client, domain, after, type_set, poll_interval)
    return Listener(source, event_set, type_set, stop)


def _names(value: str | Iterable[str] | None) -> frozenset[str]:
    if value is None:
        return frozenset()
    return frozenset([value] if isinstance(value, str) else value)


def _may_serve(endpoint: str | None) -> bool:
    """Whether an endpoint may be ``flowser serve`` (AWS's own endpoints are not asked)."""
    if not endpoint:
        return False
    host = (urlsplit(endpoint).hostname or "").lower()
    return bool(host) and not host.endswith((".amazonaws.com", ".amazonaws.com.cn", ".api.aws"))


def _stream_event(domain: str, entry: dict[str, Any]) -> StreamEvent:
    """An entry of the stream (``{"id","workflowId","runId","workflowType","event"}``), the event in boto3's shape."""
    event = dict(entry["event"])
    event["eventTimestamp"] = parse_timestamp(event["eventTimestamp"])
    return StreamEvent(entry["id"], domain, entry["workflowId"], entry["runId"], dict(entry["workflowType"]), event)


# -- the local engine in-process -----------------------------------------------------------
class _EngineSource:
    mode: str = "stream"
    note: str | None = None

    def __init__(self, client: Any, engine: Any, domain: str, after: str | None) -> None:
        self.client = client
        self.engine = engine
        self.domain = domain
        self.cursor: str | None = after if after is not None else str(self._call(engine.stream_position, domain))

    def _call(self, method: Any, *args: Any, **kwargs: Any) -> Any:
        """An engine call whose SWF fault is raised as the client's own exception (as a call through it would be)."""
        try:
            return method(*args, **kwargs)
        except Exception as exc:
            code, status = getattr(exc, "code", None), getattr(exc, "status", None)
            if not isinstance(code, str) or not isinstance(status, int):
                raise  # not an SWF fault
            message = str(getattr(exc, "message", "") or "")
            error = {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}}
            raise self.client.exceptions.from_code(code)(error, "Listen") from exc

    def read(self, wait: float) -> tuple[list[StreamItem], bool]:
        got = self._call(self.engine.read_stream, self.domain, self.cursor, wait=wait, count=1000)
        items: list[StreamItem] = [Lost(got.lost, self.cursor)] if got.lost else []
        items += [_stream_event(self.domain, entry.to_dict()) for entry in got.entries]
        self.cursor = got.cursor
        return items, bool(got.ended)

    def close(self) -> None:
        pass


# -- flowser serve: server-sent events ------------------------------------------------------
class _SseSource:
    mode: str = "sse"
    note: str | None = None

    def __init__(
        self, client: Any, endpoint: str, domain: str, after: str | None, query: list[tuple[str, str]]
    ) -> None:
        self.client = client
        self.endpoint = endpoint.rstrip("/")
        self.domain = domain
        self.cursor = after
        self.query = query
        self.connection: _HttpStream | None = None
        self._partial = b""
        self._fields: dict[str, str] = {}
        self._data: list[str] = []
        self._retry_at = 0.0
        self._backoff = BACKOFF[0]
        self._early: list[StreamItem] = []
        self._closed = False

    @classmethod
    def open(
        cls,
        client: Any,
        endpoint: str | None,
        domain: str,
        after: str | None,
        event_types: frozenset[str],
        workflow_types: frozenset[str],
    ) -> _SseSource | None:
        """A source on the endpoint's stream, or None if it serves none (not ``flowser serve``,
        or one that keeps no stream): polling then."""
        assert endpoint is not None
        query = [("domain", domain)]
        query += [("eventType", name) for name in sorted(event_types)]
        query += [("workflowType", name) for name in sorted(workflow_types)]
        source = cls(client, endpoint, domain, after, query)
        try:
            source.connection = source._connect()
            source._prime()
        except _NoStream:
            return None
        except _ServerBusy as busy:
            raise _client_error(busy.status, busy.body) from None
        except _Dropped:
            source.close()
            raise ConnectionError(f"{endpoint}{LISTEN_PATH}: the connection closed before the stream began") from None
        return source

    def _prime(self, timeout: float = 10.0) -> None:
        """Read up to the stream's first id (where it begins: from now, when no ``after`` was given),
        keeping any event that came with it: a connection dropped later resumes from there."""
        deadline = time.monotonic() + timeout
        assert self.connection is not None
        while self.cursor is None and time.monotonic() < deadline:
            self._early += self._parse(self.connection.read(deadline - time.monotonic()))
        if self.cursor is None:
            raise _Dropped()

    def _connect(self) -> _HttpStream:
        query = list(self.query)
        headers = {"Accept": "text/event-stream"}
        if self.cursor is not None:
            query.append(("from", self.cursor))
            headers["Last-Event-ID"] = self.cursor
        url = f"{self.endpoint}{LISTEN_PATH}"
        headers.update(_signed_headers(self.client, url, query))
        stream = _HttpStream(url, query, headers)
        if stream.status == 200 and stream.content_type == "text/event-stream":
            self._partial, self._fields, self._data = b"", {}, []
            return stream
        body = stream.read_all()
        stream.close()
        if stream.status in (404, 405, 501):
            raise _NoStream()
        if stream.status >= 500:
            raise _ServerBusy(stream.status, body)
        raise _client_error(stream.status, body)

    def read(self, wait: float) -> tuple[list[StreamItem], bool]:
        deadline = time.monotonic() + wait
        items, self._early = self._early, []
        while not items and not self._closed:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            connection = self.connection
            if connection is None:
                if time.monotonic() < self._retry_at:
                    time.sleep(min(remaining, self._retry_at - time.monotonic()))
                    continue
                try:
                    connection = self._connect()
                except (OSError, _Dropped, _ServerBusy):
                    self._dropped()
                    continue
                if self._closed:  # closed by another thread meanwhile
                    connection.close()
                    break
                self.connection = connection
                self._backoff = BACKOFF[0]
            try:
                data = connection.read(remaining)
            except (OSError, ValueError, _Dropped):  # ValueError: its socket closed by another thread
                if self._closed:
                    break
                self._dropped()
                continue
            items += self._parse(data)
        return items, self._closed

    def _dropped(self) -> None:
        """The connection went (or could not be made): try again after a backoff."""
        if self.connection is not None:
            self.connection.close()
            self.connection = None
        self._retry_at = time.monotonic() + self._backoff
        self._backoff = min(self._backoff * 2, BACKOFF[1])

    def _parse(self, data: bytes) -> list[StreamItem]:
        """Server-sent events (their fields ``id``, ``event``, ``data``) in the bytes that came."""
        items: list[StreamItem] = []
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()
        for raw in lines:
            line = raw.rstrip(b"\r").decode("utf-8")
            if not line:
                items += self._dispatch()
                continue
            if line.startswith(":"):
                continue  # a comment: the keepalive
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "data":
                self._data.append(value)
            elif name in ("id", "event"):
                self._fields[name] = value
        return items

    def _dispatch(self) -> list[StreamItem]:
        fields, data = self._fields, "\n".join(self._data)
        self._fields, self._data = {}, []
        if "id" in fields:
            self.cursor = fields["id"]  # an id alone moves past entries the server's filters left out
        kind = fields.get("event", "message")
        if kind == "history" and data:
            return [_stream_event(self.domain, json.loads(data))]
        if kind == "lost" and data:
            lost = json.loads(data)
            return [Lost(int(lost["lost"]), lost.get("after"))]
        if kind == "error":  # the server ended the stream with a fault (the domain is gone...)
            self.close()
            raise _client_error(400, data.encode())
        return []

    def close(self) -> None:
        """Close the connection (from any thread: a read under way ends, and opens no other)."""
        self._closed = True
        connection, self.connection = self.connection, None
        if connection is not None:
            connection.close()


class _NoStream(Exception):
    """The endpoint serves no event stream."""


class _Dropped(Exception):
    """The stream's connection ended or went silent."""


class _ServerBusy(Exception):
    """The server answered 5xx: try again later."""

    def __init__(self, status: int, body: bytes) -> None:
        super().__init__(status)
        self.status = status
        self.body = body


def _signed_headers(client: Any, url: str, query: list[tuple[str, str]]) -> dict[str, str]:
    """SigV4 headers for ``GET url?query`` with the client's credentials (service ``swf``), or none
    when the client signs nothing."""
    from botocore import UNSIGNED
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    meta = getattr(client, "meta", None)
    if meta is None or getattr(meta.config, "signature_version", None) is UNSIGNED:
        return {}
    get_credentials = getattr(client, "_get_credentials", None)  # botocore has no public accessor
    credentials = get_credentials() if callable(get_credentials) else None
    if credentials is None:
        return {}
    request = AWSRequest(method="GET", url=url, params=query, headers={"Host": urlsplit(url).netloc})
    SigV4Auth(credentials.get_frozen_credentials(), "swf", meta.region_name or "us-east-1").add_auth(request)
    return {name: str(value) for name, value in request.headers.items()}


def _client_error(status: int, body: bytes) -> ClientError:
    try:
        answer = json.loads(body)
        code, message = str(answer["__type"]).rpartition("#")[2], str(answer.get("message", ""))
    except (ValueError, KeyError, TypeError):
        code, message = f"HTTP{status}", body.decode("utf-8", "replace")[:200]
    return ClientError({"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}}, "Listen")


class _HttpStream:
    """One ``GET`` whose answer is read as it comes, with a deadline per read (http.client's file
    objects may lose bytes to a timeout). h11 parses the answer: its head, and the chunked body."""

    def __init__(self, url: str, query: list[tuple[str, str]], headers: dict[str, str], timeout: float = 10.0) -> None:
        import h11

        parts = urlsplit(url)
        secure = parts.scheme == "https"
        port = parts.port or (443 if secure else 80)
        sock = socket.create_connection((parts.hostname or "localhost", port), timeout=timeout)
        if secure:
            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=parts.hostname)
        self.sock = sock
        self._h11 = h11
        self._conn = h11.Connection(our_role=h11.CLIENT)
        self._body: collections.deque[bytes] = collections.deque()
        self._ended = False
        self._heard = time.monotonic()
        fields = [("Host", parts.netloc), *((k, v) for k, v in headers.items() if k.lower() != "host")]
        target = f"{parts.path or '/'}?{urlencode(query)}"
        try:
            sock.sendall(self._conn.send(h11.Request(method="GET", target=target, headers=fields)))
            sock.sendall(self._conn.send(h11.EndOfMessage()) or b"")
            response, deadline = None, time.monotonic() + timeout
            while response is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise _Dropped()  # no answer in time
                event = self._next_event(left)
                if isinstance(event, h11.Response):
                    response = event
                elif self._ended:
                    raise _Dropped()
        except BaseException:
            sock.close()
            raise
        self.status = response.status_code
        self.headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in response.headers}
        self.content_type = self.headers.get("content-type", "").split(";")[0].strip().lower()

    def _next_event(self, timeout: float) -> Any:
        """h11's next event, reading from the socket when it needs data; None when none came in ``timeout``."""
        h11 = self._h11
        while True:
            try:
                event = self._conn.next_event()
            except h11.RemoteProtocolError:
                raise _Dropped() from None
            if event is h11.NEED_DATA:
                if self._conn.their_state is h11.DONE:
                    raise _Dropped()
                ready, _, _ = select.select([self.sock], [], [], max(timeout, 0.0))
                if not ready:
                    return None
                data = self.sock.recv(65536)
                self._conn.receive_data(data)  # b"": the peer closed
                if data:
                    self._heard = time.monotonic()
                timeout = 0.0  # only what already came, after the first wait
                continue
            if isinstance(event, h11.Data):
                self._body.append(bytes(event.data))
                continue
            if isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                self._ended = True
                return event
            return event

    def read(self, timeout: float) -> bytes:
        """The body bytes that came within ``timeout`` seconds (maybe none); ``_Dropped`` at its end,
        or after ``SILENCE`` seconds without a byte."""
        if not self._body and not self._ended:
            self._next_event(timeout)
        if self._body:
            whole = b"".join(self._body)
            self._body.clear()
            return whole
        if self._ended:
            raise _Dropped()
        if time.monotonic() - self._heard > SILENCE:
            raise _Dropped()
        return b""

    def read_all(self, timeout: float = 10.0) -> bytes:
        """The whole body of a short answer (an error)."""
        body = bytearray()
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                body += self.read(deadline - time.monotonic())
        except (_Dropped, OSError):
            pass
        return bytes(body)

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


# -- anything else: visibility and histories -------------------------------------------------
def _closed_at(info: dict[str, Any]) -> float:
    """When a closed run closed (moto leaves ``closeTimestamp`` out of some: now, then)."""
    closed = info.get("closeTimestamp")
    return closed.timestamp() if isinstance(closed, dt.datetime) else time.time()


class _PollingSource:
    mode: str = "polling"
    note: str | None = None
    cursor: str | None = None

    def __init__(
        self, client: Any, domain: str, after: str | None, workflow_types: frozenset[str], interval: float
    ) -> None:
        self.client = client
        self.domain = domain
        self.workflow_types = workflow_types
        self.interval = interval
        note = (
            f"this backend keeps no event stream: looking at visibility and histories every {interval:g} s "
            "(no resuming; the events of a run that closes and is purged between two looks are missed)"
        )
        if after not in (None, "0"):
            note += f"; after={after!r} cannot be resumed from when polling, so from now"
        self.note = note
        self.seen: dict[str, int] = {}
        """runId -> the last event id given."""
        self.closed_seen: dict[str, float] = {}
        """Closed runs read to their end -> their close time (forgotten once older than the look-back)."""
        self.since = time.time()
        self.next_look = 0.0
        for info in self._closed_runs(self._look_back()):  # closed before: nothing of theirs comes
            self.closed_seen[info["execution"]["runId"]] = _closed_at(info)
        if after != "0":
            for info in self._open_runs():
                run = info["execution"]
                self.seen[run["runId"]] = self._latest_event_id(run)

    def _look_back(self) -> float:
        """Runs closed since this epoch time are listed at each look (visibility may lag)."""
        return self.since - max(60.0, 2 * self.interval)

    def read(self, wait: float) -> tuple[list[StreamItem], bool]:
        delay = self.next_look - time.monotonic()
        if delay > 0:
            time.sleep(min(delay, wait))
            if delay > wait:
                return [], False
        self.next_look = time.monotonic() + self.interval
        looked_at = time.time()
        items: list[StreamItem] = []
        runs = [info for info in self._open_runs() if self._wanted(info)]
        look_back = self._look_back()
        closed = self._closed_runs(look_back)
        runs += [info for info in closed if info["execution"]["runId"] not in self.closed_seen and self._wanted(info)]
        for info in runs:
            items += self._new_events(info)
        for info in closed:
            self.closed_seen.setdefault(info["execution"]["runId"], _closed_at(info))
        for run_id in [r for r, closed_at in self.closed_seen.items() if closed_at < look_back]:
            del self.closed_seen[run_id]  # no longer listed: forget it
            self.seen.pop(run_id, None)
        self.since = looked_at
        return items, False

    def _wanted(self, info: dict[str, Any]) -> bool:
        return not self.workflow_types or info["workflowType"]["name"] in self.workflow_types

    def _open_runs(self) -> list[dict[str, Any]]:
        paginator = self.client.get_paginator("list_open_workflow_executions")
        pages = paginator.paginate(domain=self.domain, startTimeFilter={"oldestDate": dt.datetime(1970, 1, 2, tzinfo=dt.UTC)})
        return [info for page in pages for info in page["executionInfos"]]

    def _closed_runs(self, since: float) -> list[dict[str, Any]]:
        paginator = self.client.get_paginator("list_closed_workflow_executions")
        oldest = dt.datetime.fromtimestamp(max(since, 86400.0), dt.UTC)
        pages = paginator.paginate(domain=self.domain, closeTimeFilter={"oldestDate": oldest})
        return [info for page in pages for info in page["executionInfos"]]

    def _latest_event_id(self, run: dict[str, str]) -> int:
        page = self.client.get_workflow_execution_history(
            domain=self.domain, execution=run, reverseOrder=True, maximumPageSize=1
        )
        return int(page["events"][0]["eventId"]) if page["events"] else 0

    def _new_events(self, info: dict[str, Any]) -> list[StreamItem]:
        """The run's events after the last one given, oldest first (read newest first, down to it)."""
        run = info["execution"]
        seen = self.seen.get(run["runId"], 0)
        if self._latest_event_id(run) <= seen:
            return []
        newest_first: list[dict[str, Any]] = []
        params: dict[str, Any] = {"domain": self.domain, "execution": run, "reverseOrder": True, "maximumPageSize": PAGE}
        while True:
            page = self.client.get_workflow_execution_history(**params)
            fresh = [e for e in page["events"] if e["eventId"] > seen]
            newest_first += fresh
            if len(fresh) < len(page["events"]) or not page.get("nextPageToken"):
                break
            params["nextPageToken"] = page["nextPageToken"]
        events = sorted(newest_first, key=lambda e: int(e["eventId"]))
        if events:
            self.seen[run["runId"]] = int(events[-1]["eventId"])
        wtype = {"name": info["workflowType"]["name"], "version": info["workflowType"]["version"]}
        return [
            StreamEvent(f"{run['runId']}/{e['eventId']}", self.domain, run["workflowId"], run["runId"], wtype, e)
            for e in events
        ]

    def close(self) -> None:
        pass
