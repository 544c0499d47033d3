"""The execution page: one run's header, its history in three views, its pending work and its children.

Routes (under ``/ui``):

* ``GET /d/{domain}/x/{workflow_id}/{run_id}`` -- the page. ``?view=timeline|grouped|json``
  picks the view shown (all three are in the page; without a script the tabs are
  links to this), ``?page=N`` the page of that view (lanes, groups, events:
  :data:`PER_PAGE` each), so that a 10,000-event run is quick to show.
* ``GET …/fragment?view=&page=`` -- the page's live parts (``data-region`` elements:
  header, pending work, children, the three views) that ``live.js`` swaps in when
  the run's events come over the dashboard's event stream, or on a timer when the
  backend has none.
* ``GET …/history.json`` -- the run's history file (``flowser-history/1``, as
  ``flowser executions history -o json`` writes it), as a download.
* ``GET /open/{upload_id}/history.json`` -- the same for a history opened from a file.

Everything is rendered from an :class:`ExecutionData` -- a run's events and what is
known of it -- so a history opened from a file (``/ui/open``, :func:`offline_page`)
is shown by the same code, without a client. Every value from the workflow goes
through :func:`~flowser.ui.html.esc`.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .. import ops, trace
from ..events import raw_attrs
from ..historyfile import HistoryFile, dump_event, history_document
from ..render import (
    CLOSE_EVENTS,
    Decode,
    Group,
    duration_text,
    grouped,
    iso,
    json_payload,
    offset_text,
    timestamp,
    type_text,
)
from ..rerun import SOURCE_TAG
from . import timeline as tl
from .app import UI, HttpError, Request, Response, Route
from .html import esc, fragment, href, page, status_class

__all__ = [
    "PER_PAGE",
    "ROUTES",
    "VIEWS",
    "ExecutionData",
    "Links",
    "execution_page",
    "history_json",
    "offline_page",
    "render_body",
    "render_regions",
]

VIEWS = {"timeline": "Timeline", "grouped": "Grouped", "json": "Full JSON"}
"""The history's views: query value -> tab label."""
PANEL_IDS = {"timeline": "timeline", "grouped": "grouped", "json": "history-json"}
PER_PAGE = 200
"""Lanes, groups or events per page of a view."""
PAYLOAD_LIMIT = 20_000
"""Characters of a decoded input or result shown in the header (the JSON view has all)."""
PENDING_SHOWN = 100
"""Pending activity tasks listed (the oldest first)."""
TREE_READS = 25
"""Children whose own histories are read for the child tree (the others as the parent's history tells)."""
TREE_SHOWN = 200
"""Children listed in the tree."""
TREE_DEPTH = 2
"""Levels below each child read for the tree."""


# -- what the page shows ----------------------------------------------------------------------
@dataclass
class ExecutionData:
    """One run as the page shows it: its events, and what is known of it."""

    domain: str | None
    execution: dict[str, str]
    """``{"workflowId", "runId"}`` (either may be empty for a history file without them)."""
    events: list[dict[str, Any]]
    now: dt.datetime | None = None
    """Where open things end on the timeline (None: the last event's time, for a saved history)."""
    tree: trace.TreeNode | None = None
    """The child tree read from the backend; None: built from this run's history alone."""
    offline: bool = False
    decode: Decode = json_payload
    _groups: list[Group] | None = field(default=None, repr=False)

    def groups(self) -> list[Group]:
        """:func:`flowser.render.grouped` of the events (made once)."""
        if self._groups is None:
            self._groups = grouped(self.events, decode=self.decode, value_width=120)
        return self._groups

    @property
    def workflow_id(self) -> str:
        return self.execution.get("workflowId", "")

    @property
    def run_id(self) -> str:
        return self.execution.get("runId", "")


@dataclass
class Links:
    """Where the page's links go: its own URL (views, pages, fragment, download) and other runs' pages."""

    segments: tuple[str, ...]
    """This page's path under /ui/ (``("d", domain, "x", workflowId, runId)`` or ``("open", upload_id)``)."""
    domain: str | None = None
    """Other runs link to their pages in this domain (None: no links)."""

    def here(self, *more: str, **query: Any) -> str:
        return href(*self.segments, *more, **query)

    def run(self, workflow_id: str | None, run_id: str | None) -> str | None:
        if not self.domain or not workflow_id or not run_id:
            return None
        return href("d", self.domain, "x", workflow_id, run_id)

    def view(self, view: str, page: int = 1, anchor: str = "") -> str:
        return self.here(view=view, page=page if page > 1 else None) + (f"#{anchor}" if anchor else "")


