"""What the engine tells observers: facts about transitions that committed, never plans.

``engine.observers`` is a list of callables; each gets every event object
below, on the thread that caused it, right after the commit (or the claim)
it reports. An observer must be quick and must not raise (what it raises is
logged and dropped). Metrics subscribe here. (The domains' event streams are
not observers: their entries are written in the transaction itself, see
``stream``.) With no observer, nothing is built.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Observer = Callable[[Any], None]


@dataclass(frozen=True, slots=True)
class TransitionCommitted:
    """A transaction committed new history events of one run (in event order)."""

    domain: str
    run_id: str
    workflow_id: str
    events: tuple[dict[str, Any], ...]


@dataclass(frozen=True, slots=True)
class DeadlineFired:
    """A due deadline changed its run (a timeout or a timer; see ``timeouts``), in a commit that held."""

    domain: str
    run_id: str
    kind: str


@dataclass(frozen=True, slots=True)
class TaskClaimed:
    """A poll claimed a task of a list (it is started next, unless its run moved on)."""

    domain: str
    kind: str
    """``d`` (decision), ``a`` (activity) or ``l`` (Lambda)."""
    task_list: str
    member: str


@dataclass(frozen=True, slots=True)
class TaskStarted:
    """A poll was answered with a task: its *Started event committed."""

    domain: str
    kind: str
    """``d`` or ``a``."""
    task_list: str
    run_id: str
    scheduled_event_id: int
    started_event_id: int
