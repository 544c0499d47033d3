"""What every room of the engine shares: the store, the clock, the settings, and the transition.

``Core.transition`` loads a run under WATCH, applies a change and writes it
in one ``EXEC`` (``write_run`` queues every write a transition implies);
``commit`` is the same for any transaction, and wakes timekeepers and
Lambda runners for what it added. Reads that several rooms make (a domain,
a run, a page of history) live here too. The rooms (``registration``,
``executions``, ``polling``, ``decision_tasks``, ``activity_tasks``,
``deadlines``) each hold a ``Core``; ``engine.Engine`` is a ``Core`` that
routes operations to them.
"""

from __future__ import annotations

import logging
import math
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from . import caller
from . import decisions as decision_rules
from .clock import Clock, SystemClock
from .events import EventPage, dump_event
from .faults import UnknownResourceFault, ValidationException
from .keys import DomainKeys
from .observers import Observer, TransitionCommitted
from .paging import make_token, page_size, query_digest, read_token
from .reset import DomainCache
from .run import Run, apply_event_limit, closing_deadlines, deadline, ms, run_deadlines
from .state import RunState
from .store import Read, RedisStore, Tx, read_run, unpack

log = logging.getLogger("flowser.engine")

KIND_NAMES = {"w": "WorkflowType", "a": "ActivityType"}
ONE_YEAR = 31_536_000
RUN_LOCK_STRIPES = 256
T = TypeVar("T")


@dataclass
class EngineConfig:
    """Settings of one engine; every process sharing a Redis should use the same."""

    poll_hold: float = 60.0
    """Seconds a poll waits for a task before answering empty (SWF: 60)."""
    empty_poll_token: Literal["absent", "empty"] = "empty"
    """Empty poll answers carry ``taskToken: ""`` (as AWS documents) or none (as moto; docs/semantics.md)."""
    region: str = "us-east-1"
    account: str = "000000000000"
    lease: float = 30.0
    """Seconds a claimed task may stay unstarted before another poller may take it."""
    limits: decision_rules.Limits = field(default_factory=decision_rules.Limits)
    max_domains: int = 100
    max_types: int = 10_000
    max_open_executions: int = 100_000
    stream_maxlen: int = 100_000
    """Entries the domain's event stream keeps, about (``stream``: every history event, written in
    the same transaction; MAXLEN ~); 0 writes no stream."""
    min_replicas_ack: int = 0
    """Answer a change only once this many replicas have it (``WAIT`` after each ``EXEC``; docs/scaling.md).
    0: once the primary has it, as Redis acknowledges writes."""
    replica_ack_timeout: float = 5.0
    """Seconds a change waits for ``min_replicas_ack`` replicas; then the caller gets ``InternalFailure``
    (the change is on the primary, and may or may not survive its failover)."""


@dataclass
class _Pending:
    """What a transaction added that others must be woken for, or told of, once it has committed."""

    deadline: float = math.inf
    lambdas: bool = False
    notes: list[Any] | None = None
    """Observer events of the attempt under way (None: nobody observes)."""


def unknown_type(kind: str, name: str, version: str) -> UnknownResourceFault:
    return UnknownResourceFault(f"Unknown type: {KIND_NAMES[kind]}=[name={name}, version={version}]")


def unknown_execution(workflow_id: str, run_id: str | None) -> UnknownResourceFault:
    return UnknownResourceFault(f"Unknown execution: WorkflowExecution=[workflowId={workflow_id}, runId={run_id}]")


def seconds(value: str | None) -> float | None:
    """A duration string as seconds; None for NONE/absent."""
    if value is None or value == "NONE":
        return None
    return float(int(value))


def load_run(raw: bytes, now: float) -> Run:
    """A run read as bytes in a transaction (``store.read_run``), ready for a transition at ``now``."""
    return Run(RunState.load(unpack(raw)), now)


def check_year(p: dict[str, Any], member: str) -> None:
    value = p.get(member)
    if value and value != "NONE" and int(value) > ONE_YEAR:
        raise ValidationException(
            f"1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: "
            f"Member must be at most {ONE_YEAR} seconds (1 year)"
        )


