"""Benchmark of the local SWF engine (run by hand; not a test).

    .venv/bin/python bench/engine_bench.py                 # fresh embedded redis-server in a temp dir
    .venv/bin/python bench/engine_bench.py --redis redis://localhost:6379/0
    .venv/bin/python bench/engine_bench.py --only a,b --workflows 500

Every figure goes through ``backends.local.connect``: a real boto3 SWF client
whose requests the engine answers in-process (no HTTP). Sections:

(a) Minimal workflows per second (start -> decision schedules one activity ->
    worker completes it -> decision completes the run), with 1 and with 4
    processes. Each process is a whole application: one starter thread (starts
    its share of the runs), ``--threads`` decider threads and ``--threads``
    worker threads, all long-polling the same two task lists on one client.
    Time runs from the moment every process is ready until the last run closed.
(b) Schedule-to-start latency of an idle long-polling activity worker (its
    own process, one thread, 60 s hold). Three figures per sample:
      - "respond->poll": from the decider's RespondDecisionTaskCompleted
        returning to the worker's PollForActivityTask returning, on
        CLOCK_MONOTONIC (shared by processes). It can be negative: the task is
        dispatchable at the EXEC, before the decider's client has parsed the
        answer.
      - "respond start->poll": from the decider *calling* Respond...; an
        upper bound of the wait seen by the application.
      - "events": ActivityTaskStarted minus ActivityTaskScheduled timestamps.
        Both are the engine's clock at its transaction (ms precision, so each
        sample is +-1 ms); they measure the engine's wake-claim-start path
        without the clients' boto3 work.
(c) GetWorkflowExecutionHistory, page 1 at page sizes 1000 (default) and 100,
    of a 100-event and a 10,000-event run (built with signals), plus the last
    page of the 10,000-event run; through the client, and as the server
    makes its answer (``wire.handle``: validation, engine, the answer's JSON
    bytes; no boto3, no sockets), median of ``--repeat`` calls.
(d) Redis memory per closed minimal execution: ``INFO memory`` used_memory
    delta over N sequential minimal runs, divided by N; with the keys of one
    run (``MEMORY USAGE``).
(e) Where the time goes: one thread running minimal workflows back to back
    under cProfile; Redis round trips (sends on a connection) and commands per
    workflow and per operation.
(s) The cost of the domain's event stream (``flowser listen``): section (a)'s
    4-process run with the stream on (``--stream-maxlen``, default 100,000)
    and off (0), alternately (ABAB..., ``--stream-rounds`` pairs, each on a
    new domain), CPU per workflow of the processes and of redis-server; the
    median of each and their ratio, and the ratio within each round (the
    machine's speed drifts; a round's two runs are close in time). Not in
    the default sections.

``--stream-maxlen N`` runs every other section with that bound (0: no stream).

Targets printed next to the figures: >= 300 minimal workflows/s from 4
processes; p99 schedule-to-start <= 10 ms; page cost flat from 100 to 10,000
events; <= 4 KB per minimal execution.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import json
import multiprocessing as mp
import os
import pstats
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import redis

from backends.local import EngineConfig, connect, wire

WF = {"name": "mini", "version": "1"}
ACT = {"name": "step", "version": "1"}
DECISIONS = {"name": "deciders"}
WORKERS = {"name": "workers"}

SCHEDULE = [
    {
        "decisionType": "ScheduleActivityTask",
        "scheduleActivityTaskDecisionAttributes": {"activityType": ACT, "activityId": "a1", "input": "x"},
    }
]
COMPLETE = [
    {
        "decisionType": "CompleteWorkflowExecution",
        "completeWorkflowExecutionDecisionAttributes": {"result": "ok"},
    }
]


def setup(swf: Any, domain: str) -> None:
    swf.register_domain(name=domain, workflowExecutionRetentionPeriodInDays="1")
    swf.register_workflow_type(
        domain=domain,
        **WF,
        defaultTaskList=DECISIONS,
        defaultExecutionStartToCloseTimeout="3600",
        defaultTaskStartToCloseTimeout="60",
        defaultChildPolicy="TERMINATE",
    )
    swf.register_activity_type(
        domain=domain,
        **ACT,
        defaultTaskList=WORKERS,
        defaultTaskScheduleToStartTimeout="300",
        defaultTaskScheduleToCloseTimeout="600",
        defaultTaskStartToCloseTimeout="300",
        defaultTaskHeartbeatTimeout="NONE",
    )


def decide(swf: Any, task: dict[str, Any]) -> bool:
    """The minimal decider: schedule the activity, then complete once it has completed. True if closed."""
    done = any(e["eventType"] == "ActivityTaskCompleted" for e in task["events"])
    swf.respond_decision_task_completed(taskToken=task["taskToken"], decisions=COMPLETE if done else SCHEDULE)
    return done


def minimal_sequential(swf: Any, domain: str, workflow_id: str) -> None:
    """One minimal workflow, start to close, by one thread (nothing else polls the lists)."""
    swf.start_workflow_execution(domain=domain, workflowId=workflow_id, workflowType=WF)
    task = swf.poll_for_decision_task(domain=domain, taskList=DECISIONS)
    decide(swf, task)
    act = swf.poll_for_activity_task(domain=domain, taskList=WORKERS)
    swf.respond_activity_task_completed(taskToken=act["taskToken"], result="r")
    task = swf.poll_for_decision_task(domain=domain, taskList=DECISIONS)
    assert decide(swf, task)


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))]


def verdict(ok: bool) -> str:
    return "OK" if ok else "MISSED"


# --------------------------------------------------------------------------------------
# (a) throughput
# --------------------------------------------------------------------------------------


def _app_process(
    url: str,
    domain: str,
    index: int,
    share: int,
    threads: int,
    ready: Any,
    go: Any,
    stop: Any,
    closed: Any,
    cpu: Any,
    stream_maxlen: int,
) -> None:
    """One application process: a starter, ``threads`` deciders and ``threads`` workers on one client."""
    swf = connect(url, poll_hold=1.0, config=EngineConfig(stream_maxlen=stream_maxlen))

    def starter() -> None:
        go.wait()
        for i in range(share):
            swf.start_workflow_execution(domain=domain, workflowId=f"m{index}-{i}", workflowType=WF)

    def decider() -> None:
        go.wait()
        while not stop.is_set():
            task = swf.poll_for_decision_task(domain=domain, taskList=DECISIONS)
            if task.get("taskToken") and decide(swf, task):
                with closed.get_lock():
                    closed.value += 1

    def worker() -> None:
        go.wait()
        while not stop.is_set():
            task = swf.poll_for_activity_task(domain=domain, taskList=WORKERS)
            if task.get("taskToken"):
                swf.respond_activity_task_completed(taskToken=task["taskToken"], result="r")

    pool = [threading.Thread(target=starter)]
    pool += [threading.Thread(target=decider) for _ in range(threads)]
    pool += [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    ready.release()
    go.wait()
    used = time.process_time()
    for t in pool:
        t.join()
    with cpu.get_lock():
        cpu.value += time.process_time() - used
    swf.close()


def redis_cpu(r: redis.Redis) -> float:
    info = r.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def throughput(
    url: str, domain: str, processes: int, total: int, threads: int, stream_maxlen: int
) -> tuple[float, float, float]:
    """(workflows/s, CPU ms per workflow of the application processes, of redis-server)."""
    ctx = mp.get_context("spawn")
    ready, go, stop, closed = ctx.Semaphore(0), ctx.Event(), ctx.Event(), ctx.Value("i", 0)
    cpu = ctx.Value("d", 0.0)
    r = redis.Redis.from_url(url)
    shares = [total // processes + (1 if i < total % processes else 0) for i in range(processes)]
    procs = [
        ctx.Process(
            target=_app_process,
            args=(url, domain, i, shares[i], threads, ready, go, stop, closed, cpu, stream_maxlen),
        )
        for i in range(processes)
    ]
    for p in procs:
        p.start()
    for _ in procs:
        if not ready.acquire(timeout=120):
            raise RuntimeError("an application process did not start")
    server_cpu = redis_cpu(r)
    began = time.perf_counter()
    go.set()
    deadline = began + max(120.0, total / 10)
    while closed.value < total and time.perf_counter() < deadline:
        time.sleep(0.002)
    elapsed = time.perf_counter() - began
    done = closed.value
    server_cpu = redis_cpu(r) - server_cpu
    stop.set()
    for p in procs:
        p.join(10)
        if p.is_alive():
            p.terminate()
    if done < total:
        print(f"    (only {done} of {total} runs closed in {elapsed:.0f} s)")
    r.close()
    return done / elapsed, 1000 * cpu.value / max(done, 1), 1000 * server_cpu / max(done, 1)


def section_a(url: str, tag: str, args: argparse.Namespace) -> None:
    print(
        f"\n(a) minimal workflows/s, {args.workflows} runs, each process = 1 starter + "
        f"{args.threads} decider + {args.threads} worker threads, in-process client"
    )
    swf = connect(url, timekeeper=False)
    for processes in (1, 4):
        domain = f"bench-a{processes}-{tag}"
        setup(swf, domain)
        rate, app_cpu, server_cpu = throughput(url, domain, processes, args.workflows, args.threads, args.stream_maxlen)
        target = f"target >= 300/s {verdict(rate >= 300)}" if processes == 4 else ""
        print(
            f"    {processes} process{'es' if processes > 1 else '  '}: {rate:6.1f} workflows/s "
            f"({7 * rate:5.0f} SWF calls/s); CPU per workflow: processes {app_cpu:5.2f} ms, "
            f"redis-server {server_cpu:4.2f} ms   {target}"
        )
    print(
        f"    ({os.cpu_count()} CPUs: the CPU per workflow bounds the rate at "
        f"~{1000 * (os.cpu_count() or 1) / (app_cpu + server_cpu):.0f} workflows/s on this machine)"
    )
    swf.close()


# --------------------------------------------------------------------------------------
# (b) schedule-to-start latency
# --------------------------------------------------------------------------------------


def _idle_worker(url: str, domain: str, conn: Any, stream_maxlen: int) -> None:
    swf = connect(url, poll_hold=60.0, config=EngineConfig(stream_maxlen=stream_maxlen))
    conn.send(("ready", 0.0))
    while True:
        conn.send(("idle", time.perf_counter()))
        task = swf.poll_for_activity_task(domain=domain, taskList=WORKERS, identity="idle-worker")
        got = time.perf_counter()
        if not task.get("taskToken"):
            continue
        conn.send((task["workflowExecution"]["workflowId"], got))
        swf.respond_activity_task_completed(taskToken=task["taskToken"], result="r")
        if task.get("input") == "stop":
            break
    swf.close()


def section_b(url: str, tag: str, args: argparse.Namespace) -> None:
    samples = args.latency_samples
    print(f"\n(b) schedule-to-start, idle long-polling worker in its own process, {samples} samples")
    domain = f"bench-b-{tag}"
    swf = connect(url, poll_hold=5.0, config=EngineConfig(stream_maxlen=args.stream_maxlen))
    setup(swf, domain)
    ctx = mp.get_context("spawn")
    here, there = ctx.Pipe()
    worker = ctx.Process(target=_idle_worker, args=(url, domain, there, args.stream_maxlen))
    worker.start()
    assert here.recv()[0] == "ready"
    after_respond: list[float] = []
    from_call: list[float] = []
    runs: list[tuple[str, str]] = []
    for i in range(samples + 1):
        wid = f"lat{i}"
        rid = swf.start_workflow_execution(domain=domain, workflowId=wid, workflowType=WF)["runId"]
        runs.append((wid, rid))
        task = swf.poll_for_decision_task(domain=domain, taskList=DECISIONS)
        while True:  # the worker is back in its long poll
            kind, _ = here.recv()
            if kind == "idle":
                break
        time.sleep(0.003)
        last = i == samples
        decisions = [{**SCHEDULE[0]}]
        decisions[0]["scheduleActivityTaskDecisionAttributes"] = {
            **SCHEDULE[0]["scheduleActivityTaskDecisionAttributes"],
            "input": "stop" if last else "x",
        }
        called = time.perf_counter()
        swf.respond_decision_task_completed(taskToken=task["taskToken"], decisions=decisions)
        returned = time.perf_counter()
        got_wid, got = here.recv()
        assert got_wid == wid, (got_wid, wid)
        if not last:
            after_respond.append((got - returned) * 1000)
            from_call.append((got - called) * 1000)
        task = swf.poll_for_decision_task(domain=domain, taskList=DECISIONS)
        decide(swf, task)
    worker.join(30)
    from_events: list[float] = []
    for wid, rid in runs[:-1]:
        events = swf.get_workflow_execution_history(
            domain=domain, execution={"workflowId": wid, "runId": rid}
        )["events"]
        stamp = {e["eventType"]: e["eventTimestamp"].timestamp() for e in events}
        from_events.append((stamp["ActivityTaskStarted"] - stamp["ActivityTaskScheduled"]) * 1000)
    swf.close()
    for name, values in (
        ("respond returned -> poll returned", after_respond),
        ("respond called   -> poll returned", from_call),
        ("events: Started - Scheduled (ms)", from_events),
    ):
        p99 = pct(values, 99)
        print(
            f"    {name}: p50 {pct(values, 50):6.2f} ms  p99 {p99:6.2f} ms  max {max(values):6.2f} ms"
            f"   target p99 <= 10 ms {verdict(p99 <= 10)}"
        )


# --------------------------------------------------------------------------------------
# (c) history pages
# --------------------------------------------------------------------------------------


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, float]:
    """(median, min) wall time of ``fn`` in ms."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times), min(times)


