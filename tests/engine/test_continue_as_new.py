"""ContinueAsNewWorkflowExecution on virtual time (swf-semantics.md §3.1, §4.5, §5, §8.5, §14(g))."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from .helpers import (
    DOMAIN,
    DTS,
    WF,
    Flow,
    at,
    close_status,
    complete,
    continue_as_new,
    deadlines_of,
    poll_activity,
    schedule,
    timer,
)

DEFAULTS = {
    "executionStartToCloseTimeout": "3600",
    "taskList": {"name": "deciders"},
    "taskStartToCloseTimeout": "60",
    "childPolicy": "TERMINATE",
}
BARE = {"name": "bare", "version": "1"}


@pytest.fixture
def flow(env: Any) -> Flow:
    return Flow(env)


def new_run_of(flow: Flow, run_id: str, workflow_id: str = "w1") -> str:
    last = flow.events(run_id, workflow_id)[-1]
    assert last["eventType"] == "WorkflowExecutionContinuedAsNew", last["eventType"]
    return str(last["workflowExecutionContinuedAsNewEventAttributes"]["newExecutionRunId"])


def test_continue_as_new(flow: Flow) -> None:
    """§14(g)."""
    t0 = flow.now()
    r1 = flow.start(input="i1")
    flow.sleep(5)
    flow.decide(continue_as_new(input="i2"))
    r2 = new_run_of(flow, r1)
    assert r2 != r1 and len(r2) == len(r1)
    assert flow.seq(r1)[3:] == [
        ("DecisionTaskCompleted", {"scheduledEventId": 2, "startedEventId": 3}),
        (
            "WorkflowExecutionContinuedAsNew",
            {
                "input": "i2",
                "decisionTaskCompletedEventId": 4,
                "newExecutionRunId": r2,
                **DEFAULTS,
                "workflowType": WF,
            },
        ),
    ]
    assert flow.seq(r2) == [
        (
            "WorkflowExecutionStarted",
            {
                "input": "i2",
                **DEFAULTS,
                "workflowType": WF,
                "continuedExecutionRunId": r1,
                "parentInitiatedEventId": 0,
            },
        ),
        ("DecisionTaskScheduled", DTS),
    ]
    assert [e["eventTimestamp"] for e in flow.events(r2)] == [at(t0 + 5)] * 2
    assert flow.events(r1)[-1]["eventTimestamp"] == at(t0 + 5)
    old = flow.describe(r1)["executionInfo"]
    assert (old["executionStatus"], old["closeStatus"], old["closeTimestamp"]) == ("CLOSED", "CONTINUED_AS_NEW", at(t0 + 5))
    new = flow.describe(r2)["executionInfo"]
    assert (new["execution"], new["executionStatus"], new["startTimestamp"]) == (
        {"workflowId": "w1", "runId": r2},
        "OPEN",
        at(t0 + 5),
    )
    assert flow.open_runs() == [("w1", r2)]
    task = flow.poll()
    assert task["workflowExecution"] == {"workflowId": "w1", "runId": r2}
    assert (task["startedEventId"], task["previousStartedEventId"]) == (3, 0)
    assert [e["eventType"] for e in task["events"]] == [
        "WorkflowExecutionStarted",
        "DecisionTaskScheduled",
        "DecisionTaskStarted",
    ]


def test_settings_come_from_the_decision_else_the_type_never_from_the_old_run(flow: Flow) -> None:
    swf = flow.swf
    r1 = flow.start(
        taskList={"name": "d1"},
        executionStartToCloseTimeout="500",
        taskStartToCloseTimeout="30",
        childPolicy="ABANDON",
        taskPriority="7",
        lambdaRole="arn:aws:iam::1:role/r1",
        tagList=["a"],
    )
    flow.decide(continue_as_new(), task_list="d1")
    r2 = new_run_of(flow, r1)
    assert flow.seq(r1)[4] == (
        "WorkflowExecutionContinuedAsNew",
        {"decisionTaskCompletedEventId": 4, "newExecutionRunId": r2, **DEFAULTS, "workflowType": WF},
    )
    assert flow.seq(r2)[0] == (
        "WorkflowExecutionStarted",
        {**DEFAULTS, "workflowType": WF, "continuedExecutionRunId": r1, "parentInitiatedEventId": 0},
    )
    described = flow.describe(r2)
    assert described["executionConfiguration"] == DEFAULTS
    assert "tagList" not in described["executionInfo"]  # tags are not inherited
    assert swf.list_open_workflow_executions(domain=DOMAIN, startTimeFilter={"oldestDate": 0}, tagFilter={"tag": "a"})[
        "executionInfos"
    ] == []

    overrides = {
        "taskList": {"name": "d3"},
        "executionStartToCloseTimeout": "77",
        "taskStartToCloseTimeout": "7",
        "childPolicy": "REQUEST_CANCEL",
        "taskPriority": "-3",
        "lambdaRole": "arn:aws:iam::1:role/r3",
    }
    flow.decide(continue_as_new(input="x", tagList=["b", "c"], **overrides))
    r3 = new_run_of(flow, r2)
    resolved = {k: v for k, v in overrides.items() if k != "lambdaRole"}
    assert flow.seq(r2)[4] == (
        "WorkflowExecutionContinuedAsNew",
        {
            "input": "x",
            "decisionTaskCompletedEventId": 4,
            "newExecutionRunId": r3,
            **resolved,
            "tagList": ["b", "c"],
            "workflowType": WF,
            "lambdaRole": "arn:aws:iam::1:role/r3",
        },
    )
    assert flow.seq(r3) == [
        (
            "WorkflowExecutionStarted",
            {
                "input": "x",
                **resolved,
                "workflowType": WF,
                "tagList": ["b", "c"],
                "continuedExecutionRunId": r2,
                "parentInitiatedEventId": 0,
                "lambdaRole": "arn:aws:iam::1:role/r3",
            },
        ),
        (
            "DecisionTaskScheduled",
            {"taskList": {"name": "d3"}, "taskPriority": "-3", "startToCloseTimeout": "7", "scheduleToStartTimeout": "NONE"},
        ),
    ]
    described = flow.describe(r3)
    assert described["executionConfiguration"] == {
        "taskStartToCloseTimeout": "7",
        "executionStartToCloseTimeout": "77",
        "taskList": {"name": "d3"},
        "taskPriority": "-3",
        "childPolicy": "REQUEST_CANCEL",
        "lambdaRole": "arn:aws:iam::1:role/r3",
    }
    assert described["executionInfo"]["tagList"] == ["b", "c"]
    # the new run's own execution timeout runs from its start
    flow.sleep(77)
    assert flow.seq(r3)[-1] == ("WorkflowExecutionTimedOut", {"timeoutType": "START_TO_CLOSE", "childPolicy": "REQUEST_CANCEL"})


def test_another_type_version_and_its_defaults(flow: Flow) -> None:
    flow.swf.register_workflow_type(
        domain=DOMAIN,
        name=WF["name"],
        version="2",
        defaultTaskList={"name": "v2"},
        defaultExecutionStartToCloseTimeout="200",
        defaultTaskStartToCloseTimeout="20",
        defaultChildPolicy="ABANDON",
        defaultTaskPriority="3",
        defaultLambdaRole="arn:aws:iam::1:role/v2",
    )
    r1 = flow.start()
    flow.decide(continue_as_new(workflowTypeVersion="2"))
    r2 = new_run_of(flow, r1)
    v2 = {"name": WF["name"], "version": "2"}
    settings = {
        "executionStartToCloseTimeout": "200",
        "taskList": {"name": "v2"},
        "taskPriority": "3",
        "taskStartToCloseTimeout": "20",
        "childPolicy": "ABANDON",
    }
    assert flow.seq(r1)[4] == (
        "WorkflowExecutionContinuedAsNew",
        {
            "decisionTaskCompletedEventId": 4,
            "newExecutionRunId": r2,
            **settings,
            "workflowType": v2,
            "lambdaRole": "arn:aws:iam::1:role/v2",
        },
    )
    assert flow.seq(r2)[0] == (
        "WorkflowExecutionStarted",
        {
            **settings,
            "workflowType": v2,
            "continuedExecutionRunId": r1,
            "parentInitiatedEventId": 0,
            "lambdaRole": "arn:aws:iam::1:role/v2",
        },
    )
    assert flow.describe(r2)["executionInfo"]["workflowType"] == v2
    task = flow.poll("v2")
    assert task["workflowType"] == v2
    # without workflowTypeVersion, the current run's version goes on
    flow.respond(task, continue_as_new())
    r3 = new_run_of(flow, r2)
    assert flow.describe(r3)["executionInfo"]["workflowType"] == v2


def test_unhandled_decision(flow: Flow) -> None:
    r1 = flow.start()
    task = flow.poll()
    flow.swf.signal_workflow_execution(domain=DOMAIN, workflowId="w1", signalName="s")
    flow.respond(task, timer("t", "10"), continue_as_new(input="x"))
    assert flow.seq(r1)[3:] == [
        ("WorkflowExecutionSignaled", {"signalName": "s", "externalInitiatedEventId": 0}),
        ("DecisionTaskScheduled", DTS),
        ("DecisionTaskCompleted", {"scheduledEventId": 2, "startedEventId": 3}),
        ("TimerStarted", {"timerId": "t", "startToFireTimeout": "10", "decisionTaskCompletedEventId": 6}),
        ("ContinueAsNewWorkflowExecutionFailed", {"cause": "UNHANDLED_DECISION", "decisionTaskCompletedEventId": 6}),
    ]
    assert flow.open_runs() == [("w1", r1)]
    task = flow.poll()
    assert (task["workflowExecution"]["runId"], task["startedEventId"]) == (r1, 9)


def test_type_failures_and_unresolved_defaults(flow: Flow) -> None:
    swf = flow.swf
    swf.register_workflow_type(domain=DOMAIN, name=BARE["name"], version=BARE["version"])
    full = {
        "executionStartToCloseTimeout": "600",
        "taskList": {"name": "deciders"},
        "taskStartToCloseTimeout": "60",
        "childPolicy": "TERMINATE",
    }
    r1 = flow.start(workflowType=BARE, **full)

    def without(member: str) -> dict[str, Any]:
        return {k: v for k, v in full.items() if k != member}

    cases = [
        (continue_as_new(workflowTypeVersion="9"), "WORKFLOW_TYPE_DOES_NOT_EXIST"),
        (continue_as_new(**without("executionStartToCloseTimeout")), "DEFAULT_EXECUTION_START_TO_CLOSE_TIMEOUT_UNDEFINED"),
        (continue_as_new(**without("taskList")), "DEFAULT_TASK_LIST_UNDEFINED"),
        (continue_as_new(**without("taskStartToCloseTimeout")), "DEFAULT_TASK_START_TO_CLOSE_TIMEOUT_UNDEFINED"),
        (continue_as_new(**without("childPolicy")), "DEFAULT_CHILD_POLICY_UNDEFINED"),
        (continue_as_new(), "DEFAULT_EXECUTION_START_TO_CLOSE_TIMEOUT_UNDEFINED"),  # never copied from the run
    ]
    for n, (d, cause) in enumerate(cases):
        flow.decide(d)
        dtc = 4 + 4 * n
        assert flow.seq(r1)[dtc - 1 :] == [
            ("DecisionTaskCompleted", {"scheduledEventId": dtc - 2, "startedEventId": dtc - 1}),
            ("ContinueAsNewWorkflowExecutionFailed", {"cause": cause, "decisionTaskCompletedEventId": dtc}),
            ("DecisionTaskScheduled", DTS),
        ], cause
    swf.deprecate_workflow_type(domain=DOMAIN, workflowType=BARE)
    flow.decide(continue_as_new(**full))
    assert flow.seq(r1)[-2] == (
        "ContinueAsNewWorkflowExecutionFailed",
        {"cause": "WORKFLOW_TYPE_DEPRECATED", "decisionTaskCompletedEventId": 28},
    )
    assert flow.open_runs() == [("w1", r1)]
    assert close_status(swf, "w1", r1) is None


def test_close_must_be_last(flow: Flow) -> None:
    r1 = flow.start()
    task = flow.poll()
    for batch in ([continue_as_new(), timer("t", "5")], [complete(), continue_as_new()], [continue_as_new(), continue_as_new()]):
        with pytest.raises(ClientError) as info:
            flow.respond(task, *batch)
        error = info.value.response["Error"]
        assert (error["Code"], error["Message"]) == ("ValidationException", "Close must be last decision in list")
    assert len(flow.events(r1)) == 3 and flow.open_runs() == [("w1", r1)]
    flow.respond(task, timer("t", "5"), continue_as_new())
    r2 = new_run_of(flow, r1)
    assert [t for t, _ in flow.seq(r1)][3:] == ["DecisionTaskCompleted", "TimerStarted", "WorkflowExecutionContinuedAsNew"]
    assert flow.open_runs() == [("w1", r2)]


def test_chain_of_runs(flow: Flow) -> None:
    swf = flow.swf
    t0 = flow.now()
    runs = [flow.start(input="0")]
    for n in range(1, 5):
        flow.sleep(10)
        flow.decide(continue_as_new(input=str(n)))
        runs.append(new_run_of(flow, runs[-1]))
    assert len(set(runs)) == 5
    for n in range(1, 5):
        started = flow.seq(runs[n])[0][1]
        assert (started["input"], started["continuedExecutionRunId"]) == (str(n), runs[n - 1])
        assert flow.events(runs[n])[0]["eventTimestamp"] == at(t0 + 10 * n)
    assert "continuedExecutionRunId" not in flow.seq(runs[0])[0][1]

    assert flow.open_runs() == [("w1", runs[-1])]
    assert swf.count_open_workflow_executions(domain=DOMAIN, startTimeFilter={"oldestDate": 0})["count"] == 1
    closed = swf.list_closed_workflow_executions(
        domain=DOMAIN, startTimeFilter={"oldestDate": 0}, closeStatusFilter={"status": "CONTINUED_AS_NEW"}
    )["executionInfos"]
    assert [c["execution"]["runId"] for c in closed] == runs[3::-1]  # newest first
    by_id = swf.list_closed_workflow_executions(
        domain=DOMAIN, startTimeFilter={"oldestDate": 0}, executionFilter={"workflowId": "w1"}
    )["executionInfos"]
    assert len(by_id) == 4
    # calls without a runId reach the newest run
    swf.signal_workflow_execution(domain=DOMAIN, workflowId="w1", signalName="s")
    assert flow.seq(runs[-1])[-1] == ("WorkflowExecutionSignaled", {"signalName": "s", "externalInitiatedEventId": 0})
    swf.terminate_workflow_execution(domain=DOMAIN, workflowId="w1")
    assert close_status(swf, "w1", runs[-1]) == "TERMINATED"
    assert [close_status(swf, "w1", r) for r in runs[:-1]] == ["CONTINUED_AS_NEW"] * 4


def test_the_old_runs_timers_and_activities_die_with_it(flow: Flow) -> None:
    swf = flow.swf
    r1 = flow.start()
    flow.decide(timer("t", "100"), schedule("a1"), timer("z", "0"))
    activity_task = poll_activity(swf)
    flow.decide(schedule("a2"), continue_as_new())
    r2 = new_run_of(flow, r1)
    assert [t for t, _ in flow.seq(r1)][4:] == [
        "TimerStarted",
        "ActivityTaskScheduled",
        "TimerStarted",
        "TimerFired",
        "DecisionTaskScheduled",
        "ActivityTaskStarted",
        "DecisionTaskStarted",
        "DecisionTaskCompleted",
        "ActivityTaskScheduled",
        "WorkflowExecutionContinuedAsNew",
    ]
    count = len(flow.events(r1))
    assert poll_activity(swf)["taskToken"] == ""  # a2 died with r1
    with pytest.raises(ClientError) as info:
        swf.respond_activity_task_completed(taskToken=activity_task["taskToken"], result="late")
    assert info.value.response["Error"]["Code"] == "UnknownResourceFault"
    flow.sleep(1000)
    assert len(flow.events(r1)) == count
    assert [t for t, _ in flow.seq(r2)] == ["WorkflowExecutionStarted", "DecisionTaskScheduled"]
    assert flow.describe(r2)["openCounts"]["openTimers"] == 0
    closed = flow.describe(r1)["executionInfo"]["closeTimestamp"].timestamp()
    assert all(when >= closed + 86400 for when in deadlines_of(flow.env, r1))  # at most its retention
