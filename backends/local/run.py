"""A workflow run's pure transitions (no Redis here).

``Run`` wraps the typed state of one execution (``state.RunState``, which
alone knows its stored form) for one transition. Transitions append events
(``add``), keep the decision-task invariant of SWF (at most one scheduled and
one started task; a triggering event schedules one at once, held while
another is started) and record the side effects the store must apply in the
same ``EXEC``: task-list pushes and removals, deadline changes, visibility
index moves. ``now`` is fixed for a transition, so all events of one
transition share a timestamp, as on SWF. SWF's rules on a whole run live
here too: the history length limit, and the child policy a closing run
applies to its children (``closing_deadlines``).
"""

from __future__ import annotations

import base64
import math
import os
from dataclasses import dataclass, field
from typing import Any

from .state import RunState

TRIGGERING = frozenset(
    {
        "WorkflowExecutionStarted",
        "WorkflowExecutionSignaled",
        "WorkflowExecutionCancelRequested",
        "ActivityTaskCompleted",
        "ActivityTaskFailed",
        "ActivityTaskTimedOut",
        "ActivityTaskCanceled",
        "TimerFired",
        "ChildWorkflowExecutionStarted",
        "ChildWorkflowExecutionCompleted",
        "ChildWorkflowExecutionFailed",
        "ChildWorkflowExecutionTimedOut",
        "ChildWorkflowExecutionCanceled",
        "ChildWorkflowExecutionTerminated",
        "StartChildWorkflowExecutionFailed",
        "SignalExternalWorkflowExecutionFailed",
        "RequestCancelExternalWorkflowExecutionFailed",
        "ExternalWorkflowExecutionSignaled",
        "ExternalWorkflowExecutionCancelRequested",
        "DecisionTaskTimedOut",
        "LambdaFunctionCompleted",
        "LambdaFunctionFailed",
        "LambdaFunctionTimedOut",
        "ScheduleLambdaFunctionFailed",
        "StartLambdaFunctionFailed",
        "ScheduleActivityTaskFailed",
        "RequestCancelActivityTaskFailed",
        "StartTimerFailed",
        "CancelTimerFailed",
        "RecordMarkerFailed",
        "CompleteWorkflowExecutionFailed",
        "FailWorkflowExecutionFailed",
        "CancelWorkflowExecutionFailed",
        "ContinueAsNewWorkflowExecutionFailed",
    }
)

MAX_PRIORITY = 2**31 - 1


def attributes_key(event_type: str) -> str:
    """``ActivityTaskScheduled`` -> ``activityTaskScheduledEventAttributes``."""
    return event_type[0].lower() + event_type[1:] + "EventAttributes"


def new_run_id() -> str:
    """An opaque, unique runId in SWF's style (44 characters of base64)."""
    return base64.b64encode(os.urandom(33)).decode()


def ms(now: float) -> float:
    """Timestamps carry millisecond precision, like SWF's (truncated: never later than the clock)."""
    return math.floor(now * 1000) / 1000


def task_member(priority: int, now: float, run_id: str, scheduled_event_id: int) -> str:
    """Task-list member: sorts by priority (highest first), then scheduling time, then event id."""
    return f"{MAX_PRIORITY - priority:08x}{int(now * 1000):011x}{scheduled_event_id:06x}|{run_id}|{scheduled_event_id}"


def deadline(kind: str, run_id: str, ref: int | None = None) -> str:
    """A member of the deadlines ZSET. Refs are zero-padded, so deadlines due at the same
    moment fire in the order of their events (ZSET ties sort by member)."""
    return f"{kind}|{run_id}|" if ref is None else f"{kind}|{run_id}|{ref:08d}"


def parse_member(member: str) -> tuple[str, int]:
    _, run_id, scheduled = member.split("|")
    return run_id, int(scheduled)


@dataclass(slots=True)
class Effects:
    """Writes besides the run's own state and history, applied in the same EXEC."""

    enqueue: list[tuple[str, str, str]] = field(default_factory=list)  # (kind, task list, member)
    dequeue: list[tuple[str, str, str]] = field(default_factory=list)
    deadlines_add: dict[str, float] = field(default_factory=dict)  # member -> deadline
    deadlines_remove: set[str] = field(default_factory=set)
    hold: list[tuple[str, str]] = field(default_factory=list)  # (decision task list, runId) held behind a started task
    unhold: list[tuple[str, str]] = field(default_factory=list)
    closed: bool = False
    written: bool = False


