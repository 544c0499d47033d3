"""Beyond 0.1: decider helpers, typed history, codecs, pydantic models, automatic heartbeats.

Step by step on the local engine with a virtual clock: poll a decision task,
decide, respond, let virtual time pass.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import msgpack
import pytest

import flowser
from flowser import exceptions, serializing, types
from flowser.testing import Environment, wait_until

from .flows import (
    Base,
    Numbers,
    OneActivityWorkflow,
    SlowActivity,
    SumModelActivity,
    Total,
    WorkerDomain,
)


class Flow(Base, types.Workflow):
    name = "Flow"
    task_list = "flow"


class Other(Base, types.Workflow):
    name = "Other"
    task_list = "other"


class Packed(Base, types.Activity):
    name = "Packed"
    task_list = "packed"
    codec = serializing.MSGPACK


class NoBeat(SlowActivity):
    """SlowActivity without automatic heartbeats."""

    name = "NoBeat"
    task_list = "nobeat"
    auto_heartbeat = False


class FeatureDomain(flowser.Domain):
    name = "features"
    retention_period = "1"
    workflow_types = [Flow, Other, OneActivityWorkflow]
    activity_types = [Packed, SumModelActivity, SlowActivity, NoBeat]


@pytest.fixture
def env(redis_client: Any, redis_url: str) -> Iterator[Environment]:
    with Environment(FeatureDomain, redis_url, poll_hold=0.2) as environment:
        yield environment


def decide(env: Environment, workflow: type[types.Workflow] = Flow) -> flowser.tasks.Decision:
    task = env.domain.poll_decision(workflow)
    assert task is not None, "no decision task"
    return task


def test_timers_start_fire_cancel(env: Environment) -> None:
    run = env.domain.start(Flow, {"id": "1"})
    decide(env).start_timer("short", 60, control={"k": "v"}).start_timer("long", 3600).complete()
    assert env.domain.poll_decision(Flow) is None
    env.sleep(60)
    task = decide(env)
    timers = task.history.timers
    assert (timers["short"].status, timers["long"].status) == ("FIRED", "STARTED")
    assert timers["short"].control == {"k": "v"}
    assert "TimerFired" in [e.type for e in task.new_events]
    task.cancel_timer("long").complete()
    env.sleep(3600)
    history = run.history()
    assert history.timers["long"].status == "CANCELED"
    assert not history.filter("TimerFired")[1:]


def test_signal_external_and_request_cancel_external(env: Environment) -> None:
    env.domain.start(Flow, {"id": "a"})
    other = env.domain.start(Other, {"id": "b"})
    decide(env, Other).complete()
    decide(env).signal_external(other, "hello", {"x": 1}).request_cancel_external("Other.b").complete()
    task = decide(env, Other)
    assert [(s.name, s.input) for s in task.history.signals] == [("hello", {"x": 1})]
    assert task.history.signals[0].external_execution["workflowId"] == "Flow.a"  # type: ignore[index]
    assert task.history.cancel_requested
    task.cancel_workflow({"why": "asked"}).complete()
    assert other.history().close_status == "CANCELED"
    source = decide(env).history
    assert {e.type for e in source} >= {"ExternalWorkflowExecutionSignaled", "ExternalWorkflowExecutionCancelRequested"}


def test_continue_as_new_keeps_the_workflow_id(env: Environment) -> None:
    first = env.domain.start(Flow, {"id": "1", "n": 1})
    decide(env).continue_as_new({"id": "1", "n": 2}, tag_list=["gen2"]).complete()
    assert first.history().close_status == "CONTINUED_AS_NEW"
    task = decide(env)
    assert task.start_input == {"id": "1", "n": 2}
    assert task.workflow_execution.workflow_id == "Flow.1" and task.workflow_execution.run_id != first.run_id
    started = task.history.started
    assert started is not None and started.get("continuedExecutionRunId") == first.run_id
    assert started.get("tagList") == ["gen2"] and started.get("taskList") == {"name": "flow"}
    task.complete_workflow("done").complete()
    assert env.domain.execution("Flow.1").result(timeout=5) == "done"


def test_fail_workflow_chains_and_cuts_to_limits(env: Environment) -> None:
    run = env.domain.start(Flow, {"id": "1"})
    task = decide(env)
    assert task.mark("before", {"n": 1}).fail_workflow(details="d" * 40_000, reason="r" * 300) is task
    assert task.closes_workflow
    task.complete()
    history = run.history()
    assert history.close_status == "FAILED"
    assert history.closed is not None
    assert len(history.closed.get("reason")) == 256 and len(history.closed.get("details")) == 32_768
    assert serializing.decode(history.markers[0].details) == {"n": 1}


def test_typed_history_decodes_once_without_touching_raw(env: Environment) -> None:
    env.domain.start(Flow, {"id": "1"})
    decide(env).schedule(SumModelActivity, Numbers(id="s", values=[1, 2, 3])).complete()
    activity = env.domain.poll_activity(SumModelActivity)
    assert activity is not None
    assert isinstance(activity.input, Numbers) and activity.input.values == [1, 2, 3]
    activity.complete(Total(total=6))
    task = decide(env)
    record = task.history.activities["SumModel.s"]
    assert isinstance(record.result, Total) and record.result.total == 6
    assert record.result is record.result  # decoded once, cached on the event
    assert isinstance(record.input, Numbers)
    completed = task.most_recent("ActivityTaskCompleted")
    assert completed is not None
    assert completed.attrs["result"] == {"total": 6}  # 0.1's attrs: plain JSON data
    assert completed.raw_attrs["result"] == '{"total": 6}'  # the raw event is never changed
    assert task.history[completed.id] is completed


def test_msgpack_codec(env: Environment) -> None:
    env.domain.start(Flow, {"id": "1"})
    decide(env).schedule(Packed, {"id": "p", "blob": [1, 2]}).complete()
    activity = env.domain.poll_activity(Packed)
    assert activity is not None
    assert msgpack.unpackb(base64.b64decode(activity.raw_input)) == {"id": "p", "blob": [1, 2]}  # type: ignore[arg-type]
    assert activity.input == {"id": "p", "blob": [1, 2]}
    activity.complete({"ok": True})
    record = decide(env).history.activities["Packed.p"]
    assert record.result == {"ok": True} and record.input == {"id": "p", "blob": [1, 2]}
    assert serializing.MSGPACK.loads(serializing.MSGPACK.dumps({"a": [1]})) == {"a": [1]}
    with pytest.raises(ValueError):
        serializing.MSGPACK.loads("not base64!")


def test_pydantic_models_through_workers(env: Environment) -> None:
    with env.workers(OneActivityWorkflow, SumModelActivity):
        run = env.domain.start(OneActivityWorkflow, {"id": "m", "activity": "SumModel", "input": {"id": "m", "values": [4, 5]}})
        assert run.result(timeout=10) == {"total": 9}


def _run_slow(env: Environment, activity: type[types.Activity], rounds: int) -> Any:
    """Run ``activity`` for about ``rounds`` x 0.2 s of real time while 20 s of virtual time pass per
    round; an activity that heartbeats automatically has heartbeated at each round's virtual time first."""
    activity.started.clear()  # type: ignore[attr-defined]
    beats: list[None] = []
    record = flowser.tasks.Activity.heartbeat

    def counted(self: flowser.tasks.Activity, details: Any = None) -> bool:
        answer = record(self, details)
        beats.append(None)
        return answer

    with pytest.MonkeyPatch.context() as patch, env.workers(OneActivityWorkflow, activity):
        patch.setattr(flowser.tasks.Activity, "heartbeat", counted)
        run = env.domain.start(
            OneActivityWorkflow, {"id": activity.name, "activity": activity.name, "input": {"id": "x", "seconds": rounds * 0.2}}
        )
        assert activity.started.wait(10)  # type: ignore[attr-defined]
        for _ in range(rounds - 1):
            if activity.heartbeat_interval():
                # automatic heartbeats (every 0.05 s real): the second to end from now began after the
                # last virtual sleep, so it was recorded at this round's virtual time
                seen = len(beats)
                wait_until(lambda seen=seen: len(beats) >= seen + 2)
            env.sleep(20)  # virtual: more than the 30 s heartbeat timeout over all rounds
        return run.wait(timeout=20)


