"""RespondDecisionTaskCompleted and the decisions (swf-semantics.md §4.4, §4.5, §5, §14(d), §14(f))."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis

from backends.local import EngineConfig, connect
from backends.local.decisions import Limits

from .helpers import (
    ACT,
    DOMAIN,
    WF,
    attrs,
    body,
    cancel_activity,
    cancel_workflow,
    complete,
    describe,
    fail_workflow,
    fault,
    first_decision,
    history,
    marker,
    pending_activities,
    pending_decisions,
    poll_activity,
    poll_decision,
    quick_client,
    raw_call,
    respond,
    schedule,
    setup_domain,
    start,
    types,
)

BARE = {"name": "bare", "version": "1"}
"""An activity type registered without any default."""

CLOSE_CASES = [
    (complete("r"), "CompleteWorkflowExecutionFailed"),
    (fail_workflow(reason="why"), "FailWorkflowExecutionFailed"),
    (cancel_workflow(details="d"), "CancelWorkflowExecutionFailed"),
]


@pytest.fixture
def swf_d(swf: Any) -> Any:
    """The ``swf`` client in a domain with the helpers' types and a defaults-free activity type."""
    setup_domain(swf)
    swf.register_activity_type(domain=DOMAIN, name=BARE["name"], version=BARE["version"])
    return swf


@pytest.fixture
def quick(swf: Any, redis_url: str) -> Iterator[Any]:
    """A client with a 0.1 s poll hold, to show that nothing is delivered."""
    with quick_client(redis_url) as client:
        yield client


def failed_schedule(swf: Any, task: dict[str, Any], run_id: str, decision: dict[str, Any]) -> dict[str, Any]:
    """Respond with one ScheduleActivityTask that must fail; return the failure event's attributes."""
    respond(swf, task, decision)
    events = history(swf, run_id)
    assert types(events)[3:] == [
        "DecisionTaskCompleted",
        "ScheduleActivityTaskFailed",
        "DecisionTaskScheduled",
    ]
    return attrs(events[4])


def signal(swf: Any, run_id: str, name: str = "sig", workflow_id: str = "w1", **kw: Any) -> None:
    swf.signal_workflow_execution(domain=DOMAIN, workflowId=workflow_id, runId=run_id, signalName=name, **kw)


# -- §14(d) signal during a started decision task ----------------------------------------------
def test_signal_during_started_task_is_held_and_delivered_next(swf_d: Any, quick: Any) -> None:
    swf = swf_d
    run_id, task = first_decision(swf)
    signal(swf, run_id, "go", input="payload")
    events = history(swf, run_id)
    assert types(events) == [
        "WorkflowExecutionStarted",
        "DecisionTaskScheduled",
        "DecisionTaskStarted",
        "WorkflowExecutionSignaled",
        "DecisionTaskScheduled",
    ]
    assert attrs(events[3]) == {"signalName": "go", "input": "payload", "externalInitiatedEventId": 0}
    # recorded at once but held: not dispatchable while task 3 is started (counted as pending: §12 [E])
    assert quick.poll_for_decision_task(domain=DOMAIN, taskList={"name": "deciders"})["taskToken"] == ""
    assert pending_decisions(swf) == 1
    assert describe(swf, run_id)["openCounts"]["openDecisionTasks"] == 1

    respond(swf, task, schedule("a1"))
    assert pending_decisions(swf) == 1
    task2 = poll_decision(swf, identity="d2")
    assert (task2["startedEventId"], task2["previousStartedEventId"]) == (8, 3)
    events = history(swf, run_id)
    assert types(events) == [
        "WorkflowExecutionStarted",
        "DecisionTaskScheduled",
        "DecisionTaskStarted",
        "WorkflowExecutionSignaled",
        "DecisionTaskScheduled",
        "DecisionTaskCompleted",
        "ActivityTaskScheduled",
        "DecisionTaskStarted",
    ]
    assert task2["events"] == events
    assert attrs(events[5]) == {"scheduledEventId": 2, "startedEventId": 3}
    assert attrs(events[6])["decisionTaskCompletedEventId"] == 6
    assert attrs(events[7]) == {"scheduledEventId": 5, "identity": "d2"}


def test_close_with_unhandled_signal_fails_and_run_stays_open(swf_d: Any) -> None:
    swf = swf_d
    for n, (close, failed_event) in enumerate(CLOSE_CASES):
        workflow_id = f"w{n}"
        run_id, task = first_decision(swf, workflow_id)
        signal(swf, run_id, workflow_id=workflow_id)
        respond(swf, task, close)

        events = history(swf, run_id, workflow_id)
        assert types(events) == [
            "WorkflowExecutionStarted",
            "DecisionTaskScheduled",
            "DecisionTaskStarted",
            "WorkflowExecutionSignaled",
            "DecisionTaskScheduled",
            "DecisionTaskCompleted",
            failed_event,
        ]
        assert attrs(events[6]) == {"cause": "UNHANDLED_DECISION", "decisionTaskCompletedEventId": 6}
        info = describe(swf, run_id, workflow_id)["executionInfo"]
        assert info["executionStatus"] == "OPEN" and "closeStatus" not in info

        # the held task follows, showing the signal and the failure
        task2 = poll_decision(swf)
        assert task2["workflowExecution"]["runId"] == run_id
        assert (task2["startedEventId"], task2["previousStartedEventId"]) == (8, 3)
        assert attrs(task2["events"][-1]) == {"scheduledEventId": 5}
        respond(swf, task2, close)
        events = history(swf, run_id, workflow_id)
        assert types(events)[8:] == ["DecisionTaskCompleted", events[-1]["eventType"]]
        assert events[-1]["eventType"].startswith("WorkflowExecution")
        assert attrs(events[8]) == {"scheduledEventId": 5, "startedEventId": 8}
        assert describe(swf, run_id, workflow_id)["executionInfo"]["executionStatus"] == "CLOSED"


