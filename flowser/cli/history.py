"""``flowser executions history`` and ``flowser executions tree``.

history: a run's events, one readable line each (or ``--grouped``: one line
per activity, timer, child, signal, marker), ``--follow`` as they are
written (through continue-as-new), or the history file (``-o json``) that
replay tests and the dashboard load (``flowser.historyfile``).

tree: a run's child workflows, theirs too, with status and duration.

The rendering is :mod:`flowser.render`'s, the polling and the walk
:mod:`flowser.trace`'s; this module only puts them on the terminal.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from contextlib import ExitStack
from typing import IO, Any

import click

from .. import ops, render, trace
from ..events import raw_attrs
from ..historyfile import dump_event, history_document
from .common import CliError, Session, backend_options, usage_error
from .executions import executions

CODECS: dict[str, Callable[[str], Any]] = {"json": render.json_payload, "msgpack": render.msgpack_payload}

sleep: Callable[[float], Any] = time.sleep
"""How ``--follow`` waits between polls (tests may replace it)."""


def now() -> dt.datetime:
    """The clock open runs' durations are measured against (tests may replace it)."""
    return dt.datetime.now(dt.UTC)


PADDING = 2
"""Spaces between table columns (rich's default padding, one each side)."""
CHUNK = 200
"""Event lines per table: columns have fixed widths, so tables follow one another seamlessly."""


def _find(session: Session, workflow_id: str, run_id: str | None) -> dict[str, str]:
    try:
        return ops.find_run(session.client, session.domain, workflow_id, run_id)
    except ops.NoSuchExecution as exc:
        raise CliError(str(exc)) from None
    except ops.AmbiguousRunId as exc:
        raise usage_error(str(exc)) from None


def _line(session: Session, text: Any) -> None:
    """One line on the console, cut to its width."""
    session.console.print(text, no_wrap=True, overflow="ellipsis")


def _print_table(session: Session, grid: Any) -> None:
    """A table on the console without the blanks rich pads its last column with."""
    from rich.segment import Segment, Segments

    console = session.console
    out: list[Segment] = []
    for line in console.render_lines(grid, pad=False):
        while line and not line[-1].control and not line[-1].text.strip():
            line.pop()
        if line:
            last = line[-1]
            line[-1] = Segment(last.text.rstrip(), last.style, last.control)
        out.extend(line)
        out.append(Segment.line())
    console.print(Segments(out), end="")


def _cell(value: Any, style: str = "") -> Any:
    from rich.text import Text

    return Text(str(value), style=style)


def _details(fields: Iterable[tuple[str, str]], width: int) -> Any:
    """``name=value`` pairs (names dim), cut to ``width`` with an ellipsis."""
    from rich.text import Text

    out = Text(no_wrap=True, overflow="ellipsis")
    for number, (name, value) in enumerate(render.fit_fields(list(fields), width)):
        if number:
            out.append("  ")
        if name:
            out.append(f"{name}=", style="dim")
        out.append(value)
    out.truncate(max(width, 1), overflow="ellipsis")
    return out


def _grid(columns: list[tuple[str, int, str]], header: bool) -> Any:
    """A borderless table whose columns have these (name, width, justify); the last one takes the rest."""
    from rich.table import Table

    grid = Table(box=None, pad_edge=False, show_edge=False, show_header=header, header_style="bold")
    for number, (name, width, justify) in enumerate(columns, 1):
        size = {"max_width": width} if number == len(columns) else {"width": width}  # no trailing blanks
        grid.add_column(name, no_wrap=True, justify=justify, **size)  # type: ignore[arg-type]
    return grid


class EventPrinter:
    """Event lines on the session's console, in columns that stay put from one batch to the next."""

    def __init__(self, session: Session, decode: Callable[[str], Any], *, id_width: int = 2, type_width: int = 5) -> None:
        self.session = session
        self.decode = decode
        self.id_width = id_width
        self.type_width = type_width
        self.header = True
        self.context = render.RunContext()

    @property
    def time_width(self) -> int:
        return 24 if self.session.time_format == "iso" else 10

    def new_run(self) -> None:
        self.context = render.RunContext()

    def print(self, events: list[dict[str, Any]]) -> None:
        if not events:
            return
        self.id_width = max(self.id_width, *(len(str(e["eventId"])) for e in events))
        self.type_width = max(self.type_width, *(len(str(e["eventType"])) for e in events))
        width = self.session.console.width
        rest = max(width - self.id_width - self.time_width - self.type_width - 3 * PADDING, 16)
        columns = [("ID", self.id_width, "right"), ("TIME", self.time_width, "right"), ("EVENT", self.type_width, "left"), ("DETAILS", rest, "left")]
        for first in range(0, len(events), CHUNK):  # a long history shows as it is rendered
            grid = _grid(columns, self.header)
            for event in events[first : first + CHUNK]:
                line = render.event_line(event, self.context, time_format=self.session.time_format, width=rest, decode=self.decode)
                dim = "dim" if line.outcome == "decision" else ""
                grid.add_row(
                    _cell(line.event_id, dim), _cell(line.time, dim), _cell(line.event_type, line.style), _details(line.fields, rest)
                )
            _print_table(self.session, grid)
            self.header = False


