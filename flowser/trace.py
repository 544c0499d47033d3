"""Watching runs through any boto3 SWF client: follow a history as it grows, walk a run's children.

* :func:`follow` yields a run's events as they are written, polling
  ``GetWorkflowExecutionHistory`` (newest first, only as far back as the last
  event seen), until the run closes; through a continue-as-new it goes on
  with the new run (yielding a :class:`NewRun` between the two).
* :func:`workflow_tree` reads a run's history, then each child's, down to a
  depth: a :class:`TreeNode` per workflowId with its status and duration.

Only standard SWF calls: they work on AWS, moto, ``flowser serve`` and the
embedded engine alike.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from .events import raw_attrs
from .ops import history_events
from .render import CLOSE_EVENTS, iso, timestamp

__all__ = ["NewRun", "TreeNode", "events_after", "follow", "workflow_tree"]

PAGE = 100
"""Events per page when reading back from the newest (a follow's poll)."""


def events_after(client: Any, domain: str, execution: Mapping[str, str], after: int = 0) -> list[dict[str, Any]]:
    """The run's events with eventId > ``after``, oldest first.

    From the start, the history is read forward; past ``after`` it is read
    newest first, page by page, only until an event already seen.
    """
    if after <= 0:
        return list(history_events(client, domain, dict(execution)))
    found: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        params: dict[str, Any] = {
            "domain": domain,
            "execution": dict(execution),
            "maximumPageSize": PAGE,
            "reverseOrder": True,
        }
        if token:
            params["nextPageToken"] = token
        page = client.get_workflow_execution_history(**params)
        events = page.get("events", [])
        found.extend(e for e in events if e["eventId"] > after)
        token = page.get("nextPageToken")
        if not token or any(e["eventId"] <= after for e in events):
            break
    found.sort(key=lambda e: e["eventId"])
    return found


@dataclass
class NewRun:
    """Between two runs of a follow: ``previous`` continued as new as ``execution``."""

    previous: dict[str, str]
    execution: dict[str, str]


def follow(
    client: Any,
    domain: str,
    execution: Mapping[str, str],
    *,
    interval: float = 0.5,
    sleep: Callable[[float], Any] = time.sleep,
    after: int = 0,
    continue_as_new: bool = True,
) -> Iterator[dict[str, Any] | NewRun]:
    """The run's events (from eventId ``after`` + 1) as they are written, until it closes.

    Polls every ``interval`` seconds (``sleep`` is injectable). When the run
    continues as new (and ``continue_as_new``), yields a :class:`NewRun` and
    follows the new run from its first event. Returns after the closing event
    of the last run.
    """
    current = {"workflowId": execution["workflowId"], "runId": execution["runId"]}
    last = after
    while True:
        events = events_after(client, domain, current, last)
        closing: dict[str, Any] | None = None
        for event in events:
            yield event
            last = event["eventId"]
            if event["eventType"] in CLOSE_EVENTS:
                closing = event
        if closing is not None:
            new_run = raw_attrs(closing).get("newExecutionRunId")
            if closing["eventType"] != "WorkflowExecutionContinuedAsNew" or not new_run or not continue_as_new:
                return
            following = {"workflowId": current["workflowId"], "runId": str(new_run)}
            yield NewRun(current, following)
            current, last = following, 0
            continue
        sleep(interval)


# -- the child tree ---------------------------------------------------------------------------
@dataclass
class TreeNode:
    """A workflowId in a run's tree: its runs (more than one after continue-as-new), status, times, children.

    ``status`` is the last run's close status, ``OPEN`` while it runs, or
    what the parent's history says when the child's own history cannot be
    read or was not read (``INITIATED``, ``START_FAILED``, or below ``depth``).
    """

    workflow_id: str
    run_id: str | None
    workflow_type: dict[str, str] | None
    status: str
    started: dt.datetime | None = None
    closed: dt.datetime | None = None
    runs: list[str] = field(default_factory=list)
    children: list[TreeNode] = field(default_factory=list)
    note: str = ""
    """A failure's reason or cause, a timeout's type; why a child's history was not read."""
    unread: int = 0
    """Children below the depth limit, not shown."""

    def duration(self, now: dt.datetime | None = None) -> float | None:
        if self.started is None:
            return None
        end = self.closed or (now if self.status == "OPEN" else None)
        return (end - self.started).total_seconds() if end is not None else None

    def walk(self, depth: int = 0) -> Iterator[tuple[int, TreeNode]]:
        yield depth, self
        for child in self.children:
            yield from child.walk(depth + 1)

    def to_dict(self, now: dt.datetime | None = None) -> dict[str, Any]:
        return {
            "workflowId": self.workflow_id,
            "runId": self.run_id,
            "runs": list(self.runs),
            "workflowType": self.workflow_type,
            "status": self.status,
            "startTimestamp": iso(self.started) if self.started else None,
            "closeTimestamp": iso(self.closed) if self.closed else None,
            "duration": self.duration(now),
            "note": self.note or None,
            "childrenNotShown": self.unread,
            "children": [c.to_dict(now) for c in self.children],
        }


@dataclass
class _Child:
    workflow_id: str
    workflow_type: dict[str, str] | None
    status: str
    run_id: str | None = None
    initiated: dt.datetime | None = None
    started: dt.datetime | None = None
    closed: dt.datetime | None = None
    note: str = ""


_CHILD_CLOSE = {
    "ChildWorkflowExecutionCompleted": "COMPLETED",
    "ChildWorkflowExecutionFailed": "FAILED",
    "ChildWorkflowExecutionTimedOut": "TIMED_OUT",
    "ChildWorkflowExecutionCanceled": "CANCELED",
    "ChildWorkflowExecutionTerminated": "TERMINATED",
}


def _note(attrs: Mapping[str, Any]) -> str:
    for name in ("reason", "cause", "timeoutType"):
        if attrs.get(name):
            return str(attrs[name])
    return ""


def _children(events: list[dict[str, Any]]) -> list[_Child]:
    """The children a run's history names, in the order they were initiated."""
    by_initiated: dict[int, _Child] = {}
    out: list[_Child] = []
    for event in events:
        kind, attrs = event["eventType"], raw_attrs(event)
        when = timestamp(event.get("eventTimestamp"))
        if kind == "StartChildWorkflowExecutionInitiated":
            child = _Child(str(attrs.get("workflowId")), attrs.get("workflowType"), "INITIATED", initiated=when)
            by_initiated[event["eventId"]] = child
            out.append(child)
            continue
        found = by_initiated.get(attrs.get("initiatedEventId", -1))
        if kind == "StartChildWorkflowExecutionFailed":
            if found is None:
                found = _Child(str(attrs.get("workflowId")), attrs.get("workflowType"), "", initiated=when)
                out.append(found)
            found.status, found.closed, found.note = "START_FAILED", when, _note(attrs)
        elif found is None:
            continue
        elif kind == "ChildWorkflowExecutionStarted":
            found.status, found.started = "OPEN", when
            found.run_id = (attrs.get("workflowExecution") or {}).get("runId")
        elif kind in _CHILD_CLOSE:
            found.status, found.closed, found.note = _CHILD_CLOSE[kind], when, _note(attrs)
            found.run_id = found.run_id or (attrs.get("workflowExecution") or {}).get("runId")
    return out


def _chain(client: Any, domain: str, execution: Mapping[str, str], limit: int = 100) -> list[list[dict[str, Any]]]:
    """The histories of a run and of the runs it continued as, in order."""
    runs: list[list[dict[str, Any]]] = []
    current: Mapping[str, str] | None = execution
    while current is not None and len(runs) < limit:
        events = list(history_events(client, domain, dict(current)))
        runs.append(events)
        last = events[-1] if events else {}
        new_run = raw_attrs(last).get("newExecutionRunId") if last.get("eventType") == "WorkflowExecutionContinuedAsNew" else None
        current = {"workflowId": execution["workflowId"], "runId": str(new_run)} if new_run else None
    return runs


def _is_unknown(exc: Exception) -> bool:
    response = getattr(exc, "response", None)
    return isinstance(response, dict) and (response.get("Error") or {}).get("Code") == "UnknownResourceFault"


def workflow_tree(
    client: Any,
    domain: str,
    execution: Mapping[str, str],
    *,
    depth: int | None = None,
    workflow_type: Mapping[str, str] | None = None,
) -> TreeNode:
    """The run and its children (theirs too, down to ``depth`` levels below; ``None``: all).

    A run that continued as new is followed to its last run: the node's
    ``runs`` lists them, its status is the last one's, its children are all
    of theirs.
    """
    histories = _chain(client, domain, execution)
    first = histories[0]
    started = next((e for e in first if e["eventType"] == "WorkflowExecutionStarted"), first[0] if first else None)
    last_events = histories[-1]
    closing = last_events[-1] if last_events and last_events[-1]["eventType"] in CLOSE_EVENTS else None
    start_attrs = raw_attrs(started) if started else {}
    node = TreeNode(
        workflow_id=execution["workflowId"],
        run_id=execution["runId"],
        workflow_type=dict(start_attrs.get("workflowType") or workflow_type or {}) or None,
        status=CLOSE_EVENTS[closing["eventType"]] if closing else "OPEN",
        started=timestamp(started.get("eventTimestamp")) if started else None,
        closed=timestamp(closing.get("eventTimestamp")) if closing else None,
        note=_note(raw_attrs(closing)) if closing else "",
    )
    node.runs = [execution["runId"]] + [
        str(raw_attrs(events[-1]).get("newExecutionRunId")) for events in histories[:-1] if events
    ]
    children = [child for events in histories for child in _children(events)]
    if depth is not None and depth <= 0:
        node.unread = len(children)
        return node
    for child in children:
        if child.run_id:
            try:
                node.children.append(
                    workflow_tree(
                        client,
                        domain,
                        {"workflowId": child.workflow_id, "runId": child.run_id},
                        depth=None if depth is None else depth - 1,
                        workflow_type=child.workflow_type,
                    )
                )
                continue
            except Exception as exc:
                if not _is_unknown(exc):
                    raise
                child.note = child.note or "history no longer kept"
        node.children.append(
            TreeNode(
                workflow_id=child.workflow_id,
                run_id=child.run_id,
                workflow_type=dict(child.workflow_type) if child.workflow_type else None,
                status=child.status,
                started=child.started or child.initiated,
                closed=child.closed,
                runs=[child.run_id] if child.run_id else [],
                note=child.note,
            )
        )
    return node
