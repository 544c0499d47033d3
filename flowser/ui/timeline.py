"""A run's history as a timeline: one lane per activityId, timer, child... each attempt a bar.

Pure functions over raw history events (boto3's shape), no client:

* :func:`build` -- the events as a :class:`Timeline`: the run's own bar, the
  decision tasks' lane (each task a bar from scheduled through started to
  closed; past ``decision_limit`` tasks, one summary bar), and one
  :class:`Lane` per activityId, timerId, child workflowId, Lambda id,
  signal name, marker name and external signal or cancellation, in the order
  each began. A lane holds one :class:`Bar` per attempt (an activityId
  scheduled again after a failure is attempt 2 on the same lane). Offsets are
  seconds from the run's start; an open bar runs to ``now``.
* :func:`render` -- the timeline as HTML: bars positioned with inline
  percentages (no canvas, no script; as classes, ``tl-l<n>``/``tl-w<n>``, since the
  page's Content-Security-Policy forbids inline styles), coloured by outcome (``tl-ok``,
  ``tl-failed``, ``tl-timed-out``, ``tl-canceled``, ``tl-terminated``,
  ``tl-open``), each with ``data-kind``, ``data-status`` and ``data-attempt``,
  the time waiting in a task list (scheduled to started) drawn lighter;
  lanes paged (``page``, ``per_page``). Every value from the workflow is
  escaped.

The grouping is :func:`flowser.render.grouped`'s, so the timeline and the
grouped view always agree on what an attempt is.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..events import raw_attrs
from ..render import Decode, Group, duration_text, grouped, json_payload, offset_text, timestamp

__all__ = ["DECISION_LIMIT", "PER_PAGE", "Bar", "Lane", "Timeline", "build", "outcome_class", "render"]

DECISION_LIMIT = 300
"""Decision tasks drawn one bar each up to this many; past it, one summary bar."""
PER_PAGE = 200
"""Lanes per page of the rendered timeline."""
STACK = 4
"""A lane with several attempts draws each on a row of its own, up to this many rows (then they take turns)."""
LANE_BARS = 60
"""Past this many bars on a lane (a marker recorded 3,000 times), those close together are drawn as one, with their count."""

_OK = {"COMPLETED", "FIRED", "SIGNALED", "RECEIVED", "RECORDED", "REQUESTED", "CONTINUED_AS_NEW"}
_FAILED = {"FAILED", "START_FAILED", "SCHEDULE_FAILED"}
_OPEN = {"OPEN", "STARTED", "SCHEDULED", "INITIATED"}


def outcome_class(status: str) -> str:
    """The CSS class of a status: ``tl-ok``, ``tl-failed``, ``tl-timed-out``, ``tl-canceled``, ``tl-terminated``, ``tl-open``."""
    if status in _OK:
        return "tl-continued" if status == "CONTINUED_AS_NEW" else "tl-ok"
    if status in _FAILED:
        return "tl-failed"
    if status == "TIMED_OUT":
        return "tl-timed-out"
    if status == "CANCELED":
        return "tl-canceled"
    if status == "TERMINATED":
        return "tl-terminated"
    return "tl-open"


@dataclass
class Bar:
    """One attempt of one thing (or a decision task, or the run): offsets in seconds from the run's start."""

    kind: str
    name: str
    status: str
    start: float
    """Scheduled (initiated, started for a timer)."""
    started: float | None
    """Taken by a worker (an activity, a decision task, a Lambda function) or started (a child); None if not yet or never."""
    end: float | None
    """Closed; None while open (drawn to the timeline's end)."""
    attempt: int = 1
    attempts: int = 1
    instant: bool = False
    type: str = ""
    event_ids: list[int] = field(default_factory=list)
    fields: list[tuple[str, str]] = field(default_factory=list)
    worker: str | None = None
    run_id: str | None = None
    count: int = 1
    """How many decision tasks a summary bar stands for (1 otherwise)."""
    unfinished: bool = False
    """Still open when the run closed (scheduled and never taken, say): drawn to the close, muted."""

    @property
    def is_open(self) -> bool:
        return self.end is None and not self.instant and self.status in _OPEN

    def duration(self, until: float) -> float | None:
        if self.instant:
            return None
        end = self.end if self.end is not None else (until if self.is_open else None)
        return None if end is None else max(end - self.start, 0.0)


