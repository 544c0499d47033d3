"""flowser.render, flowser.historyfile and flowser.trace on hand-made events: no backend, no terminal."""

from __future__ import annotations

import datetime as dt
import io
import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from flowser import render, serializing, trace
from flowser.historyfile import FORMAT, HistoryFile, history_document, load_histories, load_history

T0 = dt.datetime(2024, 5, 1, 12, 0, 0, tzinfo=dt.UTC)


def ev(event_id: int, event_type: str, seconds: float = 0.0, **attrs: Any) -> dict[str, Any]:
    return {
        "eventId": event_id,
        "eventType": event_type,
        "eventTimestamp": T0 + dt.timedelta(seconds=seconds),
        f"{event_type[0].lower()}{event_type[1:]}EventAttributes": attrs,
    }


WF = {"name": "order", "version": "1"}
ACT = {"name": "charge", "version": "2"}


def run_events() -> list[dict[str, Any]]:
    """A closed run: an activity failing then completing under one activityId, a timer, a signal, a marker, a child."""
    return [
        ev(1, "WorkflowExecutionStarted", 0, workflowType=WF, input='{"order": 42}', taskList={"name": "deciders"}),
        ev(2, "DecisionTaskScheduled", 0),
        ev(3, "DecisionTaskStarted", 0.010, scheduledEventId=2, identity="decider-1"),
        ev(4, "DecisionTaskCompleted", 0.020, scheduledEventId=2, startedEventId=3),
        ev(5, "ActivityTaskScheduled", 0.020, activityId="pay", activityType=ACT, input='{"amount": 5}', taskList={"name": "w"}),
        ev(6, "TimerStarted", 0.020, timerId="wait", startToFireTimeout="30"),
        ev(7, "MarkerRecorded", 0.020, markerName="step", details="charging"),
        ev(8, "ActivityTaskStarted", 0.100, scheduledEventId=5, identity="worker-1"),
        ev(9, "ActivityTaskFailed", 0.600, scheduledEventId=5, startedEventId=8, reason="card declined", details='{"code": 51}'),
        ev(10, "WorkflowExecutionSignaled", 0.700, signalName="go", input='{"k": 1}'),
        ev(11, "DecisionTaskScheduled", 0.600),
        ev(12, "DecisionTaskStarted", 0.700, scheduledEventId=11),
        ev(13, "DecisionTaskTimedOut", 60.700, scheduledEventId=11, startedEventId=12, timeoutType="START_TO_CLOSE"),
        ev(14, "DecisionTaskScheduled", 60.700),
        ev(15, "DecisionTaskStarted", 60.710, scheduledEventId=14),
        ev(16, "DecisionTaskCompleted", 60.720, scheduledEventId=14, startedEventId=15),
        ev(17, "ActivityTaskScheduled", 60.720, activityId="pay", activityType=ACT, input='{"amount": 5, "retry": true}'),
        ev(18, "StartChildWorkflowExecutionInitiated", 60.720, workflowId="kid", workflowType=WF, input="{}"),
        ev(19, "ActivityTaskStarted", 60.800, scheduledEventId=17, identity="worker-2"),
        ev(20, "ChildWorkflowExecutionStarted", 60.800, initiatedEventId=18, workflowExecution={"workflowId": "kid", "runId": "r-kid"}, workflowType=WF),
        ev(21, "ActivityTaskCompleted", 61.800, scheduledEventId=17, startedEventId=19, result='{"charged": 5}'),
        ev(22, "TimerFired", 90.020, timerId="wait", startedEventId=6),
        ev(23, "ChildWorkflowExecutionFailed", 95.0, initiatedEventId=18, startedEventId=20, workflowExecution={"workflowId": "kid", "runId": "r-kid"}, workflowType=WF, reason="boom"),
        ev(24, "WorkflowExecutionCompleted", 100.0, result='"done"'),
    ]


