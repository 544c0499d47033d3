"""``flowser serve --processes N``: N server processes on one port, answering as one server."""

from __future__ import annotations

import os
import re
import signal
import threading
from typing import Any

from flowser.testing import wait_until

from .conftest import raw, register_basics, swf_client
from .test_cluster import wait_held

WF = {"name": "wf", "version": "1"}


def children_of(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return [int(p) for p in f.read().split()]


def metric(url: str, series: str) -> float:
    text = raw(url, None, b"", method="GET", path="/metrics")[2].decode()
    found = re.findall(rf"^{re.escape(series)} (\S+)$", text, flags=re.M)
    return float(found[0]) if found else 0.0


def test_processes_share_the_port_and_answer_as_one_server(serve: Any, domain: str) -> None:
    server = serve("--processes", "2", "--poll-hold", "30")
    assert server.lines[-1] == f"flowser serve: 2 processes listening on {server.url}"
    assert len(children_of(server.pid)) == 2
    register_basics(server.client(), domain)
    got: list[str] = []
    lock = threading.Lock()

    def hold_poll() -> None:
        task = swf_client(server.url).poll_for_decision_task(domain=domain, taskList={"name": "tl"})
        with lock:
            got.append(task.get("workflowExecution", {}).get("workflowId", ""))

    pollers = [threading.Thread(target=hold_poll) for _ in range(6)]
    for t in pollers:
        t.start()
    # whichever process a scrape reaches, it counts the polls of both
    wait_held(server.url, 6)
    assert {metric(server.url, "flowser_polls_held") for _ in range(10)} == {6.0}
    starter = server.client()
    for n in range(6):
        starter.start_workflow_execution(domain=domain, workflowId=f"w{n}", workflowType=WF)
    for t in pollers:
        t.join(10)
    assert sorted(got) == [f"w{n}" for n in range(6)]  # each task once, to a poll held by either process
    requests = {metric(server.url, 'flowser_requests_total{operation="StartWorkflowExecution"}') for _ in range(10)}
    assert requests == {6.0}
    polls = metric(server.url, 'flowser_request_duration_seconds_count{operation="PollForDecisionTask"}')
    assert polls == 6.0


def test_sigterm_stops_every_process_answering_held_polls(serve: Any, domain: str) -> None:
    server = serve("--processes", "3", "--poll-hold", "30")
    register_basics(server.client(), domain)
    servers = children_of(server.pid)
    answers: list[dict[str, Any]] = []

    def hold_poll() -> None:
        answers.append(swf_client(server.url).poll_for_decision_task(domain=domain, taskList={"name": "tl"}))

    pollers = [threading.Thread(target=hold_poll) for _ in range(6)]
    for t in pollers:
        t.start()
    wait_held(server.url, 6)
    server.proc.send_signal(signal.SIGTERM)
    for t in pollers:
        t.join(10)
    assert len(answers) == 6 and all(not a.get("taskToken") for a in answers)
    assert server.proc.wait(15) == 0
    assert server.lines[-1] == "flowser serve: stopped"
    wait_until(lambda: not any(os.path.exists(f"/proc/{pid}") for pid in servers), timeout=5)


def test_a_process_that_dies_stops_the_server(serve: Any) -> None:
    server = serve("--processes", "2")
    first = children_of(server.pid)[0]
    os.kill(first, signal.SIGKILL)
    assert server.proc.wait(20) == 1
    assert "a server process exited" in "\n".join(server.errors)
