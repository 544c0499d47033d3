"""Starting, describing, signalling, cancelling, terminating and listing executions; retention; history
paging (swf-semantics.md §2.1, §2.3, §2.5, §3.1, §8)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from backends.local import faults

from .helpers import (
    DOMAIN,
    WF,
    at,
    attrs,
    body,
    complete,
    describe,
    fault,
    history,
    ids_of,
    poll_activity,
    poll_decision,
    schedule,
    setup_domain,
    start,
    terminate,
    types,
    whole_second,
)

EXECUTION_TYPE_DEFAULTS = {
    "executionStartToCloseTimeout": "3600",
    "taskStartToCloseTimeout": "60",
    "childPolicy": "TERMINATE",
    "taskList": {"name": "deciders"},
}


def execution(workflow_id: str, run_id: str) -> dict[str, str]:
    return {"workflowId": workflow_id, "runId": run_id}


def empty_batch(swf: Any, task_list: str = "deciders", **kw: Any) -> dict[str, Any]:
    """Poll a decision task and complete it with no decisions; the run is left without a decision task."""
    task = poll_decision(swf, task_list=task_list)
    swf.respond_decision_task_completed(taskToken=task["taskToken"], decisions=[], **kw)
    return task


# -- StartWorkflowExecution ------------------------------------------------------------------------


def test_run_ids_are_opaque_unique_44_characters(swf: Any) -> None:
    setup_domain(swf)
    run_ids = [start(swf, f"w{i}") for i in range(5)]
    assert all(len(r) == 44 and re.fullmatch(r"[A-Za-z0-9+/=_-]{44}", r) for r in run_ids), run_ids
    assert len(set(run_ids)) == 5


def test_start_while_open_fails_then_restart_after_close(swf: Any) -> None:
    setup_domain(swf)
    first = start(swf, "w1")
    with fault("WorkflowExecutionAlreadyStartedFault"):
        start(swf, "w1", input="again")
    assert swf.count_open_workflow_executions(domain=DOMAIN, startTimeFilter={"oldestDate": 0})["count"] == 1
    assert [e["eventType"] for e in history(swf, first)] == ["WorkflowExecutionStarted", "DecisionTaskScheduled"]
    terminate(swf, "w1")
    second = start(swf, "w1")
    assert second != first and len(second) == 44
    assert describe(swf, first)["executionInfo"]["executionStatus"] == "CLOSED"
    assert describe(swf, second)["executionInfo"]["executionStatus"] == "OPEN"
    with fault("WorkflowExecutionAlreadyStartedFault"):
        start(swf, "w1")
    # the same workflowId in another domain is another execution
    setup_domain(swf, "other")
    assert start(swf, "w1", domain="other") not in (first, second)


def test_start_in_unknown_domain_or_of_unknown_type(swf: Any) -> None:
    setup_domain(swf)
    with fault("UnknownResourceFault", "Unknown domain: nope"):
        swf.start_workflow_execution(domain="nope", workflowId="w1", workflowType=WF)
    with fault("UnknownResourceFault", "Unknown type: WorkflowType=[name=wf, version=9]"):
        swf.start_workflow_execution(domain=DOMAIN, workflowId="w1", workflowType={"name": "wf", "version": "9"})
    with fault("UnknownResourceFault", "Unknown type: WorkflowType=[name=act, version=1]"):  # an activity type
        swf.start_workflow_execution(domain=DOMAIN, workflowId="w1", workflowType={"name": "act", "version": "1"})
    assert swf.count_open_workflow_executions(domain=DOMAIN, startTimeFilter={"oldestDate": 0})["count"] == 0


def test_start_of_deprecated_or_deleted_type(swf: Any) -> None:
    setup_domain(swf)
    running = start(swf, "running")
    swf.deprecate_workflow_type(domain=DOMAIN, workflowType=WF)
    with fault("TypeDeprecatedFault"):
        start(swf, "w1")
    # existing runs go on
    assert describe(swf, running, "running")["executionInfo"]["executionStatus"] == "OPEN"
    swf.signal_workflow_execution(domain=DOMAIN, workflowId="running", signalName="still-here")
    swf.delete_workflow_type(domain=DOMAIN, workflowType=WF)
    with fault("UnknownResourceFault", "Unknown type: WorkflowType=[name=wf, version=1]"):
        start(swf, "w1")
    assert swf.count_open_workflow_executions(domain=DOMAIN, startTimeFilter={"oldestDate": 0})["count"] == 1


def test_start_in_deprecated_domain(swf: Any) -> None:
    setup_domain(swf)
    swf.deprecate_domain(name=DOMAIN)
    with fault("TypeDeprecatedFault"):  # its types are deprecated too (§3.2 [E])
        start(swf, "w1")
    assert swf.count_open_workflow_executions(domain=DOMAIN, startTimeFilter={"oldestDate": 0})["count"] == 0


def test_default_undefined_for_each_unresolved_setting(swf: Any) -> None:
    setup_domain(swf)
    bare = {"name": "bare", "version": "1"}
    swf.register_workflow_type(domain=DOMAIN, **bare)
    given: dict[str, Any] = {}
    for member in ("executionStartToCloseTimeout", "taskList", "taskStartToCloseTimeout", "childPolicy"):
        # the documented check order (§3.1)
        with fault("DefaultUndefinedFault") as caught:
            swf.start_workflow_execution(domain=DOMAIN, workflowId="w1", workflowType=bare, **given)
        assert member in caught[0].response["Error"]["Message"]
        given[member] = EXECUTION_TYPE_DEFAULTS[member]
    assert swf.count_open_workflow_executions(domain=DOMAIN, startTimeFilter={"oldestDate": 0})["count"] == 0
    run_id = swf.start_workflow_execution(domain=DOMAIN, workflowId="w1", workflowType=bare, **given)["runId"]
    started = attrs(history(swf, run_id)[0])
    assert started == {**EXECUTION_TYPE_DEFAULTS, "workflowType": bare, "parentInitiatedEventId": 0}


def test_default_undefined_for_one_missing_type_default(swf: Any) -> None:
    setup_domain(swf)
    partial = {"name": "partial", "version": "1"}
    swf.register_workflow_type(
        domain=DOMAIN,
        **partial,
        defaultExecutionStartToCloseTimeout="100",
        defaultTaskStartToCloseTimeout="10",
        defaultChildPolicy="ABANDON",
    )
    with fault("DefaultUndefinedFault") as caught:
        swf.start_workflow_execution(domain=DOMAIN, workflowId="w1", workflowType=partial)
    assert "taskList" in caught[0].response["Error"]["Message"]
    run_id = swf.start_workflow_execution(
        domain=DOMAIN, workflowId="w1", workflowType=partial, taskList={"name": "given"}
    )["runId"]
    assert describe(swf, run_id)["executionConfiguration"] == {
        "taskStartToCloseTimeout": "10",
        "executionStartToCloseTimeout": "100",
        "taskList": {"name": "given"},
        "childPolicy": "ABANDON",
    }


def test_execution_timeout_none_and_over_a_year_are_rejected(swf: Any) -> None:
    setup_domain(swf)
    with fault("ValidationException"):
        start(swf, "w1", executionStartToCloseTimeout="NONE")
    with fault("ValidationException"):
        start(swf, "w1", executionStartToCloseTimeout="31536001")
    with fault(
        "ValidationException",
        "1 validation error detected: Value 'soon' at 'executionStartToCloseTimeout' failed to satisfy "
        "constraint: Member must be a number of seconds or NONE",
    ):
        start(swf, "w1", executionStartToCloseTimeout="soon")
    assert swf.count_open_workflow_executions(domain=DOMAIN, startTimeFilter={"oldestDate": 0})["count"] == 0
    run_id = start(swf, "w1", executionStartToCloseTimeout="31536000")
    assert describe(swf, run_id)["executionConfiguration"]["executionStartToCloseTimeout"] == "31536000"


def test_start_with_more_than_five_tags(swf: Any) -> None:
    setup_domain(swf)
    with fault("ValidationException") as caught:
        start(swf, "w1", tagList=["a", "b", "c", "d", "e", "f"])
    assert caught[0].response["Error"]["Message"].endswith(
        "at 'tagList' failed to satisfy constraint: Member must have length less than or equal to 5"
    )
    assert swf.count_open_workflow_executions(domain=DOMAIN, startTimeFilter={"oldestDate": 0})["count"] == 0
    run_id = start(swf, "w1", tagList=["a", "b", "c", "d", "e"])
    assert describe(swf, run_id)["executionInfo"]["tagList"] == ["a", "b", "c", "d", "e"]


def test_start_with_bad_members(swf: Any) -> None:
    setup_domain(swf)
    with fault("ValidationException") as caught:
        start(swf, "a:b")
    assert "at 'workflowId' failed to satisfy constraint: Member must not contain ':'" in (
        caught[0].response["Error"]["Message"]
    )
    with fault("ValidationException"):
        start(swf, "w" * 257)
    with fault("ValidationException") as caught:
        start(swf, "w1", taskList={"name": "a|b"})
    assert "at 'taskList.name' failed to satisfy constraint" in caught[0].response["Error"]["Message"]
    with fault("ValidationException"):
        start(swf, "w1", input="x" * 32769)
    with fault(
        "ValidationException",
        "1 validation error detected: Value 'KILL' at 'childPolicy' failed to satisfy constraint: "
        "Member must satisfy enum value set: [TERMINATE, REQUEST_CANCEL, ABANDON]",
    ):
        start(swf, "w1", childPolicy="KILL")
    with fault("ValidationException"):
        start(swf, "w1", taskPriority="urgent")
    with fault(
        "ValidationException",
        "1 validation error detected: Value '2147483648' at 'taskPriority' failed to satisfy constraint: "
        "Member must be an integer between -2147483648 and 2147483647",
    ):
        start(swf, "w1", taskPriority="2147483648")
    assert swf.count_open_workflow_executions(domain=DOMAIN, startTimeFilter={"oldestDate": 0})["count"] == 0


def test_started_event_resolves_settings_from_type_defaults(swf: Any) -> None:
    setup_domain(swf)
    run_id = start(swf, "w1", input="in")
    events = history(swf, run_id)
    assert types(events) == ["WorkflowExecutionStarted", "DecisionTaskScheduled"]
    assert attrs(events[0]) == {
        "input": "in",
        **EXECUTION_TYPE_DEFAULTS,
        "workflowType": WF,
        "parentInitiatedEventId": 0,
    }
    assert attrs(events[1]) == {
        "taskList": {"name": "deciders"},
        "startToCloseTimeout": "60",
        "scheduleToStartTimeout": "NONE",
    }
    assert [e["eventId"] for e in events] == [1, 2]
    assert events[0]["eventTimestamp"] == events[1]["eventTimestamp"]


def test_started_event_takes_request_values_over_defaults(swf: Any) -> None:
    setup_domain(swf)
    role = "arn:aws:iam::000000000000:role/lambda"
    run_id = start(
        swf,
        "w1",
        taskList={"name": "custom"},
        executionStartToCloseTimeout="120",
        taskStartToCloseTimeout="NONE",
        childPolicy="ABANDON",
        taskPriority="7",
        tagList=["x", "y"],
        lambdaRole=role,
    )
    events = history(swf, run_id)
    assert attrs(events[0]) == {
        "executionStartToCloseTimeout": "120",
        "taskStartToCloseTimeout": "NONE",
        "childPolicy": "ABANDON",
        "taskList": {"name": "custom"},
        "taskPriority": "7",
        "workflowType": WF,
        "tagList": ["x", "y"],
        "parentInitiatedEventId": 0,
        "lambdaRole": role,
    }
    assert attrs(events[1]) == {
        "taskList": {"name": "custom"},
        "taskPriority": "7",
        "startToCloseTimeout": "NONE",
        "scheduleToStartTimeout": "NONE",
    }
    assert swf.count_pending_decision_tasks(domain=DOMAIN, taskList={"name": "custom"})["count"] == 1
    assert swf.count_pending_decision_tasks(domain=DOMAIN, taskList={"name": "deciders"})["count"] == 0
    assert describe(swf, run_id)["executionConfiguration"] == {
        "taskStartToCloseTimeout": "NONE",
        "executionStartToCloseTimeout": "120",
        "taskList": {"name": "custom"},
        "taskPriority": "7",
        "childPolicy": "ABANDON",
        "lambdaRole": role,
    }


def test_task_priority_from_type_default_and_explicit_zero(swf: Any) -> None:
    setup_domain(swf)
    prioritized = {"name": "prio", "version": "1"}
    swf.register_workflow_type(
        domain=DOMAIN,
        **prioritized,
        defaultTaskList={"name": "deciders"},
        defaultExecutionStartToCloseTimeout="60",
        defaultTaskStartToCloseTimeout="10",
        defaultChildPolicy="TERMINATE",
        defaultTaskPriority="3",
        defaultLambdaRole="role-from-type",
    )
    by_default = swf.start_workflow_execution(domain=DOMAIN, workflowId="w1", workflowType=prioritized)["runId"]
    started = attrs(history(swf, by_default)[0])
    assert (started["taskPriority"], started["lambdaRole"]) == ("3", "role-from-type")
    assert attrs(history(swf, by_default)[1])["taskPriority"] == "3"
    explicit = swf.start_workflow_execution(
        domain=DOMAIN, workflowId="w2", workflowType=prioritized, taskPriority="0"
    )["runId"]
    assert attrs(history(swf, explicit, "w2")[0])["taskPriority"] == "0"
    plain = start(swf, "w3", taskPriority="-5")
    assert attrs(history(swf, plain, "w3")[0])["taskPriority"] == "-5"


# -- DescribeWorkflowExecution -----------------------------------------------------------------


def test_describe_a_new_run(env: Any) -> None:
    swf = env.client
    t0 = whole_second(env, 10)
    setup_domain(swf)
    run_id = start(swf, "w1", tagList=["t1"])
    assert describe(swf, run_id) == {
        "executionInfo": {
            "execution": execution("w1", run_id),
            "workflowType": WF,
            "startTimestamp": at(t0),
            "executionStatus": "OPEN",
            "tagList": ["t1"],
            "cancelRequested": False,
        },
        "executionConfiguration": {
            "taskStartToCloseTimeout": "60",
            "executionStartToCloseTimeout": "3600",
            "taskList": {"name": "deciders"},
            "childPolicy": "TERMINATE",
        },
        "openCounts": {
            "openActivityTasks": 0,
            "openDecisionTasks": 1,
            "openTimers": 0,
            "openChildWorkflowExecutions": 0,
            "openLambdaFunctions": 0,
        },
    }


def test_describe_unknown_execution(swf: Any) -> None:
    setup_domain(swf)
    run_id = start(swf, "w1")
    with fault("UnknownResourceFault", "Unknown execution: WorkflowExecution=[workflowId=w1, runId=nope]"):
        swf.describe_workflow_execution(domain=DOMAIN, execution=execution("w1", "nope"))
    with fault("UnknownResourceFault"):  # the runId belongs to another workflowId
        swf.describe_workflow_execution(domain=DOMAIN, execution=execution("w2", run_id))
    with fault("UnknownResourceFault", "Unknown domain: nope"):
        swf.describe_workflow_execution(domain="nope", execution=execution("w1", run_id))
    with fault("UnknownResourceFault", "Unknown execution: WorkflowExecution=[workflowId=w1, runId=nope]"):
        swf.get_workflow_execution_history(domain=DOMAIN, execution=execution("w1", "nope"))
    with fault("UnknownResourceFault"):
        swf.get_workflow_execution_history(domain=DOMAIN, execution=execution("w9", run_id))
    with fault("UnknownResourceFault", "Unknown domain: nope"):
        swf.get_workflow_execution_history(domain="nope", execution=execution("w1", run_id))


def test_describe_tracks_activities_and_execution_context(env: Any) -> None:
    swf = env.client
    t0 = whole_second(env, 10)
    setup_domain(swf)
    run_id = start(swf, "w1")
    env.sleep(5)
    task = poll_decision(swf)
    started = describe(swf, run_id)
    assert started["openCounts"]["openDecisionTasks"] == 1
    assert "latestActivityTaskTimestamp" not in started and "latestExecutionContext" not in started
    env.sleep(1)
    swf.respond_decision_task_completed(
        taskToken=task["taskToken"], decisions=[schedule("a1")], executionContext="step-1"
    )
    scheduled = describe(swf, run_id)
    assert scheduled["latestExecutionContext"] == "step-1"
    assert scheduled["latestActivityTaskTimestamp"] == at(t0 + 6)
    assert scheduled["openCounts"] == {
        "openActivityTasks": 1,
        "openDecisionTasks": 0,
        "openTimers": 0,
        "openChildWorkflowExecutions": 0,
        "openLambdaFunctions": 0,
    }
    env.sleep(4)
    activity = poll_activity(swf)
    assert describe(swf, run_id)["latestActivityTaskTimestamp"] == at(t0 + 10)  # started
    env.sleep(5)
    swf.respond_activity_task_completed(taskToken=activity["taskToken"], result="r")
    completed = describe(swf, run_id)
    assert completed["latestActivityTaskTimestamp"] == at(t0 + 15)
    assert completed["openCounts"]["openActivityTasks"] == 0
    assert completed["openCounts"]["openDecisionTasks"] == 1
    assert completed["latestExecutionContext"] == "step-1"
    task = poll_decision(swf)
    timer = {"decisionType": "StartTimer", "startTimerDecisionAttributes": {"timerId": "t", "startToFireTimeout": "100"}}
    swf.respond_decision_task_completed(taskToken=task["taskToken"], decisions=[timer], executionContext="")
    with_timer = describe(swf, run_id)
    assert with_timer["latestExecutionContext"] == ""  # "" is a context too
    assert with_timer["openCounts"] == {
        "openActivityTasks": 0,
        "openDecisionTasks": 0,
        "openTimers": 1,
        "openChildWorkflowExecutions": 0,
        "openLambdaFunctions": 0,
    }
    swf.signal_workflow_execution(domain=DOMAIN, workflowId="w1", signalName="wake")
    empty_batch(swf)  # no executionContext: the last one stays
    latest = describe(swf, run_id)
    assert latest["latestExecutionContext"] == ""
    assert latest["latestActivityTaskTimestamp"] == at(t0 + 15)
    assert (latest["openCounts"]["openDecisionTasks"], latest["openCounts"]["openTimers"]) == (0, 1)


def test_describe_a_closed_run(env: Any) -> None:
    swf = env.client
    t0 = whole_second(env, 10)
    setup_domain(swf)
    run_id = start(swf, "w1")
    env.sleep(30)
    task = poll_decision(swf)
    swf.respond_decision_task_completed(taskToken=task["taskToken"], decisions=[complete("ok")])
    info = describe(swf, run_id)["executionInfo"]
    assert info == {
        "execution": execution("w1", run_id),
        "workflowType": WF,
        "startTimestamp": at(t0),
        "closeTimestamp": at(t0 + 30),
        "executionStatus": "CLOSED",
        "closeStatus": "COMPLETED",
        "cancelRequested": False,
    }


# -- Signal, RequestCancel, Terminate ------------------------------------------------------------


def test_signal_records_event_and_schedules_a_decision_task(swf: Any) -> None:
    setup_domain(swf)
    run_id = start(swf, "w1")
    empty_batch(swf)
    assert describe(swf, run_id)["openCounts"]["openDecisionTasks"] == 0
    swf.signal_workflow_execution(domain=DOMAIN, workflowId="w1", runId=run_id, signalName="go", input="payload")
    events = history(swf, run_id)
    assert types(events[4:]) == ["WorkflowExecutionSignaled", "DecisionTaskScheduled"]
    assert attrs(events[4]) == {"signalName": "go", "input": "payload", "externalInitiatedEventId": 0}
    assert attrs(events[5])["taskList"] == {"name": "deciders"}
    assert events[4]["eventTimestamp"] == events[5]["eventTimestamp"]
    task = poll_decision(swf)
    assert task["startedEventId"] == 7
    assert types(task["events"])[-3:] == ["WorkflowExecutionSignaled", "DecisionTaskScheduled", "DecisionTaskStarted"]


def test_signals_while_a_task_is_pending_share_it(swf: Any) -> None:
    setup_domain(swf)
    run_id = start(swf, "w1")
    swf.signal_workflow_execution(domain=DOMAIN, workflowId="w1", signalName="one")
    swf.signal_workflow_execution(domain=DOMAIN, workflowId="w1", signalName="two", input="2")
    events = history(swf, run_id)
    assert types(events) == [
        "WorkflowExecutionStarted",
        "DecisionTaskScheduled",
        "WorkflowExecutionSignaled",
        "WorkflowExecutionSignaled",
    ]
    assert attrs(events[2]) == {"signalName": "one", "externalInitiatedEventId": 0}
    assert attrs(events[3]) == {"signalName": "two", "input": "2", "externalInitiatedEventId": 0}
    assert swf.count_pending_decision_tasks(domain=DOMAIN, taskList={"name": "deciders"})["count"] == 1


def test_signal_during_a_started_decision_task_schedules_a_held_one(swf: Any) -> None:
    """§14(d)."""
    setup_domain(swf)
    run_id = start(swf, "w1")
    task = poll_decision(swf)
    swf.signal_workflow_execution(domain=DOMAIN, workflowId="w1", signalName="s")
    assert types(history(swf, run_id))[3:] == ["WorkflowExecutionSignaled", "DecisionTaskScheduled"]
    assert describe(swf, run_id)["openCounts"]["openDecisionTasks"] == 1
    swf.respond_decision_task_completed(taskToken=task["taskToken"], decisions=[])
    task = poll_decision(swf)
    assert (task["startedEventId"], task["previousStartedEventId"]) == (7, 3)
    assert types(task["events"])[3:] == [
        "WorkflowExecutionSignaled",
        "DecisionTaskScheduled",
        "DecisionTaskCompleted",
        "DecisionTaskStarted",
    ]


def test_held_decision_task_is_counted_as_pending(swf: Any) -> None:
    """§12: a decision task blocked behind a started one is counted by CountPendingDecisionTasks ([E])."""
    setup_domain(swf)
    start(swf, "w1")
    task = poll_decision(swf)
    assert swf.count_pending_decision_tasks(domain=DOMAIN, taskList={"name": "deciders"})["count"] == 0
    swf.signal_workflow_execution(domain=DOMAIN, workflowId="w1", signalName="s")
    assert body(swf.count_pending_decision_tasks(domain=DOMAIN, taskList={"name": "deciders"})) == {
        "count": 1,
        "truncated": False,
    }
    swf.respond_decision_task_completed(taskToken=task["taskToken"], decisions=[])
    assert swf.count_pending_decision_tasks(domain=DOMAIN, taskList={"name": "deciders"})["count"] == 1
    terminate(swf, "w1")
    assert swf.count_pending_decision_tasks(domain=DOMAIN, taskList={"name": "deciders"})["count"] == 0


def test_signal_without_run_id_targets_the_open_run(swf: Any) -> None:
    setup_domain(swf)
    old = start(swf, "w1")
    terminate(swf, "w1")
    new = start(swf, "w1")
    swf.signal_workflow_execution(domain=DOMAIN, workflowId="w1", signalName="s")
    assert types(history(swf, new))[-1] == "WorkflowExecutionSignaled"
    assert types(history(swf, old))[-1] == "WorkflowExecutionTerminated"
    with fault("UnknownResourceFault") as caught:  # the closed run
        swf.signal_workflow_execution(domain=DOMAIN, workflowId="w1", runId=old, signalName="s")
    assert caught[0].response["Error"]["Message"].startswith("Unknown execution")
    with fault("UnknownResourceFault"):
        swf.signal_workflow_execution(domain=DOMAIN, workflowId="nobody", signalName="s")
    with fault("UnknownResourceFault"):
        swf.signal_workflow_execution(domain=DOMAIN, workflowId="w1", runId="not-a-run", signalName="s")
    with fault("UnknownResourceFault", "Unknown domain: nope"):
        swf.signal_workflow_execution(domain="nope", workflowId="w1", signalName="s")
    assert types(history(swf, old))[-1] == "WorkflowExecutionTerminated"
    assert types(history(swf, new)).count("WorkflowExecutionSignaled") == 1


def test_signal_name_and_input_limits(swf: Any) -> None:
    setup_domain(swf)
    run_id = start(swf, "w1")
    with fault("ValidationException"):
        swf.signal_workflow_execution(domain=DOMAIN, workflowId="w1", signalName="s" * 257)
    with fault("ValidationException"):
        swf.signal_workflow_execution(domain=DOMAIN, workflowId="w1", signalName="s", input="i" * 32769)
    swf.signal_workflow_execution(domain=DOMAIN, workflowId="w1", signalName="s" * 256, input="i" * 32768)
    assert types(history(swf, run_id)) == [
        "WorkflowExecutionStarted",
        "DecisionTaskScheduled",
        "WorkflowExecutionSignaled",
    ]


def test_request_cancel(swf: Any) -> None:
    setup_domain(swf)
    run_id = start(swf, "w1")
    empty_batch(swf)
    assert describe(swf, run_id)["executionInfo"]["cancelRequested"] is False
    swf.request_cancel_workflow_execution(domain=DOMAIN, workflowId="w1")
    events = history(swf, run_id)
    assert types(events[4:]) == ["WorkflowExecutionCancelRequested", "DecisionTaskScheduled"]
    assert attrs(events[4]) == {"externalInitiatedEventId": 0}
    info = describe(swf, run_id)["executionInfo"]
    assert (info["cancelRequested"], info["executionStatus"]) == (True, "OPEN")
    listed = swf.list_open_workflow_executions(domain=DOMAIN, startTimeFilter={"oldestDate": 0})
    assert listed["executionInfos"][0]["cancelRequested"] is True
    swf.request_cancel_workflow_execution(domain=DOMAIN, workflowId="w1", runId=run_id)  # each is recorded [E]
    assert types(history(swf, run_id)[4:]) == [
        "WorkflowExecutionCancelRequested",
        "DecisionTaskScheduled",
        "WorkflowExecutionCancelRequested",
    ]
    assert describe(swf, run_id)["executionInfo"]["cancelRequested"] is True


def test_signal_cancel_terminate_of_closed_or_unknown_run(swf: Any) -> None:
    setup_domain(swf)
    run_id = start(swf, "w1")
    terminate(swf, "w1")
    with fault("UnknownResourceFault"):
        swf.signal_workflow_execution(domain=DOMAIN, workflowId="w1", signalName="late")
    with fault("UnknownResourceFault"):
        swf.signal_workflow_execution(domain=DOMAIN, workflowId="w1", runId=run_id, signalName="late")
    with fault("UnknownResourceFault"):
        terminate(swf, "nobody")
    with fault("UnknownResourceFault", "Unknown domain: nope"):
        terminate(swf, "w1", domain="nope")
    with fault("UnknownResourceFault"):
        swf.request_cancel_workflow_execution(domain=DOMAIN, workflowId="w1")
    with fault("UnknownResourceFault"):
        swf.request_cancel_workflow_execution(domain=DOMAIN, workflowId="w1", runId=run_id)
    with fault("UnknownResourceFault"):
        swf.request_cancel_workflow_execution(domain=DOMAIN, workflowId="nobody")
    assert types(history(swf, run_id))[-1] == "WorkflowExecutionTerminated"
    assert describe(swf, run_id)["executionInfo"]["cancelRequested"] is False


def test_terminate_with_reason_details_and_child_policy(env: Any) -> None:
    swf = env.client
    t0 = whole_second(env, 10)
    setup_domain(swf)
    run_id = start(swf, "w1")
    env.sleep(12)
    swf.terminate_workflow_execution(
        domain=DOMAIN, workflowId="w1", runId=run_id, reason="why", details="how", childPolicy="ABANDON"
    )
    events = history(swf, run_id)
    assert types(events) == ["WorkflowExecutionStarted", "DecisionTaskScheduled", "WorkflowExecutionTerminated"]
    assert attrs(events[2]) == {"reason": "why", "details": "how", "childPolicy": "ABANDON"}
    assert events[2]["eventTimestamp"] == at(t0 + 12)
    info = describe(swf, run_id)["executionInfo"]
    assert (info["executionStatus"], info["closeStatus"], info["closeTimestamp"]) == (
        "CLOSED",
        "TERMINATED",
        at(t0 + 12),
    )


def test_terminate_uses_the_runs_child_policy(swf: Any) -> None:
    setup_domain(swf)
    unharmed = start(swf, "w0")
    with fault("ValidationException"):
        terminate(swf, "w0", reason="r" * 257)
    with fault("ValidationException"):
        terminate(swf, "w0", details="d" * 32769)
    with fault("ValidationException"):
        terminate(swf, "w0", childPolicy="KILL")
    assert describe(swf, unharmed, "w0")["executionInfo"]["executionStatus"] == "OPEN"
    by_type = start(swf, "w1")
    by_request = start(swf, "w2", childPolicy="REQUEST_CANCEL")
    terminate(swf, "w1")
    terminate(swf, "w2")
    assert attrs(history(swf, by_type)[-1]) == {"childPolicy": "TERMINATE"}
    assert attrs(history(swf, by_request, "w2")[-1]) == {"childPolicy": "REQUEST_CANCEL"}


def test_terminate_invalidates_tokens_and_pending_tasks(swf: Any) -> None:
    setup_domain(swf)
    run_id = start(swf, "w1")
    task = poll_decision(swf)
    swf.respond_decision_task_completed(taskToken=task["taskToken"], decisions=[schedule("a1"), schedule("a2")])
    activity = poll_activity(swf)
    swf.signal_workflow_execution(domain=DOMAIN, workflowId="w1", signalName="s")
    task = poll_decision(swf)
    swf.signal_workflow_execution(domain=DOMAIN, workflowId="w1", signalName="s2")  # a held decision task
    assert swf.count_pending_activity_tasks(domain=DOMAIN, taskList={"name": "workers"})["count"] == 1
    terminate(swf, "w1", reason="stop")
    closed_at = len(history(swf, run_id))
    assert types(history(swf, run_id))[-1] == "WorkflowExecutionTerminated"
    with fault("UnknownResourceFault"):
        swf.respond_decision_task_completed(taskToken=task["taskToken"], decisions=[complete()])
    with fault("UnknownResourceFault"):
        swf.respond_activity_task_completed(taskToken=activity["taskToken"], result="late")
    with fault("UnknownResourceFault"):
        swf.record_activity_task_heartbeat(taskToken=activity["taskToken"])
    with fault("UnknownResourceFault"):
        terminate(swf, "w1")
    with fault("UnknownResourceFault"):
        terminate(swf, "w1", runId=run_id)
    assert len(history(swf, run_id)) == closed_at
    assert swf.count_pending_activity_tasks(domain=DOMAIN, taskList={"name": "workers"})["count"] == 0
    # open counts are not reset at close (§8.6 [W])
    assert describe(swf, run_id)["openCounts"]["openActivityTasks"] == 2
    assert swf.count_pending_decision_tasks(domain=DOMAIN, taskList={"name": "deciders"})["count"] == 0


def test_terminate_removes_the_scheduled_decision_task(swf: Any) -> None:
    setup_domain(swf)
    start(swf, "w1")
    start(swf, "w2")
    assert swf.count_pending_decision_tasks(domain=DOMAIN, taskList={"name": "deciders"})["count"] == 2
    terminate(swf, "w1")
    assert body(swf.count_pending_decision_tasks(domain=DOMAIN, taskList={"name": "deciders"})) == {
        "count": 1,
        "truncated": False,
    }
    task = poll_decision(swf)
    assert task["workflowExecution"]["workflowId"] == "w2"


# -- List/Count Open and Closed executions -------------------------------------------------------


class Population:
    """Runs at known whole-second times (t0 + offset):

    a   start 0   wf v1  tags red       closed TERMINATED at 40
    b   start 10  wf v2  tags blue      closed COMPLETED  at 60
    c   start 20  other  tags red,green closed FAILED     at 50
    d   start 30  wf v1                 open
    e   start 70  wf v1  tags red       open
    a   start 80  wf v2                 open (a's second run)
    """

    def __init__(self, env: Any) -> None:
        self.swf = swf = env.client
        self.t0 = t0 = whole_second(env, 10)
        setup_domain(swf)
        for name, version in (("wf", "2"), ("other", "1")):
            swf.register_workflow_type(
                domain=DOMAIN,
                name=name,
                version=version,
                defaultTaskList={"name": "deciders"},
                defaultExecutionStartToCloseTimeout="3600",
                defaultTaskStartToCloseTimeout="60",
                defaultChildPolicy="TERMINATE",
            )
        v2 = {"name": "wf", "version": "2"}
        other = {"name": "other", "version": "1"}
        self.runs: dict[str, str] = {}
        self.runs["a"] = start(swf, "a", tagList=["red"])
        env.sleep(10)
        self.runs["b"] = self._start(v2, "b", tagList=["blue"], taskList={"name": "b-list"})
        env.sleep(10)
        self.runs["c"] = self._start(other, "c", tagList=["red", "green"], taskList={"name": "c-list"})
        env.sleep(10)
        self.runs["d"] = start(swf, "d")
        env.sleep(10)
        terminate(swf, "a")
        env.sleep(10)
        task = poll_decision(swf, task_list="c-list")
        fail = {"decisionType": "FailWorkflowExecution", "failWorkflowExecutionDecisionAttributes": {"reason": "r"}}
        swf.respond_decision_task_completed(taskToken=task["taskToken"], decisions=[fail])
        env.sleep(10)
        task = poll_decision(swf, task_list="b-list")
        swf.respond_decision_task_completed(taskToken=task["taskToken"], decisions=[complete()])
        env.sleep(10)
        self.runs["e"] = start(swf, "e", tagList=["red"])
        env.sleep(10)
        self.runs["a2"] = self._start(v2, "a")
        env.sleep(5)
        assert env.clock.now() == t0 + 85

    def _start(self, workflow_type: dict[str, str], workflow_id: str, **kw: Any) -> str:
        return str(
            self.swf.start_workflow_execution(
                domain=DOMAIN, workflowId=workflow_id, workflowType=workflow_type, **kw
            )["runId"]
        )

    def window(self, oldest: float = 0, latest: float | None = None) -> dict[str, Any]:
        w: dict[str, Any] = {"oldestDate": at(self.t0 + oldest)}
        if latest is not None:
            w["latestDate"] = at(self.t0 + latest)
        return w

    def open(self, **kw: Any) -> list[str]:
        kw.setdefault("startTimeFilter", self.window())
        return ids_of(self.swf.list_open_workflow_executions(domain=DOMAIN, **kw))

    def closed(self, **kw: Any) -> list[str]:
        if "closeTimeFilter" not in kw:
            kw.setdefault("startTimeFilter", self.window())
        return ids_of(self.swf.list_closed_workflow_executions(domain=DOMAIN, **kw))

    def count_open(self, **kw: Any) -> dict[str, Any]:
        kw.setdefault("startTimeFilter", self.window())
        return body(self.swf.count_open_workflow_executions(domain=DOMAIN, **kw))

    def count_closed(self, **kw: Any) -> dict[str, Any]:
        if "closeTimeFilter" not in kw:
            kw.setdefault("startTimeFilter", self.window())
        return body(self.swf.count_closed_workflow_executions(domain=DOMAIN, **kw))


@pytest.fixture
def population(env: Any) -> Population:
    return Population(env)


def test_list_without_filters_newest_first(population: Population) -> None:
    p = population
    assert p.open() == ["a", "e", "d"]
    assert p.open(reverseOrder=True) == ["d", "e", "a"]
    assert p.closed() == ["c", "b", "a"]  # by start time
    assert p.closed(reverseOrder=True) == ["a", "b", "c"]
    assert p.closed(closeTimeFilter=p.window()) == ["b", "c", "a"]  # by close time
    assert p.closed(closeTimeFilter=p.window(), reverseOrder=True) == ["a", "c", "b"]
    assert p.count_open() == {"count": 3, "truncated": False}
    assert p.count_closed() == {"count": 3, "truncated": False}
    assert p.count_closed(closeTimeFilter=p.window()) == {"count": 3, "truncated": False}


def test_listed_execution_infos(population: Population) -> None:
    p = population
    closed = p.swf.list_closed_workflow_executions(domain=DOMAIN, startTimeFilter=p.window())["executionInfos"]
    assert closed == [
        {
            "execution": execution("c", p.runs["c"]),
            "workflowType": {"name": "other", "version": "1"},
            "startTimestamp": at(p.t0 + 20),
            "closeTimestamp": at(p.t0 + 50),
            "executionStatus": "CLOSED",
            "closeStatus": "FAILED",
            "tagList": ["red", "green"],
            "cancelRequested": False,
        },
        {
            "execution": execution("b", p.runs["b"]),
            "workflowType": {"name": "wf", "version": "2"},
            "startTimestamp": at(p.t0 + 10),
            "closeTimestamp": at(p.t0 + 60),
            "executionStatus": "CLOSED",
            "closeStatus": "COMPLETED",
            "tagList": ["blue"],
            "cancelRequested": False,
        },
        {
            "execution": execution("a", p.runs["a"]),
            "workflowType": WF,
            "startTimestamp": at(p.t0),
            "closeTimestamp": at(p.t0 + 40),
            "executionStatus": "CLOSED",
            "closeStatus": "TERMINATED",
            "tagList": ["red"],
            "cancelRequested": False,
        },
    ]
    opened = p.swf.list_open_workflow_executions(domain=DOMAIN, startTimeFilter=p.window(30, 30))["executionInfos"]
    assert opened == [
        {
            "execution": execution("d", p.runs["d"]),
            "workflowType": WF,
            "startTimestamp": at(p.t0 + 30),
            "executionStatus": "OPEN",
            "cancelRequested": False,
        }
    ]


def test_time_windows_are_inclusive(population: Population) -> None:
    p = population
    assert p.closed(startTimeFilter=p.window(10, 20)) == ["c", "b"]
    assert p.closed(startTimeFilter=p.window(10, 10)) == ["b"]
    assert p.closed(startTimeFilter=p.window(11, 19)) == []
    assert p.closed(startTimeFilter=p.window(1, 20)) == ["c", "b"]
    assert p.closed(closeTimeFilter=p.window(50, 50)) == ["c"]
    assert p.closed(closeTimeFilter=p.window(40, 50)) == ["c", "a"]
    assert p.closed(closeTimeFilter=p.window(41, 59)) == ["c"]
    assert p.closed(closeTimeFilter=p.window(61)) == []
    assert p.open(startTimeFilter=p.window(70)) == ["a", "e"]
    assert p.open(startTimeFilter=p.window(0, 70)) == ["e", "d"]
    assert p.open(startTimeFilter=p.window(81)) == []
    assert p.count_closed(closeTimeFilter=p.window(40, 50)) == {"count": 2, "truncated": False}
    assert p.count_open(startTimeFilter=p.window(30, 70)) == {"count": 2, "truncated": False}


def test_execution_filter(population: Population) -> None:
    p = population
    assert p.open(executionFilter={"workflowId": "a"}) == ["a"]
    assert p.closed(executionFilter={"workflowId": "a"}) == ["a"]
    open_a = p.swf.list_open_workflow_executions(
        domain=DOMAIN, startTimeFilter=p.window(), executionFilter={"workflowId": "a"}
    )["executionInfos"]
    assert open_a[0]["execution"] == execution("a", p.runs["a2"])
    closed_a = p.swf.list_closed_workflow_executions(
        domain=DOMAIN, startTimeFilter=p.window(), executionFilter={"workflowId": "a"}
    )["executionInfos"]
    assert closed_a[0]["execution"] == execution("a", p.runs["a"])
    assert p.closed(closeTimeFilter=p.window(), executionFilter={"workflowId": "b"}) == ["b"]
    assert p.closed(closeTimeFilter=p.window(41), executionFilter={"workflowId": "a"}) == []
    assert p.open(executionFilter={"workflowId": "a"}, startTimeFilter=p.window(0, 79)) == []
    assert p.open(executionFilter={"workflowId": "nobody"}) == []
    assert p.count_open(executionFilter={"workflowId": "a"}) == {"count": 1, "truncated": False}
    assert p.count_closed(executionFilter={"workflowId": "d"}) == {"count": 0, "truncated": False}


def test_type_filter_with_and_without_version(population: Population) -> None:
    p = population
    assert p.closed(typeFilter={"name": "wf"}) == ["b", "a"]
    assert p.closed(typeFilter={"name": "wf", "version": "2"}) == ["b"]
    assert p.closed(typeFilter={"name": "wf", "version": "1"}) == ["a"]
    assert p.closed(typeFilter={"name": "other"}) == ["c"]
    assert p.closed(typeFilter={"name": "other", "version": "2"}) == []
    assert p.closed(typeFilter={"name": "wf"}, closeTimeFilter=p.window()) == ["b", "a"]
    assert p.open(typeFilter={"name": "wf"}) == ["a", "e", "d"]
    assert p.open(typeFilter={"name": "wf", "version": "1"}) == ["e", "d"]
    assert p.open(typeFilter={"name": "wf", "version": "2"}, reverseOrder=True) == ["a"]
    assert p.open(typeFilter={"name": "other"}) == []
    assert p.count_open(typeFilter={"name": "wf", "version": "1"}) == {"count": 2, "truncated": False}
    assert p.count_closed(typeFilter={"name": "wf"}) == {"count": 2, "truncated": False}


def test_tag_filter(population: Population) -> None:
    p = population
    assert p.closed(tagFilter={"tag": "red"}) == ["c", "a"]
    assert p.closed(tagFilter={"tag": "green"}) == ["c"]
    assert p.closed(tagFilter={"tag": "gree"}) == []  # exact match only
    assert p.closed(tagFilter={"tag": "red"}, closeTimeFilter=p.window(45)) == ["c"]
    assert p.open(tagFilter={"tag": "red"}) == ["e"]
    assert p.open(tagFilter={"tag": "blue"}) == []
    assert p.count_closed(tagFilter={"tag": "red"}) == {"count": 2, "truncated": False}
    assert p.count_open(tagFilter={"tag": "red"}) == {"count": 1, "truncated": False}


def test_close_status_filter(population: Population) -> None:
    p = population
    assert p.closed(closeStatusFilter={"status": "TERMINATED"}) == ["a"]
    assert p.closed(closeStatusFilter={"status": "COMPLETED"}) == ["b"]
    assert p.closed(closeStatusFilter={"status": "FAILED"}) == ["c"]
    for status in ("CANCELED", "CONTINUED_AS_NEW", "TIMED_OUT"):
        assert p.closed(closeStatusFilter={"status": status}) == []
    assert p.closed(closeStatusFilter={"status": "COMPLETED"}, closeTimeFilter=p.window(60, 60)) == ["b"]
    assert p.closed(closeStatusFilter={"status": "COMPLETED"}, closeTimeFilter=p.window(0, 59)) == []
    assert p.closed(closeStatusFilter={"status": "FAILED"}, startTimeFilter=p.window(21)) == []
    assert p.count_closed(closeStatusFilter={"status": "TERMINATED"}) == {"count": 1, "truncated": False}
    with fault("ValidationException"):
        p.closed(closeStatusFilter={"status": "DONE"})


def test_filters_are_mutually_exclusive(population: Population) -> None:
    p = population
    swf = p.swf
    pairs = [
        {"executionFilter": {"workflowId": "a"}, "typeFilter": {"name": "wf"}},
        {"executionFilter": {"workflowId": "a"}, "tagFilter": {"tag": "red"}},
        {"typeFilter": {"name": "wf"}, "tagFilter": {"tag": "red"}},
    ]
    closed_pairs = [
        *pairs,
        {"tagFilter": {"tag": "red"}, "closeStatusFilter": {"status": "FAILED"}},
        {"executionFilter": {"workflowId": "a"}, "closeStatusFilter": {"status": "TERMINATED"}},
        {"typeFilter": {"name": "wf"}, "closeStatusFilter": {"status": "COMPLETED"}},
    ]
    for filters in pairs:
        with fault("ValidationException"):
            swf.list_open_workflow_executions(domain=DOMAIN, startTimeFilter=p.window(), **filters)
        with fault("ValidationException"):
            swf.count_open_workflow_executions(domain=DOMAIN, startTimeFilter=p.window(), **filters)
    for filters in closed_pairs:
        with fault("ValidationException"):
            swf.list_closed_workflow_executions(domain=DOMAIN, startTimeFilter=p.window(), **filters)
        with fault("ValidationException"):
            swf.count_closed_workflow_executions(domain=DOMAIN, closeTimeFilter=p.window(), **filters)


def test_closed_needs_exactly_one_time_filter(population: Population) -> None:
    p = population
    swf = p.swf
    with fault("ValidationException"):
        swf.list_closed_workflow_executions(domain=DOMAIN)
    with fault("ValidationException"):
        swf.count_closed_workflow_executions(domain=DOMAIN)
    with fault("ValidationException"):
        swf.list_closed_workflow_executions(domain=DOMAIN, startTimeFilter=p.window(), closeTimeFilter=p.window())
    with fault("ValidationException"):
        swf.count_closed_workflow_executions(domain=DOMAIN, startTimeFilter=p.window(), closeTimeFilter=p.window())


def test_open_needs_a_start_time_filter_and_a_known_domain(swf: Any) -> None:
    setup_domain(swf)
    engine = swf.flowser_engine
    with pytest.raises(faults.ValidationException) as info:
        engine.handle("ListOpenWorkflowExecutions", {"domain": DOMAIN})
    assert info.value.message == (
        "1 validation error detected: Value null at 'startTimeFilter' failed to satisfy constraint: "
        "Member must not be null"
    )
    with pytest.raises(faults.ValidationException):
        engine.handle("CountOpenWorkflowExecutions", {"domain": DOMAIN})
    with pytest.raises(faults.ValidationException):
        engine.handle("ListOpenWorkflowExecutions", {"domain": DOMAIN, "startTimeFilter": {}})
    for call in (
        swf.list_open_workflow_executions,
        swf.count_open_workflow_executions,
        swf.list_closed_workflow_executions,
        swf.count_closed_workflow_executions,
    ):
        with fault("UnknownResourceFault", "Unknown domain: nope"):
            call(domain="nope", startTimeFilter={"oldestDate": 0})


def test_list_paging(population: Population) -> None:
    p = population
    swf = p.swf
    first = swf.list_closed_workflow_executions(domain=DOMAIN, startTimeFilter=p.window(), maximumPageSize=2)
    assert ids_of(first) == ["c", "b"]
    second = swf.list_closed_workflow_executions(
        domain=DOMAIN, startTimeFilter=p.window(), maximumPageSize=2, nextPageToken=first["nextPageToken"]
    )
    assert ids_of(second) == ["a"] and "nextPageToken" not in second
    one = swf.list_open_workflow_executions(
        domain=DOMAIN, startTimeFilter=p.window(), maximumPageSize=1, reverseOrder=True
    )
    pages = [ids_of(one)]
    while "nextPageToken" in one:
        one = swf.list_open_workflow_executions(
            domain=DOMAIN,
            startTimeFilter=p.window(),
            maximumPageSize=1,
            reverseOrder=True,
            nextPageToken=one["nextPageToken"],
        )
        pages.append(ids_of(one))
    assert pages == [["d"], ["e"], ["a"]]
    full = swf.list_open_workflow_executions(domain=DOMAIN, startTimeFilter=p.window(), maximumPageSize=3)
    assert ids_of(full) == ["a", "e", "d"] and "nextPageToken" not in full
    collected = [
        info["execution"]["workflowId"]
        for page in swf.get_paginator("list_closed_workflow_executions").paginate(
            domain=DOMAIN, closeTimeFilter=p.window(), PaginationConfig={"PageSize": 1}
        )
        for info in page["executionInfos"]
    ]
    assert collected == ["b", "c", "a"]


def test_list_page_token_misuse(population: Population) -> None:
    p = population
    swf = p.swf
    token = swf.list_closed_workflow_executions(domain=DOMAIN, startTimeFilter=p.window(), maximumPageSize=1)[
        "nextPageToken"
    ]
    with fault("ValidationException"):  # another filter
        swf.list_closed_workflow_executions(
            domain=DOMAIN, startTimeFilter=p.window(), tagFilter={"tag": "red"}, maximumPageSize=1, nextPageToken=token
        )
    with fault("ValidationException"):  # another window
        swf.list_closed_workflow_executions(
            domain=DOMAIN, startTimeFilter=p.window(5), maximumPageSize=1, nextPageToken=token
        )
    with fault("ValidationException"):  # another order
        swf.list_closed_workflow_executions(
            domain=DOMAIN, startTimeFilter=p.window(), reverseOrder=True, maximumPageSize=1, nextPageToken=token
        )
    with fault("ValidationException"):  # the open list
        swf.list_open_workflow_executions(
            domain=DOMAIN, startTimeFilter=p.window(), maximumPageSize=1, nextPageToken=token
        )
    for garbage in ("garbage", "AAAA", token[:-4]):
        with fault("ValidationException"):
            swf.list_closed_workflow_executions(
                domain=DOMAIN, startTimeFilter=p.window(), maximumPageSize=1, nextPageToken=garbage
            )
    with fault("ValidationException"):
        swf.list_open_workflow_executions(domain=DOMAIN, startTimeFilter=p.window(), maximumPageSize=1001)
    # the right token still works after the misuses
    page = swf.list_closed_workflow_executions(
        domain=DOMAIN, startTimeFilter=p.window(), maximumPageSize=1, nextPageToken=token
    )
    assert ids_of(page) == ["b"]


def test_lists_see_closing_at_once(swf: Any) -> None:
    setup_domain(swf)
    start(swf, "w1")
    window = {"oldestDate": 0}
    assert body(swf.count_open_workflow_executions(domain=DOMAIN, startTimeFilter=window)) == {
        "count": 1,
        "truncated": False,
    }
    terminate(swf, "w1")
    assert swf.count_open_workflow_executions(domain=DOMAIN, startTimeFilter=window)["count"] == 0
    assert swf.list_open_workflow_executions(domain=DOMAIN, startTimeFilter=window)["executionInfos"] == []
    assert swf.count_closed_workflow_executions(domain=DOMAIN, startTimeFilter=window)["count"] == 1
    assert swf.count_closed_workflow_executions(domain=DOMAIN, closeTimeFilter=window)["count"] == 1
    # other domains do not see it
    setup_domain(swf, "other")
    start(swf, "elsewhere", domain="other")
    assert ids_of(swf.list_open_workflow_executions(domain="other", startTimeFilter=window)) == ["elsewhere"]
    assert swf.list_closed_workflow_executions(domain="other", startTimeFilter=window)["executionInfos"] == []
    assert swf.list_open_workflow_executions(domain=DOMAIN, startTimeFilter=window)["executionInfos"] == []


def test_a_deprecated_domain_keeps_its_runs_working(swf: Any) -> None:
    """§2.1, §3.2: deprecation blocks creation only; runs, tasks and visibility go on."""
    setup_domain(swf)
    run_id = start(swf, "w1")
    start(swf, "w2", taskList={"name": "second"})
    task = poll_decision(swf)
    swf.respond_decision_task_completed(taskToken=task["taskToken"], decisions=[schedule("a1")])
    swf.deprecate_domain(name=DOMAIN)
    window = {"oldestDate": 0}
    assert ids_of(swf.list_open_workflow_executions(domain=DOMAIN, startTimeFilter=window)) == ["w2", "w1"]
    swf.signal_workflow_execution(domain=DOMAIN, workflowId="w1", signalName="s")
    swf.request_cancel_workflow_execution(domain=DOMAIN, workflowId="w1")
    activity = poll_activity(swf)  # scheduled before the deprecation
    swf.respond_activity_task_completed(taskToken=activity["taskToken"], result="r")
    task = poll_decision(swf)
    assert task["workflowExecution"] == execution("w1", run_id)
    # the activity type is deprecated with its domain
    swf.respond_decision_task_completed(taskToken=task["taskToken"], decisions=[schedule("a2")])
    failed = history(swf, run_id)[-2]
    assert failed["eventType"] == "ScheduleActivityTaskFailed"
    assert attrs(failed)["cause"] == "ACTIVITY_TYPE_DEPRECATED"
    task = poll_decision(swf, task_list="second")
    swf.respond_decision_task_completed(taskToken=task["taskToken"], decisions=[complete()])
    terminate(swf, "w1")
    assert types(history(swf, run_id))[4:] == [
        "ActivityTaskScheduled",
        "WorkflowExecutionSignaled",
        "DecisionTaskScheduled",
        "WorkflowExecutionCancelRequested",
        "ActivityTaskStarted",
        "ActivityTaskCompleted",
        "DecisionTaskStarted",
        "DecisionTaskCompleted",
        "ScheduleActivityTaskFailed",
        "DecisionTaskScheduled",
        "WorkflowExecutionTerminated",
    ]
    assert ids_of(swf.list_closed_workflow_executions(domain=DOMAIN, startTimeFilter=window)) == ["w2", "w1"]
    assert describe(swf, run_id)["executionInfo"]["closeStatus"] == "TERMINATED"

# -- retention -------------------------------------------------------------------------------------


def test_closed_run_vanishes_after_retention(env: Any) -> None:
    swf = env.client
    t0 = whole_second(env, 10)
    setup_domain(swf)  # retention "1" day
    run_id = start(swf, "w1", tagList=["t"])
    terminate(swf, "w1")
    env.sleep(1)
    other = start(swf, "w2")  # times out after an hour, so is kept until t0 + 1 + 3600 + 86400
    window = {"oldestDate": 0}
    env.sleep(86398)
    assert env.clock.now() == t0 + 86399
    assert describe(swf, run_id)["executionInfo"]["closeStatus"] == "TERMINATED"
    assert types(history(swf, run_id))[-1] == "WorkflowExecutionTerminated"
    assert ids_of(swf.list_closed_workflow_executions(domain=DOMAIN, startTimeFilter=window)) == ["w2", "w1"]
    env.sleep(2)
    with fault("UnknownResourceFault"):
        describe(swf, run_id)
    with fault("UnknownResourceFault"):
        swf.get_workflow_execution_history(domain=DOMAIN, execution=execution("w1", run_id))
    for filters in (
        {"startTimeFilter": window},
        {"closeTimeFilter": window},
        {"startTimeFilter": window, "typeFilter": {"name": "wf"}},
    ):
        assert ids_of(swf.list_closed_workflow_executions(domain=DOMAIN, **filters)) == ["w2"]
        assert swf.count_closed_workflow_executions(domain=DOMAIN, **filters)["count"] == 1
    for filters in (
        {"startTimeFilter": window, "executionFilter": {"workflowId": "w1"}},
        {"startTimeFilter": window, "tagFilter": {"tag": "t"}},
        {"startTimeFilter": window, "closeStatusFilter": {"status": "TERMINATED"}},
        {"closeTimeFilter": window, "closeStatusFilter": {"status": "TERMINATED"}},
    ):
        assert swf.list_closed_workflow_executions(domain=DOMAIN, **filters)["executionInfos"] == []
        assert swf.count_closed_workflow_executions(domain=DOMAIN, **filters)["count"] == 0
    timed_out = describe(swf, other, "w2")["executionInfo"]
    assert (timed_out["executionStatus"], timed_out["closeStatus"]) == ("CLOSED", "TIMED_OUT")
    assert start(swf, "w1") != run_id  # the workflowId is free


def test_retention_zero_purges_at_close(env: Any) -> None:
    swf = env.client
    swf.register_domain(name=DOMAIN, workflowExecutionRetentionPeriodInDays="0")
    swf.register_workflow_type(
        domain=DOMAIN,
        name="wf",
        version="1",
        defaultTaskList={"name": "deciders"},
        defaultExecutionStartToCloseTimeout="3600",
        defaultTaskStartToCloseTimeout="60",
        defaultChildPolicy="TERMINATE",
    )
    run_id = start(swf, "w1")
    assert describe(swf, run_id)["executionInfo"]["executionStatus"] == "OPEN"
    terminate(swf, "w1")
    env.sleep(1)
    with fault("UnknownResourceFault"):
        describe(swf, run_id)
    assert swf.count_closed_workflow_executions(domain=DOMAIN, startTimeFilter={"oldestDate": 0})["count"] == 0


# -- GetWorkflowExecutionHistory ---------------------------------------------------------------------


def _five_events(swf: Any) -> str:
    setup_domain(swf)
    run_id = start(swf, "w1")
    for name in ("s1", "s2", "s3"):
        swf.signal_workflow_execution(domain=DOMAIN, workflowId="w1", signalName=name)
    return run_id


def _ids(page: dict[str, Any]) -> list[int]:
    return [e["eventId"] for e in page["events"]]


def test_history_paging_chain(swf: Any) -> None:
    run_id = _five_events(swf)
    ex = execution("w1", run_id)
    first = swf.get_workflow_execution_history(domain=DOMAIN, execution=ex, maximumPageSize=2)
    assert _ids(first) == [1, 2]
    second = swf.get_workflow_execution_history(
        domain=DOMAIN, execution=ex, maximumPageSize=2, nextPageToken=first["nextPageToken"]
    )
    assert _ids(second) == [3, 4]
    third = swf.get_workflow_execution_history(
        domain=DOMAIN, execution=ex, maximumPageSize=2, nextPageToken=second["nextPageToken"]
    )
    assert _ids(third) == [5] and "nextPageToken" not in third
    assert [attrs(e)["signalName"] for e in second["events"] + third["events"]] == ["s1", "s2", "s3"]
    whole = swf.get_workflow_execution_history(domain=DOMAIN, execution=ex)
    assert _ids(whole) == [1, 2, 3, 4, 5] and "nextPageToken" not in whole
    default_size = swf.get_workflow_execution_history(domain=DOMAIN, execution=ex, maximumPageSize=0)
    assert _ids(default_size) == [1, 2, 3, 4, 5] and "nextPageToken" not in default_size


def test_history_paging_in_reverse(swf: Any) -> None:
    run_id = _five_events(swf)
    ex = execution("w1", run_id)
    first = swf.get_workflow_execution_history(domain=DOMAIN, execution=ex, maximumPageSize=2, reverseOrder=True)
    assert _ids(first) == [5, 4]
    second = swf.get_workflow_execution_history(
        domain=DOMAIN, execution=ex, maximumPageSize=2, reverseOrder=True, nextPageToken=first["nextPageToken"]
    )
    assert _ids(second) == [3, 2]
    third = swf.get_workflow_execution_history(
        domain=DOMAIN, execution=ex, maximumPageSize=2, reverseOrder=True, nextPageToken=second["nextPageToken"]
    )
    assert _ids(third) == [1] and "nextPageToken" not in third
    assert _ids(swf.get_workflow_execution_history(domain=DOMAIN, execution=ex, reverseOrder=True)) == [5, 4, 3, 2, 1]


def test_history_exactly_full_last_page_and_token_misuse(swf: Any) -> None:
    setup_domain(swf)
    run_id = start(swf, "w1")
    swf.signal_workflow_execution(domain=DOMAIN, workflowId="w1", signalName="s")
    terminate(swf, "w1")  # works on closed runs
    ex = execution("w1", run_id)
    first = swf.get_workflow_execution_history(domain=DOMAIN, execution=ex, maximumPageSize=2)
    second = swf.get_workflow_execution_history(
        domain=DOMAIN, execution=ex, maximumPageSize=2, nextPageToken=first["nextPageToken"]
    )
    assert _ids(second) == [3, 4] and "nextPageToken" not in second
    assert types(second["events"]) == ["WorkflowExecutionSignaled", "WorkflowExecutionTerminated"]
    with fault("ValidationException"):
        swf.get_workflow_execution_history(
            domain=DOMAIN, execution=ex, maximumPageSize=2, reverseOrder=True, nextPageToken=first["nextPageToken"]
        )
    with fault("ValidationException"):
        swf.get_workflow_execution_history(domain=DOMAIN, execution=ex, nextPageToken="garbage")
    with fault("ValidationException"):
        swf.get_workflow_execution_history(domain=DOMAIN, execution=ex, maximumPageSize=1001)


def test_history_paginator_on_a_closed_run(swf: Any) -> None:
    setup_domain(swf)
    run_id = start(swf, "w1")
    task = poll_decision(swf)
    swf.respond_decision_task_completed(taskToken=task["taskToken"], decisions=[complete("done")])
    pages = list(
        swf.get_paginator("get_workflow_execution_history").paginate(
            domain=DOMAIN, execution=execution("w1", run_id), PaginationConfig={"PageSize": 2}
        )
    )
    assert [len(page["events"]) for page in pages] == [2, 2, 1]
    events = [e for page in pages for e in page["events"]]
    assert types(events) == [
        "WorkflowExecutionStarted",
        "DecisionTaskScheduled",
        "DecisionTaskStarted",
        "DecisionTaskCompleted",
        "WorkflowExecutionCompleted",
    ]
    assert attrs(events[-1]) == {"result": "done", "decisionTaskCompletedEventId": 4}


def test_open_executions_limit(redis_client: Any, redis_url: str) -> None:
    from backends.local import EngineConfig
    from backends.local.testing import LocalEnvironment

    with LocalEnvironment(redis_url, config=EngineConfig(max_open_executions=2)) as environment:
        swf = environment.client
        setup_domain(swf)
        start(swf, "w1")
        start(swf, "w2")
        with fault("LimitExceededFault"):
            start(swf, "w3")
        setup_domain(swf, "other")  # the limit is per domain
        start(swf, "w3", domain="other")
        terminate(swf, "w1")
        start(swf, "w3")
        assert swf.count_open_workflow_executions(domain=DOMAIN, startTimeFilter={"oldestDate": 0})["count"] == 2
