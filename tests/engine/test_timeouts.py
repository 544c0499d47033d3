"""Timeouts on virtual time (swf-semantics.md §4.6, §7.2, §8.3, §14(b), §14(h)), and one on the real clock."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest

from .helpers import (
    DOMAIN,
    at,
    attrs,
    complete,
    describe,
    fault,
    first_decision,
    history,
    pending_activities,
    pending_decisions,
    poll_activity,
    poll_decision,
    respond,
    schedule,
    setup_domain,
    start,
    types,
    whole_second,
)


@pytest.fixture
def env_d(env: Any) -> Any:
    """A virtual-time environment on a whole second, with the helpers' domain and a short poll hold."""
    setup_domain(env.client)
    env.engine.config.poll_hold = 0.1
    whole_second(env)
    return env


def now(env: Any) -> float:
    return float(env.clock.now())


def nothing_new(env: Any, run_id: str, count: int) -> None:
    assert len(history(env.client, run_id)) == count


def refused(swf: Any, token: str) -> None:
    """A closed task's token: every worker call is UnknownResourceFault."""
    for call in (
        lambda: swf.respond_activity_task_completed(taskToken=token, result="late"),
        lambda: swf.respond_activity_task_failed(taskToken=token),
        lambda: swf.respond_activity_task_canceled(taskToken=token),
        lambda: swf.record_activity_task_heartbeat(taskToken=token),
    ):
        with fault("UnknownResourceFault"):
            call()


def scheduled_activity(env: Any, **kw: Any) -> tuple[str, float]:
    """Events 1-5: a1 scheduled now; returns (runId, the scheduling time)."""
    run_id, task = first_decision(env.client)
    t0 = now(env)
    respond(env.client, task, schedule("a1", **kw))
    assert history(env.client, run_id)[4]["eventTimestamp"] == at(t0)
    return run_id, t0


# -- activity timeouts ----------------------------------------------------------------------------
def test_schedule_to_start(env_d: Any) -> None:
    swf = env_d.client
    run_id, t0 = scheduled_activity(env_d, scheduleToStartTimeout="10")
    env_d.sleep(9)
    nothing_new(env_d, run_id, 5)
    assert env_d.sleep(1) == 1
    events = history(swf, run_id)
    assert types(events)[5:] == ["ActivityTaskTimedOut", "DecisionTaskScheduled"]
    assert attrs(events[5]) == {
        "timeoutType": "SCHEDULE_TO_START",
        "scheduledEventId": 5,
        "startedEventId": 0,
    }
    assert events[5]["eventTimestamp"] == events[6]["eventTimestamp"] == at(t0 + 10)
    # never delivered afterwards
    assert pending_activities(swf) == 0
    assert swf.poll_for_activity_task(domain=DOMAIN, taskList={"name": "workers"})["taskToken"] == ""
    assert describe(swf, run_id)["openCounts"]["openActivityTasks"] == 0
    task = poll_decision(swf)
    assert (task["startedEventId"], task["previousStartedEventId"]) == (8, 3)
    respond(swf, task)
    env_d.sleep(1000)  # its other deadlines are gone
    nothing_new(env_d, run_id, 9)


def test_schedule_to_start_stops_when_started(env_d: Any) -> None:
    swf = env_d.client
    run_id, t0 = scheduled_activity(env_d, scheduleToStartTimeout="10", startToCloseTimeout="100")
    env_d.sleep(5)
    activity = poll_activity(swf)
    env_d.sleep(50)
    nothing_new(env_d, run_id, 6)
    swf.respond_activity_task_completed(taskToken=activity["taskToken"], result="ok")
    env_d.sleep(1000)
    events = history(swf, run_id)
    assert types(events)[5:] == ["ActivityTaskStarted", "ActivityTaskCompleted", "DecisionTaskScheduled"]
    assert events[5]["eventTimestamp"] == at(t0 + 5)
    assert events[6]["eventTimestamp"] == at(t0 + 55)


def test_schedule_to_close_after_start(env_d: Any) -> None:
    swf = env_d.client
    run_id, t0 = scheduled_activity(env_d, scheduleToCloseTimeout="100", startToCloseTimeout="300")
    env_d.sleep(10)
    activity = poll_activity(swf)
    env_d.sleep(89)
    swf.record_activity_task_heartbeat(taskToken=activity["taskToken"], details="almost")
    nothing_new(env_d, run_id, 6)
    env_d.sleep(1)
    events = history(swf, run_id)
    assert types(events)[5:] == ["ActivityTaskStarted", "ActivityTaskTimedOut", "DecisionTaskScheduled"]
    assert attrs(events[6]) == {
        "timeoutType": "SCHEDULE_TO_CLOSE",
        "scheduledEventId": 5,
        "startedEventId": 6,
        "details": "almost",
    }
    assert events[6]["eventTimestamp"] == events[7]["eventTimestamp"] == at(t0 + 100)
    refused(swf, activity["taskToken"])
    nothing_new(env_d, run_id, 8)


