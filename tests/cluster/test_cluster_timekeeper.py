"""The timekeeper on a Redis Cluster: deadlines in every shard fire, each once, missed ones in order.

Domains are placed on each of the 3 masters (their hash tags decide), so the
deadlines a timekeeper must find are on three servers.
"""

from __future__ import annotations

import multiprocessing as mp
import time
from collections import Counter
from typing import Any

import pytest
from redis.crc import key_slot

import backends.local.timeouts as timeouts_module
from backends.local import ManualClock, connect, open_engine
from backends.local.keys import DomainKeys
from backends.local.timekeeper import Timekeeper
from flowser.testing import wait_until
from tests.engine.helpers import WF, history, setup_domain, timer
from tests.engine.test_timekeeper import keep_time

from .local_cluster import LocalCluster


def one_domain_per_master(cluster: LocalCluster) -> list[str]:
    """Three domain names, each held by another master."""
    found: dict[int, str] = {}
    for n in range(1000):
        name = f"tk{n}"
        port = cluster.master_of_slot(key_slot(DomainKeys(name).types.encode())).port
        found.setdefault(port, name)
        if len(found) == 3:
            return list(found.values())
    raise LookupError("no three domains on three masters")


def decide(swf: Any, domain: str, *decisions: dict[str, Any]) -> None:
    task = swf.poll_for_decision_task(domain=domain, taskList={"name": "deciders"})
    assert task.get("taskToken"), "no decision task"
    swf.respond_decision_task_completed(taskToken=task["taskToken"], decisions=list(decisions))


def timers_fired(swf: Any, domain: str, runs: dict[str, str]) -> Counter[tuple[str, str, str]]:
    counts: Counter[tuple[str, str, str]] = Counter()
    for workflow_id, run_id in runs.items():
        for event in history(swf, run_id, workflow_id, domain=domain):
            if event["eventType"] == "TimerFired":
                counts[(domain, workflow_id, event["timerFiredEventAttributes"]["timerId"])] += 1
    return counts


@pytest.mark.slow
def test_three_timekeepers_fire_the_deadlines_of_every_shard_exactly_once(cluster: LocalCluster, cluster_client: Any) -> None:
    domains = one_domain_per_master(cluster)
    spawn = mp.get_context("spawn")
    ready, stop = spawn.Semaphore(0), spawn.Event()
    processes = [spawn.Process(target=keep_time, args=(cluster.url, ready, stop)) for _ in range(3)]
    for process in processes:
        process.start()
    runs: dict[str, dict[str, str]] = {d: {} for d in domains}
    try:
        for _ in processes:
            assert ready.acquire(timeout=60)
        setup = connect(cluster.url, timekeeper=False, clock=ManualClock(time.time()), poll_hold=0.1)
        try:
            for domain in domains:
                setup_domain(setup, domain)
                for w in range(2):
                    run_id = setup.start_workflow_execution(domain=domain, workflowId=f"w{w}", workflowType=WF)["runId"]
                    runs[domain][f"w{w}"] = run_id
                    decide(setup, domain, *[timer(f"t{n}", "2") for n in range(50)])

            def total() -> int:
                return sum(sum(timers_fired(setup, d, runs[d]).values()) for d in domains)

            wait_until(lambda: total() >= 300, timeout=30)
            stop.set()  # once their processes are gone, whatever fired twice is in
            for process in processes:
                process.join(15)
            counts: Counter[tuple[str, str, str]] = Counter()
            for domain in domains:
                counts.update(timers_fired(setup, domain, runs[domain]))
        finally:
            setup.close()
    finally:
        stop.set()
        for process in processes:
            process.join(15)
            if process.is_alive():
                process.kill()
    assert set(counts.values()) == {1}
    assert set(counts) == {(d, f"w{w}", f"t{n}") for d in domains for w in range(2) for n in range(50)}
    assert all(p.exitcode == 0 for p in processes)


