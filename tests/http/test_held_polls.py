"""A held poll claims nothing for a client that stopped listening (issue: no task for a poller that is gone).

Each test runs a real ``flowser serve`` and real boto3 clients: one that gave
up on its read, a worker killed with SIGKILL mid-poll, processes sharing an
inherited keep-alive connection, and raw sockets that pipeline requests.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from typing import Any

import pytest
from botocore.exceptions import ReadTimeoutError

from flowser.testing import wait_until

from .conftest import ROOT, Server, raw, register_basics, swf_client, target


def metric(server: Server, name: str) -> float:
    status, _, body = raw(server.url, None, b"", method="GET", path="/metrics")
    assert status == 200
    for line in body.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in /metrics")


def history(client: Any, domain: str, execution: dict[str, str]) -> list[dict[str, Any]]:
    pages = client.get_paginator("get_workflow_execution_history")
    return [e for page in pages.paginate(domain=domain, execution=execution) for e in page["events"]]


def start(client: Any, domain: str, workflow_id: str) -> dict[str, str]:
    run_id = client.start_workflow_execution(
        domain=domain, workflowId=workflow_id, workflowType={"name": "wf", "version": "1"}
    )["runId"]
    return {"workflowId": workflow_id, "runId": run_id}


def poll_in_thread(client: Any, operation: str, **params: Any) -> tuple[threading.Thread, dict[str, Any]]:
    answer: dict[str, Any] = {}

    def poll() -> None:
        answer.update(getattr(client, operation)(**params))

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    return thread, answer


def test_a_client_that_gave_up_on_its_read_gets_nothing_claimed(serve: Any, domain: str) -> None:
    server = serve("--poll-hold", "5")
    live = server.client()
    register_basics(live, domain)
    quitter = server.client(read_timeout=1, retries=0)
    with pytest.raises(ReadTimeoutError):
        quitter.poll_for_decision_task(domain=domain, taskList={"name": "tl"}, identity="quitter")
    # the server ends the abandoned poll as soon as the client closes its connection
    wait_until(lambda: metric(server, "flowser_polls_held") == 0, 2.0)
    assert metric(server, "flowser_polls_abandoned_total") == 1

    thread, answer = poll_in_thread(
        live, "poll_for_decision_task", domain=domain, taskList={"name": "tl"}, identity="live"
    )
    wait_until(lambda: metric(server, "flowser_polls_held") == 1, 2.0)
    execution = start(live, domain, "wf-a")
    thread.join(10)
    assert answer.get("taskToken"), answer
    events = history(live, domain, execution)
    started = [e for e in events if e["eventType"] == "DecisionTaskStarted"]
    assert [e["decisionTaskStartedEventAttributes"]["identity"] for e in started] == ["live"]
    delay = (started[0]["eventTimestamp"] - events[0]["eventTimestamp"]).total_seconds()
    assert delay <= 0.1, f"the live poller got the task {delay:.3f} s after the start"


def test_a_worker_killed_during_its_held_poll_leaves_the_next_task_to_another(serve: Any, domain: str) -> None:
    server = serve("--poll-hold", "5")
    swf = server.client()
    register_basics(swf, domain)
    script = textwrap.dedent(
        f"""
        import boto3
        client = boto3.client(
            "swf", endpoint_url={server.url!r}, region_name="us-east-1",
            aws_access_key_id="AKIDTEST", aws_secret_access_key="secret-test-key",
        )
        print("polling", flush=True)
        client.poll_for_activity_task(domain={domain!r}, taskList={{"name": "tl"}}, identity="doomed")
        print("claimed", flush=True)
        """
    )
    doomed = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert doomed.stdout is not None and doomed.stdout.readline().strip() == "polling"
        wait_until(lambda: metric(server, "flowser_polls_held") == 1, 5.0)
        os.kill(doomed.pid, signal.SIGKILL)
        doomed.wait(10)
    finally:
        if doomed.poll() is None:
            doomed.kill()
            doomed.wait(10)
    killed = time.monotonic()
    wait_until(lambda: metric(server, "flowser_polls_held") == 0, 2.0)  # the dead worker's poll ends
    assert time.monotonic() - killed < 1.0

    execution = start(swf, domain, "wf-c")
    task = swf.poll_for_decision_task(domain=domain, taskList={"name": "tl"})
    thread, answer = poll_in_thread(
        swf_client(server.url), "poll_for_activity_task", domain=domain, taskList={"name": "tl"}, identity="alive"
    )
    wait_until(lambda: metric(server, "flowser_polls_held") == 1, 2.0)
    swf.respond_decision_task_completed(
        taskToken=task["taskToken"],
        decisions=[
            {
                "decisionType": "ScheduleActivityTask",
                "scheduleActivityTaskDecisionAttributes": {"activityType": {"name": "act", "version": "1"}, "activityId": "a1"},
            }
        ],
    )
    thread.join(10)
    assert answer.get("activityId") == "a1", answer
    events = history(swf, domain, execution)
    scheduled = next(e for e in events if e["eventType"] == "ActivityTaskScheduled")
    started = [e for e in events if e["eventType"] == "ActivityTaskStarted"]
    assert [e["activityTaskStartedEventAttributes"]["identity"] for e in started] == ["alive"]
    assert (started[0]["eventTimestamp"] - scheduled["eventTimestamp"]).total_seconds() <= 0.1


def _shared_connection_decider(client: Any, domain: str, name: str, stop: Any, errors: Any) -> None:
    """A forked child: long-poll on the client inherited from the parent, one call per task."""
    while not stop.is_set():
        try:
            task = client.poll_for_decision_task(domain=domain, taskList={"name": "tl"}, identity=name)
            if not task.get("taskToken"):
                continue
            assert "workflowExecution" in task, task
            client.respond_decision_task_completed(
                taskToken=task["taskToken"],
                decisions=[{"decisionType": "CompleteWorkflowExecution", "completeWorkflowExecutionDecisionAttributes": {}}],
            )
        except Exception as exc:  # reported to the test: a call that botocore's retries did not resolve
            errors.put(f"{name}: {type(exc).__name__}: {exc}")


@pytest.mark.slow
def test_processes_sharing_an_inherited_connection_lose_and_double_nothing(serve: Any, domain: str) -> None:
    server = serve("--poll-hold", "5")
    shared = swf_client(server.url, retries=5)
    register_basics(shared, domain)  # the connection is now pooled, kept alive, and inherited below
    ctx = multiprocessing.get_context("fork")
    stop, errors = ctx.Event(), ctx.Queue()
    children = [
        ctx.Process(target=_shared_connection_decider, args=(shared, domain, f"child-{n}", stop, errors))
        for n in range(2)
    ]
    for child in children:
        child.start()
    starter = swf_client(server.url)
    executions = []
    try:
        wait_until(lambda: metric(server, "flowser_polls_held") >= 1, 5.0)
        for n in range(200):
            executions.append(start(starter, domain, f"wf-{n}"))
            time.sleep(0.1)  # the pace: a task every 100 ms, so polls are held when calls queue
        wait_until(  # every workflow completes
            lambda: starter.count_closed_workflow_executions(domain=domain, startTimeFilter={"oldestDate": 0})["count"]
            == 200,
            30.0,
        )
    finally:
        stop.set()
        for child in children:
            child.terminate()
            child.join(10)
    reported = []
    while not errors.empty():
        reported.append(errors.get())
    assert reported == []
    waits = []
    for execution in executions:
        events = history(starter, domain, execution)
        kinds = [e["eventType"] for e in events]
        assert kinds.count("DecisionTaskStarted") == 1, (execution, kinds)
        assert "DecisionTaskTimedOut" not in kinds, (execution, kinds)
        assert kinds[-1] == "WorkflowExecutionCompleted", (execution, kinds)
        started = next(e for e in events if e["eventType"] == "DecisionTaskStarted")
        waits.append((started["eventTimestamp"] - events[0]["eventTimestamp"]).total_seconds())
    # none waited behind another process's held poll (5 s), let alone for a timeout (60 s)
    assert max(waits) < 3.0, sorted(waits)[-5:]


def _request(operation: str, body: dict[str, Any]) -> bytes:
    data = json.dumps(body).encode()
    head = (
        f"POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: {target(operation)}\r\n"
        f"Content-Type: application/x-amz-json-1.0\r\nContent-Length: {len(data)}\r\n\r\n"
    )
    return head.encode() + data


def _read_all(sock: socket.socket) -> bytes:
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return data
        if not chunk:
            return data
        data += chunk


def test_a_request_sent_behind_a_held_poll_ends_it_unanswered(serve: Any, domain: str) -> None:
    server = serve("--poll-hold", "5")
    swf = server.client()
    register_basics(swf, domain)
    poll = _request("PollForDecisionTask", {"domain": domain, "taskList": {"name": "tl"}, "identity": "sharer"})
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(poll)
        wait_until(lambda: metric(server, "flowser_polls_held") == 1, 2.0)
        s.sendall(_request("DescribeDomain", {"name": domain}))
        began = time.monotonic()
        assert _read_all(s) == b""  # no answer to either: the connection is closed
        assert time.monotonic() - began < 1.0
    execution = start(swf, domain, "wf-p")
    task = swf.poll_for_decision_task(domain=domain, taskList={"name": "tl"}, identity="live")
    assert task["workflowExecution"] == execution
    assert metric(server, "flowser_polls_abandoned_total") == 1


def test_a_poll_pipelined_behind_another_request_claims_nothing(serve: Any, domain: str) -> None:
    server = serve("--poll-hold", "1")
    swf = server.client()
    register_basics(swf, domain)
    execution = start(swf, domain, "wf-q")  # a task is ready: a poll would claim it at once
    poll = _request("PollForDecisionTask", {"domain": domain, "taskList": {"name": "tl"}, "identity": "sharer"})
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(_request("DescribeDomain", {"name": domain}) + poll)
        answers = _read_all(s)
    assert answers.startswith(b"HTTP/1.1 200 OK"), answers
    assert answers.count(b"HTTP/1.1") == 1 and domain.encode() in answers  # the first answered, then closed
    task = swf.poll_for_decision_task(domain=domain, taskList={"name": "tl"}, identity="live")
    assert task["workflowExecution"] == execution
    kinds = [e["eventType"] for e in history(swf, domain, execution)]
    assert kinds.count("DecisionTaskStarted") == 1


def test_requests_whose_bytes_interleave_are_not_answered(serve: Any, domain: str) -> None:
    """Two processes on one connection, each writing a head then a body (as botocore does), at once."""
    server = serve("--poll-hold", "1")
    swf = server.client()
    register_basics(swf, domain)
    execution = start(swf, domain, "wf-i")  # a task is ready: a poll that ran would claim it
    poll = _request("PollForDecisionTask", {"domain": domain, "taskList": {"name": "tl"}, "identity": "sharer"})
    describe = _request("DescribeDomain", {"name": domain})
    (poll_head, poll_body), (describe_head, describe_body) = (r.split(b"\r\n\r\n", 1) for r in (poll, describe))
    orders = [
        # the poll's body is read from the start of the other head: a body that is a request line
        [poll_head + b"\r\n\r\n", describe_head + b"\r\n\r\n", poll_body, describe_body],
        # a whole request, then a body where the next request line should be
        [describe, poll_body, poll_head + b"\r\n\r\n"],
    ]
    for parts in orders:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
            s.sendall(describe)  # the parent's call, before the fork: the connection is in use
            from .test_wire import read_responses

            assert read_responses(s, 1)[0][0] == 200
            try:
                for part in parts:
                    s.sendall(part)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the server saw enough and closed the connection: what the test expects
            answers = _read_all(s)
        assert b"HTTP/1.1 4" not in answers, answers  # no error answer that a process would take for its own
        assert answers.count(b"HTTP/1.1") == (1 if parts[0] == describe else 0), answers
    # on a fresh connection the same bytes are only a malformed request: answered 400, as always
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(poll_body + b"\r\n\r\n")
        assert _read_all(s).startswith(b"HTTP/1.1 400 ")
    task = swf.poll_for_decision_task(domain=domain, taskList={"name": "tl"}, identity="live")
    assert task["workflowExecution"] == execution
    started = [e for e in history(swf, domain, execution) if e["eventType"] == "DecisionTaskStarted"]
    assert [e["decisionTaskStartedEventAttributes"]["identity"] for e in started] == ["live"]


def test_pipelined_requests_without_a_held_poll_are_answered_in_order(serve: Any, domain: str) -> None:
    server = serve("--poll-hold", "1")
    swf = server.client()
    register_basics(swf, domain)
    requests = [
        _request("DescribeDomain", {"name": domain}),
        _request("DescribeWorkflowType", {"domain": domain, "workflowType": {"name": "wf", "version": "1"}}),
        _request("CountPendingDecisionTasks", {"domain": domain, "taskList": {"name": "tl"}}),
    ]
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(b"".join(requests))
        from .test_wire import read_responses

        answers = read_responses(s, 3)
    assert [status for status, _ in answers] == [200, 200, 200]
    first, second, third = (json.loads(body) for _, body in answers)
    assert first["domainInfo"]["name"] == domain
    assert second["typeInfo"]["workflowType"] == {"name": "wf", "version": "1"}
    assert third == {"count": 0, "truncated": False}


def test_a_quick_client_s_next_request_is_not_taken_for_pipelining(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only bytes in before an answer is sent mark the next request as pipelined: a client that
    sends its next request the moment it has read an answer is not, however late the server's
    thread gets to look (here 50 ms after each answer, as under a busy GIL)."""
    from backends.http import server as http_server

    seen: list[bool] = []

    class Handler:
        def __call__(self, request: http_server.Request) -> http_server.Response:
            assert request.connection is not None
            seen.append(request.connection.pipelined)
            return http_server.Response(200, {}, b"{}")

        def http_error(self, status: int, code: str, message: str) -> http_server.Response:
            return http_server.Response(status, {}, b"{}")

    send = http_server._Connection._send

    def slow_send(self: Any, *args: Any, **kwargs: Any) -> None:
        send(self, *args, **kwargs)
        time.sleep(0.05)  # the thread is slow to go on after its answer went out

    monkeypatch.setattr(http_server._Connection, "_send", slow_send)
    server = http_server.HttpServer(Handler(), "127.0.0.1", 0).start()
    try:
        request = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"
        with socket.create_connection(server.address, timeout=10) as s:
            from .test_wire import read_responses

            for _ in range(5):  # one at a time: the next goes out as soon as the answer is read
                s.sendall(request)
                read_responses(s, 1)
            s.sendall(request + request)  # truly pipelined
            read_responses(s, 2)
    finally:
        server.stop_accepting()
        server.close()
    assert seen == [False] * 5 + [False, True]
