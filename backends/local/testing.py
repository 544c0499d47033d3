"""Virtual time for tests: the engine on a clock the test owns.

    env = LocalEnvironment()          # embedded Redis; or LocalEnvironment("redis://...")
    swf = env.client                  # a boto3 SWF client
    ...start a workflow, schedule an activity with a 300 s heartbeat timeout...
    env.sleep(3600)                   # every timeout and timer due in that hour fires, in order, now

Like Temporal's time-skipping test environment, for SWF: ``sleep`` moves the
clock from deadline to deadline and fires each (events carry the deadline as
their timestamp), then sets the clock to the end of the hour. Deadlines due at
the current time (a ``"0"`` timer, say) fire as soon as they are added.
No background timekeeper runs: time only passes when the test says so.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
from collections.abc import Callable
from typing import Any

from .client import local_client
from .clock import ManualClock
from .engine import Engine, EngineConfig
from .lambdas import LambdaRunner
from .store import RedisStore


class LocalEnvironment:
    def __init__(
        self,
        url: str | None = None,
        *,
        data_dir: str | os.PathLike[str] | None = None,
        start: float | dt.datetime | None = None,
        poll_hold: float = 1.0,
        config: EngineConfig | None = None,
        lambdas: dict[str, Callable[[str | None], Any]] | None = None,
    ) -> None:
        from . import open_store

        if isinstance(start, dt.datetime):
            start = start.timestamp()
        self.clock = ManualClock(start)
        config = config or EngineConfig()
        config.poll_hold = poll_hold
        self.store: RedisStore = open_store(url, data_dir=data_dir)
        self.engine = Engine(self.store, self.clock, config)
        self.engine.timekeeper_notify = self._deadline_added
        self._firing = threading.local()
        self._lock = threading.RLock()
        self.client = local_client(self.engine, region_name=config.region)
        self.lambdas = LambdaRunner(self.engine, lambdas).start() if lambdas else None

    def _deadline_added(self, deadline: float) -> None:
        if deadline <= self.clock.now() and not getattr(self._firing, "active", False):
            self._fire(self.clock.now())

    def _fire(self, now: float) -> int:
        self._firing.active = True
        try:
            return self.engine.fire_due(now)
        finally:
            self._firing.active = False

    def now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.clock.now(), dt.UTC)

    def sleep(self, seconds: float) -> int:
        """Let ``seconds`` of virtual time pass; return how many deadlines fired."""
        with self._lock:
            target = self.clock.now() + seconds
            fired = 0
            while True:
                earliest = self.engine.deadlines.earliest()
                if earliest is None or earliest > target:
                    break
                if earliest > self.clock.now():
                    self.clock.set(earliest)
                fired += self._fire(self.clock.now())
            self.clock.set(max(target, self.clock.now()))
            return fired

    advance = sleep

    def close(self) -> None:
        if self.lambdas is not None:
            self.lambdas.stop()
        self.client.close()
        self.store.close()

    def __enter__(self) -> LocalEnvironment:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
