"""``backends.local.reset``: wiping a store under running engines, and the caches no wipe leaves behind."""

from __future__ import annotations

import threading

import pytest
import redis

from backends.local import connect
from backends.local.keys import DomainKeys
from backends.local.reset import Generation, wipe

from ..conftest import FreshRedis
from .helpers import wait_until


def listeners() -> set[threading.Thread]:
    """The reset listener threads alive in this process (those of earlier tests' clients may still be ending)."""
    return {t for t in threading.enumerate() if t.name == "flowser-reset-listener"}


def test_engine_caches_only_while_subscribed_and_a_wipe_drops_it(fresh_redis: FreshRedis) -> None:
    url = fresh_redis()
    swf = connect(url, poll_hold=0.2, timekeeper=False)
    engine = swf.flowser_engine
    try:
        assert engine.domain_cache.current() is None  # the listener starts: nothing cached until it listens
        before = wait_until(engine.domain_cache.current)
        assert isinstance(before, Generation)
        swf.register_domain(name="d", workflowExecutionRetentionPeriodInDays="3")
        swf.count_pending_decision_tasks(domain="d", taskList={"name": "tl"})
        assert before.knows("d")
        with redis.Redis.from_url(url) as client:
            wiped = wipe(client)
        assert (wiped.domains, wiped.engines, wiped.acknowledged) == (1, 1, 1) and wiped.keys >= 1
        after = engine.domain_cache.current()
        assert after is not None and after is not before and not after.knows("d")
        with pytest.raises(swf.exceptions.UnknownResourceFault):
            swf.poll_for_decision_task(domain="d", taskList={"name": "tl"})
        # an entry made from a read before the wipe goes into the dropped generation: never seen again
        before.saw("d")
        assert not engine.domain_cache.current().knows("d")
    finally:
        swf.close()


def test_retention_is_read_again_after_a_reset(fresh_redis: FreshRedis) -> None:
    url = fresh_redis()
    swf = connect(url, poll_hold=0.2, timekeeper=False)
    engine = swf.flowser_engine
    wtype = {"name": "wf", "version": "1"}

    def close_one(retention: str) -> float:
        """Register the domain anew with ``retention``, close a run: its purge deadline minus its close."""
        swf.register_domain(name="r", workflowExecutionRetentionPeriodInDays=retention)
        swf.register_workflow_type(domain="r", name="wf", version="1", defaultTaskList={"name": "tl"},
                                   defaultExecutionStartToCloseTimeout="60", defaultTaskStartToCloseTimeout="10",
                                   defaultChildPolicy="TERMINATE")
        run_id = swf.start_workflow_execution(domain="r", workflowId="w", workflowType=wtype)["runId"]
        swf.terminate_workflow_execution(domain="r", workflowId="w")
        closed = swf.describe_workflow_execution(domain="r", execution={"workflowId": "w", "runId": run_id})
        purge = engine.store.redis.zscore(DomainKeys("r").deadlines, f"purge|{run_id}|")
        return float(purge) - closed["executionInfo"]["closeTimestamp"].timestamp()

    try:
        wait_until(engine.domain_cache.current)
        assert close_one("3") == pytest.approx(3 * 86400, abs=1)
        with redis.Redis.from_url(url) as client:
            assert wipe(client).acknowledged == 1
        assert close_one("1") == pytest.approx(86400, abs=1)
    finally:
        swf.close()


def test_wipe_keeps_other_data_and_tells_only_engines_of_its_database(fresh_redis: FreshRedis) -> None:
    mine, other = fresh_redis(), fresh_redis()
    here, there = connect(mine, timekeeper=False), connect(other, timekeeper=False)
    try:
        for swf in (here, there):
            wait_until(swf.flowser_engine.domain_cache.current)
            swf.register_domain(name="d", workflowExecutionRetentionPeriodInDays="1")
        with redis.Redis.from_url(mine) as client:
            client.set("rq:job:1", "x")
            client.set("swfish", "y")  # not under flowser's prefix "swf:"
            stop = DomainKeys("d").stop("engine")
            client.rpush(stop, 1)  # a shutdown under way: its wake-ups stay, and expire
            client.zadd(DomainKeys("d").by_tag("a:stop:b"), {"run": 1})  # an index like any other
            wiped = wipe(client)
            assert (wiped.engines, wiped.acknowledged) == (1, 1)
            assert sorted(client.keys("*")) == sorted([b"rq:job:1", b"swfish", stop.encode()])
        assert there.describe_domain(name="d")["domainInfo"]["name"] == "d"
    finally:
        here.close()
        there.close()


def test_listener_ends_with_its_store(fresh_redis: FreshRedis) -> None:
    url = fresh_redis()
    already = listeners()
    swf = connect(url, timekeeper=False)
    try:
        wait_until(swf.flowser_engine.domain_cache.current)
        started = listeners() - already
        assert len(started) == 1, started  # one listener, of this store
        (mine,) = started
    finally:
        swf.close()  # even on a failure: a store left open would answer the next test's wipe
    wait_until(lambda: not mine.is_alive())
    with redis.Redis.from_url(url) as client:
        assert wipe(client, timeout=0.5).engines == 0


def test_a_forked_child_listens_for_itself(fresh_redis: FreshRedis) -> None:
    import os

    url = fresh_redis()
    swf = connect(url, timekeeper=False)
    engine = swf.flowser_engine
    inherited = wait_until(engine.domain_cache.current)
    report_r, report_w = os.pipe()
    done_r, done_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: the parent's listener did not come along, nor may its generation be used
        try:
            os.close(report_r)
            os.close(done_w)
            fresh = engine.domain_cache.current() is None
            mine = wait_until(engine.domain_cache.current)
            os.write(report_w, b"1" if fresh and mine is not inherited else b"0")
            wait_until(lambda: engine.domain_cache.current() is not mine)  # dropped by the parent's wipe
            os.write(report_w, b"2")
            os.read(done_r, 1)  # until the parent is done: the listener is still answering
        finally:
            os._exit(0)
    os.close(report_w)
    os.close(done_r)
    try:
        assert os.read(report_r, 1) == b"1"
        with redis.Redis.from_url(url) as client:
            wiped = wipe(client)
        assert (wiped.engines, wiped.acknowledged) == (2, 2)
        assert os.read(report_r, 1) == b"2"
    finally:
        os.close(done_w)
        os.close(report_r)
        os.waitpid(pid, 0)
        swf.close()
