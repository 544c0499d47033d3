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
from .run import Run, deadline, task_member
from .state import Activity, Child, LambdaTask, Timer

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
    """Whole-batch rules beyond shapes (§4.5): a close decision must be the last one; timers need a delay."""
    for index, decision in enumerate(decisions):
        if decision["decisionType"] in CLOSE_DECISIONS and index != len(decisions) - 1:
            raise ValidationException("Close must be last decision in list")
        if decision["decisionType"] == "StartTimer":
            fire = attributes_of(decision).get("startToFireTimeout")
            if fire == "NONE":
                raise ValidationException(
                    f"1 validation error detected: Value 'NONE' at 'decisions.{index + 1}.member."
                    "startTimerDecisionAttributes.startToFireTimeout' failed to satisfy constraint: "
                    "Member must be a number of seconds"
                )


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
    """What decisions may consult besides the run: types prefetched, quotas, the engine's hooks."""

    activity_types: dict[tuple[str, str], dict[str, Any] | None]
    limits: Limits
    completed_event_id: int
    workflow_types: dict[tuple[str, str], dict[str, Any] | None] = field(default_factory=dict)
    open_executions: int = 0
    max_open_executions: int = 100_000
    new_run: Callable[..., Run] | None = None
    resolve: Callable[[dict[str, Any], dict[str, Any]], tuple[dict[str, Any], str | None]] | None = None
    new_runs: list[Run] = field(default_factory=list)


Applier = Callable[[Run, dict[str, Any], DecisionContext], None]


def _schedule_activity_task(run: Run, a: dict[str, Any], ctx: DecisionContext) -> None:
    activity_type = a["activityType"]
    activity_id = a["activityId"]
    key = (activity_type["name"], activity_type["version"])
    record = ctx.activity_types.get(key)
    acts = run.state.activities

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
    if any(act.activity_id == activity_id for act in acts.values()):
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
    acts[scheduled] = Activity(activity_id, task_list["name"], task_member=member)
    run.state.latest_activity_time = run.now
    run.effects.enqueue.append(("a", task_list["name"], member))
    for kind, member_name in (("a4ss", "scheduleToStartTimeout"), ("a1sc", "scheduleToCloseTimeout")):
        if resolved[member_name] != "NONE":
            run.effects.deadlines_add[deadline(kind, run.run_id, int(scheduled))] = run.now + int(resolved[member_name])


def _request_cancel_activity_task(run: Run, a: dict[str, Any], ctx: DecisionContext) -> None:
    activity_id = a["activityId"]
    acts = run.state.activities
    found = next(((sid, act) for sid, act in acts.items() if act.activity_id == activity_id), None)
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
    act.cancel_requested_event_id = requested
    if not act.started_event_id:
        # never handed to a worker: it closes at once (docs/semantics.md)
        if act.task_member:
            run.effects.dequeue.append(("a", act.task_list, act.task_member))
        del acts[sid]
        run.state.latest_activity_time = run.now
        run.add(
            "ActivityTaskCanceled",
            {"scheduledEventId": sid, "startedEventId": 0, "latestCancelRequestedEventId": requested},
        )
        run.effects.deadlines_remove.update({deadline(k, run.run_id, sid) for k in ("a4ss", "a1sc")})


def _record_marker(run: Run, a: dict[str, Any], ctx: DecisionContext) -> None:
    attrs: dict[str, Any] = {"markerName": a["markerName"]}
    if "details" in a:
        attrs["details"] = a["details"]
    attrs["decisionTaskCompletedEventId"] = ctx.completed_event_id
    run.add("MarkerRecorded", attrs)


def _close_blocked(run: Run, failed_event: str, ctx: DecisionContext) -> bool:
    """A close decision fails while a decision task is pending: new events arrived (§4.4.5)."""
    if run.state.decision_task.scheduled_event_id:
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


def _start_timer(run: Run, a: dict[str, Any], ctx: DecisionContext) -> None:
    timer_id = a["timerId"]
    timers = run.state.timers
    cause = None
    if timer_id in timers:
        cause = "TIMER_ID_ALREADY_IN_USE"
    elif len(timers) >= ctx.limits.open_timers:
        cause = "OPEN_TIMERS_LIMIT_EXCEEDED"
    if cause:
        run.add(
            "StartTimerFailed",
            {"timerId": timer_id, "cause": cause, "decisionTaskCompletedEventId": ctx.completed_event_id},
        )
        return
    attrs: dict[str, Any] = {"timerId": timer_id}
    if "control" in a:
        attrs["control"] = a["control"]
    attrs["startToFireTimeout"] = a["startToFireTimeout"]
    attrs["decisionTaskCompletedEventId"] = ctx.completed_event_id
    started = run.add("TimerStarted", attrs)
    timers[timer_id] = Timer(timer_id, started)
    run.effects.deadlines_add[deadline("tmr", run.run_id, int(started))] = run.now + int(a["startToFireTimeout"])


