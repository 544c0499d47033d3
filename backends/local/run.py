"""A workflow run's state and its pure transitions (no Redis here).

``Run`` wraps the msgpack state of one execution. Transitions append events
(``add``), keep the decision-task invariant of SWF (at most one scheduled and
one started task; a triggering event schedules one at once, held while
another is started) and record the side effects the store must apply in the
same ``EXEC``: task-list pushes and removals, deadline changes, visibility
index moves. ``now`` is fixed for a transition, so all events of one
transition share a timestamp, as on SWF.
"""

from __future__ import annotations

import base64
import math
import os
from dataclasses import dataclass, field
from typing import Any

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


@dataclass
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
    """One execution's state during a transition.

    State layout (msgpack map):
      d, wid, rid         domain, workflowId, runId
      type                [name, version]
      start, close        timestamps (close None while open)
      status, cs          OPEN|CLOSED, closeStatus
      cfg                 resolved configuration (executionConfiguration's members)
      tags, parent, pie   tagList, parent execution, parentInitiatedEventId
      cr                  cancelRequested
      n                   last event id
      dt                  decision task: sched (eventId|0), started (eventId|0),
                          ssched (scheduledEventId of the started task), prev
                          (previousStartedEventId), m (task-list member of a
                          dispatchable scheduled task), tl (override list)
      acts                open activities by scheduledEventId:
                          {id, tl, st (startedEventId|0), cr (cancel requested id), m, hb, hbt}
      timers              open timers: timerId -> startedEventId
      ctx                 latestExecutionContext
      lat                 latestActivityTaskTimestamp
    """

    __slots__ = ("_defer", "_triggered", "effects", "events", "now", "s")

    def __init__(self, state: dict[str, Any], now: float) -> None:
        self.s = state
        self.now = ms(now)
        self.events: list[dict[str, Any]] = []
        self.effects = Effects()
        self._defer = False
        self._triggered = False

    # -- identity ---------------------------------------------------------------
    @property
    def run_id(self) -> str:
        return str(self.s["rid"])

    @property
    def workflow_id(self) -> str:
        return str(self.s["wid"])

    @property
    def is_open(self) -> bool:
        return bool(self.s["status"] == "OPEN")

    @property
    def execution(self) -> dict[str, str]:
        return {"workflowId": self.workflow_id, "runId": self.run_id}

    @property
    def workflow_type(self) -> dict[str, str]:
        name, version = self.s["type"]
        return {"name": name, "version": version}

    @property
    def decision_task_list(self) -> str:
        return str(self.s["dt"].get("tl") or self.s["cfg"]["taskList"]["name"])

    # -- events -----------------------------------------------------------------
    def add(self, event_type: str, attributes: dict[str, Any]) -> int:
        """Append an event; a triggering one schedules a decision task."""
        event_id = self.s["n"] + 1
        self.s["n"] = event_id
        self.events.append(
            {
                "eventId": event_id,
                "eventTimestamp": self.now,
                "eventType": event_type,
                attributes_key(event_type): attributes,
            }
        )
        if event_type in TRIGGERING and self.is_open:
            if self._defer:
                self._triggered = True
            else:
                self.schedule_decision_task()
        return event_id

    # -- decision task ----------------------------------------------------------
    def schedule_decision_task(self) -> None:
        """Record DecisionTaskScheduled unless one is pending; dispatch it if none is started."""
        dt = self.s["dt"]
        if dt["sched"] or not self.is_open:
            return
        cfg = self.s["cfg"]
        attrs: dict[str, Any] = {"taskList": {"name": self.decision_task_list}}
        if "taskPriority" in cfg:
            attrs["taskPriority"] = cfg["taskPriority"]
        attrs["startToCloseTimeout"] = cfg["taskStartToCloseTimeout"]
        attrs["scheduleToStartTimeout"] = dt["tlt"] if dt.get("tl") and dt.get("tlt") else "NONE"
        dt["stl"] = self.decision_task_list  # the list the event names is the list it goes to
        dt["sched"] = self.add("DecisionTaskScheduled", attrs)
        if not dt["started"]:
            self._dispatch_decision_task()
        else:  # held until the started task ends; still counted as pending (docs/semantics.md)
            dt["held"] = dt["stl"]
            self.effects.hold.append((dt["held"], self.run_id))

    def _dispatch_decision_task(self) -> None:
        dt = self.s["dt"]
        if dt.get("held"):
            self.effects.unhold.append((dt["held"], self.run_id))
            dt["held"] = None
        priority = int(self.s["cfg"].get("taskPriority", "0"))
        member = task_member(priority, self.now, self.run_id, dt["sched"])
        dt["m"] = member
        self.effects.enqueue.append(("d", dt["stl"], member))
        if dt.get("tl") and dt["stl"] == dt["tl"] and dt.get("tlt") is not None:
            self.effects.deadlines_add[deadline("dts", self.run_id, int(dt['sched']))] = self.now + int(dt["tlt"])

    def start_decision_task(self, identity: str | None) -> int:
        dt = self.s["dt"]
        attrs: dict[str, Any] = {"scheduledEventId": dt["sched"]}
        if identity is not None:
            attrs["identity"] = identity
        if dt.get("tlt") is not None:
            self.effects.deadlines_remove.add(deadline("dts", self.run_id, int(dt['sched'])))
        dt["ssched"] = dt["sched"]
        dt["sched"] = 0
        dt["m"] = None
        dt["started"] = self.add("DecisionTaskStarted", attrs)
        return int(dt["started"])

    def begin_completion(self) -> None:
        """Decisions of one batch schedule at most one task, after all their events."""
        self._defer = True
        self._triggered = False

    def end_started_task(self) -> None:
        """The started task is over (completed or timed out): release a held one, or schedule anew."""
        self._defer = False
        dt = self.s["dt"]
        dt["started"] = 0
        dt["ssched"] = 0
        if not self.is_open:
            return
        if dt["sched"]:
            self._dispatch_decision_task()
        elif self._triggered:
            self.schedule_decision_task()
        self._triggered = False

    # -- closing ----------------------------------------------------------------
    def close(self, close_status: str) -> None:
        """Close the run: tokens die, pending tasks leave their lists (§8.2)."""
        s = self.s
        s["status"] = "CLOSED"
        s["cs"] = close_status
        s["close"] = self.now
        dt = s["dt"]
        if dt.get("m"):
            self.effects.dequeue.append(("d", dt["stl"], dt["m"]))
        if dt.get("held"):
            self.effects.unhold.append((dt["held"], self.run_id))
            dt["held"] = None
        dt["m"] = None
        dt["sched"] = 0
        for act in s["acts"].values():
            if act.get("m"):
                self.effects.dequeue.append(("a", act["tl"], act["m"]))
                act["m"] = None
        self.effects.closed = True


