"""A local stand-in for AWS Lambda: Python callables run for ScheduleLambdaFunction decisions.

    runner = LambdaRunner(engine, {"resize": resize}).start()

A decision ``ScheduleLambdaFunction{name: "resize", ...}`` records
``LambdaFunctionScheduled`` and queues a task on the Lambda task list named
after the function (``swf:{T}:tl:l:<name>``). A runner that has a callable
of that name claims it exactly like a poller claims an activity task,
records ``LambdaFunctionStarted``, calls ``function(input)`` in a worker
thread, and records ``LambdaFunctionCompleted{result}`` (a returned value
that is not a string is JSON-encoded) or ``LambdaFunctionFailed{reason:
<exception class>, details: <message>}``. ``LambdaFunctionTimedOut`` comes
from the timekeeper when ``startToCloseTimeout`` passes first (the clock
runs from scheduling until a runner starts it, then restarts). Several
processes may run runners for the same functions: each task runs once.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .engine import Engine
from .events import load_event
from .faults import UnknownResourceFault
from .keys import LAMBDA_WAKE, DomainKeys
from .run import Run, attributes_key, deadline, parse_member
from .store import StoreError, Tx, read_event

log = logging.getLogger("flowser.lambdas")

MAX_SLEEP = 30.0
LambdaFunction = Callable[[str | None], Any]


class LambdaRunner:
    def __init__(self, engine: Engine, functions: dict[str, LambdaFunction], *, threads: int = 4) -> None:
        self.engine = engine
        self.functions = dict(functions)
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="flowser-lambda")
        self._stopping = threading.Event()
        self._woken = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> LambdaRunner:
        self.engine.lambda_notify = self._woken.set
        for target in (self._loop, self._listen):
            thread = threading.Thread(target=target, name="flowser-lambda-runner", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._woken.set()
        if self.engine.lambda_notify == self._woken.set:
            self.engine.lambda_notify = None
        try:
            self.engine.store.push_wake(LAMBDA_WAKE)  # unblock our listener (others just look once more)
        except StoreError:
            pass
        for thread in self._threads:
            thread.join(5)
        self._pool.shutdown(wait=True)
        self._threads = []

    def _listen(self) -> None:
        while not self._stopping.is_set():
            try:
                if self.engine.store.wait_for_wake([LAMBDA_WAKE], MAX_SLEEP) is not None:
                    self._woken.set()
            except StoreError:
                self._stopping.wait(1.0)

    def _loop(self) -> None:
        while not self._stopping.is_set():
            self._woken.clear()
            try:
                while self.run_pending():
                    pass
            except Exception:
                log.exception("lambda runner error")
            self._woken.wait(MAX_SLEEP)

    def run_pending(self) -> int:
        """Claim and start every queued Lambda task of our functions; return how many started."""
        engine = self.engine
        started = 0
        for domain in engine.store.domain_names():
            dk = DomainKeys(domain)
            for name, function in self.functions.items():
                while True:
                    member, _ = engine.store.claim(
                        dk.task_list("l", name), dk.inflight, dk.wake("l", name), engine.clock.now(), engine.config.lease
                    )
                    if member is None:
                        break
                    task = self._start(dk, name, member)
                    if task is not None:
                        started += 1
                        self._pool.submit(self._invoke, dk, function, *task)
        return started

    def _start(self, dk: DomainKeys, name: str, member: str) -> tuple[str, int, int, str | None] | None:
        run_id, scheduled = parse_member(member)
        engine = self.engine

        def change(run: Run, tx: Tx) -> tuple[int, str | None] | None:
            entry = run.state.lambda_tasks.get(scheduled)
            raw = tx.read(read_event(dk, run_id, scheduled))
            tx.multi()
            tx.drop_claim(dk, "l", name, member)
            if not run.is_open or entry is None or entry.started_event_id or entry.task_member != member:
                return None
            event = load_event(raw)
            attrs = event[attributes_key("LambdaFunctionScheduled")]
            entry.started_event_id = run.add("LambdaFunctionStarted", {"scheduledEventId": scheduled})
            entry.task_member = None
            run.effects.deadlines_add[deadline("l2c", run_id, scheduled)] = run.now + int(attrs["startToCloseTimeout"])
            return entry.started_event_id, attrs.get("input")

        try:
            result = engine.transition(dk, run_id, change)
        except UnknownResourceFault:
            return None
        if result is None:
            return None
        return run_id, scheduled, result[0], result[1]

    def _invoke(self, dk: DomainKeys, function: LambdaFunction, run_id: str, scheduled: int, started: int, payload: str | None) -> None:
        try:
            value = function(payload)
            attrs: dict[str, Any] = {"scheduledEventId": scheduled, "startedEventId": started}
            if value is not None:
                attrs["result"] = value if isinstance(value, str) else json.dumps(value)
            outcome = "LambdaFunctionCompleted"
        except Exception as exc:  # the function's failure is the workflow's business
            attrs = {
                "scheduledEventId": scheduled,
                "startedEventId": started,
                "reason": type(exc).__name__[:256],
                "details": str(exc)[:32768],
            }
            outcome = "LambdaFunctionFailed"

        def change(run: Run, _tx: Tx) -> None:
            entry = run.state.lambda_tasks.get(scheduled)
            if not run.is_open or entry is None or entry.started_event_id != started:
                return  # timed out (or the run closed) meanwhile: the late result is dropped
            del run.state.lambda_tasks[scheduled]
            run.effects.deadlines_remove.add(deadline("l2c", run_id, int(scheduled)))
            run.add(outcome, attrs)

        try:
            self.engine.transition(dk, run_id, change)
        except UnknownResourceFault:
            pass
