"""The SWF engine: a facade that routes each SWF operation to the room that does it.

``Engine.handle(operation, params)`` validates the request (``validation``),
runs the operation and returns the response as a dict of JSON-ready values
(timestamps are epoch seconds), or raises an ``SWFFault``. It knows nothing
of HTTP or boto3: the wire codec and the in-process client sit on top.

The rooms, each small enough to read in one sitting, share a ``core.Core``
(store, clock, settings, the transition helper):

* ``registration``: domains, types, domain tags;
* ``executions``: start, describe, history, signal, cancel, terminate, visibility;
* ``polling``: claims, long polls, pending counts;
* ``decision_tasks`` and ``activity_tasks``: polling for and answering tasks;
* ``deadlines``: firing timeouts, timers, purges and outbox deliveries
  (``timeouts`` and ``relations`` hold what each one does);
* ``stream``: reading a domain's event stream (``read_stream``, not an SWF operation).

State changes to one execution are single optimistic transactions (see
``store``); the pure parts live in ``run`` (event appending, decision-task
invariant, the event limit) and ``decisions`` (the decisions of a completed
decision task).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .activity_tasks import ActivityTasks
from .clock import Clock
from .core import Core, EngineConfig
from .deadlines import Deadlines
from .decision_tasks import DecisionTasks
from .executions import Executions
from .faults import InternalFailure, SWFFault, UnknownOperationException
from .polling import Polling
from .registration import Registration
from .store import RedisStore, StoreUnavailable
from .stream import Stream, StreamRead
from .tokens import decode_task as decode_token
from .tokens import encode_task as encode_token
from .validation import OPERATIONS, validate

__all__ = ["OPERATIONS", "Engine", "EngineConfig", "StreamRead", "decode_token", "encode_token"]


class Engine(Core):
    """Amazon SWF's semantics over a ``RedisStore``, with time from ``clock``."""

    def __init__(self, store: RedisStore, clock: Clock | None = None, config: EngineConfig | None = None) -> None:
        super().__init__(store, clock, config)
        self.polling = Polling(self)
        self.deadlines = Deadlines(self)
        self.stream = Stream(self)
        rooms = (
            Registration(self),
            Executions(self),
            self.polling,
            DecisionTasks(self, self.polling),
            ActivityTasks(self, self.polling),
        )
        self._ops: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {}
        for name in OPERATIONS:
            method = _snake(name)
            owners = [room for room in rooms if callable(getattr(room, method, None))]
            if len(owners) != 1:
                raise RuntimeError(f"{name}: served by {len(owners)} rooms of the engine")
            self._ops[name] = getattr(owners[0], method)

    def handle(self, operation: str, params: Any) -> dict[str, Any]:
        """Validate and run one SWF operation; the response is a dict of JSON-ready values."""
        method = self._ops.get(operation)
        if method is None:
            raise UnknownOperationException(f"Unknown operation {operation}")
        checked = validate(operation, params)
        try:
            return method(checked)
        except SWFFault:
            raise
        except StoreUnavailable as exc:
            raise InternalFailure(f"store unavailable: {exc}") from exc

    def fire_due(self, now: float | None = None) -> int:
        """Fire every timeout, timer and retention purge due at ``now`` (default: the clock's now)."""
        return self.deadlines.fire_due(now)

    def read_stream(self, domain: str, after: str | None = None, wait: float = 0.0, count: int = 1000) -> StreamRead:
        """Entries of the domain's event stream after the id ``after`` (None: from now; ``"0"``: from
        the oldest kept), waiting up to ``wait`` seconds for one; see ``stream``. Not an SWF operation:
        ``flowser.listen`` and ``flowser serve``'s ``/flowser/listen`` read through it."""
        try:
            return self.stream.read(domain, after, wait, count)
        except StoreUnavailable as exc:
            raise InternalFailure(f"store unavailable: {exc}") from exc

    def stream_position(self, domain: str) -> str:
        """The id of the domain's last stream entry now: reading after it reads from now on."""
        return self.stream.position(domain)

    def stop_polls(self) -> None:
        """Answer every poll held by this engine empty, and end its blocked stream reads, now and
        from now on (graceful shutdown)."""
        self.polling.stop_polls()
        self.stream.stop()


def _snake(name: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")
