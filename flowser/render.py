"""A run's history as people read it: one line per event, or one record per activity, timer, child...

Pure functions over raw history events (boto3's shape: ``eventId``,
``eventType``, ``eventTimestamp`` and ``<eventType>EventAttributes``); no
client, no terminal. The CLI (``flowser executions history``) and the
dashboard turn the results into text, tables or JSON.

* :func:`event_line` -- one event: its id, its time (``+1.234s`` from the run's
  start, or ISO 8601), its type and the few attributes that matter for that
  type, payloads decoded (JSON shown compactly, long values cut with ``…``),
  and an outcome (``failed``, ``completed``...) with its colour;
* :func:`grouped` -- one :class:`Group` per activity attempt, timer, child,
  signal, marker, Lambda function and external signal or cancellation, the
  decision tasks in one summary, and the run's own record first: each with
  its outcome, start offset and duration (scheduled to closed).

Payloads are decoded with ``decode`` (``json_payload`` by default: JSON,
leniently -- text that is not JSON stays text); give ``msgpack_payload`` or
any ``str -> object`` for a domain whose codec is not JSON.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import serializing
from .events import raw_attrs
from .retry import unwrap

__all__ = [
    "CLOSE_EVENTS",
    "OUTCOME_STYLES",
    "EventLine",
    "Group",
    "RunContext",
    "duration_text",
    "event_line",
    "event_outcome",
    "fit_fields",
    "grouped",
    "json_payload",
    "msgpack_payload",
    "offset_text",
    "status_style",
    "timestamp",
    "truncate",
    "type_text",
]

Decode = Callable[[str], Any]

CLOSE_EVENTS = {
    "WorkflowExecutionCompleted": "COMPLETED",
    "WorkflowExecutionFailed": "FAILED",
    "WorkflowExecutionCanceled": "CANCELED",
    "WorkflowExecutionTimedOut": "TIMED_OUT",
    "WorkflowExecutionTerminated": "TERMINATED",
    "WorkflowExecutionContinuedAsNew": "CONTINUED_AS_NEW",
}
"""The events that close a run, and the close status each gives it."""

OUTCOME_STYLES = {
    "failed": "red",
    "timed_out": "red",
    "terminated": "magenta",
    "completed": "green",
    "canceled": "yellow",
    "cancel_requested": "yellow",
    "continued": "cyan",
    "signal": "bold blue",
    "marker": "blue",
    "timer": "",
    "decision": "dim",
    "": "",
}
"""A rich style for each outcome :func:`event_outcome` gives (the close statuses as ``executions list`` colours them)."""

_STATUS_STYLES = {
    "COMPLETED": "green",
    "FIRED": "green",
    "SIGNALED": "green",
    "REQUESTED": "yellow",
    "RECORDED": "blue",
    "RECEIVED": "bold blue",
    "FAILED": "red",
    "START_FAILED": "red",
    "SCHEDULE_FAILED": "red",
    "TIMED_OUT": "red",
    "TERMINATED": "magenta",
    "CANCELED": "yellow",
    "CONTINUED_AS_NEW": "cyan",
    "OPEN": "bold",
    "STARTED": "bold",
    "SCHEDULED": "bold",
    "INITIATED": "bold",
}


def status_style(status: str) -> str:
    """A rich style for a status (``COMPLETED`` green, ``FAILED`` red...)."""
    return _STATUS_STYLES.get(status.split(" ", 1)[0], "")


# -- values ---------------------------------------------------------------------------------
def json_payload(text: str) -> Any:
    """A payload decoded as JSON; text that is not JSON stays text."""
    return serializing.decode(text, serializing.JSON)


def msgpack_payload(text: str) -> Any:
    """A payload decoded as flowser's base64 msgpack; text that is not stays text."""
    return serializing.decode(text, serializing.MSGPACK)


def truncate(text: str, width: int | None) -> str:
    """``text`` on one line, at most ``width`` characters (cut with ``…``)."""
    flat = " ".join(text.split()) if ("\n" in text or "\r" in text or "\t" in text) else text
    if width is None or len(flat) <= width:
        return flat
    return flat[: max(width - 1, 0)] + "…"


