"""Task lists: claiming a task, long polls that wait for one, and counting what is pending.

A poll claims the best task of its list (``claim.lua``) or blocks in
``BLPOP`` on the list's wake key until a task comes or the hold ends; the
room that polls (decision or activity tasks) then starts what was claimed.
A poller that is gone (``pollers``) gets nothing claimed.
"""

from __future__ import annotations

import functools
import itertools
import threading
import time
from collections.abc import Callable
from typing import Any, NoReturn

from . import pollers
from .core import Core
from .keys import DomainKeys, inflight_prefix, inflight_task_list, parse_task_list_key
from .observers import TaskClaimed

MIN_BLOCK = 0.01
"""Shortest BLPOP timeout sent to Redis (seconds)."""
WAKE_EXPIRY = 60
"""Seconds a stop or poller-gone key lives: nobody may be left to take its token."""


class Polling:
    """Long polls, claims and pending counts, for the task rooms."""

    def __init__(self, core: Core) -> None:
        self.core = core
        self._stopping = threading.Event()
        self._waiting: dict[str, int] = {}
        self._waiting_lock = threading.Lock()
        self._poll_ids = itertools.count()

    def waiting(self, domain: str) -> int:
        """Polls of this engine blocked waiting for a task of ``domain`` now."""
        with self._waiting_lock:
            return self._waiting.get(domain, 0)

    def count_pending_decision_tasks(self, p: dict[str, Any]) -> dict[str, Any]:
        self.core.known_domain(p["domain"])
        dk = DomainKeys(p["domain"])
        return {"count": self._pending(dk, "d", p["taskList"]["name"]), "truncated": False}

    def count_pending_activity_tasks(self, p: dict[str, Any]) -> dict[str, Any]:
        self.core.known_domain(p["domain"])
        dk = DomainKeys(p["domain"])
        return {"count": self._pending(dk, "a", p["taskList"]["name"]), "truncated": False}

    def _pending(self, dk: DomainKeys, kind: str, name: str) -> int:
        """Scheduled, not started: dispatchable, claimed by a poller not yet done (or dead), held."""
        dispatchable, in_flight, held = self.core.store.task_list_counts(dk, kind, name)
        prefix = inflight_prefix(dk.task_list(kind, name))
        leased = sum(1 for member in in_flight if member.startswith(prefix))
        return dispatchable + leased + held

    def pending_by_task_list(self, domain: str, limit: int = 2000) -> dict[tuple[str, str], int]:
        """What ``CountPending*Tasks`` answers, for every decision and activity list of ``domain``
        that holds something (at most ``limit`` lists): ``{(kind, name): count}``."""
        dk = DomainKeys(domain)
        lists = sorted(self.core.store.task_lists(dk, ("d", "a"), limit))
        in_flight, counts = self.core.store.task_lists_counts(dk, lists)
        leased: dict[tuple[str, str], int] = {}
        for member in in_flight:
            parsed = parse_task_list_key(dk, inflight_task_list(member))
            if parsed is not None:
                leased[parsed] = leased.get(parsed, 0) + 1
        return {
            (kind, name): dispatchable + held + leased.get((kind, name), 0)
            for (kind, name), (dispatchable, held) in zip(lists, counts, strict=True)
        }

    def long_poll(self, dk: DomainKeys, kind: str, task_list: str, take: Callable[[str], Any]) -> Any:
        """Claim a task now, or wait (blocking on the list's wake key) until one comes or the hold ends.

        A poll whose server watches its connection (``pollers``) claims nothing
        once its poller is gone: its wait ends as soon as the server reports the
        poller gone, it looks before claiming after a wait, and it looks last
        right before the transition that starts a claimed task (a poller gone
        then gets its claim given back). A poll that has not waited does not
        look before its claim: it was read a moment ago, and the last look comes.
        """
        tl_key = dk.task_list(kind, task_list)
        wake_key = dk.wake(kind, task_list)
        stop_key = dk.stop(self.core.instance_id)
        poller = pollers.watching.get()
        gone_key: str | None = None
        hold = self.core.config.poll_hold
        give_up = time.monotonic() + hold
        woken = False
        waited = False  # a poll just read needs no look before its first claim (the last look comes)
        reported: list[bool] = []  # the server reported the poller gone (on its watcher thread)
        try:
            while True:
                while True:
                    if waited and poller is not None and poller.gone():
                        self._give_up(wake_key if woken else None)
                    member, lease_end = self.core.store.claim(
                        tl_key, dk.inflight, wake_key, self.core.clock.now(), self.core.config.lease, woken=woken
                    )
                    woken = False
                    if member is None:
                        break
                    if self.core.wants(TaskClaimed):
                        self.core.publish(TaskClaimed(dk.domain, kind, task_list, member))
                    result = take(member)
                    if result is not None:
                        return result
                remaining = give_up - time.monotonic()
                if remaining <= 0 or self._stopping.is_set():
                    return None
                # A token per task made dispatchable ends the wait at once. A task whose
                # claimer died comes back when its lease ends: wait no longer than that.
                wait = remaining
                if lease_end is not None:
                    wait = min(wait, max(lease_end - self.core.clock.now(), 0.0) + 0.005)
                with self._waiting_lock:
                    self._waiting[dk.domain] = self._waiting.get(dk.domain, 0) + 1
                    if self._stopping.is_set():  # stop_polls ran before it could count this wait
                        self._waiting[dk.domain] -= 1
                        return None
                try:
                    # Redis reads timeouts under ~1 ms as 0, which means "forever"
                    if poller is None:
                        popped = self.core.store.wait_for_wake([wake_key, stop_key], max(wait, MIN_BLOCK))
                    else:
                        gone_key = gone_key or dk.poll_gone(self.core.instance_id, next(self._poll_ids))
                        with poller.watch(functools.partial(self._poller_gone, gone_key, reported)):
                            popped = self.core.store.wait_for_wake([wake_key, stop_key, gone_key], max(wait, MIN_BLOCK))
                finally:
                    with self._waiting_lock:
                        self._waiting[dk.domain] -= 1
                waited = True
                if popped == stop_key:
                    return None
                if popped is not None and popped == gone_key:
                    gone_key = None  # its token is taken: nothing left to clean
                    self._give_up(None)
                if popped is not None:
                    woken = True
                elif wait >= remaining:
                    if poller is not None and poller.gone():
                        self._give_up(None)
                    member, _ = self.core.store.claim(tl_key, dk.inflight, wake_key, self.core.clock.now(), self.core.config.lease)
                    return take(member) if member is not None else None
        finally:
            if gone_key is not None and reported:
                self.core.store.drop_wakes(gone_key)  # reported while the poll was ending anyway

    def _poller_gone(self, gone_key: str, reported: list[bool]) -> None:
        """The server saw a held poll's poller go: end its wait (called on the server's watcher thread)."""
        reported.append(True)
        self.core.store.push_wakes({gone_key: 1}, expire=WAKE_EXPIRY)

    def unless_poller_gone(self, dk: DomainKeys, kind: str, task_list: str, member: str) -> None:
        """Last look before a claimed task is started for its poller: gone, the claim goes back.

        Its lease is ended at once (a claim on the domain puts it back on its
        list) and a wake token brings a waiting poller to claim it.
        """
        poller = pollers.watching.get()
        if poller is None or not poller.gone():
            return
        self.core.store.give_back_claim(dk, kind, task_list, member)
        raise pollers.PollerGone()

    def _give_up(self, taken_wake_token: str | None) -> NoReturn:
        """End a poll whose poller is gone, claiming nothing; a wake token it took goes back for a live poller."""
        if taken_wake_token is not None:
            self.core.store.push_wake(taken_wake_token)
        raise pollers.PollerGone()

    def stop_polls(self) -> None:
        """Answer every poll held by this engine empty, now and from now on (graceful shutdown).

        A poll that already claimed its task still returns it: a task is never
        lost to a shutdown, only left for the next poller.
        """
        with self._waiting_lock:
            self._stopping.set()
            waiting = {domain: count for domain, count in self._waiting.items() if count > 0}
        stops = {DomainKeys(domain).stop(self.core.instance_id): count for domain, count in waiting.items()}
        self.core.store.push_wakes(stops, expire=WAKE_EXPIRY)

    def empty_answer(self, out: dict[str, Any]) -> dict[str, Any]:
        if self.core.config.empty_poll_token == "empty":
            out["taskToken"] = ""
        return out