# -- event lines ------------------------------------------------------------------------------
def test_each_event_is_a_line_with_what_matters_for_its_type() -> None:
    lines = {line.event_id: line for line in render.event_lines(run_events())}
    assert (lines[1].time, lines[1].event_type) == ("+0.000s", "WorkflowExecutionStarted")
    assert lines[1].details == 'type=order:1  taskList=deciders  input={"order":42}'
    assert lines[3].details == "identity=decider-1"
    assert lines[5].details == 'activityId=pay  type=charge:2  taskList=w  input={"amount":5}'
    assert lines[6].details == "timerId=wait  startToFireTimeout=30s"
    assert lines[7].details == "markerName=step  details=charging"
    assert lines[8].details == "activityId=pay  identity=worker-1"  # the activityId comes from event 5
    assert lines[9].details == 'activityId=pay  reason="card declined"  details={"code":51}'
    assert lines[10].details == 'signalName=go  input={"k":1}'
    assert lines[13].details == "timeoutType=START_TO_CLOSE"
    assert (lines[13].time, lines[21].time) == ("+1m00.7s", "+1m01.8s")
    assert lines[20].details == "workflowId=kid  runId=r-kid"
    assert lines[21].details == 'activityId=pay  result={"charged":5}'
    assert lines[22].details == "timerId=wait"
    assert lines[23].details == 'workflowId=kid  reason=boom'
    assert lines[24].details == "result=done"
    assert lines[9].plain.split()[:3] == ["9", "+0.600s", "ActivityTaskFailed"]


def test_outcomes_colour_the_lines() -> None:
    lines = {line.event_id: line for line in render.event_lines(run_events())}
    assert (lines[9].outcome, lines[9].style) == ("failed", "red")
    assert (lines[13].outcome, lines[13].style) == ("timed_out", "red")
    assert (lines[21].outcome, lines[21].style) == ("completed", "green")
    assert lines[22].outcome == lines[24].outcome == "completed"
    assert (lines[2].outcome, lines[2].style) == ("decision", "dim")
    assert lines[10].outcome == "signal" and lines[7].outcome == "marker"
    assert render.event_outcome("WorkflowExecutionTerminated") == "terminated"
    assert render.event_outcome("WorkflowExecutionContinuedAsNew") == "continued"
    assert render.event_outcome("ActivityTaskCanceled") == render.event_outcome("TimerCancelled") == "canceled"
    assert render.status_style("FAILED") == "red" and render.status_style("COMPLETED") == "green"


def test_iso_times_and_offsets() -> None:
    line = render.event_line(run_events()[8], render.RunContext.of(run_events()[:1]), time_format="iso")
    assert line.time == "2024-05-01T12:00:00.600Z"
    assert [render.offset_text(s) for s in (0.0123, 75.25, 3723, 93784)] == ["+0.012s", "+1m15.2s", "+1h02m03s", "+1d02h03m"]
    assert [render.duration_text(s) for s in (None, 0.0123, 1.5, 75, 3723, 93784)] == ["-", "12ms", "1.50s", "1m15s", "1h02m", "1d02h"]


def test_payloads_decode_compactly_and_long_values_are_cut() -> None:
    started = ev(1, "WorkflowExecutionStarted", workflowType=WF, input=json.dumps({"text": "x" * 500}))
    line = render.event_line(started, width=40)  # the details fit 40 characters
    assert line.fields == [("type", "order:1"), ("input", '{"text":"' + "x" * 10 + "…")]
    assert len(line.details) == 40
    text = render.event_line(ev(2, "MarkerRecorded", markerName="m", details="not json at all"))
    assert text.details == 'markerName=m  details="not json at all"'
    multiline = render.event_line(ev(3, "ActivityTaskFailed", reason="a\nb", details="line 1\nline 2"))
    assert "\n" not in multiline.details and 'reason="a\\nb"' in multiline.details
    empty = render.event_line(ev(4, "WorkflowExecutionCompleted", result=""))
    assert empty.details == 'result=""'


def test_fields_fit_a_width_cutting_the_longest_first() -> None:
    fields = [("activityId", "pay"), ("input", "y" * 100), ("taskList", "workers")]
    fitted = render.fit_fields(fields, 60)
    assert fitted[0] == ("activityId", "pay") and fitted[2] == ("taskList", "workers")
    assert fitted[1][1].endswith("…") and sum(len(k) + 1 + len(v) for k, v in fitted) + 4 == 60
    assert render.fit_fields(fields, None) == fields


def test_msgpack_payloads_decode_with_that_codec() -> None:
    encoded = serializing.MSGPACK.dumps({"a": [1, 2]})
    line = render.event_line(ev(1, "WorkflowExecutionStarted", workflowType=WF, input=encoded), decode=render.msgpack_payload)
    assert ("input", '{"a":[1,2]}') in line.fields
    assert render.event_line(ev(1, "WorkflowExecutionStarted", input=encoded)).fields == [("input", encoded)]


def test_an_unknown_event_type_shows_all_its_attributes() -> None:
    line = render.event_line(ev(7, "SomethingNewHappened", answer=42, note="hi there"))
    assert line.details == 'answer=42  note="hi there"'