def fit_fields(fields: list[tuple[str, str]], width: int | None, least: int = 8) -> list[tuple[str, str]]:
    """``name=value`` pairs (two spaces apart) fitted to ``width``: the longest values are cut first
    (with ``…``, to no less than ``least`` characters), so that short ones (ids, names) stay whole."""
    if width is None:
        return list(fields)
    out = list(fields)

    def total() -> int:
        return sum(len(k) + bool(k) + len(v) for k, v in out) + 2 * max(len(out) - 1, 0)

    while (excess := total() - width) > 0:
        longest = max(range(len(out)), key=lambda i: len(out[i][1]), default=None)
        if longest is None or len(out[longest][1]) <= least:
            break
        name, value = out[longest]
        out[longest] = (name, truncate(value, max(least, len(value) - excess)))
    return out


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def _text(value: str) -> str:
    """Plain text (a reason, a cause): bare when it is one word, else quoted."""
    return value if value and not any(c.isspace() or c in "\"'=" for c in value) else json.dumps(value, ensure_ascii=False)


def _payload(value: str | None, decode: Decode) -> str:
    if value is None:
        return ""
    if value == "":
        return '""'
    decoded = decode(value)
    if isinstance(decoded, str):
        return _text(decoded)
    return _compact(decoded)


def timestamp(value: Any) -> dt.datetime | None:
    """An event timestamp (datetime, epoch seconds or ISO 8601) as an aware UTC datetime."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).astimezone(dt.UTC)
    if isinstance(value, int | float):
        return dt.datetime.fromtimestamp(value, dt.UTC)
    parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)).astimezone(dt.UTC)


def iso(value: Any) -> str:
    """A timestamp as UTC ISO 8601 with milliseconds (``2024-05-01T12:00:00.123Z``); ``-`` if none."""
    when = timestamp(value)
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z") if when else "-"


def offset_text(seconds: float | None) -> str:
    """An offset from the run's start: ``+0.012s``, ``+1.234s``, ``+3m04.5s``, ``+2h05m03s``, ``+3d04h05m``."""
    if seconds is None:
        return "-"
    sign = "-" if seconds < 0 else "+"
    seconds = abs(seconds)
    if seconds < 60:
        return f"{sign}{seconds:.3f}s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{sign}{int(minutes)}m{secs:04.1f}s"
    hours, minutes = divmod(int(minutes), 60)
    if hours < 24:
        return f"{sign}{hours}h{minutes:02d}m{int(secs):02d}s"
    days, hours = divmod(hours, 24)
    return f"{sign}{days}d{hours:02d}h{minutes:02d}m"


def duration_text(seconds: float | None, decimals: int = 2) -> str:
    """A duration: ``12ms``, ``1.23s`` (``decimals`` places), ``3m04s``, ``2h05m``, ``3d04h``; ``-`` if none."""
    if seconds is None:
        return "-"
    seconds = max(seconds, 0.0)
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.{decimals}f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h{minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours:02d}h"


def type_text(value: Any) -> str:
    if isinstance(value, Mapping) and value.get("name"):
        return f"{value['name']}:{value.get('version', '?')}"
    return ""


def _seconds_text(value: Any) -> str:
    return f"{value}s" if isinstance(value, str) and value.isdigit() else str(value or "")


# -- the context a line needs -----------------------------------------------------------------
@dataclass
class RunContext:
    """What lines of one run need from its earlier events: the run's start and events by id.

    :func:`event_line` adds each event it renders, so a stream (``--follow``)
    keeps one context per run.
    """

    start: dt.datetime | None = None
    by_id: dict[int, Mapping[str, Any]] = field(default_factory=dict)

    @classmethod
    def of(cls, events: Iterable[Mapping[str, Any]]) -> RunContext:
        context = cls()
        for event in events:
            context.add(event)
        return context

    def add(self, event: Mapping[str, Any]) -> None:
        self.by_id[event["eventId"]] = event
        if self.start is None or event.get("eventType") == "WorkflowExecutionStarted":
            self.start = timestamp(event.get("eventTimestamp")) or self.start  # the first seen, until the start

    def attrs_of(self, event_id: Any) -> Mapping[str, Any]:
        event = self.by_id.get(event_id) if isinstance(event_id, int) else None
        return raw_attrs(event) if event is not None else {}

    def offset(self, value: Any) -> float | None:
        when = timestamp(value)
        if when is None or self.start is None:
            return None
        return (when - self.start).total_seconds()


