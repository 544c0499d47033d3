"""Benchmark of ``flowser serve`` against a minimal reference endpoint and ``moto_server`` (run by hand; not a test).

    .venv/bin/python bench/server_bench.py                    # all three servers, the full run
    .venv/bin/python bench/server_bench.py --skip moto --workflows 1000   # flowser and the reference, one run
    .venv/bin/python bench/server_bench.py --only flowser --workflows 500
    .venv/bin/python bench/server_bench.py --moto-workflows 300 --json out.json
    .venv/bin/python bench/server_bench.py --unsigned     # clients skip SigV4 signing (less client CPU)
    .venv/bin/python bench/server_bench.py --skip moto --reference-redis   # + the reference writing to Redis

Each server is started as its own process (``python -m flowser.cli serve
--redis <url>`` on a fresh embedded redis-server in a temp dir, default 50 s
poll hold; ``bench/reference_server.py``, an in-memory endpoint that answers
only these calls, whose clients' CPU is what these calls cost boto3 at the
least; ``python -m moto.server``) and driven the same way, by real boto3
clients in separate processes (spawned: each imports boto3 itself):

1. ready: from launching the server process to its first answer.
2. one in flight: ``--single`` minimal workflows one after another (start ->
   a decider schedules one activity -> a worker completes it -> a decider
   completes the run), with 2 decider and 2 worker processes polling.
3. busy: ``--workflows`` minimal workflows, ``--in-flight`` at a time (the
   main process starts a new one whenever one completes): workflows/s, CPU
   per workflow of the server (+ Redis) and of the clients (deciders,
   workers, the starter: on 2 cores they share the CPU with the server), and
   the empty polls the deciders and workers got meanwhile (there is always
   work, so any is wasted).
   Schedule-to-start (phases 2 and 3) comes from the histories afterwards:
   DecisionTaskStarted - DecisionTaskScheduled and ActivityTaskStarted -
   ActivityTaskScheduled, both the server's own timestamps.
4. fan-out: ``--fanout-runs`` workflows whose first decision schedules 100
   activities; the run closes when all are done: seconds per execution.
5. idle: the same 4 pollers with nothing to do for 10 s: polls answered and
   CPU (server + Redis) in cores.
6. history: GetWorkflowExecutionHistory of a 1,000-event run (built with
   signals), through boto3, median of 20 reads.
7. 1,000 idle long polls: a separate asyncio process keeps 1,000
   PollForActivityTask requests outstanding on an empty task list for 10 s:
   the server's RSS, CPU and polls answered.

``--reference-redis`` runs the reference once more, writing each change to a
fresh embedded redis-server in one round trip (``reference_server.py
--redis``), its CPU counted with Redis's: column ref+Redis, a floor for any
server that keeps its executions in Redis.

moto_server runs in-memory (no Redis); its workflows use ``--moto-workflows``
(it sleeps 1 s per empty poll, so it is slow) and each phase there has a time
cap. The last table prints flowser's figure, moto's, and their ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing as mp
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
WF = {"name": "bench-wf", "version": "1"}
ACT = {"name": "bench-act", "version": "1"}
TASK_LIST = "bench"


# -- helpers ------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def client(url: str) -> Any:
    import boto3
    from botocore.config import Config

    extra: dict[str, Any] = {}
    if os.environ.get("FLOWSER_BENCH_UNSIGNED"):  # --unsigned (inherited by the spawned clients)
        from botocore import UNSIGNED

        extra["signature_version"] = UNSIGNED
    return boto3.session.Session().client(
        "swf",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
        config=Config(read_timeout=70, connect_timeout=5, retries={"max_attempts": 3, "mode": "standard"},
                      max_pool_connections=50, **extra),
    )


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


# -- the client processes -----------------------------------------------------------------
def counted_poll(counts: Any, poll: Any, **params: Any) -> dict[str, Any] | None:
    """One poll, counted in ``counts`` (polls, empty polls, errors); the task, or None."""
    try:
        task = poll(**params)
    except Exception:
        with counts.get_lock():
            counts[2] += 1
        time.sleep(0.05)
        return None
    with counts.get_lock():
        counts[0] += 1
        if not task.get("taskToken"):
            counts[1] += 1
    return task if task.get("taskToken") else None


def decider(url: str, domain: str, done: Any, counts: Any, ready: Any) -> None:
    """Schedules the activities a run asks for (input "N"), completes it when all are done.

    It reads only the events since its previous decision (newest first), and
    keeps its count in the executionContext, as an efficient decider does.
    """
    swf = client(url)
    ready.release()
    while True:
        task = counted_poll(counts, swf.poll_for_decision_task, domain=domain, taskList={"name": TASK_LIST},
                            identity="decider", reverseOrder=True, maximumPageSize=100)
        if task is None:
            continue
        # events after the previous decision task started are new; its DecisionTaskCompleted holds the count so far
        previous = task.get("previousStartedEventId", 0)
        wanted, completed, first = 0, 0, previous == 0
        page: dict[str, Any] | None = task
        while page is not None:
            for event in page["events"]:
                kind = event["eventType"]
                if event["eventId"] <= previous:
                    page = None
                    break
                if kind == "ActivityTaskCompleted":
                    completed += 1
                elif kind == "DecisionTaskCompleted" and event["decisionTaskCompletedEventAttributes"]["startedEventId"] == previous:
                    context = event["decisionTaskCompletedEventAttributes"].get("executionContext", "1:0")
                    wanted, before = (int(n) for n in context.split(":"))
                    completed += before
                elif kind == "WorkflowExecutionStarted":
                    wanted = int(event["workflowExecutionStartedEventAttributes"].get("input", "1"))
            else:
                page = swf.poll_for_decision_task(
                    domain=domain, taskList={"name": TASK_LIST}, reverseOrder=True, maximumPageSize=100,
                    nextPageToken=page["nextPageToken"]) if "nextPageToken" in page else None
        if first:
            decisions = [
                {"decisionType": "ScheduleActivityTask", "scheduleActivityTaskDecisionAttributes": {
                    "activityType": ACT, "activityId": f"a{i}"}}
                for i in range(wanted)
            ]
        elif completed >= wanted:
            decisions = [{"decisionType": "CompleteWorkflowExecution", "completeWorkflowExecutionDecisionAttributes": {}}]
        else:
            decisions = []
        try:
            swf.respond_decision_task_completed(taskToken=task["taskToken"], decisions=decisions,
                                                executionContext=f"{wanted}:{completed}")
        except Exception:
            with counts.get_lock():
                counts[2] += 1
            continue
        if decisions and decisions[0]["decisionType"] == "CompleteWorkflowExecution":
            done.put(task["workflowExecution"]["workflowId"])


def worker(url: str, domain: str, counts: Any, ready: Any) -> None:
    swf = client(url)
    ready.release()
    while True:
        task = counted_poll(counts, swf.poll_for_activity_task, domain=domain, taskList={"name": TASK_LIST},
                            identity="worker")
        if task is None:
            continue
        try:
            swf.respond_activity_task_completed(taskToken=task["taskToken"], result="ok")
        except Exception:
            with counts.get_lock():
                counts[2] += 1


def idle_polls(url: str, domain: str, count: int, seconds: float, out: Any) -> None:
    """Keeps ``count`` PollForActivityTask requests outstanding for ``seconds``; reports polls answered."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    body = json.dumps({"domain": domain, "taskList": {"name": "nobody-polls-this"}}).encode()
    request = (
        f"POST / HTTP/1.1\r\nHost: {host}:{port}\r\nX-Amz-Target: SimpleWorkflowService.PollForActivityTask\r\n"
        f"Content-Type: application/x-amz-json-1.0\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode() + body

    async def one(stop: float, answered: list[int], opened: list[int]) -> None:
        while time.monotonic() < stop:
            try:
                reader, writer = await asyncio.open_connection(host, int(port))
            except OSError:
                await asyncio.sleep(0.1)
                continue
            opened[0] += 1
            writer.write(request)
            try:
                await writer.drain()
                await asyncio.wait_for(reader.read(), timeout=max(0.1, stop - time.monotonic()))
                answered[0] += 1
            except (TimeoutError, OSError):
                pass
            finally:
                writer.close()

    async def main() -> tuple[int, int]:
        answered, opened = [0], [0]
        stop = time.monotonic() + seconds
        await asyncio.gather(*(one(stop, answered, opened) for _ in range(count)))
        return answered[0], opened[0]

    out.put(asyncio.run(main()))


# -- one server -----------------------------------------------------------------------------
class Target:
    """A server under test: its URL, its processes (for CPU and RSS), how to stop it."""

    def __init__(self, name: str, url: str, proc: subprocess.Popen[bytes], pids: list[int], ready: float, cleanup: Any) -> None:
        self.name, self.url, self.proc, self.pids, self.ready, self._cleanup = name, url, proc, pids, ready, cleanup

    def cpu(self) -> float:
        return sum(cpu_seconds(p) for p in self.pids)

    def stop(self) -> tuple[int | None, float]:
        began = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            code: int | None = self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = None
        took = time.monotonic() - began
        self._cleanup()
        return code, took


def wait_answering(url: str, proc: subprocess.Popen[bytes], began: float, timeout: float = 30) -> float:
    while time.monotonic() - began < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            request = urllib.request.Request(url + "/", data=b"{}", headers={
                "X-Amz-Target": "SimpleWorkflowService.ListDomains", "Content-Type": "application/x-amz-json-1.0"})
            urllib.request.urlopen(request, timeout=1)
            return time.monotonic() - began
        except urllib.error.HTTPError:
            return time.monotonic() - began  # it answered (an error is an answer)
        except OSError:
            time.sleep(0.005)
    raise RuntimeError("server did not answer")


@contextlib.contextmanager
def fresh_redis() -> Iterator[tuple[str, int]]:
    """A new embedded redis-server in a temporary data directory, for one server under test: (URL, its PID)."""
    import redis

    sys.path.insert(0, str(ROOT))
    from backends.local.embedded import EmbeddedRedis

    with tempfile.TemporaryDirectory(prefix="flb", dir="/tmp", ignore_cleanup_errors=True) as data_dir:
        server = EmbeddedRedis.acquire(data_dir)
        try:
            yield server.url, int(redis.Redis.from_url(server.url).info("server")["process_id"])
        finally:
            server.close()


def start_flowser(redis_url: str, redis_pid: int, cleanup: Any) -> Target:
    port = free_port()
    began = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "flowser.cli", "serve", "--port", str(port), "--redis", redis_url], cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    ready = wait_answering(url, proc, began)
    return Target("flowser", url, proc, [proc.pid, redis_pid], ready, cleanup)


