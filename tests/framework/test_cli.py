"""``flowser worker`` / ``flowser decider`` as users run them: real processes, real signals, rq.

The processes use the local engine on the session's Redis (``--backend
redis://...``); the test drives executions through its own client.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import backends
from flowser.testing import wait_until, workers
from tests.serve_process import FlowserProcess

from .flows import OneActivityWorkflow, WorkerDomain

ROOT = Path(__file__).resolve().parents[2]
FLOWS = "tests/framework/flows.py"
EXAMPLE = "examples/arithmetic"


class Proc(FlowserProcess):
    """A ``python -m flowser.cli ...`` child whose output (the log) is collected."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        super().__init__(*args, env=env)

    def signal(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        self.proc.send_signal(sig)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
def spawn() -> Iterator[Callable[..., Proc]]:
    started: list[Proc] = []

    def start(*args: str, env: dict[str, str] | None = None) -> Proc:
        proc = Proc(*args, env=env)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.kill()


@pytest.fixture
def client(redis_client: Any, redis_url: str) -> Iterator[Any]:
    swf = backends.connect(redis_url, poll_hold=0.3)
    try:
        yield swf
    finally:
        swf.close()


@pytest.fixture
def domain(client: Any) -> WorkerDomain:
    d = WorkerDomain(client)
    d.register()
    return d


def start_one(domain: WorkerDomain, activity: str, input: dict[str, Any]) -> Any:
    return domain.start(OneActivityWorkflow, {"id": input["id"], "activity": activity, "input": input})


def test_arithmetic_example_under_the_cli(spawn: Callable[..., Proc], client: Any, redis_url: str) -> None:
    sys.path.insert(0, str(ROOT / EXAMPLE))
    from workflows import ArithmeticWorkflow, MathDomain

    domain_class = f"{EXAMPLE}/workflows.py:MathDomain"
    decider = spawn("decider", f"{EXAMPLE}/workflows.py:ArithmeticWorkflow", "--backend", redis_url, "--register")
    multiply = spawn("worker", f"{EXAMPLE}/activities.py:MultiplyActivity", "--domain-class", domain_class, "--backend", redis_url)
    add = spawn("worker", f"{EXAMPLE}/activities.py:SumActivity", "--domain", "math", "--backend", redis_url, "--threads", "2")
    for proc in (decider, multiply, add):
        proc.wait_log("polling")
    domain = MathDomain(client)
    wait_until(lambda: client.list_domains(registrationStatus="REGISTERED")["domainInfos"], timeout=10)
    run_id = str(uuid.uuid4())
    run = domain.start(ArithmeticWorkflow, {"id": run_id, "operations": [["m", "multiply", [2, 3, 7]], ["s", "sum", [1, 2]]]})
    assert run.result(timeout=20) == {"m": 42, "s": 3}
    ids = f"workflowId=ArithmeticWorkflow.{run_id} runId={run.run_id}"
    multiply.wait_log(f"{ids} activityId=MultiplyActivity.{run_id}")
    add.wait_log(f"{ids} activityId=SumActivity.{run_id}")
    decider.wait_log(f"decision task completed (2 decisions) {ids}")
    assert "activityId" not in decider.log
    for proc in (decider, multiply, add):
        began = time.monotonic()
        assert proc.signal(signal.SIGTERM) == 0, proc.log
        assert time.monotonic() - began < 5
        assert "received SIGTERM: stopping" in proc.log


def test_sigterm_lets_the_task_in_hand_finish(spawn: Callable[..., Proc], domain: WorkerDomain, redis_url: str, tmp_path: Path) -> None:
    worker = spawn("worker", f"{FLOWS}:SlowActivity", "--domain-class", f"{FLOWS}:WorkerDomain", "--backend", redis_url)
    worker.wait_log("polling")
    marker = tmp_path / "started"
    with workers(domain, OneActivityWorkflow):
        run = start_one(domain, "Slow", {"id": "t", "seconds": 1.5, "started_file": str(marker)})
        wait_until(marker.exists, timeout=20)
        assert worker.signal(signal.SIGTERM) == 0, worker.log
        assert run.result(timeout=10)["slept"] == 1.5
    assert "Slow (1.0) task completed" in worker.log


def test_past_the_grace_period_the_task_is_failed(spawn: Callable[..., Proc], domain: WorkerDomain, redis_url: str, tmp_path: Path) -> None:
    worker = spawn("worker", f"{FLOWS}:SlowActivity", "--domain", "workers", "--backend", redis_url, "--grace", "0.5")
    worker.wait_log("polling")
    marker = tmp_path / "started"
    with workers(domain, OneActivityWorkflow):
        run = start_one(domain, "Slow", {"id": "g", "seconds": 120, "started_file": str(marker)})
        wait_until(marker.exists, timeout=20)
        began = time.monotonic()
        assert worker.signal(signal.SIGINT) == 0, worker.log
        assert time.monotonic() - began < 5
        history = run.wait(timeout=10)
    record = history.activities["Slow.g"]
    assert record.status == "FAILED"
    assert record.reason == "worker shutting down: the task did not finish within the 0.5 s grace period"
    assert "received SIGINT" in worker.log


def test_exceptions_fail_tasks_and_workflows(spawn: Callable[..., Proc], domain: WorkerDomain, redis_url: str) -> None:
    worker = spawn("worker", f"{FLOWS}:FailingActivity", "--domain", "workers", "--backend", redis_url)
    broken = spawn("decider", f"{FLOWS}:BrokenWorkflow", "--backend", redis_url)
    for proc in (worker, broken):
        proc.wait_log("polling")
    with workers(domain, OneActivityWorkflow):
        failing = start_one(domain, "Failing", {"id": "f"})
        history = failing.wait(timeout=20)
    record = history.activities["Failing.f"]
    assert record.reason is not None and record.reason.startswith("Boom: xxx") and len(record.reason) == 256
    assert record.details is not None and "Traceback (most recent call last)" in record.details
    worker.wait_log("activityId=Failing.f")
    broken_run = domain.start(flows_broken(), {"id": "b"})
    closed = broken_run.wait(timeout=20).closed
    assert closed is not None and closed.get("reason") == "ValueError: the decider is broken"
    for proc in (worker, broken):
        assert proc.signal() == 0
    assert "activity worker for Failing stopped after 1 task(s), 1 failed" in worker.log
    assert "decider for Broken stopped after 1 task(s), 1 failed" in broken.log


def flows_broken() -> Any:
    from .flows import BrokenWorkflow

    return BrokenWorkflow


def test_processes(spawn: Callable[..., Proc], domain: WorkerDomain, redis_url: str) -> None:
    worker = spawn("worker", f"{FLOWS}:SumModelActivity", "--domain", "workers", "--backend", redis_url, "--processes", "2")
    wait_until(lambda: worker.log.count("polling") >= 2, timeout=30)
    with workers(domain, OneActivityWorkflow):
        runs = [start_one(domain, "SumModel", {"id": str(n), "values": [n, 1]}) for n in range(4)]
        assert [run.result(timeout=20) for run in runs] == [{"total": n + 1} for n in range(4)]
    assert worker.signal(signal.SIGTERM) == 0, worker.log
    assert worker.log.count("stopped after") == 2


def test_the_domain_from_flowser_domain(spawn: Callable[..., Proc], domain: WorkerDomain, redis_url: str) -> None:
    """No --domain, no --domain-class and no Domain in the module: $FLOWSER_DOMAIN, as the operator commands take it."""
    environ = {**os.environ, "FLOWSER_DOMAIN": "workers"}
    worker = spawn("worker", f"{FLOWS}:SumModelActivity", "--backend", redis_url, env=environ)
    worker.wait_log("polling")
    with workers(domain, OneActivityWorkflow):
        assert start_one(domain, "SumModel", {"id": "env", "values": [2, 3]}).result(timeout=20) == {"total": 5}
    assert worker.signal(signal.SIGTERM) == 0, worker.log


def test_bad_arguments_exit_2(spawn: Callable[..., Proc], redis_url: str) -> None:
    assert spawn("worker", "no.such.module:X", "--domain", "d", "--backend", redis_url).proc.wait(30) == 2
    assert spawn("worker", f"{FLOWS}:OneActivityWorkflow", "--domain", "d").proc.wait(30) == 2
    lonely = spawn("decider", f"{FLOWS}:Base", "--backend", redis_url, env={k: v for k, v in os.environ.items() if k != "FLOWSER_DOMAIN"})
    assert lonely.proc.wait(30) == 2


def test_rq_executor_with_a_real_rq_worker(spawn: Callable[..., Proc], domain: WorkerDomain, redis_url: str) -> None:
    import redis
    from rq import Queue, SimpleWorker
    from rq.registry import FailedJobRegistry

    import flowser.cli

    pollers = [
        spawn("worker", f"{FLOWS}:{name}", "--domain-class", f"{FLOWS}:WorkerDomain", "--backend", redis_url, "--executor", "rq")
        for name in ("SumModelActivity", "FailingActivity")
    ]
    for proc in pollers:
        proc.wait_log("polling")
    connection = redis.Redis.from_url(redis_url)
    queues = [Queue("sum-model", connection=connection), Queue("failing", connection=connection)]
    try:
        with workers(domain, OneActivityWorkflow):
            good = start_one(domain, "SumModel", {"id": "r", "values": [1, 2, 3]})
            bad = start_one(domain, "Failing", {"id": "r2"})
            wait_until(lambda: all(q.count for q in queues), timeout=20)
            job = queues[0].jobs[0]
            assert job.meta["workflowId"] == "OneActivity.r" and job.meta["activityId"] == "SumModel.r"
            SimpleWorker(queues, connection=connection).work(burst=True)
            assert good.result(timeout=20) == {"total": 6}
            history = bad.wait(timeout=20)
        record = history.activities["Failing.r2"]
        assert record.status == "FAILED" and record.reason is not None and record.reason.startswith("Boom: ")
        assert FailedJobRegistry(queue=queues[1]).count == 1
        assert job.get_status(refresh=True) == "finished"
        for proc in pollers:
            assert proc.signal() == 0, proc.log
            assert "sent to rq queue" in proc.log
    finally:
        for cached in flowser.cli._job_clients.values():
            cached.close()
        flowser.cli._job_clients.clear()
        connection.close()


def test_a_lost_rq_job_is_covered_by_swf_timeouts(domain: WorkerDomain, redis_url: str) -> None:
    """No rq worker takes the job: SWF's start-to-close timeout closes the task; a late job is refused."""
    import redis
    from rq import Queue, SimpleWorker
    from rq.registry import FailedJobRegistry

    import flowser.cli
    from flowser.executors import RQExecutor
    from flowser.worker import ActivityRunner, absolute_spec

    from .flows import ShortActivity

    executor = RQExecutor(
        redis_url,
        activity=absolute_spec(f"{FLOWS}:ShortActivity"),
        domain=absolute_spec(f"{FLOWS}:WorkerDomain"),
        backend=redis_url,
        queue_name="short",
    )
    connection = redis.Redis.from_url(redis_url)
    try:
        with workers(domain, OneActivityWorkflow), ActivityRunner(domain, ShortActivity, executor=executor):
            run = start_one(domain, "Short", {"id": "lost"})
            history = run.wait(timeout=20)
        record = history.activities["Short.lost"]
        assert (record.status, record.timeout_type) == ("TIMED_OUT", "START_TO_CLOSE")
        queue = Queue("short", connection=connection)
        assert queue.count == 1
        SimpleWorker([queue], connection=connection).work(burst=True)  # the job comes too late
        assert FailedJobRegistry(queue=queue).count == 1
    finally:
        for cached in flowser.cli._job_clients.values():
            cached.close()
        flowser.cli._job_clients.clear()
        connection.close()


def test_readme_example_runs_end_to_end() -> None:
    """README's first command runs examples/arithmetic/run.py (here with a private data directory)."""
    data_dir = Path(tempfile.mkdtemp(prefix="flex", dir="/tmp"))  # short: the socket path must fit
    try:
        done = subprocess.run(
            [sys.executable, f"{EXAMPLE}/run.py", str(data_dir)], cwd=ROOT, capture_output=True, text=True, timeout=120
        )
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "close status: COMPLETED" in out
    assert "mult_id: multiply[1, 2, 3] = 6" in out and "sum_id: sum[1, 2, 3, 4] = 10" in out
    completed = next(line for line in out.splitlines() if "WorkflowExecutionCompleted" in line)
    assert "'mult_id': 6" in completed and "'sum_id': 10" in completed
    assert done.stderr == ""


def test_a_second_signal_ends_the_grace_period(spawn: Callable[..., Proc], domain: WorkerDomain, redis_url: str, tmp_path: Path) -> None:
    worker = spawn("worker", f"{FLOWS}:SlowActivity", "--domain", "workers", "--backend", redis_url, "--grace", "60")
    worker.wait_log("polling")
    marker = tmp_path / "started"
    with workers(domain, OneActivityWorkflow):
        run = start_one(domain, "Slow", {"id": "twice", "seconds": 120, "started_file": str(marker)})
        wait_until(marker.exists, timeout=20)
        began = time.monotonic()
        worker.proc.send_signal(signal.SIGTERM)
        worker.wait_log("received SIGTERM")
        assert worker.signal(signal.SIGTERM) == 0, worker.log
        assert time.monotonic() - began < 10
        record = run.wait(timeout=10).activities["Slow.twice"]
    assert record.status == "FAILED" and record.reason == "worker shutting down: stopped at once by a second signal"
    assert "stopping at once (second signal)" in worker.log


# -- the first hour: configuration mistakes, unreachable backends, registration races -------------------
def log_records(proc: Proc) -> list[str]:
    """The log lines proper (a record's first line), without traceback lines."""
    return [line for line in proc.lines if line[:4].isdigit() and " flowser." in line]


def test_configuration_errors_print_one_line_and_exit_2(spawn: Callable[..., Proc], tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("")
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k != "FLOWSER_BACKEND"}
    no_aws = {**clean, "HOME": str(home)}
    cases = [
        (("worker", f"{FLOWS}:SumModelActivity", "--backend", "ftp://nowhere"), clean, "unknown SWF backend 'ftp://nowhere'"),
        (("decider", f"{FLOWS}:OneActivityWorkflow", "--backend", "aws"), no_aws, "--backend aws: no AWS region is configured"),
        (
            ("decider", f"{FLOWS}:OneActivityWorkflow", "--backend", "aws://us-east-1"),
            no_aws,
            "--backend aws://us-east-1: no AWS credentials found",
        ),
        (
            ("worker", f"{FLOWS}:SumModelActivity"),
            {**clean, "FLOWSER_DATA_DIR": str(not_a_dir / "data")},
            "cannot start the local engine: ",
        ),
        (
            ("worker", f"{FLOWS}:Nope", "--backend", "ftp://x"),
            clean,
            "flowser worker: cannot load tests/framework/flows.py:Nope: module 'flows' has no attribute 'Nope'",
        ),
        (
            ("decider", "no_such_module:Flow"),
            clean,
            "flowser decider: cannot load no_such_module:Flow: No module named 'no_such_module'",
        ),
    ]
    for args, env, expected in cases:
        proc = spawn(*args, env=env)
        assert proc.proc.wait(30) == 2, proc.log
        wait_until(lambda proc=proc: proc.lines, timeout=5)
        assert len(proc.lines) == 1 and expected in proc.lines[0], (args, proc.log)


@pytest.mark.parametrize("scheme", ["redis", "http"])
def test_an_unreachable_backend_is_retried_with_backoff_then_given_up(spawn: Callable[..., Proc], scheme: str) -> None:
    from .conftest import free_port

    url = f"{scheme}://127.0.0.1:{free_port()}"
    began = time.monotonic()
    worker = spawn("worker", f"{FLOWS}:SumModelActivity", "--domain", "workers", "--backend", url, "--give-up-after", "3.5")
    assert worker.proc.wait(30) == 1, worker.log
    took = time.monotonic() - began
    assert 3.5 < took < 15, worker.log
    records = log_records(worker)
    # one (chained) traceback, under the first failure; none after
    tracebacks = [n for n, line in enumerate(worker.lines) if line.startswith("Traceback")]
    second = worker.lines.index(next(r for r in records if " WARNING " in r))
    assert tracebacks and max(tracebacks) < second, worker.log
    failures = [r for r in records if " ERROR " in r or " WARNING " in r]
    # attempts 1 s, 2 s, then what is left of 3.5 s apart: the first with its traceback, one line each after, the
    # verdict (3 lines when a loaded machine makes the first attempts slow, never one a second as before)
    assert 3 <= len(failures) <= 5, worker.log
    waits = [float(line.rsplit("retrying in ", 1)[1].split()[0]) for line in failures[1:-1]]
    assert waits and waits[0] <= 2.0 and all(w > 0 for w in waits), worker.log
    assert "retrying with backoff" in failures[0]
    assert all("retrying in" in line for line in failures[1:-1])
    assert "giving up" in failures[-1] and "3.5 s" in failures[-1]
    assert len(worker.lines) < 120


def test_a_worker_waits_quietly_for_the_decider_that_registers(
    spawn: Callable[..., Proc], client: Any, redis_url: str
) -> None:
    worker = spawn("worker", f"{FLOWS}:SumModelActivity", "--domain", "workers", "--backend", redis_url)
    worker.wait_log("waiting for it to be registered")
    decider = spawn("decider", f"{FLOWS}:OneActivityWorkflow", "--backend", redis_url, "--register")
    decider.wait_log("registered domain workers")
    domain = WorkerDomain(client)
    run = start_one(domain, "SumModel", {"id": "quiet", "values": [1, 2]})
    assert run.result(timeout=20) == {"total": 3}
    for proc in (worker, decider):
        assert proc.signal() == 0, proc.log
    waiting = [line for line in worker.lines if "registered" in line]
    assert len(waiting) == 1 and " INFO " in waiting[0], worker.log
    assert "Unknown domain: workers" in waiting[0] and "--register" in waiting[0]
    assert not [line for line in worker.lines if " ERROR " in line or " WARNING " in line or "Traceback" in line], worker.log


def test_on_decider_error_retry_leaves_the_decision_task_to_time_out(
    spawn: Callable[..., Proc], domain: WorkerDomain, redis_url: str
) -> None:
    from .flows import BrokenWorkflow

    decider = spawn("decider", f"{FLOWS}:BrokenWorkflow", "--backend", redis_url, "--on-decider-error", "retry")
    decider.wait_log("polling")
    run = domain.start(BrokenWorkflow, {"id": "retry"})
    decider.wait_log("the decision task is left to time out")
    history = run.history()
    assert history.closed is None and history.filter("DecisionTaskStarted") and not history.filter("DecisionTaskCompleted")
    assert decider.signal() == 0
    assert "decider for Broken stopped after 1 task(s), 1 failed" in decider.log