def section_c(url: str, tag: str, args: argparse.Namespace) -> None:
    print(f"\n(c) GetWorkflowExecutionHistory, median / min of {args.repeat} calls (ms)")
    domain = f"bench-c-{tag}"
    swf = connect(url, timekeeper=False, config=EngineConfig(stream_maxlen=args.stream_maxlen))
    setup(swf, domain)
    engine = swf.flowser_engine

    def get(params: dict[str, Any]) -> dict[str, Any]:
        return dict(engine.handle("GetWorkflowExecutionHistory", params))

    def answer(params: dict[str, Any]) -> bytes:
        status, _, body = wire.handle(engine, "SimpleWorkflowService.GetWorkflowExecutionHistory", json.dumps(params).encode())
        assert status == 200, body
        return body

    runs = {}
    built = time.perf_counter()
    for events in (100, 10_000):
        wid = f"h{events}"
        rid = swf.start_workflow_execution(domain=domain, workflowId=wid, workflowType=WF)["runId"]
        for i in range(events - 2):  # WorkflowExecutionStarted, DecisionTaskScheduled, then signals
            engine.handle(
                "SignalWorkflowExecution",
                {"domain": domain, "workflowId": wid, "signalName": "s", "input": str(i)},
            )
        runs[events] = {"workflowId": wid, "runId": rid}
        newest = get(
            {"domain": domain, "execution": runs[events], "reverseOrder": True, "maximumPageSize": 1}
        )
        assert newest["events"][0]["eventId"] == events
    print(f"    (built 100- and 10,000-event runs with signals in {time.perf_counter() - built:.1f} s)")
    print("    run events  page          events   boto3 client      wire.handle")
    rows: dict[tuple[int, int], tuple[float, float]] = {}
    cases: list[tuple[int, int, str, dict[str, Any]]] = []
    for events in (100, 10_000):
        for size in (1000, 100):
            params: dict[str, Any] = {"domain": domain, "execution": runs[events]}
            if size != 1000:
                params["maximumPageSize"] = size
            cases.append((events, size, "1", params))
    token = None  # the last page of the long run at size 100 (page 100)
    params = {"domain": domain, "execution": runs[10_000], "maximumPageSize": 100}
    for _ in range(99):
        token = get({**params, **({"nextPageToken": token} if token else {})})["nextPageToken"]
    cases.append((10_000, 100, "last", {**params, "nextPageToken": token}))
    for events, size, page, params in cases:
        got = get(params)["events"]
        client = timed(lambda params=params: swf.get_workflow_execution_history(**params), args.repeat)
        direct = timed(lambda params=params: answer(params), args.repeat)
        if page == "1":
            rows[(events, size)] = direct
        print(
            f"    {events:10d}  {page:>4} of {size:<4d} {len(got):6d}  {client[0]:7.2f} / {client[1]:6.2f}"
            f"  {direct[0]:6.2f} / {direct[1]:5.2f}"
        )
    ratio = rows[(10_000, 100)][1] / rows[(100, 100)][1]
    print(
        f"    a page of 100 events, 10,000- vs 100-event run (min): x{ratio:.2f}   target flat "
        f"{verdict(ratio <= 1.5)}"
    )
    swf.close()


