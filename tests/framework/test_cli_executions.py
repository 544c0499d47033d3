"""``flowser domains``, ``flowser types`` and ``flowser executions list|describe|start|signal|cancel|terminate``
as a user sees them: ``flowser.cli.main`` in-process, stdout, stderr and the exit status.

Each test runs on the embedded engine (``--backend redis://...``), on a ``flowser serve`` process
(``http://...``) and on moto (``aws://us-east-1`` inside ``moto.mock_aws``) where moto has the calls;
what moto lacks is skipped with the reason. A boto3 client drives the runs.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import flowser.ops
from flowser.cli import main
from flowser.testing import wait_until

from . import cli_harness as harness

DOMAIN = "cli"


class Cli(harness.Cli):
    def __init__(self, name: str, backend: str, client: Any, capsys: Any, monkeypatch: Any) -> None:
        super().__init__(name, backend, client, capsys, monkeypatch, domain=DOMAIN)
        monkeypatch.delenv("NO_COLOR", raising=False)


@pytest.fixture(params=harness.BACKENDS)
def cli(request: pytest.FixtureRequest, redis_client: Any, redis_url: str, capsys: Any, monkeypatch: Any) -> Iterator[Cli]:
    with harness.cli_on(request.param, request, redis_url, monkeypatch, lambda *made: Cli(*made, capsys, monkeypatch)) as cli:
        yield cli


# -- the runs the tests look at --------------------------------------------------------------------
@dataclass
class Runs:
    """order-a COMPLETED, order-b TERMINATED, refund-c open with charge-1 started (its second attempt
    except on moto), order-d open; started in that order, each a few ms after the last."""

    ids: dict[str, str]  # workflowId -> runId


def register(client: Any) -> None:
    client.register_domain(name=DOMAIN, workflowExecutionRetentionPeriodInDays="1", description="the CLI's tests")
    for name, version, task_list in (("Order", "1", "orders"), ("Refund", "2", "refunds")):
        client.register_workflow_type(
            domain=DOMAIN,
            name=name,
            version=version,
            defaultTaskList={"name": task_list},
            defaultExecutionStartToCloseTimeout="3600",
            defaultTaskStartToCloseTimeout="30",
            defaultChildPolicy="TERMINATE",
        )
    client.register_activity_type(
        domain=DOMAIN,
        name="Charge",
        version="1",
        defaultTaskList={"name": "charges"},
        defaultTaskHeartbeatTimeout="120",
        defaultTaskScheduleToStartTimeout="300",
        defaultTaskScheduleToCloseTimeout="600",
        defaultTaskStartToCloseTimeout="300",
    )


def poll(client: Any, kind: str, task_list: str, identity: str = "tester") -> dict[str, Any]:
    """A task from the list (polling again after an empty poll)."""
    method = client.poll_for_decision_task if kind == "decision" else client.poll_for_activity_task

    def once() -> dict[str, Any] | None:
        task = method(domain=DOMAIN, taskList={"name": task_list}, identity=identity)
        return task if task.get("taskToken") else None

    return wait_until(once, timeout=20)


def schedule_charge(client: Any, token: str) -> None:
    client.respond_decision_task_completed(
        taskToken=token,
        decisions=[
            {
                "decisionType": "ScheduleActivityTask",
                "scheduleActivityTaskDecisionAttributes": {"activityType": {"name": "Charge", "version": "1"}, "activityId": "charge-1"},
            }
        ],
    )


def start(client: Any, workflow_id: str, name: str, version: str, tags: list[str]) -> str:
    before = time.time()
    run_id = client.start_workflow_execution(
        domain=DOMAIN, workflowId=workflow_id, workflowType={"name": name, "version": version}, tagList=tags, input=f"in-{workflow_id}"
    )["runId"]
    wait_until(lambda: time.time() > before + 0.005)  # the next run starts in a later millisecond
    return str(run_id)


@pytest.fixture
def runs(cli: Cli) -> Runs:
    client = cli.client
    register(client)
    ids: dict[str, str] = {}
    ids["order-a"] = start(client, "order-a", "Order", "1", ["blue", "vip"])
    task = poll(client, "decision", "orders")
    client.respond_decision_task_completed(
        taskToken=task["taskToken"],
        decisions=[{"decisionType": "CompleteWorkflowExecution", "completeWorkflowExecutionDecisionAttributes": {"result": "ok"}}],
    )
    ids["order-b"] = start(client, "order-b", "Order", "1", ["red"])
    client.terminate_workflow_execution(domain=DOMAIN, workflowId="order-b", reason="setup")
    ids["refund-c"] = start(client, "refund-c", "Refund", "2", ["blue"])
    schedule_charge(client, poll(client, "decision", "refunds")["taskToken"])
    activity = poll(client, "activity", "charges", identity="worker-1")
    if cli.name != "moto":  # moto refuses a second ScheduleActivityTask of an activityId it has seen close
        client.respond_activity_task_failed(taskToken=activity["taskToken"], reason="declined")
        schedule_charge(client, poll(client, "decision", "refunds")["taskToken"])
        poll(client, "activity", "charges", identity="worker-2")
    ids["order-d"] = start(client, "order-d", "Order", "1", ["blue"])
    return Runs(ids)


def workflow_ids(result: harness.Result) -> list[str]:
    assert result.status == 0, result
    return [row[0] for row in result.rows()]


# -- domains and types ----------------------------------------------------------------------------------
def test_domains_register_list_describe_deprecate(cli: Cli) -> None:
    done = cli("domains", "register", "shop", "--retention", "7", "--description", "orders [and] refunds")
    assert (done.status, done.out, done.err) == (0, "registered domain shop\n", "")
    cli("domains", "register", "aaa")
    listed = cli("domains", "list")
    assert listed.status == 0
    assert listed.lines[0].split() == ["NAME", "STATUS", "DESCRIPTION"]
    assert [row[:2] for row in listed.rows()] == [["aaa", "REGISTERED"], ["shop", "REGISTERED"]]
    assert listed.lines[2].endswith("orders [and] refunds")  # brackets are text, not markup

    described = cli("domains", "describe", "shop")
    fields = dict(line.split(None, 1) for line in described.lines)
    assert fields["name"] == "shop" and fields["status"] == "REGISTERED"
    assert fields["retention"] == "7 days" and fields["description"] == "orders [and] refunds"
    assert fields["arn"].startswith("arn:aws:swf:us-east-1:") and fields["arn"].endswith(":/domain/shop")
    as_json = json.loads(cli("domains", "describe", "shop", "-o", "json").out)
    assert as_json["configuration"] == {"workflowExecutionRetentionPeriodInDays": "7"}

    assert cli("domains", "deprecate", "shop").out == "deprecated domain shop\n"
    assert [row[:2] for row in cli("domains", "list", "--status", "deprecated").rows()] == [["shop", "DEPRECATED"]]
    assert cli("domains", "undeprecate", "shop").out == "undeprecated domain shop\n"
    assert [row[0] for row in cli("domains", "list", "--status", "REGISTERED").rows()] == ["aaa", "shop"]


def test_domain_faults_are_one_line_naming_the_fault(cli: Cli) -> None:
    cli("domains", "register", "shop")
    again = cli("domains", "register", "shop")
    assert again.status == 1 and again.out == ""
    assert again.err.startswith("flowser domains register: DomainAlreadyExistsFault") and again.err.count("\n") == 1
    missing = cli("domains", "describe", "nowhere")
    assert missing.status == 1 and missing.err.startswith("flowser domains describe: UnknownResourceFault")
    assert missing.err.count("\n") == 1
    bad = cli("domains", "register", "x", "--retention", "ninety")
    assert bad.status == 2 and bad.err == "flowser domains register: --retention ninety: a number of days, 0 to 90 (or NONE)\n"


def test_types_list_and_describe(cli: Cli) -> None:
    register(cli.client)
    listed = cli("types", "list")
    assert listed.status == 0, listed
    assert [row[:4] for row in listed.rows()] == [
        ["workflow", "Order", "1", "REGISTERED"],
        ["workflow", "Refund", "2", "REGISTERED"],
        ["activity", "Charge", "1", "REGISTERED"],
    ]
    assert [row[1] for row in cli("types", "list", "--kind", "activity").rows()] == ["Charge"]

    order = cli("types", "describe", "Order")  # the one registered version, found by kind
    assert order.status == 0, order
    fields = dict(line.split("  ", 1) for line in order.lines)
    fields = {k.strip(): v.strip() for k, v in fields.items()}
    assert fields["kind"] == "workflow" and fields["version"] == "1"
    assert fields["default task list"] == "orders"
    assert fields["default execution timeout"] == "1h00m" and fields["default task timeout"] == "30s"
    assert fields["default child policy"] == "TERMINATE"

    charge = cli("types", "describe", "Charge:1", "--kind", "activity", "-o", "json")
    detail = json.loads(charge.out)
    assert detail["kind"] == "activity" and detail["configuration"]["defaultTaskHeartbeatTimeout"] == "120"
    text = cli("types", "describe", "Charge", "1").out
    assert "default heartbeat timeout          2m00s" in text and "default start-to-close timeout     5m00s" in text

    missing = cli("types", "describe", "Nope", "1")
    assert missing.status == 1
    assert missing.err == "flowser types describe: UnknownResourceFault: no workflow or activity type Nope:1 in domain 'cli'\n"
    unknown_version = cli("types", "describe", "Order", "9", "--kind", "workflow")
    assert unknown_version.status == 1 and unknown_version.err.startswith("flowser types describe: UnknownResourceFault")


# -- executions list ------------------------------------------------------------------------------------
def test_list_shows_open_and_closed_runs_newest_first(cli: Cli, runs: Runs) -> None:
    listed = cli("executions", "list")
    assert listed.status == 0, listed
    assert listed.lines[0].split() == ["WORKFLOW", "ID", "RUN", "ID", "TYPE", "STATUS", "STARTED", "DURATION"]
    rows = listed.rows()
    assert [row[0] for row in rows] == ["order-d", "refund-c", "order-b", "order-a"]
    assert [row[1] for row in rows] == [runs.ids[w][:8] for w in ("order-d", "refund-c", "order-b", "order-a")]
    assert [row[2] for row in rows] == ["Order:1", "Refund:2", "Order:1", "Order:1"]
    assert [row[3] for row in rows] == ["OPEN", "OPEN", "TERMINATED", "COMPLETED"]
    assert all(row[5] == "ago" for row in rows)  # "1.2s ago"
    assert listed.err == ""
    assert "\x1b[" not in listed.out  # no colour off a terminal
    assert all(len(line) <= 100 for line in listed.lines)


def test_list_filters_combine_on_the_client(cli: Cli, runs: Runs) -> None:
    def ids(*args: str) -> list[str]:
        return workflow_ids(cli("executions", "list", *args))

    assert ids("--status", "open") == ["order-d", "refund-c"]
    assert ids("--status", "closed") == ["order-b", "order-a"]
    assert ids("--type", "Order") == ["order-d", "order-b", "order-a"]
    assert ids("--type", "Order:1", "--tag", "blue") == ["order-d", "order-a"]
    assert ids("--type", "Order:2") == []
    assert ids("--tag", "blue", "--status", "open") == ["order-d", "refund-c"]
    assert ids("--tag", "blue", "--tag", "vip") == ["order-a"]
    assert ids("--workflow-id", "refund-c") == ["refund-c"]
    assert ids("--workflow-id", "order-b", "--status", "open") == []
    assert ids("--close-status", "TERMINATED", "--type", "Order") == ["order-b"]

    started = {
        info["execution"]["workflowId"]: info["startTimestamp"] for info in json.loads(cli("executions", "list", "-o", "json").out)
    }
    assert ids("--since", started["refund-c"]) == ["order-d", "refund-c"]
    assert ids("--until", started["order-b"]) == ["order-b", "order-a"]
    assert ids("--since", started["order-b"], "--until", started["refund-c"], "--tag", "blue") == ["refund-c"]
    assert ids("--since", "1h") == ["order-d", "refund-c", "order-b", "order-a"]
    future = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat()
    assert cli("executions", "list", "--since", future).err == "flowser executions list: no execution matches\n"


def test_list_close_status_alone(cli: Cli, runs: Runs) -> None:
    cli.skip_on_moto("moto's closeStatusFilter compares a dict with a string: it drops every other closed run")
    assert workflow_ids(cli("executions", "list", "--close-status", "completed")) == ["order-a"]
    assert workflow_ids(cli("executions", "list", "--close-status", "TIMED_OUT")) == []


def test_list_limit_says_when_more_match(cli: Cli, runs: Runs) -> None:
    limited = cli("executions", "list", "--limit", "2")
    assert workflow_ids(limited) == ["order-d", "refund-c"]
    assert limited.err == "flowser executions list: showing the newest 2; more runs match (--limit N for more, --limit 0 for all)\n"
    exact = cli("executions", "list", "--limit", "4")
    assert len(exact.rows()) == 4 and exact.err == ""


def test_list_json_jsonl_and_iso_times(cli: Cli, runs: Runs) -> None:
    infos = json.loads(cli("executions", "list", "-o", "json").out)
    assert [i["execution"] for i in infos] == [{"workflowId": w, "runId": runs.ids[w]} for w in ("order-d", "refund-c", "order-b", "order-a")]
    assert infos[3]["closeStatus"] == "COMPLETED" and infos[3]["tagList"] == ["blue", "vip"]
    assert infos[0]["startTimestamp"].endswith("Z")
    lines = cli("executions", "list", "-o", "jsonl", "--status", "open").lines
    assert [json.loads(line)["execution"]["workflowId"] for line in lines] == ["order-d", "refund-c"]
    iso = cli("executions", "list", "--time-format", "iso", "--workflow-id", "order-a")
    assert iso.rows()[0][4] == infos[3]["startTimestamp"]


def test_a_narrow_terminal_keeps_the_table_within_its_width(cli: Cli, runs: Runs) -> None:
    cli.monkeypatch.setenv("COLUMNS", "60")
    narrow = cli("executions", "list")
    assert narrow.status == 0 and all(len(line) <= 60 for line in narrow.lines), narrow.out
    cli.monkeypatch.setenv("COLUMNS", "140")
    wide = cli("executions", "list", "--workflow-id", "order-a")
    assert wide.lines[0].split()[-2:] == ["CLOSED", "DURATION"]


# -- executions describe --------------------------------------------------------------------------------
def fields_of(result: harness.Result) -> dict[str, str]:
    assert result.status == 0, result
    out: dict[str, str] = {}
    for line in result.lines:
        if not line.strip():
            break
        name, _, value = line.partition("  ")
        if name.strip():
            out[name.strip()] = value.strip()
    return out


def test_describe_an_open_run_with_its_pending_activity(cli: Cli, runs: Runs) -> None:
    shown = cli("executions", "describe", "refund-c")
    fields = fields_of(shown)
    assert fields["workflowId"] == "refund-c" and fields["runId"] == runs.ids["refund-c"]
    assert fields["type"] == "Refund:2" and fields["status"] == "OPEN"
    assert fields["tags"] == "blue" and fields["task list"] == "refunds"
    assert fields["timeouts"] == "execution 1h00m, decision task 30s"
    assert fields["child policy"] == "TERMINATE"
    assert fields["open"].startswith("activity tasks 1, decision tasks 0, timers 0")
    assert fields["parent"] == "-"
    lines = shown.lines
    header = lines.index(next(line for line in lines if line.startswith("ACTIVITY ID")))
    assert lines[header - 1].strip() == "pending activities"
    row = lines[header + 1].split()
    attempt, worker = ("1", "worker-1") if cli.name == "moto" else ("2", "worker-2")
    assert row[:4] == ["charge-1", "Charge:1", "STARTED", attempt] and row[-1] == worker

    detail = json.loads(cli("executions", "describe", "refund-c", "-o", "json").out)
    [pending] = detail["pendingActivities"]
    assert (pending["activityId"], pending["state"], pending["attempt"], pending["identity"]) == ("charge-1", "STARTED", int(attempt), worker)
    assert pending["startedTimestamp"].endswith("Z")
    if cli.name != "moto":  # moto's ActivityTaskScheduled leaves out the type's default timeouts
        assert pending["heartbeatTimeout"] == "120"
    assert detail["openCounts"]["openActivityTasks"] == 1


def test_describe_closed_runs_by_workflow_id_or_run_id_prefix(cli: Cli, runs: Runs) -> None:
    done = fields_of(cli("executions", "describe", "order-a"))
    assert done["status"] == "COMPLETED" and done["runId"] == runs.ids["order-a"]
    assert done["tags"] == "blue, vip" and done["open"].startswith("activity tasks 0")
    by_prefix = fields_of(cli("executions", "describe", "order-b", "--run-id", runs.ids["order-b"][:8]))
    assert by_prefix["runId"] == runs.ids["order-b"] and by_prefix["status"] == "TERMINATED"
    assert "pending activities" not in cli("executions", "describe", "order-a").out


def test_describe_errors(cli: Cli, runs: Runs) -> None:
    missing = cli("executions", "describe", "nope")
    assert (missing.status, missing.out) == (1, "")
    assert missing.err == "flowser executions describe: no execution with workflowId 'nope' in domain 'cli'\n"
    wrong_run = cli("executions", "describe", "order-a", "--run-id", "zzzzzzzz")
    assert wrong_run.status == 1 and wrong_run.err.startswith("flowser executions describe: UnknownResourceFault")
    assert wrong_run.err.count("\n") == 1
    other_domain = cli("executions", "describe", "order-a", "--domain", "elsewhere")
    assert other_domain.status == 1 and "UnknownResourceFault" in other_domain.err


# -- executions start ------------------------------------------------------------------------------------
def first_event_input(client: Any, execution: dict[str, str]) -> Any:
    events = client.get_workflow_execution_history(domain=DOMAIN, execution=execution)["events"]
    return events[0]["workflowExecutionStartedEventAttributes"]


def test_start_from_an_argument_a_file_or_stdin(cli: Cli, tmp_path: Path) -> None:
    register(cli.client)
    started = cli("executions", "start", "Order", "--workflow-id", "new-1", "--input", '{"n": 1}', "--tag", "x", "--tag", "y")
    fields = fields_of(started)
    assert fields["workflowId"] == "new-1" and fields["runId"]
    attrs = first_event_input(cli.client, {"workflowId": "new-1", "runId": fields["runId"]})
    assert attrs["input"] == '{"n": 1}' and attrs["taskList"] == {"name": "orders"}  # the type's default
    [info] = json.loads(cli("executions", "list", "-w", "new-1", "-o", "json").out)
    assert info["tagList"] == ["x", "y"]

    payload = tmp_path / "input.json"
    payload.write_text('{"from": "file"}')
    as_json = cli(
        "executions", "start", "Refund:2", "-w", "new-2", "--input", f"@{payload}", "--task-list", "special",
        "--execution-timeout", "2h", "--task-timeout", "45", "--child-policy", "abandon", "-o", "json",
    )  # fmt: skip
    started_json = json.loads(as_json.out)
    assert started_json["workflowId"] == "new-2" and set(started_json) == {"workflowId", "runId"}
    attrs = first_event_input(cli.client, started_json)
    assert attrs["input"] == '{"from": "file"}' and attrs["taskList"] == {"name": "special"}
    assert (attrs["executionStartToCloseTimeout"], attrs["taskStartToCloseTimeout"]) == ("7200", "45")
    assert attrs["childPolicy"] == "ABANDON"

    piped = json.loads(cli("executions", "start", "Order:1", "-w", "new-3", "--input", "-", "-o", "json", stdin="from stdin").out)
    assert first_event_input(cli.client, piped)["input"] == "from stdin"
    generated = json.loads(cli("executions", "start", "Order", "-o", "json").out)
    assert len(generated["workflowId"]) == 36  # a UUID
    assert workflow_ids(cli("executions", "list", "--tag", "x")) == ["new-1"]


def test_start_faults(cli: Cli) -> None:
    register(cli.client)
    cli("executions", "start", "Order", "-w", "dup")
    again = cli("executions", "start", "Order", "-w", "dup")
    assert again.status == 1 and again.err.startswith("flowser executions start: WorkflowExecutionAlreadyStartedFault")
    unknown = cli("executions", "start", "Nope")
    assert unknown.status == 1 and unknown.err == "flowser executions start: no registered workflow type 'Nope' in domain 'cli'\n"
    unknown_version = cli("executions", "start", "Order:7")
    assert unknown_version.status == 1 and unknown_version.err.startswith("flowser executions start: UnknownResourceFault")
    cli.client.register_workflow_type(domain=DOMAIN, name="Order", version="2")
    ambiguous = cli("executions", "start", "Order")
    assert ambiguous.status == 1 and "workflow type 'Order' has versions 1, 2: name one as Order:VERSION" in ambiguous.err


# -- signal, cancel, terminate -----------------------------------------------------------------------------
def history_types(client: Any, workflow_id: str, run_id: str) -> list[str]:
    events = client.get_workflow_execution_history(domain=DOMAIN, execution={"workflowId": workflow_id, "runId": run_id})["events"]
    return [e["eventType"] for e in events]


def test_signal_one_run(cli: Cli, runs: Runs) -> None:
    signalled = cli("executions", "signal", "order-d", "go", "--input", "now")
    assert (signalled.status, signalled.out, signalled.err) == (0, "signalled order-d\n", "")
    events = cli.client.get_workflow_execution_history(domain=DOMAIN, execution={"workflowId": "order-d", "runId": runs.ids["order-d"]})
    signal = [e for e in events["events"] if e["eventType"] == "WorkflowExecutionSignaled"]
    assert [(s["workflowExecutionSignaledEventAttributes"]["signalName"], s["workflowExecutionSignaledEventAttributes"]["input"]) for s in signal] == [("go", "now")]
    by_run = cli("executions", "signal", "refund-c", "poke", "--run-id", runs.ids["refund-c"][:8], "-i", "x")
    assert by_run.out == f"signalled refund-c (run {runs.ids['refund-c'][:8]})\n"

    closed = cli("executions", "signal", "order-a", "go", "-i", "x")
    assert closed.status == 1 and closed.err.startswith("flowser executions signal: UnknownResourceFault") and closed.out == ""


def test_terminate_one_run(cli: Cli, runs: Runs) -> None:
    done = cli("executions", "terminate", "order-d", "--reason", "stuck", "--details", "by hand")
    assert (done.status, done.out) == (0, "terminated order-d\n")
    assert fields_of(cli("executions", "describe", "order-d"))["status"] == "TERMINATED"
    events = cli.client.get_workflow_execution_history(domain=DOMAIN, execution={"workflowId": "order-d", "runId": runs.ids["order-d"]})
    attrs = events["events"][-1]["workflowExecutionTerminatedEventAttributes"]
    assert (attrs["reason"], attrs["details"]) == ("stuck", "by hand")


def test_cancel_one_run(cli: Cli, runs: Runs) -> None:
    done = cli("executions", "cancel", "order-d")
    if cli.name == "moto":  # moto raises NotImplementedError: one line, no traceback
        assert done.status == 1 and done.out == ""
        assert done.err.startswith("flowser executions cancel: not implemented by this backend: ")
        assert done.err.count("\n") == 1
        return
    assert (done.status, done.out) == (0, "cancel requested for order-d\n")
    assert fields_of(cli("executions", "describe", "order-d"))["status"] == "OPEN (cancel requested)"
    assert "WorkflowExecutionCancelRequested" in history_types(cli.client, "order-d", runs.ids["order-d"])


def test_a_batch_asks_first_and_no_means_nothing_done(cli: Cli, runs: Runs) -> None:
    declined = cli("executions", "terminate", "--tag", "blue", "--reason", "cleanup", stdin="n\n")
    assert declined.status == 1 and declined.out == ""
    assert declined.err.splitlines() == [
        "2 open runs in domain cli match:",
        f"  order-d (run {runs.ids['order-d'][:8]})",
        f"  refund-c (run {runs.ids['refund-c'][:8]})",
        "terminate them? [y/N] n",
        "flowser executions terminate: not confirmed: nothing done",
    ]
    assert workflow_ids(cli("executions", "list", "--status", "open")) == ["order-d", "refund-c"]
    silent = cli("executions", "terminate", "--tag", "blue")  # stdin at its end: no
    assert silent.status == 1 and workflow_ids(cli("executions", "list", "--status", "open")) == ["order-d", "refund-c"]

    agreed = cli("executions", "terminate", "--tag", "blue", "--type", "Order", "--reason", "cleanup", stdin="y\n")
    assert agreed.status == 0, agreed
    assert agreed.out.splitlines() == [f"terminated order-d (run {runs.ids['order-d'][:8]})", "terminated 1 of 1 runs"]
    assert "1 open run in domain cli match:" in agreed.err and "terminate it? [y/N] y" in agreed.err
    assert workflow_ids(cli("executions", "list", "--status", "open")) == ["refund-c"]


def test_a_batch_with_yes_and_the_count(cli: Cli, runs: Runs) -> None:
    signalled = cli("executions", "signal", "wake", "--all-matching", "--yes", "-i", "x")
    assert signalled.status == 0 and signalled.err == ""
    assert signalled.out.splitlines()[-1] == "signalled 2 of 2 runs"
    for workflow_id in ("order-d", "refund-c"):
        assert "WorkflowExecutionSignaled" in history_types(cli.client, workflow_id, runs.ids[workflow_id])
    nothing = cli("executions", "terminate", "--tag", "red", "--yes")  # order-b is closed already
    assert (nothing.status, nothing.out, nothing.err) == (0, "", "flowser executions terminate: no open run matches: nothing to do\n")
    as_json = json.loads(cli("executions", "terminate", "--all-matching", "-y", "-o", "json").out)
    assert as_json == [
        {"workflowId": "order-d", "runId": runs.ids["order-d"], "ok": True},
        {"workflowId": "refund-c", "runId": runs.ids["refund-c"], "ok": True},
    ]
    assert workflow_ids(cli("executions", "list", "--status", "open")) == []


def test_a_batch_reports_each_failure_and_exits_1(cli: Cli, runs: Runs, monkeypatch: pytest.MonkeyPatch) -> None:
    """A run that closes between the selection and the action: its fault is reported, the others go on."""
    selected = flowser.ops.iter_executions

    def with_a_closed_one(client: Any, domain: str, query: Any, **kw: Any) -> Iterator[dict[str, Any]]:
        yield from selected(client, domain, query, **kw)
        yield {"execution": {"workflowId": "order-a", "runId": runs.ids["order-a"]}}

    monkeypatch.setattr(flowser.ops, "iter_executions", with_a_closed_one)
    done = cli("executions", "terminate", "--all-matching", "--yes")
    assert done.status == 1
    assert done.out.splitlines() == [
        f"terminated order-d (run {runs.ids['order-d'][:8]})",
        f"terminated refund-c (run {runs.ids['refund-c'][:8]})",
        "terminated 2 of 3 runs; 1 failed",
    ]
    [failure] = done.err.splitlines()
    assert failure.startswith(f"flowser executions terminate: order-a (run {runs.ids['order-a'][:8]}): UnknownResourceFault")


def test_a_batch_cancel(cli: Cli, runs: Runs) -> None:
    cli.skip_on_moto("moto has no RequestCancelWorkflowExecution")
    done = cli("executions", "cancel", "--type", "Refund", "-y")
    assert done.status == 0 and done.out.splitlines()[-1] == "cancel requested for 1 of 1 runs"
    assert "WorkflowExecutionCancelRequested" in history_types(cli.client, "refund-c", runs.ids["refund-c"])


# -- usage mistakes (exit 2, before any backend is reached) ----------------------------------------------
@pytest.mark.parametrize(
    ("args", "error"),
    [
        (("executions", "list", "--status", "open", "--close-status", "FAILED"), "flowser executions list: an open run has no close status"),
        (("executions", "list", "--since", "yesterday"), "flowser executions list: 'yesterday' is neither an ISO 8601 time nor an age like 15m, 2h or 3d"),
        (("executions", "list", "--type", ":1"), "flowser executions list: --type :1: NAME or NAME:VERSION"),
        (("executions", "terminate"), "flowser executions terminate: name a WORKFLOW_ID, or select open runs with --type, --tag, --since, --until or --all-matching"),
        (("executions", "terminate", "wf", "--tag", "x"), "flowser executions terminate: give a WORKFLOW_ID or batch filters (--type, --tag, --since, --until, --all-matching), not both"),
        (("executions", "cancel", "--run-id", "abc", "--all-matching"), "flowser executions cancel: --run-id needs a WORKFLOW_ID"),
        (("executions", "signal", "a", "b", "c"), "flowser executions signal: give WORKFLOW_ID SIGNAL_NAME, or SIGNAL_NAME with batch filters"),
        (("executions", "signal", "go", "--all-matching", "--input", "-"), "flowser executions signal: stdin gives the input, so it cannot answer the confirmation: add --yes"),
        (("executions", "start", "Order", "--execution-timeout", "soon"), "flowser executions start: --execution-timeout soon: seconds, or a duration like 90s, 15m, 2h, 1d, or NONE"),
        (("executions", "list", "--status", "running"), "flowser executions list: Invalid value for '--status': 'running' is not one of 'open', 'closed', 'all'. (see flowser executions list --help)"),
    ],
)
def test_usage_mistakes_exit_2_with_one_line(args: tuple[str, ...], error: str, capsys: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWSER_DOMAIN", "d")
    monkeypatch.setenv("FLOWSER_BACKEND", "ftp://never-reached")  # a usage mistake is found before the client is made
    assert main(list(args)) == 2
    out, err = capsys.readouterr()
    assert (out, err) == ("", error + "\n")


def test_no_domain_is_a_usage_mistake(capsys: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLOWSER_DOMAIN", raising=False)
    assert main(["executions", "list", "--backend", "ftp://never-reached"]) == 2
    assert capsys.readouterr().err == "flowser executions list: name the domain with --domain or $FLOWSER_DOMAIN\n"


def test_an_unreachable_backend_is_one_line_and_exit_1(capsys: Any) -> None:
    from .conftest import free_port

    assert main(["executions", "list", "-d", "d", "--backend", f"http://127.0.0.1:{free_port()}"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("flowser executions list: cannot reach the backend: ") and err.count("\n") == 1


# -- pending activities from a history (no backend) ------------------------------------------------------
def event(event_id: int, kind: str, **attrs: Any) -> dict[str, Any]:
    return {"eventId": event_id, "eventType": kind, "eventTimestamp": event_id, kind[0].lower() + kind[1:] + "EventAttributes": attrs}


def test_pending_activities_count_attempts_and_drop_closed_tasks() -> None:
    charge = {"name": "Charge", "version": "1"}
    history = [
        event(5, "ActivityTaskScheduled", activityId="a", activityType=charge, taskList={"name": "l"}, heartbeatTimeout="60"),
        event(6, "ActivityTaskStarted", scheduledEventId=5, identity="w1"),
        event(7, "ActivityTaskTimedOut", scheduledEventId=5, startedEventId=6, timeoutType="HEARTBEAT"),
        event(8, "ActivityTaskScheduled", activityId="b", activityType=charge, taskList={"name": "l"}),
        event(11, "ActivityTaskScheduled", activityId="a", activityType=charge, taskList={"name": "l"}),
        event(12, "ActivityTaskStarted", scheduledEventId=11, identity="w2"),
        event(13, "ActivityTaskCancelRequested", activityId="a", decisionTaskCompletedEventId=10),
        event(14, "ActivityTaskScheduled", activityId="c", activityType=charge, taskList={"name": "l"}),
        event(15, "ActivityTaskCompleted", scheduledEventId=14, startedEventId=0),
    ]
    pending = flowser.ops.pending_activities(history)
    assert [(p["activityId"], p["state"], p["attempt"], p["identity"], p["cancelRequested"]) for p in pending] == [
        ("b", "SCHEDULED", 1, None, False),
        ("a", "STARTED", 2, "w2", True),
    ]
    assert pending[1]["startedTimestamp"] == 12 and pending[1]["scheduledEventId"] == 11


def test_colour_on_a_terminal_only_and_never_with_no_color(cli: Cli, runs: Runs) -> None:
    plain = cli("executions", "list")
    assert "\x1b[" not in plain.out  # not a terminal
    cli.monkeypatch.setenv("FORCE_COLOR", "1")  # rich's stand-in for a terminal
    coloured = cli("executions", "list")
    assert "\x1b[32mCOMPLETED" in coloured.out and "\x1b[35mTERMINATED" in coloured.out
    uncoloured = cli("executions", "list", "--no-color")
    assert "COMPLETED" in uncoloured.out and "\x1b[3" not in uncoloured.out  # no colour (bold may stay)
    cli.monkeypatch.setenv("NO_COLOR", "1")
    assert "\x1b[3" not in cli("executions", "list").out


# -- flowser.ops: one server-side filter, paging, stopping early --------------------------------------------
def test_the_most_selective_filter_goes_to_the_server() -> None:
    query = flowser.ops.ExecutionQuery
    both = query(workflow_id="w", tags=("t",), type_name="T", type_version="1", close_status="FAILED")
    assert both.server_filter(closed=True) == {"executionFilter": {"workflowId": "w"}}
    assert query(tags=("t", "u"), type_name="T", type_version="1").server_filter(closed=False) == {"tagFilter": {"tag": "t"}}
    assert query(type_name="T", type_version="1", close_status="FAILED").server_filter(closed=True) == {
        "typeFilter": {"name": "T", "version": "1"}
    }
    assert query(type_name="T", close_status="FAILED").server_filter(closed=True) == {"closeStatusFilter": {"status": "FAILED"}}
    assert query(type_name="T", close_status="FAILED").server_filter(closed=False) == {}
    assert not query(close_status="FAILED").wants_open and not query(status="open").wants_closed
    with pytest.raises(ValueError, match="an open run has no close status"):
        query(status="open", close_status="FAILED")


class CountingClient:
    """A client that counts the list calls made through it."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.calls: list[tuple[str, str | None]] = []

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.client, name)

        def call(**kw: Any) -> Any:
            self.calls.append((name, kw.get("nextPageToken")))
            return method(**kw)

        return call


def test_paging_and_stopping_early(cli: Cli, runs: Runs) -> None:
    cli.skip_on_moto("moto gives no nextPageToken: it cuts the list at the page size")
    everything = [i["execution"]["workflowId"] for i in flowser.ops.list_executions(cli.client, DOMAIN)]
    counting = CountingClient(cli.client)
    query = flowser.ops.ExecutionQuery()
    paged = [i["execution"]["workflowId"] for i in flowser.ops.iter_executions(counting, DOMAIN, query, page_size=1)]
    assert paged == everything == ["order-d", "refund-c", "order-b", "order-a"]
    assert sum(1 for name, token in counting.calls if token) >= 2  # later pages were asked for with their token

    counting.calls.clear()
    first = list(itertools.islice(flowser.ops.iter_executions(counting, DOMAIN, query, page_size=1), 1))
    assert [i["execution"]["workflowId"] for i in first] == ["order-d"]
    assert sorted(name for name, _ in counting.calls) == ["list_closed_workflow_executions", "list_open_workflow_executions"]
    tagged = flowser.ops.list_executions(cli.client, DOMAIN, tag=["blue"], type_name="Order", status="open", limit=5)
    assert [i["execution"]["workflowId"] for i in tagged] == ["order-d"]
