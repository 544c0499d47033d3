"""History events (flowser 0.1's ``flowser.events``): all 54 SWF event types.

``Event`` wraps one raw event dict and never changes it. ``attrs`` is a copy
of the event's attributes in which -- as in 0.1 -- an ``ActivityTaskCompleted``
result is decoded; ``input``, ``result`` and ``control`` are the decoded
payloads (with the owning type's codec and pydantic model, when known),
decoded once and cached on the event.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any, Protocol

from . import serializing

_event_types = [
    "WorkflowExecutionStarted",
    "WorkflowExecutionCancelRequested",
    "WorkflowExecutionCompleted",
    "CompleteWorkflowExecutionFailed",
    "WorkflowExecutionFailed",
    "FailWorkflowExecutionFailed",
    "WorkflowExecutionTimedOut",
    "WorkflowExecutionCanceled",
    "CancelWorkflowExecutionFailed",
    "WorkflowExecutionContinuedAsNew",
    "ContinueAsNewWorkflowExecutionFailed",
    "WorkflowExecutionTerminated",
    "DecisionTaskScheduled",
    "DecisionTaskStarted",
    "DecisionTaskCompleted",
    "DecisionTaskTimedOut",
    "ActivityTaskScheduled",
    "ScheduleActivityTaskFailed",
    "ActivityTaskStarted",
    "ActivityTaskCompleted",
    "ActivityTaskFailed",
    "ActivityTaskTimedOut",
    "ActivityTaskCanceled",
    "ActivityTaskCancelRequested",
    "RequestCancelActivityTaskFailed",
    "WorkflowExecutionSignaled",
    "MarkerRecorded",
    "RecordMarkerFailed",
    "TimerStarted",
    "StartTimerFailed",
    "TimerFired",
    "TimerCanceled",
    "CancelTimerFailed",
    "StartChildWorkflowExecutionInitiated",
    "StartChildWorkflowExecutionFailed",
    "ChildWorkflowExecutionStarted",
    "ChildWorkflowExecutionCompleted",
    "ChildWorkflowExecutionFailed",
    "ChildWorkflowExecutionTimedOut",
    "ChildWorkflowExecutionCanceled",
    "ChildWorkflowExecutionTerminated",
    "SignalExternalWorkflowExecutionInitiated",
    "SignalExternalWorkflowExecutionFailed",
    "ExternalWorkflowExecutionSignaled",
    "RequestCancelExternalWorkflowExecutionInitiated",
    "RequestCancelExternalWorkflowExecutionFailed",
    "ExternalWorkflowExecutionCancelRequested",
    "LambdaFunctionScheduled",
    "LambdaFunctionStarted",
    "LambdaFunctionCompleted",
    "LambdaFunctionFailed",
    "LambdaFunctionTimedOut",
    "ScheduleLambdaFunctionFailed",
    "StartLambdaFunctionFailed",
]

PAYLOAD_FIELDS = ("input", "result", "control")


def attributes_key(event_type: str) -> str:
    """``ActivityTaskCompleted`` -> ``activityTaskCompletedEventAttributes``."""
    return event_type[:1].lower() + event_type[1:] + "EventAttributes"


def raw_attrs(result: Mapping[str, Any]) -> Mapping[str, Any]:
    """The attributes of a raw event, as they are (``{}`` if it has none)."""
    value = result.get(attributes_key(result.get("eventType", "")))
    return value if isinstance(value, Mapping) else {}


def attrs(result: Mapping[str, Any]) -> dict[str, Any]:
    """0.1's ``attrs``: a copy of the attributes, an ``ActivityTaskCompleted`` result JSON-decoded."""
    return Event(result).attrs


class PayloadDecoder(Protocol):
    def decode(self, event: Event, field: str, typed: bool) -> Any:
        """The payload ``field`` of ``event``; ``typed`` applies the owning type's model."""
        ...


class JSONDecoder:
    """Decodes every payload as JSON (leniently: text that is not JSON stays text)."""

    def decode(self, event: Event, field: str, typed: bool) -> Any:
        return serializing.decode(event.raw_attrs.get(field))


DEFAULT_DECODER = JSONDecoder()


class Event:
    """One history event; the raw dict it wraps is never modified."""

    def __init__(self, result: Mapping[str, Any], decoder: PayloadDecoder | None = None) -> None:
        self.raw = result
        self.id: int = result["eventId"]
        self.type: str = result["eventType"]
        self.time_stamp: Any = result.get("eventTimestamp")
        self._decoder = decoder or DEFAULT_DECODER
        self._payloads: dict[tuple[str, bool], Any] = {}
        self._attrs: dict[str, Any] | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<Event id({self.id}) type({self.type}) time_stamp({self.time_stamp})>"

    @property
    def raw_attrs(self) -> Mapping[str, Any]:
        """The event's attributes exactly as received."""
        return raw_attrs(self.raw)

    @property
    def attrs(self) -> dict[str, Any]:
        """A copy of the attributes; as in 0.1, an ActivityTaskCompleted ``result`` is decoded."""
        if self._attrs is None:
            copied = dict(self.raw_attrs)
            if self.type == "ActivityTaskCompleted" and "result" in copied:
                copied["result"] = self.payload("result", typed=False)
            self._attrs = copied
        return self._attrs

    def payload(self, field: str, typed: bool = True) -> Any:
        """The decoded payload ``field`` (``None`` if absent), decoded once."""
        key = (field, typed)
        with self._lock:
            if key in self._payloads:
                return self._payloads[key]
        value = self._decoder.decode(self, field, typed) if field in self.raw_attrs else None
        with self._lock:
            return self._payloads.setdefault(key, value)

    @property
    def input(self) -> Any:
        return self.payload("input")

    @property
    def result(self) -> Any:
        return self.payload("result")

    @property
    def control(self) -> Any:
        return self.payload("control")

    def get(self, name: str, default: Any = None) -> Any:
        """A raw attribute (``reason``, ``details``, ``cause``, ``timerId``...)."""
        return self.raw_attrs.get(name, default)


class WorkflowType:
    """Wrapper for SWF's WorkflowType (``{"name", "version"}``)."""

    def __init__(self, result: Mapping[str, Any]) -> None:
        self.name: str = result["name"]
        self.version: str = result["version"]

    def __str__(self) -> str:
        return f"{self.name} ({self.version})"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, WorkflowType) and type(other) is type(self) and (self.name, self.version) == (other.name, other.version)

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.name, self.version))

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "version": self.version}


class ActivityType(WorkflowType):
    """Wrapper for SWF's ActivityType (``{"name", "version"}``)."""
