"""Transitions on a run whose state this process wrote last (``store.RunCache``, ``guard.lua``).

Such a transition does not read the run's state: its writes go with a WATCH
and a guard in one round trip, where a transition that reads the state needs
two. Whatever another process did to the run since, the outcome is the one
the state in Redis gives: each test makes a second engine (its own process's
view: its own store and cache) change the run between the first engine's
poll and its response.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import redis

from backends.local import connect
from backends.local.keys import DomainKeys
from backends.local.store import RUN_CACHE_LARGEST, RunCache
from flowser.testing import wait_until

from .helpers import (
    ACT,
    DOMAIN,
    attrs,
    close_status,
    complete,
    fault,
    history,
    marker,
    poll_activity,
    poll_decision,
    respond,
    schedule,
    setup_domain,
    start,
    types,
)


@pytest.fixture
def other(redis_client: redis.Redis, redis_url: str) -> Iterator[Any]:
    """A second engine on the same Redis, as another server process would be."""
    client = connect(redis_url, poll_hold=0.5)
    try:
        yield client
    finally:
        client.close()


@contextmanager
def round_trips() -> Iterator[list[int]]:
    """Count what this thread sends to Redis (each send is one round trip; the timekeeper's thread,
    woken by a new deadline, sends its own)."""
    counted = [0]
    conn_cls = redis.connection.AbstractConnection
    original = conn_cls.send_packed_command
    caller = threading.get_ident()

    def send(conn: Any, command: Any, check_health: bool = True) -> None:
        if threading.get_ident() == caller:
            counted[0] += 1
        return original(conn, command, check_health)

    conn_cls.send_packed_command = send  # type: ignore[method-assign]
    try:
        yield counted
    finally:
        conn_cls.send_packed_command = original  # type: ignore[method-assign]


def store_of(swf: Any) -> Any:
    return swf.flowser_engine.store


def test_a_response_to_a_poll_of_this_process_costs_one_round_trip(swf: Any) -> None:
    setup_domain(swf)
    start(swf)
    task = poll_decision(swf)
    with round_trips() as cached:
        respond(swf, task, marker("m1"))

    store_of(swf).run_cache = None  # as before: the state read under WATCH first
    run_id = start(swf, "w2")
    task = poll_decision(swf)
    with round_trips() as read:
        respond(swf, task, marker("m2"))
    assert (cached[0], read[0]) == (1, 2)
    assert types(history(swf, run_id, "w2"))[-2:] == ["DecisionTaskCompleted", "MarkerRecorded"]


def test_scheduling_an_activity_of_a_type_read_before_costs_one_round_trip(swf: Any) -> None:
    setup_domain(swf)
    start(swf, "w1")
    respond(swf, poll_decision(swf), schedule("a1"))  # its activity type read from Redis, and kept
    run_id = start(swf, "w2")
    task = poll_decision(swf)
    with round_trips() as counted:
        respond(swf, task, schedule("a2"))
    assert counted[0] == 1
    assert types(history(swf, run_id, "w2"))[-2:] == ["DecisionTaskCompleted", "ActivityTaskScheduled"]


def test_a_type_deprecated_by_another_process_is_seen_by_a_response_that_kept_it(swf: Any, other: Any) -> None:
    setup_domain(swf)
    start(swf, "w1")
    respond(swf, poll_decision(swf), schedule("a1"))  # the activity type kept here, registered
    run_id = start(swf, "w2")
    task = poll_decision(swf)
    other.deprecate_activity_type(domain=DOMAIN, activityType=ACT)
    respond(swf, task, schedule("a2"))
    failed = history(swf, run_id, "w2")[-2]
    assert failed["eventType"] == "ScheduleActivityTaskFailed"
    assert attrs(failed)["cause"] == "ACTIVITY_TYPE_DEPRECATED"


def test_an_activity_task_scheduled_by_this_process_starts_in_one_round_trip_after_its_claim(swf: Any) -> None:
    setup_domain(swf)
    # a poll first makes sure its domain exists: from Redis, until this process's domain cache (filled
    # once its reset listener has subscribed) knows it
    engine = swf.flowser_engine
    wait_until(lambda: engine.domain_cache.current() is not None, timeout=10)
    swf.count_pending_activity_tasks(domain=DOMAIN, taskList={"name": "workers"})
    runs = []
    for n, cache in ((1, True), (2, False)):
        if not cache:
            store_of(swf).run_cache = None
        runs.append(start(swf, f"w{n}"))
        respond(swf, poll_decision(swf), schedule(f"a{n}", input=f"in{n}"))
        with round_trips() as counted:
            task = poll_activity(swf)
        assert (task["activityId"], task["input"]) == (f"a{n}", f"in{n}")
        runs.append(counted[0])
    assert runs[1::2] == [2, 3]  # the claim, then the transition: with its state and event kept, or read
    assert types(history(swf, runs[0], "w1"))[-2:] == ["ActivityTaskScheduled", "ActivityTaskStarted"]


def test_an_activity_task_starts_on_the_stored_state_when_another_process_changed_the_run(
    swf: Any, other: Any
) -> None:
    setup_domain(swf)
    run_id = start(swf)
    respond(swf, poll_decision(swf), schedule("a1", input="in"))
    other.signal_workflow_execution(domain=DOMAIN, workflowId="w1", signalName="go")
    task = poll_activity(swf)
    assert task["input"] == "in"
    events = history(swf, run_id)
    assert {"WorkflowExecutionSignaled", "ActivityTaskStarted"} <= set(types(events))
    swf.respond_activity_task_completed(taskToken=task["taskToken"], result="done")
    assert types(history(swf, run_id))[-1] == "ActivityTaskCompleted"


def test_a_signal_from_another_process_between_poll_and_response_is_not_lost(swf: Any, other: Any) -> None:
    setup_domain(swf)
    run_id = start(swf)
    task = poll_decision(swf)  # this process wrote the run last: its state is cached here
    other.signal_workflow_execution(domain=DOMAIN, workflowId="w1", signalName="go", input="now")
    respond(swf, task, complete("done"))

    events = history(swf, run_id)
    by_type = {e["eventType"]: e for e in events}
    # the completion decided without seeing the signal fails, as on SWF; the signal stays
    assert attrs(by_type["WorkflowExecutionSignaled"])["input"] == "now"
    assert attrs(by_type["CompleteWorkflowExecutionFailed"])["cause"] == "UNHANDLED_DECISION"
    assert "WorkflowExecutionCompleted" not in by_type
    assert close_status(swf, "w1", run_id) is None  # still open
    next_task = poll_decision(other)
    assert next_task["previousStartedEventId"] == 3
    assert "WorkflowExecutionSignaled" in types(next_task["events"])


def test_a_task_started_by_another_process_is_answered_from_the_stored_state(swf: Any, other: Any) -> None:
    setup_domain(swf)
    run_id = start(swf)  # cached here: the decision task scheduled, not started
    task = poll_decision(other)  # started by the other process
    respond(swf, task, complete("done"))  # the cached state would call the token unknown
    assert close_status(swf, "w1", run_id) == "COMPLETED"
    assert types(history(swf, run_id))[-2:] == ["DecisionTaskCompleted", "WorkflowExecutionCompleted"]


def test_a_run_gone_from_redis_stays_gone(swf: Any, redis_client: redis.Redis) -> None:
    setup_domain(swf)
    run_id = start(swf)
    task = poll_decision(swf)
    key = DomainKeys(DOMAIN).run(run_id)
    assert store_of(swf).run_cache.get(key) is not None
    redis_client.delete(key)  # as a purge would, once retention ends
    with fault("UnknownResourceFault"):
        respond(swf, task, complete("done"))
    assert redis_client.exists(key) == 0  # the guard that found it gone did not bring it back
    assert store_of(swf).run_cache.get(key) is None


def test_the_cache_keeps_the_runs_changed_last() -> None:
    cache = RunCache(size=3)
    for n in range(5):
        cache.put(f"run{n}", b"state%d" % n)
    cache.put("run2", b"newer")
    assert len(cache) == 3
    assert [cache.get(f"run{n}") for n in range(5)] == [None, None, b"newer", b"state3", b"state4"]
    cache.put("run5", b"state5")  # run3 is now the one changed longest ago
    assert cache.get("run3") is None and cache.get("run2") == b"newer"
    cache.put("run2", b"x" * (RUN_CACHE_LARGEST + 1))  # too large to keep: its older state goes too
    assert cache.get("run2") is None and len(cache) == 2


def test_the_cache_keeps_the_events_and_records_read_again() -> None:
    cache = RunCache()
    cache.put_events(
        "h1",
        [b'5|ActivityTaskScheduled|1.0|{"activityId":"a"}', b'6|TimerStarted|1.0|{"timerId":"t"}'],
    )
    assert cache.reads((("LINDEX", "h1", 4),)) == ([b'5|ActivityTaskScheduled|1.0|{"activityId":"a"}'], [])
    assert cache.reads((("LINDEX", "h1", 4), ("LINDEX", "h1", 5))) is None  # a timer is not read again
    types_read = ("HMGET", "types", "a:act:1", "a:other:1")
    assert cache.reads((types_read,)) is None
    cache.remember((("LINDEX", "h1", 4), types_read), [b"ignored", [b"record", None]])
    assert cache.reads((types_read,)) == ([[b"record", None]], [(types_read, (b"record", None))])  # checked by the guard
    assert cache.reads((("LINDEX", "h1", 4),))[0] == [b'5|ActivityTaskScheduled|1.0|{"activityId":"a"}']


def test_threads_filling_the_cache_keep_it_near_its_bound() -> None:
    cache = RunCache(size=100)
    errors: list[BaseException] = []

    def fill(n: int) -> None:
        try:
            for i in range(5000):
                cache.put(f"t{n}-{i}", b"s")
                cache.get(f"t{n}-{i - 50}")
                if i % 7 == 0:
                    cache.drop(f"t{n}-{i - 3}")
        except BaseException as error:  # any of them fails the test below
            errors.append(error)

    threads = [threading.Thread(target=fill, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    cache.put("last", b"s")  # a put evicts whatever an interrupted eviction left over
    assert len(cache) <= 100
