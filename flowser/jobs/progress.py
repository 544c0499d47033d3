"""The live view of a job run (``flowser job run --wait``, ``flowser job status``): read from plain
``GetWorkflowExecutionHistory`` pages, so it works on AWS, moto, ``flowser serve`` and the embedded engine.

On a terminal it is a table redrawn in place (rich ``Live``); elsewhere (a log, a pipe) one line per
change of a task's status, then the final table.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..history import History
from ..tasks import WorkflowExecution
from .graph import describe
from .locks import GRANTED
from .spec import JobSpec
from .state import DONE, FAILED, PENDING, RUNNING, SKIPPED, TaskState, task_states

__all__ = ["Snapshot", "snapshot", "table", "watch"]

STYLE = {PENDING: "dim", RUNNING: "yellow", DONE: "green", FAILED: "red", SKIPPED: "dim red"}
MARK = {PENDING: "·", RUNNING: "»", DONE: "✓", FAILED: "✗", SKIPPED: "-"}


@dataclass
class Snapshot:
    spec: JobSpec
    states: dict[str, TaskState]
    close_status: str | None
    close_reason: str | None
    now: dt.datetime
    waiting_for: str | None = None
    """The resource tag the job waits for, if any."""


def snapshot(run: WorkflowExecution) -> Snapshot:
    history: History = run.history()
    raw = history.start_input or {}
    spec = JobSpec.model_validate(raw["spec"])
    states = task_states(spec, history, raw.get("input"))
    granted = set()
    for event in history.events:
        if event.type == "WorkflowExecutionSignaled" and event.raw_attrs.get("signalName") == GRANTED:
            try:
                granted.add(json.loads(event.raw_attrs.get("input") or "{}").get("tag"))
            except ValueError:
                pass
    waiting = next((tag for tag in spec.resource_tags if tag not in granted), None) if history.closed is None else None
    last = history.events[-1].time_stamp if history.events else None
    now = last if isinstance(last, dt.datetime) and history.closed is not None else dt.datetime.now(dt.UTC)
    return Snapshot(spec, states, history.close_status, history.close_reason, now, waiting)


def _duration(seconds: float | None) -> str:
    from ..render import duration_text

    return "" if seconds is None else duration_text(seconds, decimals=1)


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def table(snap: Snapshot, width: int | None = None) -> Any:
    """The tasks as a table; below 100 columns of ``width`` without what each task runs (``validate`` shows it)."""
    from rich.table import Table

    done = sum(1 for s in snap.states.values() if s.status == DONE)
    title = f"job {snap.spec.name} ({done}/{len(snap.states)} done)"
    if snap.close_status:
        title += f": {snap.close_status}"
    elif snap.waiting_for:
        title += f": waiting for resource tag {snap.waiting_for}"
    grid = Table(title=title, title_justify="left", box=None, pad_edge=False)
    # names, states and durations never break; on a narrow terminal what a task runs is left out
    wide = width is None or width >= 100
    for column in ("task", "status", "attempt", "duration"):
        grid.add_column(column, no_wrap=True)
    grid.add_column("after", overflow="fold")
    grid.add_column("reason", overflow="fold")
    if wide:
        grid.add_column("what", no_wrap=True, overflow="ellipsis", max_width=40)
    for name, state in snap.states.items():
        task = snap.spec.tasks[name]
        grid.add_row(
            name,
            f"[{STYLE[state.status]}]{MARK[state.status]} {state.status}{' (reused)' if state.reused else ''}[/]",
            str(state.attempt) if state.attempt else "",
            _duration(state.duration(snap.now)),
            ", ".join(task.upstream_names()),
            state.reason or "",
            *([_short(describe(snap.spec, name))] if wide else []),
        )
    return grid


def live_view(snap: Snapshot, width: int | None = None) -> Any:
    """What a terminal shows while the job runs: a progress bar of the tasks finished, over the table."""
    from rich.console import Group
    from rich.progress_bar import ProgressBar
    from rich.table import Table

    total = len(snap.states)
    finished = sum(1 for s in snap.states.values() if s.status in (DONE, FAILED, SKIPPED))
    bar = Table.grid(padding=(0, 1))
    bar.add_row(ProgressBar(total=max(total, 1), completed=finished, width=40), f"{finished}/{total} tasks finished")
    return Group(bar, table(snap, width))


def line(state: TaskState, now: dt.datetime) -> str:
    extra = f" (attempt {state.attempt})" if state.attempt > 1 else ""
    took = _duration(state.duration(now)) if state.status in (DONE, FAILED) else ""
    reason = f": {state.reason}" if state.reason else ""
    return f"{state.name}: {state.status}{extra}{' in ' + took if took else ''}{reason}"


def watch(
    run: WorkflowExecution,
    console: Any,
    *,
    interval: float = 1.0,
    timeout: float | None = None,
    sleep: Callable[[float], Any] = time.sleep,
) -> Snapshot:
    """Show the run until it closes (or ``timeout`` real seconds pass); return the last snapshot."""
    give_up = None if timeout is None else time.monotonic() + timeout
    snap = snapshot(run)
    if console.is_terminal:
        from rich.live import Live

        with Live(live_view(snap, console.width), console=console, refresh_per_second=4, transient=False) as live:
            while snap.close_status is None and (give_up is None or time.monotonic() < give_up):
                sleep(interval)
                snap = snapshot(run)
                live.update(live_view(snap, console.width))
        return snap
    seen: dict[str, str] = {}
    waiting_shown: str | None = None
    while True:
        if snap.waiting_for and snap.waiting_for != waiting_shown:
            console.print(f"waiting for resource tag {snap.waiting_for}", highlight=False, markup=False)
            waiting_shown = snap.waiting_for
        for name, state in snap.states.items():
            if seen.get(name, PENDING) != state.status:
                console.print(line(state, snap.now), highlight=False, markup=False)
                seen[name] = state.status
        if snap.close_status is not None or (give_up is not None and time.monotonic() >= give_up):
            break
        sleep(interval)
        snap = snapshot(run)
    console.print(table(snap, console.width))
    return snap
