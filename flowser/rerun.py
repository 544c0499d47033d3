"""Re-run from failure: a new execution of a closed run that reuses what completed in it.

    new = domain.rerun("order-7")                          # the latest run of order-7
    new = domain.rerun(execution, force=["charge-*"])     # run the charges again

How it works, in plain SWF calls (so it runs the same on AWS, moto and the local engine):

1. ``rerun`` reads the source run's ``WorkflowExecutionStarted`` event and
   starts a new execution with the same workflowId, type, input, task list,
   timeouts, child policy, priority and tags, plus the tag
   ``flowser-rerun=<source runId>`` (and ``flowser-rerun-force=<JSON list of
   patterns>`` when some are forced). Tags are part of the start call, so the
   reference is there before any decision task. The source must be closed
   (failed, timed out, terminated, canceled, completed or continued as new).
2. The new run's first decision task -- in whatever decider process takes
   it -- sees the tag and no ``flowser.rerun`` marker yet: it reads the
   source run's history with ``GetWorkflowExecutionHistory``, and that of
   every run before it in its continue-as-new chain (``continuedExecutionRunId``).
   Each activity and child workflow that COMPLETED there (a later run wins
   over an earlier one for the same id; a retried one counts once, under the
   id the decider gave) and whose id matches no ``force`` pattern (fnmatch)
   is reused: the typed ``task.history`` already shows it COMPLETED with its
   result when ``decide()`` runs, so the decider does not schedule it again
   (``Decision.complete`` also drops a ScheduleActivityTask or
   StartChildWorkflowExecution of a reused id).
3. That decision task records one ``flowser.reused`` marker per reused
   result (details: kind, id, type, result and the source's workflowId,
   runId and eventId), then a ``flowser.rerun`` marker summing it up; later
   decision tasks read the markers, never the source again. If the source
   cannot be read (a fault), the decision task is left unanswered, to time
   out and be tried again (``SourceUnavailable``). A result too
   large for a marker (32,768 characters with its envelope) is not reused:
   that activity runs again, and the summary says so.

moto leaves ``tagList`` out of WorkflowExecutionStarted: while moto's mock
is on in this process, a run's first decision task whose event has no tags
reads them with DescribeWorkflowExecution. On SWF and flowser's engine the
event has them, and no call is made.
"""

from __future__ import annotations

import fnmatch
import json
import logging
import sys
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from .decisions import build
from .exceptions import Error
from .history import COMPLETED, REUSED_MARKER, History

if TYPE_CHECKING:
    from .domain import Domain
    from .tasks import Decision, WorkflowExecution

__all__ = ["FORCE_TAG", "REUSED_MARKER", "SOURCE_TAG", "SUMMARY_MARKER", "SourceUnavailable", "collect", "rerun"]

log = logging.getLogger("flowser.rerun")

SOURCE_TAG = "flowser-rerun="
"""Tag prefix naming the runId a re-run reuses results from (same workflowId)."""
FORCE_TAG = "flowser-rerun-force="
"""Tag prefix holding the JSON list of the patterns forced to run again."""
SUMMARY_MARKER = "flowser.rerun"
"""The marker that says a re-run's reused results were recorded (details: source, reused, forced, not reused)."""
DETAILS_LIMIT = 32_768
TAG_LIMIT = 256
TAGS_LIMIT = 5
_START_FIELDS = (
    "workflowType",
    "taskList",
    "input",
    "executionStartToCloseTimeout",
    "taskStartToCloseTimeout",
    "childPolicy",
    "taskPriority",
    "lambdaRole",
)


def _ours(tag: str) -> bool:
    return tag.startswith((SOURCE_TAG, FORCE_TAG))


def rerun_tags(source_tags: Iterable[str], run_id: str, force: Sequence[str]) -> list[str]:
    """The new run's tags: the source's own, then the reference (and the forced patterns)."""
    tags = [tag for tag in source_tags if not _ours(tag)]
    tags.append(SOURCE_TAG + run_id)
    if force:
        tags.append(FORCE_TAG + json.dumps(list(force), separators=(",", ":")))
    if len(tags) > TAGS_LIMIT:
        raise Error(f"a re-run needs {len(tags)} tags (the source's and its own); SWF allows {TAGS_LIMIT}")
    too_long = [tag for tag in tags if len(tag) > TAG_LIMIT]
    if too_long:
        raise Error(f"tag {too_long[0][:40]!r}... is longer than {TAG_LIMIT} characters (fewer or shorter --force patterns)")
    return tags


