"""Helpers for the timer, child, continue-as-new, external, Lambda and quota tests (virtual time).

Decision builders, a ``Flow`` wrapper around a ``LocalEnvironment`` that starts runs and takes their
decision tasks, and ``seq``: a history as ``(eventType, attributes)`` pairs, to compare event by event.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from typing import Any

from .helpers import DOMAIN, WF, attrs, history, setup_domain

__all__ = [
    "DOMAIN",
    "WF",
    "Flow",
    "at",
    "cancel_external",
    "cancel_timer",
    "close_status",
    "continue_as_new",
    "deadlines_of",
    "decision",
    "lambda_fn",
    "seq",
    "signal_external",
    "start_child",
    "timer",
    "wait_for",
]

DTS = {"taskList": {"name": "deciders"}, "startToCloseTimeout": "60", "scheduleToStartTimeout": "NONE"}
"""A DecisionTaskScheduled's attributes for a run on the helpers' defaults."""


def at(t: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(t, dt.UTC)


def decision(kind: str, **a: Any) -> dict[str, Any]:
    return {"decisionType": kind, kind[0].lower() + kind[1:] + "DecisionAttributes": a}


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


def seq(events: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """A history as (eventType, attributes) pairs; eventIds are checked to be 1..n."""
    assert [e["eventId"] for e in events] == list(range(1, len(events) + 1))
    return [(e["eventType"], attrs(e)) for e in events]


def close_status(swf: Any, workflow_id: str, run_id: str) -> str | None:
    info = swf.describe_workflow_execution(domain=DOMAIN, execution={"workflowId": workflow_id, "runId": run_id})
    return info["executionInfo"].get("closeStatus")


def deadlines_of(env: Any, run_id: str) -> list[float]:
    """When the engine will next look at a run: its pending deadlines (timeouts, timers, retention), sorted."""
    from backends.local.keys import DomainKeys

    rows = env.engine.r.zrange(DomainKeys(DOMAIN).deadlines, 0, -1, withscores=True)
    return sorted(score for member, score in rows if f"|{run_id}|".encode() in member)


def wait_for(check: Any, timeout: float = 2.0, interval: float = 0.005) -> Any:
    """Real-time wait (Lambda runner threads): return check()'s first truthy value, or fail."""
    give_up = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < give_up, "condition not reached in time"
        time.sleep(interval)


class Flow:
    """A virtual-time environment on a whole second, with the helpers' domain and a short poll hold."""

    def __init__(self, env: Any, *, register: bool = True) -> None:
        self.env = env
        self.swf = env.client
        if register:
            setup_domain(self.swf)
        env.engine.config.poll_hold = 0.1
        env.clock.set(float(math.floor(env.clock.now()) + 1))

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
        task = dict(self.swf.poll_for_decision_task(domain=DOMAIN, taskList={"name": task_list}))
        assert task.get("taskToken"), f"no decision task on {task_list}"
        return task

    def no_task(self, task_list: str = "deciders") -> None:
        task = self.swf.poll_for_decision_task(domain=DOMAIN, taskList={"name": task_list})
        assert task["taskToken"] == "", task["workflowExecution"]

    def respond(self, task: dict[str, Any], *decisions: dict[str, Any], **kw: Any) -> None:
        self.swf.respond_decision_task_completed(taskToken=task["taskToken"], decisions=list(decisions), **kw)

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
        out = self.swf.describe_workflow_execution(domain=DOMAIN, execution={"workflowId": workflow_id, "runId": run_id})
        return {k: v for k, v in out.items() if k != "ResponseMetadata"}

    def open_runs(self) -> list[tuple[str, str]]:
        infos = self.swf.list_open_workflow_executions(domain=DOMAIN, startTimeFilter={"oldestDate": 0})["executionInfos"]
        return [(i["execution"]["workflowId"], i["execution"]["runId"]) for i in infos]
