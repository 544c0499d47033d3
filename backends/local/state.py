"""A run's state, typed, and its stored form (the one place that knows it).

``RunState`` is what ``run.Run`` changes during a transition: the run's
identity and settings, its status, and what is open in it (the decision
task, activities, timers, children, Lambda tasks). ``RunState.load`` reads
the stored form, ``RunState.dump`` writes it; the store turns it into bytes
(msgpack) under ``swf:{T}:run:<runId>``. No other code knows the keys below.

Stored form: a msgpack map with short keys (it is read and written on every
transition). It is the layout flowser has always written, so a run stored by
an earlier version loads, and one stored now is read by an earlier version
(optional keys are left out while empty; readers default them):

  d, wid, rid      domain, workflow_id, run_id
  type             workflow_type as [name, version]
  start, seq       start_time; start_order (optional: 0)
  close            close_time (None while open)
  status, cs       status (OPEN|CLOSED), close_status (None while open)
  cfg              config (executionConfiguration's members)
  tags, parent     tags, parent ({workflowId, runId} or None)
  pie, cr          parent_initiated_event_id, cancel_requested
  n                event_count
  dt               decision_task: sched, started, ssched, prev, m, tl,
                   stl (optional: tl or the run's list), tlt, held (optional)
  acts             activities by str(scheduled_event_id):
                   {id, tl, st, cr, m, hb (optional), hbs (optional)}
  timers           timers: timerId -> started_event_id
  children         children by str(initiated_event_id) (optional):
                   {wid, type, rid, st}
  lambdas          lambda_tasks by str(scheduled_event_id) (optional):
                   {id, name, st, m}
  ctx, lat         execution_context, latest_activity_time
  policy           child_policy_on_close (optional)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class DecisionTask:
    """The run's decision task: at most one scheduled and one started at a time (§4.4)."""

    scheduled_event_id: int = 0
    """DecisionTaskScheduled of the task waiting to start (0: none)."""
    started_event_id: int = 0
    """DecisionTaskStarted of the task a decider holds (0: none)."""
    started_scheduled_event_id: int = 0
    """The DecisionTaskScheduled id of the started task."""
    previous_started_event_id: int = 0
    """The last completed task's DecisionTaskStarted id (previousStartedEventId)."""
    task_member: str | None = None
    """The scheduled task's member in its task list while it is dispatchable."""
    task_list: str | None = None
    """The list the scheduled task went to (the one its event names)."""
    override_task_list: str | None = None
    """The task list RespondDecisionTaskCompleted asked for the next tasks."""
    override_schedule_to_start: str | None = None
    """That override's taskListScheduleToStartTimeout (seconds, as a string)."""
    held_on: str | None = None
    """The list of a scheduled task held behind a started one (counted as pending)."""


@dataclass(slots=True)
class Activity:
    """An open activity task, by its ActivityTaskScheduled id."""

    activity_id: str
    task_list: str
    started_event_id: int = 0
    """ActivityTaskStarted (0: not started)."""
    cancel_requested_event_id: int = 0
    """The latest ActivityTaskCancelRequested (0: none)."""
    task_member: str | None = None
    """Its member in the task list while it waits for a worker."""
    heartbeat_details: str | None = None
    """The last heartbeat's details."""
    heartbeat_timeout: float | None = None
    """Seconds between heartbeats, once started (None: no limit)."""


@dataclass(slots=True)
class Timer:
    """An open timer."""

    timer_id: str
    started_event_id: int
    """TimerStarted."""


@dataclass(slots=True)
class Child:
    """A child run, from StartChildWorkflowExecutionInitiated until its parent hears it closed."""

    workflow_id: str
    workflow_type: tuple[str, str]
    run_id: str | None = None
    """None until it has started."""
    started_event_id: int = 0
    """ChildWorkflowExecutionStarted in the parent (0: not yet)."""


@dataclass(slots=True)
class LambdaTask:
    """An open Lambda function task, by its LambdaFunctionScheduled id."""

    lambda_id: str
    name: str
    started_event_id: int = 0
    """LambdaFunctionStarted (0: not started)."""
    task_member: str | None = None
    """Its member in the Lambda task list while it waits for a runner."""


