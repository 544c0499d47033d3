"""``flowser top``'s figures: a live summary of one domain, from SWF's counts and its history events.

:class:`Top` is fed two things, so it works on every backend:

* snapshots of SWF's own counts (``CountOpenWorkflowExecutions`` per type,
  ``CountPendingDecisionTasks``/``CountPendingActivityTasks`` per task list),
  taken by :func:`take_counts` every refresh;
* the domain's history events as they are written (:func:`flowser.listen.listen`:
  the engine's stream where there is one, polling on AWS), from which it keeps
  rates over a sliding window, the task lists in use, the tasks scheduled and
  not yet started (for the oldest one's age) and the recent timeouts.

Nothing here sleeps or reads a clock of its own: the caller passes ``now``.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

WINDOW = 60.0
"""Seconds over which rates and timeouts are counted."""

_SCHEDULED = {
    "DecisionTaskScheduled": "decision",
    "ActivityTaskScheduled": "activity",
}
_STARTED = {"DecisionTaskStarted": "decision", "ActivityTaskStarted": "activity"}
_ENDED_UNSTARTED = {  # a scheduled task that will never start
    "DecisionTaskTimedOut",
    "ActivityTaskTimedOut",
    "ActivityTaskCanceled",
}
_COMPLETED = {"DecisionTaskCompleted": "decision", "ActivityTaskCompleted": "activity"}
_CLOSED = {
    "WorkflowExecutionCompleted",
    "WorkflowExecutionFailed",
    "WorkflowExecutionCanceled",
    "WorkflowExecutionTimedOut",
    "WorkflowExecutionTerminated",
    "WorkflowExecutionContinuedAsNew",
}


@dataclass
class Counts:
    """One snapshot of SWF's counts."""

    open_by_type: dict[str, int] = field(default_factory=dict)  # "name version" -> open executions
    pending: dict[tuple[str, str], int] = field(default_factory=dict)  # (kind, task list) -> pending tasks
    truncated: bool = False  # SWF said a count is at least this much


class Top:
    """The figures ``flowser top`` draws, kept from events and count snapshots."""

    def __init__(self, window: float = WINDOW, began: float | None = None) -> None:
        self.window = window
        self.began = began
        """When watching began (epoch seconds): rates are over the time seen, until a whole window is."""
        self.counts = Counts()
        self.task_lists: set[tuple[str, str]] = set()  # (kind, name) seen in types' defaults or events
        self._started: collections.deque[tuple[float, str]] = collections.deque()  # (at, kind)
        self._completed: collections.deque[tuple[float, str]] = collections.deque()
        self._timeouts: collections.deque[tuple[float, str]] = collections.deque()  # (at, event type)
        self._closed: collections.deque[tuple[float, str]] = collections.deque()
        self._waiting: dict[tuple[str, int], tuple[float, str, str]] = {}  # (runId, scheduledEventId) -> (at, kind, list)
        self.events_seen = 0
        self.lost = 0

    # -- feeding ---------------------------------------------------------------------------
    def add_counts(self, counts: Counts) -> None:
        self.counts = counts

    def add_lost(self, count: int) -> None:
        self.lost += count

    def add_event(self, run_id: str, event: Mapping[str, Any], now: float) -> None:
        """One history event of run ``run_id``, seen at ``now`` (epoch seconds)."""
        self.events_seen += 1
        kind_of_event = event.get("eventType", "")
        at = _epoch(event.get("eventTimestamp"), now)
        attrs = _attributes(event)
        if kind_of_event in _SCHEDULED:
            kind = _SCHEDULED[kind_of_event]
            task_list = (attrs.get("taskList") or {}).get("name", "")
            self.task_lists.add((kind, task_list))
            self._waiting[(run_id, int(event.get("eventId", 0)))] = (at, kind, task_list)
        elif kind_of_event in _STARTED:
            self._started.append((at, _STARTED[kind_of_event]))
            self._waiting.pop((run_id, int(attrs.get("scheduledEventId", 0))), None)
        elif kind_of_event in _COMPLETED:
            self._completed.append((at, _COMPLETED[kind_of_event]))
        if kind_of_event.endswith("TimedOut"):
            self._timeouts.append((at, kind_of_event))
        if kind_of_event in _ENDED_UNSTARTED:
            self._waiting.pop((run_id, int(attrs.get("scheduledEventId", 0))), None)
        if kind_of_event in _CLOSED:
            self._closed.append((at, kind_of_event))
            for key in [k for k in self._waiting if k[0] == run_id]:
                del self._waiting[key]  # a closed run's tasks are gone
        self._trim(now)

    def _trim(self, now: float) -> None:
        edge = now - self.window
        for queue in (self._started, self._completed, self._timeouts, self._closed):
            while queue and queue[0][0] < edge:
                queue.popleft()

    # -- reading ---------------------------------------------------------------------------
    def rate(self, what: str, kind: str, now: float) -> float:
        """Tasks of ``kind`` started or completed per second over the window (or the time seen, if shorter)."""
        self._trim(now)
        queue = self._started if what == "started" else self._completed
        return sum(1 for _, k in queue if k == kind) / self.span(now)

    def span(self, now: float) -> float:
        """Seconds the rates are over: the window, or the time since watching began if shorter (1 s at least)."""
        if self.began is None:
            return self.window
        return max(1.0, min(self.window, now - self.began))

    def timeouts(self, now: float) -> collections.Counter[str]:
        self._trim(now)
        return collections.Counter(kind for _, kind in self._timeouts)

    def closed(self, now: float) -> collections.Counter[str]:
        self._trim(now)
        return collections.Counter(kind.removeprefix("WorkflowExecution") for _, kind in self._closed)

    def oldest_waiting(self, now: float) -> dict[tuple[str, str], float]:
        """(kind, task list) -> age in seconds of the oldest task scheduled and not started (seen since top began)."""
        oldest: dict[tuple[str, str], float] = {}
        for at, kind, task_list in self._waiting.values():
            key = (kind, task_list)
            oldest[key] = max(oldest.get(key, 0.0), now - at)
        return oldest