def history_json(data: ExecutionData) -> str:
    """The run's history file, exactly as ``flowser executions history -o json`` writes it."""
    document = history_document(data.events, domain=data.domain, execution=data.execution or None)
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"


# -- the header ----------------------------------------------------------------------------------
@dataclass
class Summary:
    workflow_type: str = ""
    status: str = "OPEN"
    started: dt.datetime | None = None
    closed: dt.datetime | None = None
    parent: dict[str, str] | None = None
    input: str | None = None
    outcome: list[tuple[str, str]] = field(default_factory=list)
    """The close event's attributes (result, reason, details, cause, timeoutType...), raw."""
    continued_from: str | None = None
    continued_as: str | None = None
    task_list: str | None = None
    tags: list[str] = field(default_factory=list)
    timeouts: list[tuple[str, str]] = field(default_factory=list)
    child_policy: str | None = None
    cancel_requested: bool = False
    last_event_id: int = 0
    event_count: int = 0


def summarise(events: list[dict[str, Any]]) -> Summary:
    out = Summary()
    out.event_count = len(events)
    for event in events:
        kind = str(event["eventType"])
        out.last_event_id = max(out.last_event_id, int(event["eventId"]))
        if kind == "WorkflowExecutionStarted":
            attrs = raw_attrs(event)
            out.workflow_type = type_text(attrs.get("workflowType"))
            out.started = timestamp(event.get("eventTimestamp"))
            parent = attrs.get("parentWorkflowExecution")
            out.parent = dict(parent) if isinstance(parent, Mapping) else None
            out.input = attrs.get("input")
            out.continued_from = attrs.get("continuedExecutionRunId")
            out.task_list = (attrs.get("taskList") or {}).get("name")
            out.tags = list(attrs.get("tagList") or [])
            out.timeouts = [
                (label, str(attrs[name]))
                for name, label in (("executionStartToCloseTimeout", "execution"), ("taskStartToCloseTimeout", "decision task"))
                if attrs.get(name)
            ]
            out.child_policy = attrs.get("childPolicy")
        elif kind == "WorkflowExecutionCancelRequested":
            out.cancel_requested = True
        elif kind in CLOSE_EVENTS:
            attrs = raw_attrs(event)
            out.status = CLOSE_EVENTS[kind]
            out.closed = timestamp(event.get("eventTimestamp"))
            out.outcome = [(k, v) for k, v in attrs.items() if k in ("result", "reason", "details", "cause", "timeoutType")]
            out.continued_as = attrs.get("newExecutionRunId")
    if out.started is None and events:
        out.started = timestamp(events[0].get("eventTimestamp"))
    return out


def _pretty(text: str | None, decode: Decode) -> str:
    """A payload decoded and laid out (JSON indented; text as it is), cut at PAYLOAD_LIMIT."""
    if text is None:
        return ""
    value = decode(text) if text != "" else ""
    shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, indent=2, default=str)
    if len(shown) > PAYLOAD_LIMIT:
        shown = shown[:PAYLOAD_LIMIT] + f"\n… ({len(shown) - PAYLOAD_LIMIT:,} more characters: see Full JSON)"
    return shown


def _status_html(status: str) -> str:
    return f'<span id="status" class="status {status_class(status)}" data-status="{esc(status)}">{esc(status)}</span>'


def _run_link(links: Links, workflow_id: str | None, run_id: str | None, text: str | None = None) -> str:
    url = links.run(workflow_id, run_id)
    label = text if text is not None else f"{workflow_id} / {run_id}"
    return f'<a href="{esc(url)}">{esc(label)}</a>' if url else f"<span>{esc(label)}</span>"


def _time_html(when: dt.datetime | None) -> str:
    if when is None:
        return "-"
    text = iso(when)
    return f'<time datetime="{esc(text)}">{esc(text.replace("T", " "))}</time>'