def test_close_failure_leaves_earlier_decisions_of_the_batch_applied(swf_d: Any) -> None:
    """§4.4.5: the other decisions still apply ([E], engine's choice)."""
    swf = swf_d
    run_id, task = first_decision(swf)
    signal(swf, run_id)
    respond(swf, task, schedule("a1"), complete())
    assert types(history(swf, run_id))[5:] == [
        "DecisionTaskCompleted",
        "ActivityTaskScheduled",
        "CompleteWorkflowExecutionFailed",
    ]
    assert pending_activities(swf) == 1 and pending_decisions(swf) == 1


# -- §14(f) cancel honored -----------------------------------------------------------------------
def _started_activity(swf: Any) -> tuple[str, dict[str, Any]]:
    """Events 1-6 of §14(a): a1 scheduled (5) and started (6)."""
    run_id, task = first_decision(swf)
    respond(swf, task, schedule("a1"))
    activity = poll_activity(swf, identity="worker")
    assert activity["startedEventId"] == 6
    return run_id, activity


def test_cancel_honored_with_activity_left_open(swf_d: Any) -> None:
    swf = swf_d
    run_id, activity = _started_activity(swf)
    swf.request_cancel_workflow_execution(domain=DOMAIN, workflowId="w1", runId=run_id)
    assert describe(swf, run_id)["executionInfo"]["cancelRequested"] is True
    task = poll_decision(swf)
    assert (task["startedEventId"], task["previousStartedEventId"]) == (9, 3)
    respond(swf, task, cancel_workflow(details="bye"))

    events = history(swf, run_id)
    assert types(events) == [
        "WorkflowExecutionStarted",
        "DecisionTaskScheduled",
        "DecisionTaskStarted",
        "DecisionTaskCompleted",
        "ActivityTaskScheduled",
        "ActivityTaskStarted",
        "WorkflowExecutionCancelRequested",
        "DecisionTaskScheduled",
        "DecisionTaskStarted",
        "DecisionTaskCompleted",
        "WorkflowExecutionCanceled",
    ]
    assert attrs(events[6]) == {"externalInitiatedEventId": 0}
    assert attrs(events[8]) == {"scheduledEventId": 8}
    assert attrs(events[9]) == {"scheduledEventId": 8, "startedEventId": 9}
    assert attrs(events[10]) == {"details": "bye", "decisionTaskCompletedEventId": 10}

    described = describe(swf, run_id)
    assert described["executionInfo"]["executionStatus"] == "CLOSED"
    assert described["executionInfo"]["closeStatus"] == "CANCELED"
    assert described["openCounts"]["openActivityTasks"] == 1  # not reset at close [W]
    with fault("UnknownResourceFault"):
        swf.record_activity_task_heartbeat(taskToken=activity["taskToken"])
    with fault("UnknownResourceFault"):
        swf.respond_activity_task_completed(taskToken=activity["taskToken"], result="late")
    assert len(history(swf, run_id)) == 11
    assert describe(swf, run_id)["openCounts"]["openActivityTasks"] == 1


def test_cancel_honored_after_cancelling_the_activity(swf_d: Any) -> None:
    swf = swf_d
    run_id, activity = _started_activity(swf)
    assert swf.record_activity_task_heartbeat(taskToken=activity["taskToken"])["cancelRequested"] is False
    swf.request_cancel_workflow_execution(domain=DOMAIN, workflowId="w1")
    task = poll_decision(swf)
    respond(swf, task, cancel_activity("a1"))
    events = history(swf, run_id)
    assert types(events)[9:] == ["DecisionTaskCompleted", "ActivityTaskCancelRequested"]
    assert attrs(events[10]) == {"decisionTaskCompletedEventId": 10, "activityId": "a1"}
    assert pending_decisions(swf) == 0  # ActivityTaskCancelRequested does not trigger

    hb = swf.record_activity_task_heartbeat(taskToken=activity["taskToken"], details="50%")
    assert body(hb) == {"cancelRequested": True}
    swf.respond_activity_task_canceled(taskToken=activity["taskToken"], details="stopped")
    task = poll_decision(swf)
    assert (task["startedEventId"], task["previousStartedEventId"]) == (14, 9)
    respond(swf, task, cancel_workflow())

    events = history(swf, run_id)
    assert types(events)[6:] == [
        "WorkflowExecutionCancelRequested",
        "DecisionTaskScheduled",
        "DecisionTaskStarted",
        "DecisionTaskCompleted",
        "ActivityTaskCancelRequested",
        "ActivityTaskCanceled",
        "DecisionTaskScheduled",
        "DecisionTaskStarted",
        "DecisionTaskCompleted",
        "WorkflowExecutionCanceled",
    ]
    assert [e["eventId"] for e in events] == list(range(1, 17))
    assert attrs(events[11]) == {
        "details": "stopped",
        "scheduledEventId": 5,
        "startedEventId": 6,
        "latestCancelRequestedEventId": 11,
    }
    assert attrs(events[13]) == {"scheduledEventId": 13}
    assert attrs(events[14]) == {"scheduledEventId": 13, "startedEventId": 14}
    assert attrs(events[15]) == {"decisionTaskCompletedEventId": 15}
    described = describe(swf, run_id)
    assert described["executionInfo"]["closeStatus"] == "CANCELED"
    assert described["openCounts"]["openActivityTasks"] == 0


