"""Replay tests: run a decider over a saved history and check that it decides now what it decided then.

    from flowser.testing import replay, replay_dir

    replay("tests/histories/order-42.json", Order)      # raises ReplayMismatch on a difference
    replay_dir("tests/histories", [Order, Ship])         # every file; all the differences at once

A decider must be deterministic: given the same history it must make the same
decisions, or the runs in flight when a new version is deployed see
decisions that do not fit what they already did (an activity scheduled
twice, a result read from an activity id that no longer exists...).
:func:`replay` catches such a change before it ships.

For each decision task that the history shows completed
(``DecisionTaskCompleted``), it builds the task as the decider received it
then -- the events up to and including that task's ``DecisionTaskStarted``,
newest first, with its ``startedEventId`` and ``previousStartedEventId``
(the started event of the completed task before it), the run's workflow type
and execution -- as a :class:`flowser.tasks.Decision`, runs it through
:func:`flowser.worker.run_decision_task` (the code path of ``flowser decider``),
and compares the decisions it answers with the ones recorded: the events
whose ``decisionTaskCompletedEventId`` is that task's, in order, and the
task's ``executionContext``. Replay makes no SWF call and needs no backend:
the decider talks to a client that records ``RespondDecisionTaskCompleted``,
answers the reads flowser's decision task makes from the saved histories
(``DescribeWorkflowExecution`` of the run, as it stood; ``GetWorkflowExecutionHistory``
of a run replay holds -- the runs of the source, and ``sources=``, e.g. a
re-run's source run), and refuses every other call (:class:`SwfCallRefused`;
the mismatch names it).

Compared fields (see :data:`COMPARED` and :data:`SETTINGS`):

* always -- the decision type; the ids (``activityId``, ``timerId``,
  ``workflowId``, ``runId``, ``markerName``, ``signalName``, Lambda ``id`` and
  ``name``); the types (``activityType``, ``workflowType``); the payloads
  (``input``, ``control``, ``result``, ``details``, ``reason``,
  ``executionContext``) and a timer's ``startToFireTimeout``. A field absent
  on both sides is equal; present on one side only, it differs. Payloads are
  equal when their text is, or when both are JSON with equal values (key
  order does not matter).
* when the decider sets them -- the settings SWF fills with the type's
  defaults when a decision leaves them out: ``taskList``, ``taskPriority``,
  the timeouts, ``childPolicy``, ``tagList``, ``lambdaRole`` and
  continue-as-new's ``workflowTypeVersion`` (against the event's
  ``workflowType.version``). flowser's ``schedule`` and ``start_child`` set
  them all from the class attributes, so a changed timeout is reported;
  ``ignore=SETTINGS`` leaves them out.
* a decision SWF refused (``ScheduleActivityTaskFailed``, ``StartTimerFailed``,
  ``StartChildWorkflowExecutionFailed`` with ``initiatedEventId`` 0...) is
  compared on the fields its event keeps (ids and types only).
* a ``FailWorkflowExecution`` whose details are a Python traceback on both
  sides (a decider that raised, failed by the runner) is compared on the
  traceback's last line: file paths and line numbers change with any edit.

Not replayed: decision tasks that timed out, or that were still open when the
history was saved (nothing recorded to compare with). Events that only
follow from a decision (``SignalExternalWorkflowExecutionFailed`` after its
``...Initiated``, a ``StartChildWorkflowExecutionFailed`` with
``WORKFLOW_ALREADY_RUNNING``) are not decisions and are not compared.

Inputs (:func:`replay`'s ``history``): a ``flowser-history/1`` file written by
``flowser executions history -o json`` or the dashboard's download, the JSON
Lines of ``-o jsonl`` (several runs of a continue-as-new chain are replayed
one by one), raw ``GetWorkflowExecutionHistory`` pages (one, or a list), a
list of events, a :class:`~flowser.historyfile.HistoryFile`; as a path, an
open file, bytes or JSON text, or the loaded object.
"""

from __future__ import annotations

import bisect
import difflib
import io
import json
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import tasks
from .domain import Domain
from .events import raw_attrs
from .history import History
from .historyfile import HistoryFile, load_histories
from .render import iso
from .types import Workflow
from .worker import find_domain, named_domain, run_decision_task

__all__ = [
    "COMPARED",
    "SETTINGS",
    "DecisionTaskReplay",
    "ReplayMismatch",
    "ReplayResult",
    "RunReplay",
    "SwfCallRefused",
    "history_files",
    "replay",
    "replay_dir",
]

