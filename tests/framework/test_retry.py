"""Retry policies (``flowser.RetryPolicy``, ``flowser.retry``) as a user sees them.

A decider written like examples/orders/shop.py (schedule, then complete on
COMPLETED, fail when no longer open) gets retries from a policy on the type
or on the ``schedule`` call: the attempts, their backoff timers and the one
final failure are asserted from the history, ``flowser executions history
--grouped`` and the dashboard's grouped view. End to end on the local engine
with virtual time, and on ``flowser serve`` and moto (real time) where noted.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import pytest

import flowser
from flowser import render, types
from flowser.history import COMPLETED, RETRYING, TIMED_OUT
from flowser.testing import Environment, wait_until, workers

from .conftest import Backend

CALLS: Counter[str] = Counter()
"""Tasks each activity (or child) id ran, across attempts: the tests run the workers in-process."""
LOCK = threading.Lock()


def _count(key: str) -> int:
    with LOCK:
        CALLS[key] += 1
        return CALLS[key]


class Flaky(types.Activity):
    """Fails (ValueError) while it has run at most ``fail`` times for this id; ``error`` names another exception."""

    name, version, task_list = "Flaky", "1", "flaky"
    start_to_close_timeout = 60
    schedule_to_start_timeout = 60
    retry_policy = flowser.RetryPolicy(maximum_attempts=4, initial_interval=1, backoff_coefficient=2)

    @classmethod
    def get_id_from_input(cls, input: Any) -> str:
        return f"charge-{input['id']}"

    def run(self, input: Any) -> Any:
        n = _count(f"charge-{input['id']}")
        if n <= input.get("fail", 0):
            errors = {"PermissionError": PermissionError, "ValueError": ValueError}
            raise errors[input.get("error", "ValueError")](f"card declined ({n})")
        return {"receipt": f"R-{input['id']}", "try": n}


class Plain(Flaky):
    """Flaky without a policy on the type (the schedule call gives one)."""

    name, task_list = "Plain", "plain"
    retry_policy = None


class Pay(types.Workflow):
    """shop.py's Order, reduced: charge, then complete with the receipt or fail with the charge's reason."""

    name, version, task_list = "Pay", "1", "pay"
    execution_start_to_close_timeout = 3600
    seen_failures: Counter[str] = Counter()

    @classmethod
    def get_id_from_input(cls, input: Any) -> str:
        return f"pay-{input['id']}"

    def decide(self, task: Any) -> None:
        history = task.history
        order = history.start_input
        charge = history.activities.get(f"charge-{order['id']}")
        if charge is None:
            activity = Plain if order.get("plain") else Flaky
            policy = flowser.RetryPolicy(**order["policy"]) if "policy" in order else None
            task.schedule(activity, order, control={"note": order["id"]}, retry_policy=policy)
        elif charge.status == COMPLETED:
            task.complete_workflow({**charge.result, "attempt": charge.attempt, "control": charge.control})
        elif not charge.is_open:
            Pay.seen_failures[order["id"]] += 1
            task.fail_workflow(details=charge.attempt_reasons, reason=charge.reason)


class Child(types.Workflow):
    """Fails while it has run at most ``fail`` times for this id."""

    name, version, task_list = "Child", "1", "child"
    retry_policy = flowser.RetryPolicy(maximum_attempts=3, initial_interval=5)

    @classmethod
    def get_id_from_input(cls, input: Any) -> str:
        return f"child-{input['id']}"

    def decide(self, task: Any) -> None:
        n = _count(f"child-{task.start_input['id']}")
        if n <= task.start_input["fail"]:
            task.fail_workflow(reason=f"child broke ({n})")
        else:
            task.complete_workflow({"child": n})


class Parent(types.Workflow):
    name, version, task_list = "Parent", "1", "parent"

    def decide(self, task: Any) -> None:
        history = task.history
        child = history.children.get(f"child-{history.start_input['id']}")
        if child is None:
            task.start_child(Child, history.start_input)
        elif child.status == COMPLETED:
            task.complete_workflow({**child.result, "attempt": child.attempt})
        elif not child.is_open:
            task.fail_workflow(reason=child.reason)


class RetryDomain(flowser.Domain):
    name = "retries"
    retention_period = "1"
    workflow_types = [Pay, Parent, Child]
    activity_types = [Flaky, Plain]


@pytest.fixture(autouse=True)
def _fresh_counts() -> None:
    CALLS.clear()
    Pay.seen_failures.clear()


def settle(run: Any, sleep: Any, virtual: bool, timeout: float = 30) -> Any:
    """The run's closed history; on virtual time, each backoff timer is let fire once the decider started it."""

    def closed() -> Any:
        history = run.history()
        if history.closed is not None:
            return history
        if virtual:
            for timer in history.retry_timers.values():
                if timer.is_open:
                    sleep(float(timer.started.get("startToFireTimeout")))
        return None

    return wait_until(closed, timeout=timeout)