def test_schedule_to_close_before_start(env_d: Any) -> None:
    swf = env_d.client
    run_id, t0 = scheduled_activity(env_d, scheduleToStartTimeout="300", scheduleToCloseTimeout="50")
    env_d.sleep(50)
    events = history(swf, run_id)
    assert types(events)[5:] == ["ActivityTaskTimedOut", "DecisionTaskScheduled"]
    assert attrs(events[5]) == {
        "timeoutType": "SCHEDULE_TO_CLOSE",
        "scheduledEventId": 5,
        "startedEventId": 0,
    }
    assert events[5]["eventTimestamp"] == at(t0 + 50)
    assert pending_activities(swf) == 0
    assert swf.poll_for_activity_task(domain=DOMAIN, taskList={"name": "workers"})["taskToken"] == ""
    env_d.sleep(300)
    nothing_new(env_d, run_id, 7)


def test_start_to_close_is_not_extended_by_heartbeats(env_d: Any) -> None:
    swf = env_d.client
    run_id, t0 = scheduled_activity(env_d, startToCloseTimeout="50", heartbeatTimeout="20")
    env_d.sleep(5)
    activity = poll_activity(swf)
    for step in range(1, 5):  # every 10 s, well within the heartbeat timeout
        env_d.sleep(10)
        swf.record_activity_task_heartbeat(taskToken=activity["taskToken"], details=f"step {step}")
    nothing_new(env_d, run_id, 6)
    env_d.sleep(10)  # t0 + 55 = started + 50
    events = history(swf, run_id)
    assert types(events)[5:] == ["ActivityTaskStarted", "ActivityTaskTimedOut", "DecisionTaskScheduled"]
    assert attrs(events[6]) == {
        "timeoutType": "START_TO_CLOSE",
        "scheduledEventId": 5,
        "startedEventId": 6,
        "details": "step 4",
    }
    assert events[6]["eventTimestamp"] == at(t0 + 55)
    refused(swf, activity["taskToken"])


def test_heartbeat_timeout_reset_by_heartbeats(env_d: Any) -> None:
    """§14(b)."""
    swf = env_d.client
    run_id, t0 = scheduled_activity(env_d, heartbeatTimeout="30")
    activity = poll_activity(swf)
    env_d.sleep(20)
    assert (
        swf.record_activity_task_heartbeat(taskToken=activity["taskToken"], details="d1")["cancelRequested"]
        is False
    )
    env_d.sleep(25)  # t0 + 45: 45 s after the start, 25 s after the heartbeat
    swf.record_activity_task_heartbeat(taskToken=activity["taskToken"], details="d2")
    env_d.sleep(29)
    nothing_new(env_d, run_id, 6)
    env_d.sleep(1)  # t0 + 75 = last heartbeat + 30
    events = history(swf, run_id)
    assert types(events) == [
        "WorkflowExecutionStarted",
        "DecisionTaskScheduled",
        "DecisionTaskStarted",
        "DecisionTaskCompleted",
        "ActivityTaskScheduled",
        "ActivityTaskStarted",
        "ActivityTaskTimedOut",
        "DecisionTaskScheduled",
    ]
    assert attrs(events[6]) == {
        "timeoutType": "HEARTBEAT",
        "scheduledEventId": 5,
        "startedEventId": 6,
        "details": "d2",
    }
    assert events[6]["eventTimestamp"] == events[7]["eventTimestamp"] == at(t0 + 75)
    task = poll_decision(swf)
    assert (task["startedEventId"], task["previousStartedEventId"]) == (9, 3)
    assert attrs(task["events"][-1]) == {"scheduledEventId": 8}
    refused(swf, activity["taskToken"])
    respond(swf, task, complete())
    assert types(history(swf, run_id))[-1] == "WorkflowExecutionCompleted"


def test_heartbeat_timeout_without_heartbeats(env_d: Any) -> None:
    swf = env_d.client
    run_id, t0 = scheduled_activity(env_d, heartbeatTimeout="30")
    env_d.sleep(3)
    activity = poll_activity(swf)
    env_d.sleep(30)
    events = history(swf, run_id)
    assert attrs(events[6]) == {"timeoutType": "HEARTBEAT", "scheduledEventId": 5, "startedEventId": 6}
    assert events[6]["eventTimestamp"] == at(t0 + 33)
    refused(swf, activity["taskToken"])


