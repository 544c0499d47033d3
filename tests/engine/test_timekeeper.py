"""The timekeeper on the real clock (issue #3 "Time"; swf-semantics.md §10): latency, several processes,
deadlines missed while nothing ran, idle cost."""

from __future__ import annotations

import multiprocessing as mp
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import redis

import backends.local.timeouts as timeouts_module
from backends.local import ManualClock, connect, open_engine
from backends.local.embedded import EmbeddedRedis
from backends.local.keys import DomainKeys
from backends.local.timekeeper import Timekeeper

from .helpers import (
    DOMAIN,
    WF,
    blocked_clients,
    history,
    poll_activity,
    schedule,
    setup_domain,
    timer,
    wait_until,
)


def decide(swf: Any, *decisions: dict[str, Any], task_list: str = "deciders") -> dict[str, Any]:
    task = swf.poll_for_decision_task(domain=DOMAIN, taskList={"name": task_list})
    assert task.get("taskToken"), "no decision task"
    swf.respond_decision_task_completed(taskToken=task["taskToken"], decisions=list(decisions))
    return dict(task)


def fired(swf: Any, runs: dict[str, str]) -> Counter[tuple[str, str]]:
    """TimerFired events per (workflowId, timerId) over the given runs."""
    counts: Counter[tuple[str, str]] = Counter()
    for workflow_id, run_id in runs.items():
        for event in history(swf, run_id, workflow_id):
            if event["eventType"] == "TimerFired":
                counts[(workflow_id, event["timerFiredEventAttributes"]["timerId"])] += 1
    return counts


@pytest.fixture
def private_url() -> Iterator[str]:
    """A redis-server of this test's own: no other test's client can send it a command."""
    with tempfile.TemporaryDirectory(prefix="fltk", dir="/tmp", ignore_cleanup_errors=True) as data_dir:
        server = EmbeddedRedis.acquire(data_dir)
        try:
            yield server.url
        finally:
            server.close()


# -- (1) latency ------------------------------------------------------------------------------------
def test_a_long_polling_decider_gets_its_timer_within_100_ms(swf: Any) -> None:
    setup_domain(swf)
    run_id = swf.start_workflow_execution(domain=DOMAIN, workflowId="w1", workflowType=WF)["runId"]
    latencies = []
    for round_ in range(2):
        decide(swf, timer(f"t{round_}", "1"))
        task = swf.poll_for_decision_task(domain=DOMAIN, taskList={"name": "deciders"})  # holds up to 2 s
        returned = time.time()
        assert task.get("taskToken"), "the poll ended empty: the timer did not fire within a second of its deadline"
        events = task["events"]
        started, fired_event = events[-4], events[-3]
        assert (started["eventType"], fired_event["eventType"]) == ("TimerStarted", "TimerFired")
        deadline = started["eventTimestamp"].timestamp() + 1
        assert abs(fired_event["eventTimestamp"].timestamp() - deadline) < 0.0015  # stamped with the deadline
        latencies.append(returned - deadline)
        swf.respond_decision_task_completed(taskToken=task["taskToken"], decisions=[])
        swf.signal_workflow_execution(domain=DOMAIN, workflowId="w1", runId=run_id, signalName="next")
    print(f"\ntimer deadline -> decision task in the decider's hands: {', '.join(f'{x * 1000:.1f} ms' for x in latencies)}")
    assert all(latency >= 0 for latency in latencies)
    assert max(latencies) < 0.5  # target: 0.1 s on an idle machine


# -- (2) several timekeepers ------------------------------------------------------------------------
def keep_time(redis_url: str, ready: Any, stop: Any) -> None:
    """Run in a spawned process: an engine with its timekeeper, until told to stop."""
    client = connect(redis_url)
    try:
        ready.release()
        stop.wait(120)
    finally:
        client.close()


