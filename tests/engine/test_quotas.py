"""Quotas and SWF's behaviour at each limit (swf-semantics.md §5, §8.4, §13), on virtual time."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from backends.local import EngineConfig
from backends.local.decisions import Limits
from backends.local.testing import LocalEnvironment

from .helpers import (
    ACT,
    DOMAIN,
    DTS,
    WF,
    Flow,
    at,
    close_status,
    continue_as_new,
    decision,
    lambda_fn,
    schedule,
    start_child,
    timer,
)

KIDS = {"name": "kids"}
ROLE = "arn:aws:iam::123456789012:role/swf-lambda"


def marker(n: int) -> dict[str, Any]:
    return decision("RecordMarker", markerName=f"m{n}")


def limited(redis_url: str, **config: Any) -> LocalEnvironment:
    return LocalEnvironment(redis_url, config=EngineConfig(**config))


def test_default_quotas_are_swfs() -> None:
    limits = Limits()
    assert (limits.open_activities, limits.open_timers, limits.open_children) == (1000, 1000, 1000)
    assert limits.history_events == 25_000
    assert EngineConfig().max_open_executions == 100_000


def test_per_run_limits_are_counted_separately(redis_client: Any, redis_url: str) -> None:
    limits = Limits(open_activities=1, open_timers=1, open_children=1, open_lambdas=1)
    with limited(redis_url, limits=limits) as env:
        flow = Flow(env)
        run_id = flow.start(lambdaRole=ROLE)
        flow.decide(
            schedule("a1"),
            schedule("a2"),
            timer("t1", "100"),
            timer("t2", "100"),
            start_child("c1", taskList=KIDS),
            start_child("c2", taskList=KIDS),
            lambda_fn("l1", "unregistered", startToCloseTimeout="100"),
            lambda_fn("l2", "unregistered", startToCloseTimeout="100"),
        )
        seq = flow.seq(run_id)
        assert [t for t, _ in seq][4:] == [
            "ActivityTaskScheduled",
            "ScheduleActivityTaskFailed",
            "TimerStarted",
            "StartTimerFailed",
            "StartChildWorkflowExecutionInitiated",
            "StartChildWorkflowExecutionFailed",
            "LambdaFunctionScheduled",
            "ScheduleLambdaFunctionFailed",
            "DecisionTaskScheduled",
            "ChildWorkflowExecutionStarted",
        ]
        assert [seq[i][1] for i in (5, 7, 9, 11)] == [
            {"activityType": ACT, "activityId": "a2", "cause": "OPEN_ACTIVITIES_LIMIT_EXCEEDED", "decisionTaskCompletedEventId": 4},
            {"timerId": "t2", "cause": "OPEN_TIMERS_LIMIT_EXCEEDED", "decisionTaskCompletedEventId": 4},
            {
                "workflowType": WF,
                "cause": "OPEN_CHILDREN_LIMIT_EXCEEDED",
                "workflowId": "c2",
                "initiatedEventId": 0,
                "decisionTaskCompletedEventId": 4,
            },
            {"id": "l2", "name": "unregistered", "cause": "OPEN_LAMBDA_FUNCTIONS_LIMIT_EXCEEDED", "decisionTaskCompletedEventId": 4},
        ]
        assert flow.describe(run_id)["openCounts"] == {
            "openActivityTasks": 1,
            "openDecisionTasks": 1,
            "openTimers": 1,
            "openChildWorkflowExecutions": 1,
            "openLambdaFunctions": 1,
        }


def test_a_thousand_open_timers_and_activities_by_default(env: Any) -> None:
    flow = Flow(env)
    run_id = flow.start()
    flow.decide(*[timer(f"t{n}", "100") for n in range(1001)], *[schedule(f"a{n}") for n in range(1001)])
    seq = flow.seq(run_id)
    assert len(seq) == 4 + 2002 + 1
    assert [t for t, _ in seq[4:1004]] == ["TimerStarted"] * 1000
    assert seq[1004] == ("StartTimerFailed", {"timerId": "t1000", "cause": "OPEN_TIMERS_LIMIT_EXCEEDED", "decisionTaskCompletedEventId": 4})
    assert [t for t, _ in seq[1005:2005]] == ["ActivityTaskScheduled"] * 1000
    assert seq[2005] == (
        "ScheduleActivityTaskFailed",
        {"activityType": ACT, "activityId": "a1000", "cause": "OPEN_ACTIVITIES_LIMIT_EXCEEDED", "decisionTaskCompletedEventId": 4},
    )
    counts = flow.describe(run_id)["openCounts"]
    assert (counts["openTimers"], counts["openActivityTasks"]) == (1000, 1000)


def test_history_length_limit_terminates_the_run_and_applies_its_child_policy(redis_client: Any, redis_url: str) -> None:
    with limited(redis_url, limits=Limits(history_events=50)) as env:
        flow = Flow(env)
        t0 = flow.now()
        parent = flow.start("p")
        flow.decide(start_child("c", taskList=KIDS))
        child = flow.events(parent, "p")[5]["childWorkflowExecutionStartedEventAttributes"]["workflowExecution"]["runId"]
        flow.sleep(5)
        flow.decide(*[marker(n) for n in range(40)])  # events 8-49
        assert len(flow.events(parent, "p")) == 49 and close_status(flow.swf, "p", parent) is None
        flow.sleep(5)
        flow.swf.signal_workflow_execution(domain=DOMAIN, workflowId="p", signalName="the-50th")
        events = flow.events(parent, "p")
        assert flow.seq(parent, "p")[49:] == [
            ("WorkflowExecutionSignaled", {"signalName": "the-50th", "externalInitiatedEventId": 0}),
            ("DecisionTaskScheduled", DTS),
            ("WorkflowExecutionTerminated", {"childPolicy": "TERMINATE", "cause": "EVENT_LIMIT_EXCEEDED"}),
        ]
        assert events[-1]["eventTimestamp"] == at(t0 + 10)
        info = flow.describe(parent, "p")["executionInfo"]
        assert (info["executionStatus"], info["closeStatus"], info["closeTimestamp"]) == ("CLOSED", "TERMINATED", at(t0 + 10))
        flow.no_task()
        with pytest.raises(ClientError) as error:
            flow.swf.signal_workflow_execution(domain=DOMAIN, workflowId="p", signalName="late")
        assert error.value.response["Error"]["Code"] == "UnknownResourceFault"
        # the run's child policy applies as on any termination
        assert flow.seq(child, "c")[2:] == [
            ("WorkflowExecutionTerminated", {"childPolicy": "TERMINATE", "cause": "CHILD_POLICY_APPLIED"})
        ]
        assert flow.events(child, "c")[2]["eventTimestamp"] == at(t0 + 10)


def test_history_length_limit_reached_by_a_timer_and_reported_to_the_parent(redis_client: Any, redis_url: str) -> None:
    with limited(redis_url, limits=Limits(history_events=20)) as env:
        flow = Flow(env)
        t0 = flow.now()
        parent = flow.start("p")
        flow.decide(start_child("c", taskList=KIDS))
        child = flow.events(parent, "p")[5]["childWorkflowExecutionStartedEventAttributes"]["workflowExecution"]["runId"]
        flow.decide(timer("t", "30"), *[marker(n) for n in range(14)], task_list="kids")  # child events 4-19
        assert len(flow.events(child, "c")) == 19
        flow.sleep(30)
        assert flow.seq(child, "c")[19:] == [
            ("TimerFired", {"timerId": "t", "startedEventId": 5}),
            ("DecisionTaskScheduled", {**DTS, "taskList": KIDS}),
            ("WorkflowExecutionTerminated", {"childPolicy": "TERMINATE", "cause": "EVENT_LIMIT_EXCEEDED"}),
        ]
        assert flow.events(child, "c")[-1]["eventTimestamp"] == at(t0 + 30)
        assert flow.seq(parent, "p")[6:] == [
            ("DecisionTaskScheduled", DTS),
            (
                "ChildWorkflowExecutionTerminated",
                {"workflowExecution": {"workflowId": "c", "runId": child}, "workflowType": WF, "initiatedEventId": 5, "startedEventId": 6},
            ),
        ]


OPEN_WORKFLOWS_FAILED = {
    "workflowType": WF,
    "cause": "OPEN_WORKFLOWS_LIMIT_EXCEEDED",
    "initiatedEventId": 0,
}


def test_open_workflows_limit_for_a_child(redis_client: Any, redis_url: str) -> None:
    with limited(redis_url, max_open_executions=3) as env:
        flow = Flow(env)
        flow.start("other", taskList={"name": "elsewhere"})
        parent = flow.start("p")
        flow.decide(start_child("c1", taskList=KIDS))
        assert [t for t, _ in flow.seq(parent, "p")][4:] == [
            "StartChildWorkflowExecutionInitiated",
            "ChildWorkflowExecutionStarted",
            "DecisionTaskScheduled",
        ]
        # at the limit: StartChild fails at once (no Initiated); ContinueAsNew (one run for another) still works
        flow.decide(start_child("c2", taskList=KIDS, control="k"), workflow_id="p")
        assert flow.seq(parent, "p")[9:] == [
            (
                "StartChildWorkflowExecutionFailed",
                {**OPEN_WORKFLOWS_FAILED, "workflowId": "c2", "decisionTaskCompletedEventId": 9, "control": "k"},
            ),
            ("DecisionTaskScheduled", DTS),
        ]
        with pytest.raises(ClientError) as error:
            flow.swf.start_workflow_execution(domain=DOMAIN, workflowId="w9", workflowType=WF)
        assert error.value.response["Error"]["Code"] == "LimitExceededFault"
        flow.decide(continue_as_new(), workflow_id="p")
        assert close_status(flow.swf, "p", parent) == "CONTINUED_AS_NEW"
        assert flow.swf.count_open_workflow_executions(domain=DOMAIN, startTimeFilter={"oldestDate": 0})["count"] == 3


def test_open_workflows_limit_within_one_batch(redis_client: Any, redis_url: str) -> None:
    """Room for one more run in the domain, two StartChild decisions: the second fails (§13)."""
    with limited(redis_url, max_open_executions=3) as env:
        flow = Flow(env)
        flow.start("other", taskList={"name": "elsewhere"})
        parent = flow.start("p")
        flow.decide(start_child("c1", taskList=KIDS), start_child("c2", taskList=KIDS))
        assert flow.swf.count_open_workflow_executions(domain=DOMAIN, startTimeFilter={"oldestDate": 0})["count"] == 3
        assert [t for t, _ in flow.seq(parent, "p")][4:] == [
            "StartChildWorkflowExecutionInitiated",
            "StartChildWorkflowExecutionFailed",
            "DecisionTaskScheduled",
            "ChildWorkflowExecutionStarted",
        ]
        assert flow.seq(parent, "p")[5][1] == {**OPEN_WORKFLOWS_FAILED, "workflowId": "c2", "decisionTaskCompletedEventId": 4}
