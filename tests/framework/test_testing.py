"""``flowser.testing``: the helpers users' tests use, on the local engine and on moto."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path
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


# -- a private store by default ---------------------------------------------------------------------
def test_environment_is_private_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's `flowser worker` on the default data directory does not take the test's tasks."""
    from .flows import OneActivityWorkflow, SumModelActivity, WorkerDomain
    from .test_cli import Proc

    dev_dir = Path(tempfile.mkdtemp(prefix="fldev", dir="/tmp"))
    env_vars = {**os.environ, "FLOWSER_DATA_DIR": str(dev_dir)}
    env_vars.pop("FLOWSER_REDIS_URL", None)
    env_vars.pop("FLOWSER_BACKEND", None)
    dev_worker = Proc("worker", "tests/framework/flows.py:SumModelActivity", "--register", env=env_vars)
    try:
        dev_worker.wait_log("polling")
        monkeypatch.setenv("FLOWSER_DATA_DIR", str(dev_dir))  # the user's default store
        monkeypatch.delenv("FLOWSER_REDIS_URL", raising=False)
        with Environment(WorkerDomain, poll_hold=0.2) as env:
            with env.workers(OneActivityWorkflow):
                spec = {"id": "mine", "activity": "SumModel", "input": {"id": "mine", "values": [1, 2]}}
                run = env.domain.start(OneActivityWorkflow, spec)
                task = wait_until(lambda: env.work(SumModelActivity), timeout=10)
                assert task.outcome == "completed"
                assert run.result(timeout=10) == {"total": 3}
            private = getattr(env, "private_dir", None)
            assert private is not None and os.path.isdir(private) and str(dev_dir) not in env.url
        assert "task started" not in dev_worker.log
        assert not os.path.exists(private)
    finally:
        dev_worker.kill()
        shutil.rmtree(dev_dir, ignore_errors=True)


def test_private_environments_leave_nothing_behind(monkeypatch: pytest.MonkeyPatch, redis_url: str) -> None:
    """An execution left open by one test does not collide with the next (WorkflowExecutionAlreadyStarted)."""
    monkeypatch.setenv("FLOWSER_REDIS_URL", redis_url)  # the user's Redis is not used either
    for _ in range(2):
        with Environment(MathDomain) as env:
            env.domain.start(ArithmeticWorkflow, ARITHMETIC)  # left open


def test_sharing_a_data_dir_is_opt_in() -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="flsh", dir="/tmp"))
    try:
        with Environment(MathDomain, data_dir=data_dir) as first:
            assert first.private_dir is None
            first.domain.start(ArithmeticWorkflow, ARITHMETIC)  # left open
        with Environment(MathDomain, data_dir=data_dir) as second:
            with pytest.raises(second.client.exceptions.WorkflowExecutionAlreadyStartedFault):
                second.domain.start(ArithmeticWorkflow, ARITHMETIC)
        assert data_dir.is_dir()
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