def test_no_timeout_after_the_activity_closed(env_d: Any) -> None:
    swf = env_d.client
    run_id, _ = scheduled_activity(env_d, heartbeatTimeout="30", scheduleToCloseTimeout="60")
    activity = poll_activity(swf)
    env_d.sleep(29)
    swf.respond_activity_task_completed(taskToken=activity["taskToken"])
    env_d.sleep(3000)
    assert types(history(swf, run_id))[5:] == [
        "ActivityTaskStarted",
        "ActivityTaskCompleted",
        "DecisionTaskScheduled",
    ]


def test_none_disables_activity_timeouts(env_d: Any) -> None:
    swf = env_d.client
    run_id = start(swf, executionStartToCloseTimeout="31536000", taskStartToCloseTimeout="NONE")
    task = poll_decision(swf)
    none = {k: "NONE" for k in ("scheduleToStartTimeout", "scheduleToCloseTimeout", "startToCloseTimeout")}
    respond(swf, task, schedule("waits", **none, heartbeatTimeout="NONE"), schedule("runs", **none))
    env_d.sleep(1_000_000)
    activity = poll_activity(swf)
    assert activity["activityId"] == "waits"
    env_d.sleep(1_000_000)
    nothing_new(env_d, run_id, 7)
    swf.respond_activity_task_completed(taskToken=activity["taskToken"])
    assert pending_activities(swf) == 1


@pytest.mark.parametrize(
    ("timeouts", "expected"),
    [
        (
            {"scheduleToCloseTimeout": "30", "startToCloseTimeout": "30", "heartbeatTimeout": "30"},
            "SCHEDULE_TO_CLOSE",
        ),
        (
            {"scheduleToCloseTimeout": "60", "startToCloseTimeout": "30", "heartbeatTimeout": "30"},
            "START_TO_CLOSE",
        ),
    ],
)
def test_simultaneous_activity_timeouts(env_d: Any, timeouts: dict[str, str], expected: str) -> None:
    """§7.2 [E]: SCHEDULE_TO_CLOSE, then START_TO_CLOSE, then HEARTBEAT; one event only."""
    swf = env_d.client
    run_id, t0 = scheduled_activity(env_d, **timeouts)
    poll_activity(swf)
    env_d.sleep(100)
    events = history(swf, run_id)
    assert types(events)[5:] == ["ActivityTaskStarted", "ActivityTaskTimedOut", "DecisionTaskScheduled"]
    assert attrs(events[6]) == {"timeoutType": expected, "scheduledEventId": 5, "startedEventId": 6}
    assert events[6]["eventTimestamp"] == at(t0 + 30)


def test_sleep_fires_a_timeout_started_off_a_whole_millisecond(env: Any) -> None:
    """env.sleep(n) after an action fires the action's n-second timeout, whatever the clock's sub-ms part."""
    swf = env.client
    setup_domain(swf)
    run_id, task = first_decision(swf)
    env.clock.set(whole_second(env) + 0.0006)
    respond(swf, task, schedule("a1", scheduleToStartTimeout="10"))
    env.sleep(10)
    events = history(swf, run_id)
    assert types(events)[5:] == ["ActivityTaskTimedOut", "DecisionTaskScheduled"]
    assert events[5]["eventTimestamp"] - events[4]["eventTimestamp"] == dt.timedelta(seconds=10)


# -- decision task timeout ------------------------------------------------------------------------
def test_decision_task_start_to_close(env_d: Any) -> None:
    """§14(h)."""
    swf = env_d.client
    run_id = start(swf)
    env_d.sleep(500)  # a scheduled, unstarted decision task does not time out
    nothing_new(env_d, run_id, 2)
    t0 = now(env_d)
    first = poll_decision(swf)
    env_d.sleep(59)
    nothing_new(env_d, run_id, 3)
    env_d.sleep(1)
    events = history(swf, run_id)
    assert types(events) == [
        "WorkflowExecutionStarted",
        "DecisionTaskScheduled",
        "DecisionTaskStarted",
        "DecisionTaskTimedOut",
        "DecisionTaskScheduled",
    ]
    assert attrs(events[3]) == {"timeoutType": "START_TO_CLOSE", "scheduledEventId": 2, "startedEventId": 3}
    assert attrs(events[4]) == {
        "taskList": {"name": "deciders"},
        "startToCloseTimeout": "60",
        "scheduleToStartTimeout": "NONE",
    }
    assert events[3]["eventTimestamp"] == events[4]["eventTimestamp"] == at(t0 + 60)
    with fault("UnknownResourceFault"):
        respond(swf, first, complete())
    assert pending_decisions(swf) == 1

    second = poll_decision(swf)
    assert (second["startedEventId"], second["previousStartedEventId"]) == (6, 0)
    with fault("UnknownResourceFault"):
        respond(swf, first, complete())
    respond(swf, second, schedule("a1"))
    events = history(swf, run_id)
    assert types(events)[5:] == ["DecisionTaskStarted", "DecisionTaskCompleted", "ActivityTaskScheduled"]
    assert attrs(events[5]) == {"scheduledEventId": 5}
    assert attrs(events[6]) == {"scheduledEventId": 5, "startedEventId": 6}
    env_d.sleep(60)  # the completed task's clock is gone
    nothing_new(env_d, run_id, 8)


