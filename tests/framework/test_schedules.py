"""Schedules (issue 13): a ``flowser.Schedule`` execution starts a workflow on a cron expression or an
interval, with an overlap policy, pause, trigger and backfill, and continues as new.

On the local engine with virtual time: ``env.sleep`` lets the days pass at once, with the schedule's
decider and the target's decider running in threads; :func:`settle` waits until every open run's
decision tasks are done before time moves on. The core test runs again over a ``flowser serve``
process and over moto, in real time.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator
from typing import Any

import pytest

import flowser
import flowser.ops
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


class Instant(types.Workflow):
    name, version, task_list = "Instant", "1", "instant"

    def decide(self, task: Any) -> None:
        task.complete_workflow(task.start_input)


class Jobs(flowser.Domain):
    name = "jobs"
    workflow_types = [Nightly, Instant, Schedule]


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
    with Environment(Jobs, start=START) as environment, environment.workers(Schedule, Nightly, Instant):
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


def continued(env: Environment, name: str) -> int:
    """How many runs of schedule ``name`` continued as new."""
    chain = env.client.list_closed_workflow_executions(
        domain=Jobs.name, startTimeFilter={"oldestDate": START}, executionFilter={"workflowId": schedules.workflow_id(name)}
    )["executionInfos"]
    return sum(1 for c in chain if c["closeStatus"] == "CONTINUED_AS_NEW")


def open_at(runs: list[dict[str, Any]], when: dt.datetime) -> list[str]:
    return [r["workflowId"] for r in runs if r["start"] <= when and (r["close"] is None or r["close"] > when)]


def test_overlap_buffer_one_starts_the_next_when_the_previous_closes(env: Environment) -> None:
    # 30 h runs: night 2's fire is buffered until night 1's run closes (day 2, 08:00; looked at hourly)
    schedules.create(env.client, Jobs.name, "nightly", continue_every=3, **nightly(30, "buffer_one"))  # the buffered start and the open run cross continue-as-new
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
    assert continued(env, "nightly") >= 2


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
    schedules.create(env.client, Jobs.name, "nightly", continue_every=2, **nightly(1))  # paused crosses continue-as-new
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
    assert continued(env, "nightly") >= 3


def test_describe_shows_the_next_5_fire_times_and_the_last_5_results(env: Environment) -> None:
    paris = {**nightly(1), "spec": Spec(cron="0 2 * * *", timezone="Europe/Paris")}
    schedules.create(env.client, Jobs.name, "paris", **paris)
    settle(env)
    live(env, 6 * DAY + 90 * 60)  # Jan 7, 01:30 UTC: night 7's run (02:00 in Paris = 01:00 UTC) is working
    info = schedules.describe(env.client, Jobs.name, "paris")
    assert info["status"] == "OPEN" and info["paused"] is False
    assert info["spec_text"] == "cron '0 2 * * *' (Europe/Paris)"
    assert [n["at"] for n in info["next"]] == [f"2026-01-{d:02d}T01:00:00Z" for d in range(8, 13)]
    assert [(r["workflowId"], r["status"]) for r in info["recent"]] == [
        ("nightly-20260107T010000Z", "OPEN"),
        *[(f"nightly-202601{d:02d}T010000Z", "COMPLETED") for d in (6, 5, 4, 3)],
    ]
    assert info["recent"][0]["started"] == "2026-01-07T01:00:00Z"
    assert info["counts"] == {**info["counts"], "fires": 7, "started": 7, "skipped": 0}


def test_a_start_that_fails_is_a_result_and_the_schedule_goes_on(env: Environment) -> None:
    action = Action(workflow_type={"name": "Unknown", "version": "1"}, workflow_id_prefix="ghost", task_list="nightly")
    schedules.create(env.client, Jobs.name, "ghost", spec=Spec(every=HOUR), action=action)
    settle(env)
    live(env, 2 * HOUR)
    info = schedules.describe(env.client, Jobs.name, "ghost")
    assert info["status"] == "OPEN"
    assert [r["status"] for r in info["recent"]] == ["START_FAILED", "START_FAILED"]
    assert info["recent"][0]["error"].startswith("UnknownResourceFault")
    assert info["counts"]["failed"] == 2


def test_create_refuses_a_second_schedule_of_the_same_name(env: Environment) -> None:
    schedules.create(env.client, Jobs.name, "nightly", **nightly(1))
    with pytest.raises(schedules.ScheduleError, match="exists already"):
        schedules.create(env.client, Jobs.name, "nightly", **nightly(1))
    schedules.delete(env.client, Jobs.name, "nightly")
    with pytest.raises(schedules.ScheduleError, match="no running schedule"):
        schedules.pause(env.client, Jobs.name, "nightly")
    assert schedules.list_schedules(env.client, Jobs.name) == []


def test_end_at_closes_the_schedule_and_start_at_delays_it(env: Environment) -> None:
    spec = Spec(every=DAY, offset=2 * HOUR, start_at=START + dt.timedelta(days=2), end_at=START + dt.timedelta(days=4, hours=3))
    schedules.create(env.client, Jobs.name, "window", spec=spec, action=schedules.action_for(Nightly, {"hours": 1}))
    settle(env)
    live(env, 6 * DAY)
    assert [r["workflowId"][-16:] for r in runs_of(env, "Nightly-")] == ["20260103T020000Z", "20260104T020000Z", "20260105T020000Z"]
    info = schedules.describe(env.client, Jobs.name, "window")
    assert info["status"] == "COMPLETED" and info["next"] == []


# -- the spec, alone --------------------------------------------------------------------------------
def fires(spec: Spec, after: dt.datetime, count: int = 4) -> list[str]:
    return [schedules.iso(actual) or "" for _, actual in spec.next_fires("s", after, count)]


def test_cron_in_a_time_zone_across_daylight_saving_time() -> None:
    paris = Spec(cron="30 2 * * *", timezone="Europe/Paris")
    # spring forward (29 March 2026, 02:00 -> 03:00): 02:30 does not exist, the job runs at 03:00
    assert fires(paris, dt.datetime(2026, 3, 27, tzinfo=dt.UTC)) == [
        "2026-03-27T01:30:00Z",
        "2026-03-28T01:30:00Z",
        "2026-03-29T01:00:00Z",
        "2026-03-30T00:30:00Z",
    ]
    # fall back (25 October 2026, 03:00 -> 02:00): 02:30 happens twice, the job runs once (the first)
    assert fires(paris, dt.datetime(2026, 10, 24, 1, tzinfo=dt.UTC), 3) == [
        "2026-10-25T00:30:00Z",
        "2026-10-26T01:30:00Z",
        "2026-10-27T01:30:00Z",
    ]
    # an hourly job runs every real hour: 25 of them that day (local midnight to midnight)
    hourly = Spec(cron="0 * * * *", timezone="Europe/Paris")
    day = [t for t in fires(hourly, dt.datetime(2026, 10, 24, 21, 30, tzinfo=dt.UTC), 30) if t < "2026-10-25T23:00"]
    assert len(day) == 25


def test_intervals_count_from_the_epoch_with_an_offset_and_jitter_is_fixed_per_fire() -> None:
    assert fires(Spec(every=6 * HOUR, offset=HOUR), START, 3) == ["2026-01-01T01:00:00Z", "2026-01-01T07:00:00Z", "2026-01-01T13:00:00Z"]
    jittered = Spec(every=DAY, jitter=HOUR)
    once, again = fires(jittered, START, 10), fires(jittered, START, 10)
    assert once == again
    offsets = [dt.datetime.fromisoformat(t).timestamp() % DAY for t in once]
    assert all(0 <= o < HOUR for o in offsets) and len(set(offsets)) > 1


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"cron": "61 * * * *"}, "bad cron expression"),
        ({"cron": "0 2 * * *", "every": 60}, "either a cron expression or an interval"),
        ({}, "either a cron expression or an interval"),
        ({"cron": "0 2 * * *", "timezone": "Mars/Olympus"}, "unknown time zone"),
        ({"every": 60, "start_at": START, "end_at": START - dt.timedelta(days=1)}, "end_at is before start_at"),
    ],
)
def test_a_bad_spec_says_what_is_wrong(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Spec(**fields)


# -- every backend: the local engine, a flowser serve process, moto ----------------------------------
class Quick(types.Workflow):
    name, version, task_list = "Quick", "1", "quick"

    def decide(self, task: Any) -> None:
        task.complete_workflow({"input": task.start_input})


class Sleepy(types.Workflow):
    """Waits ``seconds`` (a timer), then completes."""

    name, version, task_list = "Sleepy", "1", "sleepy"

    def decide(self, task: Any) -> None:
        timer = task.history.timers.get("nap")
        if timer is None:
            task.start_timer("nap", task.start_input["seconds"])
        elif timer.status == FIRED:
            task.complete_workflow("rested")


class Backends(flowser.Domain):
    name = "schedules"
    workflow_types = [Quick, Sleepy, Schedule]


def test_a_schedule_on_every_backend(backend: Backend) -> None:
    """Every 2 s (real time on moto and flowser serve): runs start on the fire times, a trigger starts one
    at once, and describe shows them. moto lacks continue-as-new: the schedule here never needs it."""
    from flowser.testing import workers

    domain = backend.domain(Backends)
    every = 2
    schedules.create(
        domain.conn, domain.name, "quick", spec=Spec(every=every), action=schedules.action_for(Quick, {"n": 1}, workflow_id_prefix="quick")
    )

    def started() -> list[dict[str, Any]]:
        return [
            info
            for info in flowser.ops.list_executions(domain.conn, domain.name, type_name="Quick")
            if info["execution"]["workflowId"].startswith("quick-")
        ]

    def enough(count: int) -> Any:
        def check() -> bool:
            if backend.virtual_time:
                backend.sleep(1)
            return len(started()) >= count

        return check

    with workers(domain, Schedule, Quick):
        wait_until(enough(2), timeout=30)
        schedules.trigger(domain.conn, domain.name, "quick", overlap="allow_all")  # (skip would skip it if a run is open)
        wait_until(lambda: any(r["by"] == "trigger" for r in schedules.describe(domain.conn, domain.name, "quick")["recent"]), timeout=30)
        info = schedules.describe(domain.conn, domain.name, "quick")
    by_schedule = [r for r in info["recent"] if r["by"] == "schedule"]
    for record in by_schedule:
        fired = dt.datetime.fromisoformat(record["scheduled"])
        assert fired.timestamp() % every == 0
        assert record["workflowId"] == f"quick-{schedules.stamp(fired)}"
        assert dt.datetime.fromisoformat(record["started"]) >= fired
    assert len(by_schedule) >= 2
    runs = {i["execution"]["workflowId"]: i for i in started()}
    assert {r["workflowId"] for r in info["recent"]} <= set(runs)
    done = domain.execution(by_schedule[-1]["workflowId"], by_schedule[-1]["runId"], Quick).result(timeout=30)
    assert done == {"input": {"n": 1}}
    assert info["next"] and dt.datetime.fromisoformat(info["next"][0]["at"]).timestamp() % every == 0
    schedules.delete(domain.conn, domain.name, "quick")


def test_the_recipe_in_docs_recipes_md_runs_as_printed() -> None:
    import re

    from .conftest import ROOT

    text = (ROOT / "docs" / "recipes.md").read_text()
    section = text.split("\n## Schedules\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 1
    exec(compile(blocks[0], "docs/recipes.md#schedules", "exec"), {"__name__": "recipe"})  # its asserts are the test


def test_a_start_repeated_after_a_lost_decision_task_finds_the_run_already_started(env: Environment) -> None:
    """The run of a fire time is named after it: if a decision task that started it is decided again, SWF
    refuses the second start (WorkflowExecutionAlreadyStartedFault) and the schedule records the open run."""
    schedules.create(env.client, Jobs.name, "nightly", **nightly(30))
    settle(env)
    already = env.domain.start(Nightly, {"hours": 30}, workflow_id="nightly-20260101T020000Z")
    settle(env)
    live(env, DAY)
    runs = runs_of(env)
    assert [r["workflowId"] for r in runs] == ["nightly-20260101T020000Z"]
    info = schedules.describe(env.client, Jobs.name, "nightly")
    assert [(r["workflowId"], r["runId"], r["status"]) for r in info["recent"]] == [("nightly-20260101T020000Z", already.run_id, "OPEN")]
    assert info["running"][0]["runId"] == already.run_id


def test_a_malformed_signal_is_ignored_and_the_schedule_goes_on(env: Environment) -> None:
    schedules.create(env.client, Jobs.name, "nightly", **nightly(1))
    settle(env)
    wid = schedules.workflow_id("nightly")
    env.client.signal_workflow_execution(domain=Jobs.name, workflowId=wid, signalName=schedules.SIGNAL_BACKFILL, input='{"from": "x"}')
    env.client.signal_workflow_execution(domain=Jobs.name, workflowId=wid, signalName=schedules.SIGNAL_TRIGGER, input='{"overlap": "sometimes"}')
    settle(env)
    live(env, DAY)
    info = schedules.describe(env.client, Jobs.name, "nightly")
    assert info["status"] == "OPEN" and info["pending_signals"] == []
    assert [r["workflowId"] for r in info["recent"]] == ["nightly-20260101T020000Z"]


def test_the_runs_input_must_leave_room_in_the_schedule_state(env: Environment) -> None:
    big = schedules.action_for(Nightly, {"hours": 1, "pad": "x" * 20_000})
    with pytest.raises(ValueError, match="a schedule takes at most 16,384"):
        schedules.create(env.client, Jobs.name, "big", spec=Spec(every=DAY), action=big)


def test_skip_on_every_backend(backend: Backend) -> None:
    """Every 2 s, runs of 3 s: under skip every other fire is skipped and no two runs overlap."""
    from flowser.testing import workers

    domain = backend.domain(Backends)
    spec = Spec(every=2)
    schedules.create(domain.conn, domain.name, "naps", spec=spec, action=schedules.action_for(Sleepy, {"seconds": 3}, workflow_id_prefix="nap"))

    def counts() -> dict[str, int]:
        if backend.virtual_time:
            backend.sleep(1)
        return dict(schedules.describe(domain.conn, domain.name, "naps")["counts"])

    with workers(domain, Schedule, Sleepy):
        wait_until(lambda: (c := counts())["started"] >= 2 and c["skipped"] >= 1, timeout=60)
    schedules.delete(domain.conn, domain.name, "naps")
    runs = sorted(flowser.ops.list_executions(domain.conn, domain.name, type_name="Sleepy"), key=lambda i: i["startTimestamp"])
    assert len(runs) >= 2
    for before, after in itertools.pairwise(runs):  # each started once the one before had closed
        assert before.get("closeTimestamp") and after["startTimestamp"] >= before["closeTimestamp"]


def test_a_long_backfill_goes_on_over_several_decision_tasks(env: Environment) -> None:
    """150 hourly fire times: 100 starts (SWF calls) in one decision task at most, the rest in the next."""
    action = schedules.action_for(Instant, {"ok": True}, workflow_id_prefix="hourly")
    schedules.create(env.client, Jobs.name, "hourly", spec=Spec(every=HOUR), action=action, paused=True)
    settle(env)
    live(env, 10 * DAY)
    schedules.backfill(env.client, Jobs.name, "hourly", START, START + dt.timedelta(hours=149), overlap="allow_all")
    settle(env)
    assert len(schedules.describe(env.client, Jobs.name, "hourly")["backfilling"]) == 1  # 50 to go, after a 1 s timer
    live(env, 2)
    info = schedules.describe(env.client, Jobs.name, "hourly")
    assert info["backfilling"] == [] and info["counts"]["started"] == 150
    started = sorted(r["workflowId"] for r in runs_of(env, "hourly-"))
    assert started == [f"hourly-{schedules.stamp(START + dt.timedelta(hours=h))}" for h in range(150)]
    assert {r["status"] for r in runs_of(env, "hourly-")} == {"COMPLETED"}
