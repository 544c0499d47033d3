"""``flowser worker`` / ``flowser decider`` as users run them: real processes, real signals, rq.

The processes use the local engine on the session's Redis (``--backend
redis://...``); the test drives executions through its own client.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import backends
from flowser.testing import wait_until, workers

from .flows import OneActivityWorkflow, WorkerDomain

ROOT = Path(__file__).resolve().parents[2]
FLOWS = "tests/framework/flows.py"
EXAMPLE = "examples/arithmetic"


class Proc:
    """A ``python -m flowser.cli ...`` child whose stderr (the log) is collected."""

    def __init__(self, *args: str) -> None:
        self.args = args
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "flowser.cli", *args],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def log(self) -> str:
        return "\n".join(self.lines)

    def wait_log(self, text: str, timeout: float = 20.0) -> None:
        try:
            wait_until(lambda: text in self.log, timeout=timeout)
        except TimeoutError:
            raise AssertionError(f"{text!r} not in the log of {self.args}:\n{self.log}") from None

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

    def start(*args: str) -> Proc:
        proc = Proc(*args)
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
    decider.wait_log(f"{ids} activityId=-")
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


def test_bad_arguments_exit_2(spawn: Callable[..., Proc], redis_url: str) -> None:
    assert spawn("worker", "no.such.module:X", "--domain", "d", "--backend", redis_url).proc.wait(30) == 2
    assert spawn("worker", f"{FLOWS}:OneActivityWorkflow", "--domain", "d").proc.wait(30) == 2
    lonely = spawn("decider", f"{FLOWS}:Base", "--backend", redis_url)
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
