"""The Redis store: the only module of flowser's backends that imports redis.

Atomicity: every state change to an execution is one optimistic transaction
(``WATCH`` the run's state key, read, compute the transition in Python,
``MULTI`` … ``EXEC``), retried on ``WatchError``. Claiming a task from a task
list is a small Lua script (``claim.lua``) that pops the best member and
records a lease in the domain's in-flight set; the claimer then starts the
task in the run's own transaction, which also drops the lease. A claimer that
dies in between leaves the lease, which the next claim on that domain gives
back to its task list once it has ended: no task is lost, and the run's state
decides whether a claimed member is still a task, so none is delivered twice.

Everything else of the engine reads and writes through named methods of
``RedisStore`` (outside transactions: one round trip each, a pipeline where
several commands go together) and of ``Tx`` (inside one), with keys from
``keys``. ``StoreError`` and ``StoreUnavailable`` are the errors a caller may
catch. Reads a transaction makes are built by the ``read_*`` functions, so
that several go in one round trip (``Tx.read_many``).

On a Redis Cluster (``redis+cluster://`` URLs, or a node's ``redis://`` URL)
the store is a ``ClusterStore``: the same interface, every command sent to
the master of its key's slot (docs/scaling.md).
"""

from __future__ import annotations

import functools
import importlib.resources
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, TypeVar

import msgpack
import redis

from .faults import InternalFailure, SWFFault
from .keys import (
    DOMAINS,
    LAMBDA_WAKE,
    TIMEKEEPER_WAKE,
    DomainKeys,
    inflight_member,
    parse_task_list_key,
    type_field,
    type_field_prefix,
)

StoreError = redis.RedisError
"""Any failure of the store (a reply error, a lost connection)."""
StoreUnavailable = redis.ConnectionError
"""The store cannot be reached: the engine answers InternalFailure."""

Read = tuple[Any, ...]
"""One read of a transaction (``Tx.read_many``), built by a ``read_*`` function."""

_pack_command: Any
try:
    from hiredis import pack_command as _pack_command
except ImportError:  # redis-py's pure-Python packer then
    _pack_command = None

T = TypeVar("T")

MAX_ATTEMPTS = 200
MAX_CONNECTIONS = 20_000
WAKE_TOKENS_KEPT = 100
"""Tokens a global wake list keeps (timekeepers, Lambda runners): one is enough to wake a waiter."""
TASK_WAKE_TOKENS_KEPT = 1000
"""Tokens a task list's wake list keeps: enough for the pollers that may wait on it."""
STREAM_STOP_EXPIRY = 60
"""Seconds the entry ending a blocked stream read lives (nobody may be left to read it)."""


def _script_text(name: str) -> str:
    """A Lua script of this package without its comment lines (what EVAL sends on every call)."""
    text = importlib.resources.files(__package__).joinpath(name).read_text()
    return "\n".join(line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("--"))


_STREAM_SCRIPT = _script_text("stream.lua")
"""Sent with EVAL, never EVALSHA: inside MULTI a NOSCRIPT error would drop the entries and keep the rest."""

_GUARD_SCRIPT = _script_text("guard.lua")
"""Sent with EVAL, never EVALSHA: a NOSCRIPT error would leave the transaction unguarded."""

RUN_CACHE_SIZE = 2048
"""Run states a store keeps (``RunCache``): the runs this process changed last (and as many events
and type records). A poll's response comes milliseconds after it: the runs in flight are enough."""
RUN_CACHE_LARGEST = 64 << 10
"""A state or event larger than this (bytes) is not kept: at most about 2048 x 64 KiB for each kind,
a few MB for ordinary runs; a run that large pays the read it would save many times over anyway."""

StreamRaw = tuple[int, bytes, bytes]
"""One entry of a domain's event stream as read: (seq, run header, stored event); see ``stream.lua``."""


_forks = [0]
"""Forks of this process so far: a thread's connection belongs to the process that took it
(counted at fork rather than asking ``os.getpid()``, a system call, on every command)."""


def _forked() -> None:
    _forks[0] += 1


os.register_at_fork(after_in_child=_forked)


def pack(value: Any) -> bytes:
    return msgpack.packb(value, use_bin_type=True)


def unpack(data: Any) -> Any:
    return msgpack.unpackb(data, raw=False, strict_map_key=False)


class RunCache:
    """The state of each run as this process last wrote it, for the runs it changed last, and the
    events it wrote that a later transition reads again.

    A transition on a run found here skips the round trip that reads the
    state under WATCH: its writes go in one round trip with the WATCH and
    ``guard.lua``, which ends the transaction without effect if the state in
    Redis is not this one (another process, or a retention purge, changed it);
    the transition then runs again on the state read from Redis. A
    poller's response usually follows its poll on the same server process,
    so the state its poll wrote is here.

    The events kept are those an activity task's poll reads with the run's
    state (its ``ActivityTaskScheduled``): a history never changes once
    written, so they need no guard. The type records a decision task's
    response reads with it (``HMGET`` of the domain's types, for its
    ``ScheduleActivityTask`` decisions) can change: the guard compares them
    too (``remember``, then ``reads``).
    """

    EVENT_TYPES = (b"ActivityTaskScheduled|",)
    """Events kept (their type, then the stored form's separator): what a transition reads again
    (``also_read``) with the run's state."""

    def __init__(self, size: int = RUN_CACHE_SIZE) -> None:
        self.size = size
        self._states: dict[str, bytes] = {}
        self._events: dict[Read, bytes] = {}
        self._records: dict[Read, tuple[bytes | None, ...]] = {}

    def get(self, key: str) -> bytes | None:
        return self._states.get(key)

    def put(self, key: str, state: bytes) -> None:
        if len(state) <= RUN_CACHE_LARGEST:
            self._put(self._states, key, state)
        else:
            self._states.pop(key, None)

    def drop(self, key: str) -> None:
        self._states.pop(key, None)

    def put_events(self, history_key: str, stored: list[bytes]) -> None:
        """Keep the events of ``EVENT_TYPES`` among ``stored`` (as ``events.dump_event`` made them)."""
        for entry in stored:
            bar = entry.find(b"|")  # "<id>|<type>|...": look at the type without copying the rest
            if len(entry) <= RUN_CACHE_LARGEST and any(entry.startswith(kept, bar + 1) for kept in self.EVENT_TYPES):
                self._put(self._events, ("LINDEX", history_key, int(entry[:bar]) - 1), entry)

    def remember(self, reads: tuple[Read, ...], replies: list[Any]) -> None:
        """Keep the replies of the type records' reads among ``reads`` (read from Redis just now)."""
        for read, reply in zip(reads, replies, strict=True):
            if read[0] == "HMGET":
                self._put(self._records, read, tuple(reply))

    def reads(self, reads: tuple[Read, ...]) -> tuple[list[Any], list[tuple[Read, Any]]] | None:
        """The replies of ``reads`` if each is a kept event or record, else None; and the record
        reads with their kept replies, which the transaction's guard checks."""
        replies: list[Any] = []
        checks: list[tuple[Read, Any]] = []
        for read in reads:
            if read[0] == "HMGET":
                record = self._records.get(read)
                if record is None:
                    return None
                replies.append(list(record))
                checks.append((read, record))
                continue
            reply = self._events.get(read)
            if reply is None:
                return None
            replies.append(reply)
        return replies, checks

    def _put(self, entries: dict[Any, Any], key: Any, value: Any) -> None:
        # No lock (a lock held by another thread when a process forks would stay held in the child):
        # each dict operation is atomic, and an eviction that meets another thread's change is left
        # to the next put.
        entries.pop(key, None)
        entries[key] = value
        while len(entries) > self.size:
            try:
                del entries[next(iter(entries))]
            except (StopIteration, KeyError, RuntimeError):
                break

    def __len__(self) -> int:
        return len(self._states)


