"""What each task of a job is doing, read from the run's typed history alone.

The DAG decider and ``flowser job run --wait`` both call :func:`task_states`: no state lives anywhere
but in SWF's history (activities, timers, and the result of a re-run's reused activities), so a decider
restart, another decider process or a progress view on another host sees the same thing.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from typing import Any

from ..history import COMPLETED, FIRED, History
from .graph import order
from .spec import JOB_SOURCE, WHOLE, JobSpec, Source

__all__ = [
    "DONE",
    "FAILED",
    "PENDING",
    "RUNNING",
    "SKIPPED",
    "SLEEPS_MARKER",
    "InputError",
    "TaskState",
    "get_path",
    "resolve_input",
    "task_states",
]

PENDING = "pending"
RUNNING = "running"
DONE = "done"
FAILED = "failed"
SKIPPED = "skipped"
TERMINAL = (DONE, FAILED, SKIPPED)

_TOKEN = re.compile(r"\.?([^.\[\]]+)|\[(-?\d+)\]")


class InputError(Exception):
    """An input's path is not in the job input or in the upstream result."""


@dataclass
class TaskState:
    name: str
    kind: str
    status: str = PENDING
    attempt: int = 0
    started: dt.datetime | None = None
    ended: dt.datetime | None = None
    reason: str | None = None
    result: Any = None
    reused: bool = False
    ready: bool = False
    """PENDING with every dependency done: the decider may start it."""

    def duration(self, now: dt.datetime | None = None) -> float | None:
        if self.started is None:
            return None
        end = self.ended or now
        return None if end is None else max((end - self.started).total_seconds(), 0.0)


def get_path(value: Any, path: str | None, what: str) -> Any:
    """``a.b[0].c`` (optionally ``$.a.b``) inside ``value``; ``None``, ``""`` or ``$`` is the whole value."""
    text = (path or "").strip()
    if text.startswith("$"):
        text = text[1:]
    current = value
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise InputError(f"bad path {path!r}")
        position = match.end()
        key, index = match.group(1), match.group(2)
        if key is not None and isinstance(current, dict) and key in current:
            current = current[key]
        elif key is not None and isinstance(current, list) and key.lstrip("-").isdigit() and -len(current) <= int(key) < len(current):
            current = current[int(key)]
        elif index is not None and isinstance(current, list) and -len(current) <= int(index) < len(current):
            current = current[int(index)]
        else:
            raise InputError(f"{path!r} is not in {what}")
    return current


def resolve(source: Source, job_input: Any, states: dict[str, TaskState]) -> Any:
    if source.from_ is None:
        return source.value
    if source.from_ == JOB_SOURCE:
        return get_path(job_input, source.path, "the job input")
    return get_path(states[source.from_].result, source.path, f"the result of {source.from_}")


def resolve_input(spec: JobSpec, name: str, job_input: Any, states: dict[str, TaskState]) -> Any:
    """The task's input: None without ``input``, one value for a single source, else a mapping."""
    sources = spec.tasks[name].sources()
    if not sources:
        return None
    if WHOLE in sources:
        return resolve(sources[WHOLE], job_input, states)
    return {key: resolve(source, job_input, states) for key, source in sources.items()}


def _time(event: Any) -> dt.datetime | None:
    stamp = getattr(event, "time_stamp", None) if event is not None else None
    if isinstance(stamp, dt.datetime):
        return stamp if stamp.tzinfo else stamp.replace(tzinfo=dt.UTC)
    if isinstance(stamp, int | float):
        return dt.datetime.fromtimestamp(stamp, dt.UTC)
    return None


def _activity_state(state: TaskState, record: Any) -> None:
    attempts = list(getattr(record, "attempts", None) or [])
    first = attempts[0] if attempts else record
    state.attempt = record.attempt
    state.reused = record.reused is not None
    state.started = _time(getattr(first, "scheduled", None))
    if record.is_open:
        state.status = RUNNING
        return
    state.ended = _time(record.closed) or _time(getattr(record, "failed_to_schedule", None))
    if record.status == COMPLETED:
        state.status, state.result = DONE, record.result
        if state.reused and record.reused.marker is not None:
            state.started = state.ended = _time(record.reused.marker)
        return
    state.status = FAILED
    state.reason = record.reason or record.timeout_type or record.cause or record.status
    if record.timeout_type and record.reason is None:
        state.reason = f"timed out ({record.timeout_type})"