def start_moto() -> Target:
    port = free_port()
    began = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], cwd=ROOT,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    ready = wait_answering(url, proc, began)
    return Target("moto", url, proc, [proc.pid], ready, lambda: None)


def start_reference(redis_url: str | None = None, redis_pid: int | None = None) -> Target:
    """The minimal in-memory SWF endpoint of ``reference_server.py``: the clients' CPU yardstick;
    with ``redis_url``, writing each change there in one round trip (its CPU counts Redis's too)."""
    port = free_port()
    began = time.monotonic()
    command = [sys.executable, str(ROOT / "bench" / "reference_server.py"), "--port", str(port)]
    if redis_url:
        command += ["--redis", redis_url]
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    ready = wait_answering(url, proc, began)
    pids = [proc.pid] + ([redis_pid] if redis_pid else [])
    return Target("reference+redis" if redis_url else "reference", url, proc, pids, ready, lambda: None)


def run_workflows(swf: Any, domain: str, done: Any, total: int, in_flight: int, prefix: str, cap: float,
                  fanout: int = 1, durations: list[float] | None = None) -> tuple[float, dict[str, str], int]:
    """Start ``total`` runs, ``in_flight`` at a time; (seconds, completed workflowId -> runId, given up).

    ``durations`` gets each completed run's time from its start call to its completion being seen.
    """
    runs: dict[str, str] = {}
    started_at: dict[str, float] = {}
    completed: dict[str, str] = {}
    given_up = 0
    n = 0
    began = time.monotonic()

    def start_one() -> None:
        nonlocal n
        workflow_id = f"{prefix}-{n}"
        n += 1
        try:
            calling = time.monotonic()
            runs[workflow_id] = swf.start_workflow_execution(
                domain=domain, workflowId=workflow_id, workflowType=WF, input=str(fanout))["runId"]
            started_at[workflow_id] = calling
        except Exception:
            pass

    for _ in range(min(in_flight, total)):
        start_one()
    while (len(completed) + given_up < total) and time.monotonic() - began < cap:
        try:
            workflow_id = done.get(timeout=0.5)
        except Exception:
            workflow_id = None
        now = time.monotonic()
        if workflow_id in started_at:
            completed[workflow_id] = runs[workflow_id]
            if durations is not None:
                durations.append(now - started_at[workflow_id])
            del started_at[workflow_id]
            if n < total:
                start_one()
        for stuck in [w for w, t in started_at.items() if now - t > 30]:  # lost by the server: replace it
            del started_at[stuck]
            given_up += 1
            if n < total:
                start_one()
        if not started_at and n < total:
            start_one()
    return time.monotonic() - began, completed, given_up + len(started_at)


