"""Long-running workers: poll one type's tasks on N threads and handle them.

    runner = ActivityRunner(domain, MultiplyActivity, threads=4)
    runner.run()          # until SIGTERM/SIGINT; then finish (or fail) the tasks in hand; returns 0

``flowser worker`` / ``flowser decider`` are thin wrappers around these. An
exception in user code fails the task -- an activity task with
``RespondActivityTaskFailed``, a decision task with ``FailWorkflowExecution``
(SWF has nothing else) -- with the exception as reason and the traceback as
details, cut to SWF's limits. A decider may instead leave the decision task
to time out, so that SWF hands it to a decider again
(``on_decider_error="retry"``). Every log line names the workflowId, runId
and (for activity tasks) activityId it is about. An answer SWF refuses
because the task timed out meanwhile is one warning: the result is discarded.

Failing polls (SWF unreachable, the domain not registered yet) are retried
with exponential backoff (``error_backoff`` doubling up to ``max_backoff``):
the first failure of an outage is logged with its traceback, each further
one in one line, an unregistered domain once at INFO (another process may be
registering it). After ``give_up_after`` seconds without success the runner
stops and ``run`` returns 1.

Shutdown: polling stops at once (``on_stop`` may cut held polls short, as
the local engine can), tasks in hand get ``grace`` seconds to finish; an
activity task still running after that is failed with a reason saying so; a
decision task is left to its start-to-close timeout (SWF then hands it to
another decider). A second signal ends the grace period at once.
"""

from __future__ import annotations

import abc
import importlib
import logging
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, Protocol

from . import tasks
from .domain import Domain
from .exceptions import fault_name, is_fault
from .rerun import SourceUnavailable
from .types import Activity, Type, Workflow, default_identity, duration

log = logging.getLogger("flowser.worker")

FAIL, RETRY = "fail", "retry"
ON_DECIDER_ERROR = (FAIL, RETRY)
"""What a decider does when ``decide`` raises: fail the execution, or leave the task to time out."""
LOST = "lost"
"""Outcome of a task that finished after SWF had timed it out: its answer was refused."""
LEFT = "left"
"""Outcome of a decision task left unanswered (``on_decider_error="retry"``)."""
GIVE_UP_AFTER = 600.0
"""Seconds a runner keeps retrying an unreachable backend before it gives up (``--give-up-after``)."""

LOG_FORMAT = "%(asctime)s %(levelname)s %(processName)s/%(threadName)s %(name)s: %(message)s"


def context(task: Any) -> dict[str, str]:
    """The ids a log line about ``task`` carries (``activityId`` for activity tasks only)."""
    execution = task.workflow_execution
    ctx = {"workflowId": execution.workflow_id, "runId": execution.run_id or "-"}
    activity_id = getattr(task, "activity_id", None)
    if activity_id:
        ctx["activityId"] = activity_id
    return ctx


def _ids(ctx: dict[str, str]) -> str:
    return " ".join(f"{key}={ctx[key]}" for key in ("workflowId", "runId", "activityId") if key in ctx)


