"""``flowser top``: a live summary of one domain, redrawn in place."""

from __future__ import annotations

import threading
import time
from typing import Any

import click

from .common import Session, backend_options, format_duration


@click.command("top", short_help="a live summary of a domain, redrawn in place", help="A live summary of a domain, redrawn in place: open executions per type, pending tasks "
               "per task list, tasks started and completed per second, the oldest waiting task, and the timeouts "
               "of the last minute. Ctrl-C ends it.")
@backend_options(domain=True)
@click.option("--interval", type=click.FloatRange(min=0.1), default=2.0, show_default=True, metavar="SECONDS",
              help="seconds between two redraws (and two rounds of SWF count calls)")
@click.option("--window", type=click.FloatRange(min=1), default=60.0, show_default=True, metavar="SECONDS",
              help="rates and timeouts are counted over this many seconds")
@click.option("--iterations", "-n", type=click.IntRange(min=1), default=None, metavar="N",
              help="draw N times, then exit (each one printed below the last when not on a terminal)")
def top(session: Session, interval: float, window: float, iterations: int | None) -> int:
    from flowser.listen import Lost, listen
    from flowser.top import Top, registered_types, take_counts

    client, domain = session.client, session.domain
    workflow_types, default_lists = registered_types(client, domain)
    began = time.time()
    model = Top(window=window, began=began)
    model.task_lists |= default_lists
    lock = threading.Lock()
    stop = threading.Event()
    listener = listen(client, domain, stop=stop, poll_interval=max(interval, 1.0))
    failure: list[BaseException] = []

    def feed() -> None:
        try:
            for item in listener:
                with lock:
                    if isinstance(item, Lost):
                        model.add_lost(item.count)
                    else:
                        model.add_event(item.run_id, item.event, time.time())
        except Exception as exc:  # shown in the frame; the counts go on
            failure.append(exc)

    reader = threading.Thread(target=feed, name="flowser-top-listen", daemon=True)
    reader.start()
    if listener.note:
        session.warn(listener.note)

    def frame() -> Any:
        counts = take_counts(client, domain, workflow_types, sorted(model.task_lists))
        with lock:
            model.add_counts(counts)
            return render(model, domain, listener.mode, time.time(), began, failure[0] if failure else None)

    drawn = 0
    try:
        if session.console.is_terminal and iterations != 1:
            from rich.live import Live

            with Live(frame(), console=session.console, auto_refresh=False, screen=False) as live:
                drawn = 1
                while iterations is None or drawn < iterations:
                    time.sleep(interval)
                    live.update(frame(), refresh=True)
                    drawn += 1
        else:
            while iterations is None or drawn < iterations:
                if drawn:
                    time.sleep(interval)
                session.console.print(frame())
                drawn += 1
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        listener.close()
    return 0


def render(model: Any, domain: str, mode: str, now: float, began: float, failure: BaseException | None) -> Any:
    """One frame: a header line and three tables (rich renderables)."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    source = {"stream": "event stream", "sse": "event stream (server-sent events)", "polling": "polling"}.get(mode, mode)
    since = model.span(now)
    header = Text.assemble(
        (f"{domain}", "bold"),
        f"  {time.strftime('%H:%M:%S', time.localtime(now))}  events seen {model.events_seen} via {source}",
        f"  rates over the last {format_duration(since)}",
    )
    if model.lost:
        header.append(f"  LOST {model.lost} events (fell behind the stream)", style="bold red")
    if model.counts.truncated:
        header.append("  (some counts truncated by SWF)", style="yellow")
    parts: list[Any] = [header]
    if failure is not None:
        parts.append(Text(f"event reader stopped: {failure}", style="red"))

    executions = Table(title="open executions", title_justify="left", box=None, pad_edge=False)
    executions.add_column("WORKFLOW TYPE")
    executions.add_column("OPEN", justify="right")
    for name, count in sorted(model.counts.open_by_type.items(), key=lambda kv: (-kv[1], kv[0])):
        executions.add_row(name, str(count))
    closed = model.closed(now)
    if closed:
        executions.add_row(Text("closed in window", style="dim"), Text(", ".join(f"{k} {v}" for k, v in sorted(closed.items())), style="dim"))
    parts.append(executions)

    tasks = Table(title="task lists", title_justify="left", box=None, pad_edge=False)
    for column, justify in (("KIND", "left"), ("TASK LIST", "left"), ("PENDING", "right"), ("OLDEST WAITING", "right"),
                            ("STARTED/S", "right"), ("COMPLETED/S", "right")):
        tasks.add_column(column, justify=justify)  # type: ignore[arg-type]
    oldest = model.oldest_waiting(now)
    for kind, task_list in sorted(model.task_lists):
        pending = model.counts.pending.get((kind, task_list))
        age = oldest.get((kind, task_list))
        age_text = format_duration(age) if age is not None else ("-" if not pending else f">{format_duration(now - began)}")
        style = "red" if age is not None and age > 60 else ""
        tasks.add_row(kind, task_list or "-", "?" if pending is None else str(pending), Text(age_text, style=style), "", "")
    for kind in ("decision", "activity"):
        tasks.add_row(Text(kind, style="bold"), Text("(all lists)", style="dim"), "", "",
                      f"{model.rate('started', kind, now):.1f}", f"{model.rate('completed', kind, now):.1f}")
    parts.append(tasks)

    timeouts = model.timeouts(now)
    line = ", ".join(f"{kind} {count}" for kind, count in sorted(timeouts.items())) or "none"
    parts.append(Text.assemble(("timeouts in window: ", "bold"), (line, "red" if timeouts else "")))
    return Group(*parts)


COMMANDS = [top]
