"""A domain's event stream (``backends.local.stream``): written with the events, read after an id, bounded.

Every history event a transaction appends goes on its domain's stream in the
same MULTI/EXEC, numbered ``<seq>-0`` with no gap; a reader resumes after the
id it read last, and one that fell behind the bound is told how many entries
it lost.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
import redis

from backends.local import EngineConfig, connect
from backends.local.events import dump_event
from backends.local.faults import UnknownResourceFault, ValidationException
from backends.local.keys import DomainKeys
from backends.local.reset import wipe
from backends.local.store import RedisStore
from backends.local.stream import StreamEntry
from backends.local.testing import LocalEnvironment

from ..conftest import FreshRedis
from .helpers import (
    DOMAIN,
    WF,
    Flow,
    complete,
    continue_as_new,
    history,
    schedule,
    setup_domain,
    start,
    start_child,
    wait_until,
)


def read_all(engine: Any, after: str = "0", count: int = 1000, domain: str = DOMAIN) -> tuple[list[StreamEntry], int, str]:
    """Every entry after ``after`` (read ``count`` at a time): (entries, lost in all, the last cursor)."""
    entries: list[StreamEntry] = []
    lost = 0
    cursor = after
    while True:
        got = engine.read_stream(domain, cursor, count=count)
        lost += got.lost
        entries += got.entries
        if not got.entries:
            return entries, lost, got.cursor
        cursor = got.cursor


def by_run(entries: list[StreamEntry]) -> dict[str, list[dict[str, Any]]]:
    runs: dict[str, list[dict[str, Any]]] = {}
    for entry in entries:
        runs.setdefault(entry.run_id, []).append(entry.event())
    return runs


def wire_form(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A boto3 history as the engine answers it (eventTimestamp in epoch seconds)."""
    return [{**e, "eventTimestamp": e["eventTimestamp"].timestamp()} for e in events]


def test_each_event_goes_on_the_stream_once_in_order_with_its_run(env: Any) -> None:
    flow = Flow(env)
    parent = flow.start("p")
    flow.decide(schedule("a1"), start_child("c", taskList={"name": "deciders"}))
    flow.swf.signal_workflow_execution(domain=DOMAIN, workflowId="p", signalName="s")
    entries, lost, cursor = read_all(env.engine)
    assert lost == 0
    assert [e.seq for e in entries] == list(range(1, len(entries) + 1))
    assert cursor == f"{len(entries)}-0"
    child = next(e.run_id for e in entries if e.workflow_id == "c")
    runs = by_run(entries)
    assert set(runs) == {parent, child}
    assert runs[parent] == wire_form(history(flow.swf, parent, "p"))
    assert runs[child] == wire_form(history(flow.swf, child, "c"))
    first = entries[0].to_dict()
    assert first["workflowId"] == "p" and first["runId"] == parent and first["workflowType"] == WF
    assert first["event"]["eventType"] == "WorkflowExecutionStarted" and first["id"] == "1-0"
    assert [json.loads(e.to_json()) for e in entries] == [e.to_dict() for e in entries]


def test_a_transaction_that_fails_writes_neither_events_nor_entries(swf: Any) -> None:
    setup_domain(swf)
    engine = swf.flowser_engine
    store: RedisStore = engine.store
    dk = DomainKeys(DOMAIN)
    event = dump_event({"eventId": 1, "eventTimestamp": 1.0, "eventType": "MarkerRecorded", "markerRecordedEventAttributes": {}})
    other = redis.Redis(connection_pool=store.redis.connection_pool)
    attempts: list[int] = []

    def body(tx: Any) -> None:
        tx.read_many(("GET", "flowser-test-watched"))
        attempts.append(1)
        if len(attempts) == 1:
            other.set("flowser-test-watched", "changed")  # EXEC fails: nothing of this attempt is written
        tx.multi()
        tx.append_events(dk, "r1", [event])
        tx.stream_events(dk, 100, "r1|w1|wf|1", [event])

    store.transaction(["flowser-test-watched"], body)
    assert len(attempts) == 2
    assert store.history_range(dk, "r1", 0, -1) == [event]
    entries, _, _ = read_all(engine)
    assert [(e.seq, e.run_id, e.stored) for e in entries] == [(1, "r1", event)]

    def aborted(tx: Any) -> None:
        tx.multi()
        tx.append_events(dk, "r2", [event])
        tx.stream_events(dk, 100, "r2|w2|wf|1", [event])
        tx._write("SET", "only-a-key")  # refused when queued: the whole EXEC is aborted

    with pytest.raises(redis.ResponseError):
        store.transaction([], aborted)
    assert store.history_range(dk, "r2", 0, -1) == []
    assert read_all(engine, "1-0")[0] == []
    other.close()


def test_resuming_after_the_last_id_read_continues_exactly(swf: Any) -> None:
    setup_domain(swf)
    for i in range(6):
        start(swf, f"w{i}")
    engine = swf.flowser_engine
    whole, _, _ = read_all(engine)
    pieces, lost, _ = read_all(engine, count=5)
    assert lost == 0 and [e.seq for e in pieces] == [e.seq for e in whole] == list(range(1, 13))
    middle = whole[6].id
    rest, _, _ = read_all(engine, middle)
    assert [e.seq for e in rest] == list(range(8, 13))
    assert engine.read_stream(DOMAIN, "12").entries == []  # "<seq>" alone is that entry's id too


def test_from_now_reads_only_what_is_written_after(swf: Any) -> None:
    setup_domain(swf)
    start(swf, "before")
    engine = swf.flowser_engine
    now = engine.read_stream(DOMAIN)  # None: from now
    assert now.entries == [] and now.cursor == "2-0"
    start(swf, "after")
    got = engine.read_stream(DOMAIN, now.cursor)
    assert {e.workflow_id for e in got.entries} == {"after"} and got.lost == 0


