"""RespondDecisionTaskCompleted: the decisions, applied to a run (pure; §4.4, §5).

Each decision yields its event(s) or its ``*Failed`` event with a cause;
failures do not stop the rest of the batch. The batch itself was validated
before (shape by ``validation``, order by ``check_batch``), so nothing here
rejects the whole call.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .faults import ValidationException
from .run import Run, task_member

CLOSE_DECISIONS = frozenset(
    {
        "CompleteWorkflowExecution",
        "FailWorkflowExecution",
        "CancelWorkflowExecution",
        "ContinueAsNewWorkflowExecution",
    }
)


def attributes_of(decision: Mapping[str, Any]) -> dict[str, Any]:
    kind = decision["decisionType"]
    return dict(decision.get(kind[0].lower() + kind[1:] + "DecisionAttributes") or {})


def check_batch(decisions: list[dict[str, Any]]) -> None:
    """Whole-batch rules beyond shapes: a close decision must be the last one (§4.5)."""
    for index, decision in enumerate(decisions):
        if decision["decisionType"] in CLOSE_DECISIONS and index != len(decisions) - 1:
            raise ValidationException("Close must be last decision in list")


@dataclass
class Limits:
    """Per-execution quotas (§13); configurable for tests."""

    open_activities: int = 1000
    open_timers: int = 1000
    open_children: int = 1000
    open_lambdas: int = 50
    history_events: int = 25000


@dataclass
class DecisionContext:
    """What decisions may consult besides the run: types prefetched, quotas, follow-ups."""

    activity_types: dict[tuple[str, str], dict[str, Any] | None]
    limits: Limits
    completed_event_id: int
    followups: list[tuple[str, Any]] = field(default_factory=list)


Applier = Callable[[Run, dict[str, Any], DecisionContext], None]


def _schedule_activity_task(run: Run, a: dict[str, Any], ctx: DecisionContext) -> None:
    activity_type = a["activityType"]
    activity_id = a["activityId"]
    key = (activity_type["name"], activity_type["version"])
    record = ctx.activity_types.get(key)
    acts = run.s["acts"]

    def fail(cause: str) -> None:
        run.add(
            "ScheduleActivityTaskFailed",
            {
                "activityType": activity_type,
                "activityId": activity_id,
                "cause": cause,
                "decisionTaskCompletedEventId": ctx.completed_event_id,
            },
        )

    if record is None:
        return fail("ACTIVITY_TYPE_DOES_NOT_EXIST")
    if record["status"] != "REGISTERED":
        return fail("ACTIVITY_TYPE_DEPRECATED")
    if any(act["id"] == activity_id for act in acts.values()):
        return fail("ACTIVITY_ID_ALREADY_IN_USE")
    if len(acts) >= ctx.limits.open_activities:
        return fail("OPEN_ACTIVITIES_LIMIT_EXCEEDED")
    defaults = record.get("configuration", {})
    task_list = a.get("taskList") or defaults.get("defaultTaskList")
    if not task_list:
        return fail("DEFAULT_TASK_LIST_UNDEFINED")
    resolved: dict[str, str] = {}
    for member, default, cause in (
        ("scheduleToStartTimeout", "defaultTaskScheduleToStartTimeout", "DEFAULT_SCHEDULE_TO_START_TIMEOUT_UNDEFINED"),
        ("scheduleToCloseTimeout", "defaultTaskScheduleToCloseTimeout", "DEFAULT_SCHEDULE_TO_CLOSE_TIMEOUT_UNDEFINED"),
        ("startToCloseTimeout", "defaultTaskStartToCloseTimeout", "DEFAULT_START_TO_CLOSE_TIMEOUT_UNDEFINED"),
    ):
        value = a.get(member) or defaults.get(default)
        if not value:
            return fail(cause)
        resolved[member] = value
    # heartbeatTimeout: not required by SWF's documentation; unresolved means NONE (docs/semantics.md)
    resolved["heartbeatTimeout"] = a.get("heartbeatTimeout") or defaults.get("defaultTaskHeartbeatTimeout") or "NONE"

    attrs: dict[str, Any] = {"activityType": activity_type, "activityId": activity_id}
    for optional in ("input", "control"):
        if optional in a:
            attrs[optional] = a[optional]
    attrs.update(resolved)
    attrs["taskList"] = {"name": task_list["name"]}
    priority = a.get("taskPriority", defaults.get("defaultTaskPriority"))
    if priority is not None:
        attrs["taskPriority"] = priority
    attrs["decisionTaskCompletedEventId"] = ctx.completed_event_id
    scheduled = run.add("ActivityTaskScheduled", attrs)
    member = task_member(int(priority or 0), run.now, run.run_id, scheduled)
    acts[str(scheduled)] = {"id": activity_id, "tl": task_list["name"], "st": 0, "cr": 0, "m": member}
    run.s["lat"] = run.now
    run.effects.enqueue.append(("a", task_list["name"], member))
    for kind, member_name in (("a2s", "scheduleToStartTimeout"), ("a2c", "scheduleToCloseTimeout")):
        if resolved[member_name] != "NONE":
            run.effects.deadlines_add[f"{kind}|{run.run_id}|{scheduled}"] = run.now + int(resolved[member_name])


def _request_cancel_activity_task(run: Run, a: dict[str, Any], ctx: DecisionContext) -> None:
    activity_id = a["activityId"]
    acts = run.s["acts"]
    found = next(((sid, act) for sid, act in acts.items() if act["id"] == activity_id), None)
    if found is None:
        run.add(
            "RequestCancelActivityTaskFailed",
            {"activityId": activity_id, "cause": "ACTIVITY_ID_UNKNOWN", "decisionTaskCompletedEventId": ctx.completed_event_id},
        )
        return
    sid, act = found
    requested = run.add(
        "ActivityTaskCancelRequested", {"decisionTaskCompletedEventId": ctx.completed_event_id, "activityId": activity_id}
    )
    act["cr"] = requested
    if not act["st"]:
        # never handed to a worker: it closes at once (docs/semantics.md)
        if act.get("m"):
            run.effects.dequeue.append(("a", act["tl"], act["m"]))
        del acts[sid]
        run.s["lat"] = run.now
        run.add(
            "ActivityTaskCanceled",
            {"scheduledEventId": int(sid), "startedEventId": 0, "latestCancelRequestedEventId": requested},
        )
        run.effects.deadlines_remove.update({f"{k}|{run.run_id}|{sid}" for k in ("a2s", "a2c")})


def _record_marker(run: Run, a: dict[str, Any], ctx: DecisionContext) -> None:
    attrs: dict[str, Any] = {"markerName": a["markerName"]}
    if "details" in a:
        attrs["details"] = a["details"]
    attrs["decisionTaskCompletedEventId"] = ctx.completed_event_id
    run.add("MarkerRecorded", attrs)


def _close_blocked(run: Run, failed_event: str, ctx: DecisionContext) -> bool:
    """A close decision fails while a decision task is pending: new events arrived (§4.4.5)."""
    if run.s["dt"]["sched"]:
        run.add(failed_event, {"cause": "UNHANDLED_DECISION", "decisionTaskCompletedEventId": ctx.completed_event_id})
        return True
    return False


def _complete(run: Run, a: dict[str, Any], ctx: DecisionContext) -> None:
    if _close_blocked(run, "CompleteWorkflowExecutionFailed", ctx):
        return
    attrs: dict[str, Any] = {"decisionTaskCompletedEventId": ctx.completed_event_id}
    if "result" in a:
        attrs["result"] = a["result"]
    run.add("WorkflowExecutionCompleted", attrs)
    run.close("COMPLETED")


def _fail(run: Run, a: dict[str, Any], ctx: DecisionContext) -> None:
    if _close_blocked(run, "FailWorkflowExecutionFailed", ctx):
        return
    attrs: dict[str, Any] = {k: a[k] for k in ("reason", "details") if k in a}
    attrs["decisionTaskCompletedEventId"] = ctx.completed_event_id
    run.add("WorkflowExecutionFailed", attrs)
    run.close("FAILED")


def _cancel(run: Run, a: dict[str, Any], ctx: DecisionContext) -> None:
    if _close_blocked(run, "CancelWorkflowExecutionFailed", ctx):
        return
    attrs: dict[str, Any] = {k: a[k] for k in ("details",) if k in a}
    attrs["decisionTaskCompletedEventId"] = ctx.completed_event_id
    run.add("WorkflowExecutionCanceled", attrs)
    run.close("CANCELED")


APPLIERS: dict[str, Applier] = {
    "ScheduleActivityTask": _schedule_activity_task,
    "RequestCancelActivityTask": _request_cancel_activity_task,
    "RecordMarker": _record_marker,
    "CompleteWorkflowExecution": _complete,
    "FailWorkflowExecution": _fail,
    "CancelWorkflowExecution": _cancel,
}


def apply(run: Run, decisions: list[dict[str, Any]], ctx: DecisionContext, extra: Mapping[str, Applier]) -> None:
    """Apply a validated batch in order; stop once the run has closed."""
    appliers = {**APPLIERS, **extra}
    for decision in decisions:
        if not run.is_open:
            break
        appliers[decision["decisionType"]](run, attributes_of(decision), ctx)
