"""``flowser top`` as a user sees it: SWF's counts, and the events written while it watches, on every backend."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from flowser.cli import main

DOMAIN = "top-tests"


def register(client: Any) -> None:
    client.register_domain(name=DOMAIN, workflowExecutionRetentionPeriodInDays="1")
    client.register_workflow_type(
        domain=DOMAIN,
        name="Report",
        version="3",
        defaultTaskList={"name": "reports"},
        defaultExecutionStartToCloseTimeout="3600",
        defaultTaskStartToCloseTimeout="30",
        defaultChildPolicy="TERMINATE",
    )
    client.register_activity_type(
        domain=DOMAIN,
        name="Render",
        version="1",
        defaultTaskList={"name": "renders"},
        defaultTaskScheduleToStartTimeout="300",
        defaultTaskScheduleToCloseTimeout="600",
        defaultTaskStartToCloseTimeout="300",
        defaultTaskHeartbeatTimeout="NONE",
    )


@pytest.fixture(params=["local", "http", "moto"])
def target(request: pytest.FixtureRequest, redis_client: Any, redis_url: str, monkeypatch: Any) -> Iterator[tuple[str, str, Any]]:
    """(backend name, --backend value, a boto3 client on it)."""
    monkeypatch.setenv("COLUMNS", "120")
    monkeypatch.delenv("FLOWSER_BACKEND", raising=False)
    if request.param == "moto":
        import boto3
        from moto import mock_aws

        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        with mock_aws():
            yield "moto", "aws://us-east-1", boto3.client("swf", region_name="us-east-1")
        return
    import backends

    url = redis_url if request.param == "local" else request.getfixturevalue("serve_process").url
    client = backends.connect(url)
    try:
        yield request.param, url, client
    finally:
        client.close()


def test_top_shows_counts_and_the_events_written_while_it_watches(target: tuple[str, str, Any], capsys: Any) -> None:
    name, url, client = target
    register(client)
    for n in range(3):  # three runs waiting for a decider before top starts
        client.start_workflow_execution(domain=DOMAIN, workflowId=f"before-{n}", workflowType={"name": "Report", "version": "3"})
    stop = threading.Event()

    def traffic() -> None:  # more runs while top watches, each handed to a decider (which never answers)
        n = 0
        while not stop.is_set():
            client.start_workflow_execution(domain=DOMAIN, workflowId=f"during-{n}", workflowType={"name": "Report", "version": "3"})
            client.poll_for_decision_task(domain=DOMAIN, taskList={"name": "reports"}, identity="t")
            n += 1
            stop.wait(0.1)

    writer = threading.Thread(target=traffic)
    interval = "1.2" if name == "moto" else "0.4"  # polling looks every second at least
    writer.start()
    try:
        status = main(["top", "--backend", url, "--domain", DOMAIN, "-n", "4", "--interval", interval, "--no-color"])
    finally:
        stop.set()
        writer.join()
    out, err = capsys.readouterr()
    assert status == 0, err
    frames = [frame for frame in out.split(DOMAIN + "  ") if frame.strip()]
    assert len(frames) == 4
    first, last = frames[0], frames[-1]
    via = "polling" if name == "moto" else "event stream"
    assert f"via {via}" in first
    if name == "moto":
        assert "keeps no event stream" in err  # the command says how events come when there is none
    else:
        assert err == ""
    # SWF's counts: the runs started before top began are open, and some decision tasks wait for a decider
    open_runs = int(first.split("Report 3")[1].split()[0])
    assert open_runs >= 3
    decision_row = next(line for line in first.splitlines() if line.startswith("decision") and "reports" in line)
    assert int(decision_row.split()[2]) >= 1
    assert any(line.startswith("activity") and "renders" in line for line in first.splitlines())  # a type's default list
    # the events written while it watched: seen, and a decision task started (rate above zero) in the last frame
    seen = int(last.split("events seen ")[1].split()[0])
    assert seen >= 3
    started = next(line for line in last.splitlines() if line.startswith("decision") and "(all lists)" in line)
    assert float(started.split()[-2]) > 0
    assert "timeouts in window: none" in last


def test_top_on_an_unknown_domain_is_one_line_naming_the_fault(target: tuple[str, str, Any], capsys: Any) -> None:
    _, url, _ = target
    began = time.monotonic()
    status = main(["top", "--backend", url, "--domain", "nowhere", "-n", "1"])
    out, err = capsys.readouterr()
    assert status == 1 and out == ""
    assert err.count("\n") == 1 and err.startswith("flowser top: UnknownResourceFault")
    assert time.monotonic() - began < 10
