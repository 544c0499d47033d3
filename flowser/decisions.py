"""Decision skeletons (flowser 0.1's ``flowser.decisions``), and a builder that drops unset attributes."""

from __future__ import annotations

from typing import Any

_decision_types = [
    "ScheduleActivityTask",
    "RequestCancelActivityTask",
    "CompleteWorkflowExecution",
    "FailWorkflowExecution",
    "CancelWorkflowExecution",
    "ContinueAsNewWorkflowExecution",
    "RecordMarker",
    "StartTimer",
    "CancelTimer",
    "SignalExternalWorkflowExecution",
    "RequestCancelExternalWorkflowExecution",
    "StartChildWorkflowExecution",
    "ScheduleLambdaFunction",
]

CLOSE_DECISIONS = frozenset(
    {
        "CompleteWorkflowExecution",
        "FailWorkflowExecution",
        "CancelWorkflowExecution",
        "ContinueAsNewWorkflowExecution",
    }
)


def attributes_key(decision_type: str) -> str:
    """``StartTimer`` -> ``startTimerDecisionAttributes``."""
    return decision_type[:1].lower() + decision_type[1:] + "DecisionAttributes"


def skeleton(decision_type: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(decision, attributes)``: fill ``attributes`` in place. Unknown types raise ``KeyError``."""
    if decision_type not in _decision_types:
        raise KeyError(decision_type)
    attrs: dict[str, Any] = {}
    return {"decisionType": decision_type, attributes_key(decision_type): attrs}, attrs


def build(decision_type: str, **attributes: Any) -> dict[str, Any]:
    """A decision with the given attributes; attributes that are ``None`` are left out."""
    decision, attrs = skeleton(decision_type)
    attrs.update({k: v for k, v in attributes.items() if v is not None})
    return decision
