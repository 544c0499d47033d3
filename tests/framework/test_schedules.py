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
from flowser.schedules import Policy, Schedule, Spec
from flowser.testing import Environment, wait_until

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


def open_at(runs: list[dict[str, Any]], when: dt.datetime) -> list[str]:
    return [r["workflowId"] for r in runs if r["start"] <= when and (r["close"] is None or r["close"] > when)]


def test_overlap_buffer_one_starts_the_next_when_the_previous_closes(env: Environment) -> None:
    # 30 h runs: night 2's fire is buffered until night 1's run closes (day 2, 08:00; looked at hourly)
    schedules.create(env.client, Jobs.name, "nightly", **nightly(30, "buffer_one"))
    settle(env)
    live_days(env, 3)
    runs = runs_of(env)
    first, second = runs[0], runs[1]
    assert first["workflowId"] == "nightly-20260101T020000Z"
    assert first["close"] == dt.datetime(2026, 1, 2, 8, tzinfo=dt.UTC)
    assert second["workflowId"] == "nightly-20260102T020000Z"  # named after its fire time
    assert first["close"] <= second["start"] <= first["close"] + dt.timedelta(hours=1)
    assert all(len(open_at(runs, r["start"] + dt.timedelta(seconds=1))) == 1 for r in runs)
    assert schedules.describe(env.client, Jobs.name, "nightly")["counts"]["buffered"] >= 2


def test_overlap_allow_all_runs_them_side_by_side(env: Environment) -> None:
    schedules.create(env.client, Jobs.name, "nightly", **nightly(30, "allow_all"))
    settle(env)
    live_days(env, 3)
    runs = runs_of(env)
    assert [r["workflowId"][-16:-8] for r in runs] == ["20260101", "20260102", "20260103"]
    assert open_at(runs, dt.datetime(2026, 1, 2, 3, tzinfo=dt.UTC)) == ["nightly-20260101T020000Z", "nightly-20260102T020000Z"]


@pytest.mark.parametrize(("overlap", "closed"), [("cancel_other", "CANCELED"), ("terminate_other", "TERMINATED")])
def test_overlap_cancel_or_terminate_the_other(env: Environment, overlap: str, closed: str) -> None:
    schedules.create(env.client, Jobs.name, "nightly", **nightly(30, overlap))
    settle(env)
    live_days(env, 3)
    runs = runs_of(env)
    assert [r["status"] for r in runs] == [closed, closed, "OPEN"]
    assert runs[0]["close"] == dt.datetime(2026, 1, 2, 2, tzinfo=dt.UTC)  # closed by the next fire
    assert all(len(open_at(runs, r["start"] + dt.timedelta(seconds=1))) == 1 for r in runs)
    counts = schedules.describe(env.client, Jobs.name, "nightly")["counts"]
    assert counts["canceled" if overlap == "cancel_other" else "terminated"] == 2


def test_pause_unpause_trigger_and_backfill(env: Environment) -> None:
    schedules.create(env.client, Jobs.name, "nightly", **nightly(1))
    settle(env)
    live(env, DAY)  # night 1 fires
    schedules.pause(env.client, Jobs.name, "nightly", note="database upgrade")
    settle(env)
    info = schedules.describe(env.client, Jobs.name, "nightly")
    assert info["paused"] is True and info["note"] == "database upgrade"
    live(env, 2 * DAY)  # nights 2 and 3: paused
    assert [r["workflowId"][-16:-8] for r in runs_of(env)] == ["20260101"]
    schedules.trigger(env.client, Jobs.name, "nightly")  # a trigger starts even while paused
    settle(env)
    triggered = runs_of(env)[-1]
    assert triggered["start"] == env.now()
    assert triggered["workflowId"] == f"nightly-{schedules.stamp(env.now())}"
    schedules.unpause(env.client, Jobs.name, "nightly")
    settle(env)
    live(env, DAY)  # night 4 fires; nights 2 and 3 are not caught up
    started = [r["workflowId"][-16:] for r in runs_of(env)]
    assert started == ["20260101T020000Z", "20260104T000000Z", "20260104T020000Z"]  # the trigger, then night 4
    schedules.backfill(
        env.client, Jobs.name, "nightly", dt.datetime(2026, 1, 2, tzinfo=dt.UTC), dt.datetime(2026, 1, 3, 23, tzinfo=dt.UTC), overlap="allow_all"
    )
    settle(env)
    backfilled = [r["workflowId"] for r in runs_of(env)[-2:]]
    assert sorted(backfilled) == ["nightly-20260102T020000Z", "nightly-20260103T020000Z"]
    recent = schedules.describe(env.client, Jobs.name, "nightly")["recent"]
    assert [(r["workflowId"][-16:], r["by"]) for r in recent[:2]] == [("20260103T020000Z", "backfill"), ("20260102T020000Z", "backfill")]
