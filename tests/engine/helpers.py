"""Helpers for the engine tests, one definition each.

- constants: the helpers' domain and types (``DOMAIN``, ``WF``, ``ACT``), ``ARN_PREFIX``, ``DTS``;
- calls: ``setup_domain``, ``start``, polls, ``respond``, ``first_decision``, ``describe``, counts,
  ``raw_call`` (a request as a client without botocore's checks would send it);
- answers: ``body``, ``fault``, ``history``, ``types``, ``attrs``, ``seq``, ``ids_of``, ``close_status``;
- decisions: ``decision`` and one builder per decision type the tests use;
- time: ``at``, ``whole_second``, ``deadlines_of``, and ``wait_until`` (``flowser.testing``'s: real
  time, for what other threads and processes do);
- ``Flow``: a virtual-time environment that starts runs and takes their decision tasks;
- other clients: ``quick_client``, ``poll_in_process``.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from botocore.exceptions import ClientError

from backends.local import connect, wire
from flowser.testing import wait_until

__all__ = [
    "ACT",
    "ARN_PREFIX",
    "DOMAIN",
    "DTS",
    "WF",
    "Flow",
    "at",
    "attrs",
    "blocked_clients",
    "body",
    "cancel_activity",
    "cancel_external",
    "cancel_timer",
    "cancel_workflow",
    "close_status",
    "complete",
    "continue_as_new",
    "deadlines_of",
    "decision",
    "describe",
    "fail_workflow",
    "fault",
    "first_decision",
    "history",
    "ids_of",
    "lambda_fn",
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
    "seq",
    "setup_domain",
    "signal_external",
    "start",
    "start_child",
    "terminate",
    "timer",
    "types",
    "wait_until",
    "waiting_polls",
    "whole_second",
]

DOMAIN = "test"
WF = {"name": "wf", "version": "1"}
ACT = {"name": "act", "version": "1"}
ARN_PREFIX = "arn:aws:swf:us-east-1:000000000000:/domain/"
DTS = {"taskList": {"name": "deciders"}, "startToCloseTimeout": "60", "scheduleToStartTimeout": "NONE"}
"""A DecisionTaskScheduled's attributes for a run on the helpers' defaults."""


# -- calls -------------------------------------------------------------------------------
def setup_domain(
    swf: Any,
    domain: str = DOMAIN,
    *,
    heartbeat: str = "NONE",
    workflows: tuple[dict[str, str], ...] = (WF,),
    activity: dict[str, str] = ACT,
    execution_timeout: str = "3600",
) -> None:
    """Register ``domain`` with the ``workflows`` (decisions on ``deciders``) and one ``activity`` (on
    ``workers``), every default set."""
    swf.register_domain(name=domain, workflowExecutionRetentionPeriodInDays="1")
    for workflow in workflows:
        swf.register_workflow_type(
            domain=domain,
            name=workflow["name"],
            version=workflow["version"],
            defaultTaskList={"name": "deciders"},
            defaultExecutionStartToCloseTimeout=execution_timeout,
            defaultTaskStartToCloseTimeout="60",
            defaultChildPolicy="TERMINATE",
        )
    swf.register_activity_type(
        domain=domain,
        name=activity["name"],
        version=activity["version"],
        defaultTaskList={"name": "workers"},
        defaultTaskScheduleToStartTimeout="300",
        defaultTaskScheduleToCloseTimeout="600",
        defaultTaskStartToCloseTimeout="300",
        defaultTaskHeartbeatTimeout=heartbeat,
    )


def start(swf: Any, workflow_id: str = "w1", domain: str = DOMAIN, **kw: Any) -> str:
    return str(swf.start_workflow_execution(domain=domain, workflowId=workflow_id, workflowType=WF, **kw)["runId"])


def poll_decision(swf: Any, domain: str = DOMAIN, task_list: str = "deciders", **kw: Any) -> dict[str, Any]:
    return dict(swf.poll_for_decision_task(domain=domain, taskList={"name": task_list}, **kw))


def poll_activity(swf: Any, domain: str = DOMAIN, task_list: str = "workers", **kw: Any) -> dict[str, Any]:
    return dict(swf.poll_for_activity_task(domain=domain, taskList={"name": task_list}, **kw))


def respond(swf: Any, task: dict[str, Any], *decisions: dict[str, Any], **kw: Any) -> None:
    swf.respond_decision_task_completed(taskToken=task["taskToken"], decisions=list(decisions), **kw)


def first_decision(swf: Any, workflow_id: str = "w1", **start_kw: Any) -> tuple[str, dict[str, Any]]:
    """Start a run and take its first decision task (events 1-3)."""
    run_id = start(swf, workflow_id, **start_kw)
    task = poll_decision(swf)
    assert task["startedEventId"] == 3, task
    return run_id, task


def describe(swf: Any, run_id: str, workflow_id: str = "w1", domain: str = DOMAIN) -> dict[str, Any]:
    return body(swf.describe_workflow_execution(domain=domain, execution={"workflowId": workflow_id, "runId": run_id}))


def terminate(swf: Any, workflow_id: str, domain: str = DOMAIN, **kw: Any) -> None:
    swf.terminate_workflow_execution(domain=domain, workflowId=workflow_id, **kw)


def pending_decisions(swf: Any, task_list: str = "deciders") -> int:
    return int(swf.count_pending_decision_tasks(domain=DOMAIN, taskList={"name": task_list})["count"])


def pending_activities(swf: Any, task_list: str = "workers") -> int:
    return int(swf.count_pending_activity_tasks(domain=DOMAIN, taskList={"name": task_list})["count"])


def waiting_polls(swf: Any, domain: str = DOMAIN) -> int:
    """Polls of this client's engine past their claim and waiting for a task of ``domain`` now: a task
    made dispatchable from here on wakes them (its token waits on the list, should one be a moment late)."""
    return int(swf.flowser_engine.polling.waiting(domain))


def blocked_clients(redis_client: Any) -> int:
    """Connections of any process blocked in a Redis command (a long poll's or a timekeeper's BLPOP)."""
    return int(redis_client.info("clients")["blocked_clients"])


def raw_call(swf: Any, operation: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """One request on the wire, as a client without botocore's parameter checks would send it."""
    status, _headers, payload = wire.handle(
        swf.flowser_engine, f"SimpleWorkflowService.{operation}", json.dumps(params).encode()
    )
    return status, (json.loads(payload) if payload else {})


