"""Schedules: start a workflow on a cron expression or an interval, as an SWF execution of its own.

A schedule is a run of the built-in workflow type :class:`Schedule`
(``flowser.Schedule`` version ``1``, task list ``flowser-schedules``), with
workflowId ``flowser-schedule.NAME``. Its input is the schedule's whole state
(:class:`ScheduleState`: the spec, the action, the policies, paused or not,
what it started). Its decider -- ``flowser decider flowser.schedules:Schedule
--domain D`` -- wakes on an SWF timer at each fire time, starts the target
workflow with ``StartWorkflowExecution``, records its state in a marker and
sets the timer to the next fire time. Every ``continue_every`` decision tasks
it continues as new, carrying the state, so its history stays short. pause,
unpause, trigger and backfill are signals to it. So a schedule runs wherever
SWF runs, survives restarts of everything (the timer is SWF's) and shows in
histories, the CLI and the dashboard.

Why ``StartWorkflowExecution`` from the decider rather than child workflows:
a child's close event goes to the run that started it, and a schedule
continues as new while its runs go on, so the next run would never hear of
them; children would also die with the schedule (child policy) and moto has
no children. The started runs are plain top-level executions (with the tag
``flowser-schedule:NAME`` and workflowId ``PREFIX-YYYYMMDDTHHMMSSZ``, the
nominal fire time): the same workflowId for the same fire time makes a start
that is repeated after a lost decision task find the run already started
(``WorkflowExecutionAlreadyStartedFault``) instead of starting it twice. The
decider learns whether a run it started is still open with
``DescribeWorkflowExecution``, when it needs to (overlap policies).

Time: "now" is the timestamp of the decision task's ``DecisionTaskStarted``
event -- the SWF service's clock (virtual on ``flowser.testing.Environment``),
never the decider's. Cron expressions are evaluated by cronsim in the
schedule's IANA time zone (``timezone``, default ``UTC``), see
docs/recipes.md for DST. Intervals (``every``) count from the Unix epoch
(plus ``offset``), in UTC: ``every=86400`` fires at 00:00 UTC.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import math
import zoneinfo
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from . import ops, serializing
from .exceptions import Error
from .types import ONE_DAY, Workflow

if TYPE_CHECKING:
    from .tasks import Decision

__all__ = [
    "OVERLAP_POLICIES",
    "Action",
    "Policy",
    "Schedule",
    "ScheduleState",
    "Spec",
    "backfill",
    "create",
    "delete",
    "describe",
    "list_schedules",
    "pause",
    "trigger",
    "unpause",
    "workflow_id",
]

OVERLAP_POLICIES = ("skip", "buffer_one", "allow_all", "cancel_other", "terminate_other")
Overlap = Literal["skip", "buffer_one", "allow_all", "cancel_other", "terminate_other"]

WORKFLOW_ID_PREFIX = "flowser-schedule."
MARKER = "flowser.schedule"
SIGNAL_PAUSE = "flowser.schedule.pause"
SIGNAL_UNPAUSE = "flowser.schedule.unpause"
SIGNAL_TRIGGER = "flowser.schedule.trigger"
SIGNAL_BACKFILL = "flowser.schedule.backfill"
SIGNALS = (SIGNAL_PAUSE, SIGNAL_UNPAUSE, SIGNAL_TRIGGER, SIGNAL_BACKFILL)
TAG = "flowser-schedule"

MAX_TIMER = 365 * ONE_DAY
"""SWF's longest timer (one year)."""
RUN_LIFETIME = 360 * ONE_DAY
"""A schedule's run continues as new after this long (its execution timeout is SWF's maximum, one year)."""
RECENT = 5
"""Started runs kept in the state (describe shows them)."""
MAX_RUNNING = 50
"""Open runs a schedule keeps track of (allow_all may have more; the oldest are forgotten): the state
must fit in a marker's 32,768 characters."""
MAX_INPUT = 16_384
"""The longest input of a schedule's runs: the schedule carries it in its own state (32,768 at most)."""
MAX_BACKFILL = 1000
"""Fire times one backfill request may cover."""
MAX_STARTS_PER_TASK = 100
"""Starts one decision task makes at most (each is an SWF call): a backfill goes on in the next task."""
MAX_QUEUED_BACKFILLS = 20
"""Backfill requests waiting their turn at most (the state must fit in a marker)."""
MAX_CATCHUP = 1000
"""Missed fire times looked at in one decision task (older ones count as missed)."""

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)

log = logging.getLogger("flowser.schedules")


