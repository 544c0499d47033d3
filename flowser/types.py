"""Workflow and activity types (flowser 0.1's ``flowser.types``).

Subclasses set ``name``, ``version`` and ``task_list`` and implement
``get_id_from_input`` (the workflowId / activityId of an input). The class
attributes are the type's settings: they are sent with every start and
schedule, as in 0.1, and -- new -- registered as the type's defaults, so
executions started by other clients (the console, another SDK) work too.

Durations may be strings (SWF's wire form, ``"NONE"`` for none), ints
(seconds) or ``timedelta``s.

To run under ``flowser worker`` / ``flowser decider``, an activity implements
``run(self, input) -> result`` (or overrides ``handle(self, task)``) and a
workflow implements ``decide(self, task)``.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import threading
from typing import TYPE_CHECKING, Any, ClassVar

from . import serializing
from .decisions import build
from .exceptions import EmptyTaskPollResult, Error, is_fault
from .retry import RetryPolicy, check_id, wrap

if TYPE_CHECKING:
    from .domain import Domain
    from .tasks import Activity as ActivityTask
    from .tasks import Decision

ONE_HOUR = 3600
ONE_DAY = 86400

Duration = str | int | float | dt.timedelta | None


def duration(value: Duration) -> str | None:
    """A duration in SWF's wire form (a string of whole seconds or ``"NONE"``); None stays None."""
    if value is None:
        return None
    if isinstance(value, dt.timedelta):
        return str(int(value.total_seconds()))
    if isinstance(value, bool):
        raise TypeError(f"not a duration: {value!r}")
    if isinstance(value, int | float):
        return str(int(value))
    return str(value)


def seconds(value: Duration) -> float | None:
    """A duration in seconds; None for ``"NONE"`` or unset."""
    text = duration(value)
    if text is None or text == "NONE":
        return None
    return float(text)


def _pick(value: Any, default: Any) -> Any:
    return default if value is None else value


def _priority(value: Any) -> str | None:
    return None if value is None else str(int(value))


def _raise_if_empty_poll_result(result: dict[str, Any]) -> None:
    """An empty poll has no ``taskToken``, or an empty one (both forms occur)."""
    if not result.get("taskToken"):
        raise EmptyTaskPollResult()


def default_identity() -> str:
    """``host:pid:thread`` (SWF's identity field, at most 256 characters)."""
    return f"{socket.gethostname()}:{os.getpid()}:{threading.current_thread().name}"[:256]


def _control(logical_id: str, control: str | None, policy: RetryPolicy | None) -> str | None:
    """The control to send: the caller's, wrapped with attempt 1's retry state when there is a policy."""
    if policy is None:
        return control
    check_id(logical_id, policy)
    return wrap(logical_id, 1, policy, control)


class Type:
    """Base class for Simple Workflow types (activities, workflows)."""

    name: ClassVar[str | None] = None
    version: ClassVar[str | None] = None
    task_list: ClassVar[str | None] = None
    description: ClassVar[str | None] = None
    task_priority: ClassVar[int | str | None] = None
    codec: ClassVar[serializing.Codec] = serializing.JSON
    """How this type's inputs, results and controls are encoded."""
    input_model: ClassVar[Any] = None
    """Optional pydantic-validatable type of the input (a BaseModel subclass, ``list[int]``...)."""
    result_model: ClassVar[Any] = None
    """Optional pydantic-validatable type of the result."""
    register_defaults: ClassVar[bool] = True
    """Register the class attributes as the type's defaults (task list, timeouts...)."""

    _reg_func_name: ClassVar[str | None] = None
    kind: ClassVar[str] = ""

    def __init__(self, domain: Domain) -> None:
        for prop in ("name", "version", "task_list"):
            if getattr(self, prop, None) is None:
                raise Error(prop)
        self._domain = domain
        self._conn = domain.conn

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} ({self.version})>"

    @staticmethod
    def get_id_from_input(input: Any) -> str:
        """The unique workflow or activity id for ``input``; subclasses implement it."""
        raise NotImplementedError("set get_id_from_input on the type, or pass an explicit id")

    # -- payloads -------------------------------------------------------------------------
    @classmethod
    def encode_input(cls, value: Any) -> str:
        return serializing.encode(value, cls.codec, cls.input_model)

    @classmethod
    def decode_input(cls, text: str | None) -> Any:
        return serializing.decode(text, cls.codec, cls.input_model)

    @classmethod
    def encode_result(cls, value: Any) -> str:
        return serializing.encode(value, cls.codec, cls.result_model)

    @classmethod
    def decode_result(cls, text: str | None) -> Any:
        return serializing.decode(text, cls.codec, cls.result_model)

    @classmethod
    def encode_control(cls, value: Any) -> str | None:
        return None if value is None else serializing.encode(value, cls.codec)

    @classmethod
    def type_dict(cls) -> dict[str, str]:
        return {"name": str(cls.name), "version": str(cls.version)}

    # -- registration ---------------------------------------------------------------------
    def _defaults(self) -> dict[str, Any]:
        return {}

    def _register(self, raise_exists: bool = False) -> None:
        kwargs: dict[str, Any] = {"domain": self._domain.name, "name": self.name, "version": self.version}
        if self.description:
            kwargs["description"] = self.description
        if self.register_defaults:
            kwargs.update({k: v for k, v in self._defaults().items() if v is not None})
        try:
            getattr(self._conn, str(self._reg_func_name))(**kwargs)
        except Exception as exc:
            if not is_fault(exc, "TypeAlreadyExistsFault"):
                raise
            if raise_exists:
                raise Error(self) from exc

    # -- polling --------------------------------------------------------------------------
    def _poll_for_activity_task(self, identity: str | None = None) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"domain": self._domain.name, "taskList": {"name": self.task_list}}
        if identity:
            kwargs["identity"] = identity
        result: dict[str, Any] = self._conn.poll_for_activity_task(**kwargs)
        _raise_if_empty_poll_result(result)
        return result

    def _poll_for_decision_task(
        self,
        identity: str | None = None,
        maximum_page_size: int | None = None,
        next_page_token: str | None = None,
        reverse_order: bool | None = None,
    ) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"domain": self._domain.name, "taskList": {"name": self.task_list}}
        if identity:
            kwargs["identity"] = identity
        if maximum_page_size is not None:
            kwargs["maximumPageSize"] = maximum_page_size
        if next_page_token is not None:
            kwargs["nextPageToken"] = next_page_token
        if reverse_order is not None:
            kwargs["reverseOrder"] = reverse_order
        result: dict[str, Any] = self._conn.poll_for_decision_task(**kwargs)
        _raise_if_empty_poll_result(result)
        return result