def _cancel_timer(run: Run, a: dict[str, Any], ctx: DecisionContext) -> None:
    timer_id = a["timerId"]
    timer = run.state.timers.pop(timer_id, None)
    if timer is None:
        run.add(
            "CancelTimerFailed",
            {"timerId": timer_id, "cause": "TIMER_ID_UNKNOWN", "decisionTaskCompletedEventId": ctx.completed_event_id},
        )
        return
    run.effects.deadlines_remove.add(deadline("tmr", run.run_id, timer.started_event_id))
    run.add(
        "TimerCanceled",
        {"timerId": timer_id, "startedEventId": timer.started_event_id, "decisionTaskCompletedEventId": ctx.completed_event_id},
    )


def _workflow_settings(
    run: Run, a: dict[str, Any], ctx: DecisionContext, workflow_type: dict[str, str]
) -> tuple[dict[str, Any] | None, str | None]:
    """Resolve a new run's settings as StartChild/ContinueAsNew do: (cfg, None) or (None, cause)."""
    record = ctx.workflow_types.get((workflow_type["name"], workflow_type["version"]))
    if record is None:
        return None, "WORKFLOW_TYPE_DOES_NOT_EXIST"
    if record["status"] != "REGISTERED":
        return None, "WORKFLOW_TYPE_DEPRECATED"
    assert ctx.resolve is not None
    cfg, missing = ctx.resolve(record, a)
    if missing:
        field_name = "".join("_" + c if c.isupper() else c.upper() for c in missing).upper().lstrip("_")
        return None, f"DEFAULT_{field_name}_UNDEFINED"
    return cfg, None


def _start_child(run: Run, a: dict[str, Any], ctx: DecisionContext) -> None:
    workflow_type = a["workflowType"]
    children = run.state.children
    cfg, cause = _workflow_settings(run, a, ctx, workflow_type)
    if cause is None and len(children) >= ctx.limits.open_children:
        cause = "OPEN_CHILDREN_LIMIT_EXCEEDED"
    if cause is None and ctx.open_executions >= ctx.max_open_executions:
        cause = "OPEN_WORKFLOWS_LIMIT_EXCEEDED"
    if cause is not None or cfg is None:
        failed: dict[str, Any] = {
            "workflowType": workflow_type,
            "cause": cause,
            "workflowId": a["workflowId"],
            "initiatedEventId": 0,
            "decisionTaskCompletedEventId": ctx.completed_event_id,
        }
        if "control" in a:
            failed["control"] = a["control"]
        run.add("StartChildWorkflowExecutionFailed", failed)
        return
    attrs: dict[str, Any] = {"workflowId": a["workflowId"], "workflowType": workflow_type}
    for optional in ("control", "input"):
        if optional in a:
            attrs[optional] = a[optional]
    attrs["executionStartToCloseTimeout"] = cfg["executionStartToCloseTimeout"]
    attrs["taskList"] = cfg["taskList"]
    if "taskPriority" in cfg:
        attrs["taskPriority"] = cfg["taskPriority"]
    attrs["decisionTaskCompletedEventId"] = ctx.completed_event_id
    attrs["childPolicy"] = cfg["childPolicy"]
    attrs["taskStartToCloseTimeout"] = cfg["taskStartToCloseTimeout"]
    if a.get("tagList"):
        attrs["tagList"] = a["tagList"]
    if "lambdaRole" in cfg:
        attrs["lambdaRole"] = cfg["lambdaRole"]
    initiated = run.add("StartChildWorkflowExecutionInitiated", attrs)
    ctx.open_executions += 1  # the child counts toward the domain's open runs from now on
    children[initiated] = Child(a["workflowId"], (workflow_type["name"], workflow_type["version"]))
    # an outbox entry, due now: the child starts right after this commit, or after a crash
    run.effects.deadlines_add[deadline("chs", run.run_id, int(initiated))] = run.now


def _continue_as_new(run: Run, a: dict[str, Any], ctx: DecisionContext) -> None:
    name, version = run.state.workflow_type
    workflow_type = {"name": name, "version": a.get("workflowTypeVersion") or version}
    if _close_blocked(run, "ContinueAsNewWorkflowExecutionFailed", ctx):
        return
    cfg, cause = _workflow_settings(run, a, ctx, workflow_type)
    if cause is not None or cfg is None:
        run.add(
            "ContinueAsNewWorkflowExecutionFailed",
            {"cause": cause, "decisionTaskCompletedEventId": ctx.completed_event_id},
        )
        return
    assert ctx.new_run is not None
    new = ctx.new_run(
        run.state.domain,
        run.workflow_id,
        workflow_type,
        cfg,
        a,
        run.now,
        parent=run.state.parent,
        parent_initiated=run.state.parent_initiated_event_id,
        continued_from=run.run_id,
    )
    attrs: dict[str, Any] = {}
    if "input" in a:
        attrs["input"] = a["input"]
    attrs["decisionTaskCompletedEventId"] = ctx.completed_event_id
    attrs["newExecutionRunId"] = new.run_id
    attrs["executionStartToCloseTimeout"] = cfg["executionStartToCloseTimeout"]
    attrs["taskList"] = cfg["taskList"]
    if "taskPriority" in cfg:
        attrs["taskPriority"] = cfg["taskPriority"]
    attrs["taskStartToCloseTimeout"] = cfg["taskStartToCloseTimeout"]
    attrs["childPolicy"] = cfg["childPolicy"]
    if a.get("tagList"):
        attrs["tagList"] = a["tagList"]
    attrs["workflowType"] = workflow_type
    if "lambdaRole" in cfg:
        attrs["lambdaRole"] = cfg["lambdaRole"]
    run.add("WorkflowExecutionContinuedAsNew", attrs)
    run.close("CONTINUED_AS_NEW")
    ctx.new_runs.append(new)


