"""``flowser.testing``: the helpers users' tests use, on the local engine and on moto."""

from __future__ import annotations

import time
from typing import Any

import pytest
from activities import MultiplyActivity, SumActivity
from workflows import ArithmeticWorkflow, MathDomain

from flowser.testing import Environment, MotoEnvironment, wait_until

ARITHMETIC = {"id": "1", "operations": [["m", "multiply", [2, 5]], ["s", "sum", [2, 5]]]}


def step_through(env: Any) -> Any:
    """The arithmetic example, one task at a time, no threads."""
    run = env.domain.start(ArithmeticWorkflow, ARITHMETIC)
    first = env.decide(ArithmeticWorkflow)
    assert first is not None and len(first.decisions) == 2 and first.closed
    assert env.work(MultiplyActivity).outcome == "completed"
    assert env.work(SumActivity).outcome == "completed"
    last = wait_until(lambda: env.decide(ArithmeticWorkflow), timeout=10)
    if not last.closes_workflow:  # the two results came in two decision tasks
        last = wait_until(lambda: env.decide(ArithmeticWorkflow), timeout=10)
    assert last.closes_workflow
    return run.history()


def test_environment_steps_and_virtual_time(redis_client: Any, redis_url: str) -> None:
    with Environment(MathDomain, redis_url, poll_hold=0.1) as env:
        before = env.now()
        history = step_through(env)
        assert history.result == {"m": 10, "s": 7}
        assert env.sleep(0) == 0
        env.sleep(3600)
        assert (env.now() - before).total_seconds() >= 3600
        assert env.decide(ArithmeticWorkflow) is None


def test_moto_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("moto.swf.models.sleep", lambda seconds: time.sleep(0.01))  # moto's empty polls sleep 1 s
    with MotoEnvironment(MathDomain) as env:
        assert step_through(env).result == {"m": 10, "s": 7}
        with env.workers(ArithmeticWorkflow, MultiplyActivity, SumActivity):
            run = env.domain.start(ArithmeticWorkflow, {**ARITHMETIC, "id": "2"})
            assert run.result(timeout=20) == {"m": 10, "s": 7}