def rerun(domain: Domain, execution: WorkflowExecution | str, run_id: str | None = None, force: Sequence[str] = ()) -> WorkflowExecution:
    """Start a new execution of ``execution``'s closed run, reusing what completed in it (see the module)."""
    from .tasks import WorkflowExecution

    if isinstance(execution, str):
        execution = domain.execution(execution, run_id)
    elif run_id is not None:
        execution = domain.execution(execution.workflow_id, run_id, execution.workflow_type)
    source = execution.history()
    if source.started is None:
        raise Error(f"{execution}: its history has no WorkflowExecutionStarted event")
    if source.closed is None:
        raise Error(f"{execution} is still open: a re-run starts once it has closed (terminate it first)")
    attrs = source.started.raw_attrs
    kwargs: dict[str, Any] = {name: attrs[name] for name in _START_FIELDS if attrs.get(name) not in (None, "")}
    tags = attrs["tagList"] if "tagList" in attrs else execution.describe()["executionInfo"].get("tagList")  # moto: not in the event
    kwargs["tagList"] = rerun_tags(tags or [], str(execution.run_id), force)
    answer = domain.conn.start_workflow_execution(domain=domain.name, workflowId=execution.workflow_id, **kwargs)
    new = WorkflowExecution({"workflowId": execution.workflow_id, "runId": answer["runId"]}, domain, workflow_type=execution.workflow_type)
    new.rerun_of = execution.to_dict()
    log.info("re-run of %s started as run %s (forced: %s)", execution, new.run_id, list(force) or "none")
    return new


# -- the new run's side ------------------------------------------------------------------------
def _moto_mocking() -> bool:
    """moto's mock is on in this process (moto leaves tagList out of WorkflowExecutionStarted events;
    SWF and flowser's engine do not). Nothing is imported: without moto loaded, it is not moto."""
    models = sys.modules.get("moto.core.models")
    return bool(getattr(getattr(models, "botocore_stubber", None), "enabled", False))


def _tags(task: Decision, history: History) -> list[str]:
    """The run's tags, from its WorkflowExecutionStarted event. Under moto's mock, which leaves them out of
    it, a run's first decision task whose event has no tagList asks DescribeWorkflowExecution."""
    assert history.started is not None
    attrs = history.started.raw_attrs
    if "tagList" in attrs or history.filter("DecisionTaskCompleted") or not _moto_mocking():
        return list(attrs.get("tagList") or [])
    try:
        described = task._domain.conn.describe_workflow_execution(
            domain=task._domain.name, execution=task.workflow_execution.to_dict()
        )
    except Exception as exc:  # a run that is not a re-run must not fail on this
        log.warning("could not read the tags of %s (%s): if it is a re-run, it reuses nothing", task.workflow_execution, exc)
        return []
    return list(described.get("executionInfo", {}).get("tagList") or [])


def source_of(tags: Iterable[str]) -> tuple[str, list[str]] | None:
    """``(source runId, force patterns)`` when ``tags`` are a re-run's, else None."""
    run_id, force = None, []
    for tag in tags:
        if tag.startswith(SOURCE_TAG):
            run_id = tag[len(SOURCE_TAG) :]
        elif tag.startswith(FORCE_TAG):
            try:
                force = [str(p) for p in json.loads(tag[len(FORCE_TAG) :])]
            except ValueError:
                force = []
    return (run_id, force) if run_id else None


class SourceUnavailable(Error):
    """The source run of a re-run could not be read: the decision task is left to time out and is tried again."""


class Prepared:
    """What a re-run's first decision task records, and the ids ``decide()`` must not schedule."""

    def __init__(self) -> None:
        self.decisions: list[dict[str, Any]] = []
        self.reused: set[tuple[str, str]] = set()


