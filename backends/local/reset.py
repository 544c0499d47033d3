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
import threading
import time
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .keys import EVERY_KEY, RESET_ACK_PREFIX, is_stop_key, reset_ack_channel, reset_channel
from .store import RedisStore, StoreError, Subscription

log = logging.getLogger("flowser.reset")

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
    """(domains, keys) of flowser in this Redis database (``client``: a ``RedisStore`` or a redis-py client)."""
    store = RedisStore.around(client)
    try:
        return store.domain_count(), sum(1 for _ in _flowser_keys(store))
    finally:
        if store.opened_here:
            store.close()


def wipe(client: Any, *, timeout: float = 5.0) -> Wiped:
    """Delete every key of flowser in this Redis database; make every engine on it drop its caches.

    ``client``: a ``RedisStore`` or a redis-py client (``flowser reset`` opens one).
    """
    store = RedisStore.around(client)
    try:
        domains = store.domain_count()
        reply = reset_ack_channel()
        listener = store.subscribe(reply)
        try:
            deadline = time.monotonic() + timeout
            _next_message(listener, deadline, "subscribe")  # so that no reply can come before it
            deleted = _delete(store)
            engines = store.publish(channel(store), reply)
            acknowledged = 0
            while acknowledged < engines and _next_message(listener, deadline, "message") is not None:
                acknowledged += 1
        finally:
            listener.close()
        deleted += _delete(store)  # what calls under way during the first pass wrote
        return Wiped(domains, deleted, engines, acknowledged)
    finally:
        if store.opened_here:
            store.close()


def channel(store: RedisStore) -> str:
    """The reset channel of the store's database."""
    return reset_channel(store.database())


def _next_message(listener: Subscription, deadline: float, kind: str) -> Any:
    while (left := deadline - time.monotonic()) > 0:
        message = listener.next(left)
        if message is not None and message[0] == kind:
            return message[1]
    return None


def _flowser_keys(store: RedisStore) -> Iterator[bytes]:
    """Every key of flowser but the wake-ups of a shutdown, or of a poll whose poller went, under way
    (left to expire: 60 s)."""
    for key in store.keys_matching(EVERY_KEY):
        if not is_stop_key(key):
            yield key


def _delete(store: RedisStore) -> int:
    deleted = 0
    batch: list[bytes] = []
    for key in _flowser_keys(store):
        batch.append(key)
        if len(batch) == DELETE_BATCH:
            deleted += store.unlink(batch)
            batch = []
    if batch:
        deleted += store.unlink(batch)
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

    def __init__(self, store: RedisStore) -> None:
        self._store = store  # once it is closed, the listener ends
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
        store = self._store
        while not store.closed and self._pid == pid:
            subscription: Subscription | None = None
            try:
                subscription = store.subscribe(channel(store))
                for kind, data in subscription:
                    if store.closed or self._pid != pid:
                        return
                    if kind == "subscribe":  # (re)subscribed: from now on no reset is missed
                        self._generation = Generation()
                        pause = 0.1
                    elif kind == "message":
                        self._generation = Generation()
                        if isinstance(data, bytes) and data.startswith(RESET_ACK_PREFIX.encode()):
                            store.publish(data.decode(), b"dropped")
            except (StoreError, OSError, ValueError) as exc:
                if not store.closed:
                    log.debug("reset listener: %s; subscribing again", exc)
            finally:
                self._generation = None
                try:
                    if subscription is not None:
                        subscription.close()
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