# -- one event, one line ----------------------------------------------------------------------
@dataclass
class EventLine:
    """One event as a line: ``fields`` are (name, text) pairs, already decoded and cut to width."""

    event_id: int
    time: str
    event_type: str
    fields: list[tuple[str, str]]
    outcome: str

    @property
    def style(self) -> str:
        return OUTCOME_STYLES.get(self.outcome, "")

    @property
    def details(self) -> str:
        return "  ".join(f"{name}={value}" if name else value for name, value in self.fields)

    @property
    def plain(self) -> str:
        return f"{self.event_id:>4}  {self.time:>10}  {self.event_type:<32}  {self.details}".rstrip()

    def to_dict(self) -> dict[str, Any]:
        return {
            "eventId": self.event_id,
            "time": self.time,
            "eventType": self.event_type,
            "fields": dict(self.fields),
            "outcome": self.outcome,
        }


def event_outcome(event_type: str) -> str:
    """``failed``, ``timed_out``, ``completed``, ``canceled``, ``signal``... (a key of OUTCOME_STYLES)."""
    if event_type.startswith("DecisionTask"):
        return "timed_out" if event_type.endswith("TimedOut") else "decision"
    if event_type.endswith("Failed"):
        return "failed"
    if event_type.endswith("TimedOut"):
        return "timed_out"
    if event_type.endswith("Terminated"):
        return "terminated"
    if event_type.endswith(("Completed", "Fired")) or event_type == "ExternalWorkflowExecutionSignaled":
        return "completed"
    if event_type.endswith(("Canceled", "Cancelled")):
        return "canceled"
    if "CancelRequested" in event_type or event_type.startswith("RequestCancel"):
        return "cancel_requested"
    if event_type == "WorkflowExecutionContinuedAsNew":
        return "continued"
    if "Signal" in event_type:
        return "signal"
    if event_type == "MarkerRecorded":
        return "marker"
    if event_type.startswith("Timer"):
        return "timer"
    return ""


# Per event type, the attributes shown, in order. Each is an attribute name, or one of
#   "type:<attr>"     a workflowType/activityType as NAME:VERSION
#   "payload:<attr>"  a payload, decoded
#   "text:<attr>"     plain text (reason, cause), quoted when it has spaces
#   "secs:<attr>"     a duration in seconds
#   "wf:<attr>"       a workflowExecution's workflowId (and runId, as runId=)
#   "activity"        the activityId of the ActivityTaskScheduled event this one refers to
#   "lambda"          the id of the LambdaFunctionScheduled event this one refers to
#   "child"           the child's workflowId (from the event's workflowExecution)
_FIELDS: dict[str, tuple[str, ...]] = {
    "WorkflowExecutionStarted": (
        "type:workflowType",
        "taskList",
        "wf:parentWorkflowExecution",
        "continuedExecutionRunId",
        "tagList",
        "payload:input",
    ),
    "WorkflowExecutionCompleted": ("payload:result",),
    "WorkflowExecutionFailed": ("text:reason", "payload:details"),
    "WorkflowExecutionTimedOut": ("timeoutType",),
    "WorkflowExecutionCanceled": ("payload:details",),
    "WorkflowExecutionTerminated": ("text:reason", "payload:details", "text:cause"),
    "WorkflowExecutionContinuedAsNew": ("newExecutionRunId", "type:workflowType", "payload:input"),
    "WorkflowExecutionCancelRequested": ("text:cause", "wf:externalWorkflowExecution"),
    "CompleteWorkflowExecutionFailed": ("text:cause",),
    "FailWorkflowExecutionFailed": ("text:cause",),
    "CancelWorkflowExecutionFailed": ("text:cause",),
    "ContinueAsNewWorkflowExecutionFailed": ("text:cause",),
    "DecisionTaskScheduled": (),
    "DecisionTaskStarted": ("identity",),
    "DecisionTaskCompleted": ("payload:executionContext",),
    "DecisionTaskTimedOut": ("timeoutType",),
    "ActivityTaskScheduled": ("activityId", "type:activityType", "taskList", "payload:input"),
    "ActivityTaskStarted": ("activity", "identity"),
    "ActivityTaskCompleted": ("activity", "payload:result"),
    "ActivityTaskFailed": ("activity", "text:reason", "payload:details"),
    "ActivityTaskTimedOut": ("activity", "timeoutType", "payload:details"),
    "ActivityTaskCanceled": ("activity", "payload:details"),
    "ActivityTaskCancelRequested": ("activityId",),
    "ScheduleActivityTaskFailed": ("activityId", "type:activityType", "text:cause"),
    "RequestCancelActivityTaskFailed": ("activityId", "text:cause"),
    "WorkflowExecutionSignaled": ("signalName", "payload:input", "wf:externalWorkflowExecution"),
    "MarkerRecorded": ("markerName", "payload:details"),
    "RecordMarkerFailed": ("markerName", "text:cause"),
    "TimerStarted": ("timerId", "secs:startToFireTimeout", "payload:control"),
    "TimerFired": ("timerId",),
    "TimerCanceled": ("timerId",),
    "TimerCancelled": ("timerId",),  # moto's spelling
    "StartTimerFailed": ("timerId", "text:cause"),
    "CancelTimerFailed": ("timerId", "text:cause"),
    "StartChildWorkflowExecutionInitiated": ("workflowId", "type:workflowType", "payload:input"),
    "StartChildWorkflowExecutionFailed": ("workflowId", "type:workflowType", "text:cause"),
    "ChildWorkflowExecutionStarted": ("wf:workflowExecution",),
    "ChildWorkflowExecutionCompleted": ("child", "payload:result"),
    "ChildWorkflowExecutionFailed": ("child", "text:reason", "payload:details"),
    "ChildWorkflowExecutionTimedOut": ("child", "timeoutType"),
    "ChildWorkflowExecutionCanceled": ("child", "payload:details"),
    "ChildWorkflowExecutionTerminated": ("child",),
    "SignalExternalWorkflowExecutionInitiated": ("workflowId", "runId", "signalName", "payload:input"),
    "SignalExternalWorkflowExecutionFailed": ("workflowId", "runId", "text:cause"),
    "ExternalWorkflowExecutionSignaled": ("wf:workflowExecution",),
    "RequestCancelExternalWorkflowExecutionInitiated": ("workflowId", "runId"),
    "RequestCancelExternalWorkflowExecutionFailed": ("workflowId", "runId", "text:cause"),
    "ExternalWorkflowExecutionCancelRequested": ("wf:workflowExecution",),
    "LambdaFunctionScheduled": ("id", "name", "payload:input"),
    "LambdaFunctionStarted": ("lambda",),
    "LambdaFunctionCompleted": ("lambda", "payload:result"),
    "LambdaFunctionFailed": ("lambda", "text:reason", "payload:details"),
    "LambdaFunctionTimedOut": ("lambda", "timeoutType"),
    "ScheduleLambdaFunctionFailed": ("id", "name", "text:cause"),
    "StartLambdaFunctionFailed": ("lambda", "text:cause", "text:message"),
}