@dataclass
class Lane:
    """The bars of one activityId (timerId, child workflowId...), in order: one per attempt."""

    kind: str
    name: str
    type: str
    bars: list[Bar] = field(default_factory=list)


@dataclass
class Timeline:
    """A run drawn from its start (offset 0) to its close, or to ``now`` while open (``span`` seconds)."""

    start: dt.datetime | None
    span: float
    run: Bar
    lanes: list[Lane]
    decisions: Lane | None
    """The decision tasks' lane (None when the history has none)."""
    decision_count: int = 0
    decisions_summarised: bool = False

    @property
    def bars(self) -> Iterable[Bar]:
        yield self.run
        if self.decisions is not None:
            yield from self.decisions.bars
        for lane in self.lanes:
            yield from lane.bars


def _offset(when: dt.datetime | None, start: dt.datetime | None) -> float | None:
    return (when - start).total_seconds() if when is not None and start is not None else None


def _decision_bars(events: list[Mapping[str, Any]], start: dt.datetime | None, limit: int) -> tuple[list[Bar], int, bool]:
    """Each decision task as a bar (scheduled, started, completed or timed out); past ``limit``, one summary bar."""
    bars: list[Bar] = []
    by_scheduled: dict[int, Bar] = {}
    for event in events:
        kind = str(event["eventType"])
        if not kind.startswith("DecisionTask"):
            continue
        eid = int(event["eventId"])
        at = _offset(timestamp(event.get("eventTimestamp")), start)
        if kind == "DecisionTaskScheduled":
            bar = Bar("decision", f"decision {len(bars) + 1}", "SCHEDULED", at or 0.0, None, None, event_ids=[eid])
            bars.append(bar)
            by_scheduled[eid] = bar
            continue
        found = by_scheduled.get(raw_attrs(event).get("scheduledEventId", -1))
        if found is None:
            continue
        found.event_ids.append(eid)
        if kind == "DecisionTaskStarted":
            found.status, found.started = "STARTED", at
            identity = raw_attrs(event).get("identity")
            found.worker = str(identity) if identity else None
        elif kind == "DecisionTaskCompleted":
            found.status, found.end = "COMPLETED", at
        elif kind == "DecisionTaskTimedOut":
            found.status, found.end = "TIMED_OUT", at
            found.fields.append(("timeoutType", str(raw_attrs(event).get("timeoutType", ""))))
    count = len(bars)
    if count <= limit:
        return bars, count, False
    timed_out = sum(b.status == "TIMED_OUT" for b in bars)
    still_open = any(b.is_open for b in bars)
    summary = Bar(
        "decision",
        f"{count} decision tasks",
        "OPEN" if still_open else ("TIMED_OUT" if timed_out else "COMPLETED"),
        bars[0].start,
        bars[0].started,
        None if still_open else max((b.end for b in bars if b.end is not None), default=bars[-1].start),
        count=count,
    )
    spent = sum((b.end - b.start) for b in bars if b.end is not None)
    summary.fields.append(("time in tasks", duration_text(spent)))
    if timed_out:
        summary.fields.append(("timedOut", str(timed_out)))
    return [summary], count, True


