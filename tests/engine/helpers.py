"""Small helpers for engine tests: registration with defaults, history digests."""

from __future__ import annotations

from typing import Any

DOMAIN = "test"
WF = {"name": "wf", "version": "1"}
ACT = {"name": "act", "version": "1"}


def setup_domain(swf: Any, domain: str = DOMAIN, *, heartbeat: str = "NONE") -> None:
    swf.register_domain(name=domain, workflowExecutionRetentionPeriodInDays="1")
    swf.register_workflow_type(
        domain=domain,
        name=WF["name"],
        version=WF["version"],
        defaultTaskList={"name": "deciders"},
        defaultExecutionStartToCloseTimeout="3600",
        defaultTaskStartToCloseTimeout="60",
        defaultChildPolicy="TERMINATE",
    )
    swf.register_activity_type(
        domain=domain,
        name=ACT["name"],
        version=ACT["version"],
        defaultTaskList={"name": "workers"},
        defaultTaskScheduleToStartTimeout="300",
        defaultTaskScheduleToCloseTimeout="600",
        defaultTaskStartToCloseTimeout="300",
        defaultTaskHeartbeatTimeout=heartbeat,
    )


def start(swf: Any, workflow_id: str = "w1", domain: str = DOMAIN, **kw: Any) -> str:
    return str(swf.start_workflow_execution(domain=domain, workflowId=workflow_id, workflowType=WF, **kw)["runId"])


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


def schedule(activity_id: str, **kw: Any) -> dict[str, Any]:
    return {
        "decisionType": "ScheduleActivityTask",
        "scheduleActivityTaskDecisionAttributes": {"activityType": ACT, "activityId": activity_id, **kw},
    }


def complete(result: str | None = None) -> dict[str, Any]:
    a = {} if result is None else {"result": result}
    return {"decisionType": "CompleteWorkflowExecution", "completeWorkflowExecutionDecisionAttributes": a}


def poll_decision(swf: Any, domain: str = DOMAIN, task_list: str = "deciders", **kw: Any) -> dict[str, Any]:
    return dict(swf.poll_for_decision_task(domain=domain, taskList={"name": task_list}, **kw))


def poll_activity(swf: Any, domain: str = DOMAIN, task_list: str = "workers", **kw: Any) -> dict[str, Any]:
    return dict(swf.poll_for_activity_task(domain=domain, taskList={"name": task_list}, **kw))
