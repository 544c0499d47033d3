"""``flowser listen``: a domain's events on the terminal, or as JSON lines, on the engine and (polling) on moto."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from typing import Any

import pytest
from moto import mock_aws

import backends
from backends.local import EngineConfig
from backends.local.testing import LocalEnvironment
from flowser.cli import main

from .conftest import ROOT

WF = {"name": "order", "version": "1"}


def setup(client: Any) -> None:
    client.register_domain(name="d", workflowExecutionRetentionPeriodInDays="1")
    client.register_workflow_type(
        domain="d", name="order", version="1", defaultTaskList={"name": "tl"},
        defaultExecutionStartToCloseTimeout="600", defaultTaskStartToCloseTimeout="60", defaultChildPolicy="TERMINATE",
    )


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(list(args))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


@pytest.fixture
def local(redis_client: Any, redis_url: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("COLUMNS", "200")
    client = backends.connect(redis_url, poll_hold=0.3)
    setup(client)
    yield client
    client.close()


def test_one_line_per_event_with_its_run_and_key_attributes(local: Any, redis_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    first = local.start_workflow_execution(domain="d", workflowId="order-1", workflowType=WF, input='{"n":1}')["runId"]
    local.signal_workflow_execution(domain="d", workflowId="order-1", signalName="paid")
    status, out, err = run_cli(capsys, "listen", "--backend", redis_url, "--domain", "d", "--from", "0", "--limit", "3")
    assert (status, err) == (0, "")
    lines = out.splitlines()
    assert [line.split()[1:4] for line in lines] == [
        ["order-1", first[:8], "WorkflowExecutionStarted"],
        ["order-1", first[:8], "DecisionTaskScheduled"],
        ["order-1", first[:8], "WorkflowExecutionSignaled"],
    ]
    assert 'input={"n":1}' in lines[0] and "signalName=paid" in lines[2]
    status, out, _ = run_cli(capsys, "listen", "--backend", redis_url, "-d", "d", "--from", "0", "--limit", "1",
                             "-e", "WorkflowExecutionSignaled", "-t", "order", "--time-format", "iso")
    assert status == 0 and out.split()[3] == "WorkflowExecutionSignaled" and out.split()[0].endswith("Z")


def test_json_lines_resume_after_an_id_they_gave(local: Any, redis_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    run_id = local.start_workflow_execution(domain="d", workflowId="order-1", workflowType=WF)["runId"]
    status, out, _ = run_cli(capsys, "listen", "--backend", redis_url, "-d", "d", "--from", "0", "--limit", "1", "-o", "jsonl")
    first = json.loads(out)
    assert status == 0 and first["id"] == "1-0" and first["runId"] == run_id and first["workflowType"] == WF
    assert first["event"]["eventType"] == "WorkflowExecutionStarted" and first["event"]["eventTimestamp"].endswith("Z")
    status, out, _ = run_cli(capsys, "listen", "--backend", redis_url, "-d", "d", "--from", first["id"], "--limit", "1", "-o", "jsonl")
    assert json.loads(out)["id"] == "2-0"


def test_falling_behind_the_bound_is_said(redis_client: Any, redis_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    with LocalEnvironment(redis_url, config=EngineConfig(stream_maxlen=10)) as env:
        setup(env.client)
        env.client.start_workflow_execution(domain="d", workflowId="order-1", workflowType=WF)
        for i in range(298):
            env.client.signal_workflow_execution(domain="d", workflowId="order-1", signalName=f"s{i}")
    status, out, err = run_cli(capsys, "listen", "--backend", redis_url, "-d", "d", "--from", "1-0", "--limit", "2", "-o", "jsonl")
    lost, *events = [json.loads(line) for line in out.splitlines()]
    assert status == 0 and lost["after"] == "1-0" and lost["lost"] > 0
    assert [e["event"]["eventId"] for e in events] == [2 + lost["lost"], 3 + lost["lost"]]
    assert f"{lost['lost']} event(s) after 1-0 were trimmed" in err


def test_usage_mistakes_and_unknown_domains(local: Any, redis_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run_cli(capsys, "listen", "--backend", redis_url, "-d", "d", "--from", "x")
    assert status == 2 and err.startswith("flowser listen: --from x:")
    status, _, err = run_cli(capsys, "listen", "--backend", redis_url, "-d", "nope")
    assert status == 1 and err == "flowser listen: UnknownResourceFault: Unknown domain: nope\n"


def test_on_moto_it_polls_and_says_so(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        import boto3

        client = boto3.client("swf", region_name="us-east-1")
        setup(client)
        client.start_workflow_execution(domain="d", workflowId="order-1", workflowType=WF)
        status, out, err = run_cli(capsys, "listen", "--backend", "aws://us-east-1", "-d", "d", "--from", "0",
                                   "--limit", "2", "--poll-interval", "0.05")
    assert status == 0
    assert [line.split()[3] for line in out.splitlines()] == ["WorkflowExecutionStarted", "DecisionTaskScheduled"]
    assert err.startswith("flowser listen: this backend keeps no event stream: looking at visibility and histories every 0.05 s")


def test_ctrl_c_ends_it_quietly(local: Any, redis_url: str) -> None:
    local.start_workflow_execution(domain="d", workflowId="order-1", workflowType=WF)
    proc = subprocess.Popen(
        [sys.executable, "-m", "flowser.cli", "listen", "--backend", redis_url, "-d", "d", "--from", "0", "-o", "jsonl"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ},
    )
    try:
        assert proc.stdout is not None
        assert [json.loads(proc.stdout.readline())["id"] for _ in range(2)] == ["1-0", "2-0"]  # then it waits
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert (proc.returncode, out, err) == (0, "", "")