# --------------------------------------------------------------------------------------
# (d) memory
# --------------------------------------------------------------------------------------


def section_d(url: str, tag: str, args: argparse.Namespace) -> None:
    n = args.memory_runs
    print(f"\n(d) Redis memory per closed minimal execution ({n} runs, retention 1 day)")
    domain = f"bench-d-{tag}"
    r = redis.Redis.from_url(url)
    swf = connect(url, timekeeper=False, poll_hold=1.0, config=EngineConfig(stream_maxlen=args.stream_maxlen))
    setup(swf, domain)
    minimal_sequential(swf, domain, "warm-up")  # task lists, wake lists, connections exist before
    time.sleep(0.2)
    before, keys_before = int(r.info("memory")["used_memory"]), int(r.dbsize())
    for i in range(n):
        minimal_sequential(swf, domain, f"mem{i}")
    time.sleep(0.2)
    after, keys_after = int(r.info("memory")["used_memory"]), int(r.dbsize())
    per = (after - before) / n
    from backends.local.keys import DomainKeys

    dk = DomainKeys(domain)
    entries = int(r.xlen(dk.stream))
    stream = int(r.memory_usage(dk.stream, samples=0) or 0) / max(entries, 1) * 11  # 11 entries per run
    print(
        f"    used_memory delta / run: {per:7.0f} B   keys / run: {(keys_after - keys_before) / n:.1f}"
        f"   of which the event stream {stream:.0f} B ({stream / 11:.0f} B per entry; {entries} entries, bound "
        f"{args.stream_maxlen}: a fixed cost per domain once full, about {stream / 11 * args.stream_maxlen / 1e6:.0f} MB)"
    )
    print(f"    per run, the stream aside: {per - stream:7.0f} B   target <= 4096 B {verdict(per - stream <= 4096)}")
    rid = r.zrange(dk.by_workflow_id("mem0"), 0, 0)[0].decode()
    for label, key in (
        ("run state", dk.run(rid)),
        ("history (11 events)", dk.history(rid)),
        ("x:wf:<workflowId> index", dk.by_workflow_id("mem0")),
    ):
        print(
            f"    {label:28s} MEMORY USAGE {int(r.memory_usage(key) or 0):5d} B  (serialized {len(r.dump(key) or b''):5d} B)"
        )
    shared = [
        dk.closed,
        dk.closed_by_close,
        dk.by_type(WF["name"]),
        dk.by_close_status("COMPLETED"),
        dk.deadlines,
    ]
    total = sum(int(r.memory_usage(k) or 0) for k in shared)
    print(f"    shared ZSETs (closed, closedc, x:ty, x:cs, deadlines): {total / (n + 1):.0f} B per run")
    swf.close()
    r.close()


