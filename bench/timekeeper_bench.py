"""Benchmark of the timekeeper (run by hand; not a test).

    .venv/bin/python bench/timekeeper_bench.py                  # fresh embedded redis-server in a temp dir
    .venv/bin/python bench/timekeeper_bench.py --redis redis://localhost:6379/0   (its db is FLUSHED)
    .venv/bin/python bench/timekeeper_bench.py --executions 2000 --idle 5

N (default 10,000) open executions, each with one pending timer, all due at
the same moment. Three figures, each with its target from issue #3:

(1) Redis memory per execution: ``INFO memory`` used_memory after creating
    the N executions (start, first decision task, StartTimer) minus before,
    divided by N. Target <= 8 KB.
(2) Timekeeper CPU while nothing is due: one timekeeper in its own process
    (``backends.local.connect``, which starts one), settled, then its process
    CPU time (``time.process_time()`` in that process) over ``--idle``
    seconds (default 10), and the Redis commands it sent meanwhile (INFO
    commandstats delta, INFO itself excluded). Target: indistinguishable
    from zero.
(3) Time from the deadline until all N TimerFired events are written, with
    that one timekeeper: the bench watches CountPendingDecisionTasks (each
    TimerFired schedules the run's decision task in the same transaction)
    until it reaches N. Target: all within 2 s of the deadline.

All timers share one deadline because the executions are created by an
engine on a ``ManualClock`` standing at the bench's start time T0: every
StartTimer is decided "at" T0, so every timer is due at T0 + S. S is chosen
from a pilot run's creation rate so that creation and the idle window are
over before the deadline (the timekeeper process runs on the real clock).
Creation goes through ``Engine.handle`` (the engine without boto3) to keep
the bench short; the timekeeper is the unit under test, not the client.
"""

from __future__ import annotations

import argparse
import itertools
import math
import multiprocessing as mp
import os
import random
import statistics
import sys
import tempfile
import time
from typing import Any

import redis

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from backends.local import Engine, EngineConfig, ManualClock, connect
from backends.local.store import RedisStore

DOMAIN = "bench"
WF = {"name": "wf", "version": "1"}


def register(engine: Engine, domain: str) -> None:
    engine.handle("RegisterDomain", {"name": domain, "workflowExecutionRetentionPeriodInDays": "1"})
    engine.handle(
        "RegisterWorkflowType",
        {
            "domain": domain,
            "name": WF["name"],
            "version": WF["version"],
            "defaultTaskList": {"name": "deciders"},
            "defaultExecutionStartToCloseTimeout": "86400",
            "defaultTaskStartToCloseTimeout": "600",
            "defaultChildPolicy": "TERMINATE",
        },
    )


def create(engine: Engine, domain: str, count: int, fire_after: int, prefix: str = "w") -> None:
    """``count`` open executions, each: started, first decision task taken, one StartTimer decided."""
    for n in range(count):
        engine.handle("StartWorkflowExecution", {"domain": domain, "workflowId": f"{prefix}{n}", "workflowType": WF})
        task = engine.handle("PollForDecisionTask", {"domain": domain, "taskList": {"name": "deciders"}})
        assert task.get("taskToken"), "no decision task"
        engine.handle(
            "RespondDecisionTaskCompleted",
            {
                "taskToken": task["taskToken"],
                "decisions": [
                    {
                        "decisionType": "StartTimer",
                        "startTimerDecisionAttributes": {"timerId": "t", "startToFireTimeout": str(fire_after)},
                    }
                ],
            },
        )


def commands(client: redis.Redis) -> dict[str, int]:
    stats = client.info("commandstats")
    return {k: int(v["calls"]) for k, v in stats.items() if k != "cmdstat_info"}