class RedisStore:
    """A Redis connection pool, with the engine's reads and writes by name, its transactions and its claims."""

    cluster = False
    """Whether the store is a Redis Cluster (``ClusterStore``)."""

    def __init__(self, client: redis.Redis, *, owner: Any = None, check_version: bool = True) -> None:
        self.redis = client
        self._r: Any = client  # redis-py's own annotations are too loose to help here
        self.closed = False
        self._owner = owner  # keeps an embedded server's lease alive as long as the store
        script = importlib.resources.files(__package__).joinpath("claim.lua").read_text()
        self._claim = client.register_script(script)
        self._thread = threading.local()
        self._wait: tuple[int, int] | None = None
        self.run_cache: RunCache | None = RunCache()
        """Run states this process wrote last (None: every transition reads the state from Redis)."""
        if check_version:
            self.check_version()

    opened_here = False
    """``around`` opened this store's connections itself (a plain client to a cluster's node): close it."""

    @classmethod
    def around(cls, client: Any) -> RedisStore:
        """A store over a redis-py client someone else opened (and closes): ``flowser reset``, tests.

        A ``RedisCluster`` client makes a ``ClusterStore``; so does a plain client to one of a
        cluster's nodes (asked with ``INFO server``), through a cluster client of its own
        (``opened_here``: the caller closes the store), so that a wipe reaches every master."""
        if isinstance(client, RedisStore):
            return client
        if isinstance(client, redis.cluster.RedisCluster):
            return ClusterStore(client, check_version=False)
        if isinstance(client, redis.Redis) and client.info("server").get("redis_mode") == "cluster":
            kwargs = client.connection_pool.connection_kwargs
            store = ClusterStore.from_cluster_url(
                f"redis+cluster://{kwargs.get('host')}:{kwargs.get('port')}", check_version=False, like=kwargs
            )
            store.opened_here = True
            return store
        return cls(client, check_version=False)

    @classmethod
    def from_url(
        cls, url: str, *, owner: Any = None, connect_timeout: float | None = None, check_version: bool = True
    ) -> RedisStore:
        """A store on the Redis at ``url``; ``connect_timeout`` bounds reaching it (tools: one line, not a hang).

        ``redis+cluster://host:port[,host:port...]`` (``rediss+cluster://`` with TLS) is a Redis
        Cluster, reached through any of the nodes listed; a ``redis://`` URL of a cluster's node
        is recognised too (``INFO server`` says ``redis_mode:cluster``, read with the version check,
        or on its own without one).
        """
        if url.startswith(CLUSTER_SCHEMES):
            return ClusterStore.from_cluster_url(url, owner=owner, connect_timeout=connect_timeout,
                                                 check_version=check_version)
        # every held long poll blocks one connection: no small pool cap (redis-py's default is 100)
        client = redis.Redis.from_url(
            url,
            socket_timeout=None,
            socket_connect_timeout=connect_timeout,
            health_check_interval=0,
            max_connections=MAX_CONNECTIONS,
            **_client_name(),
        )
        store = cls(client, owner=owner, check_version=check_version)
        if not check_version and url.startswith(("redis://", "rediss://")):  # tools: still a cluster's node?
            store.mode = str(client.info("server").get("redis_mode", "standalone"))
        if store.mode == "cluster":  # a node of a cluster: the cluster, reached through it
            kwargs = client.connection_pool.connection_kwargs
            store.close_connections()
            seed = f"{'rediss' if url.startswith('rediss') else 'redis'}+cluster://{kwargs.get('host')}:{kwargs.get('port')}"
            return ClusterStore.from_cluster_url(seed, owner=owner, connect_timeout=connect_timeout,
                                                 check_version=check_version, like=kwargs)
        return store

    mode = "standalone"
    """``INFO server``'s ``redis_mode`` as the version check read it (``cluster``: a cluster's node)."""

    def check_version(self) -> None:
        info = self.redis.info("server")
        version = str(info.get("redis_version", "0"))
        major, minor = (int(p) for p in version.split(".")[:2])
        if (major, minor) < (6, 2):
            raise RuntimeError(f"flowser needs Redis >= 6.2, found {version}")
        self.mode = str(info.get("redis_mode", "standalone"))

    def replicas_ack(self, count: int, timeout: float) -> None:
        """Make every transaction wait, after its EXEC, until ``count`` replicas have it (``WAIT``, in
        the same round trip), at most ``timeout`` seconds; fewer by then: ``InternalFailure``. 0: no wait."""
        self._wait = (count, max(int(timeout * 1000), 1)) if count > 0 else None

    def transaction(
        self,
        watch: Iterable[str],
        body: Callable[[Tx], T],
        *,
        cached: str | None = None,
        cached_reads: tuple[Read, ...] = (),
    ) -> T:
        """Run ``body`` as one optimistic transaction over the watched keys.

        ``body`` reads through the ``Tx`` (immediately), then calls
        ``tx.multi()`` and queues its writes; they are executed atomically,
        or the whole body runs again if a watched key changed meanwhile.

        ``cached``: a watched run's state key. If ``run_cache`` holds its state
        (and the replies of ``cached_reads``: events and records it keeps), the first
        attempt gets it in ``tx.cached_run`` (and them in ``tx.prefetched``)
        instead of reading it, and is guarded (``Tx.guard``); a fault it
        raises, or a state found changed, makes the body run again on the
        state read from Redis.
        """
        keys = list(watch)
        cache = self.run_cache
        state = cache.get(cached) if cache is not None and cached is not None else None
        prefetched: list[Any] = []
        checks: list[tuple[Read, Any]] = []
        if state is not None and cached_reads:
            assert cache is not None
            kept = cache.reads(cached_reads)
            if kept is None:
                state = None
            else:
                prefetched, checks = kept
        for attempt in range(MAX_ATTEMPTS):
            tx = Tx(self.redis, self._connection(), self._wait, cache)
            try:
                if state is not None:
                    assert cached is not None and cache is not None
                    tx.guard(cached, state, checks)
                    tx.prefetched = prefetched
                    if len(keys) > 1:
                        tx.watch(*(k for k in keys if k != cached))
                    try:
                        result = body(tx)
                    except SWFFault:
                        cache.drop(cached)  # worked out from a state that may be old: ask Redis
                        state = None
                        continue
                else:
                    if keys:
                        tx.watch(*keys)
                    result = body(tx)
                tx.finish()
                return result
            except redis.WatchError:
                if state is not None:
                    assert cached is not None and cache is not None
                    cache.drop(cached)
                    state = None
                    continue
                if attempt > 8:
                    time.sleep(min(0.001 * attempt, 0.02))
                continue
            finally:
                tx.release()
        raise InternalFailure("too much contention on one execution; nothing was changed")

    def _connection(self) -> Any:
        """This thread's connection for transactions, claims and poll waits, taken from the pool once
        and kept (by this process: a forked child takes its own, and leaves its parent's socket alone)."""
        local = self._thread
        conn = getattr(local, "conn", None)
        if conn is None or local.forks != _forks[0]:
            conn = local.conn = self.redis.connection_pool.get_connection()
            local.forks = _forks[0]
        return conn

    def _call(self, *command: Any, script: Any = None) -> Any:
        """One command on this thread's own connection (claims and poll waits: the hot path).

        It skips the pool (a lock and a pid check per call) and redis-py's
        per-command layers. ``script``: the command is an EVALSHA of it, loaded
        again if Redis no longer has it (a restart, SCRIPT FLUSH).
        """
        conn = self._connection()
        try:
            conn.send_packed_command(_pack(conn, [command]), check_health=False)
            return conn.read_response(disable_decoding=True)
        except redis.exceptions.NoScriptError:
            if script is None:
                raise
            self._r.script_load(script.script)
            return self._call(*command)
        except redis.ResponseError:
            raise
        except BaseException:
            conn.disconnect()
            raise

    def claim(
        self, task_list_key: str, inflight_key: str, wake_key: str, now: float, lease: float, *, woken: bool = False
    ) -> tuple[str | None, float | None]:
        """Claim the best task of a list: (member, None), or (None, earliest lease end in the domain).

        ``woken``: the claimer just took a wake token; otherwise a claimed task
        takes its own token away (see ``claim.lua``).
        """
        member, lease_end = self._call(
            "EVALSHA", self._claim.sha, 3, task_list_key, inflight_key, wake_key, repr(now), repr(lease),
            "0" if woken else "1", script=self._claim,
        )
        if member:
            return (member.decode() if isinstance(member, bytes) else str(member)), None
        return None, (float(lease_end) if lease_end else None)

    # -- domains and types ----------------------------------------------------
    def domain_record(self, name: str) -> dict[str, Any] | None:
        raw = self._r.hget(DOMAINS, name)
        return None if raw is None else dict(unpack(raw))

    def domain_records(self) -> list[dict[str, Any]]:
        return [unpack(v) for v in self._r.hvals(DOMAINS)]

    def domain_names(self) -> list[str]:
        return [d.decode() for d in self._r.hkeys(DOMAINS)]

    def domain_count(self) -> int:
        return int(self._r.hlen(DOMAINS))

    def type_record(self, dk: DomainKeys, kind: str, name: str, version: str) -> dict[str, Any] | None:
        raw = self._r.hget(dk.types, type_field(kind, name, version))
        return None if raw is None else dict(unpack(raw))

    def type_records(self, dk: DomainKeys, kind: str, versions: list[tuple[str, str]]) -> list[dict[str, Any] | None]:
        """The records of the types ``(name, version)`` of ``kind``, in that order (None: unknown)."""
        raws = self._r.hmget(dk.types, [type_field(kind, n, v) for n, v in versions])
        return [unpack(raw) if raw is not None else None for raw in raws]

    def type_records_under(self, dk: DomainKeys, field_prefix: str) -> list[dict[str, Any]]:
        """Every type record of the domain whose field starts with ``field_prefix`` (``keys.type_field_prefix``)."""
        return [unpack(v) for k, v in self._r.hgetall(dk.types).items() if k.decode().startswith(field_prefix)]

    # -- runs and their history --------------------------------------------------------
    def run_state(self, dk: DomainKeys, run_id: str) -> dict[str, Any] | None:
        """The run's state (``run.Run`` reads it); None for no such run."""
        raw = self._r.get(dk.run(run_id))
        return None if raw is None else unpack(raw)

    def run_states(self, dk: DomainKeys, run_ids: list[str]) -> list[dict[str, Any]]:
        """The states of the runs that still exist among ``run_ids`` (one round trip)."""
        if not run_ids:
            return []
        return [unpack(raw) for raw in self._r.mget([dk.run(i) for i in run_ids]) if raw is not None]

    def open_run_id(self, dk: DomainKeys, workflow_id: str) -> str | None:
        raw = self._r.get(dk.workflow_id(workflow_id))
        return None if raw is None else str(raw.decode())

    def open_count(self, dk: DomainKeys) -> int:
        return int(self._r.zcard(dk.open))

    def open_counts(self, domains: list[str]) -> list[int]:
        """Open executions of each domain (one round trip)."""
        with self._r.pipeline(transaction=False) as pipe:
            for domain in domains:
                pipe.zcard(DomainKeys(domain).open)
            return [int(n) for n in pipe.execute()]

    def run_ids_between(self, index_key: str, lo: float, hi: float) -> list[str]:
        """The runIds of a visibility index (``DomainKeys.open``, ``by_tag``...) scored within [lo, hi]."""
        return [m.decode() for m in self._r.zrangebyscore(index_key, lo, hi)]

    def run_ids(self, index_key: str) -> list[str]:
        """Every runId of a visibility index."""
        return [m.decode() for m in self._r.zrange(index_key, 0, -1)]

    def history_range(self, dk: DomainKeys, run_id: str, first: int, last: int) -> list[bytes]:
        """Stored events by list index (eventId - 1), ``first`` to ``last`` included."""
        return list(self._r.lrange(dk.history(run_id), first, last))

    def history_events(self, wanted: list[tuple[str, str, int]]) -> list[bytes | None]:
        """The stored events ``(domain, runId, eventId)``, in one round trip (None: purged)."""
        with self._r.pipeline(transaction=False) as pipe:
            for domain, run_id, event_id in wanted:
                pipe.lindex(DomainKeys(domain).history(run_id), event_id - 1)
            return list(pipe.execute())

    # -- deadlines -----------------------------------------------------------
    def earliest_deadline(self, domains: list[str]) -> float | None:
        """The earliest deadline of any of ``domains`` (one round trip)."""
        if not domains:
            return None
        with self._r.pipeline(transaction=False) as pipe:
            for name in domains:
                pipe.zrange(DomainKeys(name).deadlines, 0, 0, withscores=True)
            found = [rows[0][1] for rows in pipe.execute() if rows]
        return min(found) if found else None

    def due_deadlines(self, dk: DomainKeys, now: float, limit: int) -> list[str]:
        """Deadline members due at or before ``now``, earliest first, at most ``limit``."""
        return [m.decode() for m in self._r.zrangebyscore(dk.deadlines, "-inf", now, start=0, num=limit)]

    # -- task lists ----------------------------------------------------------
    def task_list_counts(self, dk: DomainKeys, kind: str, name: str) -> tuple[int, list[bytes], int]:
        """(dispatchable tasks, the domain's in-flight members, held decision tasks) of one list."""
        with self._r.pipeline(transaction=False) as pipe:
            pipe.zcard(dk.task_list(kind, name))
            pipe.zrange(dk.inflight, 0, -1)
            if kind == "d":
                pipe.scard(dk.held(name))
            replies = pipe.execute()
        return int(replies[0]), list(replies[1]), (int(replies[2]) if kind == "d" else 0)

    def task_lists(self, dk: DomainKeys, kinds: tuple[str, ...], limit: int) -> set[tuple[str, str]]:
        """(kind, name) of the task lists of the domain that exist now (with a task, token or hold), at most ``limit``."""
        found: set[tuple[str, str]] = set()
        for raw in self._r.scan_iter(match=dk.task_lists_pattern, count=1000):
            parsed = parse_task_list_key(dk, raw.decode("utf-8", "replace"))
            if parsed is not None and parsed[0] in kinds:
                found.add(parsed)
                if len(found) >= limit:
                    break
        return found

    def task_lists_counts(
        self, dk: DomainKeys, lists: list[tuple[str, str]]
    ) -> tuple[list[bytes], list[tuple[int, int]]]:
        """The domain's in-flight members, and (dispatchable, held) of each list, in one round trip."""
        with self._r.pipeline(transaction=False) as pipe:
            pipe.zrange(dk.inflight, 0, -1)
            for kind, name in lists:
                pipe.zcard(dk.task_list(kind, name))
                if kind == "d":
                    pipe.scard(dk.held(name))
            replies = pipe.execute()
        counts = iter(replies[1:])
        return list(replies[0]), [(int(next(counts)), int(next(counts)) if kind == "d" else 0) for kind, _ in lists]

    def drop_claim(self, dk: DomainKeys, kind: str, task_list: str, member: str) -> None:
        """``Tx.drop_claim`` outside a transaction (for a run that is gone)."""
        tl_key = dk.task_list(kind, task_list)
        with self._r.pipeline(transaction=False) as pipe:
            pipe.zrem(dk.inflight, inflight_member(tl_key, member))
            pipe.zrem(tl_key, member)
            pipe.execute()

    def give_back_claim(self, dk: DomainKeys, kind: str, task_list: str, member: str) -> None:
        """End a claim's lease now (the next claim on the domain puts it back) and wake a poller for it."""
        with self._r.pipeline(transaction=False) as pipe:
            pipe.zadd(dk.inflight, {inflight_member(dk.task_list(kind, task_list), member): 0}, xx=True)
            pipe.rpush(dk.wake(kind, task_list), 1)
            pipe.execute()

    # -- wake-ups ------------------------------------------------------------
    def wait_for_wake(self, keys: list[str], timeout: float) -> str | None:
        """Take a token from the first of the wake ``keys`` that has one, waiting up to ``timeout``
        seconds (Redis reads under ~1 ms as 0, which is forever); the key it came from, or None."""
        popped = self._call("BLPOP", *keys, timeout)
        return None if popped is None else str(popped[0].decode())

    def push_wake(self, key: str) -> None:
        """One token on a wake key."""
        self._r.rpush(key, 1)

    def push_wakes(self, counts: Mapping[str, int], *, expire: int) -> None:
        """``count`` tokens on each wake key, which then expires in ``expire`` seconds (one round trip)."""
        with self._r.pipeline(transaction=False) as pipe:
            for key, count in counts.items():
                pipe.rpush(key, *([1] * count))
                pipe.expire(key, expire)
            pipe.execute()

    def drop_wakes(self, key: str) -> None:
        """Delete a wake key and the tokens nobody took."""
        self._r.delete(key)

    def wake_timekeepers(self) -> None:
        """A deadline was added: wake the timekeepers of every process (the list keeps the last few tokens)."""
        self._push_global_wake(TIMEKEEPER_WAKE)

    def wake_lambda_runners(self) -> None:
        """A Lambda task was scheduled: wake the Lambda runners of every process."""
        self._push_global_wake(LAMBDA_WAKE)

    def _push_global_wake(self, key: str) -> None:
        with self._r.pipeline(transaction=False) as pipe:
            pipe.rpush(key, 1)
            pipe.ltrim(key, -WAKE_TOKENS_KEPT, -1)
            pipe.execute()

    # -- the domain's event stream (stream.lua writes it, inside transactions) ----------
    def stream_last(self, dk: DomainKeys) -> int:
        """The number of the domain's last stream entry (0: none yet)."""
        return int(self._r.get(dk.stream_seq) or 0)

    def stream_after(self, dk: DomainKeys, after: int, count: int) -> tuple[list[StreamRaw], int]:
        """At most ``count`` entries of the domain's stream numbered above ``after``, and the number
        of its last entry now (0: none yet), in one round trip on this thread's connection."""
        entries, last = self._call_many(
            ("XREAD", "COUNT", count, "STREAMS", dk.stream, f"{after}-0"),
            ("GET", dk.stream_seq),
        )
        return _stream_entries(entries, dk.stream), int(last or 0)

    def wait_stream(
        self, dk: DomainKeys, after: int, count: int, timeout: float, stop_key: str
    ) -> tuple[list[StreamRaw], bool]:
        """Block up to ``timeout`` seconds (at least 1 ms) for entries of the domain's stream numbered
        above ``after``: (entries, whether an entry on ``stop_key`` ended the wait)."""
        reply = self._call(
            "XREAD", "COUNT", count, "BLOCK", max(int(timeout * 1000), 1),
            "STREAMS", dk.stream, stop_key, f"{after}-0", "0-0",
        )
        stopped = bool(_stream_entries(reply, stop_key))
        return _stream_entries(reply, dk.stream), stopped

    def stop_stream_waits(self, stop_keys: Iterable[str]) -> None:
        """End the blocked stream reads waiting on these stop keys (``wait_stream``), at once or
        as soon as they start; the keys expire in ``STREAM_STOP_EXPIRY`` seconds."""
        with self._r.pipeline(transaction=False) as pipe:
            for key in stop_keys:
                pipe.xadd(key, {"stop": 1})
                pipe.expire(key, STREAM_STOP_EXPIRY)
            pipe.execute()

    def _call_many(self, *commands: tuple[Any, ...]) -> list[Any]:
        """Several commands in one round trip on this thread's own connection (``_call``)."""
        replies = _exchange(self._connection(), list(commands))
        _raise_errors(replies)
        return replies

    # -- Pub/Sub, wiping, health ----------------------------------------------
    def database(self) -> int:
        """The number of the Redis database the store uses."""
        return int(self._r.connection_pool.connection_kwargs.get("db") or 0)

    def subscribe(self, channel: str) -> Subscription:
        """A subscription to ``channel`` on a connection of its own (close it)."""
        pubsub = self._r.pubsub()
        try:
            pubsub.subscribe(channel)
        except BaseException:
            pubsub.close()
            raise
        return Subscription(pubsub)

    def publish(self, channel: str, message: str | bytes) -> int:
        """Publish; how many subscribers got it."""
        return int(self._r.publish(channel, message))

    def keys_matching(self, pattern: str) -> Iterator[bytes]:
        """Every key matching a SCAN pattern (``keys``), in batches."""
        yield from self._r.scan_iter(match=pattern, count=1000)

    def unlink(self, keys: list[bytes]) -> int:
        """Delete ``keys`` (freed in the background); how many existed."""
        return int(self._r.unlink(*keys))

    def ping(self) -> None:
        """Raise ``StoreError`` unless the store answers."""
        self._r.ping()

    def reserve_connections(self, count: int) -> None:
        """Let the pool open at least ``count`` connections (each held long poll blocks one)."""
        pool = self._r.connection_pool
        pool.max_connections = max(pool.max_connections, count)

    def close_connections(self) -> None:
        self.redis.close()
        self.redis.connection_pool.disconnect()

    def close(self) -> None:
        self.closed = True
        self.close_connections()
        owner, self._owner = self._owner, None
        if owner is not None:
            owner.close()


