"""flowser's exceptions (the 0.1 names), and how SWF faults are recognised.

* Error                   root of everything flowser raises
    - EmptyTaskPollResult a poll came back without a task (SWF's long poll ended empty)
    - LastPage            there is no further page of decision-task history
    - Timeout             ``WorkflowExecution.wait`` gave up before the run closed
    - WorkflowExecutionError  ``WorkflowExecution.result`` found the run closed without a result
        - WorkflowFailed           closed FAILED (a decider's FailWorkflowExecution)
        - WorkflowTimedOut         closed TIMED_OUT (its execution start-to-close timeout)
        - WorkflowCanceled         closed CANCELED (a decider's CancelWorkflowExecution)
        - WorkflowTerminated       closed TERMINATED (TerminateWorkflowExecution, a child policy...)
        - WorkflowContinuedAsNew   closed CONTINUED_AS_NEW and ``result`` stopped following the chain

SWF's own faults are not wrapped: they come from the boto3 client as
``client.exceptions.<Fault>`` (a ``botocore.exceptions.ClientError``);
:func:`fault_name` reads the fault's name from any of them.
"""

from __future__ import annotations

from typing import Any, ClassVar


class Error(Exception):
    """Base class of flowser's exceptions."""


class EmptyTaskPollResult(Error):
    """A poll answered without a task: ``taskToken`` absent or empty."""


class LastPage(Error):
    """The decision task's history has no further page."""


class Timeout(Error):
    """Waiting for a workflow execution to close took too long."""


class WorkflowExecutionError(Error):
    """A run closed without completing; ``WorkflowExecution.result`` raises one subclass per close status.

    Attributes: ``workflow_id``, ``run_id``, ``close_status`` (``"FAILED"``...),
    ``reason`` (FAILED, TERMINATED), ``details`` (decoded with the domain's
    codec, leniently: text that is not JSON stays text; ``raw_details`` is the
    string as SWF keeps it), ``timeout_type`` (TIMED_OUT), ``cause``
    (TERMINATED), ``new_run_id`` (CONTINUED_AS_NEW) and ``history``, the
    run's typed ``History``.
    """

    close_status: ClassVar[str] = ""

    def __init__(
        self,
        workflow_id: str,
        run_id: str | None,
        *,
        reason: str | None = None,
        details: Any = None,
        raw_details: str | None = None,
        timeout_type: str | None = None,
        cause: str | None = None,
        new_run_id: str | None = None,
        history: Any = None,
        note: str | None = None,
    ) -> None:
        self.workflow_id = workflow_id
        self.run_id = run_id
        self.reason = reason
        self.details = details
        self.raw_details = raw_details
        self.timeout_type = timeout_type
        self.cause = cause
        self.new_run_id = new_run_id
        self.history = history
        super().__init__(self._message(note))

    def _message(self, note: str | None) -> str:
        text = f"workflow execution {self.workflow_id} (run {self.run_id}) closed {self.close_status}"
        said = [f"{label} {value}" for label, value in (("timeout", self.timeout_type), ("cause", self.cause)) if value]
        if said:
            text += f" ({', '.join(said)})"
        if self.reason:
            text += f": {self.reason}"
        if note:
            text += f"; {note}"
        return text


class WorkflowFailed(WorkflowExecutionError):
    """The run closed FAILED: ``reason`` and ``details`` are the decider's (for a decider exception, the traceback)."""

    close_status = "FAILED"


class WorkflowTimedOut(WorkflowExecutionError):
    """The run closed TIMED_OUT: ``timeout_type`` is ``"START_TO_CLOSE"``."""

    close_status = "TIMED_OUT"


class WorkflowCanceled(WorkflowExecutionError):
    """The run closed CANCELED: ``details`` are the decider's."""

    close_status = "CANCELED"


class WorkflowTerminated(WorkflowExecutionError):
    """The run closed TERMINATED: ``reason``, ``details`` and ``cause`` (e.g. ``"OPERATOR_INITIATED"``)."""

    close_status = "TERMINATED"


class WorkflowContinuedAsNew(WorkflowExecutionError):
    """The run continued as a new run (``new_run_id``) and ``result`` did not follow it further."""

    close_status = "CONTINUED_AS_NEW"

    def _message(self, note: str | None) -> str:
        text = f"workflow execution {self.workflow_id} (run {self.run_id}) continued as new run {self.new_run_id}"
        return f"{text}; {note}" if note else text


EXECUTION_ERRORS: dict[str, type[WorkflowExecutionError]] = {
    cls.close_status: cls for cls in (WorkflowFailed, WorkflowTimedOut, WorkflowCanceled, WorkflowTerminated, WorkflowContinuedAsNew)
}
"""The exception class for each close status but COMPLETED."""


def fault_name(exc: BaseException) -> str | None:
    """The SWF fault code of a boto3 ``ClientError`` (``"UnknownResourceFault"``...), else None."""
    response: Any = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return None
    code = response.get("Error", {}).get("Code")
    if not isinstance(code, str):
        return None
    return code.rpartition("#")[2]


def is_fault(exc: BaseException, *names: str) -> bool:
    """True if ``exc`` is one of the SWF faults ``names``."""
    return fault_name(exc) in names
