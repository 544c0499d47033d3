"""``flowser.listen``: a domain's events as an iterator, on the local engine (its stream) and on moto (polling).

The iterator over ``flowser serve`` (server-sent events, reconnecting) is tested
with the server, in ``tests/http/test_listen.py``.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import boto3
import pytest
from moto import mock_aws

import backends
from backends.local import EngineConfig
from backends.local.testing import LocalEnvironment
from flowser.listen import Lost, StreamEvent, listen
from flowser.testing import wait_until

WF = {"name": "wf", "version": "1"}


def setup(client: Any, domain: str = "d") -> None:
    client.register_domain(name=domain, workflowExecutionRetentionPeriodInDays="1")
    client.register_workflow_type(
        domain=domain, name="wf", version="1", defaultTaskList={"name": "tl"},
        defaultExecutionStartToCloseTimeout="600", defaultTaskStartToCloseTimeout="60", defaultChildPolicy="TERMINATE",
    )


def history(client: Any, workflow_id: str, run_id: str, domain: str = "d") -> list[dict[str, Any]]:
    pages = client.get_paginator("get_workflow_execution_history")
    return [e for page in pages.paginate(domain=domain, execution={"workflowId": workflow_id, "runId": run_id}) for e in page["events"]]


def take(listener: Any, count: int) -> list[Any]:
    return [next(listener) for _ in range(count)]


# -- the local engine: its stream -------------------------------------------------------------
def test_the_local_engine_s_events_come_from_its_stream(swf: Any) -> None:
    setup(swf)
    before = swf.start_workflow_execution(domain="d", workflowId="before", workflowType=WF)["runId"]
    stop = threading.Event()
    with listen(swf, "d", stop=stop) as listener:
        assert (listener.mode, listener.note, listener.last_id) == ("stream", None, "2-0")
        run_id = swf.start_workflow_execution(domain="d", workflowId="w1", workflowType=WF)["runId"]
        got = take(listener, 2)
        assert all(isinstance(e, StreamEvent) for e in got)
        assert [e.event for e in got] == history(swf, "w1", run_id)  # boto3's shape, datetimes and all
        assert [(e.id, e.domain, e.workflow_id, e.run_id, e.workflow_type) for e in got] == [
            ("3-0", "d", "w1", run_id, WF), ("4-0", "d", "w1", run_id, WF)
        ]
        assert got[0].attributes["taskList"] == {"name": "tl"} and got[1].event_type == "DecisionTaskScheduled"
        assert listener.last_id == "4-0"
        stop.set()
        assert list(listener) == []  # a stop ends the iteration
    swf.signal_workflow_execution(domain="d", workflowId="before", signalName="s")
    with listen(swf, "d", after="4-0", event_types=["WorkflowExecutionSignaled"], workflow_type="wf") as again:
        signaled = next(again)
        assert isinstance(signaled, StreamEvent) and (signaled.run_id, signaled.event_type) == (before, "WorkflowExecutionSignaled")
    with listen(swf, "d", after="0", workflow_type="other", stop=lambda: True) as nothing:
        assert list(nothing) == []


def test_filtered_out_events_move_the_resume_point_on(swf: Any) -> None:
    setup(swf)
    with listen(swf, "d", event_types="DecisionTaskScheduled", stop=threading.Event()) as listener:
        swf.start_workflow_execution(domain="d", workflowId="w1", workflowType=WF)
        swf.start_workflow_execution(domain="d", workflowId="w2", workflowType=WF)
        got = take(listener, 2)
        assert [e.id for e in got] == ["2-0", "4-0"] and listener.last_id == "4-0"
        swf.signal_workflow_execution(domain="d", workflowId="w1", signalName="s")  # 5-0 alone: a decision task is scheduled
        swf.start_workflow_execution(domain="d", workflowId="w3", workflowType=WF)
        third = next(listener)
        assert third.id == "7-0" and listener.last_id == "7-0"


def test_a_listener_behind_the_bound_gets_a_lost_notice_first(redis_client: Any, redis_url: str) -> None:
    with LocalEnvironment(redis_url, config=EngineConfig(stream_maxlen=10)) as env:
        setup(env.client)
        env.client.start_workflow_execution(domain="d", workflowId="w1", workflowType=WF)
        for i in range(298):
            env.client.signal_workflow_execution(domain="d", workflowId="w1", signalName=f"s{i}")
        with listen(env.client, "d", after="2-0", stop=lambda: False) as listener:
            lost = next(listener)
            assert isinstance(lost, Lost) and lost.after_id == "2-0" and lost.count > 0
            rest = take(listener, 298 - lost.count)
        assert [e.event_id for e in rest] == list(range(3 + lost.count, 301))


def test_unknown_domains_and_the_engine_stopping(swf: Any) -> None:
    with pytest.raises(swf.exceptions.UnknownResourceFault):
        listen(swf, "nope")
    setup(swf)
    listener = listen(swf, "d")
    items: list[Any] = []
    reader = threading.Thread(target=lambda: items.extend(listener))
    reader.start()
    wait_until(lambda: swf.flowser_engine.stream._waiting)
    backends.stop_polls(swf)  # the engine stops: its blocked reads end, and the iteration with them
    reader.join(10)
    assert not reader.is_alive() and items == []


# -- moto: polling visibility and histories ----------------------------------------------------
@pytest.fixture
def moto_swf(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        yield boto3.client("swf", region_name="us-east-1")


def test_without_a_stream_events_come_by_polling(moto_swf: Any) -> None:
    swf = moto_swf
    setup(swf)
    old = swf.start_workflow_execution(domain="d", workflowId="old", workflowType=WF)["runId"]
    swf.start_workflow_execution(domain="d", workflowId="done", workflowType=WF)
    swf.terminate_workflow_execution(domain="d", workflowId="done")  # closed before: nothing of it comes
    with listen(swf, "d", poll_interval=0.05, stop=lambda: False) as listener:
        assert listener.mode == "polling" and listener.last_id is None
        assert listener.note is not None and "no event stream" in listener.note and "every 0.05 s" in listener.note
        swf.signal_workflow_execution(domain="d", workflowId="old", signalName="s", input="x")  # moto needs an input
        new = swf.start_workflow_execution(domain="d", workflowId="new", workflowType=WF)["runId"]
        got = take(listener, len(history(swf, "old", old)) - 2 + len(history(swf, "new", new)))
        swf.terminate_workflow_execution(domain="d", workflowId="new")  # its last events come from the closed list
        closing = take(listener, len(history(swf, "new", new)) - len([e for e in got if e.run_id == new]))
    assert all(isinstance(e, StreamEvent) for e in [*got, *closing])
    by_run: dict[str, list[dict[str, Any]]] = {}
    for e in [*got, *closing]:
        by_run.setdefault(e.run_id, []).append(e.event)
    assert set(by_run) == {old, new}
    assert by_run[old] == history(swf, "old", old)[2:]  # only what came after the listener began
    assert by_run[new] == history(swf, "new", new)  # each run's events once and in order
    assert closing[-1].event_type == "WorkflowExecutionTerminated"
    assert closing[-1].id == f"{new}/{closing[-1].event_id}"


def test_polling_cannot_resume_and_says_so(moto_swf: Any) -> None:
    setup(moto_swf)
    moto_swf.start_workflow_execution(domain="d", workflowId="w1", workflowType=WF)
    with listen(moto_swf, "d", after="12-0", poll_interval=0.05) as listener:
        assert "cannot be resumed" in (listener.note or "")
    began = time.monotonic()
    with listen(moto_swf, "d", after="0", poll_interval=0.05, stop=lambda: time.monotonic() - began > 5) as listener:
        first = take(listener, 2)  # "0": the runs open now, from their first event
    assert [e.event_id for e in first] == [1, 2]
