"""Executions: start, describe, history, signal, cancel and terminate, and visibility (list, count)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from .core import Core, check_year, seconds, unknown_execution, unknown_type
from .faults import (
    DefaultUndefinedFault,
    LimitExceededFault,
    TypeDeprecatedFault,
    UnknownResourceFault,
    ValidationException,
    WorkflowExecutionAlreadyStartedFault,
)
from .keys import DomainKeys
from .run import Run, deadline, execution_info, ms, new_run_id, terminate
from .state import RunState
from .store import Tx, read_domain, read_open_count, read_type, read_workflow_id_open, unpack


class Executions:
    """The operations on executions as a whole, and the visibility queries."""

    def __init__(self, core: Core) -> None:
        self.core = core

    def start_workflow_execution(self, p: dict[str, Any]) -> dict[str, Any]:
        dk = DomainKeys(p["domain"])
        wtype = p["workflowType"]
        workflow_id = p["workflowId"]
        wf_key = dk.workflow_id(workflow_id)

        def body(tx: Tx) -> str:
            # one round trip: the domain, the type, the workflowId (WATCHed) and the open count
            raw_domain, raw_type, exists, open_count = tx.read_many(
                read_domain(p["domain"]),
                read_type(dk, "w", wtype["name"], wtype["version"]),
                read_workflow_id_open(dk, workflow_id),
                read_open_count(dk),
            )
            if raw_domain is None:
                raise UnknownResourceFault(f"Unknown domain: {p['domain']}")
            if raw_type is None:
                raise unknown_type("w", wtype["name"], wtype["version"])
            domain, record = unpack(raw_domain), unpack(raw_type)
            if record["status"] != "REGISTERED" or domain["status"] != "REGISTERED":
                raise TypeDeprecatedFault(
                    f"WorkflowType=[name={wtype['name']}, version={wtype['version']}] is deprecated"
                )
            if p.get("executionStartToCloseTimeout") == "NONE":
                raise ValidationException("executionStartToCloseTimeout cannot be NONE")
            check_year(p, "executionStartToCloseTimeout")
            cfg, missing = resolve_workflow_settings(record, p)
            if missing:
                raise DefaultUndefinedFault(f"{missing} is not set for this execution and has no default in its type")
            if cfg["executionStartToCloseTimeout"] == "NONE":
                raise DefaultUndefinedFault("executionStartToCloseTimeout cannot be NONE")
            if exists:
                raise WorkflowExecutionAlreadyStartedFault(
                    f"WorkflowExecution=[workflowId={workflow_id}] is already started"
                )
            if open_count >= self.core.config.max_open_executions:
                raise LimitExceededFault("Limit of open executions in this domain reached")
            run = new_run(p["domain"], workflow_id, wtype, cfg, p, self.core.clock.now())
            tx.multi()
            self.core.write_run(tx, dk, run, created=True)
            return run.run_id

        run_id = self.core.commit([wf_key], body)
        return {"runId": run_id}

    def describe_workflow_execution(self, p: dict[str, Any]) -> dict[str, Any]:
        _, run = self.core.execution(p)
        state = run.state
        cfg = state.config
        configuration = {
            "taskStartToCloseTimeout": cfg["taskStartToCloseTimeout"],
            "executionStartToCloseTimeout": cfg["executionStartToCloseTimeout"],
            "taskList": cfg["taskList"],
        }
        if "taskPriority" in cfg:
            configuration["taskPriority"] = cfg["taskPriority"]
        configuration["childPolicy"] = cfg["childPolicy"]
        if "lambdaRole" in cfg:
            configuration["lambdaRole"] = cfg["lambdaRole"]
        dt = state.decision_task
        out: dict[str, Any] = {
            "executionInfo": execution_info(state),
            "executionConfiguration": configuration,
            "openCounts": {
                "openActivityTasks": len(state.activities),
                "openDecisionTasks": 1 if (dt.scheduled_event_id or dt.started_event_id) else 0,
                "openTimers": len(state.timers),
                "openChildWorkflowExecutions": len(state.children),
                "openLambdaFunctions": len(state.lambda_tasks),
            },
        }
        if state.latest_activity_time is not None:
            out["latestActivityTaskTimestamp"] = state.latest_activity_time
        if state.execution_context is not None:
            out["latestExecutionContext"] = state.execution_context
        return out

    def get_workflow_execution_history(self, p: dict[str, Any]) -> dict[str, Any]:
        dk, run = self.core.execution(p)
        query = ("History", p["domain"], run.run_id, p.get("reverseOrder"))
        events, token = self.core.history_page(dk, run.run_id, 1, run.state.event_count, p, query)
        out: dict[str, Any] = {"events": events}
        if token:
            out["nextPageToken"] = token
        return out

    def _resolve_run_id(self, dk: DomainKeys, workflow_id: str, run_id: str | None) -> str:
        """The run a Signal/RequestCancel/Terminate targets: the given one if open, else the open one."""
        open_run = self.core.store.open_run_id(dk, workflow_id)
        if open_run is None or (run_id and run_id != open_run):
            raise unknown_execution(workflow_id, run_id)
        return open_run

    def _control(self, p: dict[str, Any], change: Callable[[Run], None]) -> dict[str, Any]:
        """Signal, RequestCancel, Terminate: the given run if open, else the workflowId's open run."""
        self.core.domain(p["domain"])
        dk = DomainKeys(p["domain"])
        run_id = self._resolve_run_id(dk, p["workflowId"], p.get("runId"))

        def guarded(run: Run, _tx: Tx) -> None:
            if not run.is_open:
                raise unknown_execution(p["workflowId"], p.get("runId"))
            change(run)

        self.core.transition(dk, run_id, guarded)
        return {}

    def signal_workflow_execution(self, p: dict[str, Any]) -> dict[str, Any]:
        def change(run: Run) -> None:
            attrs: dict[str, Any] = {"signalName": p["signalName"]}
            if "input" in p:
                attrs["input"] = p["input"]
            attrs["externalInitiatedEventId"] = 0
            run.add("WorkflowExecutionSignaled", attrs)

        return self._control(p, change)

    def request_cancel_workflow_execution(self, p: dict[str, Any]) -> dict[str, Any]:
        def change(run: Run) -> None:
            run.state.cancel_requested = True
            run.add("WorkflowExecutionCancelRequested", {"externalInitiatedEventId": 0})

        return self._control(p, change)

    def terminate_workflow_execution(self, p: dict[str, Any]) -> dict[str, Any]:
        def change(run: Run) -> None:
            attrs: dict[str, Any] = {k: p[k] for k in ("reason", "details") if k in p}
            policy = p.get("childPolicy") or run.state.config["childPolicy"]
            attrs["childPolicy"] = policy
            terminate(run, attrs, policy)

        return self._control(p, change)

    def _executions(self, p: dict[str, Any], closed: bool) -> tuple[list[RunState], int, DomainKeys]:
        """Matching run states, newest first (or oldest first with reverseOrder) — for list/count."""
        self.core.domain(p["domain"])
        dk = DomainKeys(p["domain"])
        start_filter = p.get("startTimeFilter")
        close_filter = p.get("closeTimeFilter")
        if closed and (start_filter is None) == (close_filter is None):
            raise ValidationException("Exactly one of startTimeFilter or closeTimeFilter must be specified")
        if not closed and start_filter is None:
            raise ValidationException("startTimeFilter is required")
        filters = [k for k in ("executionFilter", "typeFilter", "tagFilter", "closeStatusFilter") if k in p]
        if len(filters) > 1:
            raise ValidationException(
                "executionFilter, typeFilter, tagFilter and closeStatusFilter are mutually exclusive; "
                "only one can be specified"
            )
        by_close = close_filter is not None
        window = close_filter if by_close else start_filter
        assert window is not None
        lo = window["oldestDate"]
        hi = window.get("latestDate", math.inf)
        if not filters:
            zkey = (dk.closed_by_close if by_close else dk.closed) if closed else dk.open
            ids = self.core.store.run_ids_between(zkey, lo, hi)
        else:
            f = filters[0]
            if f == "executionFilter":
                zkey = dk.by_workflow_id(p[f]["workflowId"])
            elif f == "typeFilter":
                zkey = dk.by_type(p[f]["name"])
            elif f == "tagFilter":
                zkey = dk.by_tag(p[f]["tag"])
            else:
                zkey = dk.by_close_status(p[f]["status"])
            ids = self.core.store.run_ids(zkey) if by_close else self.core.store.run_ids_between(zkey, lo, hi)
        states = [RunState.load(stored) for stored in self.core.store.run_states(dk, ids)]
        wanted = "CLOSED" if closed else "OPEN"
        version = p.get("typeFilter", {}).get("version")

        def time_of(state: RunState) -> float:
            at = state.close_time if by_close else state.start_time
            return math.nan if at is None else at  # nan: never within the window

        matches = [
            s
            for s in states
            if s.status == wanted and (version is None or s.workflow_type[1] == version) and lo <= time_of(s) <= hi
        ]
        matches.sort(key=lambda s: (time_of(s), s.start_order, s.run_id), reverse=not p.get("reverseOrder"))
        return matches, len(matches), dk

    def _list_executions(self, p: dict[str, Any], closed: bool) -> dict[str, Any]:
        matches, _, _ = self._executions(p, closed)
        query = (
            "Executions",
            closed,
            p["domain"],
            *(
                str(p.get(k))
                for k in (
                    "startTimeFilter",
                    "closeTimeFilter",
                    "executionFilter",
                    "typeFilter",
                    "tagFilter",
                    "closeStatusFilter",
                    "reverseOrder",
                )
            ),
        )
        page, token = self.core.page(matches, p, query)
        out: dict[str, Any] = {"executionInfos": [execution_info(s) for s in page]}
        if token:
            out["nextPageToken"] = token
        return out

    def list_open_workflow_executions(self, p: dict[str, Any]) -> dict[str, Any]:
        return self._list_executions(p, closed=False)

    def list_closed_workflow_executions(self, p: dict[str, Any]) -> dict[str, Any]:
        return self._list_executions(p, closed=True)

    def count_open_workflow_executions(self, p: dict[str, Any]) -> dict[str, Any]:
        _, count, _ = self._executions(p, closed=False)
        return {"count": count, "truncated": False}

    def count_closed_workflow_executions(self, p: dict[str, Any]) -> dict[str, Any]:
        _, count, _ = self._executions(p, closed=True)
        return {"count": count, "truncated": False}