@dataclass(slots=True)
class RunState:
    """One execution's state (see the module docstring for its stored form)."""

    domain: str
    workflow_id: str
    run_id: str
    workflow_type: tuple[str, str]
    start_time: float
    config: dict[str, Any]
    """The resolved executionConfiguration (SWF's member names)."""
    status: str = "OPEN"
    """OPEN or CLOSED."""
    close_status: str | None = None
    close_time: float | None = None
    start_order: int = 0
    """Orders runs started within one millisecond (time.time_ns at start; not SWF time)."""
    tags: list[str] = field(default_factory=list)
    parent: dict[str, str] | None = None
    """The parent's {workflowId, runId}, for a child."""
    parent_initiated_event_id: int = 0
    """The parent's StartChildWorkflowExecutionInitiated."""
    cancel_requested: bool = False
    event_count: int = 0
    """Events in the history: the last one's id."""
    decision_task: DecisionTask = field(default_factory=DecisionTask)
    activities: dict[int, Activity] = field(default_factory=dict)
    """Open activity tasks by ActivityTaskScheduled id."""
    timers: dict[str, Timer] = field(default_factory=dict)
    """Open timers by timerId."""
    children: dict[int, Child] = field(default_factory=dict)
    """Children by StartChildWorkflowExecutionInitiated id, until they close."""
    lambda_tasks: dict[int, LambdaTask] = field(default_factory=dict)
    """Open Lambda tasks by LambdaFunctionScheduled id."""
    execution_context: str | None = None
    """latestExecutionContext."""
    latest_activity_time: float | None = None
    """latestActivityTaskTimestamp."""
    child_policy_on_close: str | None = None
    """The child policy the closing transition applies to the children."""

    @property
    def is_open(self) -> bool:
        return self.status == "OPEN"

    @classmethod
    def load(cls, stored: dict[str, Any]) -> RunState:
        """A state from its stored form (any layout flowser has written).

        Fields are set one by one on a bare instance: on every transition, so
        this skips ``__init__``'s keyword handling (the tests check every field).
        """
        cfg = stored["cfg"]
        dt = stored["dt"]
        name, version = stored["type"]
        state = cls.__new__(cls)
        state.domain = stored["d"]
        state.workflow_id = stored["wid"]
        state.run_id = stored["rid"]
        state.workflow_type = (name, version)
        state.start_time = stored["start"]
        state.config = cfg
        state.status = stored["status"]
        state.close_status = stored["cs"]
        state.close_time = stored["close"]
        state.start_order = stored.get("seq", 0)
        state.tags = stored["tags"]
        state.parent = stored.get("parent")
        state.parent_initiated_event_id = stored.get("pie", 0)
        state.cancel_requested = bool(stored["cr"])
        state.event_count = stored["n"]
        state.decision_task = DecisionTask(
            dt["sched"],
            dt["started"],
            dt["ssched"],
            dt["prev"],
            dt.get("m"),
            dt.get("stl") or dt.get("tl") or cfg["taskList"]["name"],  # stl came later: the list it went to
            dt.get("tl"),
            dt.get("tlt"),
            dt.get("held"),
        )
        acts = stored["acts"]
        state.activities = (
            {
                int(k): Activity(a["id"], a["tl"], a["st"], a["cr"], a.get("m"), a.get("hb"), a.get("hbs"))
                for k, a in acts.items()
            }
            if acts
            else {}
        )
        timers = stored["timers"]
        state.timers = {k: Timer(k, v) for k, v in timers.items()} if timers else {}
        children = stored.get("children")
        state.children = (
            {int(k): Child(c["wid"], (c["type"][0], c["type"][1]), c["rid"], c["st"]) for k, c in children.items()}
            if children
            else {}
        )
        lambdas = stored.get("lambdas")
        state.lambda_tasks = (
            {int(k): LambdaTask(t["id"], t["name"], t["st"], t.get("m")) for k, t in lambdas.items()} if lambdas else {}
        )
        state.execution_context = stored.get("ctx")
        state.latest_activity_time = stored.get("lat")
        state.child_policy_on_close = stored.get("policy")
        return state

    def dump(self) -> dict[str, Any]:
        """The stored form (the store packs it)."""
        dt = self.decision_task
        stored_dt: dict[str, Any] = {
            "sched": dt.scheduled_event_id,
            "started": dt.started_event_id,
            "ssched": dt.started_scheduled_event_id,
            "prev": dt.previous_started_event_id,
            "m": dt.task_member,
            "tl": dt.override_task_list,
            "stl": dt.task_list,
        }
        if dt.override_schedule_to_start is not None:
            stored_dt["tlt"] = dt.override_schedule_to_start
        if dt.held_on is not None:
            stored_dt["held"] = dt.held_on
        acts: dict[str, Any] = {}
        for k, a in self.activities.items():
            act: dict[str, Any] = {
                "id": a.activity_id,
                "tl": a.task_list,
                "st": a.started_event_id,
                "cr": a.cancel_requested_event_id,
                "m": a.task_member,
            }
            if a.heartbeat_details is not None:
                act["hb"] = a.heartbeat_details
            if a.heartbeat_timeout is not None:
                act["hbs"] = a.heartbeat_timeout
            acts[str(k)] = act
        out: dict[str, Any] = {
            "d": self.domain,
            "wid": self.workflow_id,
            "rid": self.run_id,
            "type": list(self.workflow_type),
            "start": self.start_time,
            "seq": self.start_order,
            "close": self.close_time,
            "status": self.status,
            "cs": self.close_status,
            "cfg": self.config,
            "tags": self.tags,
            "parent": self.parent,
            "pie": self.parent_initiated_event_id,
            "cr": self.cancel_requested,
            "n": self.event_count,
            "dt": stored_dt,
            "acts": acts,
            "timers": {k: t.started_event_id for k, t in self.timers.items()},
            "ctx": self.execution_context,
            "lat": self.latest_activity_time,
        }
        if self.children:
            out["children"] = {
                str(k): {"wid": c.workflow_id, "type": list(c.workflow_type), "rid": c.run_id, "st": c.started_event_id}
                for k, c in self.children.items()
            }
        if self.lambda_tasks:
            out["lambdas"] = {
                str(k): {"id": t.lambda_id, "name": t.name, "st": t.started_event_id, "m": t.task_member}
                for k, t in self.lambda_tasks.items()
            }
        if self.child_policy_on_close is not None:
            out["policy"] = self.child_policy_on_close
        return out
