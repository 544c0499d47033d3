"""The Redis store: the only module of the engine that talks to Redis directly.

Atomicity: every state change to an execution is one optimistic transaction
(``WATCH`` the run's state key, read, compute the transition in Python,
``MULTI`` … ``EXEC``), retried on ``WatchError``. Claiming a task from a task
list is a small Lua script (``claim.lua``) that pops the best member and
records a lease in the domain's in-flight set; the claimer then starts the
task in the run's own transaction, which also drops the lease. A claimer that
dies in between leaves the lease, which the next claim on that domain gives
back to its task list once it has ended: no task is lost, and the run's state
decides whether a claimed member is still a task, so none is delivered twice.
"""

from __future__ import annotations

import importlib.resources
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import msgpack
import redis

from .faults import InternalFailure

_pack_command: Any
try:
    from hiredis import pack_command as _pack_command
except ImportError:  # redis-py's pure-Python packer then
    _pack_command = None

T = TypeVar("T")

MAX_ATTEMPTS = 200
MAX_CONNECTIONS = 20_000


def pack(value: Any) -> bytes:
    return msgpack.packb(value, use_bin_type=True)


def unpack(data: Any) -> Any:
    return msgpack.unpackb(data, raw=False, strict_map_key=False)


class RedisStore:
    """A Redis connection pool plus the engine's transaction and claim primitives."""

    def __init__(self, client: redis.Redis, *, owner: Any = None) -> None:
        self.redis = client
        self.closed = False
        self._owner = owner  # keeps an embedded server's lease alive as long as the store
        script = importlib.resources.files(__package__).joinpath("claim.lua").read_text()
        self._claim = client.register_script(script)
        self._thread = threading.local()
        self.check_version()

    @classmethod
    def from_url(cls, url: str, *, owner: Any = None) -> RedisStore:
        # every held long poll blocks one connection: no small pool cap (redis-py's default is 100)
        client = redis.Redis.from_url(url, socket_timeout=None, health_check_interval=0, max_connections=MAX_CONNECTIONS)
        return cls(client, owner=owner)

    def check_version(self) -> None:
        version = str(self.redis.info("server").get("redis_version", "0"))
        major, minor = (int(p) for p in version.split(".")[:2])
        if (major, minor) < (6, 2):
            raise RuntimeError(f"flowser needs Redis >= 6.2, found {version}")

    def transaction(self, watch: Iterable[str], body: Callable[[Tx], T]) -> T:
        """Run ``body`` as one optimistic transaction over the watched keys.

        ``body`` reads through the ``Tx`` (immediately), then calls
        ``tx.multi()`` and queues its writes; they are executed atomically,
        or the whole body runs again if a watched key changed meanwhile.
        """
        keys = list(watch)
        for attempt in range(MAX_ATTEMPTS):
            tx = Tx(self.redis, self._connection())
            try:
                if keys:
                    tx.watch(*keys)
                result = body(tx)
                tx.finish()
                return result
            except redis.WatchError:
                if attempt > 8:
                    time.sleep(min(0.001 * attempt, 0.02))
                continue
            finally:
                tx.release()
        raise InternalFailure("too much contention on one execution; nothing was changed")

    def _connection(self) -> Any:
        """This thread's connection for transactions, taken from the pool once and kept."""
        conn = getattr(self._thread, "conn", None)
        if conn is None:
            conn = self._thread.conn = self.redis.connection_pool.get_connection()
        return conn

    def claim(
        self, task_list_key: str, inflight_key: str, wake_key: str, now: float, lease: float, *, woken: bool = False
    ) -> tuple[str | None, float | None]:
        """Claim the best task of a list: (member, None), or (None, earliest lease end in the domain).

        ``woken``: the claimer just took a wake token; otherwise a claimed task
        takes its own token away (see ``claim.lua``).
        """
        member, lease_end = self._claim(
            keys=[task_list_key, inflight_key, wake_key], args=[repr(now), repr(lease), "0" if woken else "1"]
        )
        if member:
            return (member.decode() if isinstance(member, bytes) else str(member)), None
        return None, (float(lease_end) if lease_end else None)

    def close(self) -> None:
        self.closed = True
        self.redis.close()
        self.redis.connection_pool.disconnect()
        owner, self._owner = self._owner, None
        if owner is not None:
            owner.close()