def latencies(swf: Any, domain: str, runs: dict[str, str], sample: int) -> tuple[list[float], list[float]]:
    decision, activity = [], []
    for workflow_id, run_id in list(runs.items())[:sample]:
        try:
            events = swf.get_workflow_execution_history(domain=domain, execution={"workflowId": workflow_id, "runId": run_id})["events"]
        except Exception:
            continue
        at = {e["eventId"]: e["eventTimestamp"].timestamp() for e in events}
        for e in events:
            if e["eventType"] == "DecisionTaskStarted":
                decision.append(at[e["eventId"]] - at[e["decisionTaskStartedEventAttributes"]["scheduledEventId"]])
            elif e["eventType"] == "ActivityTaskStarted":
                activity.append(at[e["eventId"]] - at[e["activityTaskStartedEventAttributes"]["scheduledEventId"]])
    return decision, activity


def bench(target: Target, args: argparse.Namespace, workflows: int, cap: float) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    out: dict[str, Any] = {"ready_s": target.ready}
    swf = client(target.url)
    domain = f"bench-{int(time.time())}"
    swf.register_domain(name=domain, workflowExecutionRetentionPeriodInDays="1")
    swf.register_workflow_type(domain=domain, defaultTaskList={"name": TASK_LIST}, defaultExecutionStartToCloseTimeout="3600",
                               defaultTaskStartToCloseTimeout="60", defaultChildPolicy="TERMINATE", **WF)
    swf.register_activity_type(domain=domain, defaultTaskList={"name": TASK_LIST}, defaultTaskScheduleToStartTimeout="3600",
                               defaultTaskScheduleToCloseTimeout="3600", defaultTaskStartToCloseTimeout="3600",
                               defaultTaskHeartbeatTimeout="NONE", **ACT)
    done = ctx.Queue()
    ready = ctx.Semaphore(0)
    decider_counts = ctx.Array("l", 3)  # polls, empty polls, errors
    worker_counts = ctx.Array("l", 3)
    procs = [ctx.Process(target=decider, args=(target.url, domain, done, decider_counts, ready), daemon=True) for _ in range(2)]
    procs += [ctx.Process(target=worker, args=(target.url, domain, worker_counts, ready), daemon=True) for _ in range(2)]
    for p in procs:
        p.start()
    for _ in procs:
        ready.acquire()
    time.sleep(1.0)  # let their first polls arrive
    def phase(name: str, body: Any) -> None:
        try:
            body()
        except Exception as exc:  # a server that fails a phase still gets its other figures
            print(f"[{target.name}] {name} failed: {exc!r}"[:300], flush=True)
            out[name] = {"error": repr(exc)[:300]}

    def single() -> None:
        print(f"[{target.name}] one in flight: {args.single} workflows", flush=True)
        took: list[float] = []
        cpu_before = target.cpu()
        seconds, runs, lost = run_workflows(swf, domain, done, args.single, 1, "single", cap, durations=took)
        cpu = target.cpu() - cpu_before
        d, a = latencies(swf, domain, runs, args.single)
        out["single"] = {"workflows_per_s": len(runs) / seconds, "completed": len(runs), "lost": lost,
                         "cpu_ms_per_workflow": 1000 * cpu / max(len(runs), 1),
                         "e2e_p50_ms": 1000 * percentile(took, 50), "e2e_p99_ms": 1000 * percentile(took, 99),
                         "s2s_p50_ms": 1000 * percentile(d + a, 50), "s2s_p99_ms": 1000 * percentile(d + a, 99)}

    def busy() -> None:
        print(f"[{target.name}] busy: {workflows} workflows, {args.in_flight} in flight", flush=True)
        counts_before = [list(decider_counts), list(worker_counts)]
        cpu_before = target.cpu()
        parts_before = [cpu_seconds(pid) for pid in target.pids]
        deciders_before = sum(cpu_seconds(p.pid) for p in procs[:2])
        workers_before = sum(cpu_seconds(p.pid) for p in procs[2:])
        main_before = cpu_seconds(os.getpid())
        seconds, runs, lost = run_workflows(swf, domain, done, workflows, args.in_flight, "busy", cap)
        cpu = target.cpu() - cpu_before
        per = 1000 / max(len(runs), 1)
        parts = [per * (cpu_seconds(pid) - before) for pid, before in zip(target.pids, parts_before, strict=True)]
        clients = {"deciders": per * (sum(cpu_seconds(p.pid) for p in procs[:2]) - deciders_before),
                   "workers": per * (sum(cpu_seconds(p.pid) for p in procs[2:]) - workers_before),
                   "starter": per * (cpu_seconds(os.getpid()) - main_before)}
        empties = (decider_counts[1] - counts_before[0][1]) + (worker_counts[1] - counts_before[1][1])
        errors = (decider_counts[2] - counts_before[0][2]) + (worker_counts[2] - counts_before[1][2])
        d, a = latencies(swf, domain, runs, args.latency_sample)
        out["busy"] = {"workflows_per_s": len(runs) / seconds, "completed": len(runs), "lost": lost, "seconds": seconds,
                       "cpu_ms_per_workflow": 1000 * cpu / max(len(runs), 1), "empty_polls": empties, "client_errors": errors,
                       "server_process_cpu_ms_per_workflow": parts[0],
                       "redis_cpu_ms_per_workflow": parts[1] if len(parts) > 1 else 0.0,
                       "client_cpu_ms_per_workflow": clients,
                       "s2s_p50_ms": 1000 * percentile(d + a, 50), "s2s_p99_ms": 1000 * percentile(d + a, 99)}

    def fanout() -> None:
        print(f"[{target.name}] fan-out: {args.fanout_runs} x 100 activities", flush=True)
        times = []
        for i in range(args.fanout_runs):
            seconds, runs, _ = run_workflows(swf, domain, done, 1, 1, f"fan{i}", cap / 4, fanout=100)
            if runs:
                times.append(seconds)
        out["fanout"] = {"s_per_execution_median": statistics.median(times) if times else float("nan"), "completed": len(times)}

    def idle() -> None:
        print(f"[{target.name}] idle: 4 pollers, 10 s", flush=True)
        time.sleep(1.0)
        polls_before = decider_counts[0] + worker_counts[0]
        cpu_before = target.cpu()
        time.sleep(10.0)
        out["idle"] = {"polls_answered": decider_counts[0] + worker_counts[0] - polls_before,
                       "cores": (target.cpu() - cpu_before) / 10.0}

    try:
        for name, body in (("single", single), ("busy", busy), ("fanout", fanout), ("idle", idle)):
            phase(name, body)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.join(5)

    def history() -> None:
        print(f"[{target.name}] history of 1,000 events", flush=True)
        run_id = swf.start_workflow_execution(domain=domain, workflowId="history", workflowType=WF,
                                              taskList={"name": "nobody"})["runId"]
        for i in range(998):
            swf.signal_workflow_execution(domain=domain, workflowId="history", runId=run_id, signalName=f"s{i}", input="x")
        reads = []
        length = 0
        for _ in range(20):
            began = time.perf_counter()
            events = swf.get_workflow_execution_history(
                domain=domain, execution={"workflowId": "history", "runId": run_id}, maximumPageSize=1000)["events"]
            reads.append(time.perf_counter() - began)
            length = len(events)
        out["history"] = {"events": length, "ms_median": 1000 * statistics.median(reads)}

    def idle_1000() -> None:
        print(f"[{target.name}] 1,000 idle long polls, 10 s", flush=True)
        results = ctx.Queue()
        poller = ctx.Process(target=idle_polls, args=(target.url, domain, 1000, 13.0, results), daemon=True)
        poller.start()
        time.sleep(3.0)  # ramp up
        cpu_before = target.cpu()
        time.sleep(10.0)
        server_rss = rss_mb(target.proc.pid)
        cpu = target.cpu() - cpu_before
        answered, opened = results.get(timeout=60)
        poller.join(10)
        out["idle_1000"] = {"server_rss_mb": server_rss, "cores": cpu / 10.0, "polls_answered": answered, "connections": opened}

    phase("history", history)
    phase("idle_1000", idle_1000)
    return out