def timekeeper_process(url: str, requests: Any, answers: Any) -> None:
    """A process whose only job is a timekeeper; answers "cpu" with its process CPU time."""
    client = connect(url)
    try:
        answers.put(("ready", time.process_time()))
        while True:
            request = requests.get()
            if request == "stop":
                break
            answers.put((request, time.process_time()))
    finally:
        client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--redis", help="Redis URL (its database is flushed); default: a fresh embedded server")
    parser.add_argument("--executions", type=int, default=10_000)
    parser.add_argument("--idle", type=float, default=10.0, help="seconds of the idle CPU window")
    args = parser.parse_args()

    server = None
    tmp = None
    url = args.redis
    if not url:
        from backends.local.embedded import EmbeddedRedis

        tmp = tempfile.TemporaryDirectory(prefix="tkb", dir="/tmp")
        server = EmbeddedRedis.acquire(tmp.name)
        url = server.url
    client = redis.Redis.from_url(url)
    client.flushdb()
    n = args.executions
    try:
        t0 = time.time()
        clock = ManualClock(t0)
        engine = Engine(RedisStore.from_url(url), clock, EngineConfig(poll_hold=0.0))

        # pilot: creation rate, to place the deadline after creation and the idle window
        register(engine, "pilot")
        pilot = min(300, n)
        began = time.perf_counter()
        create(engine, "pilot", pilot, 10**6, prefix="p")
        per_execution = (time.perf_counter() - began) / pilot
        client.flushdb()
        expected_creation = per_execution * n
        fire_after = math.ceil(time.time() - t0 + expected_creation * 1.5 + args.idle + 12)
        print(f"redis: {url}\nexecutions: {n}; creation ~{per_execution * 1000:.2f} ms each; "
              f"all timers due at T0 + {fire_after} s")

        register(engine, DOMAIN)
        memory_before = int(client.info("memory")["used_memory"])
        began = time.perf_counter()
        create(engine, DOMAIN, n, fire_after)
        created_in = time.perf_counter() - began
        memory_after = int(client.info("memory")["used_memory"])
        deadline = t0 + fire_after
        per = (memory_after - memory_before) / n
        print(f"created {n} executions with a pending timer in {created_in:.1f} s")
        print(f"(1) Redis memory per execution: {per / 1024:.2f} KB ({per:.0f} B)  [target <= 8 KB]")
        engine.store.close()

        spawn = mp.get_context("spawn")
        requests, answers = spawn.Queue(), spawn.Queue()
        keeper = spawn.Process(target=timekeeper_process, args=(url, requests, answers))
        keeper.start()
        try:
            assert answers.get(timeout=60)[0] == "ready"
            time.sleep(2.0)  # settle: first look at the deadlines, wake-ups left by creation
            assert time.time() + args.idle + 1 < deadline, "creation overran; rerun"
            requests.put("cpu")
            cpu_before = answers.get(timeout=10)[1]
            stats_before = commands(client)
            time.sleep(args.idle)
            requests.put("cpu")
            cpu_after = answers.get(timeout=10)[1]
            stats_after = commands(client)
            sent = {k: v - stats_before.get(k, 0) for k, v in stats_after.items() if v != stats_before.get(k, 0)}
            idle_cpu = cpu_after - cpu_before
            print(f"(2) timekeeper process CPU over {args.idle:g} s idle: {idle_cpu * 1000:.2f} ms "
                  f"({idle_cpu / args.idle * 100:.4f} % of a core); Redis commands meanwhile: {sent or 0}  "
                  "[target: indistinguishable from zero]")
            # the measuring itself (queue round trip) costs the process a little CPU: show its size
            requests.put("cpu")
            a = answers.get(timeout=10)[1]
            requests.put("cpu")
            b = answers.get(timeout=10)[1]
            print(f"    (one CPU query costs the timekeeper process {(b - a) * 1000:.2f} ms)")

            swf = connect(url, timekeeper=False, poll_hold=0.1)
            try:
                wait = deadline - time.time()
                print(f"waiting {wait:.1f} s for the deadline...")
                samples: list[tuple[float, int]] = []
                while True:
                    count = swf.count_pending_decision_tasks(domain=DOMAIN, taskList={"name": "deciders"})["count"]
                    now = time.time()
                    samples.append((now, count))
                    if count >= n:
                        break
                    if now > deadline + 120:
                        raise SystemExit(f"only {count} of {n} fired within 120 s of the deadline")
                    time.sleep(0.002 if now > deadline - 0.05 else min(0.2, max(deadline - now - 0.05, 0.002)))
                all_fired = samples[-1][0] - deadline
                first = next((t for t, c in samples if c > 0), samples[-1][0]) - deadline
                print(f"(3) from the deadline: first TimerFired seen after {first * 1000:.0f} ms, "
                      f"all {n} written after {all_fired * 1000:.0f} ms  [target <= 2 s]")
                rate = [(t - deadline, c) for t, c in samples if c > 0]
                if len(rate) > 2:
                    span = rate[-1][0] - rate[0][0]
                    print(f"    firing rate ~{(rate[-1][1] - rate[0][1]) / span:.0f} timers/s" if span > 0 else "")
                # check a sample: exactly one TimerFired, stamped with the deadline
                for w in random.sample(range(n), min(50, n)):
                    runs = swf.list_open_workflow_executions(
                        domain=DOMAIN, startTimeFilter={"oldestDate": 0}, executionFilter={"workflowId": f"w{w}"}
                    )["executionInfos"]
                    history = swf.get_workflow_execution_history(domain=DOMAIN, execution=runs[0]["execution"])
                    fired = [e for e in history["events"] if e["eventType"] == "TimerFired"]
                    assert len(fired) == 1 and abs(fired[0]["eventTimestamp"].timestamp() - round(deadline, 3)) < 0.002
                print("    sample of 50 histories: one TimerFired each, stamped with the deadline")
            finally:
                swf.close()
            requests.put("stop")
            keeper.join(15)
        finally:
            if keeper.is_alive():
                keeper.kill()
        mem = client.info("memory")
        print(f"redis used_memory at the end: {int(mem['used_memory']) / 2**20:.1f} MiB; "
              f"median sample interval {statistics.median([b[0] - a[0] for a, b in itertools.pairwise(samples)] or [0]) * 1000:.1f} ms")
    finally:
        client.close()
        if server is not None:
            server.close()
        if tmp is not None:
            tmp.cleanup()


if __name__ == "__main__":
    main()