def _field(spec: str, attrs: Mapping[str, Any], context: RunContext, decode: Decode) -> list[tuple[str, str]]:
    kind, _, name = spec.partition(":")
    if not name:
        kind, name = "", spec
    if kind == "" and name == "activity":
        return [("activityId", str(context.attrs_of(attrs.get("scheduledEventId")).get("activityId", "?")))]
    if kind == "" and name == "lambda":
        return [("id", str(context.attrs_of(attrs.get("scheduledEventId")).get("id", "?")))]
    if kind == "" and name == "child":
        return [("workflowId", str((attrs.get("workflowExecution") or {}).get("workflowId", "?")))]
    if name not in attrs:
        return []
    value = attrs[name]
    if kind == "type":
        return [("type", type_text(value))]
    if kind == "payload":
        return [(name, _payload(value, decode))]
    if kind == "text":
        return [(name, _text(str(value)))]
    if kind == "secs":
        return [(name, _seconds_text(value))]
    if kind == "wf":
        execution = value if isinstance(value, Mapping) else {}
        label = {"parentWorkflowExecution": "parent", "externalWorkflowExecution": "from"}.get(name, "workflowId")
        out = [(label, str(execution.get("workflowId", "?")))]
        if name == "workflowExecution" and execution.get("runId"):
            out.append(("runId", str(execution["runId"])))
        return out
    if isinstance(value, Mapping) and set(value) == {"name"}:  # a taskList
        return [(name, str(value["name"]))]
    if isinstance(value, list):
        return [(name, ",".join(map(str, value)))] if value else []
    return [(name, _text(str(value)) if isinstance(value, str) else _compact(value))]