def render_header(data: ExecutionData, summary: Summary, links: Links) -> str:
    rows: list[tuple[str, str, str]] = [  # (id, label, html)
        ("type", "Type", esc(summary.workflow_type or "?")),
        ("workflow-id", "Workflow ID", f"<code>{esc(data.workflow_id or '?')}</code>"),
        ("run-id", "Run ID", f"<code>{esc(data.run_id or '?')}</code>"),
        ("status-row", "Status", _status_html(summary.status) + (" <span class=\"note\">cancel requested</span>" if summary.cancel_requested and summary.status == "OPEN" else "")),
        ("started", "Started", _time_html(summary.started)),
    ]
    if summary.closed is not None:
        rows.append(("closed", "Closed", _time_html(summary.closed)))
    if summary.started is not None:
        end = summary.closed or data.now
        if end is not None:
            took = duration_text((end - summary.started).total_seconds())
            rows.append(("duration", "Duration" if summary.closed else "Running for", esc(took)))
    if data.domain:
        rows.append(("domain", "Domain", esc(data.domain)))
    if summary.parent:
        rows.append(
            ("parent", "Parent", _run_link(links, summary.parent.get("workflowId"), summary.parent.get("runId")))
        )
    if summary.continued_from:
        rows.append(("continued-from", "Continued from", _run_link(links, data.workflow_id, summary.continued_from, summary.continued_from)))
    if summary.continued_as:
        rows.append(("continued-as", "Continued as new", _run_link(links, data.workflow_id, summary.continued_as, summary.continued_as)))
    rerun_of = next((t[len(SOURCE_TAG) :] for t in summary.tags or () if t.startswith(SOURCE_TAG)), None)
    if rerun_of:  # flowser.rerun: the run whose completed work this one reuses
        rows.append(("rerun-of", "Re-run of", _run_link(links, data.workflow_id, rerun_of, rerun_of)))
    if summary.task_list:
        rows.append(("task-list", "Task list", f"<code>{esc(summary.task_list)}</code>"))
    if summary.tags:
        rows.append(("tags", "Tags", " ".join(f'<span class="tag">{esc(t)}</span>' for t in summary.tags)))
    if summary.timeouts:
        rows.append(("timeouts", "Timeouts", esc(", ".join(f"{k} {v}s" if v.isdigit() else f"{k} {v}" for k, v in summary.timeouts))))
    if summary.child_policy:
        rows.append(("child-policy", "Child policy", esc(summary.child_policy)))
    rows.append(("events-count", "Events", esc(f"{summary.event_count:,}")))
    items = "".join(f'<div class="field" id="{i}"><dt>{esc(label)}</dt><dd>{value}</dd></div>' for i, label, value in rows)
    payloads = []
    if summary.input is not None:
        payloads.append(("input", "Input", _pretty(summary.input, data.decode)))
    for name, value in summary.outcome:
        label = {"result": "Result", "reason": "Reason", "details": "Details", "cause": "Cause", "timeoutType": "Timeout"}[name]
        shown = _pretty(value, data.decode) if name in ("result", "details") else str(value)
        payloads.append((name, label, shown))
    blocks = "".join(
        f'<section class="payload" aria-labelledby="{pid}-label"><h3 id="{pid}-label">{esc(label)}</h3>'
        f'<pre id="{pid}" tabindex="0">{esc(text)}</pre></section>'
        for pid, label, text in payloads
    )
    if summary.status == "OPEN":
        blocks += '<p class="payload-note" id="result-pending">No result yet: the run is open.</p>'
    actions = ""
    if not data.offline and data.domain and data.workflow_id and data.run_id:
        from . import pages  # signal, request cancel, terminate: pages.py's forms

        make = getattr(pages, "action_links", None)
        if make is not None:
            actions = make(data.domain, data.workflow_id, data.run_id, summary.status == "OPEN")
    return (
        f'<section id="summary" class="ex-summary" data-region="summary" data-status="{esc(summary.status)}" '
        f'data-last-event="{summary.last_event_id}" aria-label="Execution">'
        f'<dl class="ex-fields">{items}</dl>{actions}<div class="ex-payloads">{blocks}</div></section>'
    )


