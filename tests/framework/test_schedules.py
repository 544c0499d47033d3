"""Schedules (issue 13): a ``flowser.Schedule`` execution starts a workflow on a cron expression or an
interval, with an overlap policy, pause, trigger and backfill, and continues as new.

On the local engine with virtual time: ``env.sleep`` lets the days pass at once, with the schedule's
decider and the target's decider running in threads; :func:`settle` waits until every open run's
decision tasks are done before time moves on. The core test runs again over a ``flowser serve``
process and over moto, in real time.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest

import flowser
from flowser import schedules, types
from flowser.history import FIRED
from flowser.schedules import Action, Policy, Schedule, Spec
from flowser.testing import Environment, wait_until

from .conftest import Backend

DAY = 86400
HOUR = 3600
START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


class Nightly(types.Workflow):
    """Works for ``hours`` (a timer), then completes; a cancel request cancels it."""

    name, version, task_list = "Nightly", "1", "nightly"
    execution_start_to_close_timeout = str(10 * DAY)

    @staticmethod
    def get_id_from_input(input: Any) -> str:
        return f"nightly-{input['id']}"

    def decide(self, task: Any) -> None:
        history = task.history
        if history.cancel_requested:
            task.cancel_workflow("canceled")
            return
        timer = history.timers.get("work")
        if timer is None:
            task.start_timer("work", int(history.start_input["hours"] * HOUR))
        elif timer.status == FIRED:
            task.complete_workflow({"worked": history.start_input["hours"]})


class Jobs(flowser.Domain):
    name = "jobs"
    workflow_types = [Nightly, Schedule]


def settle(env: Environment) -> None:
    """Wait until no open run of the domain has a decision task to do (twice in a row, same runs)."""

    def quiet() -> frozenset[str] | None:
        runs = [
            info["execution"]
            for info in env.client.list_open_workflow_executions(
                domain=Jobs.name, startTimeFilter={"oldestDate": dt.datetime(1970, 1, 2, tzinfo=dt.UTC)}
            )["executionInfos"]
        ]
        for execution in runs:
            counts = env.client.describe_workflow_execution(domain=Jobs.name, execution=execution)["openCounts"]
            if counts["openDecisionTasks"]:
                return None
        return frozenset(e["runId"] for e in runs)

    def stable() -> bool:
        first = quiet()
        return first is not None and quiet() == first

    wait_until(stable, timeout=20)


def live(env: Environment, seconds: float) -> None:
    """Let ``seconds`` of virtual time pass one deadline at a time, settling after each: a decision task
    taken while a long sleep goes on would otherwise see its own timeout fire in the same sleep."""
    end = env.now().timestamp() + seconds
    while True:
        now = env.now().timestamp()
        earliest = env.local.engine.deadlines.earliest()
        if earliest is None or earliest > end:
            env.sleep(end - now)
            settle(env)
            return
        env.sleep(max(0.0, earliest - now))
        settle(env)


def live_days(env: Environment, days: int) -> None:
    live(env, days * DAY)


def nightly(hours: float, overlap: str = "skip", **state: Any) -> dict[str, Any]:
    return {
        "spec": Spec(cron="0 2 * * *"),
        "action": schedules.action_for(Nightly, {"hours": hours}, workflow_id_prefix="nightly"),
        "policy": Policy(overlap=overlap, check_every=HOUR),  # type: ignore[arg-type]
        **state,
    }


def runs_of(env: Environment, prefix: str = "nightly-") -> list[dict[str, Any]]:
    """Every run the schedule started, oldest first: workflowId, start, close status and close time."""
    since = {"oldestDate": dt.datetime(1970, 1, 2, tzinfo=dt.UTC)}
    infos = env.client.list_open_workflow_executions(domain=Jobs.name, startTimeFilter=since)["executionInfos"]
    infos += env.client.list_closed_workflow_executions(domain=Jobs.name, startTimeFilter=since)["executionInfos"]
    out = [
        {
            "workflowId": i["execution"]["workflowId"],
            "start": i["startTimestamp"].astimezone(dt.UTC),
            "close": i.get("closeTimestamp") and i["closeTimestamp"].astimezone(dt.UTC),
            "status": i.get("closeStatus", "OPEN"),
        }
        for i in infos
        if i["execution"]["workflowId"].startswith(prefix)
    ]
    return sorted(out, key=lambda r: r["start"])


@pytest.fixture
def env() -> Iterator[Environment]:
    with Environment(Jobs, start=START) as environment, environment.workers(Schedule, Nightly):
        yield environment


def test_every_night_for_30_days_skip_overlap_and_short_history(env: Environment) -> None:
    """A nightly 02:00 job that works 30 h overlaps the next night: skip starts it every other night."""
    schedules.create(env.client, Jobs.name, "nightly", continue_every=10, **nightly(30))
    settle(env)
    live_days(env, 30)
    runs = runs_of(env)
    assert [r["workflowId"] for r in runs] == [f"nightly-{(START + dt.timedelta(days=d)).strftime('%Y%m%d')}T020000Z" for d in range(0, 30, 2)]
    assert all(r["start"].hour == 2 and r["start"].minute == 0 for r in runs)
    assert [r["status"] for r in runs[:-1]] == ["COMPLETED"] * 14
    info = schedules.describe(env.client, Jobs.name, "nightly")
    assert info["counts"]["fires"] == 30
    assert info["counts"]["started"] == 15
    assert info["counts"]["skipped"] == 15
    # continue-as-new keeps each run's history short: 30 wake-ups, a new run every 10 decision tasks
    chain = env.client.list_closed_workflow_executions(
        domain=Jobs.name,
        startTimeFilter={"oldestDate": START},
        executionFilter={"workflowId": schedules.workflow_id("nightly")},
    )["executionInfos"]
    assert {c["closeStatus"] for c in chain} == {"CONTINUED_AS_NEW"}
    assert len(chain) >= 3
    current = env.domain.execution(schedules.workflow_id("nightly")).history()
    assert len(current) < 80
