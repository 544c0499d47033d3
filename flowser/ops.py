"""Operator queries over any boto3 SWF client (AWS, moto, ``flowser serve``, the embedded engine).

Nothing here knows which backend it talks to: the CLI (``flowser/cli/``) and
the dashboard build on these functions.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import heapq
import itertools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


class NoSuchExecution(LookupError):
    """No run of that workflowId (and runId) is known to the domain."""


def history_events(client: Any, domain: str, execution: dict[str, str], *, after: int = 0) -> Iterator[dict[str, Any]]:
    """Every event of a run, oldest first, page by page (only those with eventId > ``after``)."""
    token: str | None = None
    while True:
        params: dict[str, Any] = {"domain": domain, "execution": execution, "maximumPageSize": 1000}
        if token:
            params["nextPageToken"] = token
        page = client.get_workflow_execution_history(**params)
        for event in page.get("events", []):
            if event["eventId"] > after:
                yield event
        token = page.get("nextPageToken")
        if not token:
            return


# -- listing executions ---------------------------------------------------------------------------
CLOSE_STATUSES = ("COMPLETED", "FAILED", "CANCELED", "TERMINATED", "CONTINUED_AS_NEW", "TIMED_OUT")
PAGE_SIZE = 1000
"""SWF's largest page. moto answers one page (no nextPageToken, oldest first, cut at the page size),
so a smaller page would lose runs there; on SWF a page of 1,000 costs one call like any other."""


@dataclass(frozen=True)
class ExecutionQuery:
    """What ``flowser executions list`` selects: every field set must match (None: any).

    ``status`` is None (open and closed), ``"open"`` or ``"closed"``; a ``close_status``
    selects closed runs only. ``tags``: each must be in the run's tagList. ``since``/``until``
    bound the start time (inclusive).
    """

    status: str | None = None
    close_status: str | None = None
    type_name: str | None = None
    type_version: str | None = None
    tags: tuple[str, ...] = ()
    workflow_id: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None

    def __post_init__(self) -> None:
        if self.status not in (None, "open", "closed"):
            raise ValueError(f"status is None, 'open' or 'closed', not {self.status!r}")
        if self.close_status is not None and self.close_status not in CLOSE_STATUSES:
            raise ValueError(f"close status is one of {', '.join(CLOSE_STATUSES)}, not {self.close_status!r}")
        if self.close_status is not None and self.status == "open":
            raise ValueError("an open run has no close status")
        if self.type_version is not None and self.type_name is None:
            raise ValueError("a type version needs a type name")

    @property
    def wants_open(self) -> bool:
        return self.status != "closed" and self.close_status is None

    @property
    def wants_closed(self) -> bool:
        return self.status != "open"

    def server_filter(self, closed: bool) -> dict[str, Any]:
        """The one filter SWF takes per call, the most selective one asked for (the rest apply here)."""
        if self.workflow_id is not None:
            return {"executionFilter": {"workflowId": self.workflow_id}}
        if self.tags:
            return {"tagFilter": {"tag": self.tags[0]}}
        if self.type_name is not None and self.type_version is not None:
            # SWF takes a name alone too, but moto fails on a typeFilter without a version
            return {"typeFilter": {"name": self.type_name, "version": self.type_version}}
        if closed and self.close_status is not None:
            return {"closeStatusFilter": {"status": self.close_status}}
        return {}

    def time_filter(self) -> dict[str, Any]:
        window: dict[str, Any] = {"oldestDate": self.since or EPOCH}
        if self.until is not None:
            # a millisecond wider than asked: the server keeps finer times than it is sent, and
            # ``matches`` applies the bound exactly at SWF's precision
            window["latestDate"] = self.until + dt.timedelta(milliseconds=1)
        return {"startTimeFilter": window}

    def matches(self, info: dict[str, Any]) -> bool:
        """Every filter, checked on the client: SWF applies one, and moto ignores or mangles some."""
        status = info.get("executionStatus")
        if self.status == "open" and status != "OPEN":
            return False
        if self.status == "closed" and status != "CLOSED":
            return False
        if self.close_status is not None and info.get("closeStatus") != self.close_status:
            return False
        if self.workflow_id is not None and info["execution"]["workflowId"] != self.workflow_id:
            return False
        kind = info.get("workflowType", {})
        if self.type_name is not None and kind.get("name") != self.type_name:
            return False
        if self.type_version is not None and kind.get("version") != self.type_version:
            return False
        if self.tags and not set(self.tags) <= set(info.get("tagList") or ()):
            return False
        started = started_ms(info)
        if self.since is not None and started < self.since:
            return False
        return not (self.until is not None and started > self.until)


def started_at(info: dict[str, Any]) -> dt.datetime:
    """A run's start time, timezone-aware (boto3 parses SWF's timestamps)."""
    value = info.get("startTimestamp")
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if isinstance(value, int | float):
        return dt.datetime.fromtimestamp(value, dt.UTC)
    return EPOCH


def started_ms(info: dict[str, Any]) -> dt.datetime:
    """:func:`started_at` at SWF's precision, the millisecond (moto's is finer)."""
    started = started_at(info)
    return started - dt.timedelta(microseconds=started.microsecond % 1000)


@dataclass
class ExecutionsPage:
    """One page of :func:`executions_page`: its runs, and the cursor of the next page (None: the last)."""

    executions: list[dict[str, Any]]
    next_cursor: str | None


def executions_page(
    client: Any, domain: str, query: ExecutionQuery, *, size: int = 50, cursor: str | None = None
) -> ExecutionsPage:
    """``size`` runs ``query`` selects, newest first, from ``cursor`` (None: the newest) on.

    Reads only as many of SWF's own pages (of 1,000) as this page needs: one of each list
    usually, never the whole domain. A cursor is ``<ms since the epoch>.<n>``: the runs started at
    or before that millisecond, less the ``n`` first of them (given already); it stays valid
    while runs start and close, and a run that starts meanwhile shows on the first page.
    """
    skip, query_now = 0, query
    until: dt.datetime | None = None
    if cursor:
        try:
            ms_text, _, skip_text = cursor.partition(".")
            until = EPOCH + dt.timedelta(milliseconds=int(ms_text))
            skip = int(skip_text or 0)
        except (ValueError, OverflowError) as exc:
            raise ValueError(f"not a page cursor: {cursor!r}") from exc
        if skip < 0:
            raise ValueError(f"not a page cursor: {cursor!r}")
        if query.until is None or until < query.until:
            query_now = dataclasses.replace(query, until=until)
    runs = iter_executions(client, domain, query_now)  # SWF's largest pages: moto gives only one
    if skip:
        runs = itertools.dropwhile(_first_at(until, skip), runs)
    found = list(itertools.islice(runs, size + 1))
    if len(found) <= size:
        return ExecutionsPage(found, None)
    found = found[:size]
    last = started_ms(found[-1])
    same = sum(1 for info in found if started_ms(info) == last)
    if until is not None and last == until:
        same += skip
    return ExecutionsPage(found, f"{(last - EPOCH) // dt.timedelta(milliseconds=1)}.{same}")


def _first_at(until: dt.datetime | None, skip: int) -> Callable[[dict[str, Any]], bool]:
    """A predicate true for the first ``skip`` runs started at ``until`` (the previous pages' last ones)."""
    left = skip

    def given(info: dict[str, Any]) -> bool:
        nonlocal left
        if left and started_ms(info) == until:
            left -= 1
            return True
        return False

    return given


def count_executions(client: Any, domain: str, query: ExecutionQuery) -> dict[str, dict[str, Any] | None]:
    """SWF's counts of the runs ``query`` selects: ``{"open": {"count", "truncated"} | None, "closed": ...}``.

    Each is SWF's count under the query's one server-side filter (``server_filter``), so filters
    applied on the client are not in it; None where the query leaves that list out or the
    backend cannot count (moto).
    """
    counts: dict[str, dict[str, Any] | None] = {"open": None, "closed": None}
    for name, wanted, operation in (
        ("open", query.wants_open, "count_open_workflow_executions"),
        ("closed", query.wants_closed, "count_closed_workflow_executions"),
    ):
        if not wanted:
            continue
        params: dict[str, Any] = {"domain": domain, **query.time_filter(), **query.server_filter(name == "closed")}
        try:
            answer = getattr(client, operation)(**params)
        except NotImplementedError:
            continue
        counts[name] = {"count": int(answer.get("count", 0)), "truncated": bool(answer.get("truncated"))}
    return counts


def iter_executions(client: Any, domain: str, query: ExecutionQuery, *, page_size: int = PAGE_SIZE) -> Iterator[dict[str, Any]]:
    """The runs ``query`` selects, open and closed merged newest first (by start time), lazily.

    Each list is read page by page only as far as the caller reads: stop early and no
    further page is asked for. A run that closes between the two lists is given once.
    """
    streams: list[Iterator[dict[str, Any]]] = []
    if query.wants_open:
        streams.append(_list_pages(client, "list_open_workflow_executions", domain, query, False, page_size))
    if query.wants_closed:
        streams.append(_list_pages(client, "list_closed_workflow_executions", domain, query, True, page_size))
    seen: set[str] = set()
    for info in heapq.merge(*streams, key=started_at, reverse=True):
        run_id = info["execution"]["runId"]
        if run_id in seen:
            continue
        seen.add(run_id)
        yield info


def _list_pages(
    client: Any, operation: str, domain: str, query: ExecutionQuery, closed: bool, page_size: int
) -> Iterator[dict[str, Any]]:
    params: dict[str, Any] = {"domain": domain, "maximumPageSize": page_size}
    params.update(query.time_filter())
    params.update(query.server_filter(closed))
    token: str | None = None
    while True:
        page = getattr(client, operation)(**params, **({"nextPageToken": token} if token else {}))
        # SWF gives newest first; sorting the page costs nothing there and mends moto's oldest-first
        for info in sorted(page.get("executionInfos", []), key=started_at, reverse=True):
            if query.matches(info):
                yield info
        token = page.get("nextPageToken")
        if not token:
            return


def list_executions(
    client: Any,
    domain: str,
    *,
    status: str | None = None,
    close_status: str | None = None,
    type_name: str | None = None,
    type_version: str | None = None,
    tag: str | Iterable[str] | None = None,
    workflow_id: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """SWF's executionInfos matching every filter given, newest first, at most ``limit`` of them.

    SWF takes one of executionFilter/typeFilter/tagFilter/closeStatusFilter per call: the
    most selective one asked for goes to the server, the others are applied here (see
    :class:`ExecutionQuery`). ``tag`` may be one tag or several (all must be on the run).
    """
    tags = (tag,) if isinstance(tag, str) else tuple(tag or ())
    query = ExecutionQuery(status, close_status, type_name, type_version, tags, workflow_id, since, until)
    return list(itertools.islice(iter_executions(client, domain, query), limit))


# -- one run --------------------------------------------------------------------------------------
class AmbiguousRunId(ValueError):
    """A runId prefix that more than one run of the workflowId starts with."""


def fault_code(exc: BaseException) -> str | None:
    """An SWF fault's code (``UnknownResourceFault``...), None for anything else."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict) and isinstance(response.get("Error"), dict):
        return response["Error"].get("Code")
    return None


def find_run(client: Any, domain: str, workflow_id: str, run_id: str | None = None) -> dict[str, str]:
    """``{"workflowId", "runId"}``: the workflowId's latest run (its open one if it has one), or the run
    ``run_id`` names, in full or by a prefix (as ``executions list`` shows runIds, cut short).

    The workflowId is matched here too, not only by the server (moto ignores
    executionFilter). A run_id that no run starts with is passed on as given,
    for SWF to answer.
    """
    if run_id is None:
        runs = list_executions(client, domain, workflow_id=workflow_id, limit=1)
        if not runs:
            raise NoSuchExecution(f"no execution with workflowId {workflow_id!r} in domain {domain!r}")
        return dict(runs[0]["execution"])
    execution = {"workflowId": workflow_id, "runId": run_id}
    try:
        client.describe_workflow_execution(domain=domain, execution=execution)
        return execution
    except Exception as exc:
        if fault_code(exc) != "UnknownResourceFault":
            raise
        run_ids = [
            info["execution"]["runId"]
            for info in iter_executions(client, domain, ExecutionQuery(workflow_id=workflow_id))
            if info["execution"]["runId"].startswith(run_id)
        ]
        if not run_ids:
            raise
        if len(run_ids) > 1:
            raise AmbiguousRunId(f"{len(run_ids)} runs of {workflow_id!r} start with {run_id!r}: give more of the runId") from None
        return {"workflowId": workflow_id, "runId": run_ids[0]}


_ACTIVITY_CLOSED = (
    "ActivityTaskCompleted",
    "ActivityTaskFailed",
    "ActivityTaskTimedOut",
    "ActivityTaskCanceled",
)


def pending_activities(events: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The activity tasks a history leaves open (scheduled, or started, and not closed), oldest first.

    Each: activityId, activityType, state (SCHEDULED or STARTED), attempt (how many times this
    run scheduled that activityId), scheduledEventId, scheduledTimestamp, startedTimestamp and
    identity (once started), taskList, the timeouts it was scheduled with, cancelRequested.
    SWF records no event for a heartbeat and no API gives its time, so none is reported.
    """
    attempts: dict[str, int] = {}
    open_tasks: dict[int, dict[str, Any]] = {}
    for event in events:
        kind = event["eventType"]
        attrs = event.get(kind[0].lower() + kind[1:] + "EventAttributes", {})
        if kind == "ActivityTaskScheduled":
            activity_id = attrs["activityId"]
            attempts[activity_id] = attempts.get(activity_id, 0) + 1
            open_tasks[event["eventId"]] = {
                "activityId": activity_id,
                "activityType": attrs.get("activityType"),
                "state": "SCHEDULED",
                "attempt": attempts[activity_id],
                "scheduledEventId": event["eventId"],
                "scheduledTimestamp": event.get("eventTimestamp"),
                "startedTimestamp": None,
                "identity": None,
                "taskList": (attrs.get("taskList") or {}).get("name"),
                "heartbeatTimeout": attrs.get("heartbeatTimeout"),
                "startToCloseTimeout": attrs.get("startToCloseTimeout"),
                "scheduleToCloseTimeout": attrs.get("scheduleToCloseTimeout"),
                "cancelRequested": False,
            }
        elif kind == "ActivityTaskStarted":
            task = open_tasks.get(attrs.get("scheduledEventId", 0))
            if task is not None:
                task.update(state="STARTED", startedTimestamp=event.get("eventTimestamp"), identity=attrs.get("identity"))
        elif kind == "ActivityTaskCancelRequested":
            for task in open_tasks.values():
                if task["activityId"] == attrs.get("activityId"):
                    task["cancelRequested"] = True
        elif kind in _ACTIVITY_CLOSED:
            open_tasks.pop(attrs.get("scheduledEventId", 0), None)
    return list(open_tasks.values())


def describe_execution(client: Any, domain: str, workflow_id: str, run_id: str | None = None) -> dict[str, Any]:
    """:func:`describe_run` of the run :func:`find_run` finds."""
    return describe_run(client, domain, find_run(client, domain, workflow_id, run_id))


def describe_run(client: Any, domain: str, execution: dict[str, str]) -> dict[str, Any]:
    """DescribeWorkflowExecution's answer for one run, with ``pendingActivities``
    (:func:`pending_activities`; SWF's answer has only their count) for an open run."""
    detail = dict(client.describe_workflow_execution(domain=domain, execution=execution))
    detail.pop("ResponseMetadata", None)
    is_open = detail["executionInfo"].get("executionStatus") == "OPEN"
    detail["pendingActivities"] = pending_activities(history_events(client, domain, execution)) if is_open else []
    return detail


# -- acting on runs -------------------------------------------------------------------------------
ACTIONS = {
    "signal": "signal_workflow_execution",
    "cancel": "request_cancel_workflow_execution",
    "terminate": "terminate_workflow_execution",
}


def act(client: Any, domain: str, action: str, execution: dict[str, str], **params: Any) -> None:
    """Signal, cancel (request it) or terminate one run (no runId: the workflowId's open run).

    ``params``: signalName and input for a signal; reason, details and childPolicy for
    terminate; None values are left out.
    """
    call: dict[str, Any] = {"domain": domain, "workflowId": execution["workflowId"]}
    if execution.get("runId"):
        call["runId"] = execution["runId"]
    call.update({k: v for k, v in params.items() if v is not None})
    getattr(client, ACTIONS[action])(**call)


def act_on_each(
    client: Any, domain: str, action: str, executions: Iterable[dict[str, str]], **params: Any
) -> Iterator[tuple[dict[str, str], BaseException | None]]:
    """:func:`act` on every run in turn: ``(execution, None)`` when it worked, ``(execution, fault)`` when SWF
    refused (an SWF fault is reported and the next run tried; anything else is raised)."""
    for execution in executions:
        try:
            act(client, domain, action, execution, **params)
        except Exception as exc:
            if fault_code(exc) is None:
                raise
            yield execution, exc
        else:
            yield execution, None


# -- starting runs, types -------------------------------------------------------------------------
def list_types(client: Any, domain: str, kind: str, status: str = "REGISTERED", name: str | None = None) -> list[dict[str, Any]]:
    """Every workflow or activity type (``kind``) of a domain with that registration status, by name then version."""
    operation = {"workflow": "list_workflow_types", "activity": "list_activity_types"}[kind]
    found: list[dict[str, Any]] = []
    params: dict[str, Any] = {"domain": domain, "registrationStatus": status, "maximumPageSize": PAGE_SIZE}
    if name is not None:
        params["name"] = name
    token: str | None = None
    while True:
        page = getattr(client, operation)(**params, **({"nextPageToken": token} if token else {}))
        found.extend(page.get("typeInfos", []))
        token = page.get("nextPageToken")
        if not token:
            break
    key = f"{kind}Type"
    if name is not None:
        found = [t for t in found if t[key]["name"] == name]  # moto ignores the name
    return sorted(found, key=lambda t: (t[key]["name"], t[key]["version"]))


class TypeVersionUnknown(LookupError):
    """A type named without a version whose version cannot be told (none or several registered)."""


def type_version(client: Any, domain: str, kind: str, name: str) -> str:
    """The version of the one registered ``kind`` type called ``name``."""
    versions = [t[f"{kind}Type"]["version"] for t in list_types(client, domain, kind, "REGISTERED", name=name)]
    if len(versions) == 1:
        return str(versions[0])
    if not versions:
        raise TypeVersionUnknown(f"no registered {kind} type {name!r} in domain {domain!r}")
    raise TypeVersionUnknown(f"{kind} type {name!r} has versions {', '.join(versions)}: name one as {name}:VERSION")


def start_execution(
    client: Any,
    domain: str,
    type_name: str,
    version: str,
    workflow_id: str,
    *,
    input: str | None = None,
    task_list: str | None = None,
    execution_timeout: str | None = None,
    task_timeout: str | None = None,
    tags: Iterable[str] = (),
    child_policy: str | None = None,
    priority: str | None = None,
) -> dict[str, str]:
    """StartWorkflowExecution; ``{"workflowId", "runId"}`` (what is left unset takes the type's defaults)."""
    params: dict[str, Any] = {
        "domain": domain,
        "workflowId": workflow_id,
        "workflowType": {"name": type_name, "version": version},
    }
    optional = {
        "input": input,
        "taskList": {"name": task_list} if task_list else None,
        "executionStartToCloseTimeout": execution_timeout,
        "taskStartToCloseTimeout": task_timeout,
        "tagList": list(tags) or None,
        "childPolicy": child_policy,
        "taskPriority": priority,
    }
    params.update({k: v for k, v in optional.items() if v is not None})
    answer = client.start_workflow_execution(**params)
    return {"workflowId": workflow_id, "runId": answer["runId"]}