def scheduled_ids(history: Any) -> list[str]:
    return [e.get("activityId") for e in history.filter("ActivityTaskScheduled")]


def timer_seconds(history: Any) -> list[int]:
    return [int(e.get("startToFireTimeout")) for e in history.filter("TimerStarted")]


# -- the policy --------------------------------------------------------------------------------------
def test_intervals_back_off_up_to_the_maximum() -> None:
    policy = flowser.RetryPolicy(initial_interval=1, backoff_coefficient=3, maximum_interval=5)
    assert [policy.interval(n) for n in (1, 2, 3, 4)] == [1, 3, 5, 5]
    assert flowser.RetryPolicy(initial_interval=1.5).interval(1) == 2  # SWF timers count whole seconds
    assert flowser.RetryPolicy(initial_interval=2).interval(20) == 200  # default maximum: 100 x initial
    with pytest.raises(ValueError, match="unknown timeout kinds"):
        flowser.RetryPolicy(retry_timeouts=("START_TO_FINISH",))


def test_reasons_match_equal_exception_class_or_pattern() -> None:
    policy = flowser.RetryPolicy(non_retryable_reasons=("PermissionError", "card *", "exactly this"))
    assert not policy.allows(1, "FAILED", "PermissionError: no", None)
    assert not policy.allows(1, "FAILED", "card declined", None)
    assert not policy.allows(1, "FAILED", "exactly this", None)
    assert policy.allows(1, "FAILED", "ValueError: card declined", None)
    assert not policy.allows(3, "FAILED", "ValueError: x", None)  # maximum_attempts 3
    assert flowser.RetryPolicy(maximum_attempts=0).allows(50, "FAILED", "x", None)  # 0: no limit
    assert not policy.allows(1, "CANCELED", None, None)
    assert not policy.allows(1, "TIMED_OUT", None, "SCHEDULE_TO_CLOSE")
    assert policy.allows(1, "TIMED_OUT", None, "HEARTBEAT")


# -- activities ---------------------------------------------------------------------------------------
def test_fails_twice_then_succeeds_after_backoff_timers(backend: Backend) -> None:
    domain = backend.domain(RetryDomain)
    with workers(domain, Pay, Flaky):
        run = domain.start(Pay, {"id": "a", "fail": 2})
        history = settle(run, backend.sleep, backend.virtual_time)
    assert history.close_status == "COMPLETED", history.close_reason
    assert history.result == {"receipt": "R-a", "try": 3, "attempt": 3, "control": {"note": "a"}}
    assert CALLS["charge-a"] == 3
    # each attempt has its own activityId; the backoff timers wait 1 s, then 2 s
    assert scheduled_ids(history) == ["charge-a", "charge-a~2", "charge-a~3"]
    assert [e.get("timerId") for e in history.filter("TimerStarted")] == ["charge-a~2", "charge-a~3"]
    assert timer_seconds(history) == [1, 2]
    if backend.virtual_time:  # each attempt was scheduled when its timer fired, not before
        fired = [e.time_stamp for e in history.filter("TimerFired")]
        failed = [e.time_stamp for e in history.filter("ActivityTaskFailed")]
        assert [(f - d).total_seconds() for d, f in zip(failed, fired, strict=True)] == [1.0, 2.0]
    # the typed history: one logical activity; the backoff timers are not the decider's
    charge = history.activities["charge-a"]
    assert list(history.activities) == ["charge-a"]
    assert history.timers == {}
    assert [a.activity_id for a in charge.attempts] == ["charge-a", "charge-a~2", "charge-a~3"]
    assert charge.attempt_reasons == ["ValueError: card declined (1)", "ValueError: card declined (2)"]