def test_decision_task_timeout_with_a_task_already_pending(env_d: Any) -> None:
    swf = env_d.client
    run_id, _ = first_decision(swf)
    swf.signal_workflow_execution(domain=DOMAIN, workflowId="w1", signalName="s")
    env_d.sleep(60)
    events = history(swf, run_id)
    assert types(events)[3:] == ["WorkflowExecutionSignaled", "DecisionTaskScheduled", "DecisionTaskTimedOut"]
    assert attrs(events[5]) == {"timeoutType": "START_TO_CLOSE", "scheduledEventId": 2, "startedEventId": 3}
    task = poll_decision(swf)
    assert task["startedEventId"] == 7 and attrs(task["events"][-1]) == {"scheduledEventId": 5}


def test_decision_task_timeout_from_the_run_setting(env_d: Any) -> None:
    swf = env_d.client
    run_id = start(swf, taskStartToCloseTimeout="5")
    poll_decision(swf)
    env_d.sleep(5)
    assert types(history(swf, run_id))[3:] == ["DecisionTaskTimedOut", "DecisionTaskScheduled"]
    poll_decision(swf)
    env_d.sleep(4)
    assert types(history(swf, run_id))[5:] == ["DecisionTaskStarted"]
    env_d.sleep(1)
    assert types(history(swf, run_id))[6:] == ["DecisionTaskTimedOut", "DecisionTaskScheduled"]


def test_decision_task_without_timeout(env_d: Any) -> None:
    swf = env_d.client
    run_id = start(swf, taskStartToCloseTimeout="NONE", executionStartToCloseTimeout="31536000")
    task = poll_decision(swf)
    env_d.sleep(1_000_000)
    nothing_new(env_d, run_id, 3)
    respond(swf, task, complete())
    assert types(history(swf, run_id))[3:] == ["DecisionTaskCompleted", "WorkflowExecutionCompleted"]


def test_task_list_override_schedule_to_start(env_d: Any) -> None:
    """§4.4: a task on the override list not started in time times out and goes back to the run's list."""
    swf = env_d.client
    run_id, task = first_decision(swf)
    respond(swf, task, schedule("a1"), taskList={"name": "d2"}, taskListScheduleToStartTimeout="10")
    activity = poll_activity(swf)
    t0 = now(env_d)
    swf.respond_activity_task_completed(taskToken=activity["taskToken"])
    assert (pending_decisions(swf, "d2"), pending_decisions(swf)) == (1, 0)
    env_d.sleep(9)
    nothing_new(env_d, run_id, 8)
    env_d.sleep(1)
    events = history(swf, run_id)
    assert types(events)[6:] == [
        "ActivityTaskCompleted",
        "DecisionTaskScheduled",
        "DecisionTaskTimedOut",
        "DecisionTaskScheduled",
    ]
    assert attrs(events[3]) == {
        "scheduledEventId": 2,
        "startedEventId": 3,
        "taskList": {"name": "d2"},
        "taskListScheduleToStartTimeout": "10",
    }
    assert attrs(events[8]) == {
        "timeoutType": "SCHEDULE_TO_START",
        "scheduledEventId": 8,
        "startedEventId": 0,
    }
    assert events[8]["eventTimestamp"] == events[9]["eventTimestamp"] == at(t0 + 10)
    assert attrs(events[9])["taskList"] == {"name": "deciders"}
    assert (pending_decisions(swf, "d2"), pending_decisions(swf)) == (0, 1)
    task = poll_decision(swf)
    assert (task["startedEventId"], task["previousStartedEventId"]) == (11, 3)
    # the event of the task on the override list says how long it may wait
    assert attrs(events[7]) == {
        "taskList": {"name": "d2"},
        "startToCloseTimeout": "60",
        "scheduleToStartTimeout": "10",
    }