# -- RequestCancelActivityTask --------------------------------------------------------------------
def test_cancel_of_scheduled_activity_closes_it_at_once(swf_d: Any, quick: Any) -> None:
    swf = swf_d
    run_id, task = first_decision(swf)
    respond(swf, task, schedule("a1"))
    assert pending_activities(swf) == 1
    signal(swf, run_id)
    task = poll_decision(swf)
    respond(swf, task, cancel_activity("a1"))

    events = history(swf, run_id)
    assert types(events)[4:] == [
        "ActivityTaskScheduled",
        "WorkflowExecutionSignaled",
        "DecisionTaskScheduled",
        "DecisionTaskStarted",
        "DecisionTaskCompleted",
        "ActivityTaskCancelRequested",
        "ActivityTaskCanceled",
        "DecisionTaskScheduled",
    ]
    assert attrs(events[9]) == {"decisionTaskCompletedEventId": 9, "activityId": "a1"}
    assert attrs(events[10]) == {
        "scheduledEventId": 5,
        "startedEventId": 0,
        "latestCancelRequestedEventId": 10,
    }
    assert events[9]["eventTimestamp"] == events[10]["eventTimestamp"] == events[8]["eventTimestamp"]
    assert pending_activities(swf) == 0
    assert describe(swf, run_id)["openCounts"]["openActivityTasks"] == 0
    # the task is never delivered
    assert quick.poll_for_activity_task(domain=DOMAIN, taskList={"name": "workers"})["taskToken"] == ""


def test_schedule_and_cancel_in_one_batch(swf_d: Any, quick: Any) -> None:
    swf = swf_d
    run_id, task = first_decision(swf)
    respond(swf, task, schedule("a1"), cancel_activity("a1"))
    events = history(swf, run_id)
    assert types(events)[3:] == [
        "DecisionTaskCompleted",
        "ActivityTaskScheduled",
        "ActivityTaskCancelRequested",
        "ActivityTaskCanceled",
        "DecisionTaskScheduled",
    ]
    assert attrs(events[6]) == {"scheduledEventId": 5, "startedEventId": 0, "latestCancelRequestedEventId": 6}
    assert pending_activities(swf) == 0
    assert quick.poll_for_activity_task(domain=DOMAIN, taskList={"name": "workers"})["taskToken"] == ""


def test_cancel_of_unknown_activity_fails(swf_d: Any) -> None:
    swf = swf_d
    run_id, task = first_decision(swf)
    respond(swf, task, cancel_activity("nope"))
    events = history(swf, run_id)
    assert types(events)[3:] == [
        "DecisionTaskCompleted",
        "RequestCancelActivityTaskFailed",
        "DecisionTaskScheduled",
    ]
    assert attrs(events[4]) == {
        "activityId": "nope",
        "cause": "ACTIVITY_ID_UNKNOWN",
        "decisionTaskCompletedEventId": 4,
    }


def test_cancel_of_closed_activity_fails(swf_d: Any) -> None:
    swf = swf_d
    run_id, task = first_decision(swf)
    respond(swf, task, schedule("a1"))
    activity = poll_activity(swf)
    swf.respond_activity_task_completed(taskToken=activity["taskToken"])
    task = poll_decision(swf)
    respond(swf, task, cancel_activity("a1"))
    events = history(swf, run_id)
    assert types(events)[9:] == [
        "DecisionTaskCompleted",
        "RequestCancelActivityTaskFailed",
        "DecisionTaskScheduled",
    ]
    assert attrs(events[10]) == {
        "activityId": "a1",
        "cause": "ACTIVITY_ID_UNKNOWN",
        "decisionTaskCompletedEventId": 10,
    }


# -- ScheduleActivityTask ------------------------------------------------------------------------
def test_schedule_unknown_activity_type(swf_d: Any) -> None:
    run_id, task = first_decision(swf_d)
    nope = {"name": "nope", "version": "1"}
    failed = failed_schedule(
        swf_d,
        task,
        run_id,
        {
            "decisionType": "ScheduleActivityTask",
            "scheduleActivityTaskDecisionAttributes": {"activityType": nope, "activityId": "a1"},
        },
    )
    assert failed == {
        "activityType": nope,
        "activityId": "a1",
        "cause": "ACTIVITY_TYPE_DOES_NOT_EXIST",
        "decisionTaskCompletedEventId": 4,
    }


