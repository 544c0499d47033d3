"""Prometheus metrics of one server process (text exposition format 0.0.4).

Counted in this process (sum them over the processes sharing a Redis):
requests and errors per operation, request durations, polls held now and
polls refused past the cap, the schedule-to-start latency of every task this
process handed out, and the timeouts and timers its timekeeper fired.

Read from Redis at each scrape (the same for every process): open executions
per domain and pending tasks per task list (what ``CountPending*Tasks``
answers: dispatchable tasks, plus for decision lists the runs whose
scheduled decision task waits behind a started one).
"""

from __future__ import annotations

import bisect
import logging
import re
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from backends.local.engine import Engine, decode_token
from backends.local.events import load_event
from backends.local.keys import DOMAINS, PREFIX, DomainKeys, tag
from backends.local.timeouts import ACTIVITY_TIMEOUTS

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
log = logging.getLogger("flowser.http.metrics")

MAX_TASK_LISTS = 2000
"""Task-list series reported at most (the busiest first)."""

# deadline kinds (``backends.local.timeouts``) -> (what timed out, timeout type)
TIMEOUT_KINDS: dict[str, tuple[str, str]] = {
    "wto": ("workflow", "START_TO_CLOSE"),
    "dto": ("decision", "START_TO_CLOSE"),
    "dts": ("decision", "SCHEDULE_TO_START"),
    "l2c": ("lambda", "START_TO_CLOSE"),
    **{kind: ("activity", timeout) for kind, timeout in ACTIVITY_TIMEOUTS.items()},
}
_TOKEN = re.compile(rb'^\{"taskToken":"([A-Za-z0-9_=-]+)"')


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(**labels: str) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items()) + "}"


class _Histogram:
    def __init__(self) -> None:
        self.counts = [0] * (len(LATENCY_BUCKETS) + 1)
        self.total = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(LATENCY_BUCKETS, value)] += 1
        self.total += value

    def lines(self, name: str, labels: dict[str, str]) -> Iterable[str]:
        running = 0
        for bound, count in zip((*LATENCY_BUCKETS, float("inf")), self.counts, strict=True):
            running += count
            le = "+Inf" if bound == float("inf") else repr(bound)
            yield f"{name}_bucket{_labels(**labels, le=le)} {running}"
        yield f"{name}_sum{_labels(**labels)} {self.total!r}"
        yield f"{name}_count{_labels(**labels)} {running}"


