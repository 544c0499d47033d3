"""Tasks and executions (flowser 0.1's ``flowser.tasks``).

``Decision`` wraps a ``PollForDecisionTask`` answer (history newest first,
as 0.1 assumed), ``Activity`` a ``PollForActivityTask`` answer, and
``WorkflowExecution`` a ``{workflowId, runId}``. Methods that add decisions
return ``self`` so they chain; ``complete``/``fail``/``cancel`` respond.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import threading
import time
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from . import rerun, retry, serializing
from .decisions import CLOSE_DECISIONS, build
from .events import ActivityType, Event, WorkflowType
from .exceptions import Error, LastPage, Timeout, is_fault
from .history import History, TypedDecoder
from .types import Duration, duration

if TYPE_CHECKING:
    from .domain import Domain

__all__ = ["Activity", "ActivityType", "Decision", "Event", "WorkflowExecution", "WorkflowType", "truncate"]

log = logging.getLogger("flowser.tasks")

# SWF's limits, in characters
REASON_LIMIT = 256
DETAILS_LIMIT = 32_768
HEARTBEAT_DETAILS_LIMIT = 2_048


def truncate(text: str | None, limit: int) -> str | None:
    """``text`` cut to ``limit`` characters, keeping its start and its end (a traceback's last line)."""
    if text is None or len(text) <= limit:
        return text
    marker = f"\n...[{len(text) - limit} characters cut]...\n"
    if limit <= len(marker) + 2:
        return text[:limit]
    keep = limit - len(marker)
    head = keep // 3
    return text[:head] + marker + text[len(text) - (keep - head) :]


def _domain_of(caller: Any) -> Domain:
    return getattr(caller, "_domain", caller)


def _text(value: Any, codec: serializing.Codec) -> str | None:
    """Details/reasons: strings as they are (as in 0.1), anything else encoded."""
    if value is None or isinstance(value, str):
        return value
    return serializing.encode(value, codec)


def _responded(name: str) -> Any:
    """Mark a task closed once a respond call succeeded (``lost`` once SWF refused it as unknown)."""

    def deco(fn: Any) -> Any:
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                result = fn(self, *args, **kwargs)
            except Exception as exc:
                if is_fault(exc, "UnknownResourceFault"):
                    self.lost = True  # timed out, or the run closed: SWF refuses the answer
                raise
            self.closed = True
            self.outcome = name
            return result

        wrapper.__name__ = fn.__name__
        wrapper.__doc__ = fn.__doc__
        return wrapper

    return deco


class WorkflowExecution:
    """Wrapper for SWF's WorkflowExecution (``{workflowId, runId}``)."""

    def __init__(self, result: Mapping[str, Any], caller: Any, workflow_type: Any = None) -> None:
        self.workflow_id: str = result["workflowId"]
        self.run_id: str | None = result.get("runId")
        self._caller = caller
        self._domain = _domain_of(caller)
        self.workflow_type = workflow_type
        """The ``types.Workflow`` subclass, when known (for decoding results)."""
        self.followed: list[str] = []
        """The runIds ``result()`` followed through continue-as-new, in order."""
        self.rerun_of: dict[str, str] | None = None
        """For a run ``Domain.rerun`` started: ``{workflowId, runId}`` of the run it re-runs."""
        self._closed_history: History | None = None

    @property
    def _conn(self) -> Any:
        return self._domain.conn

    def __str__(self) -> str:
        return f"run_id({self.run_id}) workflow_id({self.workflow_id})"

    def __repr__(self) -> str:
        return f"<WorkflowExecution {self.workflow_id} {self.run_id}>"

    def __getitem__(self, key: str) -> Any:
        """As 0.1's ``Domain.start`` returned boto's dict: ``execution["runId"]``."""
        return self.to_dict()[key]

    def to_dict(self) -> dict[str, str]:
        out = {"workflowId": self.workflow_id}
        if self.run_id:
            out["runId"] = self.run_id
        return out

    def _target(self) -> dict[str, Any]:
        return {"domain": self._domain.name, **self.to_dict()}

    def _resolve_run_id(self) -> str:
        """The runId; without one, that of the open run of the workflowId, else of its latest closed run."""
        if self.run_id:
            return self.run_id
        since = {"oldestDate": dt.datetime(1970, 1, 2, tzinfo=dt.UTC)}
        for method in ("list_open_workflow_executions", "list_closed_workflow_executions"):
            infos = getattr(self._conn, method)(
                domain=self._domain.name, startTimeFilter=since, executionFilter={"workflowId": self.workflow_id}
            ).get("executionInfos", [])
            infos = [info for info in infos if info["execution"]["workflowId"] == self.workflow_id]  # moto ignores the filter
            if infos:
                # the latest start; of runs started together, the end of a continue-as-new chain
                latest = max(infos, key=lambda info: (info["startTimestamp"], info.get("closeStatus") != "CONTINUED_AS_NEW"))
                self.run_id = str(latest["execution"]["runId"])
                return self.run_id
        raise Error(f"no execution with workflowId {self.workflow_id!r} in domain {self._domain.name!r}")

    # -- 0.1 -----------------------------------------------------------------------------
    def complete(self, result: Any = None, context: Any = None) -> Any:
        """Complete the workflow execution and respond to the decision task (decision tasks only)."""
        if not isinstance(self._caller, Decision):
            raise TypeError("WorkflowExecution.complete is only valid on a decision task's execution")
        self._caller.complete_workflow(result)
        return self._caller.complete(context)

    def signal(self, name: str, input: Any = None) -> Any:
        kwargs = {**self._target(), "signalName": name}
        if input is not None:
            kwargs["input"] = serializing.encode(input, self._domain.codec)
        return self._conn.signal_workflow_execution(**kwargs)

    def request_cancel(self) -> Any:
        return self._conn.request_cancel_workflow_execution(**self._target())

    def _terminate(self, child_policy: str, details: Any, reason: str | None) -> Any:
        kwargs = {**self._target(), "childPolicy": child_policy}
        if details is not None:
            kwargs["details"] = truncate(_text(details, self._domain.codec), DETAILS_LIMIT)
        if reason is not None:
            kwargs["reason"] = truncate(reason, REASON_LIMIT)
        return self._conn.terminate_workflow_execution(**kwargs)

    def terminate(self, details: Any = None, reason: str | None = None) -> Any:
        return self._terminate("TERMINATE", details, reason)

    def abandon(self, details: Any = None, reason: str | None = None) -> Any:
        return self._terminate("ABANDON", details, reason)

    def terminate_request_cancel(self, details: Any = None, reason: str | None = None) -> Any:
        return self._terminate("REQUEST_CANCEL", details, reason)

    # -- beyond 0.1 ----------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        """``DescribeWorkflowExecution`` (needs the runId)."""
        self._resolve_run_id()
        result: dict[str, Any] = self._conn.describe_workflow_execution(
            domain=self._domain.name, execution=self.to_dict()
        )
        return result

    def is_closed(self) -> bool:
        return self.describe()["executionInfo"]["executionStatus"] == "CLOSED"

    def history(self) -> History:
        """The whole history, oldest first, typed (every page fetched)."""
        self._resolve_run_id()
        events: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"domain": self._domain.name, "execution": self.to_dict()}
            if token:
                kwargs["nextPageToken"] = token
            page = self._conn.get_workflow_execution_history(**kwargs)
            events.extend(page.get("events", []))
            token = page.get("nextPageToken")
            if not token:
                break
        decoder = TypedDecoder(self._domain, workflow_type=self._workflow_type_dict(events))
        return History.of(events, decoder)

    def _workflow_type_dict(self, events: list[dict[str, Any]]) -> Mapping[str, Any] | None:
        for event in events:
            if event.get("eventType") == "WorkflowExecutionStarted":
                wtype: Mapping[str, Any] = event["workflowExecutionStartedEventAttributes"]["workflowType"]
                return wtype
        if self.workflow_type is not None:
            return self.workflow_type.type_dict()
        return None

    def wait(self, timeout: float = 60.0, interval: float = 0.05) -> History:
        """Block until the run closes (real time); return its history. Raises ``Timeout``."""
        give_up = time.monotonic() + timeout
        while not self.is_closed():
            if time.monotonic() > give_up:
                raise Timeout(f"{self} still open after {timeout} s")
            time.sleep(interval)
        return self.closed_history() or self.history()

    def closed_history(self) -> History | None:
        """The history once the run has closed, else None (a closed run's history never changes: it is kept)."""
        if self._closed_history is None:
            history = self.history()
            if history.closed is None:
                return None
            self._closed_history = history
        return self._closed_history

    @property
    def close_status(self) -> str | None:
        """``"COMPLETED"``, ``"FAILED"``... once closed, else None (reads the history until the run closes)."""
        history = self.closed_history()
        return history.close_status if history is not None else None

    @property
    def close_reason(self) -> str | None:
        """The reason the run closed with (FAILED, TERMINATED), else None."""
        history = self.closed_history()
        return history.close_reason if history is not None else None

    @property
    def close_details(self) -> Any:
        """The details the run closed with (FAILED, CANCELED, TERMINATED), decoded leniently, else None."""
        history = self.closed_history()
        return history.close_details if history is not None else None

    def result(self, timeout: float = 60.0, *, follow: bool | int = True) -> Any:
        """Wait for the run to close and return its decoded result (None if it completed with none).

        A run that closed otherwise raises ``exceptions.WorkflowFailed``,
        ``WorkflowTimedOut``, ``WorkflowCanceled`` or ``WorkflowTerminated``
        (all ``WorkflowExecutionError``s, with reason, details and history).
        A run that continued as new is followed to its new run (logged at
        INFO; the runIds are added to ``followed``), at most ``follow`` times
        (``True``: any number, ``False``/``0``: never); then
        ``WorkflowContinuedAsNew`` says where it stopped. ``timeout`` (real
        seconds) covers the whole chain; past it ``exceptions.Timeout``.
        """
        give_up = time.monotonic() + timeout
        limit = None if follow is True else int(follow)
        run: WorkflowExecution = self
        while True:
            try:
                history = run.wait(max(0.0, give_up - time.monotonic()))
            except Timeout:
                chain = f" (having followed {len(self.followed)} continue-as-new)" if self.followed else ""
                raise Timeout(f"{run} still open after {timeout} s{chain}") from None
            status = history.close_status
            if status == "COMPLETED":
                return history.result
            if status == "CONTINUED_AS_NEW" and (limit is None or len(self.followed) < limit):
                new = WorkflowExecution(
                    {"workflowId": run.workflow_id, "runId": history.new_run_id}, self._caller, workflow_type=self.workflow_type
                )
                log.info("%s continued as new run %s: following it", run, new.run_id)
                self.followed.append(str(new.run_id))
                run = new
                continue
            note = None
            if status == "CONTINUED_AS_NEW":
                note = f"stopped following after {len(self.followed)} run(s) (follow={follow!r})"
            error = history.close_error(run.workflow_id, run.run_id, note)
            if error is None:  # pragma: no cover - every close status but COMPLETED has its exception
                raise Error(f"{run} closed {status}")
            raise error