def _run_header(session: Session, execution: Mapping[str, str], events: list[dict[str, Any]], *, closed: bool = True) -> None:
    from rich.text import Text

    started = next((e for e in events if e["eventType"] == "WorkflowExecutionStarted"), None)
    closing = events[-1] if events and events[-1]["eventType"] in render.CLOSE_EVENTS else None
    status = render.CLOSE_EVENTS[closing["eventType"]] if closing else "OPEN"
    head = Text(no_wrap=True, overflow="ellipsis")
    pairs: list[tuple[str, str, str]] = [
        ("workflowId", execution["workflowId"], "bold"),
        ("runId", execution["runId"], ""),
    ]
    if started is not None:
        pairs.append(("type", render.type_text(raw_attrs(started).get("workflowType")), ""))
    if closed:
        pairs.append(("status", status, render.status_style(status)))
        begin = render.timestamp(started.get("eventTimestamp")) if started else None
        end = render.timestamp(closing.get("eventTimestamp")) if closing else now()
        if begin and end:
            pairs.append(("duration", render.duration_text((end - begin).total_seconds()), ""))
        pairs.append(("events", str(len(events)), ""))
    for number, (name, value, style) in enumerate(pairs):
        if number:
            head.append("  ")
        head.append(f"{name} ", style="dim")
        head.append(value, style=style)
    _line(session, head)


def _continued_note(session: Session, events: list[dict[str, Any]]) -> None:
    closing = events[-1] if events else {}
    if closing.get("eventType") == "WorkflowExecutionContinuedAsNew":
        new_run = raw_attrs(closing).get("newExecutionRunId")
        _line(session, _cell(f"continued as new: runId {new_run} (see it with --run-id {new_run}, or --follow)", "cyan"))


# -- executions history -------------------------------------------------------------------------
@executions.command(
    "history",
    short_help="a run's events, readable, grouped, followed, or as a history file",
    help="A run's history: one line per event, payloads decoded (JSON), times from the run's start "
    "(--time-format iso: absolute). --grouped: one line per activity attempt, timer, child, signal and marker, "
    "with its outcome and duration. --follow: print events as they are written until the run closes, "
    "following continue-as-new. -o json: the history file (docs/cli.md) that replay tests and the dashboard "
    "load; -o jsonl: one event per line. A WORKFLOW_ID alone means its open run, else its latest.",
)
@backend_options(domain=True, output=True)
@click.argument("workflow_id")
@click.option("--run-id", "-r", metavar="RUN_ID", default=None, help="this run (or a prefix of its runId)")
@click.option("--follow", "-f", is_flag=True, help="print new events as they are written, until the run closes")
@click.option("--grouped", "-g", is_flag=True, help="one line per activity, timer, child, signal, marker")
@click.option(
    "--file",
    "path",
    metavar="PATH",
    type=click.Path(dir_okay=False, writable=True),
    default=None,
    help="write the history file there (-o json, the default with --file; or -o jsonl) instead of stdout",
)
@click.option(
    "--interval",
    type=click.FloatRange(min=0.0, min_open=True),
    default=0.5,
    show_default=True,
    metavar="SECONDS",
    help="--follow: seconds between polls",
)
@click.option(
    "--codec",
    type=click.Choice(sorted(CODECS)),
    default="json",
    show_default=True,
    help="how payloads are encoded (msgpack: flowser's base64 msgpack)",
)
def history(
    session: Session,
    workflow_id: str,
    run_id: str | None,
    follow: bool,
    grouped: bool,
    path: str | None,
    interval: float,
    codec: str,
) -> int:
    output = session.output
    if path and output == "table":  # --file writes the history file (a stream of events with --follow)
        output = "jsonl" if follow else "json"
    if follow and grouped:
        raise usage_error("--grouped sums up a whole history: it does not --follow")
    if follow and output == "json":
        raise usage_error("-o json writes one document: --follow with -o jsonl (one event per line) or the table")
    if path and grouped:
        raise usage_error("--file writes the history file: without --grouped")
    decode = CODECS[codec]
    execution = _find(session, workflow_id, run_id)
    with ExitStack() as stack:
        out: IO[str] | None = None
        if path:
            try:
                out = stack.enter_context(open(path, "w", encoding="utf-8"))
            except OSError as exc:
                raise usage_error(f"--file {path}: {exc.strerror}") from None
        if follow:
            written = _follow(session, execution, output, out, interval, decode)
            if path:
                session.warn(f"wrote {written} events of {execution['workflowId']} to {path}")
            return 0
        events = list(ops.history_events(session.client, session.domain, execution))
        if grouped:
            _grouped(session, execution, events, decode)
        elif output == "json":
            document = history_document(events, domain=session.domain, execution=execution)
            _write(out, json.dumps(document, ensure_ascii=False, indent=2))
        elif output == "jsonl":
            for event in events:
                _write(out, json.dumps(dump_event(event), ensure_ascii=False))
        else:
            _run_header(session, execution, events)
            EventPrinter(session, decode).print(events)
            _continued_note(session, events)
        if path:
            session.warn(f"wrote {len(events)} events of {execution['workflowId']} (run {execution['runId']}) to {path}")
    return 0