# -- answers -----------------------------------------------------------------------------
def body(response: dict[str, Any]) -> dict[str, Any]:
    """A response without botocore's ResponseMetadata."""
    return {k: v for k, v in response.items() if k != "ResponseMetadata"}


@contextmanager
def fault(code: str, message: str | None = None) -> Iterator[list[ClientError]]:
    """Expect a ClientError with this code (and exact message, if given); yields [the error]."""
    caught: list[ClientError] = []
    with pytest.raises(ClientError) as info:
        yield caught
    error = info.value.response["Error"]
    assert error["Code"] == code, error
    if message is not None:
        assert error.get("Message") == message, error
    caught.append(info.value)


def history(swf: Any, run_id: str, workflow_id: str = "w1", domain: str = DOMAIN) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for page in swf.get_paginator("get_workflow_execution_history").paginate(
        domain=domain, execution={"workflowId": workflow_id, "runId": run_id}
    ):
        events.extend(page["events"])
    return events


def types(events: list[dict[str, Any]]) -> list[str]:
    return [e["eventType"] for e in events]


def attrs(event: dict[str, Any]) -> dict[str, Any]:
    t = event["eventType"]
    return dict(event[t[0].lower() + t[1:] + "EventAttributes"])


def seq(events: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """A history as (eventType, attributes) pairs; eventIds are checked to be 1..n."""
    assert [e["eventId"] for e in events] == list(range(1, len(events) + 1))
    return [(e["eventType"], attrs(e)) for e in events]


def ids_of(response: dict[str, Any]) -> list[str]:
    """workflowIds of a List*WorkflowExecutions page, in order."""
    return [info["execution"]["workflowId"] for info in response["executionInfos"]]


def close_status(swf: Any, workflow_id: str, run_id: str) -> str | None:
    return describe(swf, run_id, workflow_id)["executionInfo"].get("closeStatus")


# -- decisions ---------------------------------------------------------------------------
def decision(kind: str, **a: Any) -> dict[str, Any]:
    return {"decisionType": kind, kind[0].lower() + kind[1:] + "DecisionAttributes": a}


def schedule(activity_id: str, **kw: Any) -> dict[str, Any]:
    return decision("ScheduleActivityTask", activityType=ACT, activityId=activity_id, **kw)


def cancel_activity(activity_id: str) -> dict[str, Any]:
    return decision("RequestCancelActivityTask", activityId=activity_id)


def complete(result: str | None = None) -> dict[str, Any]:
    return decision("CompleteWorkflowExecution", **({} if result is None else {"result": result}))


def fail_workflow(**kw: Any) -> dict[str, Any]:
    return decision("FailWorkflowExecution", **kw)


def cancel_workflow(**kw: Any) -> dict[str, Any]:
    return decision("CancelWorkflowExecution", **kw)


def marker(name: str, details: str | None = None) -> dict[str, Any]:
    return decision("RecordMarker", markerName=name, **({} if details is None else {"details": details}))


def timer(timer_id: str, seconds: str = "60", **kw: Any) -> dict[str, Any]:
    return decision("StartTimer", timerId=timer_id, startToFireTimeout=seconds, **kw)


def cancel_timer(timer_id: str) -> dict[str, Any]:
    return decision("CancelTimer", timerId=timer_id)


def start_child(workflow_id: str, workflow_type: dict[str, str] | None = None, **kw: Any) -> dict[str, Any]:
    return decision("StartChildWorkflowExecution", workflowType=workflow_type or WF, workflowId=workflow_id, **kw)


def continue_as_new(**kw: Any) -> dict[str, Any]:
    return decision("ContinueAsNewWorkflowExecution", **kw)


def signal_external(workflow_id: str, signal_name: str = "sig", **kw: Any) -> dict[str, Any]:
    return decision("SignalExternalWorkflowExecution", workflowId=workflow_id, signalName=signal_name, **kw)


def cancel_external(workflow_id: str, **kw: Any) -> dict[str, Any]:
    return decision("RequestCancelExternalWorkflowExecution", workflowId=workflow_id, **kw)


def lambda_fn(lambda_id: str, name: str = "fn", **kw: Any) -> dict[str, Any]:
    return decision("ScheduleLambdaFunction", id=lambda_id, name=name, **kw)


# -- time --------------------------------------------------------------------------------
def at(epoch: float) -> dt.datetime:
    """An epoch time as botocore returns it (timezone-aware)."""
    return dt.datetime.fromtimestamp(epoch, dt.UTC)


def whole_second(env: Any, ahead: int = 1) -> float:
    """Move a virtual clock to the whole second ``ahead`` seconds after the current one (so
    deadlines and timestamps compare and round-trip exactly); return it."""
    target = float(math.floor(env.clock.now()) + ahead)
    env.clock.set(target)
    return target


def deadlines_of(env: Any, run_id: str) -> list[float]:
    """When the engine will next look at a run: its pending deadlines (timeouts, timers, retention), sorted."""
    from backends.local.keys import DomainKeys

    rows = env.engine.store.redis.zrange(DomainKeys(DOMAIN).deadlines, 0, -1, withscores=True)
    return sorted(score for member, score in rows if f"|{run_id}|".encode() in member)


# -- a virtual-time run ------------------------------------------------------------------
class Flow:
    """A virtual-time environment on a whole second, with the helpers' domain and a short poll hold."""

    def __init__(self, env: Any, *, register: bool = True) -> None:
        self.env = env
        self.swf = env.client
        if register:
            setup_domain(self.swf)
        env.engine.config.poll_hold = 0.1
        whole_second(env)

    def now(self) -> float:
        return float(self.env.clock.now())

    def sleep(self, seconds: float) -> int:
        return int(self.env.sleep(seconds))

    def start(self, workflow_id: str = "w1", **kw: Any) -> str:
        return str(
            self.swf.start_workflow_execution(domain=DOMAIN, workflowId=workflow_id, workflowType=kw.pop("workflowType", WF), **kw)[
                "runId"
            ]
        )

    def poll(self, task_list: str = "deciders") -> dict[str, Any]:
        task = poll_decision(self.swf, task_list=task_list)
        assert task.get("taskToken"), f"no decision task on {task_list}"
        return task

    def no_task(self, task_list: str = "deciders") -> None:
        task = poll_decision(self.swf, task_list=task_list)
        assert task["taskToken"] == "", task["workflowExecution"]

    def respond(self, task: dict[str, Any], *decisions: dict[str, Any], **kw: Any) -> None:
        respond(self.swf, task, *decisions, **kw)

    def decide(self, *decisions: dict[str, Any], task_list: str = "deciders", workflow_id: str | None = None) -> dict[str, Any]:
        """Take the next decision task (of ``workflow_id``, if given) and answer it; return the task."""
        task = self.poll(task_list)
        if workflow_id is not None:
            assert task["workflowExecution"]["workflowId"] == workflow_id, task["workflowExecution"]
        self.respond(task, *decisions)
        return task

    def events(self, run_id: str, workflow_id: str = "w1") -> list[dict[str, Any]]:
        return history(self.swf, run_id, workflow_id)

    def seq(self, run_id: str, workflow_id: str = "w1") -> list[tuple[str, dict[str, Any]]]:
        return seq(self.events(run_id, workflow_id))

    def describe(self, run_id: str, workflow_id: str = "w1") -> dict[str, Any]:
        return describe(self.swf, run_id, workflow_id)

    def open_runs(self) -> list[tuple[str, str]]:
        infos = self.swf.list_open_workflow_executions(domain=DOMAIN, startTimeFilter={"oldestDate": 0})["executionInfos"]
        return [(i["execution"]["workflowId"], i["execution"]["runId"]) for i in infos]


# -- other clients -----------------------------------------------------------------------
@contextmanager
def quick_client(redis_url: str, poll_hold: float = 0.1, **kw: Any) -> Iterator[Any]:
    """A second client on the same Redis, with a short poll hold and no timekeeper of its own."""
    client = connect(redis_url, poll_hold=poll_hold, timekeeper=False, **kw)
    try:
        yield client
    finally:
        client.close()


def poll_in_process(redis_url: str, queue: Any, hold: float) -> None:
    """Run in a spawned process: long-poll for a decision task; report "ready" once the poll waits
    (or ended), then when it began and ended and what came back."""
    client = connect(redis_url, poll_hold=hold, timekeeper=False)
    answers: list[tuple[float, dict[str, Any]]] = []

    def poll() -> None:
        task = client.poll_for_decision_task(domain=DOMAIN, taskList={"name": "deciders"})
        answers.append((time.time(), task))

    try:
        began = time.time()
        poller = threading.Thread(target=poll)
        poller.start()
        wait_until(lambda: waiting_polls(client) == 1 or not poller.is_alive(), timeout=hold + 10)
        queue.put("ready")
        poller.join()
        done, task = answers[0]
        queue.put((began, done, task.get("taskToken"), task.get("workflowExecution")))
    finally:
        client.close()