class Subscription:
    """A Pub/Sub subscription (``RedisStore.subscribe``): messages as ``(kind, data)``, kind
    ``"subscribe"`` (confirmed) or ``"message"``."""

    def __init__(self, pubsub: Any) -> None:
        self._pubsub = pubsub

    def next(self, timeout: float) -> tuple[str, Any] | None:
        """The next message within ``timeout`` seconds, or None."""
        message = self._pubsub.get_message(timeout=timeout)
        return None if message is None else (str(message["type"]), message["data"])

    def __iter__(self) -> Iterator[tuple[str, Any]]:
        """Every message, as it comes (blocks)."""
        for message in self._pubsub.listen():
            yield str(message["type"]), message["data"]

    def close(self) -> None:
        self._pubsub.close()


# -- the reads of a transaction (Tx.read_many), by what they read -------------------
def read_run(dk: DomainKeys, run_id: str) -> Read:
    """The run's packed state, or None."""
    return ("GET", dk.run(run_id))


def read_event(dk: DomainKeys, run_id: str, event_id: int) -> Read:
    """One stored event of the run, or None."""
    return ("LINDEX", dk.history(run_id), event_id - 1)


def read_last_event(dk: DomainKeys, run_id: str) -> Read:
    """The run's last stored event, or None."""
    return ("LINDEX", dk.history(run_id), -1)