# -- pending work ---------------------------------------------------------------------------------
def pending_decision(events: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The decision task a history leaves open: scheduled (and maybe started), not closed."""
    open_task: dict[str, Any] | None = None
    for event in events:
        kind = event["eventType"]
        if kind == "DecisionTaskScheduled":
            attrs = raw_attrs(event)
            open_task = {
                "state": "SCHEDULED",
                "scheduledEventId": event["eventId"],
                "scheduledTimestamp": event.get("eventTimestamp"),
                "taskList": (attrs.get("taskList") or {}).get("name"),
                "startToCloseTimeout": attrs.get("startToCloseTimeout"),
                "identity": None,
                "startedTimestamp": None,
            }
        elif kind == "DecisionTaskStarted" and open_task is not None:
            open_task.update(state="STARTED", identity=raw_attrs(event).get("identity"), startedTimestamp=event.get("eventTimestamp"))
        elif kind in ("DecisionTaskCompleted", "DecisionTaskTimedOut"):
            open_task = None
    return open_task


def render_pending(data: ExecutionData, summary: Summary) -> str:
    if summary.status != "OPEN":
        body = '<p class="empty">Nothing pending: the run is closed.</p>'
        return f'<section id="pending" data-region="pending" aria-labelledby="pending-title"><h2 id="pending-title">Pending</h2>{body}</section>'
    start = summary.started
    now = data.now

    def since(value: Any) -> str:
        when = timestamp(value)
        if when is None:
            return "-"
        waited = f" (for {duration_text((now - when).total_seconds())})" if now is not None else ""
        return esc(offset_text((when - start).total_seconds()) if start else iso(when)) + esc(waited)

    decision = pending_decision(data.events)
    parts = []
    if decision is not None:
        parts.append(
            '<table class="ex-table" id="pending-decision"><caption>Decision task</caption>'
            "<thead><tr><th scope=\"col\">State</th><th scope=\"col\">Task list</th><th scope=\"col\">Scheduled</th>"
            '<th scope="col">Started</th><th scope="col">Decider</th></tr></thead><tbody>'
            f'<tr data-state="{esc(decision["state"])}"><td>{esc(decision["state"])}</td><td>{esc(decision["taskList"] or "")}</td>'
            f"<td>{since(decision['scheduledTimestamp'])}</td><td>{since(decision['startedTimestamp'])}</td>"
            f"<td>{esc(decision['identity'] or '')}</td></tr></tbody></table>"
        )
    else:
        parts.append('<p class="empty" id="pending-decision">No decision task pending.</p>')
    activities = ops.pending_activities(data.events)
    more = ""
    if len(activities) > PENDING_SHOWN:
        more = f'<p class="note" id="pending-more">and {len(activities) - PENDING_SHOWN:,} more activity tasks (the oldest are shown)</p>'
        activities = activities[:PENDING_SHOWN]
    if activities:
        rows = "".join(
            f'<tr data-activity-id="{esc(a["activityId"])}" data-state="{esc(a["state"])}">'
            f'<th scope="row">{esc(a["activityId"])}</th><td>{esc(type_text(a.get("activityType")))}</td>'
            f'<td>{esc(a["state"])}{" (cancel requested)" if a.get("cancelRequested") else ""}</td><td>{a["attempt"]}</td>'
            f'<td>{esc(a.get("taskList") or "")}</td><td>{since(a.get("scheduledTimestamp"))}</td>'
            f'<td>{since(a.get("startedTimestamp"))}</td><td>{esc(a.get("identity") or "")}</td></tr>'
            for a in activities
        )
        parts.append(
            '<table class="ex-table" id="pending-activities"><caption>Activity tasks</caption><thead><tr>'
            '<th scope="col">Activity ID</th><th scope="col">Type</th><th scope="col">State</th><th scope="col">Attempt</th>'
            '<th scope="col">Task list</th><th scope="col">Scheduled</th><th scope="col">Started</th><th scope="col">Worker</th>'
            f"</tr></thead><tbody>{rows}</tbody></table>{more}"
        )
    else:
        parts.append('<p class="empty" id="pending-activities">No activity task pending.</p>')
    return (
        f'<section id="pending" data-region="pending" aria-labelledby="pending-title"><h2 id="pending-title">Pending</h2>'
        f'<div class="table-wrap">{"".join(parts)}</div></section>'
    )


# -- the child tree ---------------------------------------------------------------------------------
def tree_from_history(data: ExecutionData, summary: Summary, groups: list[Group] | None = None) -> trace.TreeNode:
    """The run and its children as its own history tells (no client)."""
    root = trace.TreeNode(data.workflow_id, data.run_id or None, None, summary.status, summary.started, summary.closed)
    for group in groups if groups is not None else data.groups():
        if group.kind != "child":
            continue
        status = "OPEN" if group.status == "STARTED" else group.status
        note = next((v for k, v in group.fields if k in ("reason", "cause", "timeoutType")), "")
        root.children.append(
            trace.TreeNode(group.name, group.run_id, _type_dict(group.type), status, group.opened, group.closed,
                           runs=[group.run_id] if group.run_id else [], note=note)
        )
    return root


def _type_dict(text: str) -> dict[str, str] | None:
    name, _, version = text.partition(":")
    return {"name": name, "version": version} if name else None


def read_tree(client: Any, data: ExecutionData, summary: Summary) -> trace.TreeNode:
    """The child tree: this run's children from its history, the first :data:`TREE_READS` of them read
    (with their own children, :data:`TREE_DEPTH` levels down)."""
    root = tree_from_history(data, summary)
    assert data.domain is not None
    for index, child in enumerate(root.children):
        if index >= TREE_READS or not child.run_id:
            continue
        try:
            read = trace.workflow_tree(
                client, data.domain, {"workflowId": child.workflow_id, "runId": child.run_id},
                depth=TREE_DEPTH - 1, workflow_type=child.workflow_type,
            )
        except Exception as exc:
            if ops.fault_code(exc) is None:
                raise
            child.note = child.note or "history not readable"
            continue
        root.children[index] = read
    return root


def render_tree(tree: trace.TreeNode, links: Links, now: dt.datetime | None) -> str:
    if not tree.children:
        body = '<p class="empty">No child workflows.</p>'
    else:
        shown = tree.children[:TREE_SHOWN]
        body = f'<ul class="tree" aria-label="Child workflows">{"".join(_tree_node(c, links, now) for c in shown)}</ul>'
        if len(tree.children) > TREE_SHOWN:
            body += f'<p class="note">and {len(tree.children) - TREE_SHOWN:,} more children (the Grouped view lists all)</p>'
    return f'<section id="children" data-region="children" aria-labelledby="children-title"><h2 id="children-title">Children</h2>{body}</section>'


def _tree_node(node: trace.TreeNode, links: Links, now: dt.datetime | None) -> str:
    last_run = node.runs[-1] if node.runs else node.run_id
    label = _run_link(links, node.workflow_id, last_run, node.workflow_id)
    bits = [label]
    if node.workflow_type:
        bits.append(f'<span class="tree-type">{esc(type_text(node.workflow_type))}</span>')
    bits.append(f'<span class="status {status_class(node.status)}">{esc(node.status)}</span>')
    took = node.duration(now)
    if took is not None:
        bits.append(f'<span class="tree-duration">{esc(duration_text(took))}</span>')
    if len(node.runs) > 1:
        bits.append(f'<span class="tree-runs">{len(node.runs)} runs</span>')
    if node.note:
        bits.append(f'<span class="tree-note">{esc(node.note)}</span>')
    if node.unread:
        bits.append(f'<span class="tree-note">{node.unread} more below</span>')
    inner = ""
    if node.children:
        inner = f'<ul>{"".join(_tree_node(c, links, now) for c in node.children)}</ul>'
    return (
        f'<li data-workflow-id="{esc(node.workflow_id)}" '
        f'data-status="{esc(node.status)}">{" ".join(bits)}{inner}</li>'
    )


# -- the views -----------------------------------------------------------------------------------
def _pager(links: Links, view: str, page: int, pages: int, total: int, noun: str) -> str:
    if pages <= 1:
        return f'<p class="pager-note">{total:,} {noun}</p>'

    def to(number: int, text: str, rel: str = "") -> str:
        if number < 1 or number > pages or number == page:
            return f'<span class="pager-off" aria-disabled="true">{text}</span>'
        extra = f' rel="{rel}"' if rel else ""
        return f'<a href="{esc(links.view(view, number))}" data-page="{number}"{extra}>{text}</a>'

    return (
        f'<nav class="pager" aria-label="Pages of the {esc(VIEWS[view])} view">'
        f"{to(1, '&laquo; First')} {to(page - 1, '&lsaquo; Previous', 'prev')} "
        f'<span class="pager-at">Page {page} of {pages} ({total:,} {noun})</span> '
        f"{to(page + 1, 'Next &rsaquo;', 'next')} {to(pages, 'Last &raquo;')}</nav>"
    )


def _clamp(page: int, pages: int) -> int:
    return min(max(page, 1), max(pages, 1))


def _event_page(event_id: int, ids: list[int]) -> int:
    """The page of the JSON view holding an event."""
    import bisect

    return bisect.bisect_left(ids, event_id) // PER_PAGE + 1


def render_timeline_view(data: ExecutionData, timeline: tl.Timeline, links: Links, page: int) -> str:
    pages = tl.pages(timeline, PER_PAGE)
    page = _clamp(page, pages)
    ids = [int(e["eventId"]) for e in data.events]

    def link(bar: tl.Bar) -> str | None:
        if bar.kind == "child" and bar.run_id:
            return links.run(bar.name, bar.run_id)
        if bar.event_ids:
            return links.view("json", _event_page(bar.event_ids[0], ids), f"event-{bar.event_ids[0]}")
        return None

    body = tl.render(timeline, page=page, per_page=PER_PAGE, link=link)
    note = ""
    if timeline.decisions_summarised:
        note = (
            f'<p class="note">{timeline.decision_count:,} decision tasks are drawn as one bar; '
            "the Grouped and Full JSON views have each.</p>"
        )
    return note + body + _pager(links, "timeline", page, pages, len(timeline.lanes), "lanes")


def render_grouped_view(data: ExecutionData, groups: list[Any], links: Links, page: int) -> str:
    start = groups[0].opened if groups else None
    pages = max((len(groups) + PER_PAGE - 1) // PER_PAGE, 1)
    page = _clamp(page, pages)
    shown = groups[(page - 1) * PER_PAGE : page * PER_PAGE]
    ids = [int(e["eventId"]) for e in data.events]
    rows = []
    for group in shown:
        attempt = f"{group.attempt}/{group.attempts}" if group.attempts > 1 else ""
        name = esc(group.name)
        if group.kind == "child" and group.run_id:
            url = links.run(group.name, group.run_id)
            name = f'<a href="{esc(url)}">{name}</a>' if url else name
        details = " ".join(f'<span class="kv"><span class="k">{esc(k)}</span>=<span class="v">{esc(v)}</span></span>' for k, v in group.fields)
        events = " ".join(
            f'<a href="{esc(links.view("json", _event_page(i, ids), f"event-{i}"))}">{i}</a>' for i in group.event_ids[:12]
        ) + (" …" if len(group.event_ids) > 12 else "")
        rows.append(
            f'<tr data-kind="{esc(group.kind)}" data-status="{esc(group.status)}" data-attempt="{group.attempt}">'
            f'<td>{esc(group.kind)}</td><th scope="row">{name}</th><td>{esc(group.type)}</td>'
            f'<td><span class="status {status_class(group.status)}">{esc(group.status)}</span></td>'
            f"<td>{esc(attempt)}</td><td>{esc(offset_text(group.offset(start)))}</td>"
            f"<td>{esc(duration_text(group.duration(data.now)))}</td><td>{esc(duration_text(group.waited()) if group.waited() is not None else '')}</td>"
            f"<td>{esc(group.worker or '')}</td><td class=\"details\">{details}</td><td class=\"ids\">{events}</td></tr>"
        )
    table = (
        '<div class="table-wrap"><table class="ex-table grouped-table"><caption class="visually-hidden">Grouped history</caption><thead><tr>'
        '<th scope="col">Kind</th><th scope="col">Name</th><th scope="col">Type</th><th scope="col">Status</th>'
        '<th scope="col">Attempt</th><th scope="col">At</th><th scope="col">Took</th><th scope="col">Waited</th>'
        '<th scope="col">Worker</th><th scope="col">Details</th><th scope="col">Events</th>'
        f"</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )
    return table + _pager(links, "grouped", page, pages, len(groups), "groups")


def render_json_view(data: ExecutionData, links: Links, page: int) -> str:
    total = len(data.events)
    pages = max((total + PER_PAGE - 1) // PER_PAGE, 1)
    page = _clamp(page, pages)
    shown = data.events[(page - 1) * PER_PAGE : page * PER_PAGE]
    items = "".join(
        f'<li id="event-{int(e["eventId"])}" data-event-id="{int(e["eventId"])}" data-event-type="{esc(e["eventType"])}">'
        f'<pre tabindex="0">{esc(json.dumps(dump_event(e), ensure_ascii=False, indent=2, default=str))}</pre></li>'
        for e in shown
    )
    download = f'<p><a class="button" id="download" href="{esc(links.here("history.json"))}" download>Download history.json</a></p>'
    return download + f'<ol class="events-json" start="{(page - 1) * PER_PAGE + 1}">{items}</ol>' + _pager(links, "json", page, pages, total, "events")


def render_views(data: ExecutionData, links: Links, view: str, page: int, timeline: tl.Timeline, groups: list[Any]) -> str:
    """The three panels (the chosen one shown, at ``page``; the others at their first page, hidden)."""
    panels = []
    for name in VIEWS:
        at = page if name == view else 1
        if name == "timeline":
            inner = render_timeline_view(data, timeline, links, at)
        elif name == "grouped":
            inner = render_grouped_view(data, groups, links, at)
        else:
            inner = render_json_view(data, links, at)
        hidden = "" if name == view else " hidden"
        panels.append(
            f'<section id="{PANEL_IDS[name]}" class="view-panel" role="tabpanel" aria-labelledby="tab-{name}" '
            f'data-region="view-{name}" data-view="{name}" data-page="{at}" tabindex="0"{hidden}>'
            f'<a class="skip-past" href="#end-{name}">Skip past the {esc(VIEWS[name])} view</a>{inner}'
            f'<span class="view-end" id="end-{name}" tabindex="-1"></span></section>'
        )
    return "".join(panels)


def render_tabs(links: Links, view: str) -> str:
    tabs = "".join(
        f'<a role="tab" id="tab-{name}" href="{esc(links.view(name))}" aria-controls="{PANEL_IDS[name]}" '
        f'aria-selected="{"true" if name == view else "false"}" tabindex="{"0" if name == view else "-1"}" data-view="{name}">{esc(label)}</a>'
        for name, label in VIEWS.items()
    )
    return f'<div class="view-tabs" role="tablist" aria-label="History views">{tabs}</div>'


# -- the page ------------------------------------------------------------------------------------
def render_regions(data: ExecutionData, links: Links, view: str = "timeline", page: int = 1) -> str:
    """The page's live parts (each a ``data-region`` element), as the fragment sends them."""
    summary = summarise(data.events)
    groups = data.groups()
    timeline = tl.build(data.events, now=data.now, decode=data.decode, groups=groups)
    tree = data.tree if data.tree is not None else tree_from_history(data, summary, groups)
    return (
        render_header(data, summary, links)
        + render_views(data, links, view, page, timeline, groups)
        + render_pending(data, summary)
        + render_tree(tree, links, data.now)
    )


def _split_regions(regions: str) -> tuple[str, str]:
    """The header, and what follows it (the views, pending, children)."""
    marker = '<section id="timeline"'
    at = regions.index(marker)
    return regions[:at], regions[at:]


def render_body(data: ExecutionData, links: Links, view: str = "timeline", page: int = 1) -> str:
    """The page's body: the header, the views' tabs and panels, pending work, the child tree."""
    header, rest = _split_regions(render_regions(data, links, view, page))
    views_end = rest.index('<section id="pending"')
    views, tail = rest[:views_end], rest[views_end:]
    styles = "".join(f'<link rel="stylesheet" href="{esc(href("static", name))}">' for name in ("execution.css", "timeline.css"))
    source = "history file" if data.offline else "backend"
    return (
        f"{styles}{header}"
        f'<section class="history" aria-labelledby="history-title"><div class="history-head"><h2 id="history-title">History</h2>'
        f'<p class="live-note" id="live-note" aria-live="polite" data-source="{source}"></p></div>'
        f"{render_tabs(links, view)}{views}</section>"
        f'<div class="ex-side">{tail}</div>'
    )


def _view_and_page(request: Request) -> tuple[str, int]:
    view = request.param("view", "timeline")
    if view not in VIEWS:
        view = "timeline"
    try:
        number = int(request.param("page", "1"))
    except ValueError:
        number = 1
    return view, max(number, 1)


def _title(data: ExecutionData) -> str:
    return data.workflow_id or "History"


# -- reading a run -------------------------------------------------------------------------------
def load(ui: UI, domain: str, workflow_id: str, run_id: str, *, with_tree: bool = True) -> ExecutionData:
    execution = {"workflowId": workflow_id, "runId": run_id}
    events = list(ops.history_events(ui.client, domain, execution))
    if not events:
        raise HttpError(404, f"No history for {workflow_id} / {run_id} in {domain}")
    data = ExecutionData(domain, execution, events, now=dt.datetime.now(dt.UTC))
    if with_tree:
        data.tree = read_tree(ui.client, data, summarise(events))
    return data


def _resolve(ui: UI, domain: str, workflow_id: str, run_id: str) -> dict[str, str]:
    try:
        return ops.find_run(ui.client, domain, workflow_id, run_id)
    except ops.AmbiguousRunId as exc:
        raise HttpError(400, str(exc)) from exc
    except ops.NoSuchExecution as exc:
        raise HttpError(404, str(exc)) from exc


def _live_attrs(data: ExecutionData, links: Links, view: str, page: int, status: str) -> dict[str, str]:
    attrs = {
        "data-page-kind": "execution",
        "data-fragment": links.here("fragment"),
        "data-view": view,
        "data-page": str(page),
        "data-status": status,
    }
    if data.domain and not data.offline:
        attrs["data-events"] = href("d", data.domain, "events", workflowId=data.workflow_id, runId=data.run_id)
    return attrs


def execution_page(ui: UI, request: Request, domain: str, workflow_id: str, run_id: str) -> Response:
    found = _resolve(ui, domain, workflow_id, run_id)
    if found["runId"] != run_id:
        from .html import redirect

        return redirect(href("d", domain, "x", found["workflowId"], found["runId"], view=request.param("view") or None))
    view, number = _view_and_page(request)
    data = load(ui, domain, workflow_id, run_id)
    links = Links(("d", domain, "x", workflow_id, run_id), domain)
    body = render_body(data, links, view, number)
    crumbs = [("Domains", href()), (domain, href("d", domain)), (workflow_id, None)]
    status = summarise(data.events).status
    return page(
        _title(data), body, request=request, crumbs=crumbs, scripts=("live.js",),
        main_attrs=_live_attrs(data, links, view, number, status), backend=ui.backend,
    )


def execution_fragment(ui: UI, request: Request, domain: str, workflow_id: str, run_id: str) -> Response:
    view, number = _view_and_page(request)
    data = load(ui, domain, workflow_id, run_id)
    links = Links(("d", domain, "x", workflow_id, run_id), domain)
    return fragment(render_regions(data, links, view, number))


def execution_history(ui: UI, request: Request, domain: str, workflow_id: str, run_id: str) -> Response:
    data = load(ui, domain, workflow_id, run_id, with_tree=False)
    return _download(data)


def _download(data: ExecutionData) -> Response:
    name = f"{data.workflow_id or 'history'}-{(data.run_id or 'run')[:12]}.json"
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "Cache-Control": "no-store",
        "Content-Disposition": f'attachment; filename="{safe}"',
    }
    return Response(200, headers, history_json(data).encode())