def test_a_reader_behind_the_bound_is_told_how_many_entries_it_lost(redis_client: Any, redis_url: str) -> None:
    with LocalEnvironment(redis_url, config=EngineConfig(stream_maxlen=10)) as env:
        setup_domain(env.client)
        run_id = start(env.client, "w1")
        for i in range(498):
            env.client.signal_workflow_execution(domain=DOMAIN, workflowId="w1", signalName=f"s{i}")
        engine = env.engine
        assert redis_client.get(DomainKeys(DOMAIN).stream_seq) == b"500"
        kept = redis_client.xlen(DomainKeys(DOMAIN).stream)
        assert 10 <= kept < 500  # MAXLEN ~ trims whole nodes: at least the bound is kept
        got = engine.read_stream(DOMAIN, "3-0", count=1000)
        assert got.lost == 500 - kept - 3
        assert [e.seq for e in got.entries] == list(range(501 - kept, 501))
        assert [e.event()["eventId"] for e in got.entries] == list(range(501 - kept, 501))
        # from the oldest kept: what was trimmed before is not this reader's loss
        oldest = engine.read_stream(DOMAIN, "0", count=1)
        assert oldest.lost == 0 and oldest.entries[0].seq == 501 - kept
        # but "0-0" is the place before the first entry (a reader that began on an empty stream)
        first = engine.read_stream(DOMAIN, "0-0", count=1)
        assert first.lost == 500 - kept and first.entries[0].seq == 501 - kept
        # nothing is skipped silently: lost + read covers every entry after the id
        entries, lost, _ = read_all(engine, "0", count=7)
        assert lost == 0 and len(entries) == kept
        behind = read_all(engine, "1-0", count=7)
        assert behind[1] + len(behind[0]) == 499
        assert len(history(env.client, run_id)) == 500


def test_a_blocked_read_wakes_for_a_new_event_and_ends_when_the_engine_stops(swf: Any) -> None:
    setup_domain(swf)
    engine = swf.flowser_engine
    got: list[Any] = []
    cursor = engine.read_stream(DOMAIN).cursor
    reader = threading.Thread(target=lambda: got.append(engine.read_stream(DOMAIN, cursor, wait=30)))
    reader.start()
    wait_until(lambda: engine.stream._waiting)
    start(swf, "w1")
    reader.join(10)
    assert not reader.is_alive()
    assert [e.event()["eventType"] for e in got[0].entries] == ["WorkflowExecutionStarted", "DecisionTaskScheduled"]
    cursor = got[0].cursor
    reader = threading.Thread(target=lambda: got.append(engine.read_stream(DOMAIN, cursor, wait=30)))
    reader.start()
    wait_until(lambda: engine.stream._waiting)
    engine.stop_polls()
    reader.join(10)
    assert not reader.is_alive() and got[1].ended and got[1].entries == []
    assert engine.read_stream(DOMAIN, cursor, wait=30).ended  # and no later read waits


def test_unknown_domains_and_ids_are_refused(swf: Any) -> None:
    setup_domain(swf)
    engine = swf.flowser_engine
    with pytest.raises(UnknownResourceFault):
        engine.read_stream("nope")
    for bad in ("x", "-1", "1-1", "01", ""):
        with pytest.raises(ValidationException):
            engine.read_stream(DOMAIN, bad)
    with pytest.raises(ValidationException):
        engine.read_stream(DOMAIN, "0", count=0)


def test_a_bound_of_zero_writes_no_stream(fresh_redis: FreshRedis) -> None:
    url = fresh_redis()
    swf = connect(url, timekeeper=False, config=EngineConfig(stream_maxlen=0))
    try:
        setup_domain(swf)
        start(swf, "w1")
        store = swf.flowser_engine.store
        assert not store.redis.exists(DomainKeys(DOMAIN).stream, DomainKeys(DOMAIN).stream_seq)
        assert swf.flowser_engine.read_stream(DOMAIN, "0").entries == []
    finally:
        swf.close()


def test_reset_removes_the_stream_and_numbering_starts_again(fresh_redis: FreshRedis) -> None:
    url = fresh_redis()
    swf = connect(url, timekeeper=False)
    try:
        setup_domain(swf)
        start(swf, "w1")
        start(swf, "w2")
        engine = swf.flowser_engine
        cursor = engine.read_stream(DOMAIN, "0").cursor
        assert cursor == "4-0"
        wipe(engine.store)
        dk = DomainKeys(DOMAIN)
        assert not engine.store.redis.exists(dk.stream, dk.stream_seq)
        setup_domain(swf)
        start(swf, "w3")
        got = engine.read_stream(DOMAIN, cursor)  # beyond the new stream's last entry: read from its start
        assert [e.seq for e in got.entries] == [1, 2] and got.lost == 0
        assert {e.workflow_id for e in got.entries} == {"w3"}
    finally:
        swf.close()


def test_a_run_that_closes_and_one_that_starts_in_one_transaction(env: Any) -> None:
    flow = Flow(env)
    first = flow.start("w1")
    flow.decide(continue_as_new())
    entries, _, _ = read_all(env.engine)
    runs = by_run(entries)
    assert len(runs) == 2
    second = next(r for r in runs if r != first)
    assert runs[first] == wire_form(history(flow.swf, first, "w1"))
    assert runs[second] == wire_form(history(flow.swf, second, "w1"))
    # one EXEC wrote both: the closing run's events, then the new run's
    closing = [e.seq for e in entries if e.run_id == first][-1]
    assert next(e.seq for e in entries if e.run_id == second) == closing + 1
    flow.decide(complete())