def test_attempts_shown_numbered_in_grouped_views_and_dashboard() -> None:
    import re

    from flowser.ui.execution import Links, from_events, render_body

    with Environment(RetryDomain) as env, env.workers(Pay, Flaky):
        run = env.domain.start(Pay, {"id": "g", "fail": 1})
        settle(run, env.sleep, True)
        raw = [e.raw for e in run.history()]
    attempts = [g for g in render.grouped(raw) if g.kind == "activity"]
    assert [(g.name, g.attempt, g.attempts, g.status) for g in attempts] == [("charge-g", 1, 2, "FAILED"), ("charge-g", 2, 2, "COMPLETED")]
    assert ("activityId", "charge-g~2") in attempts[1].fields
    timers = [g for g in render.grouped(raw) if g.kind == "timer"]
    assert ("retry", "backoff before attempt 2 of charge-g") in timers[0].fields
    # the dashboard: the grouped table numbers the attempts, the timeline draws them on one lane
    data = from_events(raw, domain="retries", execution={"workflowId": "pay-g", "runId": run.run_id})
    page = render_body(data, Links(("d", "retries", "x", "pay-g", str(run.run_id)), "retries"), view="grouped")
    rows = re.findall(r'<tr data-kind="activity" data-status="(\w+)" data-attempt="(\d)">.*?<td>(\d/\d)</td>', page)
    assert rows == [("FAILED", "1", "1/2"), ("COMPLETED", "2", "2/2")]
    assert '<span class="tl-attempts">2 attempts</span>' in page


def test_cli_grouped_history_numbers_attempts(tmp_path: Any, capsys: Any, monkeypatch: Any) -> None:
    from flowser.cli import main

    with Environment(RetryDomain) as env, env.workers(Pay, Flaky):
        run = env.domain.start(Pay, {"id": "c", "fail": 2})
        settle(run, env.sleep, True)
        capsys.readouterr()
        monkeypatch.setenv("COLUMNS", "160")
        status = main(["executions", "history", run.workflow_id, "--backend", env.url, "--domain", "retries", "--grouped"])
        out, err = capsys.readouterr()
    assert status == 0, err
    lines = [line for line in out.splitlines() if "charge-c" in line and "activity" in line]
    assert len(lines) == 3, out
    for number, line in enumerate(lines, 1):
        assert f"attempt={number}/3" in line, line
    assert "charge-c~3" in lines[2]


def test_non_retryable_reason_fails_at_once(backend: Backend) -> None:
    domain = backend.domain(RetryDomain)
    policy = {"maximum_attempts": 5, "non_retryable_reasons": ["PermissionError"]}
    with workers(domain, Pay, Plain):
        run = domain.start(Pay, {"id": "n", "fail": 3, "error": "PermissionError", "plain": True, "policy": policy})
        history = settle(run, backend.sleep, backend.virtual_time)
    assert history.close_status == "FAILED"
    assert history.close_reason == "PermissionError: card declined (1)"
    assert scheduled_ids(history) == ["charge-n"]
    assert history.filter("TimerStarted") == []
    assert CALLS["charge-n"] == 1


def test_exhausted_attempts_fail_once_with_every_reason(backend: Backend) -> None:
    # the policy is given to schedule() only (Plain has none): it lives in each attempt's control,
    # so every decision task -- each by a new decider instance -- follows it
    domain = backend.domain(RetryDomain)
    initial = 10 if backend.virtual_time else 1
    policy = {"maximum_attempts": 3, "initial_interval": initial, "backoff_coefficient": 3}
    with workers(domain, Pay, Plain):
        run = domain.start(Pay, {"id": "x", "fail": 99, "plain": True, "policy": policy})
        history = settle(run, backend.sleep, backend.virtual_time)
    assert history.close_status == "FAILED"
    assert history.close_reason == (
        "attempt 1: FAILED (ValueError: card declined (1)); attempt 2: FAILED (ValueError: card declined (2)); "
        "attempt 3: FAILED (ValueError: card declined (3))"
    )
    assert history.close_details == [f"ValueError: card declined ({n})" for n in (1, 2, 3)]
    assert timer_seconds(history) == [initial, initial * 3]
    assert len(history.filter("ActivityTaskFailed")) == 3
    assert Pay.seen_failures["x"] == 1  # the decider saw the failure once: the final one
    assert CALLS["charge-x"] == 3