@pytest.mark.slow
def test_three_timekeeper_processes_fire_each_of_1000_timers_exactly_once(private_url: str) -> None:
    redis_url = private_url
    redis_client = redis.Redis.from_url(redis_url)
    spawn = mp.get_context("spawn")
    ready, stop = spawn.Semaphore(0), spawn.Event()
    processes = [spawn.Process(target=keep_time, args=(redis_url, ready, stop)) for _ in range(3)]
    for process in processes:
        process.start()
    try:
        for _ in processes:
            assert ready.acquire(timeout=60)
        # every batch decided at the same (manual) instant: all 1,000 deadlines are the same moment
        t0 = time.time()
        setup = connect(redis_url, timekeeper=False, clock=ManualClock(t0), poll_hold=0.1)
        try:
            setup_domain(setup)
            runs = {}
            for w in range(10):
                runs[f"w{w}"] = setup.start_workflow_execution(domain=DOMAIN, workflowId=f"w{w}", workflowType=WF)["runId"]
                decide(setup, *[timer(f"t{n}", "3") for n in range(100)])
            assert time.time() < t0 + 2.5, "setup too slow for the test's deadline"
            scores = Counter(score for _, score in redis_client.zrange(DomainKeys(DOMAIN).deadlines, 0, -1, withscores=True))
            due = min(scores)
            assert scores[due] == 1000 and abs(due - (t0 + 3)) < 0.001  # one moment for all

            def all_fired() -> bool:
                return sum(fired(setup, runs).values()) >= 1000

            wait_until(all_fired, timeout=30)
            done = time.time()
            # the timekeepers stop: once their processes are gone, whatever fired twice is in
            stop.set()
            for process in processes:
                process.join(15)
            counts = fired(setup, runs)
        finally:
            setup.close()
    finally:
        stop.set()
        for process in processes:
            process.join(15)
            if process.is_alive():
                process.kill()
    redis_client.close()
    print(f"\n1,000 timers, 3 timekeepers: all fired {done - due:.3f} s after the deadline")
    assert sum(counts.values()) == 1000
    assert set(counts.values()) == {1}
    assert set(counts) == {(f"w{w}", f"t{n}") for w in range(10) for n in range(100)}
    assert all(p.exitcode == 0 for p in processes)


# -- (3) deadlines missed while nothing ran ---------------------------------------------------------
def test_missed_deadlines_fire_in_deadline_order_when_a_timekeeper_starts(private_url: str, monkeypatch: Any) -> None:
    redis_url = private_url  # no other test's timekeeper can fire them first
    t0 = float(int(time.time()) - 1000)
    offline = connect(redis_url, timekeeper=False, clock=ManualClock(t0), poll_hold=0.1)
    try:
        setup_domain(offline)
        a = offline.start_workflow_execution(
            domain=DOMAIN, workflowId="a", workflowType=WF, executionStartToCloseTimeout="50"
        )["runId"]
        decide(offline, timer("a30", "30"), timer("a10", "10"), schedule("x40", scheduleToStartTimeout="40"), timer("a100", "100"))
        b = offline.start_workflow_execution(domain=DOMAIN, workflowId="b", workflowType=WF)["runId"]
        decide(offline, timer("b45", "45"), timer("b20", "20"))
    finally:
        offline.close()

    engine = open_engine(redis_url)
    order: list[float] = []
    real_fire = timeouts_module.fire

    def recording_fire(run: Any, kind: str, ref: str) -> bool:
        done = real_fire(run, kind, ref)
        if done:
            order.append(run.now)  # a deadline's events carry it as their time
        return done

    monkeypatch.setattr(timeouts_module, "fire", recording_fire)
    began = time.time()
    keeper = Timekeeper(engine).start()
    try:
        swf = connect(redis_url, timekeeper=False, poll_hold=0.1)
        try:
            wait_until(lambda: len(order) >= 6, timeout=5)
            finished = time.time()
            # and written: a deadline leaves the ZSET in the transaction that fires it
            with redis.Redis.from_url(redis_url) as plain:
                due = DomainKeys(DOMAIN).deadlines
                wait_until(lambda: plain.zcount(due, "-inf", time.time()) == 0, timeout=5)
            a_events = history(swf, a, "a")
            b_events = history(swf, b, "b")
            assert poll_activity(swf)["taskToken"] == ""  # x40 timed out before anyone took it
        finally:
            swf.close()
    finally:
        keeper.stop()
        engine.store.close()
    print(f"\n6 missed deadlines fired {finished - began:.3f} s after the timekeeper started")
    # a10, b20, a30, x40's SCHEDULE_TO_START, b45, a's execution timeout (a100 and x40's other timeouts died)
    assert order == [t0 + 10, t0 + 20, t0 + 30, t0 + 40, t0 + 45, t0 + 50]
    assert finished - began < 1.0

    def tail(events: list[dict[str, Any]], first: int) -> list[tuple[str, float, dict[str, Any]]]:
        return [
            (e["eventType"], e["eventTimestamp"].timestamp() - t0, e[e["eventType"][0].lower() + e["eventType"][1:] + "EventAttributes"])
            for e in events[first:]
        ]

    dts = {"taskList": {"name": "deciders"}, "startToCloseTimeout": "60", "scheduleToStartTimeout": "NONE"}
    assert tail(a_events, 8) == [
        ("TimerFired", 10.0, {"timerId": "a10", "startedEventId": 6}),
        ("DecisionTaskScheduled", 10.0, dts),
        ("TimerFired", 30.0, {"timerId": "a30", "startedEventId": 5}),
        ("ActivityTaskTimedOut", 40.0, {"timeoutType": "SCHEDULE_TO_START", "scheduledEventId": 7, "startedEventId": 0}),
        ("WorkflowExecutionTimedOut", 50.0, {"timeoutType": "START_TO_CLOSE", "childPolicy": "TERMINATE"}),
    ]
    assert tail(b_events, 6) == [
        ("TimerFired", 20.0, {"timerId": "b20", "startedEventId": 6}),
        ("DecisionTaskScheduled", 20.0, dts),
        ("TimerFired", 45.0, {"timerId": "b45", "startedEventId": 5}),
    ]