# --------------------------------------------------------------------------------------
# (e) where the time goes
# --------------------------------------------------------------------------------------


class RoundTrips:
    """Counts sends on Redis connections (one per command or per pipeline) by SWF operation."""

    def __init__(self, engine: Any) -> None:
        self.by_op: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()
        self.local = threading.local()
        self.engine = engine

    @contextlib.contextmanager
    def counting(self) -> Iterator[None]:
        conn_cls = redis.connection.AbstractConnection
        original_send = conn_cls.send_packed_command
        original_handle = self.engine.handle
        counter = self

        def send(conn: Any, command: Any, check_health: bool = True) -> None:
            counter.by_op[getattr(counter.local, "op", None) or "(other threads)"] += 1
            return original_send(conn, command, check_health)

        def handle(operation: str, params: Any) -> dict[str, Any]:
            counter.local.op = operation
            counter.calls[operation] += 1
            try:
                return original_handle(operation, params)
            finally:
                counter.local.op = None

        conn_cls.send_packed_command = send  # type: ignore[method-assign]
        self.engine.handle = handle
        try:
            yield
        finally:
            conn_cls.send_packed_command = original_send  # type: ignore[method-assign]
            del self.engine.handle


def command_stats(r: redis.Redis) -> Counter[str]:
    return Counter({k.split("_", 1)[1]: int(v["calls"]) for k, v in r.info("commandstats").items()})