# -- what is compared --------------------------------------------------------------------------
COMPARED: dict[str, tuple[str, ...]] = {
    "ScheduleActivityTask": ("activityType", "activityId", "input", "control"),
    "RequestCancelActivityTask": ("activityId",),
    "CompleteWorkflowExecution": ("result",),
    "FailWorkflowExecution": ("reason", "details"),
    "CancelWorkflowExecution": ("details",),
    "ContinueAsNewWorkflowExecution": ("input",),
    "RecordMarker": ("markerName", "details"),
    "StartTimer": ("timerId", "startToFireTimeout", "control"),
    "CancelTimer": ("timerId",),
    "SignalExternalWorkflowExecution": ("workflowId", "runId", "signalName", "input", "control"),
    "RequestCancelExternalWorkflowExecution": ("workflowId", "runId", "control"),
    "StartChildWorkflowExecution": ("workflowType", "workflowId", "input", "control"),
    "ScheduleLambdaFunction": ("id", "name", "input", "control"),
}
"""Per decision type, the fields always compared (absent on both sides is equal)."""

_RUN_SETTINGS = (
    "taskList",
    "taskPriority",
    "executionStartToCloseTimeout",
    "taskStartToCloseTimeout",
    "childPolicy",
    "tagList",
    "lambdaRole",
)
_DECISION_SETTINGS: dict[str, tuple[str, ...]] = {
    "ScheduleActivityTask": (
        "taskList",
        "taskPriority",
        "scheduleToStartTimeout",
        "scheduleToCloseTimeout",
        "startToCloseTimeout",
        "heartbeatTimeout",
    ),
    "ContinueAsNewWorkflowExecution": (*_RUN_SETTINGS, "workflowTypeVersion"),
    "StartChildWorkflowExecution": _RUN_SETTINGS,
    "ScheduleLambdaFunction": ("startToCloseTimeout",),
}
SETTINGS: frozenset[str] = frozenset(f for fields in _DECISION_SETTINGS.values() for f in fields)
"""The settings compared only when the decider sets them; ``replay(..., ignore=SETTINGS)`` skips them."""

_PAYLOADS = frozenset({"input", "control", "result", "details", "executionContext"})

# the event each decision type records, when SWF carried it out...
_SUCCESS_EVENTS = {
    "ActivityTaskScheduled": "ScheduleActivityTask",
    "ActivityTaskCancelRequested": "RequestCancelActivityTask",
    "WorkflowExecutionCompleted": "CompleteWorkflowExecution",
    "WorkflowExecutionFailed": "FailWorkflowExecution",
    "WorkflowExecutionCanceled": "CancelWorkflowExecution",
    "WorkflowExecutionContinuedAsNew": "ContinueAsNewWorkflowExecution",
    "MarkerRecorded": "RecordMarker",
    "TimerStarted": "StartTimer",
    "TimerCanceled": "CancelTimer",
    "TimerCancelled": "CancelTimer",  # moto's spelling
    "SignalExternalWorkflowExecutionInitiated": "SignalExternalWorkflowExecution",
    "RequestCancelExternalWorkflowExecutionInitiated": "RequestCancelExternalWorkflowExecution",
    "StartChildWorkflowExecutionInitiated": "StartChildWorkflowExecution",
    "LambdaFunctionScheduled": "ScheduleLambdaFunction",
}
# ... and when SWF refused it: the fields the failure event keeps
_FAILED_EVENTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "ScheduleActivityTaskFailed": ("ScheduleActivityTask", ("activityType", "activityId")),
    "RequestCancelActivityTaskFailed": ("RequestCancelActivityTask", ("activityId",)),
    "CompleteWorkflowExecutionFailed": ("CompleteWorkflowExecution", ()),
    "FailWorkflowExecutionFailed": ("FailWorkflowExecution", ()),
    "CancelWorkflowExecutionFailed": ("CancelWorkflowExecution", ()),
    "ContinueAsNewWorkflowExecutionFailed": ("ContinueAsNewWorkflowExecution", ()),
    "RecordMarkerFailed": ("RecordMarker", ("markerName",)),
    "StartTimerFailed": ("StartTimer", ("timerId",)),
    "CancelTimerFailed": ("CancelTimer", ("timerId",)),
    "SignalExternalWorkflowExecutionFailed": ("SignalExternalWorkflowExecution", ("workflowId", "runId", "control")),
    "RequestCancelExternalWorkflowExecutionFailed": ("RequestCancelExternalWorkflowExecution", ("workflowId", "runId", "control")),
    "StartChildWorkflowExecutionFailed": ("StartChildWorkflowExecution", ("workflowType", "workflowId", "control")),
    "ScheduleLambdaFunctionFailed": ("ScheduleLambdaFunction", ("id", "name")),
}