def build(
    events: Iterable[Mapping[str, Any]],
    *,
    now: dt.datetime | None = None,
    decode: Decode = json_payload,
    decision_limit: int = DECISION_LIMIT,
    value_width: int | None = 120,
    groups: list[Group] | None = None,
) -> Timeline:
    """The timeline of one run's events (see the module docstring).

    ``now``: where an open run and its open bars end (default: the last event's time,
    which suits a saved history; a live page gives the current time). ``groups``:
    :func:`~flowser.render.grouped`'s answer for these events, if the caller has it.
    """
    ordered = sorted(events, key=lambda e: e["eventId"])
    if groups is None:
        groups = grouped(ordered, decode=decode, value_width=value_width)
    if not groups:
        return Timeline(None, 0.0, Bar("workflow", "workflow", "OPEN", 0.0, None, None), [], None)
    run_group = groups[0]
    start = run_group.opened
    last = timestamp(ordered[-1].get("eventTimestamp"))
    closed_at = _offset(run_group.closed, start)
    if closed_at is not None:
        span = closed_at
    else:
        end = max(filter(None, [now, last]), default=None)
        span = _offset(end, start) or 0.0
    latest = _offset(last, start) or 0.0
    span = max(span, latest, 0.001)

    run = Bar(
        "workflow",
        run_group.name,
        run_group.status,
        0.0,
        0.0,
        closed_at,
        type=run_group.type,
        event_ids=list(run_group.event_ids),
        fields=list(run_group.fields),
    )
    decision_bars, decision_count, summarised = _decision_bars(ordered, start, decision_limit)
    decisions = Lane("decision", "decision tasks", "", decision_bars) if decision_bars else None

    lanes: dict[tuple[str, str], Lane] = {}
    for group in groups[1:]:
        if group.kind == "decisions":
            continue
        key = (group.kind, group.name)
        lane = lanes.get(key)
        if lane is None:
            lane = lanes[key] = Lane(group.kind, group.name, group.type)
        begin = _offset(group.opened, start) or 0.0
        lane.bars.append(
            Bar(
                group.kind,
                group.name,
                group.status,
                begin,
                _offset(group.started, start),
                _offset(group.closed, start),
                attempt=group.attempt,
                attempts=group.attempts,
                instant=group.instant,
                type=group.type,
                event_ids=list(group.event_ids),
                fields=list(group.fields),
                worker=group.worker,
                run_id=group.run_id,
            )
        )
    if closed_at is not None:  # what the run left open ends with it
        for bar in [b for lane in lanes.values() for b in lane.bars] + decision_bars:
            if bar.is_open:
                bar.end, bar.unfinished = max(closed_at, bar.start), True
    for lane in lanes.values():  # signals and markers under one name: numbered on their lane too
        if lane.bars and lane.bars[0].instant:
            for number, bar in enumerate(lane.bars, 1):
                bar.attempt, bar.attempts = number, len(lane.bars)
    return Timeline(start, span, run, list(lanes.values()), decisions, decision_count, summarised)


# -- HTML -----------------------------------------------------------------------------------------
def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _pm(percent: float) -> int:
    """A percentage as per mille, 0 to 1000: the suffix of the position classes (``tl-l125`` is left: 12.5%)."""
    return round(max(min(percent, 100.0), 0.0) * 10)


def position_css() -> str:
    """The rules behind the position classes: ``tl-l<n>`` (left), ``tl-w<n>`` (width), per mille; ``tl-p<n>``
    (a waiting part's width, per cent of its bar). The page's Content-Security-Policy forbids inline
    ``style`` attributes, so bars are placed by class (0.1 % steps: under a pixel on a 1280 px screen)."""
    lines = ["/* generated by flowser.ui.timeline.position_css(): do not edit */"]
    lines.extend(f".tl-l{n}{{left:{n / 10:g}%}}" for n in range(1001))
    lines.extend(f".tl-w{n}{{width:{n / 10:g}%}}" for n in range(1001))
    lines.extend(f".tl-p{n}{{width:{n}%}}" for n in range(101))
    return "\n".join(lines) + "\n"


_KIND_LABELS = {
    "workflow": "run",
    "decision": "decisions",
    "activity": "activity",
    "timer": "timer",
    "child": "child",
    "lambda": "lambda",
    "signal": "signal",
    "marker": "marker",
    "signal-external": "signal sent",
    "cancel-external": "cancel sent",
    "cancel-request": "cancel request",
}


_WAITS = {"activity", "decision", "lambda", "child"}
"""What waits to be taken or started: its time from scheduled to started is drawn lighter."""


def _describe(bar: Bar, span: float) -> str:
    """The bar in words (its title and accessible name)."""
    parts = [_KIND_LABELS.get(bar.kind, bar.kind), bar.name]
    if bar.count > 1:
        parts.insert(0, f"{bar.count} times:")
    if bar.type and bar.type != bar.name:
        parts.append(bar.type)
    if bar.attempts > 1 and bar.kind not in ("workflow", "decision") and bar.count == 1:
        parts.append(f"attempt {bar.attempt} of {bar.attempts}")
    parts.append(bar.status.lower().replace("_", " "))
    parts.append(f"at {offset_text(bar.start)}")
    if bar.started is not None and bar.kind in ("activity", "decision", "lambda", "child"):
        parts.append(f"started {offset_text(bar.started)}")
    if bar.unfinished:
        parts.append("left open when the run closed")
    duration = bar.duration(span)
    if duration is not None:
        parts.append(("running for " if bar.is_open else "took ") + duration_text(duration))
    if bar.worker:
        parts.append(f"by {bar.worker}")
    parts.extend(f"{k}={v}" for k, v in bar.fields)
    return ", ".join(p for p in parts if p)