def minimal_engine(engine: Any, domain: str, workflow_id: str) -> None:
    """``minimal_sequential`` through ``Engine.handle``: no boto3, no wire codec."""
    h = engine.handle
    h("StartWorkflowExecution", {"domain": domain, "workflowId": workflow_id, "workflowType": WF})
    for decisions in (SCHEDULE, None):
        task = h("PollForDecisionTask", {"domain": domain, "taskList": DECISIONS})
        if decisions is None:
            h("RespondDecisionTaskCompleted", {"taskToken": task["taskToken"], "decisions": COMPLETE})
            break
        h("RespondDecisionTaskCompleted", {"taskToken": task["taskToken"], "decisions": decisions})
        act = h("PollForActivityTask", {"domain": domain, "taskList": WORKERS})
        h("RespondActivityTaskCompleted", {"taskToken": act["taskToken"], "result": "r"})


def threaded_in_process(swf: Any, domain: str, n: int, threads: int) -> tuple[float, float]:
    """Section (a)'s application in this process (for counting): (workflows/s, CPU ms per workflow)."""
    closed = [0]
    stop = threading.Event()
    lock = threading.Lock()

    def starter() -> None:
        for i in range(n):
            swf.start_workflow_execution(domain=domain, workflowId=f"t{i}", workflowType=WF)

    def decider() -> None:
        while not stop.is_set():
            task = swf.poll_for_decision_task(domain=domain, taskList=DECISIONS)
            if task.get("taskToken") and decide(swf, task):
                with lock:
                    closed[0] += 1

    def worker() -> None:
        while not stop.is_set():
            task = swf.poll_for_activity_task(domain=domain, taskList=WORKERS)
            if task.get("taskToken"):
                swf.respond_activity_task_completed(taskToken=task["taskToken"], result="r")

    pool = [threading.Thread(target=starter)]
    pool += [threading.Thread(target=f) for f in (decider, worker) for _ in range(threads)]
    began, used = time.perf_counter(), time.process_time()
    for t in pool:
        t.start()
    while closed[0] < n:
        time.sleep(0.002)
    rate, cpu = n / (time.perf_counter() - began), (time.process_time() - used) * 1000 / n
    stop.set()
    for t in pool:
        t.join()
    return rate, cpu