def read_domain(name: str) -> Read:
    """A domain's packed record, or None."""
    return ("HGET", DOMAINS, name)


def read_type(dk: DomainKeys, kind: str, name: str, version: str) -> Read:
    """A type's packed record, or None."""
    return ("HGET", dk.types, type_field(kind, name, version))


def read_types(dk: DomainKeys, kind: str, versions: list[tuple[str, str]]) -> Read:
    """Packed records (or None) of the types ``(name, version)``, in that order."""
    return ("HMGET", dk.types, *(type_field(kind, n, v) for n, v in versions))


def read_open_run_id(dk: DomainKeys, workflow_id: str) -> Read:
    """The runId (bytes) of the workflowId's open run, or None."""
    return ("GET", dk.workflow_id(workflow_id))


def read_workflow_id_open(dk: DomainKeys, workflow_id: str) -> Read:
    """Whether the workflowId has an open run (1 or 0)."""
    return ("EXISTS", dk.workflow_id(workflow_id))


def read_open_count(dk: DomainKeys) -> Read:
    """How many runs of the domain are open."""
    return ("ZCARD", dk.open)


def read_deadline(dk: DomainKeys, member: str) -> Read:
    """The time of a deadline member (a float), or None."""
    return ("ZSCORE", dk.deadlines, member)


