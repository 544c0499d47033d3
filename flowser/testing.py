"""Helpers for testing workflows and activities: the local engine with virtual time, or moto.

    from flowser.testing import Environment

    with Environment(MathDomain) as env:                  # local engine, virtual clock
        with env.workers(ArithmeticWorkflow, MultiplyActivity, SumActivity):
            run = env.domain.start(ArithmeticWorkflow, {"id": "1", "operations": [...]})
            assert run.result(timeout=10) == {...}

Each ``Environment`` runs on a private, throwaway store (its own
``redis-server`` in a temporary directory) unless given ``url=`` or
``data_dir=`` to share one.

Virtual time: ``env.sleep(3600)`` fires every timeout and timer due in that
hour at once (``backends.local.testing.LocalEnvironment``); nothing else
makes time pass. Step by step, without threads: ``env.decide(Workflow)``
polls one decision task and runs ``decide`` on it; ``env.work(Activity)``
does the same for an activity task.

``MotoEnvironment`` has the same interface over ``moto.mock_aws`` (real
time; moto lacks child workflows, continue-as-new, external signals and
activity cancellation -- see docs/testing.md).

Replay tests (:mod:`flowser.replay`): ``replay(history, Workflow)`` runs a
decider over a saved history and raises ``ReplayMismatch`` if it would now
decide differently; ``replay_dir(folder, Workflow)`` replays every file in a
folder.
"""

from __future__ import annotations

import abc
import datetime as dt
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from typing import Any, TypeVar

from . import tasks
from .domain import Domain
from .replay import ReplayMismatch, history_files, replay, replay_dir
from .types import Activity, Type, Workflow
from .worker import Runner, run_activity_task, run_decision_task, runner_for

T = TypeVar("T")

__all__ = [
    "Environment",
    "MotoEnvironment",
    "ReplayMismatch",
    "Workers",
    "history_files",
    "replay",
    "replay_dir",
    "wait_until",
    "workers",
]


def wait_until(predicate: Callable[[], T], timeout: float = 10.0, interval: float = 0.02) -> T:
    """Call ``predicate`` every ``interval`` s until it returns something truthy; return that.

    Real time, not virtual: ``TimeoutError`` after ``timeout`` seconds (10 by default).
    """
    give_up = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > give_up:
            raise TimeoutError(f"condition not met within {timeout} s")
        time.sleep(interval)


class Workers:
    """Runners (threads) for several types at once; a context manager."""

    def __init__(self, domain: Domain, *type_classes: type[Type], threads: int = 1, grace: float = 5.0) -> None:
        self.runners: list[Runner] = [runner_for(domain, t, threads=threads, grace=grace) for t in type_classes]

    def start(self) -> Workers:
        for runner in self.runners:
            runner.start()
        return self

    def stop(self) -> None:
        for runner in self.runners:
            runner.request_stop()
        for runner in self.runners:
            runner.stop()

    def __enter__(self) -> Workers:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def workers(domain: Domain, *type_classes: type[Type], threads: int = 1, grace: float = 5.0) -> Workers:
    """Run deciders/activity workers for ``type_classes`` in threads while the block runs."""
    return Workers(domain, *type_classes, threads=threads, grace=grace)


class _Base(abc.ABC):
    domain: Domain
    client: Any

    def workers(self, *type_classes: type[Type], threads: int = 1, grace: float = 5.0) -> Workers:
        return Workers(self.domain, *type_classes, threads=threads, grace=grace)

    def decide(self, workflow: type[Workflow]) -> tasks.Decision | None:
        """Poll one decision task of ``workflow`` and run its ``decide``; None if the poll came back empty."""
        task = self.domain.poll_decision(workflow)
        if task is not None:
            run_decision_task(workflow(self.domain), task)
        return task

    def work(self, activity: type[Activity]) -> tasks.Activity | None:
        """Poll one activity task of ``activity`` and handle it; None if the poll came back empty."""
        task = self.domain.poll_activity(activity)
        if task is not None:
            run_activity_task(activity(self.domain), task)
        return task

    @abc.abstractmethod
    def sleep(self, seconds: float) -> int:
        """Let ``seconds`` pass; return how many deadlines fired."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release the client and whatever serves it."""

    def __enter__(self: T) -> T:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class Environment(_Base):
    """``domain_cls`` on the local engine with a virtual clock, in a private, throwaway store by default.

    With neither ``url`` nor ``data_dir`` it starts its own ``redis-server``
    in a new temporary data directory, removed by ``close()``: nothing is
    shared with other tests or with ``flowser worker``/``decider`` processes
    on the same machine, and nothing is left behind ($FLOWSER_DATA_DIR and
    $FLOWSER_REDIS_URL are ignored). Sharing is opt-in: ``url`` (a Redis
    URL) or ``data_dir`` (that data directory's embedded server, kept).
    """

    def __init__(
        self,
        domain_cls: type[Domain],
        url: str | None = None,
        *,
        data_dir: str | os.PathLike[str] | None = None,
        start: float | dt.datetime | None = None,
        poll_hold: float = 0.5,
        register: bool = True,
    ) -> None:
        from backends.local.embedded import EmbeddedRedis
        from backends.local.testing import LocalEnvironment

        self.private_dir: str | None = None
        """The temporary data directory of a private store (None when shared)."""
        self._server: Any = None
        if url is None:
            if data_dir is None:
                self.private_dir = data_dir = tempfile.mkdtemp(prefix="flowser-test-")
            try:
                self._server = EmbeddedRedis.acquire(data_dir)
                url = self._server.url
                self.local = LocalEnvironment(url, start=start, poll_hold=poll_hold)
            except BaseException:
                self._release()
                raise
        else:
            self.local = LocalEnvironment(url, start=start, poll_hold=poll_hold)
        self.url: str = url
        """The Redis URL of the store (a private one's lives as long as the environment)."""
        self.client = self.local.client
        self.domain = domain_cls(self.client)
        if register:
            self.domain.register()

    def sleep(self, seconds: float) -> int:
        """Let ``seconds`` of virtual time pass, firing every timeout and timer due; returns how many fired."""
        return self.local.sleep(seconds)

    def now(self) -> dt.datetime:
        return self.local.now()

    def close(self) -> None:
        try:
            self.local.close()
        finally:
            self._release()

    def _release(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        if self.private_dir is not None:
            # the server stops once its last user has gone; its supervisor removes supervisor.pid when done
            pid_file = os.path.join(self.private_dir, "supervisor.pid")
            give_up = time.monotonic() + 10
            while os.path.exists(pid_file) and time.monotonic() < give_up:
                time.sleep(0.01)
            shutil.rmtree(self.private_dir, ignore_errors=True)
            self.private_dir = None


class MotoEnvironment(_Base):
    """``domain_cls`` on moto's SWF mock (``moto.mock_aws``), in real time."""

    def __init__(self, domain_cls: type[Domain], *, region_name: str = "us-east-1", register: bool = True) -> None:
        import boto3
        from moto import mock_aws

        self._saved_env = {key: os.environ.get(key) for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
        for key in self._saved_env:
            os.environ.setdefault(key, "testing")  # moto needs some credentials
        self._mock = mock_aws()
        self._mock.start()
        try:
            self.client = boto3.client("swf", region_name=region_name)
            self.domain = domain_cls(self.client)
            if register:
                self.domain.register()
        except Exception:
            self.close()
            raise

    def sleep(self, seconds: float) -> int:
        time.sleep(seconds)
        return 0

    def close(self) -> None:
        self._mock.stop()
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
