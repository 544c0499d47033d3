"""The engine's side of pollers that are gone (``backends.local.pollers``), with a scripted connection.

``flowser serve``'s own connections are tested in tests/http/test_held_polls.py;
here the poller's answers are chosen, so that each place the engine looks is hit.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from backends.local import connect, pollers

from .helpers import DOMAIN, history, setup_domain, start, wait_until


class ScriptedPoller:
    """``gone()`` answers from a script (then True); ``watch`` can report the poller gone after a delay."""

    def __init__(self, answers: list[bool], report_after: float | None = None) -> None:
        self.answers = answers
        self.report_after = report_after
        self.looks = 0

    def gone(self) -> bool:
        self.looks += 1
        return self.answers.pop(0) if self.answers else True

    @contextmanager
    def watch(self, on_gone: Callable[[], None]) -> Iterator[None]:
        timer = threading.Timer(self.report_after, on_gone) if self.report_after is not None else None
        if timer is not None:
            timer.start()
        try:
            yield
        finally:
            if timer is not None:
                timer.cancel()


@pytest.fixture
def swf(redis_client: Any, redis_url: str) -> Iterator[Any]:
    client = connect(redis_url, poll_hold=5.0)
    setup_domain(client)
    try:
        yield client
    finally:
        client.close()


def poll_as(swf: Any, poller: ScriptedPoller, operation: str = "PollForDecisionTask", task_list: str = "deciders") -> Any:
    token = pollers.watching.set(poller)
    try:
        return swf.flowser_engine.handle(
            operation, {"domain": DOMAIN, "taskList": {"name": task_list}, "identity": "gone"}
        )
    finally:
        pollers.watching.reset(token)


def started_by(swf: Any, run_id: str) -> list[str]:
    return [
        e["decisionTaskStartedEventAttributes"].get("identity", "")
        for e in history(swf, run_id)
        if e["eventType"] == "DecisionTaskStarted"
    ]


def test_a_poller_gone_on_arrival_gets_nothing_started(swf: Any) -> None:
    run_id = start(swf)
    with pytest.raises(pollers.PollerGone):
        poll_as(swf, ScriptedPoller([True]))
    task = swf.poll_for_decision_task(domain=DOMAIN, taskList={"name": "deciders"}, identity="live")
    assert task["workflowExecution"]["runId"] == run_id
    assert started_by(swf, run_id) == ["live"]


@pytest.mark.parametrize("kind", ["decision", "activity"])
def test_gone_between_the_claim_and_the_start_gives_the_claim_back(swf: Any, kind: str) -> None:
    run_id = start(swf)
    task_list, operation = "deciders", "PollForDecisionTask"
    if kind == "activity":
        decision = swf.poll_for_decision_task(domain=DOMAIN, taskList={"name": "deciders"})
        swf.respond_decision_task_completed(
            taskToken=decision["taskToken"],
            decisions=[
                {
                    "decisionType": "ScheduleActivityTask",
                    "scheduleActivityTaskDecisionAttributes": {
                        "activityType": {"name": "act", "version": "1"},
                        "activityId": "a1",
                    },
                }
            ],
        )
        task_list, operation = "workers", "PollForActivityTask"
    poller = ScriptedPoller([True])  # a poll just read claims at once; its poller is gone at the last look
    with pytest.raises(pollers.PollerGone):
        poll_as(swf, poller, operation, task_list)
    assert poller.looks == 1
    count = getattr(swf, f"count_pending_{kind}_tasks")(domain=DOMAIN, taskList={"name": task_list})["count"]
    assert count == 1  # still pending: given back, not lost
    began = time.monotonic()
    if kind == "decision":
        task = swf.poll_for_decision_task(domain=DOMAIN, taskList={"name": task_list}, identity="live")
        assert started_by(swf, run_id) == ["live"]
    else:
        task = swf.poll_for_activity_task(domain=DOMAIN, taskList={"name": task_list}, identity="live")
        events = history(swf, run_id)
        starts = [e for e in events if e["eventType"] == "ActivityTaskStarted"]
        assert [e["activityTaskStartedEventAttributes"]["identity"] for e in starts] == ["live"]
    assert task.get("taskToken")
    assert time.monotonic() - began < 1.0  # at once, not after the claim's lease


def test_a_woken_poll_whose_poller_went_wakes_the_next_one(swf: Any) -> None:
    engine = swf.flowser_engine
    outcome: dict[str, Any] = {}

    def gone_poll() -> None:
        try:
            poll_as(swf, ScriptedPoller([False]))  # there while waiting, gone when woken
        except pollers.PollerGone:
            outcome["gone"] = True

    def live_poll() -> None:
        outcome["live"] = swf.poll_for_decision_task(domain=DOMAIN, taskList={"name": "deciders"}, identity="live")

    first = threading.Thread(target=gone_poll)
    first.start()
    wait_until(lambda: engine.polling.waiting(DOMAIN) == 1)  # blocked first: Redis wakes it first
    second = threading.Thread(target=live_poll)
    second.start()
    wait_until(lambda: engine.polling.waiting(DOMAIN) == 2)
    began = time.monotonic()
    run_id = start(swf)
    first.join(5)
    second.join(5)
    assert outcome.get("gone") is True
    assert outcome["live"]["workflowExecution"]["runId"] == run_id
    assert time.monotonic() - began < 1.0
    assert started_by(swf, run_id) == ["live"]


def test_a_poller_reported_gone_ends_its_wait_at_once(swf: Any) -> None:
    began = time.monotonic()
    with pytest.raises(pollers.PollerGone):
        poll_as(swf, ScriptedPoller([False, False, False], report_after=0.1))
    assert time.monotonic() - began < 1.0  # not the 5 s hold


@pytest.mark.timeout(60)  # on one shared connection the two processes deadlock, reading each other's replies
def test_a_forked_child_commits_on_connections_of_its_own(swf: Any) -> None:
    """The store keeps a connection per thread; a child forked from a thread that used one takes its own,
    so parent and child can both work at once without reading each other's replies."""
    import os

    start(swf, "before")  # this thread's connection is now in use

    def starts(prefix: str) -> None:
        for n in range(100):
            start(swf, f"{prefix}-{n}")

    child = os.fork()
    if child == 0:  # pragma: no cover - the child's exit status is the check
        try:
            starts("child")
            os._exit(0)
        except BaseException:
            os._exit(2)
    starts("parent")
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    count = swf.count_open_workflow_executions(domain=DOMAIN, startTimeFilter={"oldestDate": 0})["count"]
    assert count == 201
