"""docs/cli.md's worked session, run as written: real decider and worker processes, the commands a user types.

examples/orders runs under ``flowser decider``/``worker`` on the session's
Redis; ``flowser listen`` and ``history --follow`` are processes too; the other
commands run in-process through ``flowser.cli.main``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flowser.cli import main
from flowser.testing import wait_until

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "orders"


class Process:
    """A ``python -m flowser.cli ...`` child in examples/orders whose stdout and stderr lines are collected."""

    def __init__(self, env: dict[str, str], *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "flowser.cli", *args],
            cwd=EXAMPLE,
            env={**env, "PYTHONPATH": str(ROOT)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.out: list[str] = []
        self.err: list[str] = []
        for stream, lines in ((self.proc.stdout, self.out), (self.proc.stderr, self.err)):
            threading.Thread(target=self._read, args=(stream, lines), daemon=True).start()

    @staticmethod
    def _read(stream: Any, lines: list[str]) -> None:
        for line in stream:
            lines.append(line.rstrip("\n"))

    def stop(self, how: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, how)
        return self.proc.wait(30)


@pytest.fixture
def session(redis_client: Any, redis_url: str, monkeypatch: Any) -> Iterator[tuple[dict[str, str], list[Process]]]:
    env = {**os.environ, "FLOWSER_BACKEND": redis_url, "FLOWSER_DOMAIN": "shop", "COLUMNS": "120"}
    for name in ("FLOWSER_BACKEND", "FLOWSER_DOMAIN", "COLUMNS"):
        monkeypatch.setenv(name, env[name])
    started: list[Process] = []
    try:
        yield env, started
    finally:
        for process in started:
            process.stop()


def run(capsys: Any, *args: str, stdin: str | None = None) -> tuple[int, str, str]:
    capsys.readouterr()
    status = main(list(args))
    out, err = capsys.readouterr()
    return status, out, err


@pytest.mark.slow
def test_the_worked_session_of_docs_cli(session: tuple[dict[str, str], list[Process]], capsys: Any) -> None:
    env, started = session

    def spawn(*args: str) -> Process:
        process = Process(env, *args)
        started.append(process)
        return process

    spawn("decider", "shop:Order", "--register")
    for args in (("decider", "shop:Ship"), ("worker", "shop:Charge"), ("worker", "shop:Pack")):
        spawn(*args, "--domain-class", "shop:Shop")
    wait_until(lambda: "Pack" in run(capsys, "types", "list")[1], timeout=30)
    listen = spawn("listen", "--from", "0")

    status, out, _ = run(capsys, "executions", "start", "Order", "-w", "order-1", "-i", '{"order": 1, "amount": 42, "items": ["book", "pen"]}')
    assert status == 0 and "order-1" in out
    follow = spawn("executions", "history", "order-1", "--follow", "--interval", "0.1")
    wait_until(lambda: any("DecisionTaskCompleted" in line for line in follow.out), timeout=30)
    assert not any("ActivityTaskScheduled" in line for line in follow.out)  # the order waits for approval

    assert run(capsys, "executions", "signal", "order-1", "approve", "-i", '"alice"')[:2] == (0, "signalled order-1\n")
    assert follow.proc.wait(30) == 0
    followed = "\n".join(follow.out)
    for text in ("WorkflowExecutionSignaled", "signalName=approve", "activityId=charge-1", "workflowId=ship-1",
                 "WorkflowExecutionCompleted", "run closed: COMPLETED"):
        assert text in followed, (text, followed)

    status, grouped, _ = run(capsys, "executions", "history", "order-1", "--grouped")
    rows = {line.split()[2]: line.split() for line in grouped.splitlines()[2:]}
    assert rows["approve"][1:4] == ["signal", "approve", "RECEIVED"]
    assert rows["charge-1"][1:4] == ["activity", "charge-1", "COMPLETED"]
    assert rows["ship-1"][1:4] == ["child", "ship-1", "COMPLETED"]

    status, tree, _ = run(capsys, "executions", "tree", "order-1")
    first, second = tree.splitlines()[:2]
    assert first.split()[:3] == ["order-1", "Order:1", "COMPLETED"]
    assert second.split()[1:4] == ["ship-1", "Ship:1", "COMPLETED"]

    for n in (2, 3, 4):
        assert run(capsys, "executions", "start", "Order", "-w", f"order-{n}", "-i", f'{{"order": {n}, "amount": 5, "items": ["mug"]}}', "--tag", "web")[0] == 0
    status, listed, _ = run(capsys, "executions", "list")
    assert [line.split()[0] for line in listed.splitlines()[1:]] == ["order-4", "order-3", "order-2", "ship-1", "order-1"]
    status, out, err = run(capsys, "executions", "terminate", "--type", "Order", "--tag", "web", "--reason", "stale order", "--yes")
    assert status == 0 and out.splitlines()[-1] == "terminated 3 of 3 runs", err

    def terminated() -> list[str]:
        return [line for line in listen.out if "WorkflowExecutionTerminated" in line]

    wait_until(lambda: len(terminated()) == 3, timeout=30)
    assert listen.stop(signal.SIGINT) == 0
    assert {line.split()[1] for line in terminated()} == {"order-2", "order-3", "order-4"}
    order_1 = [line.split()[3] for line in listen.out if line.split()[1] == "order-1"]
    assert order_1[0] == "WorkflowExecutionStarted" and order_1[-1] == "WorkflowExecutionCompleted"
    assert order_1 == [line.split()[2] for line in follow.out if line.split()[:1] and line.split()[0].isdigit()]