def test_decider_sees_the_activity_open_during_a_backoff() -> None:
    with Environment(RetryDomain) as env:
        run = env.domain.start(Pay, {"id": "s", "fail": 1})
        env.decide(Pay)  # schedules attempt 1
        env.work(Flaky)  # fails
        task = env.decide(Pay)  # starts the backoff timer
        assert task is not None
        charge = task.history.activities["charge-s"]
        assert (charge.status, charge.is_open, charge.retry_pending) == (RETRYING, True, "timer")
        assert [d["decisionType"] for d in task.response_decisions()] == ["StartTimer"]
        # nothing happens until the timer fires
        assert env.domain.poll_decision(Pay) is None
        assert env.sleep(1) == 1
        task = env.decide(Pay)  # the timer fired: attempt 2
        assert task is not None
        assert [d["decisionType"] for d in task.response_decisions()] == ["ScheduleActivityTask"]
        env.work(Flaky)
        env.decide(Pay)
        assert run.result(timeout=10)["attempt"] == 2


def test_timeout_kinds() -> None:
    """SCHEDULE_TO_START and START_TO_CLOSE timeouts are retried by default; one the policy leaves out is final."""
    with Environment(RetryDomain) as env:
        run = env.domain.start(Pay, {"id": "t"})
        env.decide(Pay)
        env.sleep(60)  # nobody took the task: it timed out (schedule to start)
        env.decide(Pay)  # backoff timer
        env.sleep(1)
        env.decide(Pay)  # attempt 2
        env.work(Flaky)
        env.decide(Pay)
        history = run.wait(timeout=10)
        assert history.close_status == "COMPLETED"
        assert [e.get("timeoutType") for e in history.filter("ActivityTaskTimedOut")] == ["SCHEDULE_TO_START"]
        assert history.result["attempt"] == 2

        # a worker took attempt 1 and never answered: START_TO_CLOSE, retried by default
        run = env.domain.start(Pay, {"id": "v"})
        env.decide(Pay)
        assert env.domain.poll_activity(Flaky) is not None
        env.sleep(60)
        env.decide(Pay)
        env.sleep(1)
        env.decide(Pay)
        env.work(Flaky)
        env.decide(Pay)
        history = run.wait(timeout=10)
        assert history.close_status == "COMPLETED"
        assert [e.get("timeoutType") for e in history.filter("ActivityTaskTimedOut")] == ["START_TO_CLOSE"]
        assert history.result["attempt"] == 2

        policy = {"retry_timeouts": ["START_TO_CLOSE", "HEARTBEAT"]}
        run = env.domain.start(Pay, {"id": "u", "plain": True, "policy": policy})
        env.decide(Pay)
        env.sleep(60)
        env.decide(Pay)
        history = run.wait(timeout=10)
        assert history.close_status == "FAILED"
        assert history.activities["charge-u"].status == TIMED_OUT
        assert history.filter("TimerStarted") == []


# -- child workflows --------------------------------------------------------------------------------
def test_child_workflow_retried(backend: Backend) -> None:
    backend.require("child")
    domain = backend.domain(RetryDomain)
    with workers(domain, Parent, Child):
        run = domain.start(Parent, {"id": "k", "fail": 1}, workflow_id="parent-k")
        history = settle(run, backend.sleep, backend.virtual_time)
    assert history.close_status == "COMPLETED", history.close_reason
    assert history.result == {"child": 2, "attempt": 2}
    assert [e.get("workflowId") for e in history.filter("StartChildWorkflowExecutionInitiated")] == ["child-k", "child-k~2"]
    assert timer_seconds(history) == [5]
    assert history.filter("ChildWorkflowExecutionFailed")[0].get("reason") == "child broke (1)"


class Cancelling(Pay):
    """Pay, but a "stop" signal cancels the charge: it completes saying how the charge ended."""

    name = "Cancelling"

    def decide(self, task: Any) -> None:
        history = task.history
        charge = history.activities.get(f"charge-{history.start_input['id']}")
        if charge is None:
            task.schedule(Flaky, history.start_input)
        elif not charge.is_open:
            task.complete_workflow({"charge": charge.status})
        elif history.signals_named("stop") and len(history.signals) == 1:
            task.request_cancel_activity(charge.activity_id)