class Decision:
    """Wrapper for ``PollForDecisionTask`` results; history events are newest first."""

    def __init__(self, result: Mapping[str, Any], caller: Any) -> None:
        self._caller = caller
        self._domain = _domain_of(caller)
        self._decisions: list[dict[str, Any]] = []
        self._events: list[Mapping[str, Any]] = list(result.get("events", []))
        self._event_objects: list[Event] = []
        self._by_id: dict[int, Event] = {}
        self._start_input: Any = None
        self._has_start_input = False
        self._history: History | None = None
        self._rerun: rerun.Prepared | None = None
        self.next_page_token: str | None = result.get("nextPageToken")
        self.previous_started_event_id: int = result.get("previousStartedEventId", 0)
        self.started_event_id: int = result.get("startedEventId", 0)
        self.task_token: str = result["taskToken"]
        self.workflow_type = WorkflowType(result["workflowType"])
        self.workflow_execution = WorkflowExecution(
            result["workflowExecution"], self, workflow_type=type(caller) if hasattr(caller, "decide") else None
        )
        self._decoder = TypedDecoder(self._domain, workflow_type=result["workflowType"], lookup=self._lookup)
        self.closed = False
        self.outcome: str | None = None
        self.lost = False
        """Set when SWF refused the answer as unknown (the task timed out, or the run closed)."""

    @property
    def _conn(self) -> Any:
        return self._domain.conn

    def __repr__(self) -> str:
        return f"<Decision {self.workflow_type} {self.workflow_execution.workflow_id} started({self.started_event_id})>"

    # -- history ---------------------------------------------------------------------------
    def _event(self, index: int) -> Event:
        while len(self._event_objects) <= index:
            event = Event(self._events[len(self._event_objects)], self._decoder)
            self._event_objects.append(event)
            self._by_id[event.id] = event
        return self._event_objects[index]

    def _next_page(self) -> None:
        if self.next_page_token is None:
            raise LastPage()
        result = self._caller._poll_for_decision_task(next_page_token=self.next_page_token, reverse_order=True)
        self._events.extend(result.get("events", []))
        self.next_page_token = result.get("nextPageToken")

    @property
    def events(self) -> Iterator[Event]:
        """Every event, newest first; further pages are fetched as the iteration reaches them."""
        index = 0
        while True:
            while index < len(self._events):
                yield self._event(index)
                index += 1
            try:
                self._next_page()
            except LastPage:
                return

    def _lookup(self, event_id: int) -> Event | None:
        if event_id in self._by_id:
            return self._by_id[event_id]
        for event in self.events:
            if event.id == event_id:
                return event
            if event.id < event_id:
                return None
        return None

    def filter(self, event_type: str) -> list[Event]:
        """Events of ``event_type``, newest first (a list, as in 0.1 on Python 2)."""
        return [ev for ev in self.events if ev.type == event_type]

    def most_recent(self, event_type: str) -> Event | None:
        """The newest event of ``event_type``, or None."""
        for ev in self.events:
            if ev.type == event_type:
                return ev
        return None

    @property
    def start_input(self) -> Any:
        """The execution's input (decoded; None if it had none). Cached."""
        if not self._has_start_input:
            started = self.most_recent("WorkflowExecutionStarted")
            self._start_input = started.input if started is not None else None
            self._has_start_input = True
        return self._start_input

    @property
    def new_events(self) -> list[Event]:
        """Events since the previous decision task was started, newest first."""
        out = []
        for ev in self.events:
            if ev.id <= self.previous_started_event_id:
                break
            out.append(ev)
        return out

    @property
    def history(self) -> History:
        """The whole history, typed (oldest first). Cached.

        Retried activities and children show as one record each
        (``flowser.retry``). On a re-run's first decision task the results it
        reuses are already there, COMPLETED (``flowser.rerun``: read from the
        source run once, then recorded as markers when the task is answered).
        """
        if self._history is None:
            history = History.of(list(self.events), self._decoder)
            self._rerun = rerun.prepare(self, history)
            self._history = history
        return self._history

    def response_decisions(self) -> list[dict[str, Any]]:
        """The decisions ``complete()`` sends: the framework's, then the ones added.

        The framework's are a re-run's ``flowser.reused`` / ``flowser.rerun``
        markers (its first decision task) and, unless a close decision was
        added, the backoff timers and next attempts of retries. A
        ScheduleActivityTask or StartChildWorkflowExecution of an id a re-run
        reuses is dropped; a cancellation of a retried id goes to its current
        attempt (or cancels its backoff timer).
        """
        history = self.history
        added = retry.redirect(list(self._decisions), history)
        framework: list[dict[str, Any]] = []
        if self._rerun is not None:
            framework.extend(self._rerun.decisions)
            added = rerun.drop_reused(added, self._rerun)
        if not self.closes_workflow:
            framework.extend(retry.next_decisions(history))
        return framework + added

    @property
    def decisions(self) -> list[dict[str, Any]]:
        """The decisions added so far."""
        return list(self._decisions)

    # -- decisions (chain) -----------------------------------------------------------------
    def _add(self, decision: dict[str, Any]) -> Decision:
        self._decisions.append(decision)
        return self

    def mark(self, name: str, details: Any = None) -> Decision:
        """Adds a RecordMarker decision (``details`` only if truthy, as in 0.1)."""
        return self._add(build("RecordMarker", markerName=name, details=_text(details, self._domain.codec) if details else None))

    def schedule(self, activity_type: Any, *args: Any, **kwargs: Any) -> Decision:
        """Schedule an activity: ``activity_type.schedule(*args, **kwargs)``."""
        return self._add(activity_type.schedule(*args, **kwargs))

    def start_child(self, workflow_type: Any, *args: Any, **kwargs: Any) -> Decision:
        """Start a child workflow: ``workflow_type.start_child(*args, **kwargs)``."""
        return self._add(workflow_type.start_child(*args, **kwargs))

    def start_timer(self, timer_id: str, start_to_fire_timeout: Duration, control: Any = None) -> Decision:
        control_text = None if control is None else serializing.encode(control, self._domain.codec)
        return self._add(
            build("StartTimer", timerId=timer_id, startToFireTimeout=duration(start_to_fire_timeout), control=control_text)
        )

    def cancel_timer(self, timer_id: str) -> Decision:
        return self._add(build("CancelTimer", timerId=timer_id))

    def request_cancel_activity(self, activity_id: str) -> Decision:
        return self._add(build("RequestCancelActivityTask", activityId=activity_id))

    @staticmethod
    def _execution_ids(workflow_id: Any, run_id: str | None) -> tuple[str, str | None]:
        if isinstance(workflow_id, WorkflowExecution):
            return workflow_id.workflow_id, run_id or workflow_id.run_id
        return str(workflow_id), run_id

    def signal_external(
        self, workflow_id: Any, name: str, input: Any = None, run_id: str | None = None, control: Any = None
    ) -> Decision:
        """Signal another execution (``workflow_id`` may be a WorkflowExecution)."""
        wid, rid = self._execution_ids(workflow_id, run_id)
        codec = self._domain.codec
        return self._add(
            build(
                "SignalExternalWorkflowExecution",
                workflowId=wid,
                runId=rid,
                signalName=name,
                input=None if input is None else serializing.encode(input, codec),
                control=None if control is None else serializing.encode(control, codec),
            )
        )

    def request_cancel_external(self, workflow_id: Any, run_id: str | None = None, control: Any = None) -> Decision:
        wid, rid = self._execution_ids(workflow_id, run_id)
        control_text = None if control is None else serializing.encode(control, self._domain.codec)
        return self._add(build("RequestCancelExternalWorkflowExecution", workflowId=wid, runId=rid, control=control_text))

    def complete_workflow(self, result: Any = None) -> Decision:
        """Add CompleteWorkflowExecution (then ``complete()`` to respond)."""
        cls = self._workflow_class()
        text = None if result is None else (cls.encode_result(result) if cls else serializing.encode(result, self._domain.codec))
        return self._add(build("CompleteWorkflowExecution", result=text))

    def fail_workflow(self, details: Any = None, reason: str | None = None) -> Decision:
        """Add FailWorkflowExecution (then ``complete()`` to respond)."""
        return self._add(
            build(
                "FailWorkflowExecution",
                reason=truncate(reason, REASON_LIMIT),
                details=truncate(_text(details, self._domain.codec), DETAILS_LIMIT),
            )
        )

    def cancel_workflow(self, details: Any = None) -> Decision:
        """Add CancelWorkflowExecution (then ``complete()`` to respond)."""
        return self._add(
            build("CancelWorkflowExecution", details=truncate(_text(details, self._domain.codec), DETAILS_LIMIT))
        )

    def continue_as_new(self, input: Any = None, *, workflow_type_version: str | None = None, **overrides: Any) -> Decision:
        """Add ContinueAsNewWorkflowExecution: a new run of this workflow with ``input``.

        Settings are the workflow class's attributes unless overridden
        (``task_list=``, ``execution_start_to_close_timeout=``, ``tag_list=``...).
        """
        cls = self._workflow_class()
        settings = cls._run_settings(**overrides) if cls else {}
        text = None if input is None else (cls.encode_input(input) if cls else serializing.encode(input, self._domain.codec))
        return self._add(
            build("ContinueAsNewWorkflowExecution", input=text, workflowTypeVersion=workflow_type_version, **settings)
        )

    def _workflow_class(self) -> Any:
        cls = type(self._caller)
        if hasattr(cls, "_run_settings"):
            return cls
        return self._domain.type_for("workflow", self.workflow_type.name, self.workflow_type.version)

    # -- responding ------------------------------------------------------------------------
    @_responded("completed")
    def complete(self, context: Any = None) -> Any:
        """Respond with the decisions added so far (``RespondDecisionTaskCompleted``), and the framework's
        (see :meth:`response_decisions`)."""
        kwargs: dict[str, Any] = {"taskToken": self.task_token, "decisions": self.response_decisions()}
        if context is not None:
            kwargs["executionContext"] = serializing.encode(context, self._domain.codec)
        return self._conn.respond_decision_task_completed(**kwargs)

    @_responded("failed")
    def fail(self, details: Any = None, reason: str | None = None) -> Any:
        """Fail the workflow execution: respond with just a FailWorkflowExecution decision.

        SWF has no "decision task failed" call (0.1 called one that does not
        exist). This closes the run as FAILED with ``reason``/``details``
        (cut to SWF's limits); decisions added before are dropped.
        """
        self._decisions = []
        self.fail_workflow(details, reason)
        return self._conn.respond_decision_task_completed(taskToken=self.task_token, decisions=self._decisions)

    @property
    def closes_workflow(self) -> bool:
        """True if a close decision (complete/fail/cancel/continue-as-new) was added."""
        return any(d["decisionType"] in CLOSE_DECISIONS for d in self._decisions)