def take_counts(client: Any, domain: str, types: Iterable[tuple[str, str]], task_lists: Iterable[tuple[str, str]]) -> Counts:
    """SWF's counts now: open executions per workflow type, pending tasks per task list.

    A backend without ``CountOpenWorkflowExecutions`` (moto) has its open runs
    counted from ``ListOpenWorkflowExecutions``; a count it cannot give at all
    is left out (shown as unknown).
    """
    counts = Counts()
    since = {"oldestDate": 0}
    for name, version in types:
        type_filter = {"name": name, "version": version}
        try:
            answer = client.count_open_workflow_executions(domain=domain, startTimeFilter=since, typeFilter=type_filter)
        except NotImplementedError:
            answer = {"count": _listed_open(client, domain, since, type_filter)}
        counts.open_by_type[f"{name} {version}"] = int(answer.get("count", 0))
        counts.truncated = counts.truncated or bool(answer.get("truncated"))
    for kind, task_list in task_lists:
        count = client.count_pending_decision_tasks if kind == "decision" else client.count_pending_activity_tasks
        try:
            answer = count(domain=domain, taskList={"name": task_list})
        except NotImplementedError:
            continue
        counts.pending[(kind, task_list)] = int(answer.get("count", 0))
        counts.truncated = counts.truncated or bool(answer.get("truncated"))
    return counts


def _listed_open(client: Any, domain: str, since: dict[str, Any], type_filter: dict[str, str]) -> int:
    total, token = 0, None
    while True:
        params: dict[str, Any] = {"domain": domain, "startTimeFilter": since, "typeFilter": type_filter}
        if token:
            params["nextPageToken"] = token
        page = client.list_open_workflow_executions(**params)
        total += len(page.get("executionInfos", []))
        token = page.get("nextPageToken")
        if not token:
            return total


def registered_types(client: Any, domain: str) -> tuple[list[tuple[str, str]], set[tuple[str, str]]]:
    """The domain's registered workflow types, and the default task lists of its workflow and activity types."""
    workflow_types: list[tuple[str, str]] = []
    task_lists: set[tuple[str, str]] = set()
    for kind, lister, key in (
        ("decision", "list_workflow_types", "typeInfos"),
        ("activity", "list_activity_types", "typeInfos"),
    ):
        for page in client.get_paginator(lister).paginate(domain=domain, registrationStatus="REGISTERED"):
            for info in page.get(key, []):
                ident = info.get("workflowType") or info.get("activityType") or {}
                if kind == "decision":
                    workflow_types.append((ident["name"], ident["version"]))
                    describe = client.describe_workflow_type(domain=domain, workflowType=ident)
                else:
                    describe = client.describe_activity_type(domain=domain, activityType=ident)
                default = (describe.get("configuration") or {}).get("defaultTaskList") or {}
                if default.get("name"):
                    task_lists.add((kind, default["name"]))
    return sorted(workflow_types), task_lists


def _attributes(event: Mapping[str, Any]) -> Mapping[str, Any]:
    for key, value in event.items():
        if key.endswith("EventAttributes") and isinstance(value, Mapping):
            return value
    return {}


def _epoch(value: Any, default: float) -> float:
    if value is None:
        return default
    if isinstance(value, int | float):
        return float(value)
    stamp = getattr(value, "timestamp", None)
    return float(stamp()) if callable(stamp) else default