def print_trips(trips: RoundTrips, stats: Counter[str], n: int) -> None:
    stats = +Counter({k: v for k, v in stats.items() if k not in ("info", "blpop")}) + Counter(
        blpop=stats.get("blpop", 0)
    )
    print(
        f"      Redis round trips per workflow: {sum(trips.by_op.values()) / n:.1f}; "
        f"Redis commands per workflow (incl. in MULTI and Lua): {sum(stats.values()) / n:.1f}"
    )
    for op, count in sorted(trips.by_op.items(), key=lambda kv: -kv[1]):
        calls = trips.calls.get(op, 0)
        per_call = f"({count / calls:.1f} per call)" if calls else ""
        print(f"        {op:32s} {count / n:5.1f} {per_call}")
    print("      commands: " + ", ".join(f"{c} {v / n:.1f}" for c, v in stats.most_common(16) if v))


def section_e(url: str, tag: str, args: argparse.Namespace) -> None:
    n = args.profile_runs
    print(f"\n(e) where the time goes: minimal workflows, one process ({n} per figure)")
    domain = f"bench-e-{tag}"
    r = redis.Redis.from_url(url)
    swf = connect(url, poll_hold=1.0, config=EngineConfig(stream_maxlen=args.stream_maxlen))
    setup(swf, domain)
    engine = swf.flowser_engine
    minimal_sequential(swf, domain, "warm-up")
    for label, run in (
        ("boto3 client", lambda i: minimal_sequential(swf, domain, f"plain{i}")),
        ("Engine.handle (no boto3, no wire codec)", lambda i: minimal_engine(engine, domain, f"direct{i}")),
    ):
        t, c = time.perf_counter(), time.process_time()
        for i in range(n):
            run(i)
        wall, cpu = (time.perf_counter() - t) / n * 1000, (time.process_time() - c) / n * 1000
        print(f"    one thread, back to back, via {label}: {wall:.2f} ms/workflow ({cpu:.2f} ms CPU)")

    print(
        f"    section (a)'s application in this process (1 starter + {args.threads} + {args.threads} threads):"
    )
    trips = RoundTrips(engine)
    before = command_stats(r)
    with trips.counting():
        rate, cpu = threaded_in_process(swf, domain, n, args.threads)
    stats = command_stats(r) - before
    print(
        f"      {rate:.0f} workflows/s, {cpu:.2f} ms CPU/workflow; claim scripts per task: "
        f"{stats.get('evalsha', 0) / (3 * n):.2f} (3 tasks per workflow)"
    )
    print_trips(trips, stats, n)

    print("    one thread, back to back, via the boto3 client, under cProfile:")
    trips = RoundTrips(engine)
    profiler = cProfile.Profile()
    with trips.counting():
        profiler.enable()
        for i in range(n):
            minimal_sequential(swf, domain, f"prof{i}")
        profiler.disable()
    ps = pstats.Stats(profiler)
    total = ps.total_tt  # type: ignore[attr-defined]
    groups: Counter[str] = Counter()
    for (filename, _, _), (_, _, tottime, _, _) in ps.stats.items():  # type: ignore[attr-defined]
        groups[_area(filename)] += tottime
    print(f"      own (wall) time by area, {1000 * total / n:.2f} ms per workflow profiled:")
    for area, spent in groups.most_common(12):
        print(f"        {area:48s} {100 * spent / total:5.1f} %  {1000 * spent / n:6.3f} ms/workflow")
    for order, count in (("cumulative", 30), ("tottime", 15)):
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats(order).print_stats(count)
        lines = out.getvalue().splitlines()
        head = next(i for i, ln in enumerate(lines) if "ncalls" in ln)
        print(f"      top functions by {order} time:")
        for ln in lines[head:] if args.verbose_profile else lines[head : head + count + 1]:
            if ln.strip():
                print("        " + ln.replace(os.path.dirname(redis.__path__[0]) + "/", "")[:150])
    swf.close()
    r.close()