def test_schedule_unknown_version_of_known_type(swf_d: Any) -> None:
    run_id, task = first_decision(swf_d)
    other = {"name": ACT["name"], "version": "2"}
    failed = failed_schedule(
        swf_d,
        task,
        run_id,
        {
            "decisionType": "ScheduleActivityTask",
            "scheduleActivityTaskDecisionAttributes": {"activityType": other, "activityId": "a1"},
        },
    )
    assert failed["cause"] == "ACTIVITY_TYPE_DOES_NOT_EXIST" and failed["activityType"] == other


def test_schedule_deprecated_activity_type(swf_d: Any) -> None:
    run_id, task = first_decision(swf_d)
    swf_d.deprecate_activity_type(domain=DOMAIN, activityType=ACT)
    failed = failed_schedule(swf_d, task, run_id, schedule("a1"))
    assert failed == {
        "activityType": ACT,
        "activityId": "a1",
        "cause": "ACTIVITY_TYPE_DEPRECATED",
        "decisionTaskCompletedEventId": 4,
    }


def test_schedule_deleted_activity_type(swf_d: Any) -> None:
    run_id, task = first_decision(swf_d)
    swf_d.deprecate_activity_type(domain=DOMAIN, activityType=ACT)
    swf_d.delete_activity_type(domain=DOMAIN, activityType=ACT)
    assert failed_schedule(swf_d, task, run_id, schedule("a1"))["cause"] == "ACTIVITY_TYPE_DOES_NOT_EXIST"


def test_activity_id_in_use_in_same_batch_and_later(swf_d: Any) -> None:
    swf = swf_d
    run_id, task = first_decision(swf)
    respond(swf, task, schedule("a1", input="first"), schedule("a1", input="second"))
    events = history(swf, run_id)
    assert types(events)[3:] == [
        "DecisionTaskCompleted",
        "ActivityTaskScheduled",
        "ScheduleActivityTaskFailed",
        "DecisionTaskScheduled",
    ]
    assert attrs(events[5]) == {
        "activityType": ACT,
        "activityId": "a1",
        "cause": "ACTIVITY_ID_ALREADY_IN_USE",
        "decisionTaskCompletedEventId": 4,
    }
    # a1 is started now: still open, still in use
    activity = poll_activity(swf)
    assert activity["input"] == "first"
    task = poll_decision(swf)
    respond(swf, task, schedule("a1"))
    events = history(swf, run_id)
    assert types(events)[9:] == [
        "DecisionTaskCompleted",
        "ScheduleActivityTaskFailed",
        "DecisionTaskScheduled",
    ]
    assert attrs(events[10])["cause"] == "ACTIVITY_ID_ALREADY_IN_USE"
    assert pending_activities(swf) == 0


def test_activity_id_reusable_after_close(swf_d: Any) -> None:
    swf = swf_d
    run_id, task = first_decision(swf)
    respond(swf, task, schedule("a1"))
    activity = poll_activity(swf)
    swf.respond_activity_task_failed(taskToken=activity["taskToken"], reason="r")
    task = poll_decision(swf)
    respond(swf, task, schedule("a1", input="again"))
    events = history(swf, run_id)
    assert types(events)[9:] == ["DecisionTaskCompleted", "ActivityTaskScheduled"]
    assert attrs(events[10])["activityId"] == "a1"
    again = poll_activity(swf)
    assert (again["activityId"], again["input"], again["startedEventId"]) == ("a1", "again", 12)


def test_open_activities_limit(redis_client: redis.Redis, redis_url: str) -> None:
    swf = connect(
        redis_url, poll_hold=0.2, timekeeper=False, config=EngineConfig(limits=Limits(open_activities=2))
    )
    try:
        setup_domain(swf)
        run_id, task = first_decision(swf)
        respond(swf, task, schedule("a1"), schedule("a2"), schedule("a3"))
        events = history(swf, run_id)
        assert types(events)[3:] == [
            "DecisionTaskCompleted",
            "ActivityTaskScheduled",
            "ActivityTaskScheduled",
            "ScheduleActivityTaskFailed",
            "DecisionTaskScheduled",
        ]
        assert attrs(events[6]) == {
            "activityType": ACT,
            "activityId": "a3",
            "cause": "OPEN_ACTIVITIES_LIMIT_EXCEEDED",
            "decisionTaskCompletedEventId": 4,
        }
        # started activities still count; a closed one frees a slot
        first = poll_activity(swf)
        task = poll_decision(swf)
        respond(swf, task, schedule("a3"))
        assert attrs(history(swf, run_id)[-2])["cause"] == "OPEN_ACTIVITIES_LIMIT_EXCEEDED"
        swf.respond_activity_task_completed(taskToken=first["taskToken"])
        task = poll_decision(swf)
        respond(swf, task, schedule("a3"))
        events = history(swf, run_id)
        assert events[-1]["eventType"] == "ActivityTaskScheduled" and attrs(events[-1])["activityId"] == "a3"
        assert describe(swf, run_id)["openCounts"]["openActivityTasks"] == 2
    finally:
        swf.close()


