"""Retry policies: the next attempt of a failed activity or child workflow, after a durable SWF timer.

    class Charge(types.Activity):
        retry_policy = flowser.RetryPolicy(maximum_attempts=5, initial_interval=2, backoff_coefficient=2)

    task.schedule(Charge, order)                                   # the type's policy
    task.schedule(Charge, order, retry_policy=RetryPolicy(...))   # or one for this call

How it is kept, in plain SWF (so that it works the same on AWS, moto and the
local engine, and a decider restart changes nothing):

* Attempt 1 has the id the decider gave (``charge-1``); attempt ``n`` has
  ``charge-1~n``. SWF reuses the id of a closed activity, but moto refuses
  it (ACTIVITY_ID_ALREADY_IN_USE), and distinct ids show each attempt in
  every history viewer.
* Each attempt's ``control`` (kept by SWF in ActivityTaskScheduled /
  StartChildWorkflowExecutionInitiated, never sent to workers) is a JSON
  envelope ``{"flowser.retry": {"id", "attempt", "policy"}, "control": ...}``
  holding the logical id, the attempt number, the policy and the caller's own
  control (as text). ``record.control`` still answers the caller's control.
* After a retryable failure the framework adds, when the decision task is
  answered (``Decision.complete``), a ``StartTimer`` named ``charge-1~2``
  (the backoff); when it fires, the ``ScheduleActivityTask`` (or
  ``StartChildWorkflowExecution``) of attempt 2 with the same type, input,
  task list and timeouts. A backoff that rounds to 0 s schedules at once.
* The typed ``History`` shows ``decide()`` one logical record per id: open
  (status ``RETRYING`` during a backoff) until an attempt completes or the
  last one fails; a final failure's ``reason`` lists every attempt's reason,
  ``attempts`` holds each attempt's record.
"""

from __future__ import annotations

import fnmatch
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["ENVELOPE", "SEPARATOR", "TIMEOUT_KINDS", "RetryPolicy", "attempt_id", "unwrap", "wrap"]

ENVELOPE = "flowser.retry"
"""The key of a control (activity, child, timer) that the retry machinery wrote."""
SEPARATOR = "~"
"""Attempt ``n`` (n >= 2) of ``charge-1`` is ``charge-1~n`` (activityId, child workflowId and backoff timerId)."""
TIMEOUT_KINDS = ("START_TO_CLOSE", "SCHEDULE_TO_START", "SCHEDULE_TO_CLOSE", "HEARTBEAT")
ID_LIMIT = 256
CONTROL_LIMIT = 32_768