def _reason(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return tasks.truncate(text, tasks.REASON_LIMIT) or type(exc).__name__


def _respond_safely(task: Any, what: str, call: Callable[[], Any]) -> None:
    ctx = context(task)
    try:
        call()
    except Exception as exc:
        if is_fault(exc, "UnknownResourceFault"):
            log.warning("could not %s: SWF no longer knows the task (timed out or run closed) %s", what, _ids(ctx), extra=ctx)
        else:
            log.exception("could not %s %s", what, _ids(ctx), extra=ctx)


def run_activity_task(instance: Activity, task: tasks.Activity, *, reraise: bool = False) -> str | None:
    """Handle one activity task with ``instance``; an exception fails the task. Returns the outcome."""
    ctx = context(task)
    log.info("%s task started %s", task.activity_type, _ids(ctx), extra=ctx)
    try:
        with task.heartbeating(type(instance).heartbeat_interval()):
            instance.handle(task)
    except Exception as exc:
        if task.closed:
            log.exception("%s handler raised after responding %s", task.activity_type, _ids(ctx), extra=ctx)
        elif task.lost and is_fault(exc, "UnknownResourceFault"):
            log.warning(
                "%s task finished after it timed out (SWF no longer knows it: timed out, or its run closed); "
                "its result was discarded %s",
                task.activity_type,
                _ids(ctx),
                extra=ctx,
            )
            if reraise:  # an rq job that came too late fails as such
                raise
            return LOST
        else:
            log.warning("%s task failed: %s %s", task.activity_type, _reason(exc), _ids(ctx), extra=ctx, exc_info=True)
            details, reason = traceback.format_exc(), _reason(exc)
            _respond_safely(task, "fail the task", lambda: task.fail(details=details, reason=reason))
        if reraise:
            raise
        return task.outcome
    if task.closed:
        log.info("%s task %s %s", task.activity_type, task.outcome, _ids(ctx), extra=ctx)
    else:
        log.info("%s handler returned without responding %s", task.activity_type, _ids(ctx), extra=ctx)
    return task.outcome


def run_decision_task(instance: Workflow, task: tasks.Decision, on_error: str | None = None) -> str | None:
    """Decide one decision task with ``instance``; returns the outcome.

    An exception in ``decide`` fails the workflow execution (``on_error``
    ``"fail"``), or leaves the decision task unanswered (``"retry"``): it
    times out after its start-to-close timeout and SWF schedules a new one,
    which this or another decider takes. The default is the workflow class's
    ``on_decider_error``. A re-run whose source run cannot be read
    (``flowser.rerun.SourceUnavailable``) is always left to time out.
    """
    mode = on_error or getattr(type(instance), "on_decider_error", FAIL)
    if mode not in ON_DECIDER_ERROR:
        raise ValueError(f"on_decider_error must be one of {ON_DECIDER_ERROR}, not {mode!r}")
    ctx = context(task)
    log.info("%s decision task started %s", task.workflow_type, _ids(ctx), extra=ctx)
    try:
        instance.decide(task)
        if not task.closed:
            task.complete()
    except Exception as exc:
        if task.closed:
            log.exception("%s decider raised after responding %s", task.workflow_type, _ids(ctx), extra=ctx)
        elif task.lost and is_fault(exc, "UnknownResourceFault"):
            log.warning(
                "%s decision task finished after it timed out (SWF no longer knows it); its decisions were discarded "
                "and the new decision task goes to a decider %s",
                task.workflow_type,
                _ids(ctx),
                extra=ctx,
            )
            return LOST
        elif mode == RETRY or isinstance(exc, SourceUnavailable):
            timeout = getattr(type(instance), "task_start_to_close_timeout", None)
            log.warning(
                "%s decider failed: %s; the decision task is left to time out (task start-to-close timeout, %s s "
                "by default) and SWF then gives it to a decider again (on_decider_error=retry) %s",
                task.workflow_type,
                _reason(exc),
                duration(timeout) or "?",
                _ids(ctx),
                extra=ctx,
                exc_info=True,
            )
            return LEFT
        else:
            log.warning("%s decider failed: %s %s", task.workflow_type, _reason(exc), _ids(ctx), extra=ctx, exc_info=True)
            details, reason = traceback.format_exc(), _reason(exc)
            _respond_safely(task, "fail the workflow", lambda: task.fail(details=details, reason=reason))
        return task.outcome
    log.info("%s decision task %s (%d decisions) %s", task.workflow_type, task.outcome, len(task.decisions), _ids(ctx), extra=ctx)
    return task.outcome


class Executor(Protocol):
    def wait_for_capacity(self, stopping: threading.Event) -> None: ...

    def submit(self, runner: Runner, task: Any) -> None: ...


def _fault_message(exc: BaseException) -> str:
    """An SWF fault's own message (``Unknown domain: demo``), without botocore's preamble."""
    response: Any = getattr(exc, "response", None)
    message = response.get("Error", {}).get("Message") if isinstance(response, dict) else None
    return f"{fault_name(exc)}: {message}" if message else str(exc)


def _register_hint() -> str:
    return "start one worker or decider with --register, or call Domain.register()"


class _Outage:
    """Consecutive failures to reach SWF, shared by a runner's threads (one traceback, one INFO line per outage)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.since: float | None = None
        self.failures = 0
        self.traceback_said = False
        self.unregistered_said = False

    def recovered(self, name: str | None) -> None:
        if self.since is None:
            return
        with self.lock:
            if self.since is None:
                return
            if self.traceback_said:
                log.info("%s: SWF answers again after %d failed attempt(s) in %.0f s", name, self.failures, time.monotonic() - self.since)
            self.since, self.failures, self.traceback_said, self.unregistered_said = None, 0, False, False


class Runner(abc.ABC):
    """Polls for one type's tasks on ``threads`` threads and handles them until stopped."""

    kind: ClassVar[str] = ""

    def __init__(
        self,
        domain: Domain,
        type_cls: type[Type],
        *,
        threads: int = 1,
        identity: str | None = None,
        grace: float = 30.0,
        on_stop: Callable[[], None] | None = None,
        executor: Executor | None = None,
        error_backoff: float = 1.0,
        max_backoff: float = 30.0,
        give_up_after: float | None = GIVE_UP_AFTER,
        register: bool = False,
    ) -> None:
        if threads < 1:
            raise ValueError("threads must be at least 1")
        self.domain = domain
        self.type_cls = type_cls
        self.threads = threads
        self.identity = identity or default_identity().rsplit(":", 1)[0]
        self.grace = grace
        self.on_stop = on_stop
        self.executor = executor
        self.error_backoff = error_backoff
        self.max_backoff = max(max_backoff, error_backoff)
        self.give_up_after = give_up_after or None
        self.register = register
        self._registered = not register
        self._outage = _Outage()
        self.gave_up = False
        """Set when the backend stayed unreachable for ``give_up_after`` seconds (``run`` then returns 1)."""
        self._stopping = threading.Event()
        self._forced = threading.Event()
        self._in_hand: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._stopped = False
        self.handled = 0
        self.failed = 0
        """Tasks whose handler raised, or whose answer SWF refused (counted in ``handled`` too)."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.type_cls.__name__} x{self.threads}>"

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> Runner:
        for n in range(self.threads):
            name = f"{self.type_cls.__name__}-{n}"
            thread = threading.Thread(target=self._loop, args=(f"{self.identity}:{n}",), name=name, daemon=True)
            self._threads.append(thread)
            thread.start()
        log.info("%s polling %s (task list %s) on %d thread(s)", self.kind, self.type_cls.name, self.type_cls.task_list, self.threads)
        return self

    def request_stop(self) -> None:
        """Stop polling (safe to call from a signal handler); ``stop`` does the rest."""
        if self._stopping.is_set():
            self._forced.set()
        self._stopping.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def stop(self, grace: float | None = None) -> None:
        """Stop polling, let tasks in hand finish for ``grace`` seconds, then give up on them."""
        if self._stopped:
            return
        self._stopped = True
        self._stopping.set()
        if self.on_stop is not None:
            try:
                self.on_stop()
            except Exception:
                log.exception("on_stop hook failed")
        deadline = time.monotonic() + (self.grace if grace is None else grace)
        for thread in self._threads:
            # joined in short steps: a second signal (handled in this thread) must end the wait at once
            while thread.is_alive() and time.monotonic() < deadline and not self._forced.is_set():
                thread.join(timeout=0.05)
        if self._forced.is_set():
            log.info("stopping at once (second signal)")
        with self._lock:
            left = dict(self._in_hand)
        for thread_name, task in left.items():
            self._give_up(thread_name, task)
        still_polling = sum(1 for t in self._threads if t.is_alive() and t.name not in left)
        if still_polling:
            log.info("%d poll(s) still held by the server are abandoned", still_polling)
        failed = f", {self.failed} failed" if self.failed else ""
        log.info("%s for %s stopped after %d task(s)%s", self.kind, self.type_cls.name, self.handled, failed)

    @abc.abstractmethod
    def _give_up(self, thread_name: str, task: Any) -> None:
        """The grace period is over and ``task`` is still in hand."""

    def run(self, signals: tuple[int, ...] = (signal.SIGTERM, signal.SIGINT)) -> int:
        """Start, serve until one of ``signals``, stop gracefully. Call from the main thread.

        Returns 0, or 1 when it gave up on an unreachable backend (``give_up_after``).
        """
        previous = {sig: signal.getsignal(sig) for sig in signals}

        received: list[int] = []

        def on_signal(signum: int, frame: Any) -> None:
            received.append(signum)  # no logging here: the handler may interrupt a log call
            self.request_stop()

        for sig in previous:
            signal.signal(sig, on_signal)
        try:
            if self._register_first():
                self.start()
            while not self._stopping.wait(0.2):
                if not any(t.is_alive() for t in self._threads):
                    break
            if received:
                log.info("received %s: stopping", signal.Signals(received[0]).name)
            self.stop()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return 1 if self.gave_up else 0

    def __enter__(self) -> Runner:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- the loop -----------------------------------------------------------------------------
    def _loop(self, identity: str) -> None:
        name = threading.current_thread().name
        delay = self.error_backoff
        while not self._stopping.is_set():
            if self.executor is not None:
                self.executor.wait_for_capacity(self._stopping)
                if self._stopping.is_set():
                    break
            what = "polling"
            try:
                if not self._registered:
                    what = "registering the domain and its types"
                    self._register()
                    what = "polling"
                task = self._poll(identity)
            except Exception as exc:
                if self._stopping.is_set():
                    break
                wait = self._failed(exc, what, delay)
                if wait is None:
                    break
                self._stopping.wait(wait)
                delay = min(delay * 2, self.max_backoff)
                continue
            delay = self.error_backoff
            self._outage.recovered(self.type_cls.name)
            if task is None:
                continue
            with self._lock:
                self._in_hand[name] = task
            outcome = None
            try:
                outcome = self._dispatch(task)
            except Exception:
                outcome = "failed"
                log.exception("handling %s failed %s", task, _ids(context(task)))
            finally:
                with self._lock:
                    self._in_hand.pop(name, None)
                    self.handled += 1
                    if outcome in ("failed", LOST, LEFT):
                        self.failed += 1

    def _register_first(self) -> bool:
        """Register (``register=True``) before polling, retrying as polls do; False if stopped or given up."""
        delay = self.error_backoff
        while not self._registered and not self._stopping.is_set():
            try:
                self._register()
            except Exception as exc:
                wait = self._failed(exc, "registering the domain and its types", delay)
                if wait is None:
                    return False
                self._stopping.wait(wait)
                delay = min(delay * 2, self.max_backoff)
        self._outage.recovered(self.type_cls.name)
        return not self._stopping.is_set()

    def _register(self) -> None:
        with self._lock:
            if self._registered:
                return
        self.domain.register()  # idempotent: threads may race here
        with self._lock:
            if not self._registered:
                self._registered = True
                log.info("registered domain %s and its types", self.domain.name)

    def _failed(self, exc: Exception, what: str, delay: float) -> float | None:
        """Log a failed poll (or registration) as the outage so far calls for; the seconds to wait, or None: give up."""
        outage = self._outage
        with outage.lock:
            now = time.monotonic()
            if outage.since is None:
                outage.since = now
            outage.failures += 1
            elapsed = now - outage.since
            unregistered = is_fault(exc, "UnknownResourceFault")
            if self.give_up_after is not None and elapsed >= self.give_up_after:
                if not self.gave_up:
                    self.gave_up = True
                    hint = f" ({_register_hint()})" if unregistered else ""
                    log.error(
                        "giving up: %s for %s has failed for %.1f s (%d attempts; give up after %g s): %s%s",
                        what,
                        self.type_cls.name,
                        elapsed,
                        outage.failures,
                        self.give_up_after,
                        _reason(exc),
                        hint,
                    )
                    self.request_stop()
                return None
            wait = delay if self.give_up_after is None else min(delay, self.give_up_after - elapsed + 0.01)
            if unregistered:  # e.g. a worker started at the same moment as `flowser decider --register`
                if not outage.unregistered_said:
                    outage.unregistered_said = True
                    log.info(
                        "%s for %s: %s; waiting for it to be registered (%s)",
                        what,
                        self.type_cls.name,
                        _fault_message(exc),
                        _register_hint(),
                    )
                return min(wait, 2.0)
            if not outage.traceback_said:
                outage.traceback_said = True
                log.error(
                    "%s for %s failed; retrying with backoff (at most %g s apart%s)",
                    what,
                    self.type_cls.name,
                    self.max_backoff,
                    f", giving up after {self.give_up_after:g} s" if self.give_up_after else "",
                    exc_info=exc,
                )
            else:
                log.warning(
                    "%s for %s failed again (%d attempts in %.0f s): %s; retrying in %.1f s",
                    what,
                    self.type_cls.name,
                    outage.failures,
                    elapsed,
                    _reason(exc),
                    wait,
                )
            return wait

    @abc.abstractmethod
    def _poll(self, identity: str) -> Any:
        """One poll for a task of this runner's type; None when it came back empty."""

    @abc.abstractmethod
    def _dispatch(self, task: Any) -> str | None:
        """Handle one task; returns its outcome (``"completed"``, ``"failed"``...)."""


class ActivityRunner(Runner):
    kind = "activity worker"
    type_cls: type[Activity]

    def _poll(self, identity: str) -> tasks.Activity | None:
        return self.domain.poll_activity(self.type_cls, identity=identity)

    def _dispatch(self, task: tasks.Activity) -> str | None:
        if self.executor is not None:
            try:
                self.executor.submit(self, task)
            except Exception as exc:
                reason = f"could not hand the task to the executor: {_reason(exc)}"
                _respond_safely(task, "fail the task", lambda: task.fail(details=traceback.format_exc(), reason=reason))
                raise
            return None
        return run_activity_task(self.type_cls(self.domain), task)

    def _give_up(self, thread_name: str, task: tasks.Activity) -> None:
        if task.closed:
            return
        if self._forced.is_set():
            reason = "worker shutting down: stopped at once by a second signal"
        else:
            reason = f"worker shutting down: the task did not finish within the {self.grace:g} s grace period"
        ctx = context(task)
        log.warning("failing %s task: %s %s", task.activity_type, reason, _ids(ctx), extra=ctx)
        _respond_safely(task, "fail the task", lambda: task.fail(details=f"worker {self.identity} ({thread_name})", reason=reason))


class DecisionRunner(Runner):
    kind = "decider"
    type_cls: type[Workflow]

    def __init__(self, domain: Domain, type_cls: type[Type], *, on_decider_error: str | None = None, **kwargs: Any) -> None:
        """``on_decider_error``: ``"fail"`` or ``"retry"``; default, the workflow class's ``on_decider_error``."""
        if on_decider_error is not None and on_decider_error not in ON_DECIDER_ERROR:
            raise ValueError(f"on_decider_error must be one of {ON_DECIDER_ERROR}, not {on_decider_error!r}")
        super().__init__(domain, type_cls, **kwargs)
        self.on_decider_error = on_decider_error

    def _poll(self, identity: str) -> tasks.Decision | None:
        return self.domain.poll_decision(self.type_cls, identity=identity)

    def _dispatch(self, task: tasks.Decision) -> str | None:
        return run_decision_task(self.type_cls(self.domain), task, self.on_decider_error)

    def _give_up(self, thread_name: str, task: tasks.Decision) -> None:
        if task.closed:
            return
        ctx = context(task)
        log.warning(
            "decision task unfinished after the %g s grace period: left to its start-to-close timeout, "
            "after which SWF gives it to another decider %s",
            self.grace,
            _ids(ctx),
            extra=ctx,
        )


def runner_for(domain: Domain, type_cls: type[Type], **kwargs: Any) -> Runner:
    """An ActivityRunner or DecisionRunner, as ``type_cls`` is an activity or a workflow."""
    if issubclass(type_cls, Activity):
        return ActivityRunner(domain, type_cls, **kwargs)
    if issubclass(type_cls, Workflow):
        return DecisionRunner(domain, type_cls, **kwargs)
    raise TypeError(f"{type_cls!r} is neither a types.Activity nor a types.Workflow subclass")


# -- loading user code ------------------------------------------------------------------------
def load_object(spec: str) -> Any:
    """``"package.module:Name"`` or ``"path/to/file.py:Name"`` -> the object.

    The current directory is importable (as for ``python -m``); a file path's
    directory is put on ``sys.path`` and the file imported by its name.
    """
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"expected module:Name, got {spec!r}")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    if module_name.endswith(".py") or os.sep in module_name:
        path = Path(module_name).resolve()
        if str(path.parent) not in sys.path:
            sys.path.insert(0, str(path.parent))
        module_name = path.stem
    obj: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def absolute_spec(spec: str) -> str:
    """``spec`` with a file path made absolute (for other processes with another cwd)."""
    module_name, sep, attr = spec.partition(":")
    if module_name.endswith(".py") or os.sep in module_name:
        return f"{Path(module_name).resolve()}{sep}{attr}"
    return spec