class Metrics:
    """Counters of one process, and the scrape that adds what Redis knows."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: dict[str, int] = defaultdict(int)
        self.errors: dict[tuple[str, str], int] = defaultdict(int)
        self.duration: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
        self.latency: dict[tuple[str, str], _Histogram] = {}
        self.timeouts: dict[tuple[str, str, str], int] = defaultdict(int)
        self.timers: dict[str, int] = defaultdict(int)
        self.polls_refused = 0
        self.polls_abandoned = 0
        self.held_polls: Callable[[], int] = lambda: 0
        self._task_lists: set[tuple[str, str, str]] = set()
        self._delivered: list[tuple[str, str, str, int, int]] = []
        self._pending = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    # -- recording ----------------------------------------------------------------------
    def request(self, operation: str, seconds: float, error: str | None) -> None:
        with self._lock:
            self.requests[operation] += 1
            total = self.duration[operation]
            total[0] += seconds
            total[1] += 1.0
            if error is not None:
                self.errors[(operation, error)] += 1

    def refused_poll(self) -> None:
        with self._lock:
            self.polls_refused += 1

    def abandoned_poll(self) -> None:
        with self._lock:
            self.polls_abandoned += 1

    def schedule_to_start(self, kind: str, domain: str, seconds: float) -> None:
        with self._lock:
            histogram = self.latency.get((kind, domain))
            if histogram is None:
                histogram = self.latency[(kind, domain)] = _Histogram()
            histogram.observe(max(seconds, 0.0))

    def fired(self, domain: str, kind: str) -> None:
        """A deadline of ``kind`` (``backends.local.timeouts``) fired and changed a run."""
        with self._lock:
            if kind == "tmr":
                self.timers[domain] += 1
            elif kind in TIMEOUT_KINDS:
                what, timeout = TIMEOUT_KINDS[kind]
                self.timeouts[(domain, what, timeout)] += 1

    def instrument(self, engine: Engine) -> None:
        """Count the timeouts and timers this process's timekeeper fires.

        The engine has no hook for it: this wraps ``timeouts.fire`` (the pure
        transition a due deadline goes through; True when it changed the run)
        and ``engine.commit``, and counts what fired in transactions that
        committed (an attempt retried after a conflict is not counted twice).
        If a later engine lacks either, those counters stay at 0.
        """
        from backends.local import timeouts

        original_fire = getattr(timeouts, "fire", None)
        original_commit = getattr(engine, "commit", None)
        if not callable(original_fire) or not callable(original_commit):
            log.warning("cannot count fired timeouts and timers with this engine; those metrics stay at 0")
            return
        local = threading.local()

        def fire(run: Any, kind: str, *args: Any, **kwargs: Any) -> Any:
            changed = original_fire(run, kind, *args, **kwargs)
            fired = getattr(local, "fired", None)
            if changed and fired is not None:
                fired.append((str(run.s.get("d", "")), kind))
            return changed

        def commit(watch: Any, body: Callable[[Any], Any], *args: Any, **kwargs: Any) -> Any:
            if getattr(local, "fired", None) is not None:  # nested: the outer commit counts
                return original_commit(watch, body, *args, **kwargs)

            def attempt(tx: Any) -> Any:
                local.fired = []
                return body(tx)

            try:
                result = original_commit(watch, attempt, *args, **kwargs)
                fired = local.fired or []
            finally:
                local.fired = None
            for domain, kind in fired:
                self.fired(domain, kind)
            return result

        timeouts.fire = fire  # one engine per server process
        engine.commit = commit  # type: ignore[method-assign]

    def task_delivered(self, operation: str, body: bytes) -> None:
        """Note the task a poll answered with; its latency is read later, in batches (``flush``)."""
        match = _TOKEN.match(body)
        if match is None:
            return
        kind = "decision" if operation == "PollForDecisionTask" else "activity"
        try:
            domain, run_id, scheduled, started = decode_token(match.group(1).decode(), kind[0])
        except Exception:  # bookkeeping only: never let it disturb serving
            return
        with self._lock:
            self._delivered.append((kind, domain, run_id, scheduled, started))
            first = len(self._delivered) == 1
        if first:
            self._pending.set()

    def flush(self, engine: Engine) -> None:
        """Schedule-to-start latencies of the tasks handed out since the last flush (one Redis round trip)."""
        with self._lock:
            batch, self._delivered = self._delivered, []
        if not batch:
            return
        try:
            with engine.r.pipeline(transaction=False) as pipe:
                for _, domain, run_id, scheduled, started in batch:
                    history = DomainKeys(domain).history(run_id)
                    pipe.lindex(history, scheduled - 1)
                    pipe.lindex(history, started - 1)
                raw = pipe.execute()
        except Exception:
            log.warning("could not read schedule-to-start latencies", exc_info=True)
            return
        for i, (kind, domain, *_) in enumerate(batch):
            raw_scheduled, raw_started = raw[2 * i], raw[2 * i + 1]
            if raw_scheduled is None or raw_started is None:
                continue  # purged meanwhile
            latency = float(load_event(raw_started)["eventTimestamp"]) - float(load_event(raw_scheduled)["eventTimestamp"])
            self.schedule_to_start(kind, domain, latency)

    def start(self, engine: Engine, interval: float = 0.25) -> Metrics:
        """Flush in the background, at most every ``interval`` seconds, while tasks are handed out."""

        def loop() -> None:
            while not self._stopping.is_set():
                self._pending.wait()
                self._pending.clear()
                self.flush(engine)
                self._stopping.wait(interval)

        self._thread = threading.Thread(target=loop, name="flowser-metrics", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._pending.set()
        if self._thread is not None:
            self._thread.join(5)

    # -- scrape -------------------------------------------------------------------------
    def render(self, engine: Engine) -> str:
        self.flush(engine)
        out: list[str] = []
        with self._lock:
            requests = dict(self.requests)
            errors = dict(self.errors)
            duration = {k: tuple(v) for k, v in self.duration.items()}
            latency = {k: (list(h.counts), h.total) for k, h in self.latency.items()}
            timeouts = dict(self.timeouts)
            timers = dict(self.timers)
            refused = self.polls_refused
            abandoned = self.polls_abandoned

        def family(name: str, kind: str, help_text: str) -> None:
            out.append(f"# HELP {name} {help_text}")
            out.append(f"# TYPE {name} {kind}")

        family("flowser_requests_total", "counter", "SWF requests answered, by operation ('unknown' if none).")
        for op, count in sorted(requests.items()):
            out.append(f"flowser_requests_total{_labels(operation=op)} {count}")
        family("flowser_request_errors_total", "counter", "SWF requests answered with an error, by operation and code.")
        for (op, code), count in sorted(errors.items()):
            out.append(f"flowser_request_errors_total{_labels(operation=op, code=code)} {count}")
        family("flowser_request_duration_seconds", "summary", "Time to answer SWF requests (polls include holding).")
        for op, (seconds, calls) in sorted(duration.items()):
            out.append(f"flowser_request_duration_seconds_sum{_labels(operation=op)} {seconds!r}")
            out.append(f"flowser_request_duration_seconds_count{_labels(operation=op)} {int(calls)}")
        family("flowser_polls_held", "gauge", "Polls this process is holding now.")
        out.append(f"flowser_polls_held {self.held_polls()}")
        family("flowser_polls_refused_total", "counter", "Polls refused because the cap on held polls was reached.")
        out.append(f"flowser_polls_refused_total {refused}")
        family(
            "flowser_polls_abandoned_total",
            "counter",
            "Polls ended unanswered, claiming nothing: the poller closed its connection or sent another request on it.",
        )
        out.append(f"flowser_polls_abandoned_total {abandoned}")
        family(
            "flowser_schedule_to_start_seconds",
            "histogram",
            "From a task's *Scheduled event to its *Started event, for tasks this process handed out.",
        )
        for (kind, domain), (counts, total) in sorted(latency.items()):
            histogram = _Histogram()
            histogram.counts = counts
            histogram.total = float(total)
            out.extend(histogram.lines("flowser_schedule_to_start_seconds", {"kind": kind, "domain": domain}))
        family("flowser_timeouts_fired_total", "counter", "Timeouts fired by this process's timekeeper.")
        for (domain, what, timeout), count in sorted(timeouts.items()):
            out.append(f"flowser_timeouts_fired_total{_labels(domain=domain, kind=what, type=timeout)} {count}")
        family("flowser_timers_fired_total", "counter", "Timers fired by this process's timekeeper.")
        for domain, count in sorted(timers.items()):
            out.append(f"flowser_timers_fired_total{_labels(domain=domain)} {count}")
        out.extend(self._from_redis(engine))
        return "\n".join(out) + "\n"

    def _from_redis(self, engine: Engine) -> list[str]:
        r: Any = engine.r
        domains = sorted(d.decode() for d in r.hkeys(DOMAINS))
        by_tag = {tag(d): d for d in domains}
        with r.pipeline(transaction=False) as pipe:
            for domain in domains:
                pipe.zcard(DomainKeys(domain).open)
            open_counts = pipe.execute()
        out = [
            "# HELP flowser_open_executions Open workflow executions, by domain.",
            "# TYPE flowser_open_executions gauge",
        ]
        out += [f"flowser_open_executions{_labels(domain=d)} {n}" for d, n in zip(domains, open_counts, strict=True)]

        # task lists: those Redis holds now (empty ones vanish from Redis), and those seen before (now 0)
        found: set[tuple[str, str, str]] = set(self._task_lists)
        pattern = re.compile(rf"^{PREFIX}:\{{([0-9a-f]+)\}}:tl:([da]):(.*?)(:held)?$", re.S)
        for key_type in ("zset", "set"):
            for raw in r.scan_iter(match=f"{PREFIX}:*:tl:*", count=1000, _type=key_type):
                match = pattern.match(raw.decode("utf-8", "replace"))
                if match is None or match.group(1) not in by_tag:
                    continue
                if (key_type == "set") != (match.group(4) is not None):
                    continue
                found.add((by_tag[match.group(1)], match.group(2), match.group(3)))
                if len(found) >= MAX_TASK_LISTS:
                    break
        lists = sorted(t for t in found if t[0] in by_tag.values())
        with r.pipeline(transaction=False) as pipe:
            for domain, kind, name in lists:
                dk = DomainKeys(domain)
                pipe.zcard(dk.task_list(kind, name))
                if kind == "d":
                    pipe.scard(dk.held(name))
                else:
                    pipe.echo(b"0")
            counts = pipe.execute()
        with self._lock:
            self._task_lists = set(lists)
        out.append("# HELP flowser_pending_tasks Tasks waiting on a task list (as CountPending*Tasks counts them).")
        out.append("# TYPE flowser_pending_tasks gauge")
        for i, (domain, kind, name) in enumerate(lists):
            pending = int(counts[2 * i]) + int(counts[2 * i + 1])
            label = "decision" if kind == "d" else "activity"
            out.append(f"flowser_pending_tasks{_labels(domain=domain, kind=label, task_list=name)} {pending}")
        return out
