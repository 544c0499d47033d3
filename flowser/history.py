"""Typed history: a run's events folded into activities, timers, children, signals and markers.

``History(events)`` takes events in any order (raw dicts or ``Event``s) and
keeps them oldest-first. Payloads are decoded lazily, once per event, with the
codec and model of the type they belong to (see :class:`TypedDecoder`); the
raw event dicts are never modified.

    history = task.history                       # in a decider
    op = history.activities["op-1"]
    if op.status == COMPLETED:
        total += op.result                       # decoded (and validated into result_model)
    if history.timers["tick"].status == FIRED: ...
    for signal in history.signals: ...           # .name, .input

Retries (``flowser.retry``): the attempts of an activity or child scheduled
with a retry policy fold into one record under the id the decider gave
(``attempts`` lists each attempt's record; status ``RETRYING`` while a backoff
timer runs); their backoff timers are in ``retry_timers``, not ``timers``.
Re-runs (``flowser.rerun``): a ``flowser.reused`` marker is a COMPLETED
record whose ``reused`` says where its result came from.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from . import serializing
from .events import Event, PayloadDecoder
from .exceptions import EXECUTION_ERRORS, WorkflowExecutionError
from .retry import Attempt, RetryPolicy, attempt_id, summary, unwrap

SCHEDULED = "SCHEDULED"
STARTED = "STARTED"
COMPLETED = "COMPLETED"
FAILED = "FAILED"
TIMED_OUT = "TIMED_OUT"
CANCELED = "CANCELED"
TERMINATED = "TERMINATED"
SCHEDULE_FAILED = "SCHEDULE_FAILED"
INITIATED = "INITIATED"
START_FAILED = "START_FAILED"
FIRED = "FIRED"
CONTINUED_AS_NEW = "CONTINUED_AS_NEW"
RETRYING = "RETRYING"
"""A logical activity or child between a failed attempt and the next (its backoff timer)."""
REUSED_MARKER = "flowser.reused"
"""The marker a re-run records for each result it reuses (``flowser.rerun``)."""

CLOSE_STATUS = {
    "WorkflowExecutionCompleted": COMPLETED,
    "WorkflowExecutionFailed": FAILED,
    "WorkflowExecutionCanceled": CANCELED,
    "WorkflowExecutionTimedOut": TIMED_OUT,
    "WorkflowExecutionTerminated": TERMINATED,
    "WorkflowExecutionContinuedAsNew": CONTINUED_AS_NEW,
}
_ACTIVITY_CLOSE = {
    "ActivityTaskCompleted": COMPLETED,
    "ActivityTaskFailed": FAILED,
    "ActivityTaskTimedOut": TIMED_OUT,
    "ActivityTaskCanceled": CANCELED,
}
_CHILD_CLOSE = {
    "ChildWorkflowExecutionCompleted": COMPLETED,
    "ChildWorkflowExecutionFailed": FAILED,
    "ChildWorkflowExecutionTimedOut": TIMED_OUT,
    "ChildWorkflowExecutionCanceled": CANCELED,
    "ChildWorkflowExecutionTerminated": TERMINATED,
}


class TypeRegistry(Protocol):
    """What the decoder needs of a domain: its codec and its types by name and version."""

    @property
    def codec(self) -> serializing.Codec: ...

    def type_for(self, kind: str, name: str, version: str) -> Any: ...


class TypedDecoder:
    """Decodes each payload with the codec (and model) of the type that owns it.

    Activity inputs, controls and results belong to the activity type;
    workflow and child inputs and results to the workflow type; everything
    else (signals, timer controls, markers) to the domain. Types the domain
    does not list decode with the domain's codec and no model.
    """

    def __init__(
        self,
        domain: TypeRegistry | None = None,
        workflow_type: Mapping[str, Any] | None = None,
        lookup: Callable[[int], Event | None] | None = None,
    ) -> None:
        self.domain = domain
        self.workflow_type = workflow_type
        self.lookup = lookup

    @property
    def codec(self) -> serializing.Codec:
        return getattr(self.domain, "codec", None) or serializing.JSON

    def _type(self, kind: str, ident: Any) -> Any:
        if self.domain is None or not isinstance(ident, Mapping):
            return None
        return self.domain.type_for(kind, ident.get("name", ""), ident.get("version", ""))

    def owner(self, event: Event, field: str) -> tuple[Any, str]:
        """``(type class or None, "input" | "result" | "")`` owning ``field`` of ``event``."""
        kind, attrs = event.type, event.raw_attrs
        if kind in ("WorkflowExecutionStarted", "WorkflowExecutionContinuedAsNew") and field == "input":
            return self._type("workflow", attrs.get("workflowType") or self.workflow_type), "input"
        if kind in ("StartChildWorkflowExecutionInitiated", "StartChildWorkflowExecutionFailed"):
            return self._type("workflow", attrs.get("workflowType")), field if field == "input" else ""
        if kind == "ChildWorkflowExecutionCompleted" and field == "result":
            return self._type("workflow", attrs.get("workflowType")), "result"
        if kind == "WorkflowExecutionCompleted" and field == "result":
            return self._type("workflow", self.workflow_type), "result"
        if kind == "ActivityTaskScheduled":
            return self._type("activity", attrs.get("activityType")), field if field == "input" else ""
        if kind == "ActivityTaskCompleted" and field == "result" and self.lookup is not None:
            scheduled = self.lookup(attrs.get("scheduledEventId", 0))
            if scheduled is not None:
                return self._type("activity", scheduled.raw_attrs.get("activityType")), "result"
        return None, ""

    def decode(self, event: Event, field: str, typed: bool) -> Any:
        cls, role = self.owner(event, field)
        codec = getattr(cls, "codec", None) or self.codec
        model = getattr(cls, f"{role}_model", None) if (typed and cls is not None and role) else None
        return serializing.decode(event.raw_attrs.get(field), codec, model)


@dataclass(eq=False)
class Reused:
    """Where a re-run's reused result came from (the ``flowser.reused`` marker's details)."""

    kind: str
    """``"activity"`` or ``"child"``."""
    id: str
    type: Mapping[str, Any]
    raw_result: str | None
    source: Mapping[str, Any]
    """``{"workflowId", "runId", "eventId"}`` of the event the result was read from."""
    marker: Event | None = None
    """The marker in this run's history (None while the first decision task of a re-run records it)."""
    decode: Callable[[str | None], Any] | None = field(default=None, repr=False)

    @property
    def result(self) -> Any:
        if self.decode is not None:
            return self.decode(self.raw_result)
        return serializing.decode(self.raw_result)


