"""What one run's transition asks of another run: children, external signals and cancels (§9, §11).

A decision that concerns another run (StartChildWorkflowExecution,
SignalExternalWorkflowExecution, RequestCancelExternalWorkflowExecution) and
a child's close record an *outbox* entry in the domain's deadlines ZSET, due
at once, in the same commit as their own events. ``deliver`` carries it out
in one transaction over both runs (same domain, so same Redis slot): right
after the commit by the timekeeper, or after a crash by whichever timekeeper
comes next. The transaction re-checks the entry under WATCH and always
rewrites the source run, so an entry is delivered exactly once.

Outbox kinds (member ``<kind>|<runId>|<ref>``):
  chs  start the child initiated by event <ref> of run <runId>
  chc  run <runId>, a child, has closed: tell its parent
  sig  deliver the signal initiated by event <ref> of run <runId>
  rcx  deliver the cancel request initiated by event <ref> of run <runId>
"""

from __future__ import annotations

from typing import Any

from .core import Core, load_run
from .events import load_event
from .executions import new_run
from .keys import DomainKeys
from .run import Run, attributes_key
from .store import (
    Tx,
    read_deadline,
    read_event,
    read_last_event,
    read_open_run_id,
    read_run,
    read_workflow_id_open,
)

OUTBOX_KINDS = frozenset({"chs", "chc", "sig", "rcx"})

CHILD_CLOSE_EVENTS = {
    "COMPLETED": ("ChildWorkflowExecutionCompleted", ("result",)),
    "FAILED": ("ChildWorkflowExecutionFailed", ("reason", "details")),
    "CANCELED": ("ChildWorkflowExecutionCanceled", ("details",)),
    "TIMED_OUT": ("ChildWorkflowExecutionTimedOut", ("timeoutType",)),
    "TERMINATED": ("ChildWorkflowExecutionTerminated", ()),
}


def _event_attributes(tx: Tx, dk: DomainKeys, run_id: str, event_id: int) -> dict[str, Any]:
    event = load_event(tx.read(read_event(dk, run_id, event_id)))
    return dict(event[attributes_key(event["eventType"])])


def deliver(engine: Core, dk: DomainKeys, member: str, kind: str, run_id: str, ref: int, now: float) -> bool:
    handler = {"chs": _start_child, "chc": _child_closed, "sig": _external, "rcx": _external}[kind]

    def body(tx: Tx) -> bool:
        if tx.read(read_deadline(dk, member)) is None:
            return False  # delivered by another timekeeper meanwhile
        raw = tx.read(read_run(dk, run_id))
        if raw is None:
            tx.multi()
            tx.remove_deadlines(dk, [member])
            return False
        source = load_run(raw, now)
        runs = handler(engine, tx, dk, source, kind, ref, now)
        tx.multi()
        engine.write_run(tx, dk, source)  # always: a concurrent deliverer's WATCH fails
        for run, created in runs:
            if run is not source:
                engine.write_run(tx, dk, run, created=created)
        tx.remove_deadlines(dk, [member])
        return True

    return bool(engine.commit([dk.run(run_id)], body))


def _start_child(engine: Core, tx: Tx, dk: DomainKeys, parent: Run, kind: str, initiated: int, now: float) -> list[tuple[Run, bool]]:
    entry = parent.state.children.get(initiated)
    if entry is None or entry.run_id or not parent.is_open:
        return []  # already started, or the parent closed first: no child (docs/semantics.md)
    ev = _event_attributes(tx, dk, parent.run_id, initiated)
    workflow_id = ev["workflowId"]
    tx.watch_workflow_id(dk, workflow_id)
    if tx.read(read_workflow_id_open(dk, workflow_id)):
        del parent.state.children[initiated]
        failed: dict[str, Any] = {
            "workflowType": ev["workflowType"],
            "cause": "WORKFLOW_ALREADY_RUNNING",
            "workflowId": workflow_id,
            "initiatedEventId": initiated,
            "decisionTaskCompletedEventId": ev["decisionTaskCompletedEventId"],
        }
        if "control" in ev:
            failed["control"] = ev["control"]
        parent.add("StartChildWorkflowExecutionFailed", failed)
        return []
    cfg: dict[str, Any] = {
        k: ev[k]
        for k in ("executionStartToCloseTimeout", "taskList", "taskStartToCloseTimeout", "childPolicy", "taskPriority", "lambdaRole")
        if k in ev
    }
    settings: dict[str, Any] = {k: ev[k] for k in ("input", "tagList") if k in ev}
    child = new_run(
        dk.domain, workflow_id, ev["workflowType"], cfg, settings, now, parent=parent.execution, parent_initiated=initiated
    )
    entry.run_id = child.run_id
    entry.started_event_id = parent.add(
        "ChildWorkflowExecutionStarted",
        {"workflowExecution": child.execution, "workflowType": ev["workflowType"], "initiatedEventId": initiated},
    )
    return [(child, True)]