_TRACEBACK = "Traceback (most recent call last):"
_UNKNOWN_EXECUTION = {"workflowId": "replay-unknown-workflow-id", "runId": "replay-unknown-run-id"}
_SHOWN = 300  # characters of a value shown in a diff line
_NEW_SHOWN = 8  # new events named in a mismatch's header
_TASK_EVENTS = frozenset({"DecisionTaskScheduled", "DecisionTaskStarted", "DecisionTaskCompleted", "DecisionTaskTimedOut"})


# -- errors and results ------------------------------------------------------------------------
class ReplayMismatch(AssertionError):
    """The decider decides differently now than the history recorded (or could not be replayed).

    ``str(error)`` names the run and the decision task (its event ids and
    time) and shows the recorded and the new decisions as a diff.
    ``task`` is the :class:`DecisionTaskReplay` that differed (None for a
    summary of several files: see ``failures``).
    """

    def __init__(self, message: str, task: DecisionTaskReplay | None = None, failures: Sequence[tuple[str, BaseException]] = ()) -> None:
        super().__init__(message)
        self.task = task
        self.failures = list(failures)
        """For :func:`replay_dir`: ``(file, error)`` for each file that failed."""


class SwfCallRefused(RuntimeError):
    """The decider called SWF during a replay (replay answers nothing but the decision task's response)."""


@dataclass
class DecisionTaskReplay:
    """One decision task as replayed: where it is in the history, what was recorded, what was decided now."""

    number: int
    """1 for the run's first completed decision task, 2 for the next..."""
    scheduled_event_id: int
    started_event_id: int
    completed_event_id: int
    previous_started_event_id: int
    started_at: Any
    expected: list[dict[str, Any]]
    """The recorded decisions: ``{"decisionType", "event": {...}, "fields": {...}}`` each."""
    expected_context: str | None
    actual: list[dict[str, Any]] | None
    """The decisions made now (None: the decider left the task unanswered)."""
    actual_context: str | None = None
    raised: BaseException | None = None
    """What ``decide`` raised, if it did."""
    refused_calls: list[str] = field(default_factory=list)
    """The SWF operations ``decide`` called and replay refused."""
    refusals: list[str] = field(default_factory=list)
    """What each refused call was, in words."""
    new_events: list[tuple[int, str]] = field(default_factory=list)
    """``(eventId, eventType)`` of the events new to this task (after previousStartedEventId), decision task events aside."""


@dataclass
class RunReplay:
    """One run replayed."""

    workflow_id: str | None
    run_id: str | None
    workflow_type: dict[str, str]
    tasks: list[DecisionTaskReplay]

    @property
    def decision_tasks(self) -> int:
        return len(self.tasks)

    @property
    def decisions(self) -> int:
        return sum(len(task.expected) for task in self.tasks)


@dataclass
class ReplayResult:
    """What :func:`replay` checked: the runs of one history source, each with its decision tasks."""

    source: str
    runs: list[RunReplay]

    @property
    def decision_tasks(self) -> int:
        return sum(run.decision_tasks for run in self.runs)

    @property
    def decisions(self) -> int:
        return sum(run.decisions for run in self.runs)

    def __str__(self) -> str:
        return f"{self.source}: {len(self.runs)} run(s), {self.decision_tasks} decision task(s), {self.decisions} decision(s) replayed"


# -- the client a replayed decider sees --------------------------------------------------------
def _swf_operations() -> list[str]:
    import botocore.session
    from botocore import xform_name

    model = botocore.session.get_session().get_service_model("swf")
    return [xform_name(name) for name in model.operation_names]