def prepare(task: Decision, history: History) -> Prepared | None:
    """For a re-run whose reused results are not recorded yet: inject them into ``history``; the markers to record."""
    if history.started is None or any(m.name == SUMMARY_MARKER for m in history.markers):
        return None
    found = source_of(_tags(task, history))
    if found is None:
        return None
    source_run_id, force = found
    workflow_id = task.workflow_execution.workflow_id
    domain = task._domain
    try:
        run_ids, results = collect(domain, workflow_id, source_run_id)
    except Exception as exc:
        raise SourceUnavailable(f"re-run of {workflow_id}: cannot read the source run {source_run_id}: {exc}") from exc
    prepared = Prepared()
    forced, too_large = [], []
    for (kind, ident), details in results.items():
        if any(fnmatch.fnmatchcase(ident, pattern) for pattern in force):
            forced.append(ident)
            continue
        if ident in (history.activities if kind == "activity" else history.children):
            continue  # already scheduled in this run (never on a first decision task)
        text = json.dumps(details, separators=(",", ":"))
        if len(text) > DETAILS_LIMIT:
            too_large.append(ident)
            continue
        history.reuse(kind, ident, details["type"], details["result"], details["source"])
        prepared.reused.add((kind, ident))
        prepared.decisions.append(build("RecordMarker", markerName=REUSED_MARKER, details=text))
    summary: dict[str, Any] = {
        "source": {"workflowId": workflow_id, "runId": source_run_id, "chain": run_ids},
        "reused": len(prepared.reused),
        "forced": sorted(forced),
        "force": force,
        "notReused": sorted(too_large),
    }
    text = json.dumps(summary, separators=(",", ":"))
    if len(text) > DETAILS_LIMIT:  # too many ids to list: their numbers
        summary.update(forced=len(forced), notReused=len(too_large), force=force[:20])
        text = json.dumps(summary, separators=(",", ":"))[:DETAILS_LIMIT]
    prepared.decisions.append(build("RecordMarker", markerName=SUMMARY_MARKER, details=text))
    log.info(
        "re-run of %s run %s: %d result(s) reused, %d forced, %d too large",
        workflow_id,
        source_run_id,
        len(prepared.reused),
        len(forced),
        len(too_large),
    )
    return prepared


def collect(domain: Any, workflow_id: str, run_id: str) -> tuple[list[str], dict[tuple[str, str], dict[str, Any]]]:
    """``(runIds oldest first, {(kind, id): marker details})``: what completed in the run and the runs it continued."""
    from .tasks import WorkflowExecution

    histories: list[tuple[str, History]] = []
    seen: set[str] = set()
    current: str | None = run_id
    while current and current not in seen:
        seen.add(current)
        execution = WorkflowExecution({"workflowId": workflow_id, "runId": current}, domain)
        history = execution.history()
        histories.append((current, history))
        current = history.started.raw_attrs.get("continuedExecutionRunId") if history.started is not None else None
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for rid, history in reversed(histories):
        found.update(_completed(history, workflow_id, rid))
    return [rid for rid, _ in reversed(histories)], found


def _completed(history: History, workflow_id: str, run_id: str) -> dict[tuple[str, str], dict[str, Any]]:
    out: dict[tuple[str, str], dict[str, Any]] = {}
    records: list[tuple[str, Any]] = [("activity", r) for r in history.activities.values()]
    records += [("child", r) for r in history.children.values()]
    for kind, record in records:
        if record.status != COMPLETED:
            continue
        ident = record.activity_id if kind == "activity" else record.workflow_id
        if record.reused is not None:
            raw, type_dict, event = record.reused.raw_result, record.reused.type, record.reused.marker
        else:
            raw = record.closed.get("result") if record.closed is not None else None
            type_dict = record.activity_type if kind == "activity" else record.workflow_type
            event = record.closed
        out[kind, ident] = {
            "kind": kind,
            "id": ident,
            "type": dict(type_dict),
            "result": raw,
            "source": {"workflowId": workflow_id, "runId": run_id, "eventId": event.id if event is not None else None},
        }
    return out


def drop_reused(decisions: list[dict[str, Any]], prepared: Prepared) -> list[dict[str, Any]]:
    """``decisions`` without the schedules and child starts of reused ids (the race a first decision task must not lose)."""
    out = []
    for decision in decisions:
        kind = decision.get("decisionType")
        if kind == "ScheduleActivityTask":
            ident = ("activity", decision["scheduleActivityTaskDecisionAttributes"].get("activityId"))
        elif kind == "StartChildWorkflowExecution":
            ident = ("child", decision["startChildWorkflowExecutionDecisionAttributes"].get("workflowId"))
        else:
            out.append(decision)
            continue
        if ident in prepared.reused:
            log.warning("re-run: %s %s reuses its earlier result; the decision to run it again is dropped", *ident)
            continue
        out.append(decision)
    return out
