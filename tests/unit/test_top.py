"""flowser.top: the figures ``flowser top`` draws, from events and count snapshots (no clock, no backend)."""

from __future__ import annotations

from typing import Any

from flowser.top import Top


def ev(event_id: int, kind: str, at: float, **attrs: Any) -> dict[str, Any]:
    key = kind[0].lower() + kind[1:] + "EventAttributes"
    return {"eventId": event_id, "eventType": kind, "eventTimestamp": at, key: attrs}


def test_rates_count_started_and_completed_tasks_over_the_window() -> None:
    top = Top(window=10)
    for n in range(5):
        top.add_event("r1", ev(10 + n, "ActivityTaskStarted", 100 + n, scheduledEventId=n), now=100 + n)
        top.add_event("r1", ev(20 + n, "ActivityTaskCompleted", 100.5 + n), now=100.5 + n)
    top.add_event("r1", ev(30, "DecisionTaskStarted", 104, scheduledEventId=29), now=104)
    assert top.rate("started", "activity", now=105) == 0.5
    assert top.rate("completed", "activity", now=105) == 0.5
    assert top.rate("started", "decision", now=105) == 0.1
    # 8 s later the first three have left the 10 s window
    assert top.rate("started", "activity", now=112.5) == 0.2


def test_the_oldest_waiting_task_per_task_list_and_its_age() -> None:
    top = Top()
    top.add_event("r1", ev(5, "ActivityTaskScheduled", 100, taskList={"name": "slow"}), now=100)
    top.add_event("r2", ev(5, "ActivityTaskScheduled", 103, taskList={"name": "slow"}), now=103)
    top.add_event("r3", ev(2, "DecisionTaskScheduled", 104, taskList={"name": "deciders"}), now=104)
    assert top.oldest_waiting(now=110) == {("activity", "slow"): 10.0, ("decision", "deciders"): 6.0}
    assert top.task_lists == {("activity", "slow"), ("decision", "deciders")}
    top.add_event("r1", ev(6, "ActivityTaskStarted", 111, scheduledEventId=5), now=111)  # the oldest starts
    assert top.oldest_waiting(now=112) == {("activity", "slow"): 9.0, ("decision", "deciders"): 8.0}
    top.add_event("r3", ev(3, "WorkflowExecutionTerminated", 113), now=113)  # its run closes: its task is gone
    assert top.oldest_waiting(now=113) == {("activity", "slow"): 10.0}


def test_timeouts_and_closes_in_the_last_window() -> None:
    top = Top(window=60)
    top.add_event("r1", ev(7, "ActivityTaskTimedOut", 10, scheduledEventId=5, timeoutType="START_TO_CLOSE"), now=10)
    top.add_event("r2", ev(4, "DecisionTaskTimedOut", 50, scheduledEventId=2), now=50)
    top.add_event("r2", ev(9, "WorkflowExecutionTimedOut", 55), now=55)
    assert top.timeouts(now=60) == {"ActivityTaskTimedOut": 1, "DecisionTaskTimedOut": 1, "WorkflowExecutionTimedOut": 1}
    assert top.closed(now=60) == {"TimedOut": 1}
    assert top.timeouts(now=100) == {"DecisionTaskTimedOut": 1, "WorkflowExecutionTimedOut": 1}


def test_rates_are_over_the_time_seen_until_a_whole_window_is() -> None:
    top = Top(window=60, began=100)
    for n in range(4):
        top.add_event("r1", ev(n + 2, "DecisionTaskStarted", 100 + n / 2, scheduledEventId=n + 1), now=100 + n / 2)
    assert top.rate("started", "decision", now=102) == 2.0  # 4 in the 2 s seen, not 4 / 60
    assert top.rate("started", "decision", now=100.2) == 4.0  # never over less than 1 s
    assert top.rate("started", "decision", now=160) == 4 / 60
