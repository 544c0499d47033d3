"""The timekeeper: fires timeouts, timers and retention purges on time, with no client call.

It runs as a thread wherever the engine serves. It sleeps until the earliest
deadline of any domain and is woken early when an earlier one is added: in
this process directly (the engine calls ``notify`` after each commit that
added a deadline), from other processes through the Redis wake list, which a
second thread waits on with a blocking ``BLPOP`` (engines without a local
timekeeper push to it). It then fires what is due through
``Engine.fire_due``. Firing is a transaction per deadline that re-checks the
deadline under ``WATCH``, so several timekeepers on one Redis fire each
deadline exactly once, and deadlines that passed while nothing ran fire,
earliest first, as soon as one starts.
"""

from __future__ import annotations

import logging
import math
import threading

from .engine import Engine
from .keys import TIMEKEEPER_WAKE, timekeeper_stop
from .store import StoreError, StoreUnavailable

log = logging.getLogger("flowser.timekeeper")

MAX_SLEEP = 30.0
"""Upper bound of one sleep, so a wall-clock jump (suspend, NTP) is noticed."""


class Timekeeper:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._stop_key = timekeeper_stop()
        self._stopping = threading.Event()
        self._cv = threading.Condition()
        self._woken = True
        self._next = math.inf
        self._threads: list[threading.Thread] = []

    def start(self) -> Timekeeper:
        self.engine.timekeeper_notify = self.notify
        for target, name in ((self._loop, "flowser-timekeeper"), (self._listen, "flowser-timekeeper-wake")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def notify(self, deadline: float = -math.inf) -> None:
        """A deadline was added: wake up if it is earlier than the planned wake-up."""
        if deadline < self._next:
            with self._cv:
                self._woken = True
                self._cv.notify()

    def stop(self, timeout: float = 5.0) -> None:
        if not self._threads:
            return
        self._stopping.set()
        if self.engine.timekeeper_notify == self.notify:
            self.engine.timekeeper_notify = None
        self.notify()
        try:
            self.engine.store.push_wake(self._stop_key)
        except StoreError:
            pass
        for thread in self._threads:
            thread.join(timeout)
        try:
            self.engine.store.drop_wakes(self._stop_key)
        except StoreError:
            pass
        self._threads = []

    def _listen(self) -> None:
        """Wake-ups from other processes (and the stop signal) arrive on Redis lists."""
        store = self.engine.store
        while not self._stopping.is_set():
            try:
                popped = store.wait_for_wake([self._stop_key, TIMEKEEPER_WAKE], MAX_SLEEP)
            except StoreError:
                if self._stopping.wait(1.0):
                    return
                continue
            if popped is not None:
                self.notify()

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                with self._cv:
                    self._woken = False
                    self._next = math.inf  # while busy, any new deadline means: look again
                self.engine.fire_due()
                earliest = self.engine.deadlines.earliest()
                now = self.engine.clock.now()
                wait = MAX_SLEEP if earliest is None else min(MAX_SLEEP, max(earliest - now, 0.0))
                self._next = now + wait
                if wait <= 0:
                    continue
                with self._cv:
                    if not self._woken:
                        self._cv.wait(wait)
            except StoreUnavailable:
                if self._stopping.is_set():
                    return
                log.warning("timekeeper lost its Redis connection; retrying")
                self._stopping.wait(1.0)
            except Exception:
                log.exception("timekeeper error")
                self._stopping.wait(1.0)
