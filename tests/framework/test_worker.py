"""The runners behind ``flowser worker``/``decider``, in-process: failures, shutdown, logs; and ``backends.connect``."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest

import backends
from flowser.exceptions import WorkflowFailed
from flowser.testing import Environment, wait_until
from flowser.worker import ActivityRunner, DecisionRunner, find_domain, load_object, runner_for

from .flows import (
    BrokenWorkflow,
    FailingActivity,
    OneActivityWorkflow,
    SlowActivity,
    SumModelActivity,
    WorkerDomain,
)


@pytest.fixture
def env(redis_client: Any, redis_url: str) -> Iterator[Environment]:
    with Environment(WorkerDomain, redis_url, poll_hold=0.2) as environment:
        yield environment


def start_one(env: Environment, activity: str, input: dict[str, Any]) -> Any:
    return env.domain.start(OneActivityWorkflow, {"id": input["id"], "activity": activity, "input": input})


def test_exception_in_an_activity_fails_the_task_with_reason_and_traceback(env: Environment, caplog: Any) -> None:
    caplog.set_level(logging.INFO, logger="flowser")
    with env.workers(OneActivityWorkflow, FailingActivity):
        run = start_one(env, "Failing", {"id": "f"})
        history = run.wait(timeout=10)
    record = history.activities["Failing.f"]
    assert record.status == "FAILED"
    assert record.reason is not None and len(record.reason) == 256 and record.reason.startswith("Boom: xxx")
    assert record.details is not None and "Traceback" in record.details and 'raise Boom("x" * 400' in record.details
    assert record.details.rstrip().endswith("the end")
    assert history.close_status == "FAILED"
    ids = f"workflowId=OneActivity.f runId={run.run_id} activityId=Failing.f"
    failed = [r for r in caplog.records if "task failed" in r.getMessage()]
    assert failed and ids in failed[0].getMessage()
    assert (failed[0].workflowId, failed[0].runId, failed[0].activityId) == ("OneActivity.f", run.run_id, "Failing.f")  # type: ignore[attr-defined]


def test_exception_in_a_decider_fails_the_workflow(env: Environment) -> None:
    with env.workers(BrokenWorkflow):
        run = env.domain.start(BrokenWorkflow, {"id": "b"})
        history = run.wait(timeout=10)
    assert history.close_status == "FAILED"
    assert history.closed is not None
    assert history.closed.get("reason") == "ValueError: the decider is broken"
    assert "Traceback" in history.closed.get("details")


def test_stop_lets_the_task_in_hand_finish(env: Environment) -> None:
    SlowActivity.started.clear()
    decider = DecisionRunner(env.domain, OneActivityWorkflow).start()
    worker = ActivityRunner(env.domain, SlowActivity, grace=10).start()
    run = start_one(env, "Slow", {"id": "s", "seconds": 0.5})
    assert SlowActivity.started.wait(10)
    began = time.monotonic()
    worker.stop()
    assert 0.2 < time.monotonic() - began < 5
    assert run.result(timeout=10)["slept"] == 0.5
    decider.stop()


def test_stop_past_the_grace_period_fails_the_task(env: Environment) -> None:
    SlowActivity.started.clear()
    with env.workers(OneActivityWorkflow):
        worker = ActivityRunner(env.domain, SlowActivity, grace=0.3).start()
        run = start_one(env, "Slow", {"id": "g", "seconds": 60})
        assert SlowActivity.started.wait(10)
        began = time.monotonic()
        worker.stop()
        assert time.monotonic() - began < 3
        history = run.wait(timeout=10)
    record = history.activities["Slow.g"]
    assert record.status == "FAILED"
    assert record.reason == "worker shutting down: the task did not finish within the 0.3 s grace period"


def test_threads_share_the_work(env: Environment) -> None:
    with env.workers(OneActivityWorkflow), runner_for(env.domain, SumModelActivity, threads=3) as runner:
        runs = [start_one(env, "SumModel", {"id": str(n), "values": [n, n]}) for n in range(6)]
        assert [run.result(timeout=10) for run in runs] == [{"total": 2 * n} for n in range(6)]
        assert len(runner._threads) == 3
    assert wait_until(lambda: runner.handled >= 6, timeout=5)


def test_loading_user_code() -> None:
    assert load_object("tests.framework.flows:SlowActivity") is SlowActivity
    by_path = load_object("tests/framework/flows.py:WorkerDomain")
    assert by_path.name == "workers"
    assert find_domain(SlowActivity) is WorkerDomain
    with pytest.raises(ValueError):
        load_object("no-colon")
    with pytest.raises(TypeError):
        runner_for(WorkerDomain(None), WorkerDomain)  # type: ignore[arg-type]


# -- backends.connect ---------------------------------------------------------------------------------
def test_connect_local_and_redis(redis_client: Any, redis_url: str) -> None:
    client = backends.connect(redis_url, poll_hold=0.1)
    try:
        client.register_domain(name="c", workflowExecutionRetentionPeriodInDays="1")
        assert client.describe_domain(name="c")["domainInfo"]["name"] == "c"
        assert client.flowser_engine.config.poll_hold == 0.1
    finally:
        client.close()


def test_connect_http_and_aws_clients_wait_longer_than_a_poll(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("AWS_ACCESS_KEY_ID", "AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(key, raising=False)
    http = backends.connect("http://127.0.0.1:8765")
    assert http.meta.endpoint_url == "http://127.0.0.1:8765"
    assert http.meta.config.read_timeout == 70 > 60
    assert http.meta.region_name == "us-east-1"
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKID")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    aws = backends.connect("aws://eu-west-1")
    assert aws.meta.endpoint_url == "https://swf.eu-west-1.amazonaws.com"
    assert aws.meta.config.read_timeout == backends.READ_TIMEOUT == 70
    with pytest.raises(ValueError):
        backends.connect("ftp://nowhere")


# -- late answers, decider retries: on virtual time ----------------------------------------------------
def test_an_activity_that_finishes_after_its_timeout_logs_one_warning(redis_client: Any, redis_url: str, caplog: Any) -> None:
    from .flows import GatedActivity

    caplog.set_level(logging.INFO, logger="flowser")
    GatedActivity.started.clear()
    GatedActivity.gate.clear()
    with Environment(WorkerDomain, redis_url, poll_hold=0.2) as env:
        with env.workers(OneActivityWorkflow), runner_for(env.domain, GatedActivity) as worker:
            run = env.domain.start(OneActivityWorkflow, {"id": "late", "activity": "Gated", "input": {"id": "late"}})
            assert GatedActivity.started.wait(10)
            env.sleep(61)  # the 60 s start-to-close timeout fires
            history = run.wait(timeout=10)
            assert history.activities["Gated.late"].status == "TIMED_OUT"
            GatedActivity.gate.set()
            wait_until(lambda: worker.handled == 1, timeout=10)
        assert worker.failed == 1
    about = [r for r in caplog.records if r.name == "flowser.worker" and "Gated.late" in r.getMessage()]
    assert [r.levelname for r in about] == ["INFO", "WARNING"], [r.getMessage() for r in about]
    warning = about[1]
    assert "Gated (1.0) task finished after it timed out" in warning.getMessage()
    assert "its result was discarded" in warning.getMessage()
    assert warning.exc_info is None
    assert not [r for r in caplog.records if r.exc_info or "could not" in r.getMessage()]


def test_on_decider_error_retry_lets_the_decision_task_time_out_and_run_again(redis_client: Any, redis_url: str) -> None:
    from .flows import FlakyWorkflow

    FlakyWorkflow.calls.clear()
    with Environment(WorkerDomain, redis_url, poll_hold=0.2) as env, env.workers(FlakyWorkflow):
        run = env.domain.start(FlakyWorkflow, {"id": "flaky"})
        wait_until(lambda: FlakyWorkflow.calls.get("flaky") == 1, timeout=10)
        assert not run.is_closed()
        env.sleep(30)  # the decision task's start-to-close timeout: SWF schedules a new one
        assert run.result(timeout=10) == {"attempts": 2}
    assert [e.type for e in run.history() if e.type.startswith("DecisionTask")] == [
        "DecisionTaskScheduled",
        "DecisionTaskStarted",
        "DecisionTaskTimedOut",
        "DecisionTaskScheduled",
        "DecisionTaskStarted",
        "DecisionTaskCompleted",
    ]


def test_on_decider_error_as_a_runner_option(redis_client: Any, redis_url: str) -> None:
    with Environment(WorkerDomain, redis_url, poll_hold=0.2) as env:
        with runner_for(env.domain, BrokenWorkflow, on_decider_error="retry") as decider:
            run = env.domain.start(BrokenWorkflow, {"id": "left"})
            wait_until(lambda: decider.failed == 1, timeout=10)
        assert run.history().closed is None
        with runner_for(env.domain, BrokenWorkflow) as decider:  # the class's default: fail
            env.sleep(121)
            with pytest.raises(WorkflowFailed, match="ValueError: the decider is broken"):
                run.result(timeout=10)
    with pytest.raises(ValueError, match="on_decider_error"):
        runner_for(WorkerDomain(None), BrokenWorkflow, on_decider_error="ignore")