def _bar_html(bar: Bar, span: float, link: Callable[[Bar], str | None] | None, row: int = 0) -> str:
    left = bar.start / span * 100
    classes = ["tl-bar", outcome_class(bar.status), f"tl-row{row}"]
    if bar.instant:
        classes.extend(["tl-instant", f"tl-l{_pm(left)}"])
        inner = ""
    else:
        end = bar.end if bar.end is not None else span
        width = max((end - bar.start) / span * 100, 0.0)
        classes.extend([f"tl-l{_pm(left)}", f"tl-w{_pm(width)}"])
        inner = ""
        if bar.started is not None and end > bar.start and bar.started > bar.start:
            wait = min((bar.started - bar.start) / (end - bar.start) * 100, 100.0)
            inner = f'<span class="tl-wait tl-p{round(wait)}"></span>'
        elif bar.started is None and bar.is_open and bar.kind in _WAITS:
            inner = '<span class="tl-wait tl-p100"></span>'  # still in its task list
    if bar.is_open:
        classes.append("tl-running")
    elif bar.unfinished:
        classes.append("tl-unfinished")
    text = _describe(bar, span)
    badge = ""
    if bar.count > 1:
        classes.append("tl-cluster")
        badge = f'<span class="tl-badge" aria-hidden="true">&times;{bar.count}</span>'
    elif bar.attempts > 1 and bar.kind not in ("workflow", "decision"):
        badge = f'<span class="tl-badge" aria-hidden="true">#{bar.attempt}</span>'
    attrs = (
        f'class="{" ".join(classes)}" data-kind="{_e(bar.kind)}" data-status="{_e(bar.status)}" '
        f'data-attempt="{bar.attempt}" data-attempts="{bar.attempts}" data-start="{bar.start:.3f}"'
        + (f' data-end="{bar.end:.3f}"' if bar.end is not None else "")
        + (f' data-events="{_e(",".join(map(str, bar.event_ids)))}"' if bar.event_ids else "")
        + f' title="{_e(text)}" aria-label="{_e(text)}"'
    )
    href = link(bar) if link is not None else None
    if href:
        return f'<a {attrs} href="{_e(href)}">{inner}{badge}</a>'
    return f'<span {attrs} role="img" tabindex="0">{inner}{badge}</span>'


def _lane_html(
    kind: str, name: str, type_: str, bars: list[Bar], span: float, link: Callable[[Bar], str | None] | None, note: str = ""
) -> str:
    label = [f'<span class="tl-kind">{_e(_KIND_LABELS.get(kind, kind))}</span>', f'<span class="tl-name">{_e(name)}</span>']
    if type_ and type_ != name:
        label.append(f'<span class="tl-type">{_e(type_)}</span>')
    attempts = len(bars) if kind not in ("workflow", "decision") else 0
    if attempts > 1:
        noun = "attempts" if kind in ("activity", "lambda", "child", "timer") else "times"
        label.append(f'<span class="tl-attempts">{attempts} {noun}</span>')
    if note:
        label.append(f'<span class="tl-note">{_e(note)}</span>')
    last = bars[-1] if bars else None
    status = last.status if last is not None else ""
    rows = min(attempts, STACK) if attempts > 1 and not bars[0].instant else 1
    if kind != "decision" and len(bars) > LANE_BARS:
        bars, rows = _clustered(bars, span), 1
    return (
        f'<li class="tl-lane tl-rows{rows}" data-kind="{_e(kind)}" data-name="{_e(name)}" data-status="{_e(status)}">'
        f'<div class="tl-label">{" ".join(label)}</div>'
        f'<div class="tl-track">{"".join(_bar_html(b, span, link, (i % rows)) for i, b in enumerate(bars))}</div></li>'
    )


