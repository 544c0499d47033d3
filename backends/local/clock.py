"""Where the engine's time comes from.

The engine never reads Redis ``TIME`` nor relies on key expiry for SWF
timing: every timestamp and deadline is ``clock.now()`` (epoch seconds,
float). ``SystemClock`` reads ``time.time()`` on every call, so freezegun
freezes it; ``ManualClock`` is owned by a test and only moves when told.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Current time in epoch seconds."""
        ...


class SystemClock:
    """Wall-clock time (``time.time()``, which freezegun patches)."""

    def now(self) -> float:
        return time.time()


class ManualClock:
    """A clock that stands still until ``advance`` or ``set`` moves it."""

    def __init__(self, start: float | None = None) -> None:
        self._now = time.time() if start is None else float(start)
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError("time only moves forward")
        with self._lock:
            self._now += seconds
            return self._now

    def set(self, when: float) -> None:
        with self._lock:
            if when < self._now:
                raise ValueError("time only moves forward")
            self._now = float(when)