class Activity(Type):
    """Base class for activity types."""

    heartbeat_timeout: ClassVar[Duration] = str(ONE_HOUR)
    schedule_to_close_timeout: ClassVar[Duration] = str(ONE_HOUR)
    schedule_to_start_timeout: ClassVar[Duration] = str(ONE_HOUR)
    start_to_close_timeout: ClassVar[Duration] = str(ONE_HOUR)
    retry_policy: ClassVar[RetryPolicy | None] = None
    """Try a failed or timed-out task again, after a backoff (``flowser.retry``); None: never."""
    auto_heartbeat: ClassVar[bool | float] = True
    """Workers heartbeat for the handler while it runs: True = every third of
    ``heartbeat_timeout`` (when it is set), a number = every that many seconds,
    False = never (the handler calls ``task.heartbeat()`` itself)."""

    _reg_func_name = "register_activity_type"
    kind = "activity"

    task: ActivityTask | None = None
    """The task being handled (set by workers before ``handle``)."""

    def _defaults(self) -> dict[str, Any]:
        return {
            "defaultTaskList": {"name": self.task_list},
            "defaultTaskHeartbeatTimeout": duration(self.heartbeat_timeout),
            "defaultTaskScheduleToCloseTimeout": duration(self.schedule_to_close_timeout),
            "defaultTaskScheduleToStartTimeout": duration(self.schedule_to_start_timeout),
            "defaultTaskStartToCloseTimeout": duration(self.start_to_close_timeout),
            "defaultTaskPriority": _priority(self.task_priority),
        }

    @classmethod
    def heartbeat_interval(cls) -> float | None:
        """Seconds between automatic heartbeats, or None for none."""
        if cls.auto_heartbeat is False:
            return None
        if cls.auto_heartbeat is not True:
            return float(cls.auto_heartbeat)
        timeout = seconds(cls.heartbeat_timeout)
        return None if timeout is None else max(timeout / 3.0, 0.05)

    @classmethod
    def schedule(
        cls,
        input: Any = None,
        control: Any = None,
        *,
        activity_id: str | None = None,
        task_list: str | None = None,
        task_priority: int | str | None = None,
        heartbeat_timeout: Duration = None,
        schedule_to_close_timeout: Duration = None,
        schedule_to_start_timeout: Duration = None,
        start_to_close_timeout: Duration = None,
        retry_policy: RetryPolicy | None = None,
    ) -> dict[str, Any]:
        """A ``ScheduleActivityTask`` decision for ``input`` (its id from ``get_id_from_input``).

        With a ``retry_policy`` (this call's, else the class's) the control
        carries the policy, and a failed attempt is followed by the next one
        (``flowser.retry``).
        """
        activity_id = activity_id if activity_id is not None else cls.get_id_from_input(input)
        return build(
            "ScheduleActivityTask",
            activityId=activity_id,
            activityType=cls.type_dict(),
            taskList={"name": task_list or cls.task_list},
            input=None if input is None else cls.encode_input(input),
            control=_control(activity_id, cls.encode_control(control), retry_policy or cls.retry_policy),
            heartbeatTimeout=duration(_pick(heartbeat_timeout, cls.heartbeat_timeout)),
            scheduleToCloseTimeout=duration(_pick(schedule_to_close_timeout, cls.schedule_to_close_timeout)),
            scheduleToStartTimeout=duration(_pick(schedule_to_start_timeout, cls.schedule_to_start_timeout)),
            startToCloseTimeout=duration(_pick(start_to_close_timeout, cls.start_to_close_timeout)),
            taskPriority=_priority(_pick(task_priority, cls.task_priority)),
        )

    # -- running (flowser worker) ---------------------------------------------------------
    def run(self, input: Any) -> Any:
        """Compute the result for ``input``; ``self.task`` is the task (for heartbeats)."""
        raise NotImplementedError(f"{type(self).__name__} implements neither run() nor handle()")

    def handle(self, task: ActivityTask) -> None:
        """Handle one task: by default ``run(task.input)``, then complete with its return value.

        If ``run`` already responded (``task.complete/fail/cancel``) nothing more is sent.
        """
        self.task = task
        result = self.run(task.input)
        if not task.closed:
            task.complete(result)