def _clustered(bars: list[Bar], span: float, limit: int = LANE_BARS) -> list[Bar]:
    """A lane's bars, those that fall in one of ``limit`` equal slices of the run drawn as one (``count``)."""
    slices: dict[int, list[Bar]] = {}
    for bar in bars:
        slices.setdefault(min(int(bar.start / span * limit), limit - 1), []).append(bar)
    out: list[Bar] = []
    for key in sorted(slices):
        group = slices[key]
        if len(group) == 1:
            out.append(group[0])
            continue
        first, last = group[0], group[-1]
        still_open = any(b.is_open for b in group)
        ends = [b.end if b.end is not None else b.start for b in group]
        bad = next((b.status for b in group if outcome_class(b.status) in ("tl-failed", "tl-timed-out")), None)
        cluster = Bar(
            first.kind, first.name, "OPEN" if still_open else (bad or last.status), first.start, None,
            None if still_open else max(ends), attempt=first.attempt, attempts=first.attempts,
            type=first.type, event_ids=first.event_ids[:1], count=len(group),
        )
        if first.attempts > 1 and first.kind not in ("signal", "marker"):
            cluster.fields.append(("attempts", f"{first.attempt} to {last.attempt}"))
        cluster.fields.append(("until", offset_text(max(ends))))
        out.append(cluster)
    return out


def _axis(span: float, ticks: int = 4) -> str:
    marks = "".join(
        f'<span class="tl-tick tl-l{_pm(i / ticks * 100)}">{_e(offset_text(span * i / ticks))}</span>'
        for i in range(ticks + 1)
    )
    return f'<div class="tl-axis" aria-hidden="true"><div class="tl-label"></div><div class="tl-track">{marks}</div></div>'


def pages(timeline: Timeline, per_page: int = PER_PAGE) -> int:
    """How many pages the timeline's lanes take (at least 1)."""
    return max((len(timeline.lanes) + per_page - 1) // per_page, 1)


def render(
    timeline: Timeline,
    *,
    page: int = 1,
    per_page: int = PER_PAGE,
    link: Callable[[Bar], str | None] | None = None,
) -> str:
    """The timeline as HTML (an ``<ol>`` of lanes with an axis), page ``page`` of its lanes.

    The run's lane and the decision tasks' lane come first on every page. ``link(bar)``
    gives a bar's ``href`` (a child's page...), or None to leave it a focusable span.
    """
    span = timeline.span or 0.001
    first = (max(page, 1) - 1) * per_page
    shown = timeline.lanes[first : first + per_page]
    rows = [_lane_html("workflow", timeline.run.name, "", [timeline.run], span, link)]
    if timeline.decisions is not None:
        note = "summarised" if timeline.decisions_summarised else ""
        rows.append(
            _lane_html(
                "decision", f"{timeline.decision_count} decision task{'s' if timeline.decision_count != 1 else ''}",
                "", timeline.decisions.bars, span, link, note,
            )
        )
    rows.extend(_lane_html(lane.kind, lane.name, lane.type, lane.bars, span, link) for lane in shown)
    legend = (
        '<ul class="tl-legend" aria-label="Legend">'
        '<li><span class="tl-swatch tl-ok"></span>completed</li>'
        '<li><span class="tl-swatch tl-failed"></span>failed</li>'
        '<li><span class="tl-swatch tl-timed-out"></span>timed out</li>'
        '<li><span class="tl-swatch tl-canceled"></span>canceled</li>'
        '<li><span class="tl-swatch tl-terminated"></span>terminated</li>'
        '<li><span class="tl-swatch tl-open tl-running"></span>open</li>'
        '<li><span class="tl-swatch tl-unfinished"></span>left open at the close</li>'
        '<li><span class="tl-swatch tl-wait-swatch"></span>waiting in a task list</li>'
        "</ul>"
    )
    return (
        f'<div class="tl" data-span="{span:.3f}" data-lanes="{len(timeline.lanes)}">'
        f"{legend}{_axis(span)}"
        f'<ol class="tl-lanes" aria-label="Timeline from the run\'s start ({_e(offset_text(0))}) to {_e(offset_text(span))}">'
        f"{''.join(rows)}</ol></div>"
    )