def find_domain(type_cls: type[Type]) -> type[Domain] | None:
    """The one Domain subclass in ``type_cls``'s module that lists it, if there is exactly one."""
    module = sys.modules.get(type_cls.__module__)
    found = set()
    for value in vars(module).values() if module else ():
        if isinstance(value, type) and issubclass(value, Domain) and value is not Domain:
            listed = [*(value.workflow_types or []), *(value.activity_types or [])]
            if type_cls in listed:
                found.add(value)
    return found.pop() if len(found) == 1 else None


def named_domain(name: str) -> type[Domain]:
    """A Domain subclass for a bare domain name."""
    return type("Domain", (Domain,), {"name": name, "__module__": __name__})


def run_job(client: Any, spec: dict[str, Any]) -> str | None:
    """Run one activity task described by ``spec`` (see ``executors``) on ``client``; for rq jobs.

    An exception in the handler fails the SWF task and is re-raised, so the
    rq job is marked failed too.
    """
    activity_cls = load_object(spec["activity"])
    domain_cls = load_object(spec["domain"]) if spec.get("domain") else named_domain(spec["domain_name"])
    domain = domain_cls(client)
    instance = activity_cls(domain)
    task = tasks.Activity(spec["task"], instance)
    return run_activity_task(instance, task, reraise=True)