def test_missed_deadlines_of_every_shard_fire_in_order_when_a_timekeeper_starts(
    cluster: LocalCluster, cluster_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    domains = one_domain_per_master(cluster)
    t0 = float(int(time.time()) - 1000)
    offline = connect(cluster.url, timekeeper=False, clock=ManualClock(t0), poll_hold=0.1)
    runs: dict[str, str] = {}
    try:
        for i, domain in enumerate(domains):  # due at 10, 40 / 20, 50 / 30, 60: the shards interleave
            setup_domain(offline, domain)
            runs[domain] = offline.start_workflow_execution(domain=domain, workflowId="w", workflowType=WF)["runId"]
            decide(offline, domain, timer("late", str(40 + 10 * i)), timer("early", str(10 + 10 * i)))
    finally:
        offline.close()

    engine = open_engine(cluster.url)
    order: list[tuple[str, float]] = []
    real_fire = timeouts_module.fire

    def recording_fire(run: Any, kind: str, ref: str) -> bool:
        done = real_fire(run, kind, ref)
        if done:
            order.append((run.state.domain, run.now))  # a deadline's events carry it as their time
        return done

    monkeypatch.setattr(timeouts_module, "fire", recording_fire)
    keeper = Timekeeper(engine).start()
    try:
        wait_until(lambda: len(order) >= 6, timeout=10)
        swf = connect(cluster.url, timekeeper=False)
        try:
            fired = {
                d: [(e["timerFiredEventAttributes"]["timerId"], e["eventTimestamp"].timestamp() - t0)
                    for e in history(swf, runs[d], "w", domain=d) if e["eventType"] == "TimerFired"]
                for d in domains
            }
        finally:
            swf.close()
        # nothing due is left in any shard: a deadline leaves its ZSET in the transaction that fires it
        assert all(cluster_client.zcount(DomainKeys(d).deadlines, "-inf", time.time()) == 0 for d in domains)
    finally:
        keeper.stop()
        engine.store.close()
    assert sorted(order) == sorted((d, t0 + 10 * (i + 1) + s) for i, d in enumerate(domains) for s in (0, 30))
    for i, domain in enumerate(domains):
        # each domain's, earliest first, each event stamped with its deadline
        assert [t for d, t in order if d == domain] == [t0 + 10 + 10 * i, t0 + 40 + 10 * i]
        assert fired[domain] == [("early", 10.0 + 10 * i), ("late", 40.0 + 10 * i)]


def test_an_idle_timekeeper_leaves_every_master_alone(cluster: LocalCluster, cluster_client: Any) -> None:
    domains = one_domain_per_master(cluster)
    setup = connect(cluster.url, timekeeper=False, poll_hold=0.1)
    try:
        for domain in domains:
            setup_domain(setup, domain)
            setup.start_workflow_execution(domain=domain, workflowId="w", workflowType=WF, executionStartToCloseTimeout="86400")
            decide(setup, domain, *[timer(f"t{n}", "3600") for n in range(100)])
    finally:
        setup.close()
    masters = [m.client() for m in cluster.masters()]

    def calls() -> list[int]:
        out = []
        for client in masters:
            stats = client.info("commandstats")
            out.append(sum(int(v["calls"]) for name, v in stats.items() if name not in ("cmdstat_info", "cmdstat_cluster", "cmdstat_replconf")))
        return out

    keeper = connect(cluster.url)  # its timekeeper: nothing due for an hour
    try:
        def asleep() -> bool:
            before = calls()
            time.sleep(0.5)
            return calls() == before

        wait_until(asleep, timeout=20)
        before = calls()
        time.sleep(2.0)  # the window under test: an idle timekeeper sends nothing to any master
        # (the replicas' REPLCONF ACK each second aside: replication, not the timekeeper)
        assert calls() == before
    finally:
        keeper.close()
        for client in masters:
            client.close()


def test_the_timekeeper_wait_and_its_stop_key_share_a_slot() -> None:
    from backends.local.keys import TIMEKEEPER_WAKE, timekeeper_stop

    assert key_slot(timekeeper_stop().encode()) == key_slot(TIMEKEEPER_WAKE.encode())