def _bare(activity_id: str = "a1", **kw: Any) -> dict[str, Any]:
    return {
        "decisionType": "ScheduleActivityTask",
        "scheduleActivityTaskDecisionAttributes": {"activityType": BARE, "activityId": activity_id, **kw},
    }


UNRESOLVED = [
    ({}, "DEFAULT_TASK_LIST_UNDEFINED"),
    (
        {"scheduleToStartTimeout": "10", "scheduleToCloseTimeout": "20", "startToCloseTimeout": "10"},
        "DEFAULT_TASK_LIST_UNDEFINED",
    ),
    ({"taskList": {"name": "tl"}}, "DEFAULT_SCHEDULE_TO_START_TIMEOUT_UNDEFINED"),
    (
        {"taskList": {"name": "tl"}, "scheduleToCloseTimeout": "20", "startToCloseTimeout": "10"},
        "DEFAULT_SCHEDULE_TO_START_TIMEOUT_UNDEFINED",
    ),
    (
        {"taskList": {"name": "tl"}, "scheduleToStartTimeout": "10"},
        "DEFAULT_SCHEDULE_TO_CLOSE_TIMEOUT_UNDEFINED",
    ),
    (
        {"taskList": {"name": "tl"}, "scheduleToStartTimeout": "10", "startToCloseTimeout": "10"},
        "DEFAULT_SCHEDULE_TO_CLOSE_TIMEOUT_UNDEFINED",
    ),
    (
        {"taskList": {"name": "tl"}, "scheduleToStartTimeout": "10", "scheduleToCloseTimeout": "20"},
        "DEFAULT_START_TO_CLOSE_TIMEOUT_UNDEFINED",
    ),
]


def test_schedule_with_unresolved_defaults(swf_d: Any) -> None:
    run_id, task = first_decision(swf_d)
    respond(swf_d, task, *[_bare(f"d{n}", **given) for n, (given, _) in enumerate(UNRESOLVED)])
    events = history(swf_d, run_id)
    assert types(events)[3:] == [
        "DecisionTaskCompleted",
        *["ScheduleActivityTaskFailed"] * len(UNRESOLVED),
        "DecisionTaskScheduled",
    ]
    for n, (_, cause) in enumerate(UNRESOLVED):
        assert attrs(events[4 + n]) == {
            "activityType": BARE,
            "activityId": f"d{n}",
            "cause": cause,
            "decisionTaskCompletedEventId": 4,
        }
    assert pending_activities(swf_d, "tl") == 0


def test_unresolved_heartbeat_timeout_is_none(swf_d: Any) -> None:
    swf = swf_d
    run_id, task = first_decision(swf)
    respond(
        swf,
        task,
        _bare(
            taskList={"name": "tl"},
            scheduleToStartTimeout="10",
            scheduleToCloseTimeout="20",
            startToCloseTimeout="5",
        ),
    )
    events = history(swf, run_id)
    assert types(events)[3:] == ["DecisionTaskCompleted", "ActivityTaskScheduled"]
    assert attrs(events[4]) == {
        "activityType": BARE,
        "activityId": "a1",
        "scheduleToStartTimeout": "10",
        "scheduleToCloseTimeout": "20",
        "startToCloseTimeout": "5",
        "heartbeatTimeout": "NONE",
        "taskList": {"name": "tl"},
        "decisionTaskCompletedEventId": 4,
    }
    assert pending_activities(swf, "tl") == 1


def test_schedule_values_from_the_decision_win_over_type_defaults(swf_d: Any) -> None:
    swf = swf_d
    run_id, task = first_decision(swf)
    respond(
        swf,
        task,
        schedule(
            "a1",
            input="in",
            control="ctl",
            taskList={"name": "special"},
            taskPriority="7",
            scheduleToStartTimeout="11",
            scheduleToCloseTimeout="NONE",
            startToCloseTimeout="13",
            heartbeatTimeout="14",
        ),
    )
    events = history(swf, run_id)
    assert attrs(events[4]) == {
        "activityType": ACT,
        "activityId": "a1",
        "input": "in",
        "control": "ctl",
        "scheduleToStartTimeout": "11",
        "scheduleToCloseTimeout": "NONE",
        "startToCloseTimeout": "13",
        "heartbeatTimeout": "14",
        "taskList": {"name": "special"},
        "taskPriority": "7",
        "decisionTaskCompletedEventId": 4,
    }
    assert (pending_activities(swf, "special"), pending_activities(swf)) == (1, 0)