def workflow_id(name: str) -> str:
    """The workflowId of schedule ``name``'s runs."""
    return WORKFLOW_ID_PREFIX + name


def utc(value: Any) -> dt.datetime:
    """A timestamp (datetime, epoch seconds, ISO 8601 text) as an aware UTC datetime."""
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC) if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if isinstance(value, int | float):
        return dt.datetime.fromtimestamp(value, dt.UTC)
    parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed.astimezone(dt.UTC) if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def stamp(when: dt.datetime) -> str:
    """``20260101T020000Z``: a fire time in a workflowId (SWF forbids ``:`` there)."""
    return utc(when).strftime("%Y%m%dT%H%M%SZ")


def iso(when: dt.datetime | None) -> str | None:
    return None if when is None else utc(when).isoformat().replace("+00:00", "Z")


# -- the state -------------------------------------------------------------------------------------
class Spec(BaseModel):
    """When a schedule fires: a cron expression or an interval, with jitter and a start and an end."""

    cron: str | None = None
    """A cron expression (5 fields, or 6 with seconds first), evaluated by cronsim in ``timezone``."""
    every: int | None = Field(default=None, ge=1)
    """An interval in seconds, counted from the Unix epoch plus ``offset`` (UTC)."""
    offset: int = Field(default=0, ge=0)
    timezone: str = "UTC"
    """IANA name (``Europe/Paris``) for ``cron``; intervals ignore it."""
    jitter: int = Field(default=0, ge=0)
    """Each fire happens up to this many seconds late, by an amount fixed per fire time."""
    start_at: dt.datetime | None = None
    end_at: dt.datetime | None = None

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (an IANA name such as UTC or Europe/Paris)") from None
        return value

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is None:
            return None
        from cronsim import CronSim, CronSimError

        try:
            CronSim(value, dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
        except (CronSimError, ValueError) as exc:
            raise ValueError(f"bad cron expression {value!r}: {exc}") from None
        return value

    @field_validator("start_at", "end_at")
    @classmethod
    def _aware(cls, value: dt.datetime | None) -> dt.datetime | None:
        return None if value is None else utc(value)

    @model_validator(mode="after")
    def _one(self) -> Spec:
        if (self.cron is None) == (self.every is None):
            raise ValueError("give either a cron expression or an interval (every), not both and not neither")
        if self.start_at and self.end_at and self.end_at < self.start_at:
            raise ValueError("end_at is before start_at")
        return self

    def describe(self) -> str:
        if self.cron is not None:
            text = f"cron {self.cron!r}" + (f" ({self.timezone})" if self.timezone != "UTC" else " (UTC)")
        else:
            text = f"every {duration_text(self.every or 0)}" + (f" +{duration_text(self.offset)}" if self.offset else "")
        if self.jitter:
            text += f", jitter {duration_text(self.jitter)}"
        return text

    # -- fire times ----------------------------------------------------------------------------
    def times_after(self, after: dt.datetime) -> Iterator[dt.datetime]:
        """Nominal fire times strictly after ``after`` (UTC), within start_at/end_at, in order."""
        after = utc(after)
        if self.start_at is not None and after < self.start_at:
            after = self.start_at - dt.timedelta(microseconds=1)
        for when in self._raw_times_after(after):
            if self.end_at is not None and when > self.end_at:
                return
            yield when

    def _raw_times_after(self, after: dt.datetime) -> Iterator[dt.datetime]:
        if self.every is not None:
            elapsed = (after - _EPOCH).total_seconds() - self.offset
            k = math.floor(elapsed / self.every) + 1
            while True:
                yield _EPOCH + dt.timedelta(seconds=k * self.every + self.offset)
                k += 1
        from cronsim import CronSim

        zone = zoneinfo.ZoneInfo(self.timezone)
        start = after.astimezone(zone)
        for local in CronSim(str(self.cron), start):
            when = local.astimezone(dt.UTC)
            if when > after:  # cronsim may repeat a wall-clock time across a DST fold
                yield when

    def jitter_of(self, name: str, when: dt.datetime) -> int:
        """Seconds fire time ``when`` of schedule ``name`` is delayed (fixed: the same every time)."""
        if not self.jitter:
            return 0
        digest = hashlib.sha256(f"{name}|{iso(when)}".encode()).digest()
        return int.from_bytes(digest[:8], "big") % self.jitter

    def next_fires(self, name: str, after: dt.datetime, count: int) -> list[tuple[dt.datetime, dt.datetime]]:
        """``(nominal, actual)`` of the next ``count`` fires after ``after`` (actual = nominal + jitter)."""
        out = []
        for when in self.times_after(after):
            out.append((when, when + dt.timedelta(seconds=self.jitter_of(name, when))))
            if len(out) >= count:
                break
        return out


class Action(BaseModel):
    """What a schedule starts: a workflow type with an input and run settings (None: the type's defaults)."""

    workflow_type: dict[str, str]
    """``{"name": ..., "version": ...}``"""
    input: str | None = None
    """The input as SWF carries it (text)."""
    workflow_id_prefix: str
    task_list: str | None = None
    execution_timeout: str | None = None
    task_timeout: str | None = None
    child_policy: str | None = None
    tags: list[str] = Field(default_factory=list)
    priority: str | None = None


class Policy(BaseModel):
    overlap: Overlap = "skip"
    """What a fire does while a run this schedule started is still open (docs/recipes.md)."""
    catchup_window: int = Field(default=ONE_DAY, ge=1)
    """Fires missed by more than this many seconds (the decider was down) are not taken."""
    check_every: int = Field(default=60, ge=1)
    """buffer_one: how often (seconds) to look whether the open run has closed, while a start is buffered."""


class Started(BaseModel):
    """One run a schedule started (or failed to start)."""

    workflowId: str
    runId: str | None = None
    scheduled: dt.datetime
    """The nominal fire time (a trigger's: when it was asked)."""
    started: dt.datetime | None = None
    """When the decider started it (the SWF clock)."""
    by: Literal["schedule", "trigger", "backfill"] = "schedule"
    status: str | None = None
    """The close status once the decider saw it closed; None while open (describe asks SWF)."""
    error: str | None = None
    """Why the start failed (then runId is None)."""


class Pending(BaseModel):
    """A start waiting for its turn (buffer_one)."""

    scheduled: dt.datetime
    by: Literal["schedule", "trigger", "backfill"] = "schedule"


class Backfill(BaseModel):
    """A backfill request still being taken: the fire times of the spec from ``start`` to ``end``."""

    start: dt.datetime
    end: dt.datetime
    overlap: Overlap


class Counts(BaseModel):
    fires: int = 0
    started: int = 0
    skipped: int = 0
    buffered: int = 0
    missed: int = 0
    canceled: int = 0
    terminated: int = 0
    failed: int = 0


class ScheduleState(BaseModel):
    """A schedule's whole state: the input of its runs, and the details of its markers."""

    name: str
    spec: Spec
    action: Action
    policy: Policy = Field(default_factory=Policy)
    paused: bool = False
    note: str = ""
    continue_every: int = Field(default=100, ge=2)
    """Decision tasks per run before it continues as new."""
    after: dt.datetime | None = None
    """Fire times up to this one are done (None until the first decision task: its run's start)."""
    running: list[Started] = Field(default_factory=list)
    buffered: Pending | None = None
    backfills: list[Backfill] = Field(default_factory=list)
    recent: list[Started] = Field(default_factory=list)
    counts: Counts = Field(default_factory=Counts)
    created: dt.datetime | None = None

    @field_validator("after", "created")
    @classmethod
    def _aware(cls, value: dt.datetime | None) -> dt.datetime | None:
        return None if value is None else utc(value)


def duration_text(seconds: int) -> str:
    """86400 -> 1d, 5400 -> 1h30m, 90 -> 1m30s."""
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(parts) or "0s"


def parse_duration(text: str) -> int:
    """``90``, ``90s``, ``15m``, ``2h``, ``1d``, ``1h30m`` -> seconds (ValueError otherwise)."""
    import re

    raw = text.strip().lower()
    if raw.isdigit():
        return int(raw)
    match = re.fullmatch(r"(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", raw)
    if not raw or match is None:
        raise ValueError(f"{text!r} is not a duration like 90s, 15m, 2h, 1d or 1h30m")
    w, d, h, m, s = (int(g or 0) for g in match.groups())
    return (((w * 7 + d) * 24 + h) * 60 + m) * 60 + s


# -- the decider -----------------------------------------------------------------------------------
class Schedule(Workflow):
    """The built-in workflow type that runs schedules (``flowser decider flowser.schedules:Schedule --domain D``)."""

    name = "flowser.Schedule"
    version = "1"
    task_list = "flowser-schedules"
    description = "a flowser schedule: starts a workflow on a cron expression or an interval (flowser schedule --help)"
    execution_start_to_close_timeout = str(MAX_TIMER)
    task_start_to_close_timeout = "300"
    """Room for MAX_STARTS_PER_TASK StartWorkflowExecution calls."""
    child_policy = "ABANDON"
    default_tag_list: ClassVar[list[str] | None] = [TAG]
    input_model = ScheduleState
    on_decider_error = "retry"
    """A fault while starting a run (throttling, the backend unreachable) must not end the schedule: the
    decision task times out and is taken again."""

    @staticmethod
    def get_id_from_input(input: Any) -> str:
        state = input if isinstance(input, ScheduleState) else ScheduleState.model_validate(input)
        return workflow_id(state.name)

    def decide(self, task: Decision) -> None:
        _Decider(self, task).run()


class _Decider:
    """One decision task of a schedule."""

    def __init__(self, workflow: Schedule, task: Decision) -> None:
        self.workflow = workflow
        self.task = task
        self.conn = workflow._conn
        self.domain = str(workflow._domain.name)
        history = task.history
        self.history = history
        started = task.most_recent("DecisionTaskStarted")
        self.now = utc(started.time_stamp) if started is not None else dt.datetime.now(dt.UTC)
        self.run_started = utc(history.started.time_stamp) if history.started is not None else self.now
        self.state, seen = self._current_state()
        self.new_signals = [s for s in history.signals if s.event.id > seen and s.name in SIGNALS]
        self.markers = sum(1 for m in history.markers if m.name == MARKER)

    def _current_state(self) -> tuple[ScheduleState, int]:
        """The state after the last decision task that recorded one (else the input), and that task's
        DecisionTaskStarted id: the signals after it are new."""
        for marker in reversed(self.history.markers):
            if marker.name != MARKER or not marker.details:
                continue
            state = ScheduleState.model_validate_json(marker.details)
            completed = self.history[marker.event.get("decisionTaskCompletedEventId")]
            return state, int(completed.get("startedEventId") or 0)
        state = self.task.start_input
        if not isinstance(state, ScheduleState):
            state = ScheduleState.model_validate(state)
        return state.model_copy(deep=True), 0

    # -- the decision --------------------------------------------------------------------------
    def run(self) -> None:
        state = self.state
        if state.after is None:
            state.after = state.created or self.run_started
        if self.history.cancel_requested:
            self.task.cancel_workflow(state.model_dump_json())
            return
        self._refresh_running()
        starts: list[tuple[Pending, Overlap]] = []
        for signal in self.new_signals:
            try:
                starts.extend(self._signal(signal.name, signal.input, utc(signal.event.time_stamp)))
            except (KeyError, TypeError, ValueError) as exc:  # sent by hand, malformed: not worth a stuck schedule
                log.warning("schedule %s: ignored signal %s (event %s): %s", state.name, signal.name, signal.event.id, exc)
        if not state.paused:
            starts.extend((p, state.policy.overlap) for p in self._due())
        else:
            state.after = max(state.after, self.now)
        starts.extend(self._take_backfills(MAX_STARTS_PER_TASK - len(starts)))
        for pending, overlap in starts:
            self._act(pending, overlap)
        if state.buffered is not None and not state.running:
            buffered, state.buffered = state.buffered, None
            self._start(buffered)
        self.task.mark(MARKER, state.model_dump_json())
        if self._should_continue():
            self.task.continue_as_new(state)
            return
        wake = self._wake_time()
        if wake is None and state.buffered is None and not state.backfills and not self._has_more_fires():
            self.task.complete_workflow(state)  # past end_at: nothing more to start (the runs it started go on)
            return
        self._set_timer(wake if wake is not None else self.run_started + dt.timedelta(seconds=RUN_LIFETIME))

    def _signal(self, name: str, payload: Any, at: dt.datetime) -> list[tuple[Pending, Overlap]]:
        state = self.state
        data = payload if isinstance(payload, dict) else {}
        if name == SIGNAL_PAUSE:
            if not state.paused:
                state.paused = True
                self._take_due(until=at)
            state.note = str(data.get("note") or "")
        elif name == SIGNAL_UNPAUSE:
            state.paused = False
            state.note = str(data.get("note") or "")
            state.after = max(state.after or at, at)  # fires while paused are not taken
        elif name == SIGNAL_TRIGGER:
            overlap = self._overlap(data)
            return [(Pending(scheduled=at, by="trigger"), overlap)]
        elif name == SIGNAL_BACKFILL:
            request = Backfill(start=utc(data["start"]), end=utc(data["end"]), overlap=self._overlap(data))
            if len(state.backfills) >= MAX_QUEUED_BACKFILLS:
                raise ValueError(f"{MAX_QUEUED_BACKFILLS} backfills are waiting already")
            state.backfills.append(request)
        return []

    def _take_backfills(self, budget: int) -> list[tuple[Pending, Overlap]]:
        """The next fire times of the backfills waiting, ``budget`` at most (the rest in the next task)."""
        out: list[tuple[Pending, Overlap]] = []
        state = self.state
        while state.backfills and budget > 0:
            request = state.backfills[0]
            taken = 0
            for when in state.spec.times_after(request.start - dt.timedelta(microseconds=1)):
                if when > request.end or taken >= MAX_BACKFILL:
                    state.backfills.pop(0)
                    break
                if budget <= 0:
                    request.start = when
                    break
                out.append((Pending(scheduled=when, by="backfill"), request.overlap))
                budget -= 1
                taken += 1
            else:  # the spec has no more fire times
                state.backfills.pop(0)
        return out

    def _overlap(self, data: dict[str, Any]) -> Overlap:
        """A signal's overlap policy, else the schedule's."""
        given = data.get("overlap")
        if given is None:
            return self.state.policy.overlap
        if given not in OVERLAP_POLICIES:
            raise ValueError(f"unknown overlap policy {given!r}")
        return given

    def _take_due(self, until: dt.datetime) -> None:
        """Before a pause: the fires due until then are still taken."""
        for pending in self._due(until):
            self._act(pending, self.state.policy.overlap)

    def _due(self, until: dt.datetime | None = None) -> list[Pending]:
        """Fire times due by ``until`` (now), in order. Those older than the catch-up window (the
        decider was down) are missed, as are those beyond MAX_CATCHUP in one look."""
        state = self.state
        until = until or self.now
        assert state.after is not None
        oldest = until - dt.timedelta(seconds=state.policy.catchup_window)
        due: list[Pending] = []
        last = state.after
        for looked, when in enumerate(state.spec.times_after(state.after)):
            if when + dt.timedelta(seconds=state.spec.jitter_of(state.name, when)) > until:
                break
            if looked >= 10 * MAX_CATCHUP:  # a long outage of a frequent schedule: jump to now
                state.counts.missed += 1
                last = until
                break
            last = when
            state.counts.fires += 1
            if when < oldest or len(due) >= MAX_CATCHUP:
                state.counts.missed += 1
            else:
                due.append(Pending(scheduled=when))
        state.after = last
        return due

    def _act(self, pending: Pending, overlap: str) -> None:
        state = self.state
        if not state.running or overlap == "allow_all":
            self._start(pending)
        elif overlap == "skip":
            state.counts.skipped += 1
        elif overlap == "buffer_one":
            if state.buffered is None:
                state.buffered = pending
                state.counts.buffered += 1
            else:
                state.counts.skipped += 1
        elif overlap == "cancel_other":
            for run in state.running:
                self.task.request_cancel_external(run.workflowId, run.runId)
                state.counts.canceled += 1
            self._start(pending)
        elif overlap == "terminate_other":
            for run in list(state.running):
                try:
                    self.conn.terminate_workflow_execution(
                        domain=self.domain,
                        workflowId=run.workflowId,
                        runId=run.runId,
                        reason=f"flowser schedule {state.name}: overlap policy terminate_other",
                    )
                    state.counts.terminated += 1
                except Exception as exc:
                    if ops.fault_code(exc) != "UnknownResourceFault":
                        raise
                self._closed(run, "TERMINATED")
            self._start(pending)

    def _start(self, pending: Pending) -> None:
        state, action = self.state, self.state.action
        wid = f"{action.workflow_id_prefix}-{stamp(pending.scheduled)}"[:256]
        record = Started(workflowId=wid, scheduled=pending.scheduled, started=self.now, by=pending.by)
        kwargs: dict[str, Any] = {
            "domain": self.domain,
            "workflowId": wid,
            "workflowType": action.workflow_type,
            "input": action.input,
            "taskList": {"name": action.task_list} if action.task_list else None,
            "executionStartToCloseTimeout": action.execution_timeout,
            "taskStartToCloseTimeout": action.task_timeout,
            "childPolicy": action.child_policy,
            "taskPriority": action.priority,
            "tagList": ([*action.tags, f"{TAG}:{state.name}"][:5]),
        }
        try:
            answer = self.conn.start_workflow_execution(**{k: v for k, v in kwargs.items() if v is not None})
            record.runId = answer["runId"]
        except Exception as exc:
            code = ops.fault_code(exc)
            if code == "WorkflowExecutionAlreadyStartedFault":  # started by this fire already (a lost decision task)
                record.runId = self._open_run_id(wid)
            elif code in ("UnknownResourceFault", "TypeDeprecatedFault", "DefaultUndefinedFault", "LimitExceededFault"):
                record.error = f"{code}: {getattr(exc, 'response', {}).get('Error', {}).get('Message', '')}".strip()
                record.status = "START_FAILED"
            else:
                raise
        if record.runId is not None:
            state.counts.started += 1
            state.running.append(record)
            del state.running[:-MAX_RUNNING]
        else:
            state.counts.failed += 1
        state.recent.append(record)
        del state.recent[:-RECENT]

    def _open_run_id(self, wid: str) -> str | None:
        runs = ops.list_executions(self.conn, self.domain, workflow_id=wid, status="open", limit=1)
        return str(runs[0]["execution"]["runId"]) if runs else None

    def _refresh_running(self) -> None:
        """Forget the runs that have closed (DescribeWorkflowExecution each), noting how they closed."""
        for run in list(self.state.running):
            try:
                info = self.conn.describe_workflow_execution(
                    domain=self.domain, execution={"workflowId": run.workflowId, "runId": run.runId}
                )["executionInfo"]
            except Exception as exc:
                if ops.fault_code(exc) != "UnknownResourceFault":
                    raise
                self._closed(run, "UNKNOWN")  # past the domain's retention
                continue
            if info.get("executionStatus") == "CLOSED":
                self._closed(run, str(info.get("closeStatus") or "CLOSED"))

    def _closed(self, run: Started, status: str) -> None:
        self.state.running = [r for r in self.state.running if r.runId != run.runId]
        for record in self.state.recent:
            if record.runId == run.runId:
                record.status = status

    def _should_continue(self) -> bool:
        return self.markers + 1 >= self.state.continue_every or (self.now - self.run_started).total_seconds() >= RUN_LIFETIME

    def _has_more_fires(self) -> bool:
        assert self.state.after is not None
        return next(iter(self.state.spec.times_after(self.state.after)), None) is not None

    def _wake_time(self) -> dt.datetime | None:
        state = self.state
        times = []
        if not state.paused:
            upcoming = state.spec.next_fires(state.name, state.after or self.now, 1)
            if upcoming:
                times.append(upcoming[0][1])
        if state.buffered is not None and state.running:
            times.append(self.now + dt.timedelta(seconds=state.policy.check_every))
        if state.backfills:
            times.append(self.now)  # more to start: at once (a 1 s timer)
        if not times:
            return None
        return min(min(times), self.run_started + dt.timedelta(seconds=RUN_LIFETIME))

    def _set_timer(self, wake: dt.datetime) -> None:
        """One open timer at a time: keep it if it fires at ``wake``, else cancel it and start another."""
        wanted = iso(wake)
        open_timers = [t for t in self.history.timers.values() if t.is_open]
        if any(t.control == wanted for t in open_timers):
            return
        for timer in open_timers:
            self.task.cancel_timer(timer.timer_id)
        seconds = min(MAX_TIMER, max(1, math.ceil((wake - self.now).total_seconds())))
        number = len(self.history.filter("TimerStarted")) + 1
        self.task.start_timer(f"wake-{number}", seconds, control=wanted)


# -- the operations (flowser schedule ...) ---------------------------------------------------------
class ScheduleError(Error):
    """A schedule that does not exist, or one that exists already."""


def register(conn: Any, domain: str) -> None:
    """Register the ``flowser.Schedule`` workflow type in ``domain`` (nothing if it is registered)."""
    from .domain import Domain

    named = type("Domain", (Domain,), {"name": domain})
    Schedule(named(conn))._register()


def create(
    conn: Any,
    domain: str,
    name: str,
    *,
    spec: Spec,
    action: Action,
    policy: Policy | None = None,
    paused: bool = False,
    note: str = "",
    continue_every: int = 100,
) -> dict[str, str]:
    """Start schedule ``name`` (registers ``flowser.Schedule`` first); ``{"workflowId", "runId"}``.

    Raises ``ScheduleError`` if a schedule of that name is running.
    """
    if action.input is not None and len(action.input) > MAX_INPUT:
        raise ValueError(
            f"the runs' input has {len(action.input):,} characters; a schedule takes at most {MAX_INPUT:,} "
            "(it carries the input in its own state, which SWF limits to 32,768)"
        )
    register(conn, domain)
    state = ScheduleState(
        name=name,
        spec=spec,
        action=action,
        policy=policy or Policy(),
        paused=paused,
        note=note,
        continue_every=continue_every,
    )
    from .domain import Domain

    named = type("Domain", (Domain,), {"name": domain})
    try:
        answer = Schedule(named(conn))._start(state)
    except Exception as exc:
        if ops.fault_code(exc) == "WorkflowExecutionAlreadyStartedFault":
            raise ScheduleError(f"schedule {name!r} exists already in domain {domain!r}") from None
        raise
    return {"workflowId": workflow_id(name), "runId": str(answer["runId"])}


def action_for(
    workflow: type[Workflow], input: Any = None, *, workflow_id_prefix: str | None = None, **overrides: Any
) -> Action:
    """An :class:`Action` for a ``types.Workflow`` class (its codec encodes ``input``; its settings apply)."""
    settings = workflow._run_settings(**overrides)
    return Action(
        workflow_type=workflow.type_dict(),
        input=None if input is None else workflow.encode_input(input),
        workflow_id_prefix=workflow_id_prefix or str(workflow.name),
        task_list=settings["taskList"]["name"],
        execution_timeout=settings["executionStartToCloseTimeout"],
        task_timeout=settings["taskStartToCloseTimeout"],
        child_policy=settings["childPolicy"],
        tags=list(settings["tagList"] or [])[:4],
        priority=settings["taskPriority"],
    )


def _signal(conn: Any, domain: str, name: str, signal: str, payload: dict[str, Any]) -> None:
    try:
        conn.signal_workflow_execution(
            domain=domain, workflowId=workflow_id(name), signalName=signal, input=serializing.encode(payload)
        )
    except Exception as exc:
        if ops.fault_code(exc) == "UnknownResourceFault":
            raise ScheduleError(f"no running schedule {name!r} in domain {domain!r}") from None
        raise


def pause(conn: Any, domain: str, name: str, note: str = "") -> None:
    """Pause: fires are not taken until unpaused (those missed meanwhile are not caught up)."""
    _signal(conn, domain, name, SIGNAL_PAUSE, {"note": note})


def unpause(conn: Any, domain: str, name: str, note: str = "") -> None:
    _signal(conn, domain, name, SIGNAL_UNPAUSE, {"note": note})


def trigger(conn: Any, domain: str, name: str, overlap: str | None = None) -> None:
    """Start the workflow now (the overlap policy applies: the schedule's, or ``overlap``)."""
    _signal(conn, domain, name, SIGNAL_TRIGGER, {"overlap": _overlap(overlap)})


def backfill(
    conn: Any, domain: str, name: str, start: dt.datetime, end: dt.datetime, overlap: str | None = None
) -> None:
    """Take every fire time of the spec in [start, end] now, in order, with the overlap policy."""
    if utc(end) < utc(start):
        raise ValueError("the backfill's end is before its start")
    _signal(conn, domain, name, SIGNAL_BACKFILL, {"start": iso(start), "end": iso(end), "overlap": _overlap(overlap)})


def _overlap(value: str | None) -> str | None:
    if value is not None and value not in OVERLAP_POLICIES:
        raise ValueError(f"overlap policy {value!r}: one of {', '.join(OVERLAP_POLICIES)}")
    return value


def delete(conn: Any, domain: str, name: str) -> None:
    """Terminate the schedule's run (the runs it started go on)."""
    try:
        conn.terminate_workflow_execution(
            domain=domain, workflowId=workflow_id(name), reason="deleted (flowser schedule delete)", childPolicy="ABANDON"
        )
    except Exception as exc:
        if ops.fault_code(exc) == "UnknownResourceFault":
            raise ScheduleError(f"no running schedule {name!r} in domain {domain!r}") from None
        raise


def _latest_state(conn: Any, domain: str, execution: dict[str, str]) -> tuple[ScheduleState, list[str], str]:
    """The state a run recorded last (else its input), the signals it has not handled yet, its status."""
    pending: list[str] = []
    state: ScheduleState | None = None
    status = "OPEN"
    token = None
    while state is None:
        kwargs: dict[str, Any] = {"domain": domain, "execution": execution, "reverseOrder": True}
        if token:
            kwargs["nextPageToken"] = token
        page = conn.get_workflow_execution_history(**kwargs)
        for event in page.get("events", []):
            kind = event["eventType"]
            attrs = event.get(kind[:1].lower() + kind[1:] + "EventAttributes", {})
            if kind in ("WorkflowExecutionCompleted", "WorkflowExecutionCanceled"):
                status = "COMPLETED" if kind.endswith("Completed") else "CANCELED"
            elif kind.startswith("WorkflowExecution") and kind not in (
                "WorkflowExecutionStarted",
                "WorkflowExecutionSignaled",
                "WorkflowExecutionCancelRequested",
            ):
                status = kind.removeprefix("WorkflowExecution").upper().replace("TIMEDOUT", "TIMED_OUT")
            if kind == "WorkflowExecutionSignaled" and attrs.get("signalName") in SIGNALS:
                pending.append(attrs["signalName"].rsplit(".", 1)[-1])
            elif kind == "MarkerRecorded" and attrs.get("markerName") == MARKER and attrs.get("details"):
                state = ScheduleState.model_validate_json(attrs["details"])
                break
            elif kind == "WorkflowExecutionStarted":
                state = ScheduleState.model_validate_json(attrs["input"])
                break
        token = page.get("nextPageToken")
        if not token:
            break
    if state is None:
        raise ScheduleError(f"run {execution} is not a schedule's")
    pending.reverse()
    return state, pending, status


def describe(conn: Any, domain: str, name: str, *, next_count: int = 5) -> dict[str, Any]:
    """What ``flowser schedule describe`` shows: the spec, the policies, paused or not, the next
    ``next_count`` fire times and the last runs started, each with its status now."""
    try:
        execution = ops.find_run(conn, domain, workflow_id(name))
    except ops.NoSuchExecution:
        raise ScheduleError(f"no schedule {name!r} in domain {domain!r}") from None
    state, pending, status = _latest_state(conn, domain, execution)
    after = state.after or state.created or dt.datetime.now(dt.UTC)
    upcoming = [] if status != "OPEN" else state.spec.next_fires(state.name, after, next_count)
    recent = []
    for record in reversed(state.recent):
        row = record.model_dump(mode="json")
        if record.runId and record.status is None:
            try:
                info = conn.describe_workflow_execution(
                    domain=domain, execution={"workflowId": record.workflowId, "runId": record.runId}
                )["executionInfo"]
                row["status"] = info.get("closeStatus") or info.get("executionStatus")
            except Exception as exc:
                if ops.fault_code(exc) != "UnknownResourceFault":
                    raise
                row["status"] = "UNKNOWN"
        recent.append(row)
    return {
        "name": state.name,
        "workflowId": execution["workflowId"],
        "runId": execution["runId"],
        "status": status,
        "paused": state.paused,
        "note": state.note,
        "spec": state.spec.model_dump(mode="json", exclude_none=True),
        "spec_text": state.spec.describe(),
        "workflowType": state.action.workflow_type,
        "workflow_id_prefix": state.action.workflow_id_prefix,
        "overlap": state.policy.overlap,
        "next": [{"scheduled": iso(nominal), "at": iso(actual)} for nominal, actual in upcoming],
        "recent": recent,
        "running": [r.model_dump(mode="json") for r in state.running],
        "buffered": state.buffered.model_dump(mode="json") if state.buffered else None,
        "backfilling": [b.model_dump(mode="json") for b in state.backfills],
        "counts": state.counts.model_dump(),
        "pending_signals": pending,
    }


def list_schedules(conn: Any, domain: str) -> list[dict[str, Any]]:
    """The running schedules of ``domain`` (open runs of ``flowser.Schedule``), by name."""
    query = ops.ExecutionQuery(status="open", type_name=Schedule.name)
    out = []
    for info in ops.iter_executions(conn, domain, query):
        execution = dict(info["execution"])
        if not execution["workflowId"].startswith(WORKFLOW_ID_PREFIX):
            continue
        state, pending, _ = _latest_state(conn, domain, execution)
        upcoming = state.spec.next_fires(state.name, state.after or info["startTimestamp"], 1)
        last = state.recent[-1] if state.recent else None
        out.append(
            {
                "name": state.name,
                "paused": state.paused,
                "spec_text": state.spec.describe(),
                "workflowType": state.action.workflow_type,
                "overlap": state.policy.overlap,
                "next": iso(upcoming[0][1]) if upcoming and not state.paused else None,
                "last": last.model_dump(mode="json") if last else None,
                "counts": state.counts.model_dump(),
                "pending_signals": pending,
            }
        )
    return sorted(out, key=lambda row: row["name"])