# -- a history opened from a file ---------------------------------------------------------------------
def offline_data(history: HistoryFile) -> ExecutionData:
    return ExecutionData(history.domain, dict(history.execution or {}), list(history.events), now=None, offline=True)


def offline_page(ui: UI, request: Request, history: HistoryFile, upload_id: str) -> Response:
    """The view of a history opened from a file (``/ui/open/{upload_id}``): the same page, no client, no live updates."""
    view, number = _view_and_page(request)
    data = offline_data(history)
    links = Links(("open", upload_id), data.domain)
    body = '<p class="note offline-note" id="offline-note">Opened from a file: this is the history as saved, not live.</p>'
    body += render_body(data, links, view, number)
    crumbs = [("Domains", href()), ("Open a history file", href("open")), (data.workflow_id or upload_id, None)]
    status = summarise(data.events).status
    attrs = _live_attrs(data, links, view, number, status)
    attrs.pop("data-fragment", None)
    return page(_title(data), body, request=request, crumbs=crumbs, scripts=("live.js",), main_attrs=attrs, backend=ui.backend)


def offline_history(ui: UI, request: Request, upload_id: str) -> Response:
    history = ui.uploads.get(upload_id)
    if history is None:
        raise HttpError(404, "That history file is no longer open here: open it again.")
    return _download(offline_data(history))


def from_events(events: Iterable[Mapping[str, Any]], *, domain: str | None = None, execution: Mapping[str, str] | None = None) -> ExecutionData:
    """An :class:`ExecutionData` for events in hand (tests, other tools)."""
    return ExecutionData(domain, dict(execution or {}), [dict(e) for e in events], offline=True)


ROUTES = [
    Route("GET", "/d/{domain}/x/{workflow_id}/{run_id}", execution_page),
    Route("GET", "/d/{domain}/x/{workflow_id}/{run_id}/fragment", execution_fragment),
    Route("GET", "/d/{domain}/x/{workflow_id}/{run_id}/history.json", execution_history),
    Route("GET", "/open/{upload_id}/history.json", offline_history),
]