def _external(run: Run, a: dict[str, Any], ctx: DecisionContext, event_type: str, outbox: str) -> None:
    attrs: dict[str, Any] = {"workflowId": a["workflowId"]}
    if a.get("runId"):
        attrs["runId"] = a["runId"]
    if outbox == "sig":
        attrs["signalName"] = a["signalName"]
        if "input" in a:
            attrs["input"] = a["input"]
    attrs["decisionTaskCompletedEventId"] = ctx.completed_event_id
    if "control" in a:
        attrs["control"] = a["control"]
    initiated = run.add(event_type, attrs)
    run.effects.deadlines_add[deadline(outbox, run.run_id, int(initiated))] = run.now


def _signal_external(run: Run, a: dict[str, Any], ctx: DecisionContext) -> None:
    _external(run, a, ctx, "SignalExternalWorkflowExecutionInitiated", "sig")


def _request_cancel_external(run: Run, a: dict[str, Any], ctx: DecisionContext) -> None:
    _external(run, a, ctx, "RequestCancelExternalWorkflowExecutionInitiated", "rcx")


def _schedule_lambda(run: Run, a: dict[str, Any], ctx: DecisionContext) -> None:
    lambdas = run.state.lambda_tasks
    cause = None
    if any(entry.lambda_id == a["id"] for entry in lambdas.values()):
        cause = "ID_ALREADY_IN_USE"
    elif len(lambdas) >= ctx.limits.open_lambdas:
        cause = "OPEN_LAMBDA_FUNCTIONS_LIMIT_EXCEEDED"
    if cause:
        run.add(
            "ScheduleLambdaFunctionFailed",
            {"id": a["id"], "name": a["name"], "cause": cause, "decisionTaskCompletedEventId": ctx.completed_event_id},
        )
        return
    attrs: dict[str, Any] = {"id": a["id"], "name": a["name"]}
    for optional in ("control", "input"):
        if optional in a:
            attrs[optional] = a[optional]
    attrs["startToCloseTimeout"] = a.get("startToCloseTimeout") or "900"
    attrs["decisionTaskCompletedEventId"] = ctx.completed_event_id
    scheduled = run.add("LambdaFunctionScheduled", attrs)
    if "lambdaRole" not in run.state.config:
        # no role to assume: the function cannot start (docs/semantics.md)
        run.add(
            "StartLambdaFunctionFailed",
            {
                "scheduledEventId": scheduled,
                "cause": "ASSUME_ROLE_FAILED",
                "message": "The workflow execution has no lambdaRole to invoke Lambda functions with",
            },
        )
        return
    member = task_member(0, run.now, run.run_id, scheduled)
    lambdas[scheduled] = LambdaTask(a["id"], a["name"], task_member=member)
    run.effects.enqueue.append(("l", a["name"], member))
    timeout = int(attrs["startToCloseTimeout"])
    run.effects.deadlines_add[deadline("l2c", run.run_id, int(scheduled))] = run.now + timeout


APPLIERS: dict[str, Applier] = {
    "ScheduleActivityTask": _schedule_activity_task,
    "RequestCancelActivityTask": _request_cancel_activity_task,
    "RecordMarker": _record_marker,
    "CompleteWorkflowExecution": _complete,
    "FailWorkflowExecution": _fail,
    "CancelWorkflowExecution": _cancel,
    "StartTimer": _start_timer,
    "CancelTimer": _cancel_timer,
    "StartChildWorkflowExecution": _start_child,
    "ContinueAsNewWorkflowExecution": _continue_as_new,
    "SignalExternalWorkflowExecution": _signal_external,
    "RequestCancelExternalWorkflowExecution": _request_cancel_external,
    "ScheduleLambdaFunction": _schedule_lambda,
}


def apply(run: Run, decisions: list[dict[str, Any]], ctx: DecisionContext) -> None:
    """Apply a validated batch in order; stop once the run has closed."""
    for decision in decisions:
        if not run.is_open:
            break
        APPLIERS[decision["decisionType"]](run, attributes_of(decision), ctx)
