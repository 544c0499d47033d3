"""``flowser executions history`` and ``flowser executions tree`` as users see them, on every backend.

Each test drives its runs by hand through a boto3 client (decision and
activity tasks polled and answered here), then calls ``flowser.cli.main``
in-process with ``--backend`` pointing at the same data: ``redis://`` (the
embedded engine), ``http://`` (a ``flowser serve`` process) or
``aws://us-east-1`` inside ``moto.mock_aws`` (where moto has the calls).
Assertions are on what the command prints and its exit status.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import backends
import flowser.cli.history as history_cli
from flowser.cli import main
from flowser.historyfile import FORMAT, load_histories, load_history
from flowser.testing import wait_until
from tests.engine.helpers import setup_domain

from .conftest import MOTO_LACKS, ROOT, http_available

DOMAIN = "ops"
WF = {"name": "order", "version": "1"}
ACT = {"name": "charge", "version": "1"}


# -- the backends -------------------------------------------------------------------------------
class Target:
    """A backend as the test drives it (``client``) and as the CLI reaches it (``url``)."""

    def __init__(self, name: str, client: Any, url: str, lacks: dict[str, str] | None = None) -> None:
        self.name = name
        self.client = client
        self.url = url
        self.lacks = lacks or {}
        # moto answers ACTIVITY_ID_ALREADY_IN_USE to an activityId scheduled again after its activity closed
        # (SWF takes it): there the retry gets an id of its own
        self.retry_id = "charge-2" if name == "moto" else "charge-1"

    def require(self, feature: str) -> None:
        if feature in self.lacks:
            pytest.skip(self.lacks[feature])

    def cli(self, *args: str) -> list[str]:
        return [*args, "--backend", self.url, "--domain", DOMAIN]


@pytest.fixture(params=["local", "http", "moto"])
def target(request: pytest.FixtureRequest, redis_client: Any, redis_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Target]:
    monkeypatch.setenv("COLUMNS", "200")  # lines as a wide terminal would show them
    if request.param == "local":
        client = backends.connect(redis_url, poll_hold=0.3)
        try:
            setup(client)
            yield Target("local", client, redis_url)
        finally:
            client.close()
    elif request.param == "http":
        if not http_available():
            pytest.skip("backends/http/serve.py is not in the repository yet")
        server = request.getfixturevalue("serve_process")
        client = backends.connect(server.url)
        try:
            setup(client)
            yield Target("http", client, server.url)
        finally:
            client.close()
    else:
        import boto3
        from moto import mock_aws

        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        monkeypatch.setattr("moto.swf.models.sleep", lambda seconds: time.sleep(min(seconds, 0.05)))
        with mock_aws():
            client = boto3.client("swf", region_name="us-east-1")
            setup(client)
            yield Target("moto", client, "aws://us-east-1", MOTO_LACKS)


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(list(args))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


# -- driving runs by hand -----------------------------------------------------------------------
def setup(client: Any) -> None:
    setup_domain(client, DOMAIN, workflows=(WF,), activity=ACT, execution_timeout="600")


def start(client: Any, workflow_id: str, input: Any, **kw: Any) -> str:
    return str(
        client.start_workflow_execution(domain=DOMAIN, workflowId=workflow_id, workflowType=WF, input=json.dumps(input), **kw)["runId"]
    )


def poll(client: Any, task_list: str, activity: bool = False) -> dict[str, Any]:
    call = client.poll_for_activity_task if activity else client.poll_for_decision_task

    def one() -> dict[str, Any] | None:
        task = call(domain=DOMAIN, taskList={"name": task_list}, identity=f"{task_list}-1")
        return dict(task) if task.get("taskToken") else None

    return wait_until(one, timeout=20)


def decide(client: Any, *decisions: dict[str, Any], task_list: str = "deciders") -> dict[str, Any]:
    task = poll(client, task_list)
    client.respond_decision_task_completed(taskToken=task["taskToken"], decisions=list(decisions))
    return task


def decision(kind: str, **attributes: Any) -> dict[str, Any]:
    return {"decisionType": kind, f"{kind[0].lower()}{kind[1:]}DecisionAttributes": attributes}


def schedule(activity_id: str, input: Any) -> dict[str, Any]:
    return decision("ScheduleActivityTask", activityType=ACT, activityId=activity_id, input=json.dumps(input))


def complete(result: Any) -> dict[str, Any]:
    return decision("CompleteWorkflowExecution", result=json.dumps(result))


def start_child(workflow_id: str, task_list: str, input: Any) -> dict[str, Any]:
    return decision(
        "StartChildWorkflowExecution", workflowType=WF, workflowId=workflow_id, taskList={"name": task_list}, input=json.dumps(input)
    )


def order_run(client: Any, workflow_id: str, retry_id: str = "charge-1") -> str:
    """A run with an activity that fails, then succeeds under the same activityId; a timer, a marker, a signal."""
    run_id = start(client, workflow_id, {"order": 42})
    decide(
        client,
        schedule("charge-1", {"amount": 5}),
        decision("StartTimer", timerId="cool-off", startToFireTimeout="1"),
        decision("RecordMarker", markerName="checkpoint", details=json.dumps({"step": "charging"})),
    )
    task = poll(client, "workers", activity=True)
    client.respond_activity_task_failed(taskToken=task["taskToken"], reason="card declined", details=json.dumps({"code": 51}))
    client.signal_workflow_execution(domain=DOMAIN, workflowId=workflow_id, signalName="address-changed", input=json.dumps({"city": "Lyon"}))
    decide(client, schedule(retry_id, {"amount": 5, "retry": True}))
    task = poll(client, "workers", activity=True)
    client.respond_activity_task_completed(taskToken=task["taskToken"], result=json.dumps({"charged": 5}))
    while True:  # the timer fires a second later
        task = poll(client, "deciders")
        fired = any(e["eventType"] == "TimerFired" for e in task["events"])
        client.respond_decision_task_completed(taskToken=task["taskToken"], decisions=[complete({"ok": True})] if fired else [])
        if fired:
            return run_id


def rows(out: str) -> dict[int, str]:
    """The event lines of a history table, by eventId."""
    found = {}
    for line in out.splitlines():
        match = re.match(r"\s*(\d+)\s+\+\d", line)
        if match:
            found[int(match.group(1))] = line
    return found


# -- history ------------------------------------------------------------------------------------
def raw_history(client: Any, workflow_id: str, run_id: str) -> list[dict[str, Any]]:
    pages = client.get_paginator("get_workflow_execution_history").paginate(
        domain=DOMAIN, execution={"workflowId": workflow_id, "runId": run_id}
    )
    return [event for page in pages for event in page["events"]]


def test_history_shows_one_readable_line_per_event(target: Target, capsys: pytest.CaptureFixture[str]) -> None:
    run_id = order_run(target.client, "order-42", target.retry_id)
    count = len(raw_history(target.client, "order-42", run_id))
    status, out, err = run_cli(capsys, *target.cli("executions", "history", "order-42"))
    assert status == 0, err
    assert "\x1b[" not in out  # no colour off a terminal
    header = out.splitlines()[0]
    assert header.startswith(f"workflowId order-42  runId {run_id}  type order:1  status COMPLETED  duration 1.")
    assert header.endswith(f"events {count}")
    assert out.splitlines()[1].split() == ["ID", "TIME", "EVENT", "DETAILS"]
    lines = rows(out)
    assert sorted(lines) == list(range(1, count + 1))
    assert lines[1].split()[1:3] == ["+0.000s", "WorkflowExecutionStarted"]
    assert 'input={"order":42}' in lines[1] and "type=order:1" in lines[1]

    def line(event_type: str, n: int = 0) -> str:
        return [text for text in lines.values() if text.split()[2] == event_type][n]

    assert "activityId=charge-1  type=charge:1  taskList=workers  input={\"amount\":5}" in line("ActivityTaskScheduled")
    assert f'activityId={target.retry_id}  type=charge:1  taskList=workers  input={{"amount":5,"retry":true}}' in line(
        "ActivityTaskScheduled", 1
    )
    assert "activityId=charge-1  identity=workers-1" in line("ActivityTaskStarted")
    assert line("ActivityTaskFailed").endswith('activityId=charge-1  reason="card declined"  details={"code":51}')
    assert line("ActivityTaskCompleted").endswith(f'activityId={target.retry_id}  result={{"charged":5}}')
    assert line("TimerStarted").endswith("timerId=cool-off  startToFireTimeout=1s")
    assert line("TimerFired").endswith("timerId=cool-off")
    assert float(line("TimerFired").split()[1].strip("+s")) >= 0.9  # times are offsets from the run's start
    assert line("MarkerRecorded").endswith('markerName=checkpoint  details={"step":"charging"}')
    assert line("WorkflowExecutionSignaled").endswith('signalName=address-changed  input={"city":"Lyon"}')
    assert line("DecisionTaskStarted").endswith("identity=deciders-1")
    assert lines[count].split()[2] == "WorkflowExecutionCompleted" and lines[count].endswith('result={"ok":true}')

    status, out, _ = run_cli(capsys, *target.cli("executions", "history", "order-42", "--time-format", "iso"))
    assert status == 0
    assert re.search(r"^\s+1\s+20\d\d-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\s+WorkflowExecutionStarted", out, re.M)


def test_history_grouped_shows_each_activity_timer_signal_and_marker(target: Target, capsys: pytest.CaptureFixture[str]) -> None:
    order_run(target.client, "order-7", target.retry_id)
    status, out, err = run_cli(capsys, *target.cli("executions", "history", "order-7", "--grouped"))
    assert status == 0, err
    body = out.splitlines()[1:]
    assert body[0].split() == ["START", "KIND", "NAME", "STATUS", "DURATION", "DETAILS"]
    by_kind: dict[str, list[str]] = {}
    for text in body[1:]:
        by_kind.setdefault(text.split()[1], []).append(text)
    assert [text.split()[1] for text in body[1:]] == ["workflow", "decisions", "activity", "timer", "marker", "signal", "activity"]
    (run,) = by_kind["workflow"]
    assert run.split()[2:4] == ["order:1", "COMPLETED"] and re.fullmatch(r"1\.\d\ds", run.split()[4])
    assert run.endswith('input={"order":42}  result={"ok":true}')
    (decisions,) = by_kind["decisions"]
    assert re.search(r"\d+ decision tasks  (COMPLETED|OPEN) +\d+ms", decisions)  # moto leaves one scheduled twice
    first, second = (text.split(maxsplit=5) for text in by_kind["activity"])
    assert first[2:4] == ["charge-1", "FAILED"] and second[2:4] == [target.retry_id, "COMPLETED"]
    for activity in (first, second):
        assert re.fullmatch(r"\d+ms|\d+\.\d\ds", activity[4]), activity  # scheduled to closed
    if target.retry_id == "charge-1":  # one activityId, two attempts
        assert first[5].startswith("type=charge:1  attempt=1/2  waited=") and second[5].startswith("type=charge:1  attempt=2/2")
    assert first[5].endswith('reason="card declined"  details={"code":51}  worker=workers-1')
    assert second[5].endswith('result={"charged":5}  worker=workers-1')
    (timer,) = by_kind["timer"]
    assert timer.split()[2:4] == ["cool-off", "FIRED"] and float(timer.split()[4].rstrip("s")) >= 0.9
    assert timer.endswith("fireAfter=1s")
    (signal_,) = by_kind["signal"]
    assert signal_.split()[2:5] == ["address-changed", "RECEIVED", "-"] and signal_.endswith('input={"city":"Lyon"}')
    (marker,) = by_kind["marker"]
    assert marker.split()[2:5] == ["checkpoint", "RECORDED", "-"] and marker.endswith('details={"step":"charging"}')

    status, out, _ = run_cli(capsys, *target.cli("executions", "history", "order-7", "--grouped", "-o", "json"))
    groups = json.loads(out)
    activities = [g for g in groups if g["kind"] == "activity"]
    assert [g["status"] for g in activities] == ["FAILED", "COMPLETED"]
    assert all(g["duration"] >= 0 and g["waited"] >= 0 for g in activities)
    assert activities[1]["fields"]["result"] == '{"charged":5}'
    assert groups[0]["kind"] == "workflow" and groups[0]["offset"] == 0 and groups[0]["duration"] >= 0.9


def test_history_file_round_trips_through_load_history(target: Target, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    run_id = order_run(target.client, "order-9", target.retry_id)
    raw = raw_history(target.client, "order-9", run_id)
    status, out, _ = run_cli(capsys, *target.cli("executions", "history", "order-9", "-o", "json"))
    assert status == 0
    document = json.loads(out)
    assert document["format"] == FORMAT == "flowser-history/1"
    assert document["domain"] == DOMAIN
    assert document["execution"] == {"workflowId": "order-9", "runId": run_id}
    assert document["workflowType"] == WF
    assert re.fullmatch(r"20\d\d-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", document["events"][0]["eventTimestamp"])
    loaded = load_history(json.loads(out))
    assert loaded.events == raw  # boto3's shape, timestamps as datetimes again
    assert (loaded.domain, loaded.workflow_id, loaded.run_id, loaded.workflow_type) == (DOMAIN, "order-9", run_id, WF)

    path = tmp_path / "order-9.json"
    status, out, err = run_cli(capsys, *target.cli("executions", "history", "order-9", "--file", str(path)))
    assert status == 0 and out == ""
    assert f"wrote {len(raw)} events of order-9 (run {run_id}) to {path}" in err
    assert load_history(path).events == raw
    assert load_history(str(path)).to_dict() == document

    status, out, _ = run_cli(capsys, *target.cli("executions", "history", "order-9", "-o", "jsonl"))
    assert [json.loads(text)["eventId"] for text in out.splitlines()] == list(range(1, len(raw) + 1))
    (tmp_path / "events.jsonl").write_text(out)
    assert load_history(tmp_path / "events.jsonl").events == raw


def test_history_of_an_unknown_workflow_is_one_line(target: Target, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run_cli(capsys, *target.cli("executions", "history", "nobody"))
    assert status == 1 and out == ""
    assert err.strip() == "flowser executions history: no execution with workflowId 'nobody' in domain 'ops'"


def test_history_fits_the_terminal(target: Target, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    start(target.client, "long-input", {"text": "x" * 2000})
    for columns in (70, 120):
        monkeypatch.setenv("COLUMNS", str(columns))
        for extra in ((), ("--grouped",)):
            status, out, _ = run_cli(capsys, *target.cli("executions", "history", "long-input", *extra))
            assert status == 0
            assert all(len(line) <= columns for line in out.splitlines()), out
            started = next(line for line in out.splitlines()[2:] if "order:1" in line)
            assert started.endswith("…")
            if columns == 120:  # the long value is cut, the short ones stay whole
                assert "taskList=deciders" in started or extra
                assert re.search(r'input=\{"text":"x+…', started)


def test_usage_mistakes_exit_2(target: Target, capsys: pytest.CaptureFixture[str]) -> None:
    start(target.client, "u1", {})
    for args, message in (
        (("--follow", "--grouped"), "--grouped sums up a whole history: it does not --follow"),
        (("--follow", "-o", "json"), "-o json writes one document: --follow with -o jsonl"),
    ):
        status, out, err = run_cli(capsys, *target.cli("executions", "history", "u1", *args))
        assert status == 2 and out == "" and message in err and len(err.splitlines()) == 1


# -- follow -------------------------------------------------------------------------------------
class Steps:
    """``--follow``'s wait between polls, replaced: each wait runs the next step of the run (then waits briefly)."""

    def __init__(self, capsys: pytest.CaptureFixture[str], *steps: Callable[[], Any]) -> None:
        self.capsys = capsys
        self.steps = list(steps)
        self.out: list[str] = []
        self.err: list[str] = []
        self.seen_at_step: list[str] = []
        self.deadline = time.monotonic() + 30

    def __call__(self, seconds: float) -> None:
        self.read()
        if self.steps:
            self.seen_at_step.append("".join(self.out))
            self.steps.pop(0)()
            return
        if time.monotonic() > self.deadline:
            raise AssertionError("--follow did not stop after the run closed")
        time.sleep(0.01)

    def read(self) -> None:
        captured = self.capsys.readouterr()
        self.out.append(captured.out)
        self.err.append(captured.err)

    def output(self) -> str:
        self.read()
        return "".join(self.out)

    def errors(self) -> str:
        self.read()
        return "".join(self.err)