class _ReplayClient:
    """What a replayed decider talks to: records ``RespondDecisionTaskCompleted``, answers two reads, refuses the rest.

    ``DescribeWorkflowExecution`` of the replayed run is answered from its
    history as it stood when the task started (its tags, configuration and
    open counts), ``GetWorkflowExecutionHistory`` with the events the task
    saw, or with the history of another run replay holds (the other runs of a
    continue-as-new chain, ``sources=``): flowser's decision task reads them
    (a run's tags, a re-run's source). Any other call, and a read of a run
    replay does not hold, raises :class:`SwfCallRefused`.
    """

    _operations: list[str] | None = None

    def __init__(self, execution: Mapping[str, str], seen: list[dict[str, Any]], runs: Mapping[str, list[dict[str, Any]]]) -> None:
        self.responses: list[dict[str, Any]] = []
        self.refused: list[str] = []
        self.refusals: list[str] = []
        self.execution = execution
        self.seen = seen
        self.runs = runs
        if _ReplayClient._operations is None:
            _ReplayClient._operations = _swf_operations()

    def respond_decision_task_completed(self, **kwargs: Any) -> dict[str, Any]:
        self.responses.append(kwargs)
        return {}

    def _is_replayed_run(self, execution: Any) -> bool:
        if not isinstance(execution, Mapping):
            return False
        return bool(execution.get("workflowId") == self.execution["workflowId"] and execution.get("runId") in (None, self.execution["runId"]))

    def describe_workflow_execution(self, **kwargs: Any) -> dict[str, Any]:
        if not self._is_replayed_run(kwargs.get("execution")):
            self._refuse("describe_workflow_execution", f"of {_run_text(kwargs.get('execution'))}, not the replayed run")
        return _describe(self.execution, self.seen)

    def get_workflow_execution_history(self, **kwargs: Any) -> dict[str, Any]:
        execution = kwargs.get("execution")
        if self._is_replayed_run(execution):
            events = list(self.seen)
        elif isinstance(execution, Mapping) and execution.get("runId") in self.runs:
            events = list(self.runs[str(execution["runId"])])
        else:
            self._refuse(
                "get_workflow_execution_history",
                f"of {_run_text(execution)}, a run replay does not hold (give its history in sources=)",
            )
        if kwargs.get("reverseOrder"):
            events.reverse()
        start = int(kwargs.get("nextPageToken") or 0)
        size = int(kwargs.get("maximumPageSize") or 1000)
        page: dict[str, Any] = {"events": events[start : start + size]}
        if start + size < len(events):
            page["nextPageToken"] = str(start + size)
        return page

    def _refuse(self, name: str, what: str = "") -> Any:
        message = f"decide() called SWF's {name}{' ' + what if what else ''}: replay refuses every call but the task's answer and reads of the runs it holds"
        self.refused.append(name)
        self.refusals.append(message)
        raise SwfCallRefused(message)

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name.startswith("_") or name not in (_ReplayClient._operations or ()):
            raise AttributeError(name)

        def refuse(*args: Any, **kwargs: Any) -> Any:
            return self._refuse(name)

        return refuse


def _run_text(execution: Any) -> str:
    if not isinstance(execution, Mapping):
        return "an execution"
    return f"{execution.get('workflowId')} (run {execution.get('runId')})"


def _describe(execution: Mapping[str, str], seen: list[dict[str, Any]]) -> dict[str, Any]:
    """``DescribeWorkflowExecution`` of a run as its events up to a decision task's start show it."""
    started = raw_attrs(seen[0]) if seen and seen[0]["eventType"] == "WorkflowExecutionStarted" else {}
    history = History.of(seen)
    info: dict[str, Any] = {
        "execution": dict(execution),
        "workflowType": dict(started.get("workflowType") or {}),
        "startTimestamp": seen[0].get("eventTimestamp") if seen else None,
        "executionStatus": "OPEN",
        "cancelRequested": history.cancel_requested,
    }
    if started.get("tagList"):
        info["tagList"] = list(started["tagList"])
    if started.get("parentWorkflowExecution"):
        info["parent"] = dict(started["parentWorkflowExecution"])
    config = {k: started[k] for k in _CONFIGURATION if k in started}
    counts = {
        "openActivityTasks": sum(1 for a in history.activities.values() if a.is_open),
        "openDecisionTasks": 1,
        "openTimers": sum(1 for t in history.timers.values() if t.is_open),
        "openChildWorkflowExecutions": sum(1 for c in history.children.values() if c.is_open),
        "openLambdaFunctions": 0,
    }
    answer: dict[str, Any] = {"executionInfo": info, "executionConfiguration": config, "openCounts": counts}
    contexts = [raw_attrs(e).get("executionContext") for e in seen if e["eventType"] == "DecisionTaskCompleted"]
    if contexts and contexts[-1] is not None:
        answer["latestExecutionContext"] = contexts[-1]
    return answer


