"""Helpers for the decision, task and timeout tests: decisions, faults, quick clients, raw wire calls."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from botocore.exceptions import ClientError

from backends.local import connect, wire

from .helpers import ACT, DOMAIN, attrs, history, poll_activity, poll_decision, schedule, start, types

__all__ = [
    "ACT",
    "DOMAIN",
    "attrs",
    "body",
    "cancel_activity",
    "cancel_workflow",
    "describe",
    "fail_workflow",
    "fault",
    "first_decision",
    "history",
    "marker",
    "pending_activities",
    "pending_decisions",
    "poll_activity",
    "poll_decision",
    "poll_in_process",
    "quick_client",
    "raw_call",
    "respond",
    "schedule",
    "start",
    "types",
    "whole_seconds",
]


def body(response: dict[str, Any]) -> dict[str, Any]:
    """A response without botocore's ResponseMetadata."""
    return {k: v for k, v in response.items() if k != "ResponseMetadata"}


@contextmanager
def fault(code: str, message: str | None = None) -> Iterator[list[ClientError]]:
    """Expect a ClientError with this error code (and exact message, if given)."""
    caught: list[ClientError] = []
    with pytest.raises(ClientError) as info:
        yield caught
    error = info.value.response["Error"]
    assert error["Code"] == code, error
    if message is not None:
        assert error["Message"] == message, error
    caught.append(info.value)


def raw_call(swf: Any, operation: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """One request on the wire, as a client without botocore's parameter checks would send it."""
    status, _headers, payload = wire.handle(
        swf.flowser_engine, f"SimpleWorkflowService.{operation}", json.dumps(params).encode()
    )
    return status, (json.loads(payload) if payload else {})


# -- decisions ---------------------------------------------------------------------------
def cancel_activity(activity_id: str) -> dict[str, Any]:
    return {
        "decisionType": "RequestCancelActivityTask",
        "requestCancelActivityTaskDecisionAttributes": {"activityId": activity_id},
    }


def marker(name: str, details: str | None = None) -> dict[str, Any]:
    a: dict[str, Any] = {"markerName": name}
    if details is not None:
        a["details"] = details
    return {"decisionType": "RecordMarker", "recordMarkerDecisionAttributes": a}


def fail_workflow(**kw: Any) -> dict[str, Any]:
    return {"decisionType": "FailWorkflowExecution", "failWorkflowExecutionDecisionAttributes": kw}


def cancel_workflow(**kw: Any) -> dict[str, Any]:
    return {"decisionType": "CancelWorkflowExecution", "cancelWorkflowExecutionDecisionAttributes": kw}


# -- calls -------------------------------------------------------------------------------
def respond(swf: Any, task: dict[str, Any], *decisions: dict[str, Any], **kw: Any) -> None:
    swf.respond_decision_task_completed(taskToken=task["taskToken"], decisions=list(decisions), **kw)


def first_decision(swf: Any, workflow_id: str = "w1", **start_kw: Any) -> tuple[str, dict[str, Any]]:
    """Start a run and take its first decision task (events 1-3)."""
    run_id = start(swf, workflow_id, **start_kw)
    task = poll_decision(swf)
    assert task["startedEventId"] == 3, task
    return run_id, task


def describe(swf: Any, run_id: str, workflow_id: str = "w1") -> dict[str, Any]:
    return body(
        swf.describe_workflow_execution(domain=DOMAIN, execution={"workflowId": workflow_id, "runId": run_id})
    )


def pending_decisions(swf: Any, task_list: str = "deciders") -> int:
    return int(swf.count_pending_decision_tasks(domain=DOMAIN, taskList={"name": task_list})["count"])


def pending_activities(swf: Any, task_list: str = "workers") -> int:
    return int(swf.count_pending_activity_tasks(domain=DOMAIN, taskList={"name": task_list})["count"])


def whole_seconds(env: Any) -> float:
    """Move a virtual clock to the next whole second, so deadlines and timestamps compare exactly."""
    target = float(math.floor(env.clock.now()) + 1)
    env.clock.set(target)
    return target


def elapsed_since(t0: float) -> float:
    return time.monotonic() - t0


@contextmanager
def quick_client(redis_url: str, poll_hold: float = 0.1, **kw: Any) -> Iterator[Any]:
    """A second client on the same Redis, with a short poll hold and no timekeeper of its own."""
    client = connect(redis_url, poll_hold=poll_hold, timekeeper=False, **kw)
    try:
        yield client
    finally:
        client.close()


def poll_in_process(redis_url: str, queue: Any, hold: float) -> None:
    """Run in a spawned process: long-poll for a decision task, report when and what came back."""
    client = connect(redis_url, poll_hold=hold, timekeeper=False)
    try:
        queue.put("ready")
        began = time.time()
        task = client.poll_for_decision_task(domain=DOMAIN, taskList={"name": "deciders"})
        queue.put((began, time.time(), task.get("taskToken"), task.get("workflowExecution")))
    finally:
        client.close()
