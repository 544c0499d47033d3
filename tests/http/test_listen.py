"""``GET /flowser/listen``: a domain's event stream as server-sent events, from a real ``flowser serve``.

Read here with a raw socket (the wire format itself), and with ``flowser.listen``
(the iterator reconnecting after a dropped connection). The load test: four
processes write 2,000 executions while one reader follows the stream.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import signal
import socket
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials
from botocore.exceptions import ClientError

from backends.local import connect
from flowser.listen import Lost, StreamEvent, listen
from flowser.testing import wait_until

from .conftest import KEY_ID, SECRET, Server, raw, register_basics, swf_client

WF = {"name": "wf", "version": "1"}


class SseReader:
    """One ``GET`` of the event stream on a raw socket: the answer's head, then its messages as they come."""

    def __init__(self, url: str, query: dict[str, str] | list[tuple[str, str]], headers: dict[str, str] | None = None,
                 version: str = "HTTP/1.1", path: str = "/flowser/listen") -> None:
        parts = urlsplit(url)
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
        lines = [f"GET {path}?{urlencode(query)} {version}", f"Host: {parts.netloc}"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        raw_bytes = b""
        while b"\r\n\r\n" not in raw_bytes:
            data = self.sock.recv(65536)
            assert data, raw_bytes
            raw_bytes += data
        head, _, self.raw = raw_bytes.partition(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        self.status = int(status_line.split()[1])
        self.headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}
        self.chunked = self.headers.get("transfer-encoding") == "chunked"
        self.body = b""
        self.ended = False  # the last chunk came (or, not chunked, the connection closed)
        self.closed = False
        self._used = 0  # bytes of body already given as messages

    def _pump(self, timeout: float) -> None:
        self.sock.settimeout(max(timeout, 0.01))
        try:
            data = self.sock.recv(65536)
        except TimeoutError:
            return
        if not data:
            self.closed = True
            if not self.chunked:
                self.ended = True
        self.raw += data
        self._decode()

    def _decode(self) -> None:
        if not self.chunked:
            self.body, self.raw = self.body + self.raw, b""
            return
        while True:
            end = self.raw.find(b"\r\n")
            if end < 0:
                return
            size = int(self.raw[:end], 16)
            if len(self.raw) < end + 2 + size + 2:
                return
            assert self.raw[end + 2 + size : end + 4 + size] == b"\r\n"
            self.body += self.raw[end + 2 : end + 2 + size]
            self.raw = self.raw[end + 4 + size :]
            if size == 0:
                self.ended = True
                return

    def messages(self, until: Any = None, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Messages (``{"id", "event", "data", "comments", "retry"}``) until ``until(messages)`` holds (None: the
        next message), or the stream ends."""
        give_up = time.monotonic() + timeout
        found: list[dict[str, Any]] = []
        self._decode()  # what came with the head
        while True:
            while b"\n\n" in self.body[self._used :]:
                end = self.body.index(b"\n\n", self._used)
                found.append(parse_message(self.body[self._used : end].decode()))
                self._used = end + 2
                if until is None or until(found):
                    return found
            if self.ended or self.closed:
                return found
            remaining = give_up - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"stream messages not come within {timeout} s: {found}")
            self._pump(remaining)

    def history(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """The next ``count`` history messages (with what came between)."""
        got = self.messages(lambda m: sum(x["event"] == "history" for x in m) >= count, timeout)
        return got

    def close(self) -> None:
        self.sock.close()


def parse_message(block: str) -> dict[str, Any]:
    message: dict[str, Any] = {"id": None, "event": None, "data": None, "comments": [], "retry": None}
    for line in block.split("\n"):
        if line.startswith(":"):
            message["comments"].append(line[1:].strip())
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            message["data"] = json.loads(value)
        else:
            message[name] = value
    return message


def histories(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [m["data"] for m in messages if m["event"] == "history"]


def history(client: Any, domain: str, workflow_id: str, run_id: str) -> list[dict[str, Any]]:
    pages = client.get_paginator("get_workflow_execution_history")
    return [e for page in pages.paginate(domain=domain, execution={"workflowId": workflow_id, "runId": run_id}) for e in page["events"]]


def wire(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """boto3's events as the server sends them (eventTimestamp in epoch seconds)."""
    return [{**e, "eventTimestamp": round(e["eventTimestamp"].timestamp(), 3)} for e in events]


def metric(server: Server, name: str) -> float:
    status, _, body = raw(server.url, None, b"", method="GET", path="/metrics")
    assert status == 200
    for line in body.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in /metrics")


def signed_get(url: str, query: list[tuple[str, str]], key: str, secret: str) -> tuple[int, dict[str, Any]]:
    """A SigV4-signed GET of the stream (service swf); its status and error body (or the first message)."""
    request = AWSRequest(method="GET", url=f"{url}/flowser/listen", params=query, headers={"Host": urlsplit(url).netloc})
    SigV4Auth(BotoCredentials(key, secret), "swf", "us-east-1").add_auth(request)
    reader = SseReader(url, query, {k: v for k, v in request.headers.items() if k.lower() != "host"})
    try:
        if reader.status == 200:
            return 200, reader.messages()[0]
        reader._decode()  # what came with the head
        while not reader.closed and len(reader.body) < int(reader.headers.get("content-length", 0)):
            reader._pump(5)
        return reader.status, json.loads(reader.body)
    finally:
        reader.close()


# -- the wire format ----------------------------------------------------------------------------
def test_events_come_as_server_sent_events_and_match_the_histories(server: Server, domain: str) -> None:
    client = server.client()
    register_basics(client, domain)
    first = client.start_workflow_execution(domain=domain, workflowId="w1", workflowType=WF)["runId"]
    reader = SseReader(server.url, {"domain": domain, "from": "0"})
    try:
        assert reader.status == 200
        assert reader.headers["content-type"] == "text/event-stream; charset=utf-8"
        assert reader.headers["transfer-encoding"] == "chunked" and reader.headers["connection"] == "close"
        assert reader.headers["cache-control"] == "no-cache"
        opening = reader.messages()[0]
        assert opening["id"] == "0" and opening["retry"] == "1000" and opening["event"] is None
        got = histories(reader.history(2))
        second = client.start_workflow_execution(domain=domain, workflowId="w2", workflowType=WF)["runId"]
        got += histories(reader.history(2))  # live: written after the stream began
    finally:
        reader.close()
    assert [m["id"] for m in got] == ["1-0", "2-0", "3-0", "4-0"]
    assert {(m["workflowId"], m["runId"]) for m in got} == {("w1", first), ("w2", second)}
    assert all(m["workflowType"] == WF for m in got)
    assert [m["event"] for m in got[:2]] == wire(history(client, domain, "w1", first))
    assert [m["event"] for m in got[2:]] == wire(history(client, domain, "w2", second))


def test_from_now_from_an_id_and_last_event_id(server: Server, domain: str) -> None:
    client = server.client()
    register_basics(client, domain)
    client.start_workflow_execution(domain=domain, workflowId="w1", workflowType=WF)
    now = SseReader(server.url, {"domain": domain})
    try:
        assert now.messages()[0]["id"] == "2-0"  # from now: after the last entry when the answer began
        client.start_workflow_execution(domain=domain, workflowId="w2", workflowType=WF)
        assert [m["id"] for m in histories(now.history(2))] == ["3-0", "4-0"]
    finally:
        now.close()
    # a reconnecting EventSource sends Last-Event-ID with its first URL: the header wins
    again = SseReader(server.url, {"domain": domain, "from": "0"}, {"Last-Event-ID": "3-0"})
    try:
        assert [m["id"] for m in histories(again.history(1))] == ["4-0"]
    finally:
        again.close()
    plain = SseReader(server.url, {"domain": domain, "from": "2"})  # an entry's number is its id too
    try:
        assert [m["id"] for m in histories(plain.history(2))] == ["3-0", "4-0"]
    finally:
        plain.close()


def test_filters_and_the_ids_that_move_past_what_they_leave_out(server: Server, domain: str) -> None:
    client = server.client()
    register_basics(client, domain)
    for i in range(3):
        client.start_workflow_execution(domain=domain, workflowId=f"w{i}", workflowType=WF)
    query = [("domain", domain), ("from", "0"), ("eventType", "WorkflowExecutionStarted,Nothing"), ("workflowType", "wf")]
    reader = SseReader(server.url, query)
    try:
        got = reader.messages(lambda m: any(x["id"] == "6-0" for x in m))
    finally:
        reader.close()
    assert [m["data"]["event"]["eventId"] for m in got if m["event"] == "history"] == [1, 1, 1]
    assert [m["id"] for m in got if m["event"] == "history"] == ["1-0", "3-0", "5-0"]
    assert got[-1] == {"id": "6-0", "event": None, "data": None, "comments": [], "retry": None}


def test_requests_the_stream_refuses(server: Server, domain: str) -> None:
    client = server.client()
    register_basics(client, domain)
    for query, status, kind in [
        ({}, 400, "ValidationException"),
        ({"domain": f"{domain}-none"}, 400, "UnknownResourceFault"),
        ({"domain": domain, "from": "1-1"}, 400, "ValidationException"),
        ({"domain": domain, "from": "x"}, 400, "ValidationException"),
    ]:
        code, _, body = raw(server.url, None, b"", method="GET", path=f"/flowser/listen?{urlencode(query)}")
        assert (code, json.loads(body)["__type"].rpartition("#")[2]) == (status, kind), body
    code, _, body = raw(server.url, None, b"", method="POST", path=f"/flowser/listen?domain={domain}")
    assert code == 405
    code, _, body = raw(server.url, None, b"", method="GET", path="/flowser/other")
    assert code == 404 and json.loads(body)["__type"].endswith("#UnknownOperationException")


def test_an_http_1_0_client_gets_the_stream_unchunked_until_the_connection_closes(server: Server, domain: str) -> None:
    client = server.client()
    register_basics(client, domain)
    client.start_workflow_execution(domain=domain, workflowId="w1", workflowType=WF)
    reader = SseReader(server.url, {"domain": domain, "from": "0"}, version="HTTP/1.0")
    try:
        assert reader.status == 200 and "transfer-encoding" not in reader.headers
        assert [m["id"] for m in histories(reader.history(2))] == ["1-0", "2-0"]
    finally:
        reader.close()


# -- behind the bound, gone readers, shutdown, no stream -------------------------------------------
def test_a_reader_behind_the_bound_is_told_how_many_events_it_lost(serve: Any, domain: str) -> None:
    server = serve("--stream-maxlen", "10")
    client = server.client()
    register_basics(client, domain)
    client.start_workflow_execution(domain=domain, workflowId="w1", workflowType=WF)
    for i in range(298):
        client.signal_workflow_execution(domain=domain, workflowId="w1", signalName=f"s{i}")
    reader = SseReader(server.url, {"domain": domain, "from": "1-0"})
    try:
        got = reader.messages(lambda m: any(x["id"] == "300-0" for x in m))
    finally:
        reader.close()
    assert got[1]["event"] == "lost"
    lost = got[1]["data"]
    assert lost["after"] == "1-0" and lost["lost"] > 0
    ids = [int(m["id"].split("-")[0]) for m in got if m["event"] == "history"]
    assert ids == list(range(2 + lost["lost"], 301))  # nothing skipped silently: lost + read = all after 1-0
    assert len(ids) >= 10


def test_a_client_that_goes_ends_its_stream_at_once(serve: Any, domain: str) -> None:
    server = serve()
    client = server.client()
    register_basics(client, domain)
    reader = SseReader(server.url, {"domain": domain})
    reader.messages()
    assert metric(server, "flowser_listen_streams") == 1
    began = time.monotonic()
    reader.close()
    # the keepalive is 15 s away and the read blocks in Redis until then: the server's watcher ends it
    wait_until(lambda: metric(server, "flowser_listen_streams") == 0, timeout=5)
    assert time.monotonic() - began < 5
    assert metric(server, "flowser_listen_streams_total") == 1
    client.start_workflow_execution(domain=domain, workflowId="w1", workflowType=WF)  # the server carries on
    again = SseReader(server.url, {"domain": domain, "from": "0"})
    try:
        assert len(histories(again.history(2))) == 2
    finally:
        again.close()
    assert metric(server, "flowser_listen_events_total") >= 2


def test_a_server_stopping_ends_its_streams_cleanly(serve: Any, domain: str) -> None:
    server = serve()
    register_basics(server.client(), domain)
    reader = SseReader(server.url, {"domain": domain})
    try:
        reader.messages()
        began = time.monotonic()
        assert server.stop(signal.SIGTERM) == 0
        assert time.monotonic() - began < 10
        reader.messages(timeout=5)
        assert reader.ended  # the last chunk: a clean end, not a cut connection
    finally:
        reader.close()


def test_a_server_without_a_stream_says_so_and_the_iterator_polls(serve: Any, domain: str) -> None:
    server = serve("--stream-maxlen", "0")
    client = server.client()
    register_basics(client, domain)
    code, _, body = raw(server.url, None, b"", method="GET", path=f"/flowser/listen?domain={domain}")
    assert code == 501 and "--stream-maxlen 0" in json.loads(body)["message"]
    listener = listen(client, domain, poll_interval=0.1, stop=lambda: False)
    try:
        assert listener.mode == "polling" and "no event stream" in (listener.note or "")
        client.start_workflow_execution(domain=domain, workflowId="w1", workflowType=WF)
        got = [next(listener), next(listener)]
    finally:
        listener.close()
    assert [e.event_type for e in got if isinstance(e, StreamEvent)] == ["WorkflowExecutionStarted", "DecisionTaskScheduled"]


def test_a_stream_keeps_its_connection_alive(redis_url: str, domain: str) -> None:
    from backends.http.app import App
    from backends.http.server import HttpServer
    from backends.local import open_engine

    engine = open_engine(redis_url)
    http = HttpServer(App(engine, keepalive=0.2), "127.0.0.1", 0).start()
    client = swf_client(http.url)
    try:
        register_basics(client, domain)
        reader = SseReader(http.url, {"domain": domain})
        try:
            got = reader.messages(lambda m: sum("keepalive" in x["comments"] for x in m) >= 2, timeout=5)
            assert got[0]["comments"] == ["flowser listen"]
        finally:
            reader.close()
        # entries a filter leaves out move the reader on with the next write: a keepalive, then the id
        client.start_workflow_execution(domain=domain, workflowId="w1", workflowType=WF)
        reader = SseReader(http.url, {"domain": domain, "from": "0", "workflowType": "other"})
        try:
            got = reader.messages(lambda m: any(x["id"] == "2-0" for x in m), timeout=5)
        finally:
            reader.close()
        assert [(m["id"], m["event"], m["comments"]) for m in got[1:]] == [(None, None, ["keepalive"]), ("2-0", None, [])]
    finally:
        http.stop_accepting()
        engine.stop_polls()
        http.wait_idle(5)
        http.close()
        engine.store.close()


def test_a_domain_deleted_under_a_stream_ends_it_with_the_fault(fresh_redis: Any, domain: str) -> None:
    from backends.http.app import App
    from backends.http.server import HttpServer
    from backends.local import open_engine
    from backends.local.reset import wipe

    engine = open_engine(fresh_redis())
    http = HttpServer(App(engine, keepalive=0.2), "127.0.0.1", 0).start()
    client = swf_client(http.url)
    try:
        register_basics(client, domain)
        reader = SseReader(http.url, {"domain": domain})
        listener = listen(client, domain)
        try:
            reader.messages()
            wipe(engine.store)  # flowser reset
            got = reader.messages(lambda m: any(x["event"] == "error" for x in m), timeout=5)
            assert got[-1]["data"]["__type"].endswith("#UnknownResourceFault") and reader.messages() == []
            assert reader.ended
            with pytest.raises(ClientError) as error:
                next(listener)
            assert error.value.response["Error"]["Code"] == "UnknownResourceFault"
        finally:
            reader.close()
            listener.close()
    finally:
        http.stop_accepting()
        engine.stop_polls()
        http.wait_idle(5)
        http.close()
        engine.store.close()


# -- signed access ---------------------------------------------------------------------------------
def test_with_credentials_the_stream_needs_a_signature_and_the_key_s_rights(serve: Any, tmp_path: Path, domain: str) -> None:
    a, b = f"{domain}-a", f"{domain}-b"
    path = tmp_path / "credentials.json"
    path.write_text(json.dumps({"keys": [
        {"access_key_id": KEY_ID, "secret_access_key": SECRET},
        {"access_key_id": "AKIDLIMITED", "secret_access_key": "limited", "domains": [a]},
        {"access_key_id": "AKIDPOLLER", "secret_access_key": "poller", "actions": ["swf:Poll*", "swf:DescribeDomain"]},
    ]}))
    server = serve("--credentials", str(path))
    admin = server.client()
    register_basics(admin, a)
    register_basics(admin, b)

    code, _, body = raw(server.url, None, b"", method="GET", path=f"/flowser/listen?domain={a}")
    assert code == 403 and json.loads(body)["__type"].endswith("#MissingAuthenticationTokenException")
    query = [("domain", a), ("from", "0")]
    assert signed_get(server.url, query, KEY_ID, "wrong")[0] == 400
    assert signed_get(server.url, query, KEY_ID, SECRET) == (200, {"id": "0", "event": None, "data": None,
                                                                  "comments": ["flowser listen"], "retry": "1000"})
    assert signed_get(server.url, query, "AKIDLIMITED", "limited")[0] == 200
    code, error = signed_get(server.url, [("domain", b)], "AKIDLIMITED", "limited")
    assert code == 403 and error["__type"].endswith("#AccessDeniedException")
    assert f"swf:GetWorkflowExecutionHistory on resource: arn:aws:swf:us-east-1:000000000000:/domain/{b}" in error["message"]
    code, error = signed_get(server.url, query, "AKIDPOLLER", "poller")
    assert code == 403 and error["__type"].endswith("#AccessDeniedException")

    # the iterator signs with its client's credentials
    listener = listen(admin, a, after="0", stop=lambda: False)
    try:
        assert listener.mode == "sse"
        run_id = admin.start_workflow_execution(domain=a, workflowId="w1", workflowType=WF)["runId"]
        got = [next(listener), next(listener)]
    finally:
        listener.close()
    assert [(e.run_id, e.event_id) for e in got if isinstance(e, StreamEvent)] == [(run_id, 1), (run_id, 2)]
    with pytest.raises(Exception) as refused:
        listen(server.client(key="AKIDPOLLER", secret="poller"), a)
    assert "AccessDeniedException" in str(refused.value)


# -- the iterator over SSE ------------------------------------------------------------------------
def test_the_iterator_reconnects_and_resumes_exactly(server: Server, domain: str) -> None:
    client = server.client()
    register_basics(client, domain)
    listener = listen(client, domain, stop=lambda: False)
    assert listener.mode == "sse" and listener.note is None
    runs = [client.start_workflow_execution(domain=domain, workflowId=f"w{i}", workflowType=WF)["runId"] for i in range(3)]
    got: list[Any] = [next(listener) for _ in range(3)]
    connection = listener._source.connection  # type: ignore[attr-defined]
    connection.sock.shutdown(socket.SHUT_RDWR)  # the connection drops: the iterator opens another
    runs += [client.start_workflow_execution(domain=domain, workflowId=f"w{i}", workflowType=WF)["runId"] for i in range(3, 5)]
    got += [next(listener) for _ in range(7)]
    assert listener._source.connection is not connection  # type: ignore[attr-defined]
    resume_at = listener.last_id
    listener.close()
    assert all(isinstance(e, StreamEvent) for e in got)
    assert [e.id for e in got] == [f"{n}-0" for n in range(1, 11)]
    assert [(e.run_id, e.event_id) for e in got] == [(r, n) for r in runs for n in (1, 2)]
    assert resume_at == "10-0"
    client.signal_workflow_execution(domain=domain, workflowId="w0", signalName="s")
    again = listen(client, domain, after=resume_at, stop=lambda: False)
    try:
        more = next(again)
    finally:
        again.close()
    assert isinstance(more, StreamEvent) and (more.id, more.event_type) == ("11-0", "WorkflowExecutionSignaled")


def test_an_iterator_closed_from_another_thread_ends_and_opens_nothing_more(serve: Any, domain: str) -> None:
    server = serve()
    client = server.client()
    register_basics(client, domain)
    listener = listen(client, domain)
    items: list[Any] = []
    reader = threading.Thread(target=lambda: items.extend(listener))
    reader.start()
    wait_until(lambda: metric(server, "flowser_listen_streams") == 1)
    listener.close()
    reader.join(10)
    assert not reader.is_alive() and items == []
    wait_until(lambda: metric(server, "flowser_listen_streams") == 0, timeout=5)
    assert metric(server, "flowser_listen_streams_total") == 1  # it did not connect again


def test_the_iterator_reports_what_it_lost_behind_the_bound(serve: Any, domain: str) -> None:
    server = serve("--stream-maxlen", "10")
    client = server.client()
    register_basics(client, domain)
    client.start_workflow_execution(domain=domain, workflowId="w1", workflowType=WF)
    for i in range(198):
        client.signal_workflow_execution(domain=domain, workflowId="w1", signalName=f"s{i}")
    listener = listen(client, domain, after="1-0", stop=lambda: False)
    try:
        first = next(listener)
        assert isinstance(first, Lost) and first.after_id == "1-0"
        rest = [next(listener) for _ in range(199 - first.count)]
    finally:
        listener.close()
    assert [e.event_id for e in rest if isinstance(e, StreamEvent)] == list(range(2 + first.count, 201))


# -- under load -------------------------------------------------------------------------------------
def _writer(redis_url: str, domain: str, index: int, runs: int, go: Any) -> None:
    """One process writing ``runs`` minimal executions (start, decide, activity, decide, close) on the engine."""
    swf = connect(redis_url, poll_hold=1.0, timekeeper=False)
    try:
        go.wait(60)
        for i in range(runs):
            swf.start_workflow_execution(domain=domain, workflowId=f"p{index}-{i}", workflowType=WF, taskList={"name": f"tl{index}"})
            task = swf.poll_for_decision_task(domain=domain, taskList={"name": f"tl{index}"})
            swf.respond_decision_task_completed(taskToken=task["taskToken"], decisions=[{
                "decisionType": "ScheduleActivityTask",
                "scheduleActivityTaskDecisionAttributes": {"activityType": {"name": "act", "version": "1"}, "activityId": "a",
                                                           "taskList": {"name": f"tl{index}"}},
            }])
            activity = swf.poll_for_activity_task(domain=domain, taskList={"name": f"tl{index}"})
            swf.respond_activity_task_completed(taskToken=activity["taskToken"], result="r")
            task = swf.poll_for_decision_task(domain=domain, taskList={"name": f"tl{index}"})
            swf.respond_decision_task_completed(taskToken=task["taskToken"], decisions=[{
                "decisionType": "CompleteWorkflowExecution", "completeWorkflowExecutionDecisionAttributes": {"result": "ok"},
            }])
    finally:
        swf.close()


@pytest.mark.slow
def test_under_load_the_stream_misses_nothing_repeats_nothing_and_keeps_each_run_in_order(
    server: Server, redis_url: str, domain: str
) -> None:
    processes, per_process, events_per_run = 4, 500, 11
    client = server.client()
    register_basics(client, domain)
    listener = listen(client, domain, stop=lambda: False)
    expected = processes * per_process * events_per_run
    got: list[Any] = []
    drops = 0

    def read() -> None:
        nonlocal drops
        for item in listener:
            got.append(item)
            if len(got) in (3000, 11000, 17000):  # the connection drops, three times: the iterator resumes
                listener._source.connection.sock.shutdown(socket.SHUT_RDWR)  # type: ignore[attr-defined]
                drops += 1
            if len(got) >= expected:
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    ctx = mp.get_context("spawn")
    go = ctx.Event()
    writers = [ctx.Process(target=_writer, args=(redis_url, domain, i, per_process, go)) for i in range(processes)]
    for p in writers:
        p.start()
    go.set()
    for p in writers:
        p.join(240)
        assert p.exitcode == 0
    reader.join(60)
    listener.close()
    assert not reader.is_alive() and drops == 3
    assert not [item for item in got if isinstance(item, Lost)]
    assert len(got) == expected
    ids = [int(e.id.split("-")[0]) for e in got]
    assert ids == sorted(set(ids))  # none repeated, in stream order
    runs: dict[str, list[StreamEvent]] = {}
    for event in got:
        runs.setdefault(event.run_id, []).append(event)
    assert len(runs) == processes * per_process
    for run_id, events in runs.items():
        workflow_id = events[0].workflow_id
        assert [e.event for e in events] == history(client, domain, workflow_id, run_id)  # none missed, in order