class Tx:
    """One WATCH/MULTI/EXEC transaction on one connection, with few round trips.

    WATCH is sent together with the first read that follows it, reads made
    together go in one round trip (``read_many`` of ``read_*`` builders), and
    the writes, queued after ``multi()`` by the named methods below, go with
    MULTI and EXEC in one more. ``queue_history_range`` adds a read inside
    MULTI, whose reply (the state after the writes) is in ``results`` after
    ``finish``. The reads return what redis-py would (ints, bytes, None, a
    dict for HGETALL, a float for ZSCORE). The Redis commands themselves
    (``_set``, ``_zadd``...) are private: callers say what they write.
    """

    __slots__ = (
        "_cache",
        "_client",
        "_conn",
        "_dirty",
        "_guard",
        "_pending_watch",
        "_queued_reads",
        "_stream",
        "_wait",
        "_writes",
        "_written_events",
        "_written_runs",
        "cached_run",
        "explicit_transaction",
        "prefetched",
        "results",
    )

    def __init__(
        self, client: redis.Redis, conn: Any, wait: tuple[int, int] | None = None, cache: RunCache | None = None
    ) -> None:
        self._client = client
        self._cache = cache  # the states this transaction writes go there once EXEC made them
        self._written_runs: dict[str, bytes] = {}
        self._written_events: list[tuple[str, list[bytes]]] = []
        self._guard: tuple[Any, ...] | None = None  # guard.lua's EVAL, sent with the WATCH
        self.cached_run: bytes | None = None
        """The watched run's state as ``RunCache`` holds it, in place of reading it (``guard``)."""
        self._conn: Any = conn
        self._wait = wait  # (replicas, milliseconds): WAIT after EXEC (RedisStore.replicas_ack)
        self._pending_watch: list[str] = []
        self._writes: list[tuple[Any, ...]] = []
        self._queued_reads: list[int] = []
        self._stream: list[Any] | None = None  # EVAL arguments of stream.lua, sent last in MULTI
        self._dirty = False  # WATCH sent and not yet ended by EXEC
        self.explicit_transaction = False
        self.results: list[Any] = []
        self.prefetched: list[Any] = []

    # -- plumbing ------------------------------------------------------------
    def _connection(self) -> Any:
        return self._conn

    def _roundtrip(self, commands: list[tuple[Any, ...]]) -> list[Any]:
        replies = _exchange(self._connection(), commands)
        _raise_errors(replies)
        return replies

    def release(self) -> None:
        """End a WATCH that no EXEC ended; the connection stays with its thread."""
        if not self._dirty:
            return
        conn = self._conn
        self._dirty = False
        try:
            conn.send_packed_command(conn.pack_command("UNWATCH"), check_health=False)
            conn.read_response()
        except BaseException:
            conn.disconnect()

    # -- reads ---------------------------------------------------------------
    def watch(self, *keys: str) -> None:
        self._pending_watch.extend(keys)

    def guard(self, key: str, state: bytes, checks: list[tuple[Read, Any]] | None = None) -> None:
        """Watch run state ``key``, taking ``state`` (from ``RunCache``) as read: ``guard.lua`` goes
        with the WATCH, in the same round trip, and makes EXEC fail unless Redis holds ``state``
        (and each ``HMGET`` of ``checks`` would answer its kept reply)."""
        self._pending_watch.append(key)
        keys: list[str] = [key]
        args: list[Any] = [state]
        for (_, hash_key, *fields), reply in checks or ():
            keys.append(hash_key)
            args.extend((len(fields), *fields, *(b"" if value is None else value for value in reply)))
        self._guard = ("EVAL", _GUARD_SCRIPT, len(keys), *keys, *args)
        self.cached_run = state

    def _watch_commands(self) -> list[tuple[Any, ...]]:
        """The pending WATCH (and guard) for the next round trip: none if nothing is pending."""
        if not self._pending_watch:
            return []
        batch: list[tuple[Any, ...]] = [("WATCH", *self._pending_watch)]
        self._pending_watch = []
        self._dirty = True
        if self._guard is not None:
            batch.append(self._guard)
        return batch

    def _check_guard(self, replies: list[Any]) -> None:
        """After the round trip of ``_watch_commands``: a guard that found another state (or record)
        dooms the transaction (its WATCH is marked), so it stops here."""
        if self._guard is not None:
            self._guard = None
            if replies[1] != 1:
                raise redis.WatchError("what the cache held is not what Redis holds")

    def watch_run(self, dk: DomainKeys, run_id: str) -> None:
        """Make the transaction fail if the run's state changes before EXEC (sent with the next read)."""
        self.watch(dk.run(run_id))

    def watch_workflow_id(self, dk: DomainKeys, workflow_id: str) -> None:
        """Make the transaction fail if the workflowId's open run changes before EXEC."""
        self.watch(dk.workflow_id(workflow_id))

    def read_many(self, *commands: Read) -> list[Any]:
        """Several reads (and pending WATCHes) in one round trip."""
        batch = self._watch_commands()
        skip = len(batch)
        batch.extend(commands)
        replies = self._roundtrip(batch)
        if skip:
            self._check_guard(replies)
        return [_convert(cmd[0], reply) for cmd, reply in zip(commands, replies[skip:], strict=True)]

    def read(self, read: Read) -> Any:
        """One read (a ``read_*`` function's) in its own round trip."""
        return self.read_many(read)[0]

    def _read(self, *command: Any) -> Any:
        return self.read_many(tuple(command))[0]

    def _hget(self, key: str, field: str) -> Any:
        return self._read("HGET", key, field)

    def _hexists(self, key: str, field: str) -> bool:
        return bool(self._read("HEXISTS", key, field))

    def _hlen(self, key: str) -> int:
        return int(self._read("HLEN", key))

    def _hkeys(self, key: str) -> list[bytes]:
        return list(self._read("HKEYS", key))

    def _hgetall(self, key: str) -> dict[bytes, bytes]:
        return self._read("HGETALL", key)

    # -- reads by meaning (registration) ----------------------------------------------
    def domain_exists(self, name: str) -> bool:
        return self._hexists(DOMAINS, name)

    def domain_count(self) -> int:
        return self._hlen(DOMAINS)

    def domain_record(self, name: str) -> dict[str, Any] | None:
        raw = self._hget(DOMAINS, name)
        return None if raw is None else dict(unpack(raw))

    def type_exists(self, dk: DomainKeys, kind: str, name: str, version: str) -> bool:
        return self._hexists(dk.types, type_field(kind, name, version))

    def type_count(self, dk: DomainKeys, kind: str) -> int:
        """Types of ``kind`` in the domain, whatever their status."""
        prefix = type_field_prefix(kind).encode()
        return sum(1 for field in self._hkeys(dk.types) if field.startswith(prefix))

    def type_record(self, dk: DomainKeys, kind: str, name: str, version: str) -> dict[str, Any] | None:
        raw = self._hget(dk.types, type_field(kind, name, version))
        return None if raw is None else dict(unpack(raw))

    def type_records(self, dk: DomainKeys) -> dict[bytes, dict[str, Any]]:
        """Every type record of the domain, by its field (``put_types`` takes them back)."""
        return {field: unpack(raw) for field, raw in self._hgetall(dk.types).items()}

    # -- writes by meaning (registration) ---------------------------------------------
    def put_domain(self, record: dict[str, Any]) -> None:
        self._hset(DOMAINS, record["name"], pack(record))

    def put_type(self, dk: DomainKeys, kind: str, record: dict[str, Any]) -> None:
        self._hset(dk.types, type_field(kind, record["name"], record["version"]), pack(record))

    def put_types(self, dk: DomainKeys, records: dict[bytes, dict[str, Any]]) -> None:
        """Type records by field, as ``type_records`` read them."""
        self._hset(dk.types, mapping={field: pack(record) for field, record in records.items()})

    def remove_type(self, dk: DomainKeys, kind: str, name: str, version: str) -> None:
        self._hdel(dk.types, type_field(kind, name, version))

    # -- writes by meaning (runs, task lists, deadlines) ----------------------------------
    def remember(self, reads: tuple[Read, ...], replies: list[Any]) -> None:
        """Let the store's ``RunCache`` keep the replies of ``reads`` just made in this transaction."""
        if self._cache is not None and reads:
            self._cache.remember(reads, replies)

    def put_run(self, dk: DomainKeys, run_id: str, state: Any) -> None:
        key, packed = dk.run(run_id), pack(state)
        self._set(key, packed)
        if self._cache is not None:
            self._written_runs[key] = packed

    def append_events(self, dk: DomainKeys, run_id: str, stored: list[Any]) -> None:
        """Events as ``events.dump_event`` stores them, after the run's last."""
        key = dk.history(run_id)
        self._rpush(key, *stored)
        if self._cache is not None:
            self._written_events.append((key, stored))

    def stream_events(self, dk: DomainKeys, bound: int, header: str, stored: list[Any]) -> None:
        """The same events (``append_events``) on the domain's event stream, which keeps about
        ``bound`` entries; ``header`` is ``"<runId>|<workflowId>|<type name>|<type version>"``.

        Every run's events of the transaction go in one EVAL of ``stream.lua``,
        queued last in MULTI: the entries are written with the events or not at all.
        """
        if not self.explicit_transaction:
            raise RuntimeError("writes go after multi()")
        if self._stream is None:
            self._stream = ["EVAL", _STREAM_SCRIPT, 2, dk.stream, dk.stream_seq, bound, 0]
        elif self._stream[3] != dk.stream:
            raise RuntimeError("a transaction writes the events of one domain only")
        self._stream[6] += len(stored)
        self._stream.extend((header, len(stored), *stored))

    def index_open_run(
        self, dk: DomainKeys, run_id: str, workflow_id: str, type_name: str, tags: list[str], start: float
    ) -> None:
        """A new run: the workflowId's open run, and the visibility indexes by start time."""
        self._set(dk.workflow_id(workflow_id), run_id)
        self._zadd(dk.open, {run_id: start})
        self._zadd(dk.by_workflow_id(workflow_id), {run_id: start})
        self._zadd(dk.by_type(type_name), {run_id: start})
        for tag_value in tags:
            self._zadd(dk.by_tag(tag_value), {run_id: start})

    def index_closed_run(
        self, dk: DomainKeys, run_id: str, workflow_id: str, close_status: str, start: float, close: float
    ) -> None:
        """A run closed: no longer the workflowId's open run; from the open index to the closed ones."""
        self._delete(dk.workflow_id(workflow_id))
        self._zrem(dk.open, run_id)
        self._zadd(dk.closed, {run_id: start})
        self._zadd(dk.closed_by_close, {run_id: close})
        self._zadd(dk.by_close_status(close_status), {run_id: start})

    def purge_run(
        self, dk: DomainKeys, run_id: str, workflow_id: str, type_name: str, tags: list[str], close_status: str | None
    ) -> None:
        """A closed run past its retention vanishes with its history and index entries."""
        self._delete(dk.run(run_id), dk.history(run_id))
        self._zrem(dk.closed, run_id)
        self._zrem(dk.closed_by_close, run_id)
        self._zrem(dk.by_workflow_id(workflow_id), run_id)
        self._zrem(dk.by_type(type_name), run_id)
        for tag_value in tags:
            self._zrem(dk.by_tag(tag_value), run_id)
        if close_status:
            self._zrem(dk.by_close_status(close_status), run_id)

    def add_tasks(self, dk: DomainKeys, kind: str, task_list: str, members: list[str]) -> None:
        """Make tasks dispatchable, with a wake token each for the polls waiting on the list."""
        self._zadd(dk.task_list(kind, task_list), dict.fromkeys(members, 0))
        wake = dk.wake(kind, task_list)
        self._rpush(wake, *([1] * len(members)))
        self._ltrim(wake, -TASK_WAKE_TOKENS_KEPT, -1)

    def remove_task(self, dk: DomainKeys, kind: str, task_list: str, member: str) -> None:
        """A task withdrawn before any poller claimed it."""
        self._zrem(dk.task_list(kind, task_list), member)

    def hold_decision_task(self, dk: DomainKeys, task_list: str, run_id: str) -> None:
        """The run's scheduled decision task waits behind its started one (still pending)."""
        self._sadd(dk.held(task_list), run_id)

    def release_decision_task(self, dk: DomainKeys, task_list: str, run_id: str) -> None:
        self._srem(dk.held(task_list), run_id)

    def add_deadlines(self, dk: DomainKeys, due: Mapping[str, float]) -> None:
        """Deadline members (``run.deadline``) by due time; a member already there moves."""
        self._zadd(dk.deadlines, dict(due))

    def remove_deadlines(self, dk: DomainKeys, members: Iterable[str]) -> None:
        self._zrem(dk.deadlines, *members)

    def queue_history_range(self, dk: DomainKeys, run_id: str, first: int, last: int) -> int:
        """``RedisStore.history_range`` read inside MULTI, after the writes queued so far; its index in ``results``."""
        return self._queue_read("LRANGE", dk.history(run_id), first, last)

    def drop_claim(self, dk: DomainKeys, kind: str, task_list: str, member: str) -> None:
        """The claim is over: drop its lease, and the member itself in case an ended lease
        had already put it back on its list (a claimer slower than its lease)."""
        tl_key = dk.task_list(kind, task_list)
        self._zrem(dk.inflight, inflight_member(tl_key, member))
        self._zrem(tl_key, member)

    # -- MULTI, and the commands queued in it -------------------------------------------
    def multi(self) -> None:
        self.explicit_transaction = True

    def _write(self, *command: Any) -> None:
        if not self.explicit_transaction:
            raise RuntimeError("writes go after multi()")
        self._writes.append(command)

    def _queue_read(self, *command: Any) -> int:
        """A read executed inside MULTI, after the writes queued so far; its index in ``results``."""
        self._write(*command)
        self._queued_reads.append(len(self._writes) - 1)
        return len(self._queued_reads) - 1

    def _set(self, key: str, value: Any) -> None:
        self._write("SET", key, value)

    def _delete(self, *keys: str) -> None:
        self._write("DEL", *keys)

    def _rpush(self, key: str, *values: Any) -> None:
        self._write("RPUSH", key, *values)

    def _ltrim(self, key: str, start: int, end: int) -> None:
        self._write("LTRIM", key, start, end)

    def _zadd(self, key: str, mapping: dict[str, float]) -> None:
        args: list[Any] = []
        for member, score in mapping.items():
            args.extend((repr(float(score)), member))
        self._write("ZADD", key, *args)

    def _zrem(self, key: str, *members: str) -> None:
        self._write("ZREM", key, *members)

    def _sadd(self, key: str, *members: str) -> None:
        self._write("SADD", key, *members)

    def _srem(self, key: str, *members: str) -> None:
        self._write("SREM", key, *members)

    def _hset(self, key: str, field: str | None = None, value: Any = None, mapping: dict[Any, Any] | None = None) -> None:
        args: list[Any] = []
        if field is not None:
            args.extend((field, value))
        for k, v in (mapping or {}).items():
            args.extend((k, v))
        self._write("HSET", key, *args)

    def _hdel(self, key: str, *fields: str) -> None:
        self._write("HDEL", key, *fields)

    def finish(self) -> None:
        """EXEC the queued writes, or just end the WATCH if there were none."""
        if self._stream is not None:
            self._writes.append(tuple(self._stream))
            self._stream = None
        if not self.explicit_transaction or not self._writes:
            if self._guard is not None:
                self.read_many()  # nothing to write, but what was worked out from the cached state must hold
            return
        batch = self._watch_commands()
        guarded = self._guard is not None
        batch.append(("MULTI",))
        batch.extend(self._writes)
        batch.append(("EXEC",))
        if self._wait is not None:
            batch.append(("WAIT", *self._wait))
        replies = _exchange(self._connection(), batch)
        self._dirty = False
        acked: Any = replies.pop() if self._wait is not None else None
        executed = replies[-1]
        if executed is None:
            raise redis.WatchError("watched key changed")
        _raise_errors(replies[:-1])
        if guarded and replies[1] != 1:  # never: a guard that fails marks the WATCH
            raise InternalFailure("a transaction's guard failed and its EXEC ran")
        self._guard = None
        for reply in executed:
            if isinstance(reply, redis.ResponseError):
                raise reply
        if self._cache is not None:
            for key, state in self._written_runs.items():
                self._cache.put(key, state)
            for key, stored in self._written_events:
                self._cache.put_events(key, stored)
        if self._wait is not None and int(acked) < self._wait[0]:
            raise InternalFailure(
                f"the change was made, but {int(acked)} of the {self._wait[0]} replicas it needs confirmed it within "
                f"{self._wait[1] / 1000:g} s: it may be lost if its primary fails now"
            )
        self.results = [executed[i] for i in self._queued_reads]


