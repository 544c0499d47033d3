"""The timekeeper: fires timeouts, timers and retention purges on time, with no client call.

It runs as a thread wherever the engine serves. It sleeps (a blocking Redis
``BLPOP`` on the timekeeper wake list and on its own stop key) until the
earliest deadline of any domain, or until a transition adds a deadline, then
fires what is due through ``Engine.fire_due``. Firing is a transaction per
deadline that re-checks the deadline under ``WATCH``, so several timekeepers
on one Redis fire each deadline exactly once, and deadlines that passed while
nothing ran fire, earliest first, as soon as one starts.
"""

from __future__ import annotations

import logging
import threading
import uuid

import redis

from .engine import Engine
from .keys import PREFIX, TIMEKEEPER_WAKE

log = logging.getLogger("flowser.timekeeper")

MAX_SLEEP = 30.0
"""Upper bound of one sleep, so a wall-clock jump (suspend, NTP) is noticed."""


class Timekeeper:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._stop_key = f"{PREFIX}:tk:stop:{uuid.uuid4().hex}"
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Timekeeper:
        self._thread = threading.Thread(target=self._loop, name="flowser-timekeeper", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        if self._thread is None:
            return
        self._stopping.set()
        try:
            self.engine.r.rpush(self._stop_key, 1)
            self._thread.join(timeout)
            self.engine.r.delete(self._stop_key)
        except redis.RedisError:
            pass
        self._thread = None

    def _loop(self) -> None:
        r = self.engine.r
        while not self._stopping.is_set():
            try:
                r.delete(TIMEKEEPER_WAKE)  # before looking, so a deadline added after this wakes us again
                self.engine.fire_due()
                earliest = self.engine.deadlines.earliest()
                now = self.engine.clock.now()
                wait = MAX_SLEEP if earliest is None else min(MAX_SLEEP, max(earliest - now, 0.0))
                if wait <= 0:
                    continue
                r.blpop([self._stop_key, TIMEKEEPER_WAKE], timeout=wait)
            except redis.ConnectionError:
                if self._stopping.is_set():
                    return
                log.warning("timekeeper lost its Redis connection; retrying")
                self._stopping.wait(1.0)
            except Exception:
                log.exception("timekeeper error")
                self._stopping.wait(1.0)