def _timer_state(state: TaskState, record: Any) -> None:
    state.attempt = 1
    state.started = _time(record.started)
    if record.is_open:
        state.status = RUNNING
        return
    state.ended = _time(record.closed) or _time(record.failed_to_start)
    if record.status == FIRED:
        state.status = DONE
    else:
        state.status, state.reason = FAILED, record.cause or record.status


SLEEPS_MARKER = "flowser.job.sleeps"
"""A restarted job's first decision task records the sleeps that fired in the run it restarts (details:
``{"source": runId, "done": [task names]}``): they are done, not slept again."""


def reused_sleeps(history: History) -> tuple[set[str], dt.datetime | None]:
    """The sleeps a restart reuses (from its marker), and when that was recorded."""
    for marker in history.markers:
        if marker.name == SLEEPS_MARKER:
            try:
                details = json.loads(marker.details or "{}")
            except ValueError:
                return set(), None
            return set(details.get("done", [])), _time(marker.event)
    return set(), None


def task_states(spec: JobSpec, history: History, job_input: Any, sleeps_done: set[str] | None = None) -> dict[str, TaskState]:
    """Each task's state, in topological order (a merge and a skipped task follow from their upstream).

    ``sleeps_done``: sleeps a restart reuses that its marker does not record yet (its first decision task).
    """
    reused, reused_at = reused_sleeps(history)
    reused |= sleeps_done or set()
    states: dict[str, TaskState] = {}
    for name in order(spec):
        task = spec.tasks[name]
        state = states[name] = TaskState(name, task.kind)
        deps = [states[dep] for dep in task.depends_on]
        if task.merge is not None:
            waits = [states[w] for w in task.merge.wait]
            done = [w for w in waits if w.status == DONE]
            lost = [w for w in [*waits, *deps] if w.status in (FAILED, SKIPPED)]
            if any(d.status in (FAILED, SKIPPED) for d in deps):
                state.status, state.reason = SKIPPED, "upstream " + ", ".join(d.name for d in deps if d.status != DONE)
            elif task.merge.mode == "all" and lost:
                state.status, state.reason = SKIPPED, "upstream " + ", ".join(w.name for w in lost) + " did not complete"
            elif task.merge.mode == "any" and not done and all(w.status in (FAILED, SKIPPED) for w in waits):
                state.status, state.reason = SKIPPED, "none of " + ", ".join(task.merge.wait) + " completed"
            elif all(d.status == DONE for d in deps) and ((task.merge.mode == "all" and len(done) == len(waits)) or (task.merge.mode == "any" and done)):
                ends = [w.ended for w in done if w.ended is not None]
                when = (max(ends) if task.merge.mode == "all" else min(ends)) if ends else None
                state.status, state.started, state.ended = DONE, when, when
                state.result = {w.name: w.result for w in done}
            continue
        record: Any = history.timers.get(name) if task.sleep is not None else history.activities.get(name)
        if task.sleep is not None and record is None and name in reused:
            state.status, state.reused, state.started, state.ended = DONE, True, reused_at, reused_at
            continue
        if record is not None:
            (_timer_state if task.sleep is not None else _activity_state)(state, record)
            continue
        upstream = [states[d] for d in task.upstream_names()]
        if any(u.status in (FAILED, SKIPPED) for u in upstream):
            state.status = SKIPPED
            state.reason = "upstream " + ", ".join(u.name for u in upstream if u.status in (FAILED, SKIPPED)) + " did not complete"
        elif all(u.status == DONE for u in upstream):
            try:
                resolve_input(spec, name, job_input, states)
            except InputError as exc:
                state.status, state.reason = FAILED, f"input: {exc}"
                ends = [u.ended for u in upstream if u.ended is not None]
                state.ended = max(ends) if ends else None
                continue
            state.ready = True
    return states