_CONFIGURATION = ("taskStartToCloseTimeout", "executionStartToCloseTimeout", "taskList", "taskPriority", "childPolicy", "lambdaRole")


# -- loading -----------------------------------------------------------------------------------
def _source_label(history: Any) -> str:
    if isinstance(history, str | os.PathLike) and not _is_json_text(history):
        return str(history)
    name = getattr(history, "name", None)
    return str(name) if isinstance(name, str) else "<history>"


def _is_json_text(value: Any) -> bool:
    return isinstance(value, str) and value.lstrip()[:1] in ("{", "[")


def _load(history: Any) -> list[HistoryFile]:
    if isinstance(history, bytes | bytearray):
        history = io.BytesIO(bytes(history))
    elif _is_json_text(history):
        history = io.StringIO(history)
    elif isinstance(history, tuple):
        history = list(history)
    return load_histories(history)


def _workflow_classes(workflow: type[Workflow] | Iterable[type[Workflow]]) -> list[type[Workflow]]:
    if isinstance(workflow, type):
        return [workflow]
    classes = list(workflow)
    if not classes:
        raise ValueError("no workflow class to replay with")
    return classes


def _pick_class(classes: list[type[Workflow]], workflow_type: Mapping[str, Any], label: str) -> type[Workflow]:
    name = workflow_type.get("name")
    for cls in classes:
        if cls.name == name:
            return cls
    given = ", ".join(f"{c.__name__} ({c.name})" for c in classes)
    raise ValueError(f"{label}: a history of workflow type {name!r} ({workflow_type.get('version')}), replayed with {given}")


def _domain_for(cls: type[Workflow], domain: type[Domain] | Domain | None, run: HistoryFile) -> type[Domain]:
    if isinstance(domain, Domain):
        return type(domain)
    if domain is not None:
        return domain
    found = find_domain(cls)
    return found if found is not None else named_domain(run.domain or "replay")


# -- comparing ---------------------------------------------------------------------------------
def _attrs(decision: Mapping[str, Any]) -> Mapping[str, Any]:
    kind = decision.get("decisionType", "")
    value = decision.get(kind[:1].lower() + kind[1:] + "DecisionAttributes")
    return value if isinstance(value, Mapping) else {}


def _expected_decisions(events: list[dict[str, Any]]) -> dict[int, list[dict[str, Any]]]:
    """The recorded decisions of every decision task, by its DecisionTaskCompleted event id, in order."""
    out: dict[int, list[dict[str, Any]]] = {}
    initiated = {e["eventId"] for e in events if e["eventType"].endswith("Initiated")}
    for event in events:
        attrs = raw_attrs(event)
        completed_id = attrs.get("decisionTaskCompletedEventId")
        kind = event["eventType"]
        if completed_id is None:
            continue
        if kind in _SUCCESS_EVENTS:
            out.setdefault(completed_id, []).append({"decisionType": _SUCCESS_EVENTS[kind], "event": event, "fields": None})
        elif kind in _FAILED_EVENTS:
            if attrs.get("initiatedEventId") in initiated:
                continue  # the outcome of an initiated decision, not a decision
            decision_type, fields = _FAILED_EVENTS[kind]
            out.setdefault(completed_id, []).append({"decisionType": decision_type, "event": event, "fields": fields})
    return out


def _event_value(event: Mapping[str, Any], name: str) -> Any:
    attrs = raw_attrs(event)
    if name == "workflowTypeVersion":
        return (attrs.get("workflowType") or {}).get("version")
    return attrs.get(name)


def _same(name: str, left: Any, right: Any) -> bool:
    if left == right:
        return True
    if left is None or right is None:
        return False
    if name in _PAYLOADS and isinstance(left, str) and isinstance(right, str):
        if name == "details" and left.startswith(_TRACEBACK) and right.startswith(_TRACEBACK):
            return _last_line(left) == _last_line(right)
        try:
            return bool(json.loads(left) == json.loads(right))
        except ValueError:
            return False
    if isinstance(left, int | float | str) and isinstance(right, int | float | str):
        return str(left) == str(right)
    return False


def _last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