def event_line(
    event: Mapping[str, Any],
    context: RunContext | None = None,
    *,
    time_format: str = "relative",
    width: int | None = 80,
    decode: Decode = json_payload,
) -> EventLine:
    """One event as a line (see the module docstring).

    ``context`` holds the run's earlier events (the activityId of an
    ActivityTaskCompleted comes from its ActivityTaskScheduled); this event is
    added to it. ``time_format``: ``relative`` (``+1.234s`` from the run's
    start) or ``iso``. The fields are fitted to ``width`` characters (``name=value``
    pairs two spaces apart; the longest values are cut first, see :func:`fit_fields`).
    """
    context = context if context is not None else RunContext()
    context.add(event)
    event_type = str(event.get("eventType", "?"))
    attrs = raw_attrs(event)
    specs = _FIELDS.get(event_type)
    fields: list[tuple[str, str]] = []
    if specs is None:  # an event type this version does not know: every attribute
        fields = [(k, _payload(v, decode) if isinstance(v, str) else _compact(v)) for k, v in attrs.items()]
    else:
        for spec in specs:
            fields.extend(_field(spec, attrs, context, decode))
    fields = fit_fields([(k, v) for k, v in fields if v != ""], width)
    when = (
        offset_text(context.offset(event.get("eventTimestamp")))
        if time_format == "relative"
        else iso(event.get("eventTimestamp"))
    )
    return EventLine(int(event.get("eventId", 0)), when, event_type, fields, event_outcome(event_type))


def event_lines(
    events: Iterable[Mapping[str, Any]],
    *,
    time_format: str = "relative",
    width: int | None = 80,
    decode: Decode = json_payload,
) -> list[EventLine]:
    """Every event of one run (oldest first) as lines."""
    context = RunContext()
    return [event_line(e, context, time_format=time_format, width=width, decode=decode) for e in events]


# -- grouped ----------------------------------------------------------------------------------
@dataclass
class Group:
    """One activity attempt, timer, child, signal, marker... or the run itself, or its decision tasks.

    ``kind``: workflow, decisions, activity, timer, child, signal, marker,
    lambda, signal-external, cancel-external, cancel-request. ``name``: the
    activityId, timerId, child workflowId, signalName, markerName, Lambda id,
    or the workflow type. ``status`` is SWF's word for where it got to
    (SCHEDULED, STARTED, COMPLETED, FAILED, TIMED_OUT, CANCELED, FIRED,
    RECEIVED, RECORDED...). ``opened``/``started``/``closed`` are the times it
    was scheduled (or initiated), started and closed.
    """

    kind: str
    name: str
    status: str
    opened: dt.datetime | None
    type: str = ""
    started: dt.datetime | None = None
    closed: dt.datetime | None = None
    attempt: int = 1
    attempts: int = 1
    event_ids: list[int] = field(default_factory=list)
    fields: list[tuple[str, str]] = field(default_factory=list)
    instant: bool = False
    """A signal or marker: it happens at one time, it has no duration."""
    spent: float | None = None
    """The decision tasks' duration: the time spent in them (each scheduled to closed), summed."""
    worker: str | None = None
    """The identity of the worker that took an activity task."""
    run_id: str | None = None
    """A child's runId."""

    @property
    def is_open(self) -> bool:
        return not self.instant and self.closed is None and self.status not in _FINAL_WITHOUT_CLOSE

    def duration(self, now: dt.datetime | None = None) -> float | None:
        """Seconds from scheduled (initiated, started) to closed; for an open one, to ``now`` if given."""
        if self.spent is not None:
            return self.spent
        if self.instant or self.opened is None:
            return None
        end = self.closed or (now if self.is_open else None)
        return (end - self.opened).total_seconds() if end is not None else None

    def waited(self) -> float | None:
        """Seconds from scheduled to started (an activity's time in its task list)."""
        if self.opened is None or self.started is None:
            return None
        return (self.started - self.opened).total_seconds()

    def offset(self, start: dt.datetime | None) -> float | None:
        return (self.opened - start).total_seconds() if self.opened and start else None

    def to_dict(self, start: dt.datetime | None = None, now: dt.datetime | None = None) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "type": self.type or None,
            "status": self.status,
            "attempt": self.attempt,
            "attempts": self.attempts,
            "offset": self.offset(start),
            "duration": self.duration(now),
            "waited": self.waited(),
            "opened": iso(self.opened) if self.opened else None,
            "closed": iso(self.closed) if self.closed else None,
            "worker": self.worker,
            "runId": self.run_id,
            "eventIds": list(self.event_ids),
            "fields": dict(self.fields),
        }


_FINAL_WITHOUT_CLOSE = {"SCHEDULE_FAILED", "START_FAILED", "FAILED", "RECEIVED", "RECORDED"}