def _write(out: IO[str] | None, line: str) -> None:
    if out is None:
        click.echo(line)
    else:
        out.write(line + "\n")
        out.flush()


def _follow(
    session: Session,
    execution: dict[str, str],
    output: str,
    out: IO[str] | None,
    interval: float,
    decode: Callable[[str], Any],
) -> int:
    """Print (or write) the run's events as they come, through continue-as-new; the number of events."""
    printer = EventPrinter(session, decode, id_width=4, type_width=31)  # room for what may come
    table = output == "table"
    if table:
        _run_header(session, execution, [], closed=False)
    batch: list[dict[str, Any]] = []
    current = execution
    stream = trace.follow(session.client, session.domain, execution, interval=interval, sleep=_pause(batch, printer, table))
    last: dict[str, Any] | None = None
    run_events: list[dict[str, Any]] = []
    count = 0
    try:
        for item in stream:
            if isinstance(item, trace.NewRun):
                if table:
                    printer.print(batch)
                    batch.clear()
                    session.console.rule(f"continued as new: runId {item.execution['runId']}", style="cyan")
                    printer.new_run()
                    _run_header(session, item.execution, [], closed=False)
                current, run_events = item.execution, []
                continue
            last = item
            count += 1
            run_events.append(item)
            if table:
                batch.append(item)
            else:
                _write(out, json.dumps(dump_event(item), ensure_ascii=False))
        if table:
            printer.print(batch)
            batch.clear()
            if last is not None and last["eventType"] in render.CLOSE_EVENTS:
                _closed_line(session, current, run_events)
    except KeyboardInterrupt:  # Ctrl-C: what came in is shown, and that is all
        if table:
            printer.print(batch)
    return count


def _pause(batch: list[dict[str, Any]], printer: EventPrinter, table: bool) -> Callable[[float], Any]:
    """Between polls: print what came in, then wait."""

    def pause(seconds: float) -> None:
        if table and batch:
            printer.print(batch)
            batch.clear()
        sys.stdout.flush()
        sleep(seconds)

    return pause


def _closed_line(session: Session, execution: Mapping[str, str], events: list[dict[str, Any]]) -> None:
    from rich.text import Text

    closing = events[-1]
    status = render.CLOSE_EVENTS[closing["eventType"]]
    started = next((e for e in events if e["eventType"] == "WorkflowExecutionStarted"), None)
    line = Text(no_wrap=True, overflow="ellipsis")
    line.append("run closed: ", style="dim")
    line.append(status, style=render.status_style(status))
    if started is not None:
        begin = render.timestamp(started.get("eventTimestamp"))
        end = render.timestamp(closing.get("eventTimestamp"))
        if begin and end:
            line.append(f" after {render.duration_text((end - begin).total_seconds())}", style="dim")
    _line(session, line)