class RetryPolicy(BaseModel):
    """How often and how soon a failed activity (or child workflow) is tried again.

    The interval before attempt ``n+1`` is ``initial_interval *
    backoff_coefficient ** (n-1)`` seconds, at most ``maximum_interval``,
    rounded up to whole seconds (SWF timers count whole seconds).
    ``maximum_attempts`` counts the first one (0: no limit). A failure whose
    reason matches one of ``non_retryable_reasons`` -- equal, the exception
    class before the worker's ``": "``, or an fnmatch pattern -- is final at
    once. A timeout is retried when its kind (timeoutType) is in
    ``retry_timeouts``. A cancellation, termination or start failure is never
    retried.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    maximum_attempts: int = Field(default=3, ge=0)
    initial_interval: float = Field(default=1.0, ge=0)
    backoff_coefficient: float = Field(default=2.0, ge=1.0)
    maximum_interval: float | None = Field(default=None, ge=0)
    """None: 100 times ``initial_interval`` (Temporal's default)."""
    non_retryable_reasons: tuple[str, ...] = ()
    retry_timeouts: tuple[str, ...] = ("START_TO_CLOSE", "SCHEDULE_TO_START", "HEARTBEAT")

    @field_validator("retry_timeouts")
    @classmethod
    def _known_kinds(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [kind for kind in value if kind not in TIMEOUT_KINDS]
        if unknown:
            raise ValueError(f"unknown timeout kinds {unknown}; expected some of {list(TIMEOUT_KINDS)}")
        return value

    def interval(self, failed_attempt: int) -> int:
        """Whole seconds to wait after attempt ``failed_attempt`` failed (before the next one)."""
        seconds = self.initial_interval * self.backoff_coefficient ** max(failed_attempt - 1, 0)
        ceiling = self.maximum_interval if self.maximum_interval is not None else 100 * self.initial_interval
        return math.ceil(min(seconds, ceiling) - 1e-9) if seconds > 0 else 0

    def reason_retryable(self, reason: str | None) -> bool:
        text = reason or ""
        for entry in self.non_retryable_reasons:
            if text == entry or text.split(": ", 1)[0] == entry or fnmatch.fnmatchcase(text, entry):
                return False
        return True

    def allows(self, attempt: int, status: str, reason: str | None, timeout_type: str | None) -> bool:
        """May attempt ``attempt``, which closed with ``status``, be followed by another?"""
        if self.maximum_attempts and attempt >= self.maximum_attempts:
            return False
        if status == "FAILED":
            return self.reason_retryable(reason)
        if status == "TIMED_OUT":
            return (timeout_type or "START_TO_CLOSE") in self.retry_timeouts
        return False

    def to_wire(self) -> dict[str, Any]:
        """The fields that differ from the defaults (compact controls). The defaults are therefore part of
        the wire format: changing one would change the policy of the runs in flight."""
        return self.model_dump(mode="json", exclude_defaults=True)


def attempt_id(logical_id: str, attempt: int) -> str:
    """The activityId / child workflowId / backoff timerId of attempt ``attempt`` of ``logical_id``."""
    return logical_id if attempt <= 1 else f"{logical_id}{SEPARATOR}{attempt}"


def check_id(logical_id: str, policy: RetryPolicy) -> None:
    """An id whose later attempts' ids would pass SWF's 256 characters is refused when scheduled."""
    attempts = policy.maximum_attempts or 999_999
    longest = len(attempt_id(logical_id, attempts)) if attempts > 1 else len(logical_id)
    if longest > ID_LIMIT:
        raise ValueError(f"id {logical_id!r} is too long for retries: attempt ids ({SEPARATOR}N) must fit in {ID_LIMIT} characters")


def wrap(logical_id: str, attempt: int, policy: RetryPolicy, control: str | None) -> str:
    """The control of one attempt: the retry state and the caller's control text."""
    envelope: dict[str, Any] = {ENVELOPE: {"id": logical_id, "attempt": attempt, "policy": policy.to_wire()}}
    if control is not None:
        envelope["control"] = control
    text = json.dumps(envelope, separators=(",", ":"))
    if len(text) > CONTROL_LIMIT:
        raise ValueError(f"control of {logical_id!r} with its retry state is {len(text)} characters; SWF allows {CONTROL_LIMIT}")
    return text


class Attempt:
    """What an attempt's control says: logical id, attempt number, policy, the caller's control text."""

    __slots__ = ("attempt", "control", "logical_id", "policy")

    def __init__(self, logical_id: str, attempt: int, policy: RetryPolicy | None, control: str | None) -> None:
        self.logical_id = logical_id
        self.attempt = attempt
        self.policy = policy
        self.control = control

    def __repr__(self) -> str:
        return f"<Attempt {self.logical_id} #{self.attempt}>"


def unwrap(control: Any) -> Attempt | None:
    """The retry state of a raw control text, or None if it holds none."""
    if not isinstance(control, str) or not control.startswith('{"' + ENVELOPE + '"'):
        return None
    try:
        data = json.loads(control)
        state = data[ENVELOPE]
        policy = RetryPolicy(**state["policy"]) if "policy" in state else None
        return Attempt(str(state["id"]), int(state.get("attempt", 1)), policy, data.get("control"))
    except (ValueError, KeyError, TypeError):
        return None


def timer_control(logical_id: str, attempt: int, kind: str) -> str:
    return json.dumps({ENVELOPE: {"id": logical_id, "attempt": attempt, "kind": kind}}, separators=(",", ":"))


def summary(attempts: Sequence[Any]) -> str:
    """``attempt 1: FAILED (ValueError: no); attempt 2: TIMED_OUT (START_TO_CLOSE)``."""
    parts = []
    for number, record in enumerate(attempts, 1):
        why = record.closed.get("reason") if record.closed is not None else None
        why = why or (record.closed.get("timeoutType") if record.closed is not None else None) or record.cause
        parts.append(f"attempt {number}: {record.status}" + (f" ({why})" if why else ""))
    return "; ".join(parts)


# -- the decisions the framework adds ---------------------------------------------------------
_ACTIVITY_FIELDS = (
    "activityType",
    "taskList",
    "input",
    "heartbeatTimeout",
    "scheduleToCloseTimeout",
    "scheduleToStartTimeout",
    "startToCloseTimeout",
    "taskPriority",
)
_CHILD_FIELDS = (
    "workflowType",
    "taskList",
    "input",
    "executionStartToCloseTimeout",
    "taskStartToCloseTimeout",
    "childPolicy",
    "tagList",
    "taskPriority",
    "lambdaRole",
)


def _copy(attrs: Mapping[str, Any], names: Sequence[str]) -> dict[str, Any]:
    return {name: attrs[name] for name in names if attrs.get(name) not in (None, "")}


def next_decisions(history: Any) -> list[dict[str, Any]]:
    """The StartTimer / ScheduleActivityTask / StartChildWorkflowExecution decisions retries need now."""
    from .decisions import build

    out: list[dict[str, Any]] = []
    for kind, records in (("activity", history.activities), ("child", history.children)):
        for logical_id, record in records.items():
            pending = getattr(record, "retry_pending", None)
            if pending is None:
                continue
            last, policy, state = record.attempts[-1], record.retry_policy, pending
            next_attempt = len(record.attempts) + 1
            next_id = attempt_id(logical_id, next_attempt)
            if state == "timer":
                delay = policy.interval(len(record.attempts))
                if delay > 0:
                    out.append(
                        build("StartTimer", timerId=next_id, startToFireTimeout=str(delay), control=timer_control(logical_id, next_attempt, kind))
                    )
                    continue
            unwrapped = unwrap((last.scheduled if kind == "activity" else last.initiated).raw_attrs.get("control"))
            control = wrap(logical_id, next_attempt, policy, unwrapped.control if unwrapped else None)
            if kind == "activity":
                attrs = _copy(last.scheduled.raw_attrs, _ACTIVITY_FIELDS)
                out.append(build("ScheduleActivityTask", activityId=next_id, control=control, **attrs))
            else:
                attrs = _copy(last.initiated.raw_attrs, _CHILD_FIELDS)
                out.append(build("StartChildWorkflowExecution", workflowId=next_id, control=control, **attrs))
    return out


def redirect(decisions: list[dict[str, Any]], history: Any) -> list[dict[str, Any]]:
    """Cancellations aimed at a retried id, aimed at its current attempt (or at its backoff timer).

    ``RequestCancelActivityTask`` / ``RequestCancelExternalWorkflowExecution``
    name the id the decider gave; attempt ``n`` runs as ``id~n``. During a
    backoff there is no attempt to cancel: the timer is canceled instead, and
    the logical record becomes CANCELED.
    """
    from .decisions import build

    out: list[dict[str, Any]] = []
    for decision in decisions:
        kind = decision.get("decisionType")
        if kind == "RequestCancelActivityTask":
            attrs, key, records = decision["requestCancelActivityTaskDecisionAttributes"], "activityId", history.activities
        elif kind == "RequestCancelExternalWorkflowExecution":
            attrs, key, records = decision["requestCancelExternalWorkflowExecutionDecisionAttributes"], "workflowId", history.children
        else:
            out.append(decision)
            continue
        record = records.get(attrs.get(key))
        if record is None or len(getattr(record, "attempts", [])) < 1 or attrs.get("runId"):
            out.append(decision)
            continue
        if record.status == "RETRYING":
            next_id = attempt_id(attrs[key], len(record.attempts) + 1)
            timer = history.retry_timers.get(next_id)
            starting = record.retry_pending == "timer" and record.retry_policy.interval(len(record.attempts)) > 0
            if (timer is not None and timer.is_open) or starting:
                out.append(build("CancelTimer", timerId=next_id))  # after the framework's StartTimer, if it starts now
            elif record.retry_pending is not None:  # the next attempt is scheduled in this answer: cancel it
                out.append({**decision, decision_key(kind): {**attrs, key: next_id}})
            continue
        current = record.attempts[-1]
        out.append({**decision, decision_key(kind): {**attrs, key: current.activity_id if key == "activityId" else current.workflow_id}})
    return out


def decision_key(decision_type: str) -> str:
    return decision_type[:1].lower() + decision_type[1:] + "DecisionAttributes"