# -- (4) idle cost -----------------------------------------------------------------------------------
def command_counts(client: redis.Redis) -> dict[str, int]:
    stats = client.info("commandstats")
    return {name: int(value["calls"]) for name, value in stats.items() if name != "cmdstat_info"}


@pytest.mark.slow
def test_an_idle_timekeeper_with_10000_pending_timers_sends_no_commands(private_url: str) -> None:
    redis_url = private_url
    redis_client = redis.Redis.from_url(redis_url)
    setup = connect(redis_url, timekeeper=False, poll_hold=0.1)
    try:
        setup_domain(setup)
        for w in range(10):
            setup.start_workflow_execution(
                domain=DOMAIN, workflowId=f"w{w}", workflowType=WF, executionStartToCloseTimeout="86400"
            )
            decide(setup, *[timer(f"t{n}", "3600") for n in range(1000)])
        assert len([m for m in redis_client.zrange(DomainKeys(DOMAIN).deadlines, 0, -1) if m.startswith(b"tmr|")]) == 10_000

        keeper_client = connect(redis_url)  # its timekeeper: nothing due for an hour
        try:
            def asleep() -> bool:
                """Its wake-up listener blocks, and Redis saw no command for 0.5 s: it started,
                drained the wake-ups the setup left, and went to sleep."""
                if blocked_clients(redis_client) < 1:
                    return False
                before = command_counts(redis_client)
                time.sleep(0.5)
                return command_counts(redis_client) == before

            wait_until(asleep, timeout=20)
            before = command_counts(redis_client)
            cpu_before = time.process_time()
            time.sleep(2.0)  # the window under test: an idle timekeeper sends nothing in it
            cpu = time.process_time() - cpu_before
            after = command_counts(redis_client)
            sent = {name: after.get(name, 0) - calls for name, calls in before.items() if after.get(name, 0) != calls}
            sent.update({name: calls for name, calls in after.items() if name not in before})
            print(f"\nidle timekeeper, 10,000 pending timers: Redis commands in 2 s: {sent or 0}; "
                  f"this process's CPU: {cpu * 1000:.1f} ms")
            assert sent == {}

            # and a deadline added by another process (no timekeeper there) wakes it at once
            run_id = setup.start_workflow_execution(domain=DOMAIN, workflowId="late", workflowType=WF)["runId"]
            decide(setup, timer("soon", "1"))
            started = history(setup, run_id, "late")[-1]
            assert started["eventType"] == "TimerStarted"
            deadline = started["eventTimestamp"].timestamp() + 1

            def soon_fired() -> bool:
                return history(setup, run_id, "late")[-2]["eventType"] == "TimerFired"

            wait_until(soon_fired, timeout=5, interval=0.005)
            got = time.time()
            print(f"deadline added by another process fired {got - deadline:.3f} s after it")
            assert got - deadline < 0.5
        finally:
            keeper_client.close()
    finally:
        setup.close()
        redis_client.close()