# -- the run ------------------------------------------------------------------------------
ROWS = [
    ("ready (s)", ("ready_s",), "lower", "< 1"),
    ("one in flight: workflows/s", ("single", "workflows_per_s"), "higher", ""),
    ("one in flight: start to completion seen, p50 (ms)", ("single", "e2e_p50_ms"), "lower", "<= 8"),
    ("one in flight: server+Redis CPU per workflow (ms)", ("single", "cpu_ms_per_workflow"), "lower", ""),
    ("one in flight: schedule-to-start p50 (ms)", ("single", "s2s_p50_ms"), "lower", ""),
    ("one in flight: schedule-to-start p99 (ms)", ("single", "s2s_p99_ms"), "lower", "< 10"),
    ("busy: workflows/s", ("busy", "workflows_per_s"), "higher", ">= 100, >= 10x moto"),
    ("busy: schedule-to-start p50 (ms)", ("busy", "s2s_p50_ms"), "lower", ""),
    ("busy: schedule-to-start p99 (ms)", ("busy", "s2s_p99_ms"), "lower", "< 100"),
    ("busy: server+Redis CPU per workflow (ms)", ("busy", "cpu_ms_per_workflow"), "lower", "<= 3"),
    ("busy: of which Redis (ms)", ("busy", "redis_cpu_ms_per_workflow"), "lower", ""),
    ("busy: deciders' CPU per workflow (ms)", ("busy", "client_cpu_ms_per_workflow", "deciders"), "lower", ""),
    ("busy: workers' CPU per workflow (ms)", ("busy", "client_cpu_ms_per_workflow", "workers"), "lower", ""),
    ("busy: starter's CPU per workflow (ms)", ("busy", "client_cpu_ms_per_workflow", "starter"), "lower", ""),
    ("busy: empty polls", ("busy", "empty_polls"), "lower", "0"),
    ("busy: runs completed", ("busy", "completed"), "", ""),
    ("busy: runs unfinished (given up after 30 s, or in flight at the cap)", ("busy", "lost"), "lower", "0"),
    ("busy: client errors (after retries)", ("busy", "client_errors"), "lower", "0"),
    ("fan-out of 100: s per execution", ("fanout", "s_per_execution_median"), "lower", "< 0.4"),
    ("idle, 4 pollers, 10 s: polls answered", ("idle", "polls_answered"), "lower", ""),
    ("idle, 4 pollers: CPU (cores)", ("idle", "cores"), "lower", "< 0.05"),
    ("history of 1,000 events: read (ms)", ("history", "ms_median"), "lower", "< 40"),
    ("1,000 idle polls: server RSS (MB)", ("idle_1000", "server_rss_mb"), "lower", "< 300"),
    ("1,000 idle polls: CPU (cores)", ("idle_1000", "cores"), "lower", ""),
    ("1,000 idle polls: polls answered in 10 s", ("idle_1000", "polls_answered"), "", ""),
]


