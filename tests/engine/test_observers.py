"""Observers (``backends.local.observers``): what they are told, once, after it committed; and the
pending counts that metrics read from the engine (the same as ``CountPending*Tasks``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from backends.http.metrics import Metrics
from backends.local import ManualClock, connect
from backends.local.keys import DomainKeys
from backends.local.observers import DeadlineFired, TaskClaimed, TaskStarted, TransitionCommitted

from .helpers import DOMAIN, setup_domain, start


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(1_700_000_000.0)


@pytest.fixture
def swf(redis_client: Any, redis_url: str, clock: ManualClock) -> Iterator[Any]:
    client = connect(redis_url, poll_hold=0.2, clock=clock, timekeeper=False)
    setup_domain(client)
    try:
        yield client
    finally:
        client.close()


def test_observers_hear_commits_claims_starts_and_fired_deadlines(swf: Any, clock: ManualClock) -> None:
    engine = swf.flowser_engine
    seen: list[Any] = []
    engine.observers.append(seen.append)
    run_id = start(swf, taskStartToCloseTimeout="10")
    committed = [e for e in seen if isinstance(e, TransitionCommitted)]
    assert [(e.domain, e.run_id, e.workflow_id) for e in committed] == [(DOMAIN, run_id, "w1")]
    assert [ev["eventType"] for ev in committed[0].events] == ["WorkflowExecutionStarted", "DecisionTaskScheduled"]

    seen.clear()
    task = swf.poll_for_decision_task(domain=DOMAIN, taskList={"name": "deciders"})
    kinds = [type(e) for e in seen]
    assert kinds == [TaskClaimed, TransitionCommitted, TaskStarted]
    started = seen[2]
    assert (started.domain, started.kind, started.task_list, started.run_id) == (DOMAIN, "d", "deciders", run_id)
    assert (started.scheduled_event_id, started.started_event_id) == (2, task["startedEventId"])

    seen.clear()
    clock.advance(11)
    assert engine.fire_due() == 1
    fired = [e for e in seen if isinstance(e, DeadlineFired)]
    assert [(e.domain, e.run_id, e.kind) for e in fired] == [(DOMAIN, run_id, "dto")]
    assert [ev["eventType"] for e in seen if isinstance(e, TransitionCommitted) for ev in e.events] == [
        "DecisionTaskTimedOut",
        "DecisionTaskScheduled",
    ]
    seen.clear()
    assert engine.fire_due() == 0 and seen == []  # fired once, told once


def test_an_observer_that_raises_does_not_disturb_the_engine(swf: Any) -> None:
    def broken(event: Any) -> None:
        raise RuntimeError("observer bug")

    swf.flowser_engine.observers.append(broken)
    run_id = start(swf)
    assert swf.describe_workflow_execution(domain=DOMAIN, execution={"workflowId": "w1", "runId": run_id})


def test_pending_counts_include_claims_not_yet_started(swf: Any) -> None:
    engine = swf.flowser_engine
    start(swf, "w1")
    start(swf, "w2")
    # a poller that claimed a task and died before starting it: the task is leased, still pending
    dk = DomainKeys(DOMAIN)
    member, _ = engine.store.claim(
        dk.task_list("d", "deciders"), dk.inflight, dk.wake("d", "deciders"), engine.clock.now(), 30.0
    )
    assert member is not None
    counted = swf.count_pending_decision_tasks(domain=DOMAIN, taskList={"name": "deciders"})["count"]
    assert counted == 2
    assert engine.polling.pending_by_task_list(DOMAIN) == {("d", "deciders"): 2}
    text = Metrics().render(engine)
    assert f'flowser_pending_tasks{{domain="{DOMAIN}",kind="decision",task_list="deciders"}} 2' in text.splitlines()


def test_an_observer_of_some_kinds_hears_only_those(swf: Any, clock: ManualClock) -> None:
    engine = swf.flowser_engine
    fired: list[Any] = []
    engine.observe(fired.append, DeadlineFired)
    assert engine.wants(DeadlineFired) and not engine.wants(TransitionCommitted)
    run_id = start(swf, taskStartToCloseTimeout="10")
    swf.poll_for_decision_task(domain=DOMAIN, taskList={"name": "deciders"})
    clock.advance(11)
    assert engine.fire_due() == 1
    assert [(type(e), e.run_id, e.kind) for e in fired] == [(DeadlineFired, run_id, "dto")]
