"""Prometheus metrics of one server process (text exposition format 0.0.4).

Counted in this process (sum them over the processes sharing a Redis):
requests and errors per operation, request durations, polls held now,
refused past the cap and abandoned, event streams (``/flowser/listen``)
open now and begun, and the events they sent, and, as the engine's observer
(``backends.local.observers``), the schedule-to-start latency of every task
this process handed out and the timeouts and timers its timekeeper fired.

Asked of the engine at each scrape (the same for every process): open
executions per domain and pending tasks per task list (what
``CountPending*Tasks`` answers: dispatchable tasks, tasks claimed and not
yet started, and for decision lists the runs whose scheduled decision task
waits behind a started one).

Under ``flowser serve --processes N`` a scrape reaches one of the N
processes; it answers for all of them (``merge``): every series counted in a
process is summed over the N (they are all counters, gauges of this process,
and histogram buckets, sums and counts), and the series asked of the engine
are its own.
"""

from __future__ import annotations

import bisect
import logging
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from backends.local.engine import Engine
from backends.local.events import event_time
from backends.local.observers import DeadlineFired, TaskStarted
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
        self.streams_open = 0
        self.streams_total = 0
        self.stream_events = 0
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

    def stream_opened(self) -> None:
        with self._lock:
            self.streams_open += 1
            self.streams_total += 1

    def stream_sent(self, events: int) -> None:
        """A ``/flowser/listen`` stream sent ``events`` more events."""
        with self._lock:
            self.stream_events += events

    def stream_closed(self) -> None:
        with self._lock:
            self.streams_open -= 1

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

    def observe(self, event: Any) -> None:
        """The engine's observer (``backends.local.observers``): timeouts and timers fired, tasks started."""
        if isinstance(event, DeadlineFired):
            self.fired(event.domain, event.kind)
        elif isinstance(event, TaskStarted):
            kind = "decision" if event.kind == "d" else "activity"
            with self._lock:
                self._delivered.append((kind, event.domain, event.run_id, event.scheduled_event_id, event.started_event_id))
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
            wanted = [(domain, run_id, event_id) for _, domain, run_id, scheduled, started in batch for event_id in (scheduled, started)]
            raw = engine.store.history_events(wanted)
        except Exception:
            log.warning("could not read schedule-to-start latencies", exc_info=True)
            return
        for i, (kind, domain, *_) in enumerate(batch):
            raw_scheduled, raw_started = raw[2 * i], raw[2 * i + 1]
            if raw_scheduled is None or raw_started is None:
                continue  # purged meanwhile
            latency = event_time(raw_started) - event_time(raw_scheduled)
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
            streams = (self.streams_open, self.streams_total, self.stream_events)

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
        family("flowser_listen_streams", "gauge", "Event streams (/flowser/listen) this process is sending now.")
        out.append(f"flowser_listen_streams {streams[0]}")
        family("flowser_listen_streams_total", "counter", "Event streams (/flowser/listen) this process began.")
        out.append(f"flowser_listen_streams_total {streams[1]}")
        family("flowser_listen_events_total", "counter", "History events sent on event streams (/flowser/listen).")
        out.append(f"flowser_listen_events_total {streams[2]}")
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
        domains = sorted(engine.store.domain_names())
        open_counts = engine.store.open_counts(domains)
        out = [
            "# HELP flowser_open_executions Open workflow executions, by domain.",
            "# TYPE flowser_open_executions gauge",
        ]
        out += [f"flowser_open_executions{_labels(domain=d)} {n}" for d, n in zip(domains, open_counts, strict=True)]

        # task lists: those holding something now (the engine's own count), and those seen before (now 0)
        counts: dict[tuple[str, str, str], int] = {}
        for domain in domains:
            for (kind, name), count in engine.polling.pending_by_task_list(domain, MAX_TASK_LISTS).items():
                counts[(domain, kind, name)] = count
        lists = sorted({*counts, *(t for t in self._task_lists if t[0] in domains)})[:MAX_TASK_LISTS]
        with self._lock:
            self._task_lists = set(lists)
        out.append("# HELP flowser_pending_tasks Tasks waiting on a task list (as CountPending*Tasks counts them).")
        out.append("# TYPE flowser_pending_tasks gauge")
        for domain, kind, name in lists:
            label = "decision" if kind == "d" else "activity"
            pending = counts.get((domain, kind, name), 0)
            out.append(f"flowser_pending_tasks{_labels(domain=domain, kind=label, task_list=name)} {pending}")
        return out


ENGINE_FAMILIES = ("flowser_open_executions", "flowser_pending_tasks")
"""Series asked of the engine at each scrape: the same in every process, never summed."""


def merge(own: str, others: Iterable[str]) -> str:
    """One process's exposition with the process-counted series of ``others`` added in:
    the same series are summed, series only others have are appended to their family."""
    def samples(text: str) -> list[tuple[str, str]]:
        out = []
        for line in text.splitlines():
            if line and not line.startswith("#"):
                series, _, value = line.rpartition(" ")
                if not series.startswith(ENGINE_FAMILIES):
                    out.append((series, value))
        return out

    totals: dict[str, float] = {}
    extra: dict[str, list[str]] = defaultdict(list)  # family -> series only other processes have
    own_series = {series for series, _ in samples(own)}
    for text in others:
        for series, value in samples(text):
            totals[series] = totals.get(series, 0.0) + float(value)
            if series not in own_series and series not in extra[_family(series)]:
                extra[_family(series)].append(series)
    lines: list[str] = []
    for line in own.splitlines():
        if line.startswith("# TYPE "):
            family = line.split()[2]
            lines.append(line)
            lines.extend(f"{series} {_number(totals[series])}" for series in extra.pop(family, []))
            continue
        if line and not line.startswith("#"):
            series, _, value = line.rpartition(" ")
            if series in totals:
                line = f"{series} {_number(float(value) + totals[series])}"
        lines.append(line)
    return "\n".join(lines) + "\n"


def _family(series: str) -> str:
    name = series.partition("{")[0]
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix):
            return name.removesuffix(suffix)
    return name


def _number(value: float) -> str:
    return str(int(value)) if value.is_integer() else repr(value)