class Run:
    """One execution's state (``state.RunState``) during a transition, with its new events and effects."""

    __slots__ = ("_defer", "_triggered", "effects", "events", "now", "state")

    def __init__(self, state: RunState, now: float) -> None:
        self.state = state
        self.now = ms(now)
        self.events: list[dict[str, Any]] = []
        self.effects = Effects()
        self._defer = False
        self._triggered = False

    # -- identity ---------------------------------------------------------------
    @property
    def run_id(self) -> str:
        return self.state.run_id

    @property
    def workflow_id(self) -> str:
        return self.state.workflow_id

    @property
    def is_open(self) -> bool:
        return self.state.status == "OPEN"

    @property
    def execution(self) -> dict[str, str]:
        return {"workflowId": self.state.workflow_id, "runId": self.state.run_id}

    @property
    def workflow_type(self) -> dict[str, str]:
        name, version = self.state.workflow_type
        return {"name": name, "version": version}

    @property
    def decision_task_list(self) -> str:
        """Where new decision tasks go: the override RespondDecisionTaskCompleted set, else the run's list."""
        return self.state.decision_task.override_task_list or str(self.state.config["taskList"]["name"])

    # -- events -----------------------------------------------------------------
    def add(self, event_type: str, attributes: dict[str, Any]) -> int:
        """Append an event; a triggering one schedules a decision task."""
        state = self.state
        event_id = state.event_count + 1
        state.event_count = event_id
        self.events.append(
            {
                "eventId": event_id,
                "eventTimestamp": self.now,
                "eventType": event_type,
                attributes_key(event_type): attributes,
            }
        )
        if event_type in TRIGGERING and state.status == "OPEN":
            if self._defer:
                self._triggered = True
            else:
                self.schedule_decision_task()
        return event_id

    # -- decision task ----------------------------------------------------------
    def schedule_decision_task(self) -> None:
        """Record DecisionTaskScheduled unless one is pending; dispatch it if none is started."""
        dt = self.state.decision_task
        if dt.scheduled_event_id or not self.is_open:
            return
        cfg = self.state.config
        task_list = self.decision_task_list
        attrs: dict[str, Any] = {"taskList": {"name": task_list}}
        if "taskPriority" in cfg:
            attrs["taskPriority"] = cfg["taskPriority"]
        attrs["startToCloseTimeout"] = cfg["taskStartToCloseTimeout"]
        limit = dt.override_schedule_to_start
        attrs["scheduleToStartTimeout"] = limit if dt.override_task_list and limit else "NONE"
        dt.task_list = task_list  # the list the event names is the list it goes to
        dt.scheduled_event_id = self.add("DecisionTaskScheduled", attrs)
        if not dt.started_event_id:
            self._dispatch_decision_task()
        else:  # held until the started task ends; still counted as pending (docs/semantics.md)
            dt.held_on = task_list
            self.effects.hold.append((task_list, self.run_id))

    def _dispatch_decision_task(self) -> None:
        dt = self.state.decision_task
        if dt.held_on:
            self.effects.unhold.append((dt.held_on, self.run_id))
            dt.held_on = None
        assert dt.task_list is not None
        priority = int(self.state.config.get("taskPriority", "0"))
        member = task_member(priority, self.now, self.run_id, dt.scheduled_event_id)
        dt.task_member = member
        self.effects.enqueue.append(("d", dt.task_list, member))
        if dt.override_task_list and dt.task_list == dt.override_task_list and dt.override_schedule_to_start is not None:
            due = self.now + int(dt.override_schedule_to_start)
            self.effects.deadlines_add[deadline("dts", self.run_id, dt.scheduled_event_id)] = due

    def start_decision_task(self, identity: str | None) -> int:
        dt = self.state.decision_task
        attrs: dict[str, Any] = {"scheduledEventId": dt.scheduled_event_id}
        if identity is not None:
            attrs["identity"] = identity
        if dt.override_schedule_to_start is not None:
            self.effects.deadlines_remove.add(deadline("dts", self.run_id, dt.scheduled_event_id))
        dt.started_scheduled_event_id = dt.scheduled_event_id
        dt.scheduled_event_id = 0
        dt.task_member = None
        dt.started_event_id = self.add("DecisionTaskStarted", attrs)
        return dt.started_event_id

    def begin_completion(self) -> None:
        """Decisions of one batch schedule at most one task, after all their events."""
        self._defer = True
        self._triggered = False

    def end_started_task(self) -> None:
        """The started task is over (completed or timed out): release a held one, or schedule anew."""
        self._defer = False
        dt = self.state.decision_task
        dt.started_event_id = 0
        dt.started_scheduled_event_id = 0
        if not self.is_open:
            return
        if dt.scheduled_event_id:
            self._dispatch_decision_task()
        elif self._triggered:
            self.schedule_decision_task()
        self._triggered = False

    # -- closing ----------------------------------------------------------------
    def close(self, close_status: str) -> None:
        """Close the run: tokens die, pending tasks leave their lists (§8.2)."""
        state = self.state
        state.status = "CLOSED"
        state.close_status = close_status
        state.close_time = self.now
        dt = state.decision_task
        if dt.task_member and dt.task_list:
            self.effects.dequeue.append(("d", dt.task_list, dt.task_member))
        if dt.held_on:
            self.effects.unhold.append((dt.held_on, self.run_id))
            dt.held_on = None
        dt.task_member = None
        dt.scheduled_event_id = 0
        for act in state.activities.values():
            if act.task_member:
                self.effects.dequeue.append(("a", act.task_list, act.task_member))
                act.task_member = None
        self.effects.closed = True


