"""What a held poll may know of its poller, told by the layer that holds its connection.

The engine knows nothing of sockets. ``flowser serve`` sets ``watching`` to
the request's connection around a poll; the engine then looks at it right
before every claim, and, while the poll waits, has the server call back the
moment the client closes its connection or sends another request on it. A
poller that is gone gets nothing claimed for it: the poll raises
``PollerGone`` and the server closes the connection without an answer.
In-process clients set nothing, and their polls behave as before.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from contextvars import ContextVar
from typing import Protocol


class PollerGone(Exception):
    """The poller stopped listening before a task was claimed for it; nothing was claimed."""


class PollWatch(Protocol):
    def gone(self) -> bool:
        """The poller is no longer waiting for this answer (never blocks)."""
        ...

    def watch(self, on_gone: Callable[[], None]) -> AbstractContextManager[None]:
        """While inside, call ``on_gone()`` as soon as ``gone()`` would be true."""
        ...


watching: ContextVar[PollWatch | None] = ContextVar("flowser_poll_watch", default=None)
"""The connection of the poll being handled by this thread, if its server watches it."""
