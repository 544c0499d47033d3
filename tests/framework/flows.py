"""Workflows and activities the framework tests run (also under ``flowser worker``/``decider``).

Deciders here use the typed history (``task.history``); the arithmetic
example's decider uses the 0.1 style (``filter``/``attrs``).
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

import pydantic

import flowser
from flowser import types
from flowser.history import CANCELED, COMPLETED, FAILED, FIRED, TIMED_OUT


@classmethod  # type: ignore[misc]
def id_from_input(cls: Any, input: Any) -> str:
    return f"{cls.name}.{input['id'] if isinstance(input, dict) else input.id}"


class Base:
    version = "1.0"
    get_id_from_input = id_from_input


# -- a heartbeating activity ----------------------------------------------------------------------
class HeartbeatActivity(Base, types.Activity):
    name = "Heartbeat"
    task_list = "heartbeat"
    heartbeat_timeout = "60"
    auto_heartbeat = False

    def run(self, input: Any) -> Any:
        assert self.task is not None
        answers = [self.task.heartbeat(f"{i + 1}/{input['beats']}") for i in range(input["beats"])]
        return {"beats": len(answers), "cancel_requested": any(answers)}


class HeartbeatWorkflow(Base, types.Workflow):
    name = "HeartbeatFlow"
    task_list = "heartbeat-decisions"

    def decide(self, task: Any) -> None:
        history = task.history
        activity = history.activities.get(f"Heartbeat.{history.start_input['id']}")
        if activity is None:
            task.schedule(HeartbeatActivity, history.start_input)
        elif activity.status == COMPLETED:
            task.complete_workflow(activity.result)
        elif not activity.is_open:
            task.fail_workflow(details=activity.details, reason=f"activity {activity.status}: {activity.reason}")


# -- a child workflow -------------------------------------------------------------------------------
class ChildWorkflow(Base, types.Workflow):
    name = "Child"
    task_list = "child-decisions"

    def decide(self, task: Any) -> None:
        task.complete_workflow({"doubled": task.start_input["x"] * 2})


class ParentWorkflow(Base, types.Workflow):
    name = "Parent"
    task_list = "parent-decisions"

    def decide(self, task: Any) -> None:
        history = task.history
        child_id = f"Child.{history.start_input['id']}"
        child = history.children.get(child_id)
        if child is None:
            task.start_child(ChildWorkflow, {"id": history.start_input["id"], "x": history.start_input["x"]}, control="c1")
        elif child.status == COMPLETED:
            task.complete_workflow({"child": child.result, "control": child.control, "child_run": child.run_id})
        elif not child.is_open:
            task.fail_workflow(reason=f"child {child.status}")


# -- a timer ---------------------------------------------------------------------------------------
class TimerWorkflow(Base, types.Workflow):
    name = "Timer"
    task_list = "timer-decisions"

    def decide(self, task: Any) -> None:
        history = task.history
        timer = history.timers.get("wait")
        if timer is None:
            task.start_timer("wait", history.start_input["seconds"], control={"n": 1})
        elif timer.status == FIRED:
            task.complete_workflow({"fired": True, "control": timer.control})


# -- a signal --------------------------------------------------------------------------------------
class SignalWorkflow(Base, types.Workflow):
    name = "Signal"
    task_list = "signal-decisions"

    def decide(self, task: Any) -> None:
        signals = task.history.signals_named("go")
        if signals:
            task.complete_workflow({"got": signals[0].input})


class FlowDomain(flowser.Domain):
    name = "flows"
    retention_period = "1"
    workflow_types = [HeartbeatWorkflow, ChildWorkflow, ParentWorkflow, TimerWorkflow, SignalWorkflow]
    activity_types = [HeartbeatActivity]


# -- for the CLI and worker tests --------------------------------------------------------------------
class Numbers(pydantic.BaseModel):
    id: str
    values: list[int]


class Total(pydantic.BaseModel):
    total: int


class SumModelActivity(Base, types.Activity):
    """Typed input and result (pydantic)."""

    name = "SumModel"
    task_list = "sum-model"
    input_model = Numbers
    result_model = Total

    def run(self, input: Numbers) -> Total:
        assert isinstance(input, Numbers)
        return Total(total=sum(input.values))


class Boom(Exception):
    pass


class FailingActivity(Base, types.Activity):
    name = "Failing"
    task_list = "failing"

    def run(self, input: Any) -> Any:
        raise Boom("x" * 400 + " the end")


class SlowActivity(Base, types.Activity):
    """Sleeps input["seconds"] (real time), heartbeating automatically; writes marker files if asked."""

    name = "Slow"
    task_list = "slow"
    heartbeat_timeout = "30"
    auto_heartbeat = 0.05

    started = threading.Event()

    def run(self, input: Any) -> Any:
        type(self).started.set()
        if input.get("started_file"):
            with open(input["started_file"], "w") as f:
                f.write(str(os.getpid()))
        deadline = time.monotonic() + input["seconds"]
        while time.monotonic() < deadline:
            assert self.task is not None
            if self.task.cancel_requested:
                self.task.cancel("canceled while sleeping")
                return None
            time.sleep(0.01)
        return {"slept": input["seconds"], "pid": os.getpid()}


class ShortActivity(Base, types.Activity):
    """One second to run (real time)."""

    name = "Short"
    task_list = "short"
    start_to_close_timeout = "1"

    def run(self, input: Any) -> Any:
        return "ran"


class OneActivityWorkflow(Base, types.Workflow):
    """Schedules input["activity"] with input["input"]; completes with its result or fails with its reason."""

    name = "OneActivity"
    task_list = "one-activity-decisions"

    def decide(self, task: Any) -> None:
        history = task.history
        spec = history.start_input
        activity_cls = {c.name: c for c in self._domain.activity_types or []}[spec["activity"]]
        activity_id = f"{activity_cls.name}.{spec['input']['id']}"
        record = history.activities.get(activity_id)
        if record is None:
            task.schedule(activity_cls, spec["input"])
        elif record.status == COMPLETED:
            result = record.result
            task.complete_workflow(result.model_dump() if isinstance(result, pydantic.BaseModel) else result)
        elif record.status in (FAILED, TIMED_OUT, CANCELED):
            task.fail_workflow(details=record.details, reason=f"{record.status}: {record.reason}")


class BrokenWorkflow(Base, types.Workflow):
    name = "Broken"
    task_list = "broken-decisions"

    def decide(self, task: Any) -> None:
        raise ValueError("the decider is broken")


# -- late answers and decider retries (virtual time) ---------------------------------------------------
class GatedActivity(Base, types.Activity):
    """Waits (real time) until the test opens ``gate``; SWF gives it 60 s of (virtual) time."""

    name = "Gated"
    task_list = "gated"
    start_to_close_timeout = "60"
    auto_heartbeat = False

    started = threading.Event()
    gate = threading.Event()

    def run(self, input: Any) -> Any:
        type(self).started.set()
        assert type(self).gate.wait(20)
        return "late"


class FlakyWorkflow(Base, types.Workflow):
    """``decide`` raises on its first call (per id), then schedules nothing and completes."""

    name = "Flaky"
    task_list = "flaky-decisions"
    task_start_to_close_timeout = "30"
    on_decider_error = "retry"

    calls: dict[str, int] = {}

    def decide(self, task: Any) -> None:
        key = task.start_input["id"]
        type(self).calls[key] = type(self).calls.get(key, 0) + 1
        if type(self).calls[key] == 1:
            raise ConnectionError("the database is down")
        task.complete_workflow({"attempts": type(self).calls[key]})


class WorkerDomain(flowser.Domain):
    name = "workers"
    retention_period = "1"
    workflow_types = [OneActivityWorkflow, BrokenWorkflow, FlakyWorkflow]
    activity_types = [SumModelActivity, FailingActivity, SlowActivity, ShortActivity, GatedActivity]


# -- every way a run closes (run.result() and its exceptions) -----------------------------------------
class ClosingWorkflow(Base, types.Workflow):
    """Closes as input["how"] says: complete, fail, cancel, continue (input["times"] runs), or wait (do nothing)."""

    name = "Closing"
    task_list = "closing-decisions"

    def decide(self, task: Any) -> None:
        spec = task.start_input
        how = spec["how"]
        if how == "complete":
            task.complete_workflow({"ok": True})
        elif how == "fail":
            task.fail_workflow(details={"code": 7, "why": "no luck"}, reason="out of luck")
        elif how == "cancel":
            task.cancel_workflow(details="as asked")
        elif how == "continue":
            if spec["n"] < spec["times"]:
                task.continue_as_new({**spec, "n": spec["n"] + 1})
            else:
                task.complete_workflow({"n": spec["n"]})


class OutcomeDomain(flowser.Domain):
    name = "outcomes"
    retention_period = "1"
    workflow_types = [ClosingWorkflow]