_ACTIVITY_CLOSE = {
    "ActivityTaskCompleted": "COMPLETED",
    "ActivityTaskFailed": "FAILED",
    "ActivityTaskTimedOut": "TIMED_OUT",
    "ActivityTaskCanceled": "CANCELED",
}
_LAMBDA_CLOSE = {
    "LambdaFunctionCompleted": "COMPLETED",
    "LambdaFunctionFailed": "FAILED",
    "LambdaFunctionTimedOut": "TIMED_OUT",
}
_CHILD_CLOSE = {
    "ChildWorkflowExecutionCompleted": "COMPLETED",
    "ChildWorkflowExecutionFailed": "FAILED",
    "ChildWorkflowExecutionTimedOut": "TIMED_OUT",
    "ChildWorkflowExecutionCanceled": "CANCELED",
    "ChildWorkflowExecutionTerminated": "TERMINATED",
}
_OUTCOME_FIELDS = {  # what a closing event adds to its group
    "result": "payload",
    "reason": "text",
    "details": "payload",
    "timeoutType": "",
    "cause": "text",
    "message": "text",
}


def _outcome_fields(attrs: Mapping[str, Any], decode: Decode, width: int | None) -> list[tuple[str, str]]:
    out = []
    for name, kind in _OUTCOME_FIELDS.items():
        if name not in attrs:
            continue
        value = attrs[name]
        text = _payload(value, decode) if kind == "payload" else _text(str(value)) if kind == "text" else str(value)
        out.append((name, truncate(text, width)))
    return out