class Workflow(Type):
    """Base class for workflow types."""

    execution_start_to_close_timeout: ClassVar[Duration] = "600"
    task_start_to_close_timeout: ClassVar[Duration] = "120"
    child_policy: ClassVar[str] = "TERMINATE"
    default_filter_tag: ClassVar[str | None] = None
    default_tag_list: ClassVar[list[str] | None] = None
    retry_policy: ClassVar[RetryPolicy | None] = None
    """As a child workflow: start it again after it failed or timed out, after a backoff (``flowser.retry``)."""
    on_decider_error: ClassVar[str] = "fail"
    """When ``decide`` raises: ``"fail"`` fails the execution (reason and traceback); ``"retry"`` leaves
    the decision task to time out (``task_start_to_close_timeout``) so that a decider takes it again."""

    _reg_func_name = "register_workflow_type"
    kind = "workflow"

    def _defaults(self) -> dict[str, Any]:
        return {
            "defaultTaskList": {"name": self.task_list},
            "defaultExecutionStartToCloseTimeout": duration(self.execution_start_to_close_timeout),
            "defaultTaskStartToCloseTimeout": duration(self.task_start_to_close_timeout),
            "defaultChildPolicy": self.child_policy,
            "defaultTaskPriority": _priority(self.task_priority),
        }

    RUN_SETTINGS: ClassVar[frozenset[str]] = frozenset(
        {"task_list", "execution_start_to_close_timeout", "task_start_to_close_timeout", "child_policy", "tag_list", "task_priority"}
    )

    @classmethod
    def _run_settings(cls, **overrides: Any) -> dict[str, Any]:
        """The settings a start, child start or continue-as-new sends (class attributes unless overridden)."""
        unknown = set(overrides) - cls.RUN_SETTINGS
        if unknown:
            raise TypeError(f"unknown settings {sorted(unknown)}; expected some of {sorted(cls.RUN_SETTINGS)}")

        def pick(key: str) -> Any:
            return _pick(overrides.get(key), getattr(cls, key))

        tags = _pick(overrides.get("tag_list"), cls.default_tag_list)
        return {
            "executionStartToCloseTimeout": duration(pick("execution_start_to_close_timeout")),
            "taskStartToCloseTimeout": duration(pick("task_start_to_close_timeout")),
            "childPolicy": pick("child_policy"),
            "taskList": {"name": pick("task_list")},
            "tagList": list(tags) if tags else None,
            "taskPriority": _priority(pick("task_priority")),
        }

    def _start(self, input: Any = None, *, workflow_id: str | None = None, **overrides: Any) -> dict[str, Any]:
        """Start an execution; returns the client's answer (``{"runId": ...}``)."""
        kwargs: dict[str, Any] = {
            "domain": self._domain.name,
            "workflowId": workflow_id if workflow_id is not None else self.get_id_from_input(input),
            "workflowType": self.type_dict(),
            "input": None if input is None else self.encode_input(input),
            **self._run_settings(**overrides),
        }
        result: dict[str, Any] = self._conn.start_workflow_execution(**{k: v for k, v in kwargs.items() if v is not None})
        result.setdefault("workflowId", kwargs["workflowId"])
        return result

    @classmethod
    def start_child(
        cls,
        input: Any = None,
        control: Any = None,
        *,
        workflow_id: str | None = None,
        retry_policy: RetryPolicy | None = None,
        **overrides: Any,
    ) -> dict[str, Any]:
        """A ``StartChildWorkflowExecution`` decision for ``input`` (retried as ``retry_policy`` or the class's says)."""
        workflow_id = workflow_id if workflow_id is not None else cls.get_id_from_input(input)
        return build(
            "StartChildWorkflowExecution",
            workflowId=workflow_id,
            workflowType=cls.type_dict(),
            input=None if input is None else cls.encode_input(input),
            control=_control(workflow_id, cls.encode_control(control), retry_policy or cls.retry_policy),
            **cls._run_settings(**overrides),
        )

    # -- running (flowser decider) --------------------------------------------------------
    def decide(self, task: Decision) -> None:
        """Make the decisions for one decision task (``flowser decider`` calls it).

        If it returns without responding, the decisions added so far are sent
        (``task.complete()``).
        """
        raise NotImplementedError(f"{type(self).__name__} does not implement decide()")
