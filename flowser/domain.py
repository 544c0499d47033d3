"""The domain (flowser 0.1's ``flowser.domain``).

``Domain(conn)`` takes any boto3-style SWF client: ``boto3.client("swf")``
(AWS, moto, ``flowser serve``) or ``backends.local.connect()``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

from . import serializing, tasks
from .exceptions import EmptyTaskPollResult, Error, is_fault
from .types import Activity, Type, Workflow


class Domain:
    """Represents a Simple Workflow domain.

    Subclasses must set ``name``; they may set ``retention_period`` (days,
    default ``'30'``), ``description`` and the lists ``workflow_types`` and
    ``activity_types`` (``types.Workflow`` / ``types.Activity`` subclasses)
    that ``register`` registers.
    """

    name: ClassVar[str | None] = None
    retention_period: ClassVar[str | int] = "30"
    description: ClassVar[str | None] = None
    workflow_types: ClassVar[list[type[Workflow]] | None] = None
    activity_types: ClassVar[list[type[Activity]] | None] = None
    codec: ClassVar[serializing.Codec] = serializing.JSON
    """Codec of payloads that belong to no type: signals, timer controls, execution contexts."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self._stopping = threading.Event()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"

    def register(self, raise_exists: bool = False) -> None:
        """Register the domain and its types (existing ones are left alone unless ``raise_exists``)."""
        if not self.name:
            raise Error("name")
        kwargs: dict[str, Any] = {"name": self.name, "workflowExecutionRetentionPeriodInDays": str(self.retention_period)}
        if self.description:
            kwargs["description"] = self.description
        try:
            self.conn.register_domain(**kwargs)
        except Exception as exc:
            if not is_fault(exc, "DomainAlreadyExistsFault"):
                raise
            if raise_exists:
                raise Error(self) from exc
        for t in [*(self.workflow_types or []), *(self.activity_types or [])]:
            t(self)._register(raise_exists)

    def start(self, t: type[Workflow], input: Any = None, **kwargs: Any) -> tasks.WorkflowExecution:
        """Start an execution of ``t`` (``workflow_id=`` and settings such as ``tag_list=`` may be given).

        Returns the execution; ``execution["runId"]`` works as 0.1's dict did.
        """
        result = t(self)._start(input, **kwargs)
        return tasks.WorkflowExecution(result, self, workflow_type=t)

    def execution(self, workflow_id: str, run_id: str | None = None, t: type[Workflow] | None = None) -> tasks.WorkflowExecution:
        """A handle on an existing execution (to signal, cancel, terminate, read its history)."""
        return tasks.WorkflowExecution({"workflowId": workflow_id, "runId": run_id}, self, workflow_type=t)

    def rerun(
        self, execution: tasks.WorkflowExecution | str, run_id: str | None = None, *, force: Sequence[str] = ()
    ) -> tasks.WorkflowExecution:
        """Start a new execution of a closed run (same workflowId, type, input and settings) that reuses
        the results of the activities and children that completed in it and in the runs it continued
        (``flowser.rerun``); ids matching a ``force`` pattern (fnmatch) run again. ``execution`` is a
        handle or a workflowId (its latest run unless ``run_id``)."""
        from . import rerun

        return rerun.rerun(self, execution, run_id, force)

    def type_for(self, kind: str, name: str, version: str) -> type[Type] | None:
        """The listed ``"workflow"``/``"activity"`` type class with this name and version, if any."""
        listed: list[Any] = list(self.workflow_types or []) if kind == "workflow" else list(self.activity_types or [])
        for t in listed:
            if t.name == name and t.version == version:
                return t
        return None

    # -- polling -----------------------------------------------------------------------------
    def poll_decision(self, t: type[Workflow] | Workflow, identity: str | None = None) -> tasks.Decision | None:
        """One long poll for a decision task of ``t``; None if it came back empty."""
        instance = t if isinstance(t, Type) else t(self)
        try:
            result = instance._poll_for_decision_task(identity=identity, reverse_order=True)
        except EmptyTaskPollResult:
            return None
        return tasks.Decision(result, instance)

    def poll_activity(self, t: type[Activity] | Activity, identity: str | None = None) -> tasks.Activity | None:
        """One long poll for an activity task of ``t``; None if it came back empty."""
        instance = t if isinstance(t, Type) else t(self)
        try:
            result = instance._poll_for_activity_task(identity=identity)
        except EmptyTaskPollResult:
            return None
        return tasks.Activity(result, instance)

    def decisions(self, t: type[Workflow], identity: str | None = None) -> Iterator[tasks.Decision]:
        """Iterate over decision tasks of ``t``, polling indefinitely (until ``stop_polling``)."""
        return self._poll_indefinitely(t, "_poll_for_decision_task", tasks.Decision, {"reverse_order": True}, identity)

    def activities(self, t: type[Activity], identity: str | None = None) -> Iterator[tasks.Activity]:
        """Iterate over activity tasks of ``t``, polling indefinitely (until ``stop_polling``)."""
        return self._poll_indefinitely(t, "_poll_for_activity_task", tasks.Activity, {}, identity)

    def _poll_indefinitely(
        self, t: type[Type], poll_name: str, task_class: Any, kwargs: dict[str, Any], identity: str | None
    ) -> Iterator[Any]:
        instance = t(self)
        poll = getattr(instance, poll_name)
        while not self._stopping.is_set():
            try:
                result = poll(identity=identity, **kwargs)
            except EmptyTaskPollResult:
                continue  # the server's long poll paces the loop
            yield task_class(result, instance)

    def stop_polling(self) -> None:
        """End the ``decisions()``/``activities()`` generators after their current poll."""
        self._stopping.set()