def test_task_priority_only_when_given_or_defaulted(swf_d: Any) -> None:
    swf = swf_d
    prio = {"name": "prio", "version": "1"}
    swf.register_activity_type(
        domain=DOMAIN,
        name=prio["name"],
        version=prio["version"],
        defaultTaskList={"name": "workers"},
        defaultTaskScheduleToStartTimeout="30",
        defaultTaskScheduleToCloseTimeout="60",
        defaultTaskStartToCloseTimeout="30",
        defaultTaskHeartbeatTimeout="10",
        defaultTaskPriority="3",
    )
    run_id, task = first_decision(swf)
    by_default = {
        "decisionType": "ScheduleActivityTask",
        "scheduleActivityTaskDecisionAttributes": {"activityType": prio, "activityId": "p1"},
    }
    overridden = {
        "decisionType": "ScheduleActivityTask",
        "scheduleActivityTaskDecisionAttributes": {
            "activityType": prio,
            "activityId": "p2",
            "taskPriority": "-4",
        },
    }
    respond(swf, task, schedule("a1"), schedule("a2", taskPriority="0"), by_default, overridden)
    events = history(swf, run_id)
    scheduled = [attrs(e) for e in events[4:8]]
    assert [a["activityId"] for a in scheduled] == ["a1", "a2", "p1", "p2"]
    assert "taskPriority" not in scheduled[0]
    assert [a.get("taskPriority") for a in scheduled[1:]] == ["0", "3", "-4"]
    assert scheduled[2] == {
        "activityType": prio,
        "activityId": "p1",
        "scheduleToStartTimeout": "30",
        "scheduleToCloseTimeout": "60",
        "startToCloseTimeout": "30",
        "heartbeatTimeout": "10",
        "taskList": {"name": "workers"},
        "taskPriority": "3",
        "decisionTaskCompletedEventId": 4,
    }


# -- RecordMarker, close decisions ---------------------------------------------------------------
def test_markers_do_not_trigger_a_decision_task(swf_d: Any) -> None:
    swf = swf_d
    run_id, task = first_decision(swf)
    respond(swf, task, marker("m", "d1"), marker("m"))
    events = history(swf, run_id)
    assert types(events)[3:] == ["DecisionTaskCompleted", "MarkerRecorded", "MarkerRecorded"]
    assert attrs(events[4]) == {"markerName": "m", "details": "d1", "decisionTaskCompletedEventId": 4}
    assert attrs(events[5]) == {"markerName": "m", "decisionTaskCompletedEventId": 4}
    assert events[3]["eventTimestamp"] == events[4]["eventTimestamp"] == events[5]["eventTimestamp"]
    assert pending_decisions(swf) == 0
    described = describe(swf, run_id)
    assert described["openCounts"]["openDecisionTasks"] == 0
    assert described["executionInfo"]["executionStatus"] == "OPEN"
    # the next event wakes the decider again
    signal(swf, run_id)
    task = poll_decision(swf)
    assert (task["startedEventId"], task["previousStartedEventId"]) == (9, 3)


def test_empty_batch_schedules_nothing(swf_d: Any) -> None:
    swf = swf_d
    run_id, task = first_decision(swf)
    respond(swf, task)
    assert types(history(swf, run_id))[3:] == ["DecisionTaskCompleted"]
    assert pending_decisions(swf) == 0


CLOSES = [
    (complete("res"), "WorkflowExecutionCompleted", {"result": "res"}, "COMPLETED"),
    (complete(), "WorkflowExecutionCompleted", {}, "COMPLETED"),
    (
        fail_workflow(reason="why", details="det"),
        "WorkflowExecutionFailed",
        {"reason": "why", "details": "det"},
        "FAILED",
    ),
    (fail_workflow(), "WorkflowExecutionFailed", {}, "FAILED"),
    (cancel_workflow(details="det"), "WorkflowExecutionCanceled", {"details": "det"}, "CANCELED"),
    (cancel_workflow(), "WorkflowExecutionCanceled", {}, "CANCELED"),
]


def test_close_decisions(swf_d: Any) -> None:
    swf = swf_d
    closed_runs: dict[str, list[str]] = {}
    for n, (decision, event, event_attrs, status) in enumerate(CLOSES):
        workflow_id = f"w{n}"
        run_id, task = first_decision(swf, workflow_id)
        respond(swf, task, marker("before"), decision)
        events = history(swf, run_id, workflow_id)
        assert types(events)[3:] == ["DecisionTaskCompleted", "MarkerRecorded", event]
        assert attrs(events[5]) == {**event_attrs, "decisionTaskCompletedEventId": 4}
        info = describe(swf, run_id, workflow_id)["executionInfo"]
        assert (info["executionStatus"], info["closeStatus"]) == ("CLOSED", status)
        assert info["closeTimestamp"] == events[5]["eventTimestamp"]
        closed_runs.setdefault(status, []).append(run_id)
        with fault("UnknownResourceFault"):
            swf.signal_workflow_execution(domain=DOMAIN, workflowId=workflow_id, signalName="late")
        assert pending_decisions(swf) == 0
    for status, run_ids in closed_runs.items():
        closed = swf.list_closed_workflow_executions(
            domain=DOMAIN, startTimeFilter={"oldestDate": 0}, closeStatusFilter={"status": status}
        )["executionInfos"]
        assert sorted(i["execution"]["runId"] for i in closed) == sorted(run_ids)


