"""One suite, every backend: the arithmetic example, a heartbeating activity, a child workflow,
a timer and a signal, through the framework on the local engine, moto and ``flowser serve``,
and the local engine on a Redis Cluster.

This is also the pattern for users' own tests (docs/testing.md): start
workers for the types in threads (``flowser.testing.workers``), start an
execution, wait for its history.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from activities import MultiplyActivity, SumActivity
from workflows import ArithmeticWorkflow, MathDomain

from flowser.testing import wait_until, workers

from .conftest import Backend
from .flows import (
    ChildWorkflow,
    FlowDomain,
    HeartbeatActivity,
    HeartbeatWorkflow,
    ParentWorkflow,
    SignalWorkflow,
    TimerWorkflow,
)

pytestmark = pytest.mark.parametrize(
    "backend", ["local", "moto", "http", pytest.param("cluster", marks=pytest.mark.cluster)], indirect=True
)


def has_event(run: Any, event_type: str) -> bool:
    return any(e.type == event_type for e in run.history())


def test_arithmetic_example(backend: Backend) -> None:
    domain = backend.domain(MathDomain)
    arithmetic_input = {
        "id": str(uuid.uuid4()),
        "operations": [["mult_id", "multiply", [1, 2, 3]], ["sum_id", "sum", [1, 2, 3, 4]]],
    }
    with workers(domain, ArithmeticWorkflow, MultiplyActivity, SumActivity):
        run = domain.start(ArithmeticWorkflow, arithmetic_input)
        history = run.wait(timeout=30)
    assert history.close_status == "COMPLETED"
    assert history.result == {"mult_id": 6, "sum_id": 10}
    assert history.start_input == arithmetic_input
    by_id = {a.activity_id: a for a in history.activities.values()}
    assert by_id[f"MultiplyActivity.{arithmetic_input['id']}"].result == ["mult_id", 6]
    assert by_id[f"SumActivity.{arithmetic_input['id']}"].result == ["sum_id", 10]
    # every payload on the wire is JSON
    started = history.events[0].raw["workflowExecutionStartedEventAttributes"]
    assert started["input"].startswith("{")


def test_heartbeating_activity(backend: Backend) -> None:
    domain = backend.domain(FlowDomain)
    with workers(domain, HeartbeatWorkflow, HeartbeatActivity):
        run = domain.start(HeartbeatWorkflow, {"id": "hb1", "beats": 3})
        history = run.wait(timeout=30)
    assert history.close_status == "COMPLETED", history.closed and history.closed.raw
    assert history.result == {"beats": 3, "cancel_requested": False}


def test_child_workflow(backend: Backend) -> None:
    backend.require("child")
    domain = backend.domain(FlowDomain)
    with workers(domain, ParentWorkflow, ChildWorkflow):
        run = domain.start(ParentWorkflow, {"id": "p1", "x": 21})
        history = run.wait(timeout=30)
    assert history.close_status == "COMPLETED"
    assert history.result["child"] == {"doubled": 42}
    assert history.result["control"] == "c1"
    child = domain.execution("Child.p1", history.result["child_run"])
    assert child.history().result == {"doubled": 42}


def test_timer(backend: Backend) -> None:
    domain = backend.domain(FlowDomain)
    seconds = 300 if backend.virtual_time else 1  # the run times out after 600 s
    with workers(domain, TimerWorkflow):
        run = domain.start(TimerWorkflow, {"id": "t1", "seconds": seconds})
        wait_until(lambda: has_event(run, "TimerStarted"), timeout=20)
        if backend.virtual_time:
            assert not has_event(run, "TimerFired")
        backend.sleep(seconds)
        history = run.wait(timeout=30)
    assert history.close_status == "COMPLETED"
    assert history.result == {"fired": True, "control": {"n": 1}}
    timer = history.timers["wait"]
    assert timer.status == "FIRED"
    assert timer.started is not None and timer.closed is not None
    if backend.virtual_time:
        assert (timer.closed.time_stamp - timer.started.time_stamp).total_seconds() == seconds


def test_signal(backend: Backend) -> None:
    domain = backend.domain(FlowDomain)
    with workers(domain, SignalWorkflow):
        run = domain.start(SignalWorkflow, {"id": "s1"})
        wait_until(lambda: has_event(run, "DecisionTaskCompleted"), timeout=20)
        assert not run.is_closed()
        run.signal("go", {"v": 5})
        history = run.wait(timeout=30)
    assert history.close_status == "COMPLETED"
    assert history.result == {"got": {"v": 5}}
    assert [s.name for s in history.signals] == ["go"]