def _area(filename: str) -> str:
    """A profiled function's file, as the part of the stack it belongs to."""
    if "backends/local/" in filename:
        name = os.path.basename(filename)
        return "engine: " + ("request validation" if name == "validation.py" else name)
    for lib in (
        "botocore",
        "boto3",
        "redis",
        "msgpack",
        "pydantic_core",
        "pydantic",
        "json",
        "threading",
        "socket",
    ):
        if f"/{lib}/" in filename or filename.endswith(f"/{lib}.py"):
            return lib
    if filename == "~":
        return "C builtins (socket send/recv = waiting on Redis, json, msgpack)"
    return "other Python (" + os.path.basename(filename) + ")"


# --------------------------------------------------------------------------------------
# (s) the event stream's cost
# --------------------------------------------------------------------------------------


def section_s(url: str, tag: str, args: argparse.Namespace) -> None:
    bound = args.stream_maxlen or EngineConfig().stream_maxlen
    rounds = args.stream_rounds
    print(
        f"\n(s) the event stream's cost: section (a) with 4 processes, {args.workflows} runs, stream on "
        f"(bound {bound}) and off, alternately, {rounds} rounds"
    )
    swf = connect(url, timekeeper=False)
    figures: dict[str, list[tuple[float, float, float]]] = {"on": [], "off": []}
    for i in range(rounds):
        for label, maxlen in (("on", bound), ("off", 0)) if i % 2 == 0 else (("off", 0), ("on", bound)):
            domain = f"bench-s{i}{label}-{tag}"
            setup(swf, domain)
            rate, app_cpu, server_cpu = throughput(url, domain, 4, args.workflows, args.threads, maxlen)
            figures[label].append((rate, app_cpu, server_cpu))
            print(
                f"    round {i + 1} stream {label:3s}: {rate:6.1f} workflows/s; CPU per workflow: processes "
                f"{app_cpu:5.2f} ms, redis-server {server_cpu:4.2f} ms, total {app_cpu + server_cpu:5.2f} ms"
            )
    medians = {
        label: tuple(statistics.median(f[k] for f in rows) for k in range(3)) for label, rows in figures.items()
    }
    for label, (rate, app_cpu, server_cpu) in medians.items():
        print(
            f"    median, stream {label:3s}: {rate:6.1f} workflows/s; CPU per workflow: processes {app_cpu:5.2f} ms, "
            f"redis-server {server_cpu:4.2f} ms, total {app_cpu + server_cpu:5.2f} ms"
        )
    on, off = medians["on"], medians["off"]
    extra = (on[1] + on[2]) / (off[1] + off[2]) - 1
    paired = [(a[1] + a[2]) / (b[1] + b[2]) - 1 for a, b in zip(figures["on"], figures["off"], strict=True)]
    print(
        "    each round, on against off: " + ", ".join(f"{100 * p:+.1f} %" for p in paired)
        + f"; median {100 * statistics.median(paired):+.1f} %"
    )
    print(
        f"    the stream costs {100 * extra:+.1f} % CPU per workflow (processes {100 * (on[1] / off[1] - 1):+.1f} %, "
        f"redis-server {100 * (on[2] / off[2] - 1):+.1f} %)   target <= +10 % {verdict(extra <= 0.10)}"
    )
    swf.close()