def run_deadlines(state: RunState) -> set[str]:
    """Every deadline member an open run may hold; all go when it closes."""
    rid = state.run_id
    out = {deadline("wto", rid)}
    dt = state.decision_task
    if dt.started_event_id:
        out.add(deadline("dto", rid, dt.started_event_id))
    for sid in state.activities:
        out.update(deadline(k, rid, sid) for k in ("a4ss", "a1sc", "a2st", "a3hb"))
    for timer in state.timers.values():
        out.add(deadline("tmr", rid, timer.started_event_id))
    for scheduled in state.lambda_tasks:
        out.add(deadline("l2c", rid, scheduled))
    if dt.scheduled_event_id:
        out.add(deadline("dts", rid, dt.scheduled_event_id))
    return out


def execution_info(state: RunState) -> dict[str, Any]:
    name, version = state.workflow_type
    info: dict[str, Any] = {
        "execution": {"workflowId": state.workflow_id, "runId": state.run_id},
        "workflowType": {"name": name, "version": version},
        "startTimestamp": state.start_time,
    }
    if state.close_time is not None:
        info["closeTimestamp"] = state.close_time
    info["executionStatus"] = state.status
    if state.close_status:
        info["closeStatus"] = state.close_status
    if state.parent:
        info["parent"] = state.parent
    if state.tags:
        info["tagList"] = state.tags
    info["cancelRequested"] = state.cancel_requested
    return info


def terminate(run: Run, attributes: dict[str, Any], child_policy: str) -> None:
    """WorkflowExecutionTerminated, then close; the children get ``child_policy`` (§8.4)."""
    run.add("WorkflowExecutionTerminated", attributes)
    run.state.child_policy_on_close = child_policy
    run.close("TERMINATED")


def apply_event_limit(run: Run, history_events: int) -> None:
    """SWF's hard limit on history length: the run that reaches it is terminated (§13)."""
    if run.is_open and run.state.event_count >= history_events:
        policy = run.state.config["childPolicy"]
        terminate(run, {"childPolicy": policy, "cause": "EVENT_LIMIT_EXCEEDED"}, policy)


def closing_deadlines(state: RunState) -> dict[str, float]:
    """Outbox entries a run's close sends, due at once: its parent hears of it (unless it went on
    as a new run), and its children get the child policy it closed with (TERMINATE, REQUEST_CANCEL)."""
    assert state.close_time is not None
    due: dict[str, float] = {}
    if state.parent and state.close_status != "CONTINUED_AS_NEW":
        due[deadline("chc", state.run_id)] = state.close_time
    policy = state.child_policy_on_close
    if policy in ("TERMINATE", "REQUEST_CANCEL"):
        kind = "cpt" if policy == "TERMINATE" else "cpc"
        for child in state.children.values():
            if child.run_id:
                due[deadline(kind, child.run_id)] = state.close_time
    return due