def test_follow_prints_events_as_they_come_and_stops_when_the_run_closes(
    target: Target, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    client = target.client
    start(client, "live-1", {"n": 1})

    def work() -> None:
        task = poll(client, "workers", activity=True)
        client.respond_activity_task_completed(taskToken=task["taskToken"], result=json.dumps({"done": 1}))

    steps = Steps(capsys, lambda: decide(client, schedule("step-1", {"n": 1})), work, lambda: decide(client, complete("finished")))
    monkeypatch.setattr(history_cli, "sleep", steps)
    status = main(target.cli("executions", "history", "live-1", "--follow", "--interval", "0.01"))
    out = steps.output()
    assert status == 0
    assert "WorkflowExecutionStarted" in steps.seen_at_step[0] and "ActivityTaskScheduled" not in steps.seen_at_step[0]
    lines = rows(out)
    assert sorted(lines) == list(range(1, len(lines) + 1))  # each event once, in order
    assert "ActivityTaskScheduled" in out and 'result={"done":1}' in out
    assert 'WorkflowExecutionCompleted' in lines[max(lines)] and 'result=finished' in lines[max(lines)]
    assert len(re.findall(r"^\s*ID\s+TIME\s+EVENT\s+DETAILS$", out, re.M)) == 1  # one header, however many polls printed
    assert out.rstrip().splitlines()[-1].startswith("run closed: COMPLETED after ")


def test_follow_goes_on_with_the_run_it_continued_as(
    target: Target, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    target.require("continue_as_new")
    client = target.client
    first_run = start(client, "pages", {"page": 1})
    runs: list[str] = []

    def continue_as_new() -> None:
        decide(client, decision("ContinueAsNewWorkflowExecution", input=json.dumps({"page": 2})))
        runs.append(  # the new run is the open one
            client.list_open_workflow_executions(
                domain=DOMAIN, startTimeFilter={"oldestDate": 0}, executionFilter={"workflowId": "pages"}
            )["executionInfos"][0]["execution"]["runId"]
        )

    steps = Steps(capsys, continue_as_new, lambda: decide(client, complete({"pages": 2})))
    monkeypatch.setattr(history_cli, "sleep", steps)
    status = main(target.cli("executions", "history", "pages", "--follow", "--interval", "0.01"))
    out = steps.output()
    assert status == 0
    (second_run,) = runs
    assert second_run != first_run
    before, _, after = out.partition(f"continued as new: runId {second_run}")
    assert after, out
    assert f"runId {first_run}" in before and "WorkflowExecutionContinuedAsNew" in before
    assert f"newExecutionRunId={second_run}" in before
    assert f"workflowId pages  runId {second_run}" in after
    assert "WorkflowExecutionStarted" in after and 'input={"page":2}' in after
    assert f"continuedExecutionRunId={first_run}" in after
    assert 'result={"pages":2}' in after and "run closed: COMPLETED" in after

    status, out, _ = run_cli(capsys, *target.cli("executions", "history", "pages", "--run-id", first_run))
    assert f"continued as new: runId {second_run}" in out.splitlines()[-1]


def test_follow_jsonl_streams_events_that_load_as_runs(
    target: Target, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    target.require("continue_as_new")
    client = target.client
    start(client, "stream", {"page": 1})
    steps = Steps(
        capsys,
        lambda: decide(client, decision("ContinueAsNewWorkflowExecution", input=json.dumps({"page": 2}))),
        lambda: decide(client, complete("end")),
    )
    monkeypatch.setattr(history_cli, "sleep", steps)
    path = tmp_path / "stream.jsonl"
    status = main(target.cli("executions", "history", "stream", "--follow", "--file", str(path), "--interval", "0.01"))
    assert status == 0
    assert steps.output() == ""  # --file with --follow: the events go there, as JSON Lines
    assert f"wrote {len(path.read_text().splitlines())} events of stream to {path}" in steps.errors()
    first, second = load_histories(path)
    assert first.events[-1]["eventType"] == "WorkflowExecutionContinuedAsNew"
    assert (second.events[0]["eventType"], second.events[-1]["eventType"]) == ("WorkflowExecutionStarted", "WorkflowExecutionCompleted")
    assert second.run_id is None  # JSON Lines hold events only
    with pytest.raises(ValueError, match="2 runs"):
        load_history(path)


def test_follow_stops_quietly_on_ctrl_c(target: Target, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    start(target.client, "forever", {})

    def interrupt(seconds: float) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(history_cli, "sleep", interrupt)
    status, out, err = run_cli(capsys, *target.cli("executions", "history", "forever", "--follow"))
    assert status == 0 and err == ""
    assert "WorkflowExecutionStarted" in out


@pytest.mark.parametrize("where", ["redis", "http"])
def test_follow_in_a_real_process_until_sigint(where: str, redis_client: Any, redis_url: str, request: pytest.FixtureRequest) -> None:
    if where == "http":
        if not http_available():
            pytest.skip("backends/http/serve.py is not in the repository yet")
        url = request.getfixturevalue("serve_process").url
    else:
        url = redis_url
    client = backends.connect(url, poll_hold=0.3) if where == "redis" else backends.connect(url)
    try:
        setup(client)
        workflow_id = f"watched-{uuid.uuid4().hex[:6]}"
        start(client, workflow_id, {"n": 3})
        env = {**os.environ, "COLUMNS": "200", "PYTHONUNBUFFERED": "1"}
        command = [sys.executable, "-m", "flowser.cli", "executions", "history", workflow_id, "--follow", "--interval", "0.05"]
        proc = subprocess.Popen(
            [*command, "--backend", url, "--domain", DOMAIN], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        lines: list[str] = []

        def read() -> None:
            assert proc.stdout is not None
            lines.extend(line.rstrip("\n") for line in proc.stdout)

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        try:
            wait_until(lambda: any("WorkflowExecutionStarted" in line for line in lines), timeout=30)
            decide(client, decision("RecordMarker", markerName="halfway", details="50%"))
            wait_until(lambda: any("markerName=halfway" in line for line in lines), timeout=20)
            proc.send_signal(signal.SIGINT)
            assert proc.wait(20) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
        reader.join(10)
        assert proc.stderr is not None
        assert proc.stderr.read() == ""  # no traceback
        assert any("details=50%" in line for line in lines)
    finally:
        client.close()


# -- tree ---------------------------------------------------------------------------------------
def family(client: Any, workflow_id: str) -> None:
    """A parent with two children; the first has a child of its own and completes, the second fails."""
    start(client, workflow_id, {"family": True})
    decide(client, start_child(f"{workflow_id}-a", "children", {"n": "a"}), start_child(f"{workflow_id}-b", "children", {"n": "b"}))
    pending = {f"{workflow_id}-a", f"{workflow_id}-b"}
    while pending:
        task = poll(client, "children")
        child = task["workflowExecution"]["workflowId"]
        if child.endswith("-b"):
            client.respond_decision_task_completed(
                taskToken=task["taskToken"], decisions=[decision("FailWorkflowExecution", reason="bad input", details="b")]
            )
        elif not any(e["eventType"] == "ChildWorkflowExecutionCompleted" for e in task["events"]):
            started = any(e["eventType"] == "StartChildWorkflowExecutionInitiated" for e in task["events"])
            client.respond_decision_task_completed(
                taskToken=task["taskToken"], decisions=[] if started else [start_child(f"{child}-1", "grandchildren", {})]
            )
            if not started:
                decide(client, complete("leaf"), task_list="grandchildren")
            continue
        else:
            client.respond_decision_task_completed(taskToken=task["taskToken"], decisions=[complete("a")])
        pending.discard(child)


def test_tree_shows_children_with_status_and_duration(target: Target, capsys: pytest.CaptureFixture[str]) -> None:
    target.require("child")
    family(target.client, "fam")
    status, out, err = run_cli(capsys, *target.cli("executions", "tree", "fam"))
    assert status == 0, err
    lines = out.splitlines()
    assert len(lines) == 4, out
    assert re.match(r"fam  order:1  OPEN  \d", lines[0])
    assert re.search(r"[├└]── fam-a  order:1  COMPLETED  \d+(ms|\.\d\ds)", lines[1])
    assert re.search(r"│?\s+└── fam-a-1  order:1  COMPLETED  \d", lines[2])
    assert re.search(r"└── fam-b  order:1  FAILED  \d+(ms|\.\d\ds)  bad input", lines[3])
    assert all("runId " in line for line in lines)

    status, out, _ = run_cli(capsys, *target.cli("executions", "tree", "fam", "--depth", "1"))
    lines = out.splitlines()
    assert len(lines) == 4 and "fam-a-1" not in out and "… 1 more (--depth)" in lines[2]

    status, out, _ = run_cli(capsys, *target.cli("executions", "tree", "fam", "-o", "json"))
    root = json.loads(out)
    assert (root["workflowId"], root["status"], root["workflowType"]) == ("fam", "OPEN", WF)
    a, b = root["children"]
    assert (a["workflowId"], a["status"], b["workflowId"], b["status"], b["note"]) == ("fam-a", "COMPLETED", "fam-b", "FAILED", "bad input")
    assert a["duration"] >= 0 and a["runId"] and a["children"][0]["workflowId"] == "fam-a-1"
    assert a["children"][0]["children"] == [] and b["children"] == []


def test_tree_of_a_run_without_children(target: Target, capsys: pytest.CaptureFixture[str]) -> None:
    start(target.client, "alone", {})
    decide(target.client, complete(None))
    status, out, _ = run_cli(capsys, *target.cli("executions", "tree", "alone"))
    assert status == 0
    assert re.fullmatch(r"alone  order:1  COMPLETED  \d+ms  runId \S+\n", out)