# -- execution timeout ----------------------------------------------------------------------------
def test_execution_start_to_close(env_d: Any) -> None:
    swf = env_d.client
    t0 = now(env_d)
    run_id = start(swf, executionStartToCloseTimeout="100")
    task = poll_decision(swf)
    respond(swf, task, schedule("a1"), schedule("a2"))
    activity = poll_activity(swf)
    env_d.sleep(99)
    nothing_new(env_d, run_id, 7)
    env_d.sleep(1)
    events = history(swf, run_id)
    assert types(events)[6:] == ["ActivityTaskStarted", "WorkflowExecutionTimedOut"]
    assert attrs(events[7]) == {"timeoutType": "START_TO_CLOSE", "childPolicy": "TERMINATE"}
    assert events[7]["eventTimestamp"] == at(t0 + 100)
    info = describe(swf, run_id)["executionInfo"]
    assert (info["executionStatus"], info["closeStatus"]) == ("CLOSED", "TIMED_OUT")
    assert info["closeTimestamp"] == at(t0 + 100)
    refused(swf, activity["taskToken"])
    assert pending_activities(swf) == 0 and pending_decisions(swf) == 0
    assert swf.poll_for_activity_task(domain=DOMAIN, taskList={"name": "workers"})["taskToken"] == ""
    env_d.sleep(5000)  # the activities' deadlines died with the run
    nothing_new(env_d, run_id, 8)
    with fault("UnknownResourceFault"):
        swf.signal_workflow_execution(domain=DOMAIN, workflowId="w1", signalName="late")


def test_execution_timeout_with_pending_decision_task(env_d: Any) -> None:
    swf = env_d.client
    t0 = now(env_d)
    run_id = start(swf, executionStartToCloseTimeout="30", childPolicy="ABANDON")
    env_d.sleep(30)
    events = history(swf, run_id)
    assert types(events) == ["WorkflowExecutionStarted", "DecisionTaskScheduled", "WorkflowExecutionTimedOut"]
    assert attrs(events[2]) == {"timeoutType": "START_TO_CLOSE", "childPolicy": "ABANDON"}
    assert events[2]["eventTimestamp"] == at(t0 + 30)
    assert pending_decisions(swf) == 0
    assert swf.poll_for_decision_task(domain=DOMAIN, taskList={"name": "deciders"})["taskToken"] == ""
    closed = swf.list_closed_workflow_executions(
        domain=DOMAIN, startTimeFilter={"oldestDate": 0}, closeStatusFilter={"status": "TIMED_OUT"}
    )["executionInfos"]
    assert [c["execution"]["runId"] for c in closed] == [run_id]


def test_execution_timeout_while_decision_task_started(env_d: Any) -> None:
    swf = env_d.client
    run_id = start(swf, executionStartToCloseTimeout="30")
    task = poll_decision(swf)
    env_d.sleep(30)
    assert types(history(swf, run_id))[3:] == ["WorkflowExecutionTimedOut"]
    with fault("UnknownResourceFault"):
        respond(swf, task, complete())
    env_d.sleep(100)
    nothing_new(env_d, run_id, 4)


# -- the real clock -------------------------------------------------------------------------------
def test_timeout_fires_on_its_own_and_wakes_a_long_polling_decider(swf: Any) -> None:
    setup_domain(swf)
    run_id, task = first_decision(swf)
    respond(swf, task, schedule("a1", scheduleToStartTimeout="1"))
    began = time.time()
    woken = poll_decision(swf)  # holds up to 2 s; only the timekeeper can end it with a task
    returned = time.time()
    assert woken["startedEventId"] == 8 and woken["previousStartedEventId"] == 3
    events = woken["events"]
    assert types(events)[4:] == [
        "ActivityTaskScheduled",
        "ActivityTaskTimedOut",
        "DecisionTaskScheduled",
        "DecisionTaskStarted",
    ]
    assert attrs(events[5]) == {
        "timeoutType": "SCHEDULE_TO_START",
        "scheduledEventId": 5,
        "startedEventId": 0,
    }
    deadline = events[4]["eventTimestamp"].timestamp() + 1
    assert abs(events[5]["eventTimestamp"].timestamp() - deadline) < 0.002
    assert events[5]["eventTimestamp"] <= events[7]["eventTimestamp"]
    assert returned - deadline < 0.1
    assert returned - began < 1.5
    assert history(swf, run_id) == events
