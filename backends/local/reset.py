"""Wiping a development store while servers run on it, and the engine caches no wipe may leave behind.

``wipe(client)`` (``flowser reset``) deletes every key of flowser in that Redis
database, i.e. every key under ``keys.PREFIX`` (``swf:``), and nothing else
(rq's queues, say, stay). Running engines keep serving: it then tells every
engine on that Redis to drop what it caches of domains, and waits until each
has said it did, so that when ``wipe`` returns no engine answers from a domain
that is gone. Calls under way during the wipe may still write a few keys of the
old state; a second pass deletes what they wrote meanwhile.

What an engine caches (``DomainCache``): that a domain exists (polls and
counts check it; a positive answer is kept a few seconds) and a domain's
retention period. Each engine subscribes to the Pub/Sub channel
``swf:reset:<database number>`` (``channel``) and keeps its entries in a
``Generation``: a reset replaces the generation, so every entry, and any
entry being made from a read that came before the wipe, is dropped at once.
An engine caches nothing while it is not subscribed (before the subscription
is confirmed, after its connection broke): a reset it could miss finds
nothing to drop. No request makes a Redis call for this: the listener is one
thread and one connection per engine, woken only by resets. The stop keys of
a shutdown under way (``...:stop:...``) are left to expire.

Protocol: ``wipe`` subscribes to a reply channel ``swf:reset:ack:<random>``,
deletes, publishes the reply channel's name on ``swf:reset:<db>`` (Redis answers
with how many subscribers got it), and counts the replies each listener
publishes once it has dropped its generation (at most ``timeout`` seconds).
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
import uuid
import weakref
from dataclasses import dataclass
from typing import Any

import redis

from .keys import DOMAINS, PREFIX

log = logging.getLogger("flowser.reset")

RESET_CHANNEL = f"{PREFIX}:reset"
"""Followed by ``:<database number>``: Pub/Sub spans a Redis server's databases, a wipe only one."""
ACK_PREFIX = f"{PREFIX}:reset:ack:"
SEEN_FOR = 5.0
"""Seconds a positive domain lookup is kept (a safety net: a reset drops it anyway)."""
DELETE_BATCH = 500


@dataclass(frozen=True)
class Wiped:
    """What ``wipe`` did."""

    domains: int
    keys: int
    engines: int
    """Engines that were told to drop their caches."""
    acknowledged: int
    """Of those, the ones that said they did within the timeout."""


def inventory(client: Any) -> tuple[int, int]:
    """(domains, keys) of flowser in this Redis database."""
    return int(client.hlen(DOMAINS)), sum(1 for _ in _flowser_keys(client))


def wipe(client: Any, *, timeout: float = 5.0) -> Wiped:
    """Delete every key of flowser in this Redis database; make every engine on it drop its caches."""
    domains = int(client.hlen(DOMAINS))
    listener = client.pubsub()
    try:
        reply = f"{ACK_PREFIX}{uuid.uuid4().hex}"
        listener.subscribe(reply)
        deadline = time.monotonic() + timeout
        _next_message(listener, deadline, "subscribe")  # so that no reply can come before it
        deleted = _delete(client)
        engines = int(client.publish(channel(client), reply))
        acknowledged = 0
        while acknowledged < engines and _next_message(listener, deadline, "message") is not None:
            acknowledged += 1
    finally:
        listener.close()
    deleted += _delete(client)  # what calls under way during the first pass wrote
    return Wiped(domains, deleted, engines, acknowledged)


def channel(client: Any) -> str:
    """The reset channel of the client's database."""
    return f"{RESET_CHANNEL}:{int(client.connection_pool.connection_kwargs.get('db') or 0)}"


def _next_message(listener: Any, deadline: float, kind: str) -> dict[str, Any] | None:
    while (left := deadline - time.monotonic()) > 0:
        message = listener.get_message(timeout=left)
        if message is not None and message["type"] == kind:
            return dict(message)
    return None


_STOP_KEY = re.compile(rb"^" + re.escape(PREFIX.encode()) + rb":(\{[0-9a-f]+\}|tk):stop:")
"""Wake-ups of a shutdown, or of a poll whose poller went, under way: left to expire (60 s)."""


def _flowser_keys(client: Any) -> Any:
    for key in client.scan_iter(match=f"{PREFIX}:*", count=1000):
        if not _STOP_KEY.match(key):
            yield key


def _delete(client: Any) -> int:
    deleted = 0
    batch: list[bytes] = []
    for key in _flowser_keys(client):
        batch.append(key)
        if len(batch) == DELETE_BATCH:
            deleted += int(client.unlink(*batch))
            batch = []
    if batch:
        deleted += int(client.unlink(*batch))
    return deleted


class Generation:
    """One engine's cached domain lookups since the last reset (or (re)subscription)."""

    __slots__ = ("retention", "seen")

    def __init__(self) -> None:
        self.seen: dict[str, float] = {}
        self.retention: dict[str, float] = {}

    def knows(self, domain: str) -> bool:
        """Whether ``domain`` was seen to exist in the last ``SEEN_FOR`` seconds."""
        seen = self.seen.get(domain)
        return seen is not None and time.monotonic() - seen < SEEN_FOR

    def saw(self, domain: str) -> None:
        self.seen[domain] = time.monotonic()


class DomainCache:
    """The engine's caches of domains, dropped by a ``wipe`` in any process (see the module docstring).

    ``current()`` is the generation to read and fill, or None: cache nothing
    now. Take it *before* the Redis read whose answer goes into it: if a reset
    comes in between, the entry goes into a generation already dropped.
    """

    def __init__(self, client: Any, closed: Any) -> None:
        self._client = client
        self._closed = closed  # () -> bool: the store is closed, the listener ends
        self._generation: Generation | None = None
        self._pid: int | None = None  # the process whose listener fills _generation
        self._lock = threading.Lock()
        _caches.add(self)

    def current(self) -> Generation | None:
        if self._pid != os.getpid():  # first use, or a forked child: its listener did not come along
            self._start()
            return None
        return self._generation

    def _start(self) -> None:
        with self._lock:
            if self._pid == os.getpid():
                return
            self._generation = None
            self._pid = os.getpid()
            threading.Thread(target=self._listen, args=(self._pid,), name="flowser-reset-listener", daemon=True).start()

    def _listen(self, pid: int) -> None:
        pause = 0.1
        while not self._closed() and self._pid == pid:
            pubsub = self._client.pubsub()
            try:
                pubsub.subscribe(channel(self._client))
                for message in pubsub.listen():
                    if self._closed() or self._pid != pid:
                        return
                    if message["type"] == "subscribe":  # (re)subscribed: from now on no reset is missed
                        self._generation = Generation()
                        pause = 0.1
                    elif message["type"] == "message":
                        self._generation = Generation()
                        reply = message["data"]
                        if isinstance(reply, bytes) and reply.startswith(ACK_PREFIX.encode()):
                            self._client.publish(reply, b"dropped")
            except (redis.RedisError, OSError, ValueError) as exc:
                if not self._closed():
                    log.debug("reset listener: %s; subscribing again", exc)
            finally:
                self._generation = None
                try:
                    pubsub.close()
                except Exception:  # its connection is gone already
                    pass
            time.sleep(pause)
            pause = min(pause * 2, 2.0)


_caches: weakref.WeakSet[DomainCache] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    """A lock held by another thread at the fork stays held in the child: give each cache a new one."""
    for cache in list(_caches):
        cache._lock = threading.Lock()


os.register_at_fork(after_in_child=_after_fork_in_child)