# -- grouped ----------------------------------------------------------------------------------
def test_grouped_makes_one_record_per_thing_the_run_did() -> None:
    groups = render.grouped(run_events())
    assert [(g.kind, g.name, g.status) for g in groups] == [
        ("workflow", "order:1", "COMPLETED"),
        ("decisions", "3 decision tasks", "TIMED_OUT"),
        ("activity", "pay", "FAILED"),
        ("timer", "wait", "FIRED"),
        ("marker", "step", "RECORDED"),
        ("signal", "go", "RECEIVED"),
        ("activity", "pay", "COMPLETED"),
        ("child", "kid", "FAILED"),
    ]
    run, decisions, failed, timer, marker, signal, completed, child = groups
    assert run.duration() == 100.0 and run.fields == [("input", '{"order":42}'), ("result", "done")]
    assert decisions.duration() == pytest.approx(0.020 + 60.1 + 0.020) and decisions.fields == [("timedOut", "1")]
    assert (failed.attempt, failed.attempts, completed.attempt, completed.attempts) == (1, 2, 2, 2)
    assert failed.duration() == pytest.approx(0.58) and failed.waited() == pytest.approx(0.08)
    assert failed.fields == [("reason", '"card declined"'), ("details", '{"code":51}')] and failed.worker == "worker-1"
    assert completed.fields == [("result", '{"charged":5}')] and completed.offset(run.opened) == pytest.approx(60.72)
    assert timer.duration() == pytest.approx(90.0) and timer.fields == [("fireAfter", "30s")]
    assert marker.duration() is None and marker.fields == [("details", "charging")]
    assert signal.duration() is None and signal.fields == [("input", '{"k":1}')]
    assert (child.type, child.run_id, child.fields) == ("order:1", "r-kid", [("reason", "boom")])
    as_dict = completed.to_dict(run.opened)
    assert as_dict["attempt"] == 2 and as_dict["offset"] == pytest.approx(60.72) and as_dict["closed"] == "2024-05-01T12:01:01.800Z"


def test_open_things_last_until_now() -> None:
    events = run_events()[:8]
    now = T0 + dt.timedelta(seconds=10)
    run, decisions, activity, timer, _marker = render.grouped(events)
    assert run.status == "OPEN" and run.is_open and run.duration(now) == 10.0 and run.duration() is None
    assert activity.status == "STARTED" and activity.duration(now) == pytest.approx(9.98)
    assert timer.status == "STARTED" and timer.is_open
    assert decisions.status == "COMPLETED"


def test_grouped_failures_to_schedule_and_to_start() -> None:
    events = [
        ev(1, "WorkflowExecutionStarted", workflowType=WF),
        ev(2, "ScheduleActivityTaskFailed", 1, activityId="a", activityType=ACT, cause="ACTIVITY_TYPE_DEPRECATED"),
        ev(3, "StartChildWorkflowExecutionFailed", 1, workflowId="c", workflowType=WF, cause="WORKFLOW_ALREADY_RUNNING", initiatedEventId=0),
        ev(4, "StartTimerFailed", 1, timerId="t", cause="TIMER_ID_ALREADY_IN_USE"),
        ev(5, "LambdaFunctionScheduled", 2, id="l1", name="fn"),
        ev(6, "LambdaFunctionStarted", 2.5, scheduledEventId=5),
        ev(7, "LambdaFunctionCompleted", 3, scheduledEventId=5, result="1"),
        ev(8, "WorkflowExecutionContinuedAsNew", 4, newExecutionRunId="r2", input="{}"),
    ]
    run, activity, child, timer, lam = render.grouped(events)
    assert (activity.status, activity.fields) == ("SCHEDULE_FAILED", [("cause", "ACTIVITY_TYPE_DEPRECATED")])
    assert (child.status, child.fields) == ("START_FAILED", [("cause", "WORKFLOW_ALREADY_RUNNING")])
    assert (timer.status, timer.fields) == ("START_FAILED", [("cause", "TIMER_ID_ALREADY_IN_USE")])
    assert (lam.status, lam.duration(), lam.fields) == ("COMPLETED", 1.0, [("result", "1")])
    assert run.status == "CONTINUED_AS_NEW" and ("newExecutionRunId", "r2") in run.fields


# -- history files ----------------------------------------------------------------------------
def test_the_history_file_round_trips() -> None:
    events = run_events()
    document = history_document(events, domain="d", execution={"workflowId": "w", "runId": "r"})
    assert document["format"] == FORMAT and document["workflowType"] == WF
    assert document["events"][8]["eventTimestamp"] == "2024-05-01T12:00:00.600000Z"
    text = json.dumps(document)
    loaded = load_history(io.StringIO(text))
    assert loaded.events == events and (loaded.domain, loaded.workflow_id, loaded.run_id) == ("d", "w", "r")
    assert load_history(io.BytesIO(text.encode())).to_dict() == document
    assert load_history(loaded) is loaded