# --------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--redis", help="Redis URL (default: a fresh embedded redis-server in a temp dir)")
    parser.add_argument("--only", default="a,b,c,d,e", help="sections to run, e.g. a,c")
    parser.add_argument("--workflows", type=int, default=2000, help="(a) runs per measurement")
    parser.add_argument("--threads", type=int, default=4, help="(a) decider and worker threads per process")
    parser.add_argument("--latency-samples", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=100, help="(c) calls per figure")
    parser.add_argument("--memory-runs", type=int, default=1000)
    parser.add_argument("--profile-runs", type=int, default=300)
    parser.add_argument("--verbose-profile", action="store_true")
    parser.add_argument(
        "--stream-maxlen", type=int, default=EngineConfig().stream_maxlen,
        help="bound of the domains' event streams (0: none); (s) compares it with 0",
    )
    parser.add_argument("--stream-rounds", type=int, default=6, help="(s) rounds, each stream on then off or off then on")
    args = parser.parse_args(argv)
    sections = set(args.only.split(","))
    tag = str(int(time.time()))

    data_dir = None
    server = None
    url = args.redis
    if not url:
        from backends.local.embedded import EmbeddedRedis

        data_dir = tempfile.mkdtemp(prefix="flowser-bench-", dir="/tmp")
        server = EmbeddedRedis.acquire(data_dir)
        url = server.url
    info = redis.Redis.from_url(url).info("server")
    load = os.getloadavg()[0]
    if load > 0.5:
        print(
            f"note: load average {load:.1f} before starting: other work shares these CPUs; figures will be low"
        )
    print(
        f"flowser engine bench: Redis {info['redis_version']} at {url}; {os.cpu_count()} CPUs; "
        f"Python {sys.version.split()[0]}"
    )
    try:
        for name, fn in (
            ("a", section_a),
            ("b", section_b),
            ("c", section_c),
            ("d", section_d),
            ("e", section_e),
            ("s", section_s),
        ):
            if name in sections:
                fn(url, tag, args)
    finally:
        if server is not None:
            server.close()
        if data_dir is not None:
            shutil.rmtree(data_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