class _Outcome:
    """What the closing event of an activity or a child says (for retried ones: their logical view)."""

    status: str
    closed: Event | None
    attempts: list[Any]
    reused: Reused | None

    @property
    def result(self) -> Any:
        if self.reused is not None:
            return self.reused.result
        return self.closed.result if self.closed is not None and self.status == COMPLETED else None

    @property
    def reason(self) -> str | None:
        """The failure's reason; after several attempts, every attempt's (``attempt 1: FAILED (...); ...``)."""
        if len(self.attempts) > 1 and self.status not in (COMPLETED, RETRYING, SCHEDULED, STARTED, INITIATED):
            return summary(self.attempts)
        return self.closed.get("reason") if self.closed else None

    @property
    def attempt(self) -> int:
        """The current (or last) attempt's number: 1 unless retried."""
        return max(len(self.attempts), 1)

    @property
    def attempt_reasons(self) -> list[str | None]:
        """Each closed attempt's reason (or timeout type), in order."""
        out: list[str | None] = []
        for record in self.attempts:
            if record.closed is not None and record.status != COMPLETED:
                out.append(record.closed.get("reason") or record.closed.get("timeoutType") or record.status)
        return out

    def _inner_control(self, event: Event | None) -> Any:
        if event is None:
            return None
        state = unwrap(event.raw_attrs.get("control"))
        if state is None:
            return event.control
        if state.control is None:
            return None
        decoder = getattr(event, "_decoder", None)
        cls = decoder.owner(event, "control")[0] if isinstance(decoder, TypedDecoder) else None
        codec = getattr(cls, "codec", None) or getattr(decoder, "codec", None) or serializing.JSON
        return serializing.decode(state.control, codec)

    @property
    def details(self) -> str | None:
        return self.closed.get("details") if self.closed else None


