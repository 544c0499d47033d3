"""History files: a run's events saved as JSON, for replay tests, the dashboard and other tools.

``flowser executions history WORKFLOW_ID -o json`` writes one document
(docs/cli.md, "The history file")::

    {
      "format": "flowser-history/1",
      "domain": "orders",
      "execution": {"workflowId": "order-42", "runId": "22Pij4..."},
      "workflowType": {"name": "Order", "version": "1"},
      "events": [ ... GetWorkflowExecutionHistory's events, oldest first,
                  eventTimestamp as ISO 8601 (UTC) ... ]
    }

:func:`load_history` reads that, and also what other tools save: raw
``GetWorkflowExecutionHistory`` pages (``{"events": [...]}``, as the AWS CLI
prints them, or a list of pages), a list of events, or JSON Lines with one
event (or page) per line (``-o jsonl``). Timestamps may be ISO 8601 or epoch
seconds. The events come back in boto3's shape: ``eventTimestamp`` an aware
``datetime``, attributes as they were, oldest first.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from .render import timestamp

__all__ = ["FORMAT", "HistoryFile", "dump_event", "history_document", "load_histories", "load_history"]

FORMAT = "flowser-history/1"


@dataclass
class HistoryFile:
    """One run's history: its events (boto3's shape) and what is known of the run."""

    events: list[dict[str, Any]]
    domain: str | None = None
    execution: dict[str, str] | None = None
    workflow_type: dict[str, str] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def workflow_id(self) -> str | None:
        return (self.execution or {}).get("workflowId")

    @property
    def run_id(self) -> str | None:
        return (self.execution or {}).get("runId")

    def to_dict(self) -> dict[str, Any]:
        """The ``flowser-history/1`` document (JSON-ready)."""
        return history_document(self.events, domain=self.domain, execution=self.execution, workflow_type=self.workflow_type)

    def dumps(self, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=indent)


def dump_event(event: Mapping[str, Any]) -> dict[str, Any]:
    """An event as JSON-ready data: datetimes as UTC ISO 8601 with milliseconds, the rest as it is."""
    return {k: _jsonable(v) for k, v in event.items() if k != "ResponseMetadata"}


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return _iso(value)
    if isinstance(value, Mapping):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def _iso(value: dt.datetime) -> str:
    aware = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    return aware.astimezone(dt.UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def history_document(
    events: Iterable[Mapping[str, Any]],
    *,
    domain: str | None = None,
    execution: Mapping[str, str] | None = None,
    workflow_type: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The ``flowser-history/1`` document for one run's events (the workflow type from its first event if not given)."""
    dumped = [dump_event(e) for e in sorted(events, key=lambda e: e["eventId"])]
    if workflow_type is None:
        workflow_type = _workflow_type(dumped)
    return {
        "format": FORMAT,
        "domain": domain,
        "execution": dict(execution) if execution else None,
        "workflowType": dict(workflow_type) if workflow_type else None,
        "events": dumped,
    }


def _workflow_type(events: list[dict[str, Any]]) -> dict[str, str] | None:
    for event in events:
        if event.get("eventType") == "WorkflowExecutionStarted":
            found = event.get("workflowExecutionStartedEventAttributes", {}).get("workflowType")
            return dict(found) if found else None
    return None


# -- loading ----------------------------------------------------------------------------------
Source = HistoryFile | Mapping[str, Any] | list[Any] | str | os.PathLike[str] | IO[str] | IO[bytes]


def load_history(source: Source) -> HistoryFile:
    """One run's history from a file, a file object or parsed JSON (see the module docstring).

    ``source``: a path (``str`` or ``Path``), an open file, a ``flowser-history/1``
    document, one ``GetWorkflowExecutionHistory`` page (``{"events": [...]}``), a
    list of pages or of events. Raises ``ValueError`` for anything else, and
    when the source holds several runs (a ``--follow -o jsonl`` stream that
    followed a continue-as-new: use :func:`load_histories`).
    """
    runs = load_histories(source)
    if len(runs) != 1:
        raise ValueError(f"the history holds {len(runs)} runs: load it with load_histories()")
    return runs[0]