def test_raw_pages_load_too() -> None:
    events = run_events()
    wire = [{**e, "eventTimestamp": e["eventTimestamp"].timestamp()} for e in events]  # epoch seconds, as on the wire
    assert load_history({"events": wire, "nextPageToken": "x"}).events == events
    pages = [{"events": list(reversed(wire[12:]))}, {"events": list(reversed(wire[:12]))}]  # reverseOrder pages
    loaded = load_history(pages)
    assert loaded.events == events and loaded.workflow_type == WF and loaded.execution is None
    assert load_history(wire + wire[:3]).events == events  # overlapping pages: each event once
    jsonl = "\n".join(json.dumps(e) for e in wire) + "\n"
    assert load_history(io.StringIO(jsonl)).events == events


def test_a_stream_through_continue_as_new_loads_as_runs() -> None:
    first = [ev(1, "WorkflowExecutionStarted", workflowType=WF), ev(2, "WorkflowExecutionContinuedAsNew", 1, newExecutionRunId="r2")]
    second = [ev(1, "WorkflowExecutionStarted", 1, workflowType=WF, continuedExecutionRunId="r1"), ev(2, "WorkflowExecutionCompleted", 2)]
    document = {"format": FORMAT, "domain": "d", "execution": {"workflowId": "w", "runId": "r1"}, "events": []}
    runs = load_histories({**document, "events": [*first, *second]})
    assert [(h.run_id, [e["eventType"] for e in h.events]) for h in runs] == [
        ("r1", ["WorkflowExecutionStarted", "WorkflowExecutionContinuedAsNew"]),
        ("r2", ["WorkflowExecutionStarted", "WorkflowExecutionCompleted"]),
    ]
    with pytest.raises(ValueError, match="2 runs"):
        load_history([*first, *second])


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ({"format": "other/1", "events": []}, "not a flowser history file"),
        ({"format": "flowser-history/2", "events": []}, "this flowser reads flowser-history/1"),
        ({"nothing": 1}, "no 'events' list"),
        ([1, 2], "a list should hold events"),
        ({"events": [{"eventType": "X"}]}, "not a history event"),
        (io.StringIO("{not json\n"), "neither JSON nor JSON Lines"),
    ],
)
def test_what_is_not_a_history_is_refused(source: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_history(source)


def test_an_empty_history() -> None:
    assert load_history({"events": []}) == HistoryFile([], None, None, None)


# -- follow and the tree, on a fake client ----------------------------------------------------
class FakeSWF:
    """GetWorkflowExecutionHistory over runs held here, paged (either way) like SWF."""

    def __init__(self, runs: dict[str, list[dict[str, Any]]], page: int = 3) -> None:
        self.runs = runs
        self.page = page
        self.calls: list[dict[str, Any]] = []

    def get_workflow_execution_history(self, **params: Any) -> dict[str, Any]:
        self.calls.append(params)
        run_id = params["execution"]["runId"]
        if run_id not in self.runs:
            raise ClientError({"Error": {"Code": "UnknownResourceFault", "Message": "Unknown execution"}}, "GetWorkflowExecutionHistory")
        events = list(reversed(self.runs[run_id])) if params.get("reverseOrder") else list(self.runs[run_id])
        size = min(params.get("maximumPageSize") or 1000, self.page)
        start = int(params.get("nextPageToken") or 0)
        page = {"events": events[start : start + size]}
        if start + size < len(events):
            page["nextPageToken"] = str(start + size)
        return page


def test_events_after_reads_back_only_as_far_as_needed() -> None:
    events = [ev(i, "MarkerRecorded", i, markerName=str(i)) for i in range(1, 21)]
    client = FakeSWF({"r": events})
    assert [e["eventId"] for e in trace.events_after(client, "d", {"workflowId": "w", "runId": "r"}, 16)] == [17, 18, 19, 20]
    assert len(client.calls) == 2 and all(c["reverseOrder"] for c in client.calls)
    assert len(trace.events_after(client, "d", {"workflowId": "w", "runId": "r"}, 0)) == 20


def test_follow_yields_new_events_and_goes_on_after_continue_as_new() -> None:
    first = [ev(1, "WorkflowExecutionStarted", workflowType=WF), ev(2, "DecisionTaskScheduled")]
    client = FakeSWF({"r1": first})
    later = [
        lambda: first.append(ev(3, "DecisionTaskStarted", scheduledEventId=2)),
        lambda: None,
        lambda: (  # the new run is there as the old one closes
            client.runs.update(r2=[ev(1, "WorkflowExecutionStarted", workflowType=WF)]),
            first.append(ev(4, "WorkflowExecutionContinuedAsNew", newExecutionRunId="r2")),
        ),
        lambda: None,
        lambda: client.runs["r2"].append(ev(2, "WorkflowExecutionTerminated", reason="enough")),
    ]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        later.pop(0)()

    seen = []
    for item in trace.follow(client, "d", {"workflowId": "w", "runId": "r1"}, interval=0.25, sleep=sleep):
        seen.append(item if isinstance(item, trace.NewRun) else (item["eventId"], item["eventType"]))
    assert seen[:4] == [(1, "WorkflowExecutionStarted"), (2, "DecisionTaskScheduled"), (3, "DecisionTaskStarted"), (4, "WorkflowExecutionContinuedAsNew")]
    assert seen[4] == trace.NewRun({"workflowId": "w", "runId": "r1"}, {"workflowId": "w", "runId": "r2"})
    assert seen[5:] == [(1, "WorkflowExecutionStarted"), (2, "WorkflowExecutionTerminated")]
    assert set(waits) == {0.25} and not later


def test_a_child_whose_history_is_gone_shows_what_the_parent_knows() -> None:
    parent = [
        ev(1, "WorkflowExecutionStarted", workflowType=WF),
        ev(2, "StartChildWorkflowExecutionInitiated", 1, workflowId="kid", workflowType=WF),
        ev(3, "ChildWorkflowExecutionStarted", 2, initiatedEventId=2, workflowExecution={"workflowId": "kid", "runId": "gone"}),
        ev(4, "ChildWorkflowExecutionTimedOut", 5, initiatedEventId=2, timeoutType="START_TO_CLOSE", workflowExecution={"workflowId": "kid", "runId": "gone"}),
        ev(5, "StartChildWorkflowExecutionInitiated", 6, workflowId="waiting", workflowType=WF),
    ]
    root = trace.workflow_tree(FakeSWF({"p": parent}), "d", {"workflowId": "w", "runId": "p"})
    assert (root.status, root.duration(T0 + dt.timedelta(seconds=8))) == ("OPEN", 8.0)
    kid, waiting = root.children
    assert (kid.workflow_id, kid.status, kid.duration(), kid.note) == ("kid", "TIMED_OUT", 3.0, "START_TO_CLOSE")
    assert (waiting.status, waiting.run_id, waiting.children) == ("INITIATED", None, [])
    assert root.to_dict()["children"][0]["runId"] == "gone"


def test_a_child_that_continued_as_new_is_one_node_with_its_runs() -> None:
    kid = {"workflowId": "kid", "runId": "k1"}
    parent = [
        ev(1, "WorkflowExecutionStarted", workflowType=WF),
        ev(2, "StartChildWorkflowExecutionInitiated", 1, workflowId="kid", workflowType=WF),
        ev(3, "ChildWorkflowExecutionStarted", 1, initiatedEventId=2, workflowExecution=kid),
        ev(4, "WorkflowExecutionCompleted", 20),
    ]
    runs = {
        "p": parent,
        "k1": [
            ev(1, "WorkflowExecutionStarted", 1, workflowType=WF),
            ev(2, "StartChildWorkflowExecutionInitiated", 2, workflowId="g1", workflowType=WF),
            ev(3, "WorkflowExecutionContinuedAsNew", 3, newExecutionRunId="k2"),
        ],
        "k2": [
            ev(1, "WorkflowExecutionStarted", 3, workflowType=WF, continuedExecutionRunId="k1"),
            ev(2, "WorkflowExecutionFailed", 11, reason="out of pages"),
        ],
    }
    root = trace.workflow_tree(FakeSWF(runs), "d", {"workflowId": "w", "runId": "p"})
    assert (root.status, root.duration()) == ("COMPLETED", 20.0)
    (child,) = root.children
    assert (child.runs, child.status, child.duration(), child.note) == (["k1", "k2"], "FAILED", 10.0, "out of pages")
    assert [(g.workflow_id, g.status) for g in child.children] == [("g1", "INITIATED")]
    assert [(depth, node.workflow_id) for depth, node in root.walk()] == [(0, "w"), (1, "kid"), (2, "g1")]
    shallow = trace.workflow_tree(FakeSWF(runs), "d", {"workflowId": "w", "runId": "p"}, depth=0)
    assert (shallow.children, shallow.unread) == ([], 1)