@dataclass(eq=False)
class ActivityRecord(_Outcome):
    """One scheduling of an activity (ids can be reused once closed: the latest wins)."""

    activity_id: str
    status: str
    scheduled: Event | None = None
    started: Event | None = None
    closed: Event | None = None
    cancel_requested: Event | None = None
    failed_to_schedule: Event | None = None
    attempts: list[ActivityRecord] = field(default_factory=list)
    """With a retry policy: every attempt's record, in order (else empty)."""
    retry_policy: RetryPolicy | None = None
    retry_pending: str | None = None
    """While RETRYING: ``"timer"`` (the backoff timer is to start) or ``"schedule"`` (the next attempt is due)."""
    reused: Reused | None = None
    """Set when a re-run reused this result from an earlier run."""

    @property
    def activity_type(self) -> Mapping[str, Any]:
        if self.reused is not None:
            return self.reused.type
        source = self.scheduled or self.failed_to_schedule
        return source.raw_attrs.get("activityType", {}) if source else {}

    @property
    def retry(self) -> Attempt | None:
        """The retry state this scheduling's control carries (None without a policy)."""
        return unwrap(self.scheduled.raw_attrs.get("control")) if self.scheduled else None

    @property
    def is_open(self) -> bool:
        return self.status in (SCHEDULED, STARTED, RETRYING)

    @property
    def input(self) -> Any:
        return self.scheduled.input if self.scheduled else None

    @property
    def control(self) -> Any:
        return self._inner_control(self.scheduled)

    @property
    def timeout_type(self) -> str | None:
        return self.closed.get("timeoutType") if self.closed else None

    @property
    def cause(self) -> str | None:
        return self.failed_to_schedule.get("cause") if self.failed_to_schedule else None


@dataclass(eq=False)
class TimerRecord:
    timer_id: str
    status: str
    started: Event | None = None
    closed: Event | None = None
    failed_to_start: Event | None = None

    @property
    def is_open(self) -> bool:
        return self.status == STARTED

    @property
    def control(self) -> Any:
        return self.started.control if self.started else None

    @property
    def cause(self) -> str | None:
        return self.failed_to_start.get("cause") if self.failed_to_start else None


@dataclass(eq=False)
class ChildRecord(_Outcome):
    workflow_id: str
    status: str
    initiated: Event | None = None
    started: Event | None = None
    closed: Event | None = None
    failed_to_start: Event | None = None
    attempts: list[ChildRecord] = field(default_factory=list)
    """With a retry policy: every attempt's record, in order (else empty)."""
    retry_policy: RetryPolicy | None = None
    retry_pending: str | None = None
    reused: Reused | None = None
    """Set when a re-run reused this child's result from an earlier run."""

    @property
    def is_open(self) -> bool:
        return self.status in (INITIATED, STARTED, RETRYING)

    @property
    def retry(self) -> Attempt | None:
        return unwrap(self.initiated.raw_attrs.get("control")) if self.initiated else None

    @property
    def timeout_type(self) -> str | None:
        return self.closed.get("timeoutType") if self.closed else None

    @property
    def run_id(self) -> str | None:
        source = self.started or self.closed
        return source.raw_attrs.get("workflowExecution", {}).get("runId") if source else None

    @property
    def workflow_type(self) -> Mapping[str, Any]:
        if self.reused is not None:
            return self.reused.type
        source = self.initiated or self.failed_to_start
        return source.raw_attrs.get("workflowType", {}) if source else {}

    @property
    def input(self) -> Any:
        return self.initiated.input if self.initiated else None

    @property
    def control(self) -> Any:
        return self._inner_control(self.initiated)

    @property
    def cause(self) -> str | None:
        return self.failed_to_start.get("cause") if self.failed_to_start else None


@dataclass(eq=False)
class SignalRecord:
    name: str
    event: Event

    @property
    def input(self) -> Any:
        return self.event.input

    @property
    def external_execution(self) -> Mapping[str, Any] | None:
        return self.event.get("externalWorkflowExecution")


@dataclass(eq=False)
class MarkerRecord:
    name: str
    event: Event

    @property
    def details(self) -> str | None:
        return self.event.get("details")


def _record_id(record: Any) -> str:
    return str(record.activity_id if isinstance(record, ActivityRecord) else record.workflow_id)