@functools.lru_cache(maxsize=1)
def _client_name() -> dict[str, Any]:
    """How connections name themselves to Redis (CLIENT SETINFO), worked out once.

    Left to itself, redis-py (8.x) reads its own version from the installed
    package's metadata for every new connection: about 0.5 ms of CPU each,
    paid 1,000 times by 1,000 held polls. Older redis-py has no ``driver_info``.
    """
    driver_info = getattr(redis, "driver_info", None)
    if driver_info is None:
        return {}
    return {"driver_info": driver_info.DriverInfo(name="flowser", lib_version=redis.__version__)}


def _exchange(conn: Any, commands: list[tuple[Any, ...]]) -> list[Any]:
    """``commands`` sent in one write and their replies read (undecoded; a reply error is returned, not
    raised). A failure drops the connection: replies of the batch may be left unread on it."""
    try:
        conn.send_packed_command(_pack(conn, commands), check_health=False)
        return [conn.read_response(disable_decoding=True) for _ in commands]
    except BaseException:
        conn.disconnect()
        raise


def _raise_errors(replies: Iterable[Any]) -> None:
    for reply in replies:
        if isinstance(reply, redis.ResponseError):
            raise reply


def _pack(conn: Any, commands: list[tuple[Any, ...]]) -> list[bytes]:
    """RESP for a batch of commands: hiredis's C packer when there is one (redis-py's
    own Python wrapper around it costs more than the packing)."""
    if _pack_command is not None:
        return [b"".join([_pack_command(command) for command in commands])]
    return list(conn.pack_commands(commands))


