"""Never broken by bad input: random requests against a live server (hypothesis).

Every answer must be a well-formed AWS answer (a success, or a JSON error
with ``__type``, never a 500, a traceback or a hang), the server must keep
serving, and a domain's data must be identical before and after. Requests
are of three kinds:

* a valid request on that domain (all 39 operations, with live task tokens)
  with one member deleted (if required) or given a wrong type, a value too
  long or a deep nesting: it must fail with ValidationException naming the
  member (or SerializationException when the nesting is too deep for JSON);
* random targets, headers, methods, paths and JSON bodies (never naming the domain);
* random bytes: invalid UTF-8, junk, truncated JSON, unbalanced nesting.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import botocore.session
from botocore.model import Shape, StructureShape
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backends.local.engine import OPERATIONS

from .conftest import Server, register_basics, swf_client

SERVICE = botocore.session.get_session().get_service_model("swf")
PREFIXES = ("SimpleWorkflowService.", "com.amazonaws.swf.service.model.SimpleWorkflowService.")
OK_STATUSES = {200, 400, 403, 404, 405, 408, 413, 415, 431, 505}


def base_requests(d: str, run_id: str, decision_token: str, activity_token: str) -> dict[str, dict[str, Any]]:
    """A valid request of every operation on domain ``d``."""
    arn = f"arn:aws:swf:us-east-1:000000000000:/domain/{d}"
    wt, at, tl = {"name": "wf", "version": "1"}, {"name": "act", "version": "1"}, {"name": "tl"}
    ex = {"workflowId": "w2", "runId": run_id}
    window = {"oldestDate": 0, "latestDate": 4102444800}
    return {
        "CountClosedWorkflowExecutions": {"domain": d, "closeTimeFilter": window, "typeFilter": wt},
        "CountOpenWorkflowExecutions": {"domain": d, "startTimeFilter": window, "executionFilter": {"workflowId": "w2"}},
        "CountPendingActivityTasks": {"domain": d, "taskList": tl},
        "CountPendingDecisionTasks": {"domain": d, "taskList": tl},
        "DeleteActivityType": {"domain": d, "activityType": at},
        "DeleteWorkflowType": {"domain": d, "workflowType": wt},
        "DeprecateActivityType": {"domain": d, "activityType": at},
        "DeprecateDomain": {"name": d},
        "DeprecateWorkflowType": {"domain": d, "workflowType": wt},
        "DescribeActivityType": {"domain": d, "activityType": at},
        "DescribeDomain": {"name": d},
        "DescribeWorkflowExecution": {"domain": d, "execution": ex},
        "DescribeWorkflowType": {"domain": d, "workflowType": wt},
        "GetWorkflowExecutionHistory": {"domain": d, "execution": ex, "maximumPageSize": 10, "reverseOrder": True},
        "ListActivityTypes": {"domain": d, "registrationStatus": "REGISTERED", "name": "act"},
        "ListClosedWorkflowExecutions": {"domain": d, "startTimeFilter": window, "closeStatusFilter": {"status": "TERMINATED"}},
        "ListDomains": {"registrationStatus": "REGISTERED", "maximumPageSize": 5},
        "ListOpenWorkflowExecutions": {"domain": d, "startTimeFilter": window, "tagFilter": {"tag": "t"}},
        "ListTagsForResource": {"resourceArn": arn},
        "ListWorkflowTypes": {"domain": d, "registrationStatus": "DEPRECATED"},
        "PollForActivityTask": {"domain": d, "taskList": tl, "identity": "fuzz"},
        "PollForDecisionTask": {"domain": d, "taskList": tl, "identity": "fuzz", "maximumPageSize": 5},
        "RecordActivityTaskHeartbeat": {"taskToken": activity_token, "details": "d"},
        "RegisterActivityType": {"domain": d, "name": "act2", "version": "1", "defaultTaskList": tl, "defaultTaskStartToCloseTimeout": "60"},
        "RegisterDomain": {"name": d + "-new", "workflowExecutionRetentionPeriodInDays": "1", "tags": [{"key": "k", "value": "v"}]},
        "RegisterWorkflowType": {"domain": d, "name": "wf2", "version": "1", "defaultChildPolicy": "TERMINATE"},
        "RequestCancelWorkflowExecution": {"domain": d, "workflowId": "w2"},
        "RespondActivityTaskCanceled": {"taskToken": activity_token, "details": "x"},
        "RespondActivityTaskCompleted": {"taskToken": activity_token, "result": "r"},
        "RespondActivityTaskFailed": {"taskToken": activity_token, "reason": "r", "details": "d"},
        "RespondDecisionTaskCompleted": {
            "taskToken": decision_token,
            "decisions": [
                {"decisionType": "ScheduleActivityTask", "scheduleActivityTaskDecisionAttributes": {
                    "activityType": at, "activityId": "a9", "taskList": tl, "input": "i", "heartbeatTimeout": "NONE"}},
                {"decisionType": "StartTimer", "startTimerDecisionAttributes": {"timerId": "t", "startToFireTimeout": "5"}},
                {"decisionType": "CompleteWorkflowExecution", "completeWorkflowExecutionDecisionAttributes": {"result": "x"}},
            ],
            "executionContext": "c",
        },
        "SignalWorkflowExecution": {"domain": d, "workflowId": "w2", "signalName": "s", "input": "i"},
        "StartWorkflowExecution": {
            "domain": d, "workflowId": "new", "workflowType": wt, "taskList": tl, "input": "i", "tagList": ["t"],
            "executionStartToCloseTimeout": "60", "taskPriority": "3",
        },
        "TagResource": {"resourceArn": arn, "tags": [{"key": "k", "value": "v"}]},
        "TerminateWorkflowExecution": {"domain": d, "workflowId": "w2", "reason": "r", "childPolicy": "ABANDON"},
        "UndeprecateActivityType": {"domain": d, "activityType": at},
        "UndeprecateDomain": {"name": d},
        "UndeprecateWorkflowType": {"domain": d, "workflowType": wt},
        "UntagResource": {"resourceArn": arn, "tagKeys": ["k"]},
    }


def members(value: Any, shape: Shape, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Shape, bool]]:
    """(path, shape, required) of every member present in a request, at any depth."""
    if isinstance(shape, StructureShape) and isinstance(value, dict):
        for name, member in shape.members.items():
            if name in value:
                yield (*path, name), member, name in shape.required_members
                yield from members(value[name], member, (*path, name))
    elif shape.type_name == "list" and isinstance(value, list):
        for i, item in enumerate(value):
            yield (*path, i), shape.member, False  # type: ignore[attr-defined]
            yield from members(item, shape.member, (*path, i))  # type: ignore[attr-defined]


def wire_path(path: tuple[Any, ...]) -> str:
    return ".".join(f"{p + 1}.member" if isinstance(p, int) else p for p in path)


def nested(depth: int, leaf: Any = 1) -> Any:
    value = leaf
    for _ in range(depth):
        value = [value]
    return value


WRONG: dict[str, list[Any]] = {
    "string": [5, 1.5, True, [], ["x"], {}, {"a": "b"}],
    "integer": ["5", 5.5, True, [], {}],
    "long": ["5", 5.5, False, [1]],
    "boolean": [1, 0, "true", [], {}],
    "timestamp": ["2020-01-01", True, [], {}, "0"],
    "list": ["x", 1, {}, True],
    "structure": ["x", 1, [], True],
}

json_leaves = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30), st.sampled_from(["", "NONE", "REGISTERED", "tl", "wf", "1", "0", "-1", "arn", "a:b"]),
)
member_names = st.sampled_from(sorted({n for op in OPERATIONS for n in SERVICE.operation_model(op).input_shape.members}))
json_values = st.recursive(
    json_leaves,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(member_names | st.text(max_size=10), children, max_size=5),
    max_leaves=25,
)
header_names = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_!#$%&'*+.^`|~", min_size=1, max_size=20)
header_values = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=60)


@st.composite
def mutated(draw: Any, bases: dict[str, dict[str, Any]]) -> tuple[str, bytes, str | None]:
    """A request made invalid in exactly one member; the path the error must name (None: no check)."""
    operation = draw(st.sampled_from(sorted(bases)))
    request = json.loads(json.dumps(bases[operation]))
    shape = SERVICE.operation_model(operation).input_shape
    candidates = list(members(request, shape))
    path, member_shape, required = draw(st.sampled_from(candidates))
    parent = request
    for part in path[:-1]:
        parent = parent[part]
    kinds = ["wrong-type", "nested"]
    if required:
        kinds.append("delete")
    if member_shape.type_name == "string" and member_shape.metadata.get("max"):
        kinds.append("too-long")
    kind = draw(st.sampled_from(kinds))
    expected: str | None = wire_path(path)
    if kind == "delete":
        del parent[path[-1]]
    elif kind == "wrong-type":
        parent[path[-1]] = draw(st.sampled_from(WRONG[member_shape.type_name]))
    elif kind == "too-long":
        parent[path[-1]] = "x" * (member_shape.metadata["max"] + draw(st.integers(1, 5000)))
    else:
        depth = draw(st.sampled_from([2, 10, 200, 900, 990, 1000, 1100, 5000]))
        leaf = json.dumps(draw(st.sampled_from(WRONG[member_shape.type_name] + [1])))
        parent[path[-1]] = "\u0000NESTED"
        prefix = draw(st.sampled_from(PREFIXES))
        body = json.dumps(request).replace('"\\u0000NESTED"', "[" * depth + leaf + "]" * depth)
        if depth >= 50 or member_shape.type_name == "list":
            expected = None  # a SerializationException past JSON's depth; in a list, the error names an element
        return prefix + operation, body.encode(), expected
    prefix = draw(st.sampled_from(PREFIXES))
    return prefix + operation, json.dumps(request).encode(), expected


random_bodies = st.one_of(
    json_values.map(lambda v: json.dumps(v).encode()),
    st.dictionaries(member_names, json_values, max_size=6).map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=200),
    st.sampled_from([b"\xff", b"{\"domain\": \"\xc3\x28\"}", b"{", b"}", b"[" * 100_000, b"{\"a\":" * 50_000, b"\"\\ud800\"",
                     b"{\"domain\": \"\\ud800\"}", b"null", b"1e999999", b"{\"a\": 1e400}", b"-", b"\x00" * 100]),
    st.integers(1, 400).map(lambda n: json.dumps({"domain": "x" * (n * 1000), "name": "y" * n * 10}).encode()),
    st.integers(1, 2000).map(lambda n: b"[" * n + b"1" + b"]" * n),
    st.integers(1, 2000).map(lambda n: b'{"domain":' * n + b"1" + b"}" * n),
)
random_targets = st.one_of(
    st.none(),
    st.text(max_size=60).filter(lambda t: "\r" not in t and "\n" not in t),
    st.tuples(st.sampled_from(PREFIXES), st.sampled_from(sorted(OPERATIONS))).map("".join),
    st.tuples(st.sampled_from(PREFIXES), st.text(max_size=30)).map("".join),
    st.sampled_from(["SimpleWorkflowService.", "SimpleWorkflowService", ".PollForDecisionTask", "simpleworkflowservice.ListDomains"]),
)
content_types = st.one_of(
    st.none(),
    st.sampled_from(["application/x-amz-json-1.0", "application/json", "application/json; charset=UTF-8",
                     "application/x-amz-json-1.1", "text/plain", "", "application/json;charset=latin-1", "*/*"]),
    header_values,
)


@st.composite
def random_requests(draw: Any) -> tuple[str, str, dict[str, str], bytes, bool]:
    method = draw(st.sampled_from(["POST"] * 6 + ["GET", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH"]))
    path = draw(st.sampled_from(["/"] * 8 + ["/health", "/metrics", "/x", "//", "/?a=b", "*", "http://h/"]))
    headers = draw(st.dictionaries(header_names, header_values, max_size=5))
    target = draw(random_targets)
    if target is not None:
        headers["X-Amz-Target"] = target
    content_type = draw(content_types)
    if content_type is not None:
        headers["Content-Type"] = content_type
    for name in list(headers):
        if name.lower() in ("content-length", "transfer-encoding", "host", "connection", "expect"):
            del headers[name]
    return method, path, headers, draw(random_bodies), draw(st.booleans())


def exchange(port: int, method: str, path: str, headers: dict[str, str], body: bytes, chunked: bool = False) -> tuple[int, dict[str, str], bytes]:
    head = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    head += [f"{k}: {v}" for k, v in headers.items()]
    if chunked:
        head.append("Transfer-Encoding: chunked")
        payload = b"".join(b"%x\r\n%s\r\n" % (len(body[i : i + 7000]), body[i : i + 7000]) for i in range(0, len(body), 7000)) + b"0\r\n\r\n"
    else:
        head.append(f"Content-Length: {len(body)}")
        payload = body
    data = ("\r\n".join(head) + "\r\n\r\n").encode("utf-8") + payload
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(data)
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = s.recv(65536)
            assert chunk, f"connection closed without an answer: {buf!r}"
            buf += chunk
        raw_head, _, rest = buf.partition(b"\r\n\r\n")
        lines = raw_head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        answer_headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        length = int(answer_headers["content-length"])
        if method == "HEAD":
            return status, answer_headers, b""
        while len(rest) < length:
            chunk = s.recv(65536)
            assert chunk
            rest += chunk
        return status, answer_headers, rest[:length]


def check_answer(
    status: int, headers: dict[str, str], body: bytes, path: str = "/", method: str = "POST"
) -> dict[str, Any] | None:
    """A well-formed AWS answer: the error document if it is one."""
    assert status in OK_STATUSES, (status, body[:300])
    assert b"Traceback" not in body and b"File \"" not in body
    assert len(headers.get("x-amzn-requestid", "")) == 36
    if method == "HEAD":
        return None
    if status == 200:
        if path.startswith("/metrics"):
            return None
        assert body == b"" or isinstance(json.loads(body), dict)
        return None
    error = json.loads(body)
    assert isinstance(error, dict) and isinstance(error["__type"], str) and "#" in error["__type"], error
    assert set(error) <= {"__type", "message"} and isinstance(error.get("message", ""), str)
    return error


def snapshot(swf: Any, domain: str) -> dict[str, Any]:
    """Everything the API shows of a domain (ResponseMetadata dropped)."""

    def clean(answer: dict[str, Any]) -> dict[str, Any]:
        answer.pop("ResponseMetadata", None)
        return answer

    window = {"oldestDate": 0}
    shot: dict[str, Any] = {
        "domains": [d for s in ("REGISTERED", "DEPRECATED") for d in swf.list_domains(registrationStatus=s)["domainInfos"]
                    if d["name"] == domain],
        "domain": clean(swf.describe_domain(name=domain)),
        "tags": clean(swf.list_tags_for_resource(resourceArn=f"arn:aws:swf:us-east-1:000000000000:/domain/{domain}")),
        "types": [clean(swf.list_workflow_types(domain=domain, registrationStatus=s)) for s in ("REGISTERED", "DEPRECATED")]
        + [clean(swf.list_activity_types(domain=domain, registrationStatus=s)) for s in ("REGISTERED", "DEPRECATED")],
        "pending": [clean(swf.count_pending_decision_tasks(domain=domain, taskList={"name": "tl"})),
                    clean(swf.count_pending_activity_tasks(domain=domain, taskList={"name": "tl"}))],
    }
    executions = swf.list_open_workflow_executions(domain=domain, startTimeFilter=window)["executionInfos"]
    executions += swf.list_closed_workflow_executions(domain=domain, startTimeFilter=window)["executionInfos"]
    shot["executions"] = executions
    for info in executions:
        ex = info["execution"]
        shot[f"describe {ex['workflowId']}"] = clean(swf.describe_workflow_execution(domain=domain, execution=ex))
        shot[f"history {ex['workflowId']}"] = swf.get_workflow_execution_history(domain=domain, execution=ex)["events"]
    return shot


def prepare(server: Server, domain: str) -> tuple[Any, dict[str, dict[str, Any]], str]:
    """A domain with open, closed, started-decision and started-activity executions."""
    swf = server.client()
    register_basics(swf, domain)
    wt = {"name": "wf", "version": "1"}
    swf.tag_resource(resourceArn=f"arn:aws:swf:us-east-1:000000000000:/domain/{domain}", tags=[{"key": "k", "value": "v"}])
    swf.start_workflow_execution(domain=domain, workflowId="w1", workflowType=wt, tagList=["t"])
    task = swf.poll_for_decision_task(domain=domain, taskList={"name": "tl"})
    swf.respond_decision_task_completed(taskToken=task["taskToken"], decisions=[
        {"decisionType": "ScheduleActivityTask", "scheduleActivityTaskDecisionAttributes": {
            "activityType": {"name": "act", "version": "1"}, "activityId": "a1"}}])
    activity_token = swf.poll_for_activity_task(domain=domain, taskList={"name": "tl"})["taskToken"]
    run_id = swf.start_workflow_execution(domain=domain, workflowId="w2", workflowType=wt)["runId"]
    decision_token = swf.poll_for_decision_task(domain=domain, taskList={"name": "tl"})["taskToken"]
    swf.start_workflow_execution(domain=domain, workflowId="w3", workflowType=wt)
    swf.start_workflow_execution(domain=domain, workflowId="w4", workflowType=wt)
    swf.terminate_workflow_execution(domain=domain, workflowId="w4")
    return swf, base_requests(domain, run_id, decision_token, activity_token), decision_token


def test_fuzz_every_answer_well_formed_and_nothing_changes(serve: Any, domain: str) -> None:
    server = serve("--poll-hold", "0.3", "--header-timeout", "2")
    swf, bases, decision_token = prepare(server, domain)
    before = snapshot(swf, domain)
    slowest = [0.0]

    @settings(max_examples=400, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(request=mutated(bases), chunked=st.booleans())
    def invalid_requests_on_the_domain(request: tuple[str, bytes, str | None], chunked: bool) -> None:
        target, body, expected = request
        began = time.monotonic()
        status, headers, answer = exchange(server.port, "POST", "/", {"X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.0"}, body, chunked)
        slowest[0] = max(slowest[0], time.monotonic() - began)
        error = check_answer(status, headers, answer)
        assert error is not None and status == 400, (target, body[:200], answer[:300])
        code = error["__type"].rpartition("#")[2]
        assert code in ("ValidationException", "SerializationException"), (target, body[:300], error)
        if expected is not None:
            assert code == "ValidationException" and f"at '{expected}'" in error["message"], (target, body[:300], error)

    @settings(max_examples=400, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(request=random_requests())
    def random_requests_anywhere(request: tuple[str, str, dict[str, str], bytes, bool]) -> None:
        method, path, headers, body, chunked = request
        began = time.monotonic()
        status, answer_headers, answer = exchange(server.port, method, path, headers, body, chunked)
        slowest[0] = max(slowest[0], time.monotonic() - began)
        check_answer(status, answer_headers, answer, path, method)

    invalid_requests_on_the_domain()
    random_requests_anywhere()
    assert slowest[0] < 5.0
    assert snapshot(swf, domain) == before
    # the server still serves, and the decision task survived untouched: its token still works
    assert server.proc.poll() is None
    assert not [line for line in server.errors if "Traceback" in line or "ERROR" in line], server.errors[-30:]
    swf.respond_decision_task_completed(taskToken=decision_token, decisions=[])
    assert swf_client(server.url).describe_domain(name=domain)["domainInfo"]["status"] == "REGISTERED"
