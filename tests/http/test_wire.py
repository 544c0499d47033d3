"""SWF's wire protocol over HTTP: boto3, AWS_ENDPOINT_URL_SWF and the AWS CLI against a real server."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
from typing import Any

import pytest

from backends.local.wire import operations_without_output
from flowser.testing import wait_until

from .conftest import Server, raw, register_basics, swf_client, target


def capture(client: Any) -> dict[str, list[tuple[int, dict[str, str], bytes]]]:
    """Every raw answer the client receives, by operation."""
    seen: dict[str, list[tuple[int, dict[str, str], bytes]]] = {}

    def record(operation_model: Any, response_dict: Any, **_: Any) -> None:
        headers = {k.lower(): v for k, v in response_dict["headers"].items()}
        seen.setdefault(operation_model.name, []).append((response_dict["status_code"], headers, response_dict["body"]))

    client.meta.events.register("before-parse.swf", record)
    return seen


def test_every_operation_round_trips_through_boto3(server: Server, domain: str) -> None:
    swf = server.client()
    seen = capture(swf)
    exc = swf.exceptions
    arn = f"arn:aws:swf:us-east-1:000000000000:/domain/{domain}"
    swf.register_domain(name=domain, workflowExecutionRetentionPeriodInDays="1", description="http", tags=[{"key": "k", "value": "v"}])
    assert swf.describe_domain(name=domain)["domainInfo"] == {"name": domain, "status": "REGISTERED", "description": "http", "arn": arn}
    assert domain in [d["name"] for d in swf.list_domains(registrationStatus="REGISTERED", maximumPageSize=1000)["domainInfos"]]
    register_basics_types(swf, domain)
    swf.tag_resource(resourceArn=arn, tags=[{"key": "team", "value": "a"}])
    swf.untag_resource(resourceArn=arn, tagKeys=["k"])
    assert swf.list_tags_for_resource(resourceArn=arn)["tags"] == [{"key": "team", "value": "a"}]

    wtype = {"name": "wf", "version": "1"}
    atype = {"name": "act", "version": "1"}
    info = swf.describe_workflow_type(domain=domain, workflowType=wtype)
    assert isinstance(info["typeInfo"]["creationDate"], dt.datetime) and info["typeInfo"]["creationDate"].tzinfo
    assert swf.describe_activity_type(domain=domain, activityType=atype)["configuration"]["defaultTaskList"] == {"name": "tl"}
    assert [t["workflowType"] for t in swf.list_workflow_types(domain=domain, registrationStatus="REGISTERED")["typeInfos"]] == [wtype]
    assert [t["activityType"] for t in swf.list_activity_types(domain=domain, registrationStatus="REGISTERED")["typeInfos"]] == [atype]

    run_id = swf.start_workflow_execution(domain=domain, workflowId="w1", workflowType=wtype, input="in", tagList=["t1"])["runId"]
    execution = {"workflowId": "w1", "runId": run_id}
    with pytest.raises(exc.WorkflowExecutionAlreadyStartedFault):
        swf.start_workflow_execution(domain=domain, workflowId="w1", workflowType=wtype)
    pending = swf.count_pending_decision_tasks(domain=domain, taskList={"name": "tl"})
    assert (pending["count"], pending["truncated"]) == (1, False)
    swf.signal_workflow_execution(domain=domain, workflowId="w1", signalName="go", input="now")

    task = swf.poll_for_decision_task(domain=domain, taskList={"name": "tl"}, identity="decider")
    assert task["workflowExecution"] == execution
    assert [e["eventType"] for e in task["events"]] == [
        "WorkflowExecutionStarted", "DecisionTaskScheduled", "WorkflowExecutionSignaled", "DecisionTaskStarted",
    ]
    started_at = task["events"][0]["eventTimestamp"]
    assert isinstance(started_at, dt.datetime) and started_at.tzinfo is not None
    assert abs(started_at.timestamp() - time.time()) < 30
    swf.respond_decision_task_completed(
        taskToken=task["taskToken"],
        decisions=[
            {"decisionType": "ScheduleActivityTask", "scheduleActivityTaskDecisionAttributes": {
                "activityType": atype, "activityId": "a1", "input": "x"}},
            {"decisionType": "ScheduleActivityTask", "scheduleActivityTaskDecisionAttributes": {
                "activityType": atype, "activityId": "a2"}},
            {"decisionType": "ScheduleActivityTask", "scheduleActivityTaskDecisionAttributes": {
                "activityType": atype, "activityId": "a3"}},
            {"decisionType": "RecordMarker", "recordMarkerDecisionAttributes": {"markerName": "m"}},
        ],
        executionContext="ctx",
    )
    assert swf.count_pending_activity_tasks(domain=domain, taskList={"name": "tl"})["count"] == 3
    tokens = {}
    for _ in range(3):
        activity = swf.poll_for_activity_task(domain=domain, taskList={"name": "tl"}, identity="worker")
        tokens[activity["activityId"]] = activity["taskToken"]
        assert activity["activityType"] == atype and activity["workflowExecution"] == execution
    assert swf.record_activity_task_heartbeat(taskToken=tokens["a1"], details="half")["cancelRequested"] is False
    swf.respond_activity_task_completed(taskToken=tokens["a1"], result="done")
    swf.respond_activity_task_failed(taskToken=tokens["a2"], reason="r", details="d")
    swf.respond_activity_task_canceled(taskToken=tokens["a3"], details="c")
    with pytest.raises(exc.UnknownResourceFault):
        swf.respond_activity_task_completed(taskToken=tokens["a1"])

    described = swf.describe_workflow_execution(domain=domain, execution=execution)
    assert described["executionInfo"]["executionStatus"] == "OPEN" and described["latestExecutionContext"] == "ctx"
    assert isinstance(described["latestActivityTaskTimestamp"], dt.datetime)
    window = {"oldestDate": dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)}
    opened = swf.list_open_workflow_executions(domain=domain, startTimeFilter=window)["executionInfos"]
    assert [e["execution"] for e in opened] == [execution] and opened[0]["tagList"] == ["t1"]
    assert swf.count_open_workflow_executions(domain=domain, startTimeFilter=window)["count"] == 1
    swf.request_cancel_workflow_execution(domain=domain, workflowId="w1")

    task = swf.poll_for_decision_task(domain=domain, taskList={"name": "tl"}, maximumPageSize=2)
    pages = [task]
    while "nextPageToken" in pages[-1]:
        pages.append(swf.poll_for_decision_task(
            domain=domain, taskList={"name": "tl"}, maximumPageSize=2, nextPageToken=pages[-1]["nextPageToken"]
        ))
    assert len(pages) > 2 and {p["taskToken"] for p in pages} == {task["taskToken"]}
    swf.respond_decision_task_completed(
        taskToken=task["taskToken"], decisions=[{"decisionType": "CancelWorkflowExecution", "cancelWorkflowExecutionDecisionAttributes": {}}]
    )
    history = swf.get_workflow_execution_history(domain=domain, execution=execution)["events"]
    assert history[-1]["eventType"] == "WorkflowExecutionCanceled"
    assert [e["eventId"] for e in history] == list(range(1, len(history) + 1))
    assert all(isinstance(e["eventTimestamp"], dt.datetime) for e in history)
    completed = next(e for e in history if e["eventType"] == "ActivityTaskCompleted")
    assert completed["activityTaskCompletedEventAttributes"]["result"] == "done"
    closed = swf.list_closed_workflow_executions(domain=domain, closeTimeFilter=window)["executionInfos"]
    assert closed[0]["closeStatus"] == "CANCELED" and isinstance(closed[0]["closeTimestamp"], dt.datetime)
    assert swf.count_closed_workflow_executions(domain=domain, startTimeFilter=window)["count"] == 1

    run2 = swf.start_workflow_execution(domain=domain, workflowId="w2", workflowType=wtype)["runId"]
    swf.terminate_workflow_execution(domain=domain, workflowId="w2", runId=run2, reason="stop")
    with pytest.raises(exc.UnknownResourceFault):
        swf.signal_workflow_execution(domain=domain, workflowId="w2", signalName="late")

    swf.deprecate_activity_type(domain=domain, activityType=atype)
    swf.undeprecate_activity_type(domain=domain, activityType=atype)
    swf.deprecate_activity_type(domain=domain, activityType=atype)
    swf.delete_activity_type(domain=domain, activityType=atype)
    swf.deprecate_workflow_type(domain=domain, workflowType=wtype)
    with pytest.raises(exc.TypeDeprecatedFault):
        swf.start_workflow_execution(domain=domain, workflowId="w3", workflowType=wtype)
    swf.undeprecate_workflow_type(domain=domain, workflowType=wtype)
    swf.deprecate_workflow_type(domain=domain, workflowType=wtype)
    swf.delete_workflow_type(domain=domain, workflowType=wtype)
    swf.deprecate_domain(name=domain)
    with pytest.raises(exc.DomainDeprecatedFault):
        swf.deprecate_domain(name=domain)
    swf.undeprecate_domain(name=domain)
    with pytest.raises(exc.DomainAlreadyExistsFault):
        swf.register_domain(name=domain, workflowExecutionRetentionPeriodInDays="1")

    # all 39 operations went over the wire; the 20 without an output shape answered with an empty body
    assert len(seen) == 39
    assert len(operations_without_output()) == 20
    for operation, answers in seen.items():
        for status, headers, body in answers:
            assert headers["content-type"] == "application/x-amz-json-1.0"
            assert len(headers["x-amzn-requestid"]) == 36
            if status == 200 and operation in operations_without_output():
                assert body == b"", operation
            elif status == 200:
                assert isinstance(json.loads(body), dict)
            else:
                assert status == 400 and json.loads(body)["__type"].startswith("com.amazonaws.swf.base.model#")


def register_basics_types(swf: Any, domain: str) -> None:
    swf.register_workflow_type(
        domain=domain, name="wf", version="1", defaultTaskList={"name": "tl"}, defaultExecutionStartToCloseTimeout="600",
        defaultTaskStartToCloseTimeout="60", defaultChildPolicy="TERMINATE",
    )
    swf.register_activity_type(
        domain=domain, name="act", version="1", defaultTaskList={"name": "tl"}, defaultTaskScheduleToStartTimeout="600",
        defaultTaskScheduleToCloseTimeout="600", defaultTaskStartToCloseTimeout="600", defaultTaskHeartbeatTimeout="NONE",
    )


def test_wire_details_timestamps_absent_members_and_faults(server: Server, domain: str) -> None:
    swf = server.client()
    register_basics(swf, domain)
    status, headers, body = raw(server.url, target("DescribeDomain"), {"name": domain})
    assert status == 200 and headers["content-type"] == "application/x-amz-json-1.0" and headers["x-amzn-requestid"]
    assert json.loads(body) == {
        "domainInfo": {"name": domain, "status": "REGISTERED", "arn": f"arn:aws:swf:us-east-1:000000000000:/domain/{domain}"},
        "configuration": {"workflowExecutionRetentionPeriodInDays": "1"},
    }  # no description, no nulls
    status, _, body = raw(server.url, target("DescribeWorkflowType"), {"domain": domain, "workflowType": {"name": "wf", "version": "1"}})
    created = json.loads(body)["typeInfo"]["creationDate"]
    assert isinstance(created, float | int) and abs(created - time.time()) < 60 and "deprecationDate" not in json.loads(body)["typeInfo"]

    status, headers, body = raw(server.url, target("DescribeDomain"), {"name": domain + "-missing"})
    assert status == 400 and headers["x-amzn-requestid"]
    assert json.loads(body) == {"__type": "com.amazonaws.swf.base.model#UnknownResourceFault", "message": f"Unknown domain: {domain}-missing"}
    status, _, body = raw(server.url, target("RegisterDomain"), {"name": domain, "workflowExecutionRetentionPeriodInDays": "1"})
    assert status == 400 and json.loads(body)["__type"] == "com.amazonaws.swf.base.model#DomainAlreadyExistsFault"

    # boto2: the long target and application/json with a charset
    boto2 = {"Content-Type": "application/json; charset=UTF-8"}
    status, _, body = raw(server.url, "com.amazonaws.swf.service.model.SimpleWorkflowService.DescribeDomain", {"name": domain}, boto2)
    assert status == 200 and json.loads(body)["domainInfo"]["name"] == domain
    status, _, body = raw(server.url, "com.amazonaws.swf.service.model.SimpleWorkflowService.StartWorkflowExecution",
                          {"domain": domain, "workflowId": "b2", "workflowType": {"name": "wf", "version": "1"}}, boto2)
    assert status == 200 and set(json.loads(body)) == {"runId"}

    # malformed JSON, not an object, invalid UTF-8
    for bad in (b"{", b"[1,2]", b'"x"', b"\xff\xfe{}", b"{\"name\": \"\xc3\x28\"}"):
        status, _, body = raw(server.url, target("DescribeDomain"), bad)
        assert (status, json.loads(body)) == (400, {"__type": "com.amazon.coral.service#SerializationException"}), bad
    # unknown and missing targets
    for bad_target in ("SimpleWorkflowService.Nope", "Nope.DescribeDomain", "SimpleWorkflowService.", None):
        status, _, body = raw(server.url, bad_target, {"name": domain})
        assert status == 400 and json.loads(body)["__type"] == "com.amazon.coral.service#UnknownOperationException"
    # wrong types, missing fields, out of range: ValidationException naming the field
    cases = {
        ("DescribeDomain", json.dumps({"name": 5})): "Value '5' at 'name' failed to satisfy constraint: Member must be a string",
        ("ListDomains", "{}"): "Value null at 'registrationStatus' failed to satisfy constraint: Member must not be null",
        ("ListDomains", json.dumps({"registrationStatus": "REGISTERED", "maximumPageSize": 5000})):
            "Value '5000' at 'maximumPageSize' failed to satisfy constraint: Member must have value less than or equal to 1000",
        ("StartWorkflowExecution", json.dumps({"domain": domain, "workflowId": "w", "workflowType": {"name": "wf", "version": "1"},
                                               "input": "x" * 40000})):
            "at 'input' failed to satisfy constraint: Member must have length less than or equal to 32768",
        ("PollForDecisionTask", json.dumps({"domain": domain, "taskList": {"name": ["tl"]}})): "at 'taskList.name'",
    }
    for (operation, text), expected in cases.items():
        status, _, body = raw(server.url, target(operation), text)
        answer = json.loads(body)
        assert status == 400 and answer["__type"] == "com.amazon.coral.validate#ValidationException", answer
        assert expected in answer["message"], answer
    # oversized: over the body cap (1 MiB), refused before it is read
    status, headers, body = raw(server.url, target("StartWorkflowExecution"), b"{" + b" " * (1 << 20) + b"}")
    assert status == 413 and headers["connection"] == "close"
    assert json.loads(body)["__type"] == "com.amazon.coral.service#RequestEntityTooLargeException"
    # other methods and paths
    status, _, body = raw(server.url, None, b"", method="GET", path="/")
    assert status == 405 and json.loads(body)["__type"].endswith("#UnknownOperationException")
    status, _, body = raw(server.url, target("ListDomains"), b"{}", path="/nope")
    assert status == 404 and "message" in json.loads(body)
    status, _, body = raw(server.url, target("ListDomains"), b"{}", {"Content-Type": "text/plain"})
    assert status == 415 and json.loads(body)["__type"].endswith("#UnsupportedMediaTypeException")
    # nothing of the domain changed through all this
    assert swf.count_open_workflow_executions(
        domain=domain, startTimeFilter={"oldestDate": dt.datetime(2020, 1, 1, tzinfo=dt.UTC)}
    )["count"] == 1


def test_http_framing_keep_alive_chunked_continue(server: Server, domain: str) -> None:
    import socket

    swf = server.client()
    swf.register_domain(name=domain, workflowExecutionRetentionPeriodInDays="1")
    body = json.dumps({"name": domain}).encode()
    head = (f"POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: {target('DescribeDomain')}\r\n"
            "Content-Type: application/x-amz-json-1.0\r\n")
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        # two requests on one connection (pipelined), then a chunked one with Expect: 100-continue
        one = (head + f"Content-Length: {len(body)}\r\n\r\n").encode() + body
        s.sendall(one + one)
        chunked = (head + "Transfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n").encode()
        chunked += b"%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n" % (5, body[:5], len(body) - 5, body[5:])
        s.sendall(chunked)
        answers = read_responses(s, 4)
    assert [a[0] for a in answers] == [200, 200, 100, 200]
    assert all(json.loads(a[1])["domainInfo"]["name"] == domain for a in answers if a[0] == 200)


def read_responses(sock: Any, count: int) -> list[tuple[int, bytes]]:
    buf = b""
    out: list[tuple[int, bytes]] = []
    while len(out) < count:
        while b"\r\n\r\n" not in buf:
            data = sock.recv(65536)
            assert data, (buf, out)
            buf += data
        head, _, buf = buf.partition(b"\r\n\r\n")
        status = int(head.split(b" ")[1])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        while len(buf) < length:
            buf += sock.recv(65536)
        out.append((status, buf[:length]))
        buf = buf[length:]
    return out


def test_empty_poll_answered_at_the_configured_hold(server: Server, domain: str) -> None:
    swf = server.client()
    swf.register_domain(name=domain, workflowExecutionRetentionPeriodInDays="1")
    began = time.monotonic()
    status, _, body = raw(server.url, target("PollForDecisionTask"), {"domain": domain, "taskList": {"name": "none"}})
    held = time.monotonic() - began
    assert status == 200 and json.loads(body) == {"taskToken": "", "previousStartedEventId": 0, "startedEventId": 0}
    assert 0.95 <= held < 1.6, held
    began = time.monotonic()
    answer = swf.poll_for_activity_task(domain=domain, taskList={"name": "none"})
    assert 0.95 <= time.monotonic() - began < 1.6
    assert answer["taskToken"] == "" and answer["startedEventId"] == 0


def test_endpoint_from_environment_and_aws_cli(server: Server, domain: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_SWF", server.url)
    swf = swf_client(None)
    assert swf.meta.endpoint_url == server.url
    register_basics(swf, domain)

    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "AKIDCLI",
        "AWS_SECRET_ACCESS_KEY": "cli-secret",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }
    env.pop("AWS_ENDPOINT_URL_SWF", None)

    def aws(*args: str) -> tuple[int, str, str]:
        done = subprocess.run(
            [sys.executable, "-m", "awscli", "swf", *args, "--endpoint-url", server.url, "--output", "json"],
            env=env, capture_output=True, text=True, timeout=60,
        )
        return done.returncode, done.stdout, done.stderr

    code, out, err = aws("start-workflow-execution", "--domain", domain, "--workflow-id", "cli",
                         "--workflow-type", "name=wf,version=1", "--input", "hello")
    assert code == 0, err
    run_id = json.loads(out)["runId"]
    code, out, err = aws("get-workflow-execution-history", "--domain", domain, "--execution", f"workflowId=cli,runId={run_id}")
    assert code == 0, err
    events = json.loads(out)["events"]
    assert events[0]["eventType"] == "WorkflowExecutionStarted"
    assert events[0]["workflowExecutionStartedEventAttributes"]["input"] == "hello"
    assert abs(events[0]["eventTimestamp"] - time.time()) < 60  # the CLI shows the wire's epoch seconds
    code, out, err = aws("describe-domain", "--name", domain + "-none")
    assert code != 0 and "UnknownResourceFault" in err and out == ""


def test_health_and_metrics(server: Server, domain: str) -> None:
    swf = server.client()
    register_basics(swf, domain, task_list="metrics-tl")
    swf.start_workflow_execution(domain=domain, workflowId="m1", workflowType={"name": "wf", "version": "1"})
    swf.start_workflow_execution(domain=domain, workflowId="m2", workflowType={"name": "wf", "version": "1"})
    task = swf.poll_for_decision_task(domain=domain, taskList={"name": "metrics-tl"})
    swf.respond_decision_task_completed(taskToken=task["taskToken"], decisions=[
        {"decisionType": "ScheduleActivityTask", "scheduleActivityTaskDecisionAttributes": {
            "activityType": {"name": "act", "version": "1"}, "activityId": "x"}},
        {"decisionType": "StartTimer", "startTimerDecisionAttributes": {"timerId": "t", "startToFireTimeout": "0"}},
    ])
    with pytest.raises(swf.exceptions.UnknownResourceFault):
        swf.describe_domain(name=domain + "-none")
    raw(server.url, target("Bogus"), b"{}")
    def scrape_once_the_timer_fired() -> tuple[int, dict[str, str], bytes] | None:
        answer = raw(server.url, None, b"", method="GET", path="/metrics")
        return answer if f'flowser_timers_fired_total{{domain="{domain}"}} 1' in answer[2].decode() else None

    status, headers, body = wait_until(scrape_once_the_timer_fired, 5)
    text = body.decode()
    assert status == 200 and headers["content-type"].startswith("text/plain; version=0.0.4")
    assert f'flowser_open_executions{{domain="{domain}"}} 2' in text
    assert f'flowser_pending_tasks{{domain="{domain}",kind="activity",task_list="metrics-tl"}} 1' in text
    # m2's decision task, and m1's new one (the timer fired)
    assert f'flowser_pending_tasks{{domain="{domain}",kind="decision",task_list="metrics-tl"}} 2' in text
    assert f'flowser_schedule_to_start_seconds_count{{kind="decision",domain="{domain}"}} 1' in text
    assert f'flowser_schedule_to_start_seconds_bucket{{kind="decision",domain="{domain}",le="+Inf"}} 1' in text
    assert f'flowser_timers_fired_total{{domain="{domain}"}} 1' in text
    assert "# TYPE flowser_timeouts_fired_total counter" in text
    assert 'flowser_requests_total{operation="StartWorkflowExecution"}' in text
    assert 'flowser_request_errors_total{operation="DescribeDomain",code="UnknownResourceFault"}' in text
    assert 'flowser_request_errors_total{operation="unknown",code="UnknownOperationException"}' in text
    for line in text.splitlines():  # every sample line is "name{labels} number"
        if line and not line.startswith("#"):
            float(line.rsplit(" ", 1)[1])
    status, _, body = raw(server.url, None, b"", method="GET", path="/health")
    assert (status, json.loads(body)) == (200, {"status": "ok"})


def test_limits_poll_cap_header_timeout_ready_time(serve: Any, domain: str) -> None:
    import socket

    server = serve("--poll-hold", "3", "--max-polls", "3", "--header-timeout", "0.5", "--body-timeout", "0.5",
                   "--empty-poll-token", "empty")
    assert server.ready_after is not None and server.ready_after < 3.0  # < 1 s on an idle machine (bench)
    swf = server.client()
    swf.register_domain(name=domain, workflowExecutionRetentionPeriodInDays="1")
    body = json.dumps({"domain": domain, "taskList": {"name": "cap"}}).encode()
    request = (f"POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: {target('PollForActivityTask')}\r\n"
               f"Content-Type: application/x-amz-json-1.0\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body
    held = []
    for _ in range(3):
        s = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        s.sendall(request)
        held.append(s)
    wait_until(lambda: "flowser_polls_held 3" in raw(server.url, None, b"", method="GET", path="/metrics")[2].decode(), 10)
    with pytest.raises(swf.exceptions.LimitExceededFault) as refused:
        swf.poll_for_activity_task(domain=domain, taskList={"name": "cap"})
    assert "3 polls" in str(refused.value)
    # a slow client: headers not complete within --header-timeout -> 408 and closed
    slow = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    slow.sendall(b"POST / HTTP/1.1\r\nHost: x\r\n")
    began = time.monotonic()
    status, answer = read_responses(slow, 1)[0]
    assert status == 408 and 0.4 < time.monotonic() - began < 2.0
    assert json.loads(answer)["__type"].endswith("#RequestTimeoutException")
    assert slow.recv(10) == b""
    # a slow body: 408 once --body-timeout has passed
    slow = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    slow.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
    began = time.monotonic()
    assert read_responses(slow, 1)[0][0] == 408 and 0.4 < time.monotonic() - began < 2.0
    # held polls end empty, with taskToken "" (--empty-poll-token empty)
    for s in held:
        status, answer = read_responses(s, 1)[0]
        assert (status, json.loads(answer)) == (200, {"startedEventId": 0, "taskToken": ""})
        s.close()
    assert "taskToken" in swf.poll_for_activity_task(domain=domain, taskList={"name": "cap"})


def test_lambda_functions_run_by_the_server(serve: Any, domain: str) -> None:
    server = serve("--poll-hold", "5", "--lambda", "title=string:capwords")
    swf = server.client()
    register_basics(swf, domain)
    run_id = swf.start_workflow_execution(
        domain=domain, workflowId="l", workflowType={"name": "wf", "version": "1"},
        lambdaRole="arn:aws:iam::123456789012:role/swf-lambda",
    )["runId"]
    task = swf.poll_for_decision_task(domain=domain, taskList={"name": "tl"})
    swf.respond_decision_task_completed(taskToken=task["taskToken"], decisions=[
        {"decisionType": "ScheduleLambdaFunction", "scheduleLambdaFunctionDecisionAttributes": {
            "id": "l1", "name": "title", "input": "hello lambda world"}}])
    task = swf.poll_for_decision_task(domain=domain, taskList={"name": "tl"})
    completed = [e for e in task["events"] if e["eventType"] == "LambdaFunctionCompleted"]
    assert [e["lambdaFunctionCompletedEventAttributes"]["result"] for e in completed] == ["Hello Lambda World"]
    assert task["workflowExecution"]["runId"] == run_id
    bad = serve("--lambda", "nope=no_such_module:fn", wait=False)
    assert bad.proc.wait(30) == 2


def test_connection_cap(serve: Any) -> None:
    import socket

    server = serve("--max-connections", "2")
    idle = [socket.create_connection(("127.0.0.1", server.port), timeout=10) for _ in range(2)]
    for s in idle:  # admitted: each answers, and stays open
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_responses(s, 1)[0][0] == 200
    extra = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    status, body = read_responses(extra, 1)[0]
    assert status == 503 and json.loads(body)["__type"].endswith("#ServiceUnavailable")
    for s in [*idle, extra]:
        s.close()
    wait_until(lambda: raw(server.url, None, b"", method="GET", path="/health")[0] == 200, 10)  # room again