def load_histories(source: Source) -> list[HistoryFile]:
    """Every run in ``source``, in order: a stream of events starts a new run where eventId starts again at 1."""
    if isinstance(source, HistoryFile):
        return [source]
    data = _parse(source)
    meta: dict[str, Any] = {}
    if isinstance(data, Mapping):
        kind = data.get("format")
        if kind is not None:
            if not (isinstance(kind, str) and kind.startswith("flowser-history/")):
                raise ValueError(f"not a flowser history file: format {kind!r}")
            if kind != FORMAT:
                raise ValueError(f"history format {kind!r}: this flowser reads {FORMAT}")
            meta = {k: data.get(k) for k in ("domain", "execution", "workflowType")}
        if not isinstance(data.get("events"), list):
            raise ValueError("not a history: no 'events' list")
        events = list(data["events"])
    elif isinstance(data, list):
        events = []
        for item in data:
            if isinstance(item, Mapping) and "eventId" in item:
                events.append(item)
            elif isinstance(item, Mapping) and isinstance(item.get("events"), list):
                events.extend(item["events"])  # a page
            else:
                raise ValueError("not a history: a list should hold events or GetWorkflowExecutionHistory pages")
    else:
        raise ValueError(f"not a history: {type(data).__name__}")
    runs = _split_runs([_load_event(e) for e in events])
    if not runs:
        return [HistoryFile([], meta.get("domain"), _execution(meta.get("execution")), meta.get("workflowType"))]
    out: list[HistoryFile] = []
    execution = _execution(meta.get("execution"))
    for events_of_run in runs:
        out.append(
            HistoryFile(
                events_of_run,
                meta.get("domain"),
                execution,
                (meta.get("workflowType") if not out else None) or _workflow_type(events_of_run),
            )
        )
        new_run = _new_run_id(events_of_run)
        execution = {"workflowId": execution["workflowId"], "runId": new_run} if execution and new_run else None
    return out


def _execution(value: Any) -> dict[str, str] | None:
    return {"workflowId": str(value["workflowId"]), "runId": str(value["runId"])} if isinstance(value, Mapping) else None


def _new_run_id(events: list[dict[str, Any]]) -> str | None:
    last = events[-1] if events else {}
    if last.get("eventType") == "WorkflowExecutionContinuedAsNew":
        return last.get("workflowExecutionContinuedAsNewEventAttributes", {}).get("newExecutionRunId")
    return None


def _split_runs(events: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Events in runs: a stream where eventId goes back to 1 holds another run; each run sorted, duplicates dropped."""
    runs: list[dict[int, dict[str, Any]]] = []
    for event in events:
        eid = event["eventId"]
        if not runs or (eid == 1 and 1 in runs[-1] and runs[-1][1] != event):
            runs.append({})
        runs[-1].setdefault(eid, event)
    return [[run[k] for k in sorted(run)] for run in runs]


def _load_event(event: Any) -> dict[str, Any]:
    if not isinstance(event, Mapping) or not isinstance(event.get("eventId"), int) or not event.get("eventType"):
        raise ValueError(f"not a history event: {str(event)[:80]}")
    loaded = dict(event)
    if "eventTimestamp" in loaded:
        loaded["eventTimestamp"] = timestamp(loaded["eventTimestamp"])
    return loaded


def _parse(source: Any) -> Any:
    if isinstance(source, Mapping | list):
        return source
    if isinstance(source, str | os.PathLike):
        text = Path(source).read_text(encoding="utf-8")
    elif hasattr(source, "read"):
        raw = source.read()
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    else:
        raise ValueError(f"not a history source: {type(source).__name__}")
    try:
        return json.loads(text)
    except json.JSONDecodeError as whole:
        items = []
        for number, line in enumerate(io.StringIO(text), 1):
            if not line.strip():
                continue
            try:
                items.append(json.loads(line))
            except json.JSONDecodeError:
                raise ValueError(f"neither JSON nor JSON Lines (line {number}): {whole}") from None
        return items