def _stream_entries(reply: Any, key: str) -> list[StreamRaw]:
    """The entries of stream ``key`` in an XREAD reply (RESP2 list or RESP3 map; None: nothing)."""
    if not reply:
        return []
    wanted = key.encode()
    streams = reply.items() if isinstance(reply, dict) else reply
    for name, rows in streams:
        if name != wanted:
            continue
        out: list[StreamRaw] = []
        for entry_id, fields in rows:
            values = dict(zip(fields[::2], fields[1::2], strict=True))
            out.append((int(entry_id.partition(b"-")[0]), values.get(b"r", b""), values.get(b"e", b"")))
        return out
    return []


def _convert(command: str, reply: Any) -> Any:
    if command == "ZSCORE":
        return None if reply is None else float(reply)
    if command == "HGETALL" and not isinstance(reply, dict):
        return dict(zip(reply[::2], reply[1::2], strict=True))
    return reply


# -- Redis Cluster ---------------------------------------------------------------------
CLUSTER_SCHEMES = ("redis+cluster://", "rediss+cluster://")
"""URL schemes of a Redis Cluster (``RedisStore.from_url``)."""
CLUSTER_WAIT = 30.0
"""Seconds a command waits out a cluster that is failing over (CLUSTERDOWN, a master gone) before it fails."""
_REROUTED = (
    redis.exceptions.MovedError,
    redis.exceptions.AskError,
    redis.exceptions.TryAgainError,
    redis.exceptions.ClusterDownError,
    redis.exceptions.ReadOnlyError,
    redis.exceptions.MasterDownError,
)
"""Replies of a node that did not run the command: the slot lives elsewhere now, or the cluster is
failing over. The command is sent again once the slot map is read afresh."""
_UNREACHABLE = (redis.ConnectionError, redis.TimeoutError)


def _command_key(command: tuple[Any, ...]) -> Any:
    """The key that routes a command (all of a command's keys share its slot)."""
    name = str(command[0]).upper()
    if name in ("EVAL", "EVALSHA"):
        return command[3] if int(command[2]) else None
    if name == "XREAD":
        return command[[str(part).upper() for part in command].index("STREAMS") + 1]
    if name in ("MULTI", "EXEC", "UNWATCH", "ECHO", "PING"):
        return None
    return command[1]


_key_slot = redis.crc.key_slot  # loaded by `import redis` (redis.cluster uses it)


def _slot(key: Any) -> int:
    return int(_key_slot(key if isinstance(key, bytes) else str(key).encode()))