class Activity:
    """Wrapper for ``PollForActivityTask`` results."""

    def __init__(self, result: Mapping[str, Any], caller: Any) -> None:
        self._caller = caller
        self._domain = _domain_of(caller)
        self._result = result
        self.activity_id: str = result["activityId"]
        self.activity_type = ActivityType(result["activityType"])
        self.started_event_id: int = result.get("startedEventId", 0)
        self.task_token: str = result["taskToken"]
        self.workflow_execution = WorkflowExecution(result["workflowExecution"], self)
        self.raw_input: str | None = result.get("input")
        self.closed = False
        self.outcome: str | None = None
        self.cancel_requested = False
        self.lost = False
        """Set when a heartbeat or an answer learns that SWF no longer knows the task (timed out, run closed)."""
        self._input: Any = None
        self._has_input = False
        self._heartbeat_details: Any = None
        self._lock = threading.Lock()

    @property
    def _conn(self) -> Any:
        return self._domain.conn

    def __repr__(self) -> str:
        return f"<Activity {self.activity_type} {self.activity_id} of {self.workflow_execution.workflow_id}>"

    @property
    def raw(self) -> Mapping[str, Any]:
        """The poll answer."""
        return self._result

    def _type_class(self) -> Any:
        cls = type(self._caller)
        if hasattr(cls, "decode_input"):
            return cls
        return self._domain.type_for("activity", self.activity_type.name, self.activity_type.version)

    @property
    def input(self) -> Any:
        """The decoded input (None when the activity was scheduled without one)."""
        if not self._has_input:
            cls = self._type_class()
            self._input = cls.decode_input(self.raw_input) if cls else serializing.decode(self.raw_input, self._domain.codec)
            self._has_input = True
        return self._input

    @_responded("completed")
    def complete(self, result: Any = None) -> Any:
        kwargs: dict[str, Any] = {"taskToken": self.task_token}
        if result is not None:
            cls = self._type_class()
            kwargs["result"] = cls.encode_result(result) if cls else serializing.encode(result, self._domain.codec)
        return self._conn.respond_activity_task_completed(**kwargs)

    @_responded("failed")
    def fail(self, details: Any = None, reason: str | None = None) -> Any:
        kwargs: dict[str, Any] = {"taskToken": self.task_token}
        if details is not None:
            kwargs["details"] = truncate(_text(details, self._domain.codec), DETAILS_LIMIT)
        if reason is not None:
            kwargs["reason"] = truncate(reason, REASON_LIMIT)
        return self._conn.respond_activity_task_failed(**kwargs)

    @_responded("canceled")
    def cancel(self, details: Any = None) -> Any:
        kwargs: dict[str, Any] = {"taskToken": self.task_token}
        if details is not None:
            kwargs["details"] = truncate(_text(details, self._domain.codec), DETAILS_LIMIT)
        return self._conn.respond_activity_task_canceled(**kwargs)

    def heartbeat(self, details: Any = None) -> bool:
        """Record a heartbeat; returns True once cancellation was requested (also ``self.cancel_requested``)."""
        kwargs: dict[str, Any] = {"taskToken": self.task_token}
        if details is not None:
            self._heartbeat_details = details
            kwargs["details"] = truncate(_text(details, self._domain.codec), HEARTBEAT_DETAILS_LIMIT)
        answer = self._conn.record_activity_task_heartbeat(**kwargs)
        if answer.get("cancelRequested"):
            self.cancel_requested = True
        return bool(answer.get("cancelRequested"))

    @contextlib.contextmanager
    def heartbeating(self, interval: float | None) -> Iterator[Activity]:
        """Heartbeat every ``interval`` seconds (repeating the last details) while the block runs."""
        if not interval:
            yield self
            return
        stop = threading.Event()

        def beat() -> None:
            while not stop.wait(interval):
                if self.closed:
                    return
                try:
                    self.heartbeat(self._heartbeat_details)
                except Exception as exc:
                    if is_fault(exc, "UnknownResourceFault"):
                        self.lost = True
                        log.warning("heartbeat: task %s is no longer known to SWF (%s)", self.activity_id, exc)
                        return
                    log.warning("heartbeat for %s failed: %s", self.activity_id, exc)

        thread = threading.Thread(target=beat, name=f"heartbeat-{self.activity_id}", daemon=True)
        thread.start()
        try:
            yield self
        finally:
            stop.set()
            thread.join(timeout=5)