def run_deadlines(s: dict[str, Any]) -> set[str]:
    """Every deadline member an open run may hold; all go when it closes."""
    rid = s["rid"]
    out = {deadline("wto", rid)}
    dt = s["dt"]
    if dt["started"]:
        out.add(deadline("dto", rid, int(dt['started'])))
    for sid in s["acts"]:
        out.update(deadline(k, rid, int(sid)) for k in ("a4ss", "a1sc", "a2st", "a3hb"))
    for started in s["timers"].values():
        out.add(deadline("tmr", rid, int(started)))
    for scheduled in s.get("lambdas", {}):
        out.add(deadline("l2c", rid, int(scheduled)))
    if dt["sched"]:
        out.add(deadline("dts", rid, int(dt['sched'])))
    return out


def execution_info(s: dict[str, Any]) -> dict[str, Any]:
    info: dict[str, Any] = {
        "execution": {"workflowId": s["wid"], "runId": s["rid"]},
        "workflowType": {"name": s["type"][0], "version": s["type"][1]},
        "startTimestamp": s["start"],
    }
    if s["close"] is not None:
        info["closeTimestamp"] = s["close"]
    info["executionStatus"] = s["status"]
    if s["cs"]:
        info["closeStatus"] = s["cs"]
    if s.get("parent"):
        info["parent"] = s["parent"]
    if s["tags"]:
        info["tagList"] = s["tags"]
    info["cancelRequested"] = bool(s["cr"])
    return info


def apply_event_limit(run: Run, history_events: int) -> None:
    """SWF's hard limit on history length: the run that reaches it is terminated (§13)."""
    if run.is_open and run.s["n"] >= history_events:
        policy = run.s["cfg"]["childPolicy"]
        run.add("WorkflowExecutionTerminated", {"childPolicy": policy, "cause": "EVENT_LIMIT_EXCEEDED"})
        run.s["policy"] = policy
        run.close("TERMINATED")