class ClusterStore(RedisStore):
    """The store on a Redis Cluster: every command goes to the master of its key's slot.

    Every key of a domain carries the domain's hash tag, so a transaction, a
    claim, a poll's wait and a stream read each touch one slot, on one master.
    This thread's connections are one per node (``_node_connection``), the hot
    path of ``RedisStore`` unchanged but for the routing; everything else
    goes through redis-py's ``RedisCluster`` (its pipelines split by node, its
    SCAN visits every master). A reply that the slot moved (MOVED, ASK) or
    that the cluster is failing over (CLUSTERDOWN, TRYAGAIN, a master that is
    gone) makes the store read the slot map again and send the command again,
    for up to ``CLUSTER_WAIT`` seconds; the same for a transaction, from its
    start, unless the connection was lost after its EXEC was sent (its outcome
    is then unknown: ``StoreUnavailable``, as on one Redis). docs/scaling.md
    has the design of the global keys.
    """

    cluster = True
    mode = "cluster"

    def __init__(self, client: Any, *, owner: Any = None, check_version: bool = True) -> None:
        self._refresh_lock = threading.Lock()
        self._slot_map_read = 0.0
        super().__init__(client, owner=owner, check_version=check_version)
        self.mode = "cluster"
        self.run_cache = None  # a transaction's node is bound by its first round trip (ClusterTx)

    @classmethod
    def from_cluster_url(
        cls,
        url: str,
        *,
        owner: Any = None,
        connect_timeout: float | None = None,
        check_version: bool = True,
        like: Mapping[str, Any] | None = None,
    ) -> ClusterStore:
        """A store on the cluster of ``redis+cluster://[user:password@]host:port[,host:port...]``."""
        from urllib.parse import parse_qsl, unquote

        ClusterNode, RedisCluster = redis.cluster.ClusterNode, redis.cluster.RedisCluster

        scheme, _, rest = url.partition("://")
        netloc, _, query = rest.partition("?")
        netloc, _, path = netloc.partition("/")
        if path.strip("/") not in ("", "0") or dict(parse_qsl(query)).get("db", "0") != "0":
            raise ValueError("a Redis Cluster has database 0 only")
        userinfo, _, hosts = netloc.rpartition("@")
        username, _, password = userinfo.partition(":")
        nodes = []
        for host_port in hosts.split(","):
            host, _, port = host_port.strip().rpartition(":")
            if not host or not port.isdigit():
                raise ValueError(f"a cluster node is host:port, not {host_port!r}")
            nodes.append(ClusterNode(host.strip("[]"), int(port)))
        kwargs: dict[str, Any] = {}
        if like:
            kwargs.update({k: like[k] for k in ("username", "password") if like.get(k)})
        if username:
            kwargs["username"] = unquote(username)
        if password:
            kwargs["password"] = unquote(password)
        if scheme.startswith("rediss"):
            kwargs["ssl"] = True
        try:
            client = RedisCluster(
                startup_nodes=nodes,
                socket_timeout=None,
                socket_connect_timeout=connect_timeout if connect_timeout is not None else 5,
                health_check_interval=0,
                max_connections=MAX_CONNECTIONS,
                **kwargs,
                **_client_name(),
            )
        except redis.exceptions.RedisClusterException as exc:  # no node reachable: not a RedisError
            raise StoreUnavailable(str(exc)) from exc
        return cls(client, owner=owner, check_version=check_version)

    # -- routing ---------------------------------------------------------------
    def _node_connection(self, key: Any) -> Any:
        """This thread's connection to the master of ``key``'s slot (one per node, kept)."""
        node = self._r.nodes_manager.get_node_from_slot(_slot(key))
        local = self._thread
        conns = getattr(local, "conns", None)
        if conns is None or local.forks != _forks[0]:
            conns = local.conns = {}
            local.forks = _forks[0]
        conn = conns.get(node.name)
        if conn is None:
            conn = conns[node.name] = self._r.get_redis_connection(node).connection_pool.get_connection()
        return conn

    def _connection(self) -> Any:
        raise RuntimeError("on a cluster a connection is a node's: _node_connection(key)")

    def rerouted(self, error: BaseException, started: float) -> None:
        """A command met ``error`` (see ``_REROUTED``, ``_UNREACHABLE``): read the slot map again and
        wait a little (more as time passes), or give up after ``CLUSTER_WAIT`` seconds."""
        waited = time.monotonic() - started
        if waited > CLUSTER_WAIT:
            raise StoreUnavailable(f"the Redis Cluster did not recover in {CLUSTER_WAIT:.0f} s: {error}") from error
        if not isinstance(error, redis.exceptions.MovedError):
            time.sleep(min(0.05 + waited / 10, 0.5))
        self.refresh_slots()

    def refresh_slots(self) -> None:
        """Read the slot map again (at most every 50 ms, whichever thread asks)."""
        with self._refresh_lock:
            if time.monotonic() - self._slot_map_read < 0.05:
                return
            try:
                self._r.nodes_manager.initialize()
            except redis.RedisError:
                pass  # no node answered yet: the next attempt reads it again
            self._slot_map_read = time.monotonic()

    def _call(self, *command: Any, script: Any = None) -> Any:
        started = time.monotonic()
        while True:
            conn = self._node_connection(_command_key(command))
            try:
                conn.send_packed_command(_pack(conn, [command]), check_health=False)
                return conn.read_response(disable_decoding=True)
            except redis.exceptions.NoScriptError:
                if script is None:
                    raise
                conn.send_command("SCRIPT", "LOAD", script.script)
                conn.read_response()
            except _REROUTED as error:
                self.rerouted(error, started)
            except redis.ResponseError:
                raise
            except _UNREACHABLE as error:
                conn.disconnect()
                self.rerouted(error, started)
            except BaseException:
                conn.disconnect()
                raise

    def _call_many(self, *commands: tuple[Any, ...]) -> list[Any]:
        started = time.monotonic()
        key = next(k for k in map(_command_key, commands) if k is not None)
        while True:
            conn = self._node_connection(key)
            try:
                replies = _exchange(conn, list(commands))  # a failure has dropped the connection
            except (*_REROUTED, *_UNREACHABLE) as error:
                self.rerouted(error, started)
                continue
            _raise_errors(replies)
            return replies

    def transaction(
        self,
        watch: Iterable[str],
        body: Callable[[Tx], T],
        *,
        cached: str | None = None,
        cached_reads: tuple[Read, ...] = (),
    ) -> T:
        keys = list(watch)
        started = time.monotonic()
        attempt = 0
        while attempt < MAX_ATTEMPTS:
            tx = ClusterTx(self, keys[0] if keys else None, self._wait)
            try:
                if keys:
                    tx.watch(*keys)
                result = body(tx)
                tx.finish()
                return result
            except redis.WatchError:
                attempt += 1
                if attempt > 8:
                    time.sleep(min(0.001 * attempt, 0.02))
            except _REROUTED as error:
                tx.discard()
                self.rerouted(error, started)
            except _UNREACHABLE as error:
                if tx.exec_sent:
                    raise  # EXEC may have run: as on one Redis, the caller is told the store failed
                tx.discard()
                self.rerouted(error, started)
            finally:
                tx.release()
        raise InternalFailure("too much contention on one execution; nothing was changed")

    # -- what differs on a cluster ---------------------------------------------------
    def database(self) -> int:
        return 0

    def publish(self, channel: str, message: str | bytes) -> int:
        """Publish; how many subscribers the cluster has on ``channel`` (Redis Cluster's PUBLISH
        reaches every node's subscribers but counts only its own node's: the count is the sum of
        ``PUBSUB NUMSUB`` over the nodes, read just before)."""
        subscribers = 0
        for node in self._r.get_nodes():
            try:
                reply = self._r.get_redis_connection(node).pubsub_numsub(channel)
            except redis.RedisError:
                continue  # a node that is gone has no subscriber left
            subscribers += sum(int(count) for _, count in reply)
        self._r.publish(channel, message)
        return subscribers

    def reserve_connections(self, count: int) -> None:
        for node in self._r.get_nodes():
            pool = self._r.get_redis_connection(node).connection_pool
            pool.max_connections = max(pool.max_connections, count)

    def close_connections(self) -> None:
        self.redis.close()


class ClusterTx(Tx):
    """``Tx`` on a cluster: on the master of the slot of its first watched key (the run's domain).

    A read of another slot (the domain registry, when starting an execution;
    a domain's types, when deprecating it) goes to its own master, outside the
    WATCH, as it is unwatched on one Redis too. Writes to another slot (a
    deprecated domain's types) go in a MULTI/EXEC of their own on their
    master, just after the transaction's own EXEC: on a cluster they are not
    atomic with it (docs/scaling.md).
    """

    __slots__ = ("_store", "_tx_slot", "exec_sent")

    def __init__(self, store: ClusterStore, key: str | None, wait: tuple[int, int] | None = None) -> None:
        super().__init__(store.redis, None, wait)
        self._store = store
        self._tx_slot: int | None = None
        self.exec_sent = False
        if key is not None:
            self._bind(key)

    def _bind(self, key: Any) -> None:
        self._tx_slot = _slot(key)
        self._conn = self._store._node_connection(key)

    def _connection(self) -> Any:
        if self._conn is None:
            raise RuntimeError("a cluster transaction is bound to a slot by its first key")
        return self._conn

    def _roundtrip(self, commands: list[tuple[Any, ...]]) -> list[Any]:
        if self._tx_slot is None:
            self._bind(next(k for k in map(_command_key, commands) if k is not None))
        own = [i for i, c in enumerate(commands) if (k := _command_key(c)) is None or _slot(k) == self._tx_slot]
        if len(own) == len(commands):
            return super()._roundtrip(commands)
        replies: list[Any] = [None] * len(commands)
        if own:
            for i, reply in zip(own, super()._roundtrip([commands[i] for i in own]), strict=True):
                replies[i] = reply
        for i, command in enumerate(commands):
            if i not in own:
                replies[i] = self._store._call(*command)
        return replies

    def discard(self) -> None:
        """Forget this attempt's connection state (its connection was dropped or told MOVED)."""
        self._dirty = False
        if self._conn is not None:
            self._conn.disconnect()

    def finish(self) -> None:
        if self._stream is not None:
            self._writes.append(tuple(self._stream))
            self._stream = None
        if self._tx_slot is None and self._writes:
            self._bind(next(k for k in map(_command_key, self._writes) if k is not None))
        elsewhere: dict[int, list[tuple[Any, ...]]] = {}
        kept: list[tuple[Any, ...]] = []
        moved_index: dict[int, int] = {}
        for i, command in enumerate(self._writes):
            key = _command_key(command)
            slot = self._tx_slot if key is None else _slot(key)
            if slot == self._tx_slot:
                moved_index[i] = len(kept)
                kept.append(command)
            else:
                elsewhere.setdefault(slot, []).append(command)  # type: ignore[arg-type]
        if elsewhere:
            self._writes = kept
            self._queued_reads = [moved_index[i] for i in self._queued_reads]
        self.exec_sent = True
        super().finish()
        self.exec_sent = False
        for commands in elsewhere.values():
            self._store._call_many(("MULTI",), *commands, ("EXEC",))