def value(result: dict[str, Any] | None, path: tuple[str, ...]) -> float | None:
    node: Any = result
    for part in path:
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return float(node)


def _fmt(v: float | None) -> str:
    return "" if v is None else (f"{v:.0f}" if abs(v) >= 100 else f"{v:.3g}")


def table(results: dict[str, dict[str, Any]]) -> str:
    flowser, moto, reference = results.get("flowser"), results.get("moto"), results.get("reference")
    floor = results.get("reference+redis")
    extra = f" {'ref+Redis':>10} |" if floor is not None else ""
    lines = [f"| {'figure':<45} | {'flowser':>10} | {'reference':>10} |{extra} {'moto_server':>11} | {'vs moto':>8} | target |",
             f"|{'-' * 47}|{'-' * 12}|{'-' * 12}|{'-' * 12 + '|' if extra else ''}{'-' * 13}|{'-' * 10}|--------|"]
    for label, path, better, goal in ROWS:
        f, m, r = value(flowser, path), value(moto, path), value(reference, path)
        ratio = ""
        if f is not None and m is not None and better:
            if better == "higher" and m > 0:
                ratio = f"{f / m:.1f}x"
            elif better == "lower" and f > 0:
                ratio = f"{m / f:.1f}x"
        cell = f" {_fmt(value(floor, path)):>10} |" if floor is not None else ""
        lines.append(f"| {label:<45} | {_fmt(f):>10} | {_fmt(r):>10} |{cell} {_fmt(m):>11} | {ratio:>8} | {goal} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", choices=("flowser", "reference", "moto"), help="run one server only")
    p.add_argument("--skip", choices=("flowser", "reference", "moto"), action="append", default=[],
                   help="leave a server out (repeatable)")
    p.add_argument("--workflows", type=int, default=2000, help="busy phase on flowser (default 2000)")
    p.add_argument("--moto-workflows", type=int, default=2000, help="busy phase on moto_server (default 2000; capped by --moto-cap)")
    p.add_argument("--moto-cap", type=float, default=300.0, help="seconds at most per moto phase (default 300)")
    p.add_argument("--in-flight", type=int, default=20)
    p.add_argument("--single", type=int, default=200, help="workflows with one in flight (default 200)")
    p.add_argument("--fanout-runs", type=int, default=5)
    p.add_argument("--latency-sample", type=int, default=500, help="histories read for schedule-to-start (default 500)")
    p.add_argument("--json", help="also write the figures here")
    p.add_argument("--unsigned", action="store_true", help="clients send unsigned requests (less client CPU)")
    p.add_argument("--reference-redis", action="store_true",
                   help="also run the reference writing each change to Redis, one round trip per change "
                        "(column ref+Redis): a floor for any server that keeps its executions in Redis")
    args = p.parse_args(argv)
    if args.unsigned:
        os.environ["FLOWSER_BENCH_UNSIGNED"] = "1"
    results: dict[str, dict[str, Any]] = {}
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}", flush=True)

    def wanted(name: str) -> bool:
        return args.only in (None, name) and name not in args.skip

    if wanted("flowser"):
        with fresh_redis() as (redis_url, redis_pid):
            target = start_flowser(redis_url, redis_pid, lambda: None)
            try:
                results["flowser"] = bench(target, args, args.workflows, cap=600.0)
            finally:
                code, took = target.stop()
                results["flowser"]["shutdown"] = {"exit_code": code, "seconds": took}
        print(json.dumps(results["flowser"], indent=1), flush=True)
    if wanted("reference"):
        target = start_reference()
        try:
            results["reference"] = bench(target, args, args.workflows, cap=600.0)
        finally:
            target.stop()
        print(json.dumps(results["reference"], indent=1), flush=True)
    if wanted("reference") and args.reference_redis:
        with fresh_redis() as (redis_url, redis_pid):
            target = start_reference(redis_url, redis_pid)
            try:
                results["reference+redis"] = bench(target, args, args.workflows, cap=600.0)
            finally:
                target.stop()
        print(json.dumps(results["reference+redis"], indent=1), flush=True)
    if wanted("moto"):
        target = start_moto()
        try:
            results["moto"] = bench(target, args, args.moto_workflows, cap=args.moto_cap)
        finally:
            target.stop()
        print(json.dumps(results["moto"], indent=1), flush=True)
    print()
    print(table(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