def _fields(expected: Mapping[str, Any] | None, actual: Mapping[str, Any] | None, ignore: frozenset[str]) -> list[str]:
    """The fields compared for a recorded decision and a new one (either may be missing)."""
    source = expected or actual
    assert source is not None
    kind = source["decisionType"]
    if expected is not None and actual is not None and expected["decisionType"] != actual["decisionType"]:
        names: list[str] = list(COMPARED.get(kind, ()))
        other = COMPARED.get(actual["decisionType"], ())
        names += [n for n in other if n not in names]
    elif expected is not None and expected["fields"] is not None:
        names = list(expected["fields"])
    else:
        names = list(COMPARED.get(kind, ()))
        if actual is not None:
            set_now = _attrs(actual)
            names += [n for n in _DECISION_SETTINGS.get(kind, ()) if n in set_now]
    return [n for n in names if n not in ignore]


def _values(expected: Mapping[str, Any] | None, actual: Mapping[str, Any] | None, names: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    recorded = {n: _event_value(expected["event"], n) for n in names} if expected is not None else {}
    now = {n: _attrs(actual).get(n) for n in names} if actual is not None else {}
    return recorded, now


def _differs(task: DecisionTaskReplay, ignore: frozenset[str]) -> str | None:
    """What differs first (a short phrase), or None."""
    if task.refused_calls:
        return f"decide() called SWF ({', '.join(sorted(set(task.refused_calls)))})"
    if task.actual is None:
        raised = f" after decide() raised {_exc_text(task.raised)}" if task.raised else ""
        return f"the decider left the task unanswered{raised}"
    for index in range(max(len(task.expected), len(task.actual))):
        expected = task.expected[index] if index < len(task.expected) else None
        actual = task.actual[index] if index < len(task.actual) else None
        if expected is None:
            return f"decision {index + 1} is new: {actual and actual['decisionType']}"
        if actual is None:
            return f"decision {index + 1} ({expected['decisionType']}, event {expected['event']['eventId']}) is no longer made"
        if expected["decisionType"] != actual["decisionType"]:
            return f"decision {index + 1} is a {actual['decisionType']} now, a {expected['decisionType']} then"
        names = _fields(expected, actual, ignore)
        recorded, now = _values(expected, actual, names)
        changed = [n for n in names if not _same(n, recorded[n], now[n])]
        if changed:
            return f"decision {index + 1} ({expected['decisionType']}): {', '.join(changed)} differ{'s' if len(changed) == 1 else ''}"
    if "executionContext" not in ignore and not _same("executionContext", task.expected_context, task.actual_context):
        return "the executionContext differs"
    return None


# -- showing -----------------------------------------------------------------------------------
def _exc_text(exc: BaseException | None) -> str:
    return f"{type(exc).__name__}: {exc}" if exc is not None else ""


def _show(value: Any) -> str:
    if isinstance(value, Mapping) and set(value) <= {"name", "version"}:
        text = " ".join(str(value[k]) for k in ("name", "version") if k in value)  # a type, or a task list
    elif isinstance(value, str):
        text = value.replace("\n", "\\n")
    else:
        text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= _SHOWN else f"{text[:_SHOWN]}… ({len(text) - _SHOWN} more characters)"


def _lines(kind: str, values: Mapping[str, Any]) -> list[str]:
    out = [kind]
    for name, value in values.items():
        out.append(f"    {name}: {'(absent)' if value is None else _show(value)}")
    return out


def _diff(task: DecisionTaskReplay, ignore: frozenset[str]) -> list[str]:
    recorded_lines: list[str] = []
    now_lines: list[str] = []
    actual = task.actual or []
    for index in range(max(len(task.expected), len(actual))):
        expected = task.expected[index] if index < len(task.expected) else None
        decided = actual[index] if index < len(actual) else None
        names = _fields(expected, decided, ignore)
        recorded, now = _values(expected, decided, names)
        if expected is not None:
            recorded_lines += _lines(expected["decisionType"], recorded)
        if decided is not None:
            now_lines += _lines(decided["decisionType"], now)
    if "executionContext" not in ignore and (task.expected_context is not None or task.actual_context is not None):
        if not _same("executionContext", task.expected_context, task.actual_context):
            recorded_lines.append(f"executionContext: {_show(task.expected_context) if task.expected_context else '(absent)'}")
            if task.actual is not None:
                now_lines.append(f"executionContext: {_show(task.actual_context) if task.actual_context else '(absent)'}")
    if not recorded_lines:
        recorded_lines = ["(no decisions)"]
    if task.actual is None:
        now_lines = ["(no answer)"]
    elif not now_lines:
        now_lines = ["(no decisions)"]
    ids = [d["event"]["eventId"] for d in task.expected]
    then = "recorded then" + (f" (event {ids[0]})" if len(ids) == 1 else f" (events {ids[0]}-{ids[-1]})" if ids else "")
    diff = difflib.unified_diff(recorded_lines, now_lines, then, "decided now", n=max(len(recorded_lines), len(now_lines)), lineterm="")
    return [line for line in diff if not line.startswith("@@")]


def _message(run: RunReplay, task: DecisionTaskReplay, what: str, label: str, total: int, ignore: frozenset[str]) -> str:
    wtype = f"{run.workflow_type.get('name')} ({run.workflow_type.get('version')})"
    where = f"{run.workflow_id} (run {run.run_id})" if run.workflow_id else "(execution unknown)"
    lines = [
        f"{label}: {wtype} {where}: the decider decides differently now at decision task {task.number} of {total}: {what}",
        f"  decision task: scheduled event {task.scheduled_event_id}, started event {task.started_event_id} "
        f"at {iso(task.started_at)}, completed event {task.completed_event_id} "
        f"(the decider saw events 1-{task.started_event_id}; previousStartedEventId {task.previous_started_event_id})",
    ]
    if task.new_events:
        shown = ", ".join(f"{eid} {kind}" for eid, kind in task.new_events[:_NEW_SHOWN])
        more = f" and {len(task.new_events) - _NEW_SHOWN} more" if len(task.new_events) > _NEW_SHOWN else ""
        lines.append(f"  new to the decider: {shown}{more}")
    for decision in task.expected:
        if decision["fields"] is not None:
            event = decision["event"]
            kept = ", ".join(decision["fields"]) or "its type"
            lines.append(
                f"  recorded event {event['eventId']} {event['eventType']}: SWF refused that decision "
                f"({raw_attrs(event).get('cause')}); compared on {kept} only"
            )
    if task.raised is not None:
        lines.append(f"  decide() raised {_exc_text(task.raised)}")
    for refusal in dict.fromkeys(task.refusals):
        lines.append(f"  {refusal}")
    lines += _diff(task, ignore)
    return "\n".join(lines)


# -- replaying ---------------------------------------------------------------------------------
def _replay_run(
    run: HistoryFile,
    classes: list[type[Workflow]],
    domain: type[Domain] | Domain | None,
    execution: Mapping[str, str] | None,
    on_decider_error: str | None,
    ignore: frozenset[str],
    label: str,
    runs: Mapping[str, list[dict[str, Any]]],
) -> RunReplay:
    __tracebackhide__ = True  # pytest shows the mismatch, not this module's frames
    events = sorted(run.events, key=lambda e: e["eventId"])
    started = next((e for e in events if e["eventType"] == "WorkflowExecutionStarted"), None)
    if started is None:
        raise ValueError(f"{label}: no WorkflowExecutionStarted event: not the whole history of a run")
    workflow_type = dict(raw_attrs(started).get("workflowType") or run.workflow_type or {})
    cls = _pick_class(classes, workflow_type, label)
    domain_cls = _domain_for(cls, domain, run)
    known = dict(execution or run.execution or {})
    the_execution = known or dict(_UNKNOWN_EXECUTION)
    by_id = {e["eventId"]: e for e in events}
    completed = [e for e in events if e["eventType"] == "DecisionTaskCompleted"]
    result = RunReplay(known.get("workflowId"), known.get("runId"), workflow_type, [])
    recorded = _expected_decisions(events)
    ids = [e["eventId"] for e in events]
    previous = 0
    for number, done in enumerate(completed, 1):
        attrs = raw_attrs(done)
        started_id = int(attrs.get("startedEventId", 0))
        seen = events[: bisect.bisect_right(ids, started_id)]
        poll: dict[str, Any] = {
            "taskToken": f"replay:{started_id}",
            "startedEventId": started_id,
            "previousStartedEventId": previous,
            "workflowType": workflow_type,
            "workflowExecution": the_execution,
            "events": seen[::-1],
        }
        client = _ReplayClient(the_execution, seen, runs)
        instance = cls(domain_cls(client))
        raised: list[BaseException] = []
        original = instance.decide

        def decide(task: Any, original: Any = original, raised: list[BaseException] = raised) -> Any:
            try:
                return original(task)
            except BaseException as exc:
                raised.append(exc)
                raise

        instance.decide = decide  # type: ignore[method-assign]
        task = tasks.Decision(poll, instance)
        run_decision_task(instance, task, on_decider_error)
        response = client.responses[-1] if client.responses else None
        replayed = DecisionTaskReplay(
            number=number,
            scheduled_event_id=int(attrs.get("scheduledEventId", 0)),
            started_event_id=started_id,
            completed_event_id=done["eventId"],
            previous_started_event_id=previous,
            started_at=(by_id.get(started_id) or done).get("eventTimestamp"),
            expected=recorded.get(done["eventId"], []),
            expected_context=attrs.get("executionContext"),
            actual=list(response.get("decisions", [])) if response is not None else None,
            actual_context=response.get("executionContext") if response is not None else None,
            raised=raised[-1] if raised else None,
            refused_calls=list(client.refused),
            refusals=list(client.refusals),
            new_events=[
                (e["eventId"], e["eventType"])
                for e in seen[bisect.bisect_right(ids, previous) :]
                if e["eventType"] not in _TASK_EVENTS
            ],
        )
        result.tasks.append(replayed)
        previous = started_id
        what = _differs(replayed, ignore)
        if what is not None:
            raise ReplayMismatch(_message(result, replayed, what, label, len(completed), ignore), replayed)
    return result


def replay(
    history: Any,
    workflow: type[Workflow] | Iterable[type[Workflow]],
    *,
    domain: type[Domain] | Domain | None = None,
    execution: Mapping[str, str] | None = None,
    on_decider_error: str | None = None,
    ignore: Iterable[str] = (),
    sources: Iterable[Any] = (),
) -> ReplayResult:
    """Replay ``history`` with ``workflow``'s ``decide``; raise :class:`ReplayMismatch` at the first decision task that differs.

    ``workflow``: the Workflow class, or several (each run is replayed with
    the one whose ``name`` is the run's workflow type). ``domain``: the Domain
    class the decider runs in (its codec and types decode the payloads);
    by default the one Domain of the workflow's module that lists it, as
    ``flowser decider`` finds it. ``execution``: ``{"workflowId", "runId"}``
    for a history that does not say (raw pages); ``on_decider_error`` as for
    ``flowser decider``; ``ignore``: field names left out of the comparison
    (e.g. :data:`SETTINGS`); ``sources``: histories of other runs the
    decision task may read (a re-run's source run: see ``flowser.rerun``), in
    any accepted form. Returns what was replayed; a history that is not one
    raises ``ValueError``.
    """
    __tracebackhide__ = True
    label = _source_label(history)
    runs = _load(history)
    classes = _workflow_classes(workflow)
    ignored = frozenset(ignore)
    held = {str(r.run_id): r.events for source in sources for r in _load(source) if r.run_id}
    held.update({str(r.run_id): r.events for r in runs if r.run_id})
    replayed = []
    for run in runs:  # a loop, not a comprehension: pytest hides this frame
        replayed.append(_replay_run(run, classes, domain, execution, on_decider_error, ignored, label, held))
    return ReplayResult(label, replayed)


def history_files(path: str | os.PathLike[str]) -> list[Path]:
    """The history files under ``path`` (``*.json`` and ``*.jsonl``, in subfolders too), sorted: for ``pytest.mark.parametrize``."""
    folder = Path(path)
    if not folder.is_dir():
        raise ValueError(f"not a folder: {folder}")
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in (".json", ".jsonl"))


def replay_dir(
    path: str | os.PathLike[str],
    workflow: type[Workflow] | Iterable[type[Workflow]],
    **options: Any,
) -> list[ReplayResult]:
    """Replay every history file under ``path`` (see :func:`history_files`) with :func:`replay`'s ``options``.

    Every file is replayed; then, if any failed, one :class:`ReplayMismatch`
    lists each failed file with its error (``failures`` holds them). A folder
    with no history file raises ``ValueError``.
    """
    __tracebackhide__ = True
    files = history_files(path)
    if not files:
        raise ValueError(f"no history files (*.json, *.jsonl) under {path}")
    classes = _workflow_classes(workflow)
    results: list[ReplayResult] = []
    failures: list[tuple[str, BaseException]] = []
    for file in files:
        try:
            results.append(replay(file, classes, **options))
        except (ReplayMismatch, ValueError) as exc:
            failures.append((str(file), exc))
    if failures:
        head = f"{len(failures)} of {len(files)} histories under {path} do not replay:"
        body = "\n\n".join(f"{file}:\n{exc}" if not isinstance(exc, ReplayMismatch) else str(exc) for file, exc in failures)
        raise ReplayMismatch(f"{head}\n\n{body}", failures=failures)
    return results