# -- whole-batch rejection (§4.5) -----------------------------------------------------------------
def _rejected(
    swf: Any, run_id: str, task: dict[str, Any], decisions: list[dict[str, Any]], message: str
) -> None:
    """The batch is refused as a whole: nothing recorded, the same task can still be completed."""
    with fault("ValidationException", message):
        swf.respond_decision_task_completed(taskToken=task["taskToken"], decisions=decisions)
    assert len(history(swf, run_id)) == 3
    assert pending_activities(swf) == 0
    respond(swf, task, schedule("ok"))
    events = history(swf, run_id)
    assert types(events)[3:] == ["DecisionTaskCompleted", "ActivityTaskScheduled"]
    assert attrs(events[3]) == {"scheduledEventId": 2, "startedEventId": 3}


CLOSE_NOT_LAST = "Close must be last decision in list"


NOT_LAST = [
    [complete(), schedule("a1")],
    [fail_workflow(), marker("m")],
    [cancel_workflow(), schedule("a1"), marker("m")],
    [complete(), complete()],
    [marker("m"), complete("r"), fail_workflow()],
    [
        {
            "decisionType": "ContinueAsNewWorkflowExecution",
            "continueAsNewWorkflowExecutionDecisionAttributes": {},
        },
        marker("m"),
    ],
]


def test_close_decision_not_last_rejects_the_batch(swf_d: Any) -> None:
    run_id, task = first_decision(swf_d)
    for decisions in NOT_LAST[:-1]:
        with fault("ValidationException", CLOSE_NOT_LAST):
            swf_d.respond_decision_task_completed(taskToken=task["taskToken"], decisions=decisions)
    _rejected(swf_d, run_id, task, NOT_LAST[-1], CLOSE_NOT_LAST)


ENUM = (
    "[CompleteWorkflowExecution, StartTimer, RequestCancelExternalWorkflowExecution, "
    "SignalExternalWorkflowExecution, CancelTimer, RecordMarker, ScheduleActivityTask, "
    "ContinueAsNewWorkflowExecution, ScheduleLambdaFunction, FailWorkflowExecution, "
    "RequestCancelActivityTask, StartChildWorkflowExecution, CancelWorkflowExecution]"
)


def test_unknown_decision_type_rejects_the_batch(swf_d: Any) -> None:
    run_id, task = first_decision(swf_d)
    _rejected(
        swf_d,
        run_id,
        task,
        [schedule("a1"), {"decisionType": "StartSomething"}],
        "1 validation error detected: Value 'StartSomething' at 'decisions.2.member.decisionType' "
        f"failed to satisfy constraint: Member must satisfy enum value set: {ENUM}",
    )


def test_missing_attributes_block_rejects_the_batch(swf_d: Any) -> None:
    run_id, task = first_decision(swf_d)
    _rejected(
        swf_d,
        run_id,
        task,
        [marker("m"), {"decisionType": "ScheduleActivityTask"}],
        "1 validation error detected: Value null at 'decisions.2.member.scheduleActivityTaskDecisionAttributes' "
        "failed to satisfy constraint: Member must not be null",
    )


def test_too_long_value_rejects_the_batch(swf_d: Any) -> None:
    run_id, task = first_decision(swf_d)
    long_id = "x" * 257
    with fault("ValidationException") as caught:
        respond(swf_d, task, marker("m"), schedule(long_id))
    message = caught[0].response["Error"]["Message"]
    assert "decisions.2.member.scheduleActivityTaskDecisionAttributes.activityId" in message
    assert "Member must have length less than or equal to 256" in message
    _rejected(swf_d, run_id, task, [schedule("a1", taskList={"name": "bad:name"})], _name_error())


def _name_error() -> str:
    return (
        "1 validation error detected: Value 'bad:name' at "
        "'decisions.1.member.scheduleActivityTaskDecisionAttributes.taskList.name' failed to satisfy constraint: "
        "Member must not contain ':', '/', '|', control characters, leading or trailing whitespace, "
        "or be the literal 'arn'"
    )


def test_missing_required_member_on_the_wire_rejects_the_batch(swf_d: Any) -> None:
    """A client without botocore's checks (boto 2, raw HTTP) sends what botocore would refuse."""
    run_id, task = first_decision(swf_d)
    status, answer = raw_call(
        swf_d,
        "RespondDecisionTaskCompleted",
        {
            "taskToken": task["taskToken"],
            "decisions": [
                marker("m"),
                {
                    "decisionType": "ScheduleActivityTask",
                    "scheduleActivityTaskDecisionAttributes": {"activityType": ACT},
                },
                {"decisionType": "StartTimer", "startTimerDecisionAttributes": {"startToFireTimeout": "5"}},
            ],
        },
    )
    assert status == 400
    assert answer == {
        "__type": "com.amazon.coral.validate#ValidationException",
        "message": "2 validation errors detected: "
        "Value null at 'decisions.2.member.scheduleActivityTaskDecisionAttributes.activityId' "
        "failed to satisfy constraint: Member must not be null; "
        "Value null at 'decisions.3.member.startTimerDecisionAttributes.timerId' "
        "failed to satisfy constraint: Member must not be null",
    }
    _rejected(swf_d, run_id, task, [complete(), marker("x")], CLOSE_NOT_LAST)


