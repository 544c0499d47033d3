"""The canonical event sequences of swf-semantics.md §14, event by event."""

from __future__ import annotations

from typing import Any

from .helpers import (
    attrs,
    complete,
    history,
    poll_activity,
    poll_decision,
    schedule,
    setup_domain,
    start,
    types,
)


def test_one_activity_then_complete(swf: Any) -> None:
    """§14(a)."""
    setup_domain(swf)
    run_id = start(swf, input="in")
    task = poll_decision(swf, identity="decider-1")
    assert task["startedEventId"] == 3 and task["previousStartedEventId"] == 0
    assert types(task["events"]) == ["WorkflowExecutionStarted", "DecisionTaskScheduled", "DecisionTaskStarted"]
    swf.respond_decision_task_completed(taskToken=task["taskToken"], decisions=[schedule("a1", input="x")])
    activity = poll_activity(swf, identity="worker-1")
    assert activity["activityId"] == "a1" and activity["input"] == "x" and activity["startedEventId"] == 6
    swf.respond_activity_task_completed(taskToken=activity["taskToken"], result="42")
    task = poll_decision(swf)
    assert (task["startedEventId"], task["previousStartedEventId"]) == (9, 3)
    swf.respond_decision_task_completed(taskToken=task["taskToken"], decisions=[complete("done")])

    events = history(swf, run_id)
    assert types(events) == [
        "WorkflowExecutionStarted",
        "DecisionTaskScheduled",
        "DecisionTaskStarted",
        "DecisionTaskCompleted",
        "ActivityTaskScheduled",
        "ActivityTaskStarted",
        "ActivityTaskCompleted",
        "DecisionTaskScheduled",
        "DecisionTaskStarted",
        "DecisionTaskCompleted",
        "WorkflowExecutionCompleted",
    ]
    assert [e["eventId"] for e in events] == list(range(1, 12))
    assert attrs(events[0])["input"] == "in" and attrs(events[0])["parentInitiatedEventId"] == 0
    assert events[0]["eventTimestamp"] == events[1]["eventTimestamp"]
    assert attrs(events[2]) == {"scheduledEventId": 2, "identity": "decider-1"}
    assert attrs(events[3]) == {"scheduledEventId": 2, "startedEventId": 3}
    scheduled = attrs(events[4])
    assert scheduled["decisionTaskCompletedEventId"] == 4
    assert scheduled["taskList"] == {"name": "workers"}
    assert (scheduled["scheduleToStartTimeout"], scheduled["scheduleToCloseTimeout"]) == ("300", "600")
    assert (scheduled["startToCloseTimeout"], scheduled["heartbeatTimeout"]) == ("300", "NONE")
    assert "taskPriority" not in scheduled
    assert attrs(events[5]) == {"scheduledEventId": 5, "identity": "worker-1"}
    assert attrs(events[6]) == {"result": "42", "scheduledEventId": 5, "startedEventId": 6}
    assert attrs(events[9]) == {"scheduledEventId": 8, "startedEventId": 9}
    assert attrs(events[10]) == {"result": "done", "decisionTaskCompletedEventId": 10}
    assert events[9]["eventTimestamp"] == events[10]["eventTimestamp"]
    assert events[0]["eventTimestamp"].tzinfo is not None