def _child_closed(engine: Core, tx: Tx, dk: DomainKeys, child: Run, kind: str, _ref: int, now: float) -> list[tuple[Run, bool]]:
    parent_execution = child.state.parent
    if not parent_execution or child.is_open:
        return []
    tx.watch_run(dk, parent_execution["runId"])
    raw = tx.read(read_run(dk, parent_execution["runId"]))
    if raw is None:
        return []
    parent = load_run(raw, now)
    initiated = child.state.parent_initiated_event_id
    entry = parent.state.children.get(initiated)
    if not parent.is_open or entry is None or child.state.close_status is None:
        return []
    event_type, members = CHILD_CLOSE_EVENTS[child.state.close_status]
    close_event = load_event(tx.read(read_last_event(dk, child.run_id)))
    close_attrs = close_event[attributes_key(close_event["eventType"])]
    attrs: dict[str, Any] = {"workflowExecution": child.execution, "workflowType": child.workflow_type}
    attrs.update({k: close_attrs[k] for k in members if k in close_attrs})
    attrs["initiatedEventId"] = initiated
    attrs["startedEventId"] = entry.started_event_id
    del parent.state.children[initiated]
    parent.add(event_type, attrs)
    return [(parent, False)]


def _external(engine: Core, tx: Tx, dk: DomainKeys, source: Run, kind: str, initiated: int, now: float) -> list[tuple[Run, bool]]:
    ev = _event_attributes(tx, dk, source.run_id, initiated)
    tx.watch_workflow_id(dk, ev["workflowId"])
    open_run = tx.read(read_open_run_id(dk, ev["workflowId"]))
    target: Run | None = None
    if open_run is not None and ev.get("runId") in (None, "", open_run.decode()):
        target_id = open_run.decode()
        if target_id == source.run_id:
            target = source
        else:
            tx.watch_run(dk, target_id)
            raw = tx.read(read_run(dk, target_id))
            target = load_run(raw, now) if raw is not None else None
    signal = kind == "sig"
    if target is None or not target.is_open:
        if source.is_open:
            failed: dict[str, Any] = {"workflowId": ev["workflowId"]}
            if ev.get("runId"):
                failed["runId"] = ev["runId"]
            failed["cause"] = "UNKNOWN_EXTERNAL_WORKFLOW_EXECUTION"
            failed["initiatedEventId"] = initiated
            failed["decisionTaskCompletedEventId"] = ev["decisionTaskCompletedEventId"]
            if "control" in ev:
                failed["control"] = ev["control"]
            source.add(
                "SignalExternalWorkflowExecutionFailed" if signal else "RequestCancelExternalWorkflowExecutionFailed",
                failed,
            )
        return []
    if signal:
        attrs: dict[str, Any] = {"signalName": ev["signalName"]}
        if "input" in ev:
            attrs["input"] = ev["input"]
        attrs["externalWorkflowExecution"] = source.execution
        attrs["externalInitiatedEventId"] = initiated
        target.add("WorkflowExecutionSignaled", attrs)
    else:
        target.state.cancel_requested = True
        target.add(
            "WorkflowExecutionCancelRequested",
            {"externalWorkflowExecution": source.execution, "externalInitiatedEventId": initiated},
        )
    if source.is_open:
        source.add(
            "ExternalWorkflowExecutionSignaled" if signal else "ExternalWorkflowExecutionCancelRequested",
            {"workflowExecution": target.execution, "initiatedEventId": initiated},
        )
    return [(target, False)]