def test_missing_member_in_a_block_not_matching_the_type_rejects_the_batch(swf_d: Any) -> None:
    run_id, task = first_decision(swf_d)
    status, answer = raw_call(
        swf_d,
        "RespondDecisionTaskCompleted",
        {
            "taskToken": task["taskToken"],
            "decisions": [
                {
                    "decisionType": "RecordMarker",
                    "recordMarkerDecisionAttributes": {"markerName": "m"},
                    "startTimerDecisionAttributes": {"timerId": "t"},
                }
            ],
        },
    )
    assert status == 400 and answer["__type"] == "com.amazon.coral.validate#ValidationException"
    assert "decisions.1.member.startTimerDecisionAttributes.startToFireTimeout" in answer["message"]
    assert len(history(swf_d, run_id)) == 3


# -- batches -------------------------------------------------------------------------------------
def test_failures_do_not_stop_the_batch_and_schedule_one_task_after_it(swf_d: Any) -> None:
    swf = swf_d
    run_id, task = first_decision(swf)
    nope = {"name": "nope", "version": "1"}
    respond(
        swf,
        task,
        {
            "decisionType": "ScheduleActivityTask",
            "scheduleActivityTaskDecisionAttributes": {"activityType": nope, "activityId": "x"},
        },
        schedule("a1"),
        cancel_activity("ghost"),
        marker("m"),
        schedule("a2"),
    )
    events = history(swf, run_id)
    assert types(events)[3:] == [
        "DecisionTaskCompleted",
        "ScheduleActivityTaskFailed",
        "ActivityTaskScheduled",
        "RequestCancelActivityTaskFailed",
        "MarkerRecorded",
        "ActivityTaskScheduled",
        "DecisionTaskScheduled",
    ]
    assert all(attrs(e)["decisionTaskCompletedEventId"] == 4 for e in events[4:9])
    assert len({e["eventTimestamp"] for e in events[3:]}) == 1
    assert attrs(events[9]) == {
        "taskList": {"name": "deciders"},
        "startToCloseTimeout": "60",
        "scheduleToStartTimeout": "NONE",
    }
    assert pending_activities(swf) == 2 and pending_decisions(swf) == 1
    task = poll_decision(swf)
    assert (task["startedEventId"], task["previousStartedEventId"]) == (11, 3)


def test_execution_context(swf_d: Any) -> None:
    swf = swf_d
    run_id, task = first_decision(swf)
    assert "latestExecutionContext" not in describe(swf, run_id)
    respond(swf, task, schedule("a1"), executionContext="ctx-1")
    events = history(swf, run_id)
    assert attrs(events[3]) == {"executionContext": "ctx-1", "scheduledEventId": 2, "startedEventId": 3}
    assert describe(swf, run_id)["latestExecutionContext"] == "ctx-1"

    signal(swf, run_id)
    task = poll_decision(swf)
    respond(swf, task)  # no context: the old one stays
    assert "executionContext" not in attrs(history(swf, run_id)[-1])
    assert describe(swf, run_id)["latestExecutionContext"] == "ctx-1"

    signal(swf, run_id)
    task = poll_decision(swf)
    respond(swf, task, executionContext="")
    assert attrs(history(swf, run_id)[-1])["executionContext"] == ""
    assert describe(swf, run_id)["latestExecutionContext"] == ""


def test_respond_with_used_or_unknown_token(swf_d: Any) -> None:
    swf = swf_d
    run_id, task = first_decision(swf)
    respond(swf, task, schedule("a1"))
    for decisions in ([], [complete()]):
        with fault("UnknownResourceFault"):
            swf.respond_decision_task_completed(taskToken=task["taskToken"], decisions=decisions)
    with fault("UnknownResourceFault"):
        swf.respond_decision_task_completed(taskToken="not-a-token")
    activity = poll_activity(swf)
    with fault("UnknownResourceFault"):
        swf.respond_decision_task_completed(taskToken=activity["taskToken"])
    assert types(history(swf, run_id)) == [
        "WorkflowExecutionStarted",
        "DecisionTaskScheduled",
        "DecisionTaskStarted",
        "DecisionTaskCompleted",
        "ActivityTaskScheduled",
        "ActivityTaskStarted",
    ]


def test_respond_after_run_closed(swf_d: Any) -> None:
    swf = swf_d
    run_id, task = first_decision(swf)
    swf.terminate_workflow_execution(domain=DOMAIN, workflowId="w1", runId=run_id)
    with fault("UnknownResourceFault"):
        respond(swf, task, complete())
    assert types(history(swf, run_id))[-1] == "WorkflowExecutionTerminated"


def test_decision_task_of_a_restarted_workflow_id(swf_d: Any) -> None:
    """A token of a closed run never reaches the new run of the same workflowId."""
    swf = swf_d
    _, task = first_decision(swf)
    respond(swf, task, complete())
    run2 = start(swf, "w1")
    task2 = poll_decision(swf)
    assert task2["workflowExecution"] == {"workflowId": "w1", "runId": run2}
    assert task2["workflowType"] == WF
    with fault("UnknownResourceFault"):
        respond(swf, task, complete())
    respond(swf, task2, complete())