@dataclass(eq=False)
class History:
    """A run's events, oldest first, with typed views. Build with ``History.of(events)``."""

    events: list[Event]
    activities: dict[str, ActivityRecord] = field(default_factory=dict)
    timers: dict[str, TimerRecord] = field(default_factory=dict)
    children: dict[str, ChildRecord] = field(default_factory=dict)
    signals: list[SignalRecord] = field(default_factory=list)
    markers: list[MarkerRecord] = field(default_factory=list)
    started: Event | None = None
    closed: Event | None = None
    cancel_requests: list[Event] = field(default_factory=list)
    retry_timers: dict[str, TimerRecord] = field(default_factory=dict)
    """The backoff timers of retries (timerId = the next attempt's id), kept out of ``timers``."""
    reused: list[ActivityRecord | ChildRecord] = field(default_factory=list)
    """The results a re-run reused (its ``flowser.reused`` markers), in order."""

    @classmethod
    def of(cls, events: Iterable[Event | Mapping[str, Any]], decoder: PayloadDecoder | None = None) -> History:
        """Fold ``events`` (any order). Raw dicts are wrapped with ``decoder``."""
        wrapped = [e if isinstance(e, Event) else Event(e, decoder) for e in events]
        wrapped.sort(key=lambda e: e.id)
        by_id = {e.id: e for e in wrapped}
        if isinstance(decoder, TypedDecoder) and decoder.lookup is None:
            decoder.lookup = by_id.get
        history = cls(wrapped)
        history._by_id = by_id
        history._decoder = decoder
        for event in wrapped:
            history._apply(event)
        history._fold_retries(history.activities, history._activity_by_sched, "scheduled", "failed_to_schedule", SCHEDULE_FAILED)
        history._fold_retries(history.children, history._child_by_init, "initiated", "failed_to_start", START_FAILED)
        return history

    _decoder: PayloadDecoder | None = field(default=None, repr=False)
    _by_id: dict[int, Event] = field(default_factory=dict, repr=False)
    _activity_by_sched: dict[int, ActivityRecord] = field(default_factory=dict, repr=False)
    _timer_by_start: dict[int, TimerRecord] = field(default_factory=dict, repr=False)
    _child_by_init: dict[int, ChildRecord] = field(default_factory=dict, repr=False)

    def _apply(self, ev: Event) -> None:
        t = ev.type
        if t == "WorkflowExecutionStarted" and self.started is None:
            self.started = ev
        elif t in CLOSE_STATUS:
            self.closed = ev
        elif t == "WorkflowExecutionCancelRequested":
            self.cancel_requests.append(ev)
        elif t == "ActivityTaskScheduled":
            record = ActivityRecord(ev.get("activityId"), SCHEDULED, scheduled=ev)
            self.activities[record.activity_id] = self._activity_by_sched[ev.id] = record
        elif t == "ScheduleActivityTaskFailed":
            current = self.activities.get(ev.get("activityId"))
            if current is None or not current.is_open:
                self.activities[ev.get("activityId")] = ActivityRecord(
                    ev.get("activityId"), SCHEDULE_FAILED, failed_to_schedule=ev
                )
        elif t == "ActivityTaskStarted":
            if (activity := self._activity_by_sched.get(ev.get("scheduledEventId"))) is not None:
                activity.started, activity.status = ev, STARTED
        elif t in _ACTIVITY_CLOSE:
            if (activity := self._activity_by_sched.get(ev.get("scheduledEventId"))) is not None:
                activity.closed, activity.status = ev, _ACTIVITY_CLOSE[t]
        elif t == "ActivityTaskCancelRequested":
            activity = self.activities.get(ev.get("activityId"))
            if activity is not None and activity.is_open:
                activity.cancel_requested = ev
        elif t == "TimerStarted":
            new_timer = TimerRecord(ev.get("timerId"), STARTED, started=ev)
            timers = self.retry_timers if unwrap(ev.get("control")) is not None else self.timers
            timers[new_timer.timer_id] = self._timer_by_start[ev.id] = new_timer
        elif t in ("TimerFired", "TimerCanceled", "TimerCancelled"):  # moto spells it TimerCancelled
            if (timer := self._timer_by_start.get(ev.get("startedEventId"))) is not None:
                timer.closed, timer.status = ev, FIRED if t == "TimerFired" else CANCELED
        elif t == "StartTimerFailed":
            open_timer = self.timers.get(ev.get("timerId"))
            if open_timer is None or not open_timer.is_open:
                self.timers[ev.get("timerId")] = TimerRecord(ev.get("timerId"), START_FAILED, failed_to_start=ev)
        elif t == "StartChildWorkflowExecutionInitiated":
            child = ChildRecord(ev.get("workflowId"), INITIATED, initiated=ev)
            self.children[child.workflow_id] = self._child_by_init[ev.id] = child
        elif t == "StartChildWorkflowExecutionFailed":
            child_or_none = self._child_by_init.get(ev.get("initiatedEventId"))
            if child_or_none is None:
                child_or_none = ChildRecord(ev.get("workflowId"), START_FAILED)
                self.children[child_or_none.workflow_id] = child_or_none
            child_or_none.failed_to_start, child_or_none.status = ev, START_FAILED
        elif t == "ChildWorkflowExecutionStarted":
            if (child_ := self._child_by_init.get(ev.get("initiatedEventId"))) is not None:
                child_.started, child_.status = ev, STARTED
        elif t in _CHILD_CLOSE:
            if (child_ := self._child_by_init.get(ev.get("initiatedEventId"))) is not None:
                child_.closed, child_.status = ev, _CHILD_CLOSE[t]
        elif t == "WorkflowExecutionSignaled":
            self.signals.append(SignalRecord(ev.get("signalName"), ev))
        elif t == "MarkerRecorded":
            self.markers.append(MarkerRecord(ev.get("markerName"), ev))
            if ev.get("markerName") == REUSED_MARKER:
                self._reused_marker(ev)

    # -- re-runs ---------------------------------------------------------------------------
    def _reused_marker(self, ev: Event) -> None:
        try:
            data = serializing.decode(ev.get("details"))
            self.reuse(data["kind"], data["id"], data.get("type") or {}, data.get("result"), data.get("source") or {}, ev)
        except (KeyError, TypeError, ValueError):
            return  # not a marker this version wrote

    def _decode_result(self, kind: str, type_dict: Mapping[str, Any]) -> Callable[[str | None], Any]:
        decoder = self._decoder
        cls = decoder._type("activity" if kind == "activity" else "workflow", type_dict) if isinstance(decoder, TypedDecoder) else None
        codec = getattr(cls, "codec", None) or getattr(decoder, "codec", None) or serializing.JSON
        model = getattr(cls, "result_model", None)
        return lambda raw: serializing.decode(raw, codec, model)

    def reuse(
        self,
        kind: str,
        id: str,
        type_dict: Mapping[str, Any],
        raw_result: str | None,
        source: Mapping[str, Any],
        marker: Event | None = None,
    ) -> ActivityRecord | ChildRecord:
        """Record ``id`` as COMPLETED with a result reused from another run (what a ``flowser.reused`` marker says)."""
        reused = Reused(kind, id, dict(type_dict), raw_result, dict(source), marker, self._decode_result(kind, type_dict))
        record: ActivityRecord | ChildRecord
        if kind == "activity":
            record = self.activities[id] = ActivityRecord(id, COMPLETED, reused=reused)
        else:
            record = self.children[id] = ChildRecord(id, COMPLETED, reused=reused)
        self.reused.append(record)
        return record

    # -- retries ---------------------------------------------------------------------------
    def _fold_retries(self, records: dict[str, Any], by_open: dict[int, Any], opened: str, open_failed: str, failed_status: str) -> None:
        """Fold the attempts of retried activities (or children) into one record per logical id."""
        series: dict[str, list[Any]] = {}
        earlier: list[Any] = []  # attempts of a series the decider started again (attempt 1 once more)
        for open_id in sorted(by_open):
            record = by_open[open_id]
            state = record.retry
            if state is None:
                continue
            if state.attempt <= 1 or state.logical_id not in series:
                earlier.extend(series.get(state.logical_id, []))
                series[state.logical_id] = [record]
            else:
                series[state.logical_id].append(record)
        for record in earlier + [r for attempts in series.values() for r in attempts]:
            record_id = _record_id(record)
            logical_id = record.retry.logical_id
            if record_id != logical_id and records.get(record_id) is record:
                del records[record_id]
        for logical_id, attempts in series.items():
            current = records.get(logical_id)
            if current is not None and current is not attempts[0] and current not in attempts:
                newest = getattr(current, opened) or getattr(current, open_failed) or getattr(current.reused, "marker", None)
                if newest is None or newest.id > getattr(attempts[0], opened).id:
                    continue  # the id was used again since, without this policy
            last = attempts[-1]
            state = last.retry
            logical = type(last)(logical_id, last.status)
            for name in (opened, "started", "closed", "cancel_requested"):
                if hasattr(last, name):
                    setattr(logical, name, getattr(last, name))
            logical.attempts = list(attempts)
            logical.retry_policy = state.policy
            if last.status in (FAILED, TIMED_OUT) and state.policy is not None:
                reason = last.closed.get("reason") if last.closed else None
                if state.policy.allows(len(attempts), last.status, reason, last.timeout_type):
                    next_id = attempt_id(logical_id, len(attempts) + 1)
                    since = last.closed.id if last.closed is not None else 0
                    refused = records.get(next_id)
                    timer = self.retry_timers.get(next_id)
                    if timer is not None and timer.started is not None and timer.started.id < since:
                        timer = None  # an earlier series' timer
                    failure = getattr(refused, open_failed, None) if refused is not None else None
                    if refused is not None and refused.status == failed_status and failure is not None and failure.id > since:
                        del records[next_id]
                        logical.status = failed_status
                        setattr(logical, open_failed, getattr(refused, open_failed))
                    elif timer is None:
                        logical.status, logical.retry_pending = RETRYING, "timer"
                    elif timer.status == FIRED:
                        logical.status, logical.retry_pending = RETRYING, "schedule"
                    elif timer.status == STARTED:
                        logical.status = RETRYING
                    elif timer.status == CANCELED:  # the decider canceled it during the backoff
                        logical.status = CANCELED
            records[logical_id] = logical

    # -- the run -------------------------------------------------------------------------
    def __iter__(self) -> Iterator[Event]:
        return iter(self.events)

    def __len__(self) -> int:
        return len(self.events)

    def __getitem__(self, event_id: int) -> Event:
        """The event with this id."""
        return self._by_id[event_id]

    @property
    def start_input(self) -> Any:
        return self.started.input if self.started else None

    @property
    def cancel_requested(self) -> bool:
        return bool(self.cancel_requests)

    @property
    def close_status(self) -> str | None:
        return CLOSE_STATUS[self.closed.type] if self.closed else None

    @property
    def result(self) -> Any:
        """The run's decoded result, once it completed."""
        return self.closed.result if self.closed is not None and self.closed.type == "WorkflowExecutionCompleted" else None

    @property
    def close_reason(self) -> str | None:
        """The reason the run closed with (FAILED, TERMINATED), else None."""
        return self.closed.get("reason") if self.closed is not None else None

    @property
    def close_details(self) -> Any:
        """The details the run closed with (FAILED, CANCELED, TERMINATED), decoded leniently with the domain's codec."""
        return self.closed.payload("details", typed=False) if self.closed is not None else None

    @property
    def new_run_id(self) -> str | None:
        """The runId this run continued as (CONTINUED_AS_NEW), else None."""
        return self.closed.get("newExecutionRunId") if self.closed is not None else None

    def close_error(
        self, workflow_id: str = "", run_id: str | None = None, note: str | None = None
    ) -> WorkflowExecutionError | None:
        """The ``exceptions.WorkflowExecutionError`` that says how the run closed; None if open or COMPLETED."""
        status = self.close_status
        if self.closed is None or status not in EXECUTION_ERRORS:
            return None
        return EXECUTION_ERRORS[status](
            workflow_id,
            run_id,
            reason=self.close_reason,
            details=self.close_details,
            raw_details=self.closed.get("details"),
            timeout_type=self.closed.get("timeoutType"),
            cause=self.closed.get("cause"),
            new_run_id=self.new_run_id,
            history=self,
            note=note,
        )

    def filter(self, event_type: str) -> list[Event]:
        return [e for e in self.events if e.type == event_type]

    def since(self, event_id: int) -> list[Event]:
        """Events after ``event_id`` (e.g. a decision task's ``previous_started_event_id``)."""
        return [e for e in self.events if e.id > event_id]

    def open_activities(self) -> list[ActivityRecord]:
        return [a for a in self.activities.values() if a.is_open]

    def signals_named(self, name: str) -> list[SignalRecord]:
        return [s for s in self.signals if s.name == name]
