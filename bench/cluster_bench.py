"""Scaling figures (docs/scaling.md): serve processes, one Redis or a Redis Cluster, WAIT, failover loss.

    .venv/bin/python bench/cluster_bench.py                      # sections a, w, f
    .venv/bin/python bench/cluster_bench.py --only a --workflows 400

(a) Minimal workflows/s (start -> decision schedules one activity -> worker
    completes it -> decision completes the run) through ``flowser serve
    --processes K`` for K = 1, 2, 4, on one Redis (a private redis-server)
    and on a local Redis Cluster of 3 masters and 3 replicas
    (tests/cluster/local_cluster.py). The clients are ``bench/server_bench.py``'s:
    boto3 deciders and workers in their own processes (``--clients`` of
    each), and a starter keeping ``--in-flight`` runs going. CPU per
    workflow of each component, from /proc: the serve processes, every
    redis-server, the deciders, the workers and the starter.
(w) The cost of ``--min-replicas-ack 1`` on the cluster (WAIT after each
    EXEC): section (a)'s run with 2 serve processes, off and on, alternately
    (``--rounds`` pairs).
(l) The latency WAIT adds to one change: StartWorkflowExecution calls one
    at a time through an in-process client, with ``min_replicas_ack`` 0 and
    1 alternately (``--rounds``, ``--latency-calls`` each).
(f) Failover loss without the option: ``tests/cluster/test_failover.py``'s
    chaos (threads starting and signalling runs on an in-process engine,
    SIGKILL of the domain's master mid-load, failover) ``--chaos-rounds``
    times with ``min_replicas_ack`` 0 and once with 1, for each
    ``--chaos-lag`` (seconds the replica is cut off before its master
    dies); acknowledged starts and signals, and how many were lost.

Every process this starts is stopped by PID at the end.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from server_bench import ACT, TASK_LIST, WF, client, cpu_seconds, decider, free_port, run_workflows, worker  # noqa: E402

from backends.local.embedded import find_redis_server  # noqa: E402
from tests.cluster.local_cluster import LocalCluster  # noqa: E402


def children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def cpu(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            total += cpu_seconds(pid)
        except OSError:
            pass
    return total


class Serve:
    def __init__(self, redis_url: str, processes: int, *extra: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [sys.executable, "-m", "flowser.cli", "serve", "--port", str(self.port), "--redis", redis_url,
                   "--poll-hold", "5", "--processes", str(processes), *extra]
        self.proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if "listening on" in line:
                break
        else:
            raise RuntimeError("flowser serve did not start")

    def pids(self) -> list[int]:
        return [self.proc.pid, *children(self.proc.pid)]

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            for pid in self.pids():
                os.kill(pid, signal.SIGKILL)
            self.proc.wait(5)


def measure(redis_url: str, redis_pids: list[int], processes: int, args: argparse.Namespace, *extra: str,
            replica_pids: list[int] | None = None) -> dict[str, float]:
    """One run; ``redis_pids``: the masters (or the one Redis), ``replica_pids``: the replicas (counted
    apart as ``replicas_ms``, and in ``redis_ms`` with the masters)."""
    serve = Serve(redis_url, processes, *extra)
    ctx = mp.get_context("spawn")
    procs: list[Any] = []
    try:
        swf = client(serve.url)
        domain = f"bench-{os.getpid()}-{time.monotonic_ns()}"
        swf.register_domain(name=domain, workflowExecutionRetentionPeriodInDays="1")
        swf.register_workflow_type(domain=domain, defaultTaskList={"name": TASK_LIST}, defaultExecutionStartToCloseTimeout="3600",
                                   defaultTaskStartToCloseTimeout="60", defaultChildPolicy="TERMINATE", **WF)
        swf.register_activity_type(domain=domain, defaultTaskList={"name": TASK_LIST}, defaultTaskScheduleToStartTimeout="3600",
                                   defaultTaskScheduleToCloseTimeout="3600", defaultTaskStartToCloseTimeout="3600",
                                   defaultTaskHeartbeatTimeout="NONE", **ACT)
        done, ready = ctx.Queue(), ctx.Semaphore(0)
        counts = ctx.Array("l", 3)
        procs = [ctx.Process(target=decider, args=(serve.url, domain, done, counts, ready), daemon=True)
                 for _ in range(args.clients)]
        procs += [ctx.Process(target=worker, args=(serve.url, domain, counts, ready), daemon=True) for _ in range(args.clients)]
        for p in procs:
            p.start()
        for _ in procs:
            ready.acquire()
        time.sleep(1.0)
        run_workflows(swf, domain, done, 20, args.in_flight, "warm", 60)  # connections, caches
        parts = {
            "serve": serve.pids,
            "redis": lambda: redis_pids + (replica_pids or []),
            "masters": lambda: redis_pids,
            "replicas": lambda: replica_pids or [],
            "deciders": lambda: [p.pid for p in procs[: args.clients]],
            "workers": lambda: [p.pid for p in procs[args.clients :]],
            "starter": lambda: [os.getpid()],
        }
        before = {name: cpu(pids()) for name, pids in parts.items()}
        seconds, runs, _ = run_workflows(swf, domain, done, args.workflows, args.in_flight, "run", 300)
        per = 1000 / max(len(runs), 1)
        out = {f"{name}_ms": per * (cpu(pids()) - before[name]) for name, pids in parts.items()}
        out["workflows_per_s"] = len(runs) / seconds
        return out
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.join(5)
        serve.stop()


def row(label: str, m: dict[str, float]) -> str:
    return (f"| {label} | {m['workflows_per_s']:.0f} | {m['serve_ms']:.2f} | {m['redis_ms']:.2f} "
            f"({m['masters_ms']:.2f} + {m['replicas_ms']:.2f}) | "
            f"{m['serve_ms'] + m['redis_ms']:.2f} | {m['deciders_ms']:.2f} | {m['workers_ms']:.2f} | {m['starter_ms']:.2f} |")


HEADER = ("| setup | workflows/s | serve CPU ms/wf | Redis CPU ms/wf (masters + replicas) | serve+Redis | deciders | workers "
          "| starter |\n|---|---|---|---|---|---|---|---|")


def roles(cluster: LocalCluster) -> tuple[list[int], list[int]]:
    masters = {n.port for n in cluster.masters()}
    return ([n.proc.pid for n in cluster.nodes if n.port in masters],
            [n.proc.pid for n in cluster.nodes if n.port not in masters])


def single_redis() -> tuple[str, subprocess.Popen[bytes], str]:
    directory = tempfile.mkdtemp(prefix="flowser-bench-redis-")
    port = free_port()
    proc = subprocess.Popen([find_redis_server(), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", directory], stdout=subprocess.DEVNULL)
    import redis

    deadline = time.monotonic() + 20
    while True:
        try:
            redis.Redis(port=port).ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    return f"redis://127.0.0.1:{port}/0", proc, directory


def section_a(args: argparse.Namespace) -> None:
    print(f"(a) {args.workflows} minimal workflows, {args.in_flight} in flight, {args.clients} decider and "
          f"{args.clients} worker processes; CPU ms per workflow by component", flush=True)
    print(HEADER)
    url, proc, _ = single_redis()
    try:
        for k in args.processes:
            print(row(f"one Redis, {k} serve process{'es' if k > 1 else ''}", measure(url, [proc.pid], k, args)), flush=True)
    finally:
        proc.terminate()
        proc.wait(10)
    with LocalCluster.start() as cluster:
        masters, replicas = roles(cluster)
        for k in args.processes:
            m = measure(cluster.url, masters, k, args, replica_pids=replicas)
            print(row(f"cluster 3+3, {k} serve process{'es' if k > 1 else ''}", m), flush=True)


def section_w(args: argparse.Namespace) -> None:
    print(f"\n(w) --min-replicas-ack 1 on the cluster, 2 serve processes, {args.rounds} rounds off/on", flush=True)
    print(HEADER)
    off: list[dict[str, float]] = []
    on: list[dict[str, float]] = []
    with LocalCluster.start() as cluster:
        masters, replicas = roles(cluster)
        for _ in range(args.rounds):
            off.append(measure(cluster.url, masters, 2, args, replica_pids=replicas))
            print(row("ack 0", off[-1]), flush=True)
            on.append(measure(cluster.url, masters, 2, args, "--min-replicas-ack", "1", replica_pids=replicas))
            print(row("ack 1", on[-1]), flush=True)
    for name, runs in (("ack 0 (median)", off), ("ack 1 (median)", on)):
        print(row(name, {k: statistics.median(r[k] for r in runs) for k in runs[0]}))


def section_l(args: argparse.Namespace) -> None:
    """Latency of one change with and without WAIT: sequential StartWorkflowExecution calls, in-process."""
    from backends.local import EngineConfig, connect

    print(f"\n(l) one StartWorkflowExecution at a time on the cluster, in-process client: median and p99 ms, "
          f"{args.rounds} rounds of {args.latency_calls} calls", flush=True)
    print("| min-replicas-ack | median ms | p99 ms |\n|---|---|---|")
    with LocalCluster.start() as cluster:
        for round_ in range(args.rounds):
            for ack in (0, 1):
                swf = connect(cluster.url, config=EngineConfig(min_replicas_ack=ack))
                try:
                    domain = f"lat{round_}{ack}"
                    swf.register_domain(name=domain, workflowExecutionRetentionPeriodInDays="1")
                    swf.register_workflow_type(domain=domain, defaultTaskList={"name": TASK_LIST},
                                               defaultExecutionStartToCloseTimeout="3600",
                                               defaultTaskStartToCloseTimeout="60", defaultChildPolicy="TERMINATE", **WF)
                    took = []
                    for n in range(args.latency_calls):
                        began = time.perf_counter()
                        swf.start_workflow_execution(domain=domain, workflowId=f"w{n}", workflowType=WF)
                        took.append(time.perf_counter() - began)
                finally:
                    swf.close()
                took.sort()
                print(f"| {ack} | {1000 * statistics.median(took):.2f} | {1000 * took[int(len(took) * 0.99)]:.2f} |",
                      flush=True)


def section_f(args: argparse.Namespace) -> None:
    from tests.cluster.test_failover import chaos

    print(f"\n(f) failover under load: SIGKILL of a master; for each replica lag, {args.chaos_rounds} rounds "
          "without WAIT, 1 with", flush=True)
    print("| replica lag s | min-replicas-ack | acknowledged starts | acknowledged signals | errors answered | lost runs "
          "| lost signals | lost tasks |")
    print("|---|---|---|---|---|---|---|---|")
    for lag in args.chaos_lag:
        for ack in [0] * args.chaos_rounds + [1]:
            with LocalCluster.start() as cluster:
                out = chaos(cluster, min_replicas_ack=ack, threads=args.chaos_threads, before_kill=args.chaos_before,
                            replica_lag=lag)
            print(f"| {lag:g} | {ack} | {len(out.started)} | {sum(out.signalled.values())} | {out.failed} | "
                  f"{len(out.lost_runs)} | {out.lost_signals} | {len(out.lost_tasks)} |", flush=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", default="a,w,l,f")
    p.add_argument("--latency-calls", type=int, default=500)
    p.add_argument("--workflows", type=int, default=400)
    p.add_argument("--in-flight", type=int, default=32)
    p.add_argument("--clients", type=int, default=2, help="decider processes, and worker processes")
    p.add_argument("--processes", type=lambda s: [int(x) for x in s.split(",")], default=[1, 2, 4])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--chaos-rounds", type=int, default=3)
    p.add_argument("--chaos-threads", type=int, default=8)
    p.add_argument("--chaos-before", type=int, default=300)
    p.add_argument("--chaos-lag", type=lambda s: [float(x) for x in s.split(",")], default=[0.0, 1.0],
                   help="seconds the replica is cut off before its master dies (tests/cluster/test_failover.py)")
    args = p.parse_args(argv)
    print(f"flowser cluster bench: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start", flush=True)
    sections = {"a": section_a, "w": section_w, "l": section_l, "f": section_f}
    for name in args.only.split(","):
        sections[name.strip()](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