def resolve_workflow_settings(
    record: dict[str, Any], p: dict[str, Any]
) -> tuple[dict[str, Any], str | None]:
    """Resolve a new run's settings from the request, then the type (§3.1); return (cfg, missing field)."""
    defaults = record.get("configuration", {})
    cfg: dict[str, Any] = {}
    for member in ("executionStartToCloseTimeout", "taskList", "taskStartToCloseTimeout", "childPolicy"):
        value = p.get(member) or defaults.get("default" + member[0].upper() + member[1:])
        if not value:
            return cfg, member
        cfg[member] = value
    priority = p.get("taskPriority", defaults.get("defaultTaskPriority"))
    if priority is not None:
        cfg["taskPriority"] = priority
    role = p.get("lambdaRole", defaults.get("defaultLambdaRole"))
    if role is not None:
        cfg["lambdaRole"] = role
    return cfg, None


def new_run(
    domain: str,
    workflow_id: str,
    workflow_type: dict[str, str],
    cfg: dict[str, Any],
    p: dict[str, Any],
    now: float,
    *,
    parent: dict[str, str] | None = None,
    parent_initiated: int = 0,
    continued_from: str | None = None,
) -> Run:
    """A new open run with WorkflowExecutionStarted and its first DecisionTaskScheduled."""
    run_id = new_run_id()
    state = RunState(
        domain=domain,
        workflow_id=workflow_id,
        run_id=run_id,
        workflow_type=(workflow_type["name"], workflow_type["version"]),
        start_time=ms(now),
        config=cfg,
        start_order=time.time_ns(),
        tags=list(p.get("tagList") or []),
        parent=parent,
        parent_initiated_event_id=parent_initiated,
    )
    run = Run(state, now)
    attrs: dict[str, Any] = {}
    if "input" in p:
        attrs["input"] = p["input"]
    attrs["executionStartToCloseTimeout"] = cfg["executionStartToCloseTimeout"]
    attrs["taskStartToCloseTimeout"] = cfg["taskStartToCloseTimeout"]
    attrs["childPolicy"] = cfg["childPolicy"]
    attrs["taskList"] = cfg["taskList"]
    if "taskPriority" in cfg:
        attrs["taskPriority"] = cfg["taskPriority"]
    attrs["workflowType"] = workflow_type
    if state.tags:
        attrs["tagList"] = state.tags
    if continued_from:
        attrs["continuedExecutionRunId"] = continued_from
    if parent:
        attrs["parentWorkflowExecution"] = parent
    attrs["parentInitiatedEventId"] = parent_initiated
    if "lambdaRole" in cfg:
        attrs["lambdaRole"] = cfg["lambdaRole"]
    run.add("WorkflowExecutionStarted", attrs)
    timeout = seconds(cfg["executionStartToCloseTimeout"])
    if timeout is not None:
        run.effects.deadlines_add[deadline("wto", run_id)] = run.now + timeout
    return run
