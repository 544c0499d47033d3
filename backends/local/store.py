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
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import msgpack
import redis

from .faults import InternalFailure

T = TypeVar("T")

MAX_ATTEMPTS = 200


def pack(value: Any) -> bytes:
    return msgpack.packb(value, use_bin_type=True)


def unpack(data: Any) -> Any:
    return msgpack.unpackb(data, raw=False, strict_map_key=False)


class RedisStore:
    """A Redis connection pool plus the engine's transaction and claim primitives."""

    def __init__(self, client: redis.Redis, *, owner: Any = None) -> None:
        self.redis = client
        self._owner = owner  # keeps an embedded server's lease alive as long as the store
        script = importlib.resources.files(__package__).joinpath("claim.lua").read_text()
        self._claim = client.register_script(script)
        self.check_version()

    @classmethod
    def from_url(cls, url: str, *, owner: Any = None) -> RedisStore:
        client = redis.Redis.from_url(url, socket_timeout=None, health_check_interval=0)
        return cls(client, owner=owner)

    def check_version(self) -> None:
        version = str(self.redis.info("server").get("redis_version", "0"))
        major, minor = (int(p) for p in version.split(".")[:2])
        if (major, minor) < (6, 2):
            raise RuntimeError(f"flowser needs Redis >= 6.2, found {version}")

    def transaction(self, watch: Iterable[str], body: Callable[[redis.client.Pipeline], T]) -> T:
        """Run ``body`` as one optimistic transaction over the watched keys.

        ``body`` reads through the pipeline (immediate mode), then calls
        ``pipe.multi()`` and queues its writes; they are executed atomically,
        or the whole body runs again if a watched key changed meanwhile.
        """
        keys = list(watch)
        with self.redis.pipeline(transaction=True) as pipe:
            for attempt in range(MAX_ATTEMPTS):
                try:
                    if keys:
                        pipe.watch(*keys)
                    result = body(pipe)
                    if pipe.explicit_transaction:
                        pipe.execute()
                    else:
                        pipe.unwatch()
                    return result
                except redis.WatchError:
                    pipe.reset()
                    if attempt > 8:
                        time.sleep(min(0.001 * attempt, 0.02))
                    continue
        raise InternalFailure("too much contention on one execution; nothing was changed")

    def claim(self, task_list_key: str, inflight_key: str, now: float, lease: float) -> str | None:
        member = self._claim(keys=[task_list_key, inflight_key], args=[repr(now), repr(lease)])
        if member is None:
            return None
        return member.decode() if isinstance(member, bytes) else str(member)

    def close(self) -> None:
        self.redis.close()
        self.redis.connection_pool.disconnect()
        owner, self._owner = self._owner, None
        if owner is not None:
            owner.close()
