"""``flowser listen``: every history event of a domain, across its executions, as it is written.

One line per event (time, workflowId, the runId's start, event type, its key
attributes, as ``executions history`` shows them), or ``-o jsonl``: one JSON
object per event (``{"id", "domain", "workflowId", "runId", "workflowType",
"event"}``) and ``{"lost": n, "after": id}`` when the listener fell behind
the stream's bound. The events come from :func:`flowser.listen.listen`: the
stream of the local engine or of ``flowser serve``; elsewhere (AWS, moto) by
polling, which the command says on stderr. Ctrl-C ends it (exit 0).
"""

from __future__ import annotations

import collections
from typing import Any

import click

from .. import render
from ..listen import Lost, StreamEvent, listen
from .common import Session, backend_options, usage_error

RUN_CONTEXTS = 10_000
"""Runs whose earlier events are kept to name what a later event refers to (activityId...)."""
RUN_ID_SHOWN = 8


@click.command(
    "listen",
    short_help="every history event of a domain, as it is written",
    help="Every history event of a domain, across all of its executions, as it is written: one line each "
    "(time, workflowId, runId, event type, key attributes), or -o jsonl. On the local engine and flowser serve "
    "it reads the domain's event stream (--from ID resumes after an event id it printed; --from 0: from the "
    "oldest event the stream keeps), and says when it fell behind the stream's bound and lost events; "
    "elsewhere (AWS, moto) it polls visibility and histories and says so. Ctrl-C ends it.",
)
@backend_options(domain=True)
@click.option("--type", "-t", "workflow_types", multiple=True, metavar="NAME", help="only runs of this workflow type (repeatable)")
@click.option("--event-type", "-e", "event_types", multiple=True, metavar="TYPE", help="only events of this type (repeatable)")
@click.option("--from", "after", metavar="ID", default=None, help="resume after this event id (0: the oldest kept); default: from now")
@click.option("--output", "-o", "fmt", type=click.Choice(("table", "jsonl")), default="table", show_default=True, help="output format")
@click.option(
    "--time-format", "times", type=click.Choice(("local", "iso")), default="local", show_default=True,
    help="times as the local wall clock (HH:MM:SS.mmm) or as ISO 8601 (UTC)",
)
@click.option("--poll-interval", type=float, default=5.0, show_default=True, metavar="SECONDS", help="seconds between looks when polling")
@click.option("--limit", type=int, default=None, metavar="N", help="stop after N events")
def listen_command(
    session: Session,
    workflow_types: tuple[str, ...],
    event_types: tuple[str, ...],
    after: str | None,
    fmt: str,
    times: str,
    poll_interval: float,
    limit: int | None,
) -> int:
    if poll_interval <= 0:
        raise usage_error("--poll-interval must be > 0")
    if limit is not None and limit < 1:
        raise usage_error("--limit must be >= 1")
    printer = _Printer(session, fmt, times)  # (backend_options keeps the names output and time_format)
    try:
        try:
            listener = listen(
                session.client,
                session.domain,
                after=after,
                event_types=event_types or None,
                workflow_type=workflow_types or None,
                poll_interval=poll_interval,
            )
        except ValueError as exc:
            raise usage_error(f"--from {after}: expected an event id it printed (<number>-0), or 0") from exc
        with listener:
            if listener.note:
                session.warn(listener.note)
            shown = 0
            for item in listener:
                if isinstance(item, Lost):
                    printer.lost(item)
                    continue
                printer.event(item)
                shown += 1
                if limit is not None and shown >= limit:
                    break
    except KeyboardInterrupt:
        pass  # Ctrl-C: the normal end of a listener
    return 0


class _Printer:
    def __init__(self, session: Session, output: str, time_format: str) -> None:
        self.session = session
        self.output = output
        self.time_format = time_format
        self.contexts: collections.OrderedDict[str, render.RunContext] = collections.OrderedDict()
        self.id_width = 12
        self.type_width = 24

    def lost(self, item: Lost) -> None:
        if self.output == "jsonl":
            self.session.echo(self.session.dump({"lost": item.count, "after": item.after_id}))
        self.session.warn(
            f"fell behind the stream's bound: {item.count} event(s) after {item.after_id} were trimmed before they could be read"
        )

    def event(self, item: StreamEvent) -> None:
        if self.output == "jsonl":
            self.session.echo(self.session.dump({
                "id": item.id,
                "domain": item.domain,
                "workflowId": item.workflow_id,
                "runId": item.run_id,
                "workflowType": item.workflow_type,
                "event": item.event,
            }))
            return
        from rich.text import Text

        context = self.contexts.get(item.run_id)
        if context is None:
            context = self.contexts[item.run_id] = render.RunContext()
            if len(self.contexts) > RUN_CONTEXTS:
                self.contexts.popitem(last=False)
        else:
            self.contexts.move_to_end(item.run_id)
        self.id_width = min(max(self.id_width, len(item.workflow_id)), 40)
        self.type_width = max(self.type_width, len(item.event_type))
        when = _time(item.event.get("eventTimestamp"), self.time_format)
        width = self.session.console.width
        rest = max(width - len(when) - self.id_width - RUN_ID_SHOWN - self.type_width - 8, 16)
        line = render.event_line(item.event, context, width=rest)
        out = Text(no_wrap=True, overflow="ellipsis")
        out.append(when, style="dim")
        out.append("  ")
        out.append(render.truncate(item.workflow_id, self.id_width).ljust(self.id_width), style="bold")
        out.append("  ")
        out.append(item.run_id[:RUN_ID_SHOWN].ljust(RUN_ID_SHOWN), style="dim")
        out.append("  ")
        out.append(item.event_type.ljust(self.type_width), style=line.style)
        for name, value in line.fields:
            out.append("  ")
            if name:
                out.append(f"{name}=", style="dim")
            out.append(value)
        out.rstrip()
        self.session.console.print(out, no_wrap=True, overflow="ellipsis", crop=True)


def _time(value: Any, style: str) -> str:
    when = render.timestamp(value)
    if when is None:
        return "-"
    if style == "iso":
        return render.iso(when)
    return when.astimezone().strftime("%H:%M:%S.%f")[:-3]


COMMANDS = [listen_command]