class Tx:
    """One WATCH/MULTI/EXEC transaction on one connection, with few round trips.

    WATCH is sent together with the first read that follows it, reads made
    together go in one round trip (``read_many``), and the writes go with
    MULTI and EXEC in one more. ``queue_read`` adds a read inside MULTI, whose
    reply (the state after the writes) is in ``results`` after ``finish``.
    The reads return what redis-py would (ints, bytes, None, a dict for
    HGETALL, a float for ZSCORE).
    """

    __slots__ = (
        "_client",
        "_conn",
        "_dirty",
        "_pending_watch",
        "_queued_reads",
        "_writes",
        "explicit_transaction",
        "prefetched",
        "results",
    )

    def __init__(self, client: redis.Redis, conn: Any) -> None:
        self._client = client
        self._conn: Any = conn
        self._pending_watch: list[str] = []
        self._writes: list[tuple[Any, ...]] = []
        self._queued_reads: list[int] = []
        self._dirty = False  # WATCH sent and not yet ended by EXEC
        self.explicit_transaction = False
        self.results: list[Any] = []
        self.prefetched: list[Any] = []

    # -- plumbing ------------------------------------------------------------
    def _connection(self) -> Any:
        return self._conn

    def _roundtrip(self, commands: list[tuple[Any, ...]]) -> list[Any]:
        conn = self._connection()
        try:
            conn.send_packed_command(_pack(conn, commands), check_health=False)
            replies = [conn.read_response(disable_decoding=True) for _ in commands]
        except BaseException:
            conn.disconnect()
            raise
        for reply in replies:
            if isinstance(reply, redis.ResponseError):
                raise reply
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

    def read_many(self, *commands: tuple[Any, ...]) -> list[Any]:
        """Several reads (and pending WATCHes) in one round trip."""
        batch: list[tuple[Any, ...]] = []
        if self._pending_watch:
            batch.append(("WATCH", *self._pending_watch))
            self._pending_watch = []
            self._dirty = True
        skip = len(batch)
        batch.extend(commands)
        replies = self._roundtrip(batch)[skip:]
        return [_convert(cmd[0], reply) for cmd, reply in zip(commands, replies, strict=True)]

    def _read(self, *command: Any) -> Any:
        return self.read_many(tuple(command))[0]

    def get(self, key: str) -> Any:
        return self._read("GET", key)

    def exists(self, key: str) -> int:
        return int(self._read("EXISTS", key))

    def zcard(self, key: str) -> int:
        return int(self._read("ZCARD", key))

    def zscore(self, key: str, member: str) -> float | None:
        return self._read("ZSCORE", key, member)

    def lindex(self, key: str, index: int) -> Any:
        return self._read("LINDEX", key, index)

    def hget(self, key: str, field: str) -> Any:
        return self._read("HGET", key, field)

    def hexists(self, key: str, field: str) -> bool:
        return bool(self._read("HEXISTS", key, field))

    def hlen(self, key: str) -> int:
        return int(self._read("HLEN", key))

    def hkeys(self, key: str) -> list[bytes]:
        return list(self._read("HKEYS", key))

    def hgetall(self, key: str) -> dict[bytes, bytes]:
        return self._read("HGETALL", key)

    # -- writes --------------------------------------------------------------
    def multi(self) -> None:
        self.explicit_transaction = True

    def _write(self, *command: Any) -> None:
        if not self.explicit_transaction:
            raise RuntimeError("writes go after multi()")
        self._writes.append(command)

    def queue_read(self, *command: Any) -> int:
        """A read executed inside MULTI, after the writes queued so far; its index in ``results``."""
        self._write(*command)
        self._queued_reads.append(len(self._writes) - 1)
        return len(self._queued_reads) - 1

    def set(self, key: str, value: Any) -> None:
        self._write("SET", key, value)

    def delete(self, *keys: str) -> None:
        self._write("DEL", *keys)

    def rpush(self, key: str, *values: Any) -> None:
        self._write("RPUSH", key, *values)

    def ltrim(self, key: str, start: int, end: int) -> None:
        self._write("LTRIM", key, start, end)

    def zadd(self, key: str, mapping: dict[str, float]) -> None:
        args: list[Any] = []
        for member, score in mapping.items():
            args.extend((repr(float(score)), member))
        self._write("ZADD", key, *args)

    def zrem(self, key: str, *members: str) -> None:
        self._write("ZREM", key, *members)

    def sadd(self, key: str, *members: str) -> None:
        self._write("SADD", key, *members)

    def srem(self, key: str, *members: str) -> None:
        self._write("SREM", key, *members)

    def hset(self, key: str, field: str | None = None, value: Any = None, mapping: dict[Any, Any] | None = None) -> None:
        args: list[Any] = []
        if field is not None:
            args.extend((field, value))
        for k, v in (mapping or {}).items():
            args.extend((k, v))
        self._write("HSET", key, *args)

    def hdel(self, key: str, *fields: str) -> None:
        self._write("HDEL", key, *fields)

    def expire(self, key: str, seconds: int) -> None:
        self._write("EXPIRE", key, seconds)

    def finish(self) -> None:
        """EXEC the queued writes, or just end the WATCH if there were none."""
        if not self.explicit_transaction or not self._writes:
            return
        batch: list[tuple[Any, ...]] = []
        if self._pending_watch:
            batch.append(("WATCH", *self._pending_watch))
            self._pending_watch = []
        batch.append(("MULTI",))
        batch.extend(self._writes)
        batch.append(("EXEC",))
        conn = self._connection()
        try:
            conn.send_packed_command(_pack(conn, batch), check_health=False)
            replies = [conn.read_response(disable_decoding=True) for _ in batch]
        except BaseException:
            conn.disconnect()
            raise
        self._dirty = False
        executed = replies[-1]
        if executed is None:
            raise redis.WatchError("watched key changed")
        for reply in replies[:-1]:
            if isinstance(reply, redis.ResponseError):
                raise reply
        for reply in executed:
            if isinstance(reply, redis.ResponseError):
                raise reply
        self.results = [executed[i] for i in self._queued_reads]


def _pack(conn: Any, commands: list[tuple[Any, ...]]) -> list[bytes]:
    """RESP for a batch of commands: hiredis's C packer when there is one (redis-py's
    own Python wrapper around it costs more than the packing)."""
    if _pack_command is not None:
        return [b"".join([_pack_command(command) for command in commands])]
    return list(conn.pack_commands(commands))


def _convert(command: str, reply: Any) -> Any:
    if command == "ZSCORE":
        return None if reply is None else float(reply)
    if command == "HGETALL" and not isinstance(reply, dict):
        return dict(zip(reply[::2], reply[1::2], strict=True))
    return reply