def test_cancel_during_a_backoff_cancels_its_timer() -> None:
    class Domain(RetryDomain):
        workflow_types = [Cancelling]

    with Environment(Domain) as env:
        run = env.domain.start(Cancelling, {"id": "z", "fail": 9}, workflow_id="cancel-z")
        env.decide(Cancelling)
        env.work(Flaky)  # attempt 1 fails
        env.decide(Cancelling)  # the backoff timer starts
        run.signal("stop")
        task = env.decide(Cancelling)
        assert task is not None
        assert [d["decisionType"] for d in task.response_decisions()] == ["CancelTimer"]
        assert task.response_decisions()[0]["cancelTimerDecisionAttributes"]["timerId"] == "charge-z~2"
        run.signal("again")  # the timer's cancellation schedules no decision task: a signal does
        env.decide(Cancelling)
        history = run.wait(timeout=10)
    assert history.result == {"charge": "CANCELED"}
    assert [e.get("activityId") for e in history.filter("ActivityTaskScheduled")] == ["charge-z"]


def test_cancel_goes_to_the_current_attempt() -> None:
    class Domain(RetryDomain):
        workflow_types = [Cancelling]

    with Environment(Domain) as env:
        run = env.domain.start(Cancelling, {"id": "w", "fail": 1}, workflow_id="cancel-w")
        env.decide(Cancelling)
        env.work(Flaky)  # attempt 1 fails
        env.decide(Cancelling)
        env.sleep(1)
        env.decide(Cancelling)  # attempt 2 scheduled as charge-w~2
        run.signal("stop")
        task = env.decide(Cancelling)
        assert task is not None
        sent = task.response_decisions()
        assert [(d["decisionType"], d["requestCancelActivityTaskDecisionAttributes"]["activityId"]) for d in sent] == [
            ("RequestCancelActivityTask", "charge-w~2")
        ]
        wait_until(lambda: run.history().filter("ActivityTaskCanceled"))
        env.decide(Cancelling)
        history = run.wait(timeout=10)
    assert history.result == {"charge": "CANCELED"}


def test_the_recipe_in_docs_recipes_md_runs_as_printed() -> None:
    import re

    from .conftest import ROOT

    section = (ROOT / "docs" / "recipes.md").read_text().split("\n## Retries\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 1
    exec(compile(blocks[0], "docs/recipes.md#retries", "exec"), {"__name__": "recipe"})  # its asserts are the test


def test_child_workflow_attempts_exhausted() -> None:
    with Environment(RetryDomain) as env, env.workers(Parent, Child):
        run = env.domain.start(Parent, {"id": "e", "fail": 9}, workflow_id="parent-e")
        history = settle(run, env.sleep, True)
    assert history.close_status == "FAILED"
    assert history.close_reason == (
        "attempt 1: FAILED (child broke (1)); attempt 2: FAILED (child broke (2)); attempt 3: FAILED (child broke (3))"
    )
    assert [e.get("workflowId") for e in history.filter("StartChildWorkflowExecutionInitiated")] == ["child-e", "child-e~2", "child-e~3"]
    assert timer_seconds(history) == [5, 10]
    assert CALLS["child-e"] == 3


class Again(Pay):
    """Pay, but after the charge's final failure it schedules the charge once more: a second series of attempts."""

    name = "Again"

    def decide(self, task: Any) -> None:
        history = task.history
        order = history.start_input
        charge = history.activities.get(f"charge-{order['id']}")
        policy = flowser.RetryPolicy(maximum_attempts=2, initial_interval=1)
        if charge is None or (not charge.is_open and charge.status != COMPLETED and not history.markers):
            if charge is not None:
                task.mark("charged-again")
            task.schedule(Plain, order, retry_policy=policy)
        elif charge.status == COMPLETED:
            task.complete_workflow({**charge.result, "attempt": charge.attempt})
        elif not charge.is_open:
            task.fail_workflow(reason=charge.reason)


def test_scheduling_a_failed_id_again_starts_a_new_series_of_attempts() -> None:
    class Domain(RetryDomain):
        workflow_types = [Again]

    with Environment(Domain) as env, env.workers(Again, Plain):
        run = env.domain.start(Again, {"id": "q", "fail": 3}, workflow_id="again-q")
        history = settle(run, env.sleep, True)
    assert history.close_status == "COMPLETED", history.close_reason
    assert history.result == {"receipt": "R-q", "try": 4, "attempt": 2}
    assert scheduled_ids(history) == ["charge-q", "charge-q~2", "charge-q", "charge-q~2"]
    assert timer_seconds(history) == [1, 1]  # the second series waits its own backoff
    assert list(history.activities) == ["charge-q"]
