"""Timers on virtual time (swf-semantics.md §4.2, §5, §10, §14(c)): exact event sequences."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from backends.local import EngineConfig
from backends.local.decisions import Limits
from backends.local.testing import LocalEnvironment

from .helpers import DOMAIN, DTS, WF, Flow, at, cancel_timer, close_status, complete, deadlines_of, timer

STARTED = {
    "executionStartToCloseTimeout": "3600",
    "taskStartToCloseTimeout": "60",
    "childPolicy": "TERMINATE",
    "taskList": {"name": "deciders"},
    "workflowType": WF,
    "parentInitiatedEventId": 0,
}


@pytest.fixture
def flow(env: Any) -> Flow:
    return Flow(env)


def first(flow: Flow, *decisions: dict[str, Any], workflow_id: str = "w1", **start_kw: Any) -> str:
    """Start a run and answer its first decision task (events 1-4 and the decisions' events)."""
    run_id = flow.start(workflow_id, **start_kw)
    flow.decide(*decisions)
    return run_id


def signal(flow: Flow, workflow_id: str = "w1") -> None:
    flow.swf.signal_workflow_execution(domain=DOMAIN, workflowId=workflow_id, signalName="poke")


def test_timer_fires_at_its_deadline(flow: Flow) -> None:
    """§14(c)."""
    t0 = flow.now()
    run_id = first(flow, timer("t", "60", control="ctl"))
    assert flow.describe(run_id)["openCounts"]["openTimers"] == 1
    assert flow.sleep(59) == 0
    assert len(flow.events(run_id)) == 5
    flow.no_task()
    assert flow.sleep(1) == 1
    task = flow.poll()
    assert (task["startedEventId"], task["previousStartedEventId"]) == (8, 3)
    flow.respond(task, complete("done"))

    events = flow.events(run_id)
    assert flow.seq(run_id) == [
        ("WorkflowExecutionStarted", STARTED),
        ("DecisionTaskScheduled", DTS),
        ("DecisionTaskStarted", {"scheduledEventId": 2}),
        ("DecisionTaskCompleted", {"scheduledEventId": 2, "startedEventId": 3}),
        (
            "TimerStarted",
            {"timerId": "t", "control": "ctl", "startToFireTimeout": "60", "decisionTaskCompletedEventId": 4},
        ),
        ("TimerFired", {"timerId": "t", "startedEventId": 5}),
        ("DecisionTaskScheduled", DTS),
        ("DecisionTaskStarted", {"scheduledEventId": 7}),
        ("DecisionTaskCompleted", {"scheduledEventId": 7, "startedEventId": 8}),
        ("WorkflowExecutionCompleted", {"result": "done", "decisionTaskCompletedEventId": 9}),
    ]
    assert [e["eventTimestamp"] for e in events] == [at(t0)] * 5 + [at(t0 + 60)] * 5
    assert flow.describe(run_id)["openCounts"]["openTimers"] == 0


def test_zero_timer_fires_at_once_and_timers_of_one_batch_fire_in_deadline_order(flow: Flow) -> None:
    t0 = flow.now()
    run_id = first(flow, timer("z", "0"), timer("late", "10"), timer("soon", "5"))
    # the "0" timer fired as soon as the batch was committed, with no time passing
    assert flow.seq(run_id)[4:] == [
        ("TimerStarted", {"timerId": "z", "startToFireTimeout": "0", "decisionTaskCompletedEventId": 4}),
        ("TimerStarted", {"timerId": "late", "startToFireTimeout": "10", "decisionTaskCompletedEventId": 4}),
        ("TimerStarted", {"timerId": "soon", "startToFireTimeout": "5", "decisionTaskCompletedEventId": 4}),
        ("TimerFired", {"timerId": "z", "startedEventId": 5}),
        ("DecisionTaskScheduled", DTS),
    ]
    assert flow.events(run_id)[7]["eventTimestamp"] == at(t0)
    assert flow.describe(run_id)["openCounts"]["openTimers"] == 2
    assert flow.sleep(100) == 2
    events = flow.events(run_id)
    # one pending decision task covers both later firings
    assert flow.seq(run_id)[9:] == [
        ("TimerFired", {"timerId": "soon", "startedEventId": 7}),
        ("TimerFired", {"timerId": "late", "startedEventId": 6}),
    ]
    assert (events[9]["eventTimestamp"], events[10]["eventTimestamp"]) == (at(t0 + 5), at(t0 + 10))
    task = flow.poll()
    assert task["startedEventId"] == 12 and len(task["events"]) == 12


def test_cancel_timer(flow: Flow) -> None:
    t0 = flow.now()
    run_id = first(flow, timer("t", "60"))
    flow.sleep(30)
    signal(flow)
    flow.decide(cancel_timer("t"))
    assert flow.seq(run_id)[4:] == [
        ("TimerStarted", {"timerId": "t", "startToFireTimeout": "60", "decisionTaskCompletedEventId": 4}),
        ("WorkflowExecutionSignaled", {"signalName": "poke", "externalInitiatedEventId": 0}),
        ("DecisionTaskScheduled", DTS),
        ("DecisionTaskStarted", {"scheduledEventId": 7}),
        ("DecisionTaskCompleted", {"scheduledEventId": 7, "startedEventId": 8}),
        ("TimerCanceled", {"timerId": "t", "startedEventId": 5, "decisionTaskCompletedEventId": 9}),
    ]
    assert flow.events(run_id)[9]["eventTimestamp"] == at(t0 + 30)
    # TimerCanceled does not trigger a decision task, and the timer never fires
    flow.no_task()
    assert deadlines_of(flow.env, run_id) == [t0 + 3600]  # the execution timeout only
    assert flow.sleep(1000) == 0
    assert len(flow.events(run_id)) == 10
    assert flow.describe(run_id)["openCounts"]["openTimers"] == 0


def test_start_timer_failed_id_already_in_use_then_reuse_after_fire_and_cancel(flow: Flow) -> None:
    t0 = flow.now()
    run_id = first(flow, timer("t", "10"), timer("t", "30"), timer("c", "100"))
    assert flow.seq(run_id)[4:] == [
        ("TimerStarted", {"timerId": "t", "startToFireTimeout": "10", "decisionTaskCompletedEventId": 4}),
        ("StartTimerFailed", {"timerId": "t", "cause": "TIMER_ID_ALREADY_IN_USE", "decisionTaskCompletedEventId": 4}),
        ("TimerStarted", {"timerId": "c", "startToFireTimeout": "100", "decisionTaskCompletedEventId": 4}),
        ("DecisionTaskScheduled", DTS),  # the failure triggers a decision task
    ]
    # still open in a later decision task: still in use
    flow.decide(timer("t", "5"))
    assert flow.seq(run_id)[9:] == [
        ("DecisionTaskCompleted", {"scheduledEventId": 8, "startedEventId": 9}),
        ("StartTimerFailed", {"timerId": "t", "cause": "TIMER_ID_ALREADY_IN_USE", "decisionTaskCompletedEventId": 10}),
        ("DecisionTaskScheduled", DTS),
    ]
    flow.sleep(10)
    assert flow.seq(run_id)[12:] == [("TimerFired", {"timerId": "t", "startedEventId": 5})]
    # fired: the id is free again; cancelled: free too
    flow.decide(timer("t", "20"), cancel_timer("c"), timer("c", "1"))
    assert flow.seq(run_id)[13:] == [
        ("DecisionTaskStarted", {"scheduledEventId": 12}),
        ("DecisionTaskCompleted", {"scheduledEventId": 12, "startedEventId": 14}),
        ("TimerStarted", {"timerId": "t", "startToFireTimeout": "20", "decisionTaskCompletedEventId": 15}),
        ("TimerCanceled", {"timerId": "c", "startedEventId": 7, "decisionTaskCompletedEventId": 15}),
        ("TimerStarted", {"timerId": "c", "startToFireTimeout": "1", "decisionTaskCompletedEventId": 15}),
    ]
    assert flow.sleep(100) == 2
    events = flow.events(run_id)
    assert flow.seq(run_id)[18:] == [
        ("TimerFired", {"timerId": "c", "startedEventId": 18}),
        ("DecisionTaskScheduled", DTS),
        ("TimerFired", {"timerId": "t", "startedEventId": 16}),
    ]
    assert [e["eventTimestamp"] for e in events[18:]] == [at(t0 + 11), at(t0 + 11), at(t0 + 30)]


def test_open_timers_limit(redis_client: Any, redis_url: str) -> None:
    with LocalEnvironment(redis_url, config=EngineConfig(limits=Limits(open_timers=2))) as env:
        flow = Flow(env)
        run_id = first(flow, timer("a", "10"), timer("b", "20"), timer("c", "5"))
        limit = {"timerId": "c", "cause": "OPEN_TIMERS_LIMIT_EXCEEDED", "decisionTaskCompletedEventId": 4}
        assert flow.seq(run_id)[4:] == [
            ("TimerStarted", {"timerId": "a", "startToFireTimeout": "10", "decisionTaskCompletedEventId": 4}),
            ("TimerStarted", {"timerId": "b", "startToFireTimeout": "20", "decisionTaskCompletedEventId": 4}),
            ("StartTimerFailed", limit),
            ("DecisionTaskScheduled", DTS),
        ]
        # a cancelled timer frees its slot within the batch; the limit still holds after it
        flow.decide(cancel_timer("a"), timer("c", "5"), timer("d", "5"))
        assert flow.seq(run_id)[10:] == [
            ("TimerCanceled", {"timerId": "a", "startedEventId": 5, "decisionTaskCompletedEventId": 10}),
            ("TimerStarted", {"timerId": "c", "startToFireTimeout": "5", "decisionTaskCompletedEventId": 10}),
            (
                "StartTimerFailed",
                {"timerId": "d", "cause": "OPEN_TIMERS_LIMIT_EXCEEDED", "decisionTaskCompletedEventId": 10},
            ),
            ("DecisionTaskScheduled", DTS),
        ]
        # a fired timer frees its slot
        flow.sleep(5)
        flow.decide(timer("d", "5"))
        assert flow.seq(run_id)[14:] == [
            ("TimerFired", {"timerId": "c", "startedEventId": 12}),
            ("DecisionTaskStarted", {"scheduledEventId": 14}),
            ("DecisionTaskCompleted", {"scheduledEventId": 14, "startedEventId": 16}),
            ("TimerStarted", {"timerId": "d", "startToFireTimeout": "5", "decisionTaskCompletedEventId": 17}),
        ]
        assert flow.describe(run_id)["openCounts"]["openTimers"] == 2


def test_cancel_timer_failed_unknown_never_started_cancelled_and_fired(flow: Flow) -> None:
    run_id = first(flow, timer("t", "10"), cancel_timer("nope"), timer("x", "50"), cancel_timer("x"), cancel_timer("x"))
    unknown = {"cause": "TIMER_ID_UNKNOWN", "decisionTaskCompletedEventId": 4}
    assert flow.seq(run_id)[4:] == [
        ("TimerStarted", {"timerId": "t", "startToFireTimeout": "10", "decisionTaskCompletedEventId": 4}),
        ("CancelTimerFailed", {"timerId": "nope", **unknown}),
        ("TimerStarted", {"timerId": "x", "startToFireTimeout": "50", "decisionTaskCompletedEventId": 4}),
        ("TimerCanceled", {"timerId": "x", "startedEventId": 7, "decisionTaskCompletedEventId": 4}),
        ("CancelTimerFailed", {"timerId": "x", **unknown}),
        ("DecisionTaskScheduled", DTS),
    ]
    # the timer fires while the decider holds a task; the decider, not knowing, cancels it and closes
    task = flow.poll()
    assert task["startedEventId"] == 11
    flow.sleep(10)
    flow.respond(task, cancel_timer("t"), complete())
    assert flow.seq(run_id)[11:] == [
        ("TimerFired", {"timerId": "t", "startedEventId": 5}),
        ("DecisionTaskScheduled", DTS),  # held behind the started task
        ("DecisionTaskCompleted", {"scheduledEventId": 10, "startedEventId": 11}),
        ("CancelTimerFailed", {"timerId": "t", "cause": "TIMER_ID_UNKNOWN", "decisionTaskCompletedEventId": 14}),
        ("CompleteWorkflowExecutionFailed", {"cause": "UNHANDLED_DECISION", "decisionTaskCompletedEventId": 14}),
    ]
    task = flow.poll()
    assert (task["startedEventId"], task["previousStartedEventId"]) == (17, 11)
    assert close_status(flow.swf, "w1", run_id) is None


@pytest.mark.parametrize("closing", ["complete", "terminate", "timeout"])
def test_timers_die_with_the_run(flow: Flow, closing: str) -> None:
    t0 = flow.now()
    if closing == "complete":
        run_id = first(flow, timer("a", "100"), timer("b", "0"), complete())
        expected_last = ["TimerStarted", "TimerStarted", "WorkflowExecutionCompleted"]
    else:
        run_id = first(flow, timer("a", "100"), timer("b", "0"), executionStartToCloseTimeout="50")
        expected_last = ["TimerStarted", "TimerStarted", "TimerFired", "DecisionTaskScheduled"]
        if closing == "terminate":
            flow.swf.terminate_workflow_execution(domain=DOMAIN, workflowId="w1")
            expected_last.append("WorkflowExecutionTerminated")
        else:
            flow.sleep(50)
            expected_last.append("WorkflowExecutionTimedOut")
    assert [t for t, _ in flow.seq(run_id)][4:] == expected_last
    count = len(flow.events(run_id))
    flow.sleep(1000)
    assert len(flow.events(run_id)) == count
    assert flow.describe(run_id)["openCounts"]["openTimers"] == (2 if closing == "complete" else 1)
    closed = t0 + (50 if closing == "timeout" else 0)
    assert flow.describe(run_id)["executionInfo"]["closeTimestamp"] == at(closed)
    assert all(when >= closed + 86400 for when in deadlines_of(flow.env, run_id))  # at most its retention


def test_start_to_fire_timeout_none_rejects_the_batch(flow: Flow) -> None:
    run_id = flow.start()
    task = flow.poll()
    with pytest.raises(ClientError) as info:
        flow.respond(task, timer("ok", "5"), timer("t", "NONE"))
    assert info.value.response["Error"]["Code"] == "ValidationException"
    assert "decisions.2.member.startTimerDecisionAttributes.startToFireTimeout" in info.value.response["Error"]["Message"]
    assert len(flow.events(run_id)) == 3
    flow.respond(task, timer("ok", "5"))  # the task is still started, its token still valid
    assert [t for t, _ in flow.seq(run_id)][3:] == ["DecisionTaskCompleted", "TimerStarted"]


def test_a_closing_batch_leaves_no_deadline_behind(flow: Flow) -> None:
    """Timers (and activities) started in the batch that closes the run die with it at once (§8.2, §10):
    nothing is left for the timekeeper but the run's retention."""
    t0 = flow.now()
    run_id = first(flow, timer("a", "100"), complete())
    assert [t for t, _ in flow.seq(run_id)][4:] == ["TimerStarted", "WorkflowExecutionCompleted"]
    assert [when - t0 for when in deadlines_of(flow.env, run_id)] == [86400]


def test_timers_due_at_the_same_moment_fire_in_the_order_they_were_started(flow: Flow) -> None:
    """Equal deadlines: first started, first fired (also past event 9, where ids gain a digit)."""
    run_id = first(flow, *[timer(f"t{n}", "10") for n in range(12)])
    assert flow.sleep(10) == 12
    fired = [(a["timerId"], a["startedEventId"]) for t, a in flow.seq(run_id) if t == "TimerFired"]
    assert fired == [(f"t{n}", 5 + n) for n in range(12)]