class Core:
    """The shared machinery of one engine (see the module docstring)."""

    def __init__(self, store: RedisStore, clock: Clock | None = None, config: EngineConfig | None = None) -> None:
        self.store = store
        """The only door to Redis (tests and benchmarks reach the raw client as ``store.redis``)."""
        self.clock: Clock = clock or SystemClock()
        self.config = config or EngineConfig()
        store.replicas_ack(self.config.min_replicas_ack, self.config.replica_ack_timeout)
        self.timekeeper_notify: Callable[[float], None] | None = None
        self.lambda_notify: Callable[[], None] | None = None
        self.instance_id = uuid.uuid4().hex
        self.domain_cache = DomainCache(store)
        self._run_locks = [threading.Lock() for _ in range(RUN_LOCK_STRIPES)]
        self._local = threading.local()
        self.observers: list[Observer] = []
        """Told every event (``observers``), right after what it reports committed."""
        self._observers_of: dict[type, list[Observer]] = {}

    def observe(self, observer: Observer, *kinds: type) -> None:
        """Tell ``observer`` the events of these kinds only: no other event is even built for it."""
        for kind in kinds:
            self._observers_of.setdefault(kind, []).append(observer)

    def wants(self, kind: type) -> bool:
        """Someone observes events of ``kind`` (the engine builds none that nobody observes)."""
        return bool(self.observers) or kind in self._observers_of

    def publish(self, event: Any) -> None:
        for observer in (*self.observers, *self._observers_of.get(type(event), ())):
            try:
                observer(event)
            except Exception:
                log.exception("observer %r failed on %s", observer, type(event).__name__)

    def note(self, event: Any) -> None:
        """Publish ``event`` when the transaction under way commits (at once outside one)."""
        if not self.wants(type(event)):
            return
        pending: _Pending | None = getattr(self._local, "pending", None)
        if pending is None:
            self.publish(event)
        elif pending.notes is not None:
            pending.notes.append(event)

    def now(self) -> float:
        return ms(self.clock.now())

    def domain(self, name: str) -> dict[str, Any]:
        record = self.store.domain_record(name)
        if record is None:
            raise UnknownResourceFault(f"Unknown domain: {name}")
        return record

    def known_domain(self, name: str) -> None:
        """Existence check for the hot paths (polls, counts): only ``flowser reset`` deletes
        domains, so a positive answer is cached for a few seconds, until a reset (``reset``)."""
        cached = self.domain_cache.current()  # taken before the read: a reset in between drops it
        if cached is not None and cached.knows(name):
            return
        self.domain(name)
        if cached is not None:
            cached.saw(name)

    def region(self) -> str:
        """The region of this request's ARNs: the one its caller signed for, else the configured one."""
        return caller.signed_region.get() or self.config.region

    def arn(self, name: str) -> str:
        """A domain's ARN (the one ARN builder: the engine's answers and the HTTP server's refusals)."""
        return self._arn_prefix() + name

    def _arn_prefix(self) -> str:
        return f"arn:aws:swf:{self.region()}:{self.config.account}:/domain/"

    def domain_of_arn(self, arn: str) -> str:
        prefix = self._arn_prefix()
        if not arn.startswith(prefix) or len(arn) == len(prefix):
            raise UnknownResourceFault(f"Unknown resource: {arn}")
        return arn[len(prefix) :]

    def load(self, dk: DomainKeys, run_id: str) -> Run | None:
        stored = self.store.run_state(dk, run_id)
        if stored is None:
            return None
        return Run(RunState.load(stored), self.clock.now())

    def execution(self, p: dict[str, Any]) -> tuple[DomainKeys, Run]:
        """The run ``p["execution"]`` names (open, or closed within retention)."""
        self.domain(p["domain"])
        dk = DomainKeys(p["domain"])
        ex = p["execution"]
        run = self.load(dk, ex["runId"])
        if run is None or run.workflow_id != ex["workflowId"]:
            raise unknown_execution(ex["workflowId"], ex["runId"])
        return dk, run

    def write_run(self, tx: Tx, dk: DomainKeys, run: Run, *, created: bool = False) -> None:
        """Queue a transition's writes: state, new events, task lists, deadlines, indexes."""
        run.effects.written = True
        apply_event_limit(run, self.config.limits.history_events)
        state = run.state
        rid = state.run_id
        tx.put_run(dk, rid, state.dump())
        if run.events:
            stored = [dump_event(e) for e in run.events]
            tx.append_events(dk, rid, stored)
            if self.config.stream_maxlen > 0:
                name, version = state.workflow_type
                tx.stream_events(dk, self.config.stream_maxlen, f"{rid}|{state.workflow_id}|{name}|{version}", stored)
        effects = run.effects
        if created:
            tx.index_open_run(dk, rid, state.workflow_id, state.workflow_type[0], state.tags, state.start_time)
        dropped = set(effects.dequeue)
        for kind, task_list, member in dropped.difference(effects.enqueue):
            tx.remove_task(dk, kind, task_list, member)
        for task_list, held_run in effects.hold:
            tx.hold_decision_task(dk, task_list, held_run)
        for task_list, held_run in effects.unhold:
            tx.release_decision_task(dk, task_list, held_run)
        by_list: dict[tuple[str, str], dict[str, None]] = {}
        for kind, task_list, member in effects.enqueue:
            if (kind, task_list, member) in dropped:
                continue  # scheduled and withdrawn in one transition
            by_list.setdefault((kind, task_list), {})[member] = None
        for (kind, task_list), members in by_list.items():  # a fan-out is 3 commands per list
            tx.add_tasks(dk, kind, task_list, list(members))
        if effects.closed:
            assert state.close_status is not None and state.close_time is not None
            effects.deadlines_remove.update(run_deadlines(state))
            tx.index_closed_run(dk, rid, state.workflow_id, state.close_status, state.start_time, state.close_time)
            retention = self.retention_days(dk.domain)
            effects.deadlines_add[deadline("purge", rid)] = state.close_time + retention * 86400
            effects.deadlines_add.update(closing_deadlines(state))  # outbox: the parent, the child policy
        if effects.deadlines_remove:
            for member in effects.deadlines_remove.intersection(effects.deadlines_add):
                del effects.deadlines_add[member]  # set and withdrawn in one transition
            tx.remove_deadlines(dk, effects.deadlines_remove)
        pending: _Pending | None = getattr(self._local, "pending", None)
        if pending is not None and pending.notes is not None and run.events and self.wants(TransitionCommitted):
            pending.notes.append(TransitionCommitted(dk.domain, rid, run.workflow_id, tuple(run.events)))
        if effects.deadlines_add:
            tx.add_deadlines(dk, effects.deadlines_add)
            if pending is not None:
                pending.deadline = min(pending.deadline, *effects.deadlines_add.values())
        if pending is not None and any(kind == "l" for kind, _, _ in effects.enqueue):
            pending.lambdas = True

    def retention_days(self, domain: str) -> float:
        """A domain's retention never changes (SWF has no UpdateDomain): read it once, and again
        after a reset (which may have deleted it and let it be registered anew)."""
        cached = self.domain_cache.current()
        days = cached.retention.get(domain) if cached is not None else None
        if days is None:
            record = self.store.domain_record(domain)
            retention = record["retention"] if record else "0"
            days = 0.0 if retention == "NONE" else float(retention)
            if cached is not None:
                cached.retention[domain] = days
        return days

    def transition(
        self,
        dk: DomainKeys,
        run_id: str,
        change: Callable[[Run, Tx], T],
        also_read: tuple[Read, ...] = (),
    ) -> T:
        """Load a run under WATCH, apply ``change`` (which may raise a fault), write it atomically.

        A run whose state this process wrote last is not read: ``store.run_cache``
        has it (and the ``also_read`` events and type records it keeps), and the
        transaction is guarded (``Tx.guard``), so it costs one round trip instead of two.
        ``also_read`` reads (``store.read_*``) go in the same round trip as the
        run's state; their replies are in ``tx.prefetched`` for ``change``.
        """

        def body(tx: Tx) -> T:
            raw = tx.cached_run
            if raw is None:
                raw, *tx.prefetched = tx.read_many(read_run(dk, run_id), *also_read)
                tx.remember(also_read, tx.prefetched)
            if raw is None:
                raise UnknownResourceFault(f"Unknown execution: runId={run_id}")
            run = load_run(raw, self.clock.now())
            result = change(run, tx)
            if not tx.explicit_transaction:
                tx.multi()
            if not run.effects.written:
                self.write_run(tx, dk, run)
            return result

        # Threads of this process take turns on a run (striped locks): a transaction
        # another thread here would make fail is not even started. WATCH still
        # guards against every other process.
        key = dk.run(run_id)
        with self._run_locks[hash(run_id) % len(self._run_locks)]:
            return self.commit([key], body, cached=key, cached_reads=also_read)

    def commit(
        self, watch: list[str], body: Callable[[Tx], T], *, cached: str | None = None, cached_reads: tuple[Read, ...] = ()
    ) -> T:
        """``store.transaction``, then wake whoever must act on what it added.

        A new deadline wakes this process's timekeeper directly, or, without
        one, a timekeeper of another process through the Redis wake list; a
        Lambda task wakes the Lambda runners. The wake-ups are sent after the
        EXEC (never inside it: the lists are global keys, and a transaction
        stays within its domain's slot).
        """
        pending = _Pending()
        self._local.pending = pending
        observed = bool(self.observers or self._observers_of)
        if observed:

            def attempt(tx: Tx) -> T:
                pending.notes = []  # a retried attempt starts over
                return body(tx)

        try:
            result = self.store.transaction(watch, attempt if observed else body, cached=cached, cached_reads=cached_reads)
        finally:
            self._local.pending = None
        if pending.notes:
            for event in pending.notes:
                self.publish(event)
        if pending.deadline < math.inf:
            if self.timekeeper_notify is not None:
                self.timekeeper_notify(pending.deadline)
            else:
                self.store.wake_timekeepers()
        if pending.lambdas:
            if self.lambda_notify is not None:
                self.lambda_notify()
            self.store.wake_lambda_runners()
        return result

    def page(self, items: list[Any], p: dict[str, Any], query: tuple[Any, ...]) -> tuple[list[Any], str | None]:
        size = page_size(p)
        digest = query_digest(*query)
        now = self.now()
        offset, _ = read_token(p.get("nextPageToken"), digest, now)
        page = items[offset : offset + size]
        more = offset + size < len(items)
        return page, (make_token(offset + size, digest, now) if more else None)

    def page_plan(
        self, dk: DomainKeys, run_id: str, first: int, last: int, p: dict[str, Any], query: tuple[Any, ...]
    ) -> tuple[tuple[int, int] | None, bool, str | None]:
        """The list indexes of one page of events ``first..last`` (``store.history_range``), its order,
        and the next page's token."""
        size = page_size(p)
        digest = query_digest(*query)
        now = self.now()
        offset, _ = read_token(p.get("nextPageToken"), digest, now)
        total = max(0, last - first + 1)
        if offset >= total:
            return None, False, None
        count = min(size, total - offset)
        reverse = bool(p.get("reverseOrder"))
        lo = last - offset - count + 1 if reverse else first + offset
        more = offset + count < total
        token = make_token(offset + count, digest, now) if more else None
        return (lo - 1, lo + count - 2), reverse, token

    def history_page(
        self, dk: DomainKeys, run_id: str, first: int, last: int, p: dict[str, Any], query: tuple[Any, ...]
    ) -> tuple[EventPage, str | None]:
        """Events ``first..last`` (ids), one page; reads only the page (LRANGE by index)."""
        read, reverse, token = self.page_plan(dk, run_id, first, last, p, query)
        return EventPage(self.store.history_range(dk, run_id, *read) if read else [], reverse), token