def grouped(
    events: Iterable[Mapping[str, Any]],
    *,
    decode: Decode = json_payload,
    value_width: int | None = 80,
) -> list[Group]:
    """One :class:`Group` per thing the run did, in the order each began; the run's own first.

    Each scheduling of an activity is a group of its own (``attempt`` of
    ``attempts`` for one activityId; a retry's attempts, ``charge-1~2``...,
    are numbered under the id the decider gave, ``flowser.retry``, with
    their own id in the ``activityId`` field), as is each timer started under a
    timerId. The decision tasks are one ``decisions`` group: how many, how
    many timed out, and the time spent in them (scheduled to closed, summed).
    """
    ordered = sorted(events, key=lambda e: e["eventId"])
    if not ordered:
        return []
    groups: list[Group] = []
    run = Group("workflow", "", "OPEN", None)
    decisions = Group("decisions", "decision tasks", "", None)
    decision_open: dict[int, dt.datetime | None] = {}  # scheduled eventId -> scheduled time
    decision_total = 0.0
    decision_count = decision_timeouts = 0
    by_key: dict[tuple[str, int], Group] = {}  # ("activity", scheduledEventId) etc.
    attempts: dict[str, list[Group]] = {}

    def add(group: Group) -> Group:
        groups.append(group)
        return group

    def outcome(attrs: Mapping[str, Any]) -> list[tuple[str, str]]:
        return _outcome_fields(attrs, decode, value_width)

    for event in ordered:
        kind, eid = str(event["eventType"]), int(event["eventId"])
        attrs = raw_attrs(event)
        when = timestamp(event.get("eventTimestamp"))
        if kind == "WorkflowExecutionStarted":
            run.name = type_text(attrs.get("workflowType")) or "workflow"
            run.type = run.name
            run.opened = when
            run.event_ids.append(eid)
            if "input" in attrs:
                run.fields.append(("input", truncate(_payload(attrs["input"], decode), value_width)))
        elif kind in CLOSE_EVENTS:
            run.status, run.closed = CLOSE_EVENTS[kind], when
            run.event_ids.append(eid)
            run.fields.extend(outcome(attrs))
            if attrs.get("newExecutionRunId"):
                run.fields.append(("newExecutionRunId", str(attrs["newExecutionRunId"])))
        elif kind.startswith("DecisionTask"):
            decisions.event_ids.append(eid)
            if decisions.opened is None:
                decisions.opened = when
            if kind == "DecisionTaskScheduled":
                decision_open[eid] = when
            elif kind in ("DecisionTaskCompleted", "DecisionTaskTimedOut"):
                opened = decision_open.pop(attrs.get("scheduledEventId", -1), None)
                decision_count += 1
                decision_timeouts += kind == "DecisionTaskTimedOut"
                if opened is not None and when is not None:
                    decision_total += (when - opened).total_seconds()
                decisions.closed = when
        elif kind == "ActivityTaskScheduled":
            activity_id = str(attrs.get("activityId", "?"))
            retried = unwrap(attrs.get("control"))  # a retry's attempt: numbered under the id the decider gave
            name = retried.logical_id if retried is not None else activity_id
            group = add(Group("activity", name, "SCHEDULED", when, type_text(attrs.get("activityType")), event_ids=[eid]))
            if name != activity_id:
                group.fields.append(("activityId", activity_id))
            by_key["activity", eid] = group
            attempts.setdefault(name, []).append(group)
        elif kind == "ScheduleActivityTaskFailed":
            activity_id = str(attrs.get("activityId", "?"))
            group = add(Group("activity", activity_id, "SCHEDULE_FAILED", when, type_text(attrs.get("activityType")), event_ids=[eid]))
            group.fields.extend(outcome(attrs))
            attempts.setdefault(activity_id, []).append(group)
        elif kind == "ActivityTaskStarted":
            if (found := by_key.get(("activity", attrs.get("scheduledEventId", -1)))) is not None:
                found.status, found.started = "STARTED", when
                found.event_ids.append(eid)
                found.worker = str(attrs["identity"]) if attrs.get("identity") else None
        elif kind in _ACTIVITY_CLOSE:
            if (found := by_key.get(("activity", attrs.get("scheduledEventId", -1)))) is not None:
                found.status, found.closed = _ACTIVITY_CLOSE[kind], when
                found.event_ids.append(eid)
                found.fields.extend(outcome(attrs))
        elif kind == "ActivityTaskCancelRequested":
            open_ones = [g for g in attempts.get(str(attrs.get("activityId")), []) if g.is_open]
            if open_ones:
                open_ones[-1].event_ids.append(eid)
                open_ones[-1].fields.append(("cancelRequested", "yes"))
        elif kind == "LambdaFunctionScheduled":
            lambda_id = str(attrs.get("id", "?"))
            group = add(Group("lambda", lambda_id, "SCHEDULED", when, str(attrs.get("name", "")), event_ids=[eid]))
            by_key["lambda", eid] = group
            attempts.setdefault(f"lambda:{lambda_id}", []).append(group)
        elif kind == "ScheduleLambdaFunctionFailed":
            lambda_id = str(attrs.get("id", "?"))
            group = add(Group("lambda", lambda_id, "SCHEDULE_FAILED", when, str(attrs.get("name", "")), event_ids=[eid]))
            group.fields.extend(outcome(attrs))
            attempts.setdefault(f"lambda:{lambda_id}", []).append(group)
        elif kind == "LambdaFunctionStarted":
            if (found := by_key.get(("lambda", attrs.get("scheduledEventId", -1)))) is not None:
                found.status, found.started = "STARTED", when
                found.event_ids.append(eid)
        elif kind in _LAMBDA_CLOSE or kind == "StartLambdaFunctionFailed":
            if (found := by_key.get(("lambda", attrs.get("scheduledEventId", -1)))) is not None:
                found.status = _LAMBDA_CLOSE.get(kind, "START_FAILED")
                found.closed = when
                found.event_ids.append(eid)
                found.fields.extend(outcome(attrs))
        elif kind == "TimerStarted":
            timer_id = str(attrs.get("timerId", "?"))
            group = add(Group("timer", timer_id, "STARTED", when, event_ids=[eid]))
            group.fields.append(("fireAfter", _seconds_text(attrs.get("startToFireTimeout"))))
            if (backoff := unwrap(attrs.get("control"))) is not None:
                group.fields.append(("retry", f"backoff before attempt {backoff.attempt} of {backoff.logical_id}"))
            by_key["timer", eid] = group
            attempts.setdefault(f"timer:{timer_id}", []).append(group)
        elif kind in ("TimerFired", "TimerCanceled", "TimerCancelled"):
            if (found := by_key.get(("timer", attrs.get("startedEventId", -1)))) is not None:
                found.status, found.closed = ("FIRED" if kind == "TimerFired" else "CANCELED"), when
                found.event_ids.append(eid)
        elif kind == "StartTimerFailed":
            timer_id = str(attrs.get("timerId", "?"))
            group = add(Group("timer", timer_id, "START_FAILED", when, event_ids=[eid]))
            group.fields.extend(outcome(attrs))
        elif kind == "StartChildWorkflowExecutionInitiated":
            child_id = str(attrs.get("workflowId", "?"))
            retried = unwrap(attrs.get("control"))
            name = retried.logical_id if retried is not None else child_id
            group = add(Group("child", name, "INITIATED", when, type_text(attrs.get("workflowType")), event_ids=[eid]))
            if name != child_id:
                group.fields.append(("workflowId", child_id))
            by_key["child", eid] = group
            attempts.setdefault(f"child:{name}", []).append(group)
        elif kind == "StartChildWorkflowExecutionFailed":
            found = by_key.get(("child", attrs.get("initiatedEventId", -1)))
            if found is None:
                found = add(Group("child", str(attrs.get("workflowId", "?")), "", when, type_text(attrs.get("workflowType"))))
            found.status, found.closed = "START_FAILED", when
            found.event_ids.append(eid)
            found.fields.extend(outcome(attrs))
        elif kind == "ChildWorkflowExecutionStarted":
            if (found := by_key.get(("child", attrs.get("initiatedEventId", -1)))) is not None:
                found.status, found.started = "STARTED", when
                found.event_ids.append(eid)
                found.run_id = (attrs.get("workflowExecution") or {}).get("runId")
        elif kind in _CHILD_CLOSE:
            if (found := by_key.get(("child", attrs.get("initiatedEventId", -1)))) is not None:
                found.status, found.closed = _CHILD_CLOSE[kind], when
                found.event_ids.append(eid)
                found.fields.extend(outcome(attrs))
        elif kind == "WorkflowExecutionSignaled":
            group = add(Group("signal", str(attrs.get("signalName", "?")), "RECEIVED", when, event_ids=[eid], instant=True))
            if "input" in attrs:
                group.fields.append(("input", truncate(_payload(attrs["input"], decode), value_width)))
            sender = (attrs.get("externalWorkflowExecution") or {}).get("workflowId")
            if sender:
                group.fields.append(("from", str(sender)))
        elif kind == "WorkflowExecutionCancelRequested":
            group = add(Group("cancel-request", "cancel", "RECEIVED", when, event_ids=[eid], instant=True))
            group.fields.extend(outcome(attrs))
        elif kind in ("MarkerRecorded", "RecordMarkerFailed"):
            status = "RECORDED" if kind == "MarkerRecorded" else "FAILED"
            group = add(Group("marker", str(attrs.get("markerName", "?")), status, when, event_ids=[eid], instant=True))
            if "details" in attrs:
                group.fields.append(("details", truncate(_payload(attrs["details"], decode), value_width)))
            group.fields.extend(outcome({k: v for k, v in attrs.items() if k == "cause"}))
        elif kind in ("SignalExternalWorkflowExecutionInitiated", "RequestCancelExternalWorkflowExecutionInitiated"):
            label = "signal-external" if kind.startswith("Signal") else "cancel-external"
            name = str(attrs.get("signalName") or attrs.get("workflowId", "?"))
            group = add(Group(label, name, "INITIATED", when, event_ids=[eid]))
            group.fields.append(("workflowId", str(attrs.get("workflowId", "?"))))
            if "input" in attrs:
                group.fields.append(("input", truncate(_payload(attrs["input"], decode), value_width)))
            by_key[label, eid] = group
        elif kind in ("ExternalWorkflowExecutionSignaled", "SignalExternalWorkflowExecutionFailed"):
            if (found := by_key.get(("signal-external", attrs.get("initiatedEventId", -1)))) is not None:
                found.status = "SIGNALED" if kind.startswith("External") else "FAILED"
                found.closed = when
                found.event_ids.append(eid)
                found.fields.extend(outcome(attrs))
        elif kind in ("ExternalWorkflowExecutionCancelRequested", "RequestCancelExternalWorkflowExecutionFailed"):
            if (found := by_key.get(("cancel-external", attrs.get("initiatedEventId", -1)))) is not None:
                found.status = "REQUESTED" if kind.startswith("External") else "FAILED"
                found.closed = when
                found.event_ids.append(eid)
                found.fields.extend(outcome(attrs))

    for series in attempts.values():
        for number, group in enumerate(series, 1):
            group.attempt, group.attempts = number, len(series)
    if decisions.event_ids:
        if decision_open:
            decisions.status = "OPEN"
        else:
            decisions.status = "TIMED_OUT" if decision_timeouts else "COMPLETED"
        decisions.spent = decision_total
        tasks = decision_count + len(decision_open)
        decisions.name = f"{tasks} decision task{'s' if tasks != 1 else ''}"
        if decision_timeouts:
            decisions.fields.append(("timedOut", str(decision_timeouts)))
    head = [run, decisions] if decisions.event_ids else [run]
    if run.opened is None:  # a partial history without its first event
        run.opened = timestamp(ordered[0].get("eventTimestamp"))
    return head + groups