def _grouped(session: Session, execution: Mapping[str, str], events: list[dict[str, Any]], decode: Callable[[str], Any]) -> None:
    groups = render.grouped(events, decode=decode, value_width=None if session.output != "table" else 200)
    start = groups[0].opened if groups else None
    clock = now()
    if session.output == "json":
        session.echo(session.dump([g.to_dict(start, clock) for g in groups]))
        return
    if session.output == "jsonl":
        for group in groups:
            session.echo(session.dump(group.to_dict(start, clock)))
        return
    _run_header(session, execution, events)
    if not groups:
        return
    starts = [render.offset_text(g.offset(start)) for g in groups]
    durations = [_duration_cell(g, clock) for g in groups]
    statuses = [g.status for g in groups]
    widths = [
        max(5, *map(len, starts)),
        max(4, *(len(g.kind) for g in groups)),
        min(max(4, *(len(g.name) for g in groups)), 40),
        max(6, *map(len, statuses)),
        max(8, *(len(d) for d in durations)),
    ]
    rest = max(session.console.width - sum(widths) - 5 * PADDING, 16)
    grid = _grid(
        [
            ("START", widths[0], "right"),
            ("KIND", widths[1], "left"),
            ("NAME", widths[2], "left"),
            ("STATUS", widths[3], "left"),
            ("DURATION", widths[4], "right"),
            ("DETAILS", rest, "left"),
        ],
        True,
    )
    for group, offset, duration in zip(groups, starts, durations, strict=True):
        fields: list[tuple[str, str]] = []
        if group.type and group.type != group.name:
            fields.append(("type", group.type))
        if group.attempts > 1:
            fields.append(("attempt", f"{group.attempt}/{group.attempts}"))
        waited = group.waited()
        if group.kind in ("activity", "lambda") and waited is not None:
            fields.append(("waited", render.duration_text(waited)))
        fields.extend(group.fields)
        if group.worker:
            fields.append(("worker", group.worker))
        dim = "dim" if group.kind == "decisions" else ""
        name = render.truncate(group.name, widths[2])
        grid.add_row(
            _cell(offset, dim),
            _cell(group.kind, dim or ("bold" if group.kind == "workflow" else "")),
            _cell(name, dim),
            _cell(group.status, render.status_style(group.status)),
            _cell(duration, dim),
            _details(fields, rest),
        )
    _print_table(session, grid)
    _continued_note(session, events)


def _duration_cell(group: render.Group, clock: dt.datetime) -> str:
    seconds = group.duration(clock)
    if seconds is None:
        return "-"
    text = render.duration_text(seconds)
    return f"{text}…" if group.is_open and group.kind != "decisions" else text


# -- executions tree ----------------------------------------------------------------------------
@executions.command(
    "tree",
    short_help="a run's child workflows, theirs too, with status and duration",
    help="A run and its child workflows (and theirs), each with its type, status and duration, read from the "
    "histories. A child that continued as new shows its last run's status. -o json: the nested structure.",
)
@backend_options(domain=True, output=True)
@click.argument("workflow_id")
@click.option("--run-id", "-r", metavar="RUN_ID", default=None, help="this run (or a prefix of its runId)")
@click.option("--depth", type=click.IntRange(min=0), default=None, metavar="N", help="levels of children to read (default: all)")
def tree(session: Session, workflow_id: str, run_id: str | None, depth: int | None) -> int:
    execution = _find(session, workflow_id, run_id)
    root = trace.workflow_tree(session.client, session.domain, execution, depth=depth)
    clock = now()
    if session.output == "json":
        session.echo(session.dump(root.to_dict(clock)))
        return 0
    if session.output == "jsonl":
        parents: dict[int, str] = {}
        for level, node in root.walk():
            parents[level] = node.workflow_id
            row = {k: v for k, v in node.to_dict(clock).items() if k != "children"}
            row["depth"] = level
            row["parentWorkflowId"] = parents.get(level - 1) if level else None
            session.echo(session.dump(row))
        return 0
    from rich.tree import Tree

    view = Tree(_node_label(root, clock), guide_style="dim")
    _add_children(view, root, clock)
    session.console.print(view)
    return 0


def _add_children(branch: Any, node: trace.TreeNode, clock: dt.datetime) -> None:
    for child in node.children:
        _add_children(branch.add(_node_label(child, clock)), child, clock)
    if node.unread:
        branch.add(_cell(f"… {node.unread} more (--depth)", "dim"))


def _node_label(node: trace.TreeNode, clock: dt.datetime) -> Any:
    from rich.text import Text

    label = Text(no_wrap=True, overflow="ellipsis")
    label.append(node.workflow_id, style="bold")
    if node.workflow_type:
        label.append(f"  {render.type_text(node.workflow_type)}", style="dim")
    label.append("  ")
    label.append(node.status, style=render.status_style(node.status))
    seconds = node.duration(clock)
    if seconds is not None:
        label.append(f"  {render.duration_text(seconds)}{'…' if node.status == 'OPEN' else ''}")
    if node.note:
        label.append(f"  {node.note}", style=render.status_style(node.status) or "dim")
    if len(node.runs) > 1:
        label.append(f"  ({len(node.runs)} runs)", style="cyan")
    if node.run_id:
        label.append(f"  runId {node.runs[-1] if node.runs else node.run_id}", style="dim")
    return label


COMMANDS: list[click.Command] = []