def test_automatic_heartbeat_keeps_a_long_activity_alive(env: Environment) -> None:
    history = _run_slow(env, SlowActivity, rounds=4)
    assert history.close_status == "COMPLETED", history.closed and history.closed.raw
    assert history.result["slept"] == pytest.approx(0.8)


def test_without_heartbeats_the_activity_times_out(env: Environment) -> None:
    history = _run_slow(env, NoBeat, rounds=4)
    assert history.close_status == "FAILED"
    assert history.closed is not None and history.closed.get("reason").startswith("TIMED_OUT")
    assert history.activities["NoBeat.x"].timeout_type == "HEARTBEAT"


def test_cancel_requested_reaches_the_handler_through_automatic_heartbeats(env: Environment) -> None:
    SlowActivity.started.clear()
    with env.workers(SlowActivity):
        run = env.domain.start(Flow, {"id": "c"})
        decide(env).schedule(SlowActivity, {"id": "c", "seconds": 30}).complete()
        assert SlowActivity.started.wait(10)
        run.signal("stop")
        decide(env).request_cancel_activity("Slow.c").complete()
        task = wait_until(lambda: env.domain.poll_decision(Flow), timeout=10)
    record = task.history.activities["Slow.c"]
    assert record.status == "CANCELED" and record.details == "canceled while sleeping"


def test_wait_times_out_and_handles_without_run_id(env: Environment) -> None:
    run = env.domain.start(Flow, {"id": "1"})
    with pytest.raises(exceptions.Timeout):
        run.wait(timeout=0.1)
    assert env.domain.execution("Flow.1").describe()["executionInfo"]["execution"]["runId"] == run.run_id
    with pytest.raises(exceptions.Error):
        env.domain.execution("nobody").history()


def test_truncate_keeps_head_and_tail() -> None:
    text = "Traceback\n" + "x" * 50_000 + "\nBoom: the end"
    cut = flowser.tasks.truncate(text, 32_768)
    assert cut is not None and len(cut) == 32_768
    assert cut.startswith("Traceback") and cut.endswith("Boom: the end") and "characters cut" in cut
    assert flowser.tasks.truncate("short", 256) == "short"


def test_wrong_workflow_domain_listing() -> None:
    assert WorkerDomain.activity_types is not None
    assert FeatureDomain(None).type_for("activity", "Packed", "1.0") is Packed
    assert FeatureDomain(None).type_for("activity", "Packed", "2.0") is None


def test_unknown_settings_are_refused(env: Environment) -> None:
    with pytest.raises(TypeError, match="task_lsit"):
        env.domain.start(Flow, {"id": "1"}, task_lsit="typo")
    run = env.domain.start(Flow, {"id": "2"}, task_list="elsewhere", tag_list=["a"], task_priority=5)
    started = run.history().started
    assert started is not None
    assert (started.get("taskList"), started.get("tagList"), started.get("taskPriority")) == ({"name": "elsewhere"}, ["a"], "5")
