"""flowser's exceptions (the 0.1 names), and how SWF faults are recognised.

* Error                   root of everything flowser raises
    - EmptyTaskPollResult a poll came back without a task (SWF's long poll ended empty)
    - LastPage            there is no further page of decision-task history
    - Timeout             ``WorkflowExecution.wait`` gave up before the run closed

SWF's own faults are not wrapped: they come from the boto3 client as
``client.exceptions.<Fault>`` (a ``botocore.exceptions.ClientError``);
:func:`fault_name` reads the fault's name from any of them.
"""

from __future__ import annotations

from typing import Any


class Error(Exception):
    """Base class of flowser's exceptions."""


class EmptyTaskPollResult(Error):
    """A poll answered without a task: ``taskToken`` absent or empty."""


class LastPage(Error):
    """The decision task's history has no further page."""


class Timeout(Error):
    """Waiting for a workflow execution to close took too long."""


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
