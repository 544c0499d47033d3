"""``flowser schedule create|list|describe|pause|unpause|trigger|backfill|delete`` as a user sees them:
``flowser.cli.main`` in-process, stdout, stderr and the exit status.

On the embedded engine (``--backend redis://...``), a ``flowser serve`` process and moto (``aws://``
inside ``moto.mock_aws``), in real time: the schedule's decider and the target's decider run in threads
on a client of the same backend. The fire times themselves are the business of test_schedules.py (virtual
time); here a daily schedule never fires during a test, and trigger and backfill start the runs.
"""

from __future__ import annotations

import datetime as dt
import itertools
import sys
import zoneinfo
from collections.abc import Iterator
from typing import Any

import pytest

import flowser
from flowser import types
from flowser.cli import main
from flowser.schedules import Schedule
from flowser.testing import wait_until, workers

from . import cli_harness as harness

DOMAIN = "cli-schedules"


class Report(types.Workflow):
    name, version, task_list = "Report", "1", "reports"

    def decide(self, task: Any) -> None:
        task.complete_workflow({"report": task.start_input})


class Reports(flowser.Domain):
    name = DOMAIN
    workflow_types = [Report, Schedule]


class Cli(harness.Cli):
    def __init__(self, name: str, backend: str, client: Any, capsys: Any, monkeypatch: Any) -> None:
        super().__init__(name, backend, client, capsys, monkeypatch, domain=DOMAIN, columns=160)
        self.domain = Reports(client)
        self.domain.register()


@pytest.fixture(params=harness.BACKENDS)
def cli(request: pytest.FixtureRequest, redis_client: Any, redis_url: str, capsys: Any, monkeypatch: Any) -> Iterator[Cli]:
    with harness.cli_on(request.param, request, redis_url, monkeypatch, lambda *made: Cli(*made, capsys, monkeypatch)) as cli:
        yield cli


def test_create_describe_list_delete(cli: Cli) -> None:
    created = cli("schedule", "create", "nightly", "--cron", "0 2 * * *", "--timezone", "Europe/Paris", "-t", "Report", "--input", '{"kind": "sales"}')
    assert created.status == 0, created.err
    assert "flowser-schedule.nightly" in created.out
    assert "Report:1 as nightly-YYYYMMDDTHHMMSSZ" in created.out
    assert created.err.strip() == (
        f"flowser schedule create: its decider must run: flowser decider flowser.schedules:Schedule --domain {DOMAIN}"
    )

    info = cli.json("schedule", "describe", "nightly")
    assert info["status"] == "OPEN" and info["paused"] is False and info["overlap"] == "skip"
    paris = [dt.datetime.fromisoformat(n["at"]).astimezone(zoneinfo.ZoneInfo("Europe/Paris")) for n in info["next"]]
    assert len(paris) == 5
    assert all((t.hour, t.minute) == (2, 0) for t in paris)  # 02:00 in Paris, whatever the offset that day
    assert [(b.date() - a.date()).days for a, b in itertools.pairwise(paris)] == [1, 1, 1, 1]
    assert paris[0] > dt.datetime.now(dt.UTC)
    assert info["recent"] == []

    table = cli("schedule", "describe", "nightly")
    assert table.status == 0, table.err
    assert "cron '0 2 * * *' (Europe/Paris)" in table.out
    assert "NEXT FIRE TIMES" in table.out and "LAST RUNS" in table.out
    assert paris[0].astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S") in table.out

    listed = cli("schedule", "list")
    assert listed.status == 0, listed.err
    rows = [line.split() for line in listed.out.splitlines()[1:] if line.strip()]
    assert rows[0][:2] == ["nightly", "active"]
    assert "Report:1" in rows[0] and "skip" in rows[0]
    assert [row["name"] for row in cli.json("schedule", "list")] == ["nightly"]

    deleted = cli("schedule", "delete", "nightly")
    assert (deleted.status, deleted.out.strip()) == (0, "deleted nightly")
    empty = cli("schedule", "list")
    assert (empty.status, empty.out, empty.err.strip()) == (0, "", "flowser schedule list: no schedule in this domain")


def test_trigger_pause_backfill_and_the_last_runs(cli: Cli) -> None:
    assert cli("schedule", "create", "daily", "--every", "1d", "-t", "Report:1", "--input", '"daily"').status == 0
    with workers(cli.domain, Schedule, Report):
        assert cli("schedule", "trigger", "daily").out.strip() == "triggered daily"
        wait_until(lambda: [r["status"] for r in cli.json("schedule", "describe", "daily")["recent"]] == ["COMPLETED"], timeout=30)

        paused = cli("schedule", "pause", "daily", "--note", "database upgrade")
        assert (paused.status, paused.out.strip()) == (0, "paused daily")
        wait_until(lambda: cli.json("schedule", "describe", "daily")["paused"], timeout=30)
        assert "paused: database upgrade" in cli("schedule", "describe", "daily").out

        backfill = cli("schedule", "backfill", "daily", "--from", "2026-01-01T00:00:00Z", "--to", "2026-01-03", "--overlap", "allow_all")
        assert (backfill.status, backfill.out.strip()) == (0, "backfilling 3 fire times of daily")
        wait_until(lambda: len(cli.json("schedule", "describe", "daily")["recent"]) == 4, timeout=30)
        wait_until(lambda: {r["status"] for r in cli.json("schedule", "describe", "daily")["recent"]} == {"COMPLETED"}, timeout=30)

        assert cli("schedule", "unpause", "daily").status == 0
        wait_until(lambda: not cli.json("schedule", "describe", "daily")["paused"], timeout=30)
    info = cli.json("schedule", "describe", "daily")
    assert [(r["workflowId"], r["by"]) for r in info["recent"][:3]] == [
        ("daily-20260103T000000Z", "backfill"),
        ("daily-20260102T000000Z", "backfill"),
        ("daily-20260101T000000Z", "backfill"),
    ]
    assert info["recent"][3]["by"] == "trigger"
    assert info["counts"]["started"] == 4
    run = cli.domain.execution("daily-20260102T000000Z", info["recent"][1]["runId"], Report)
    assert run.result(timeout=10) == {"report": "daily"}
    table = cli("schedule", "describe", "daily").out
    assert "daily-20260101T000000Z" in table and "backfill" in table and "COMPLETED" in table


def test_schedule_faults_are_one_line_exit_1(cli: Cli) -> None:
    missing = cli("schedule", "describe", "nope")
    assert (missing.status, missing.err.strip()) == (1, f"flowser schedule describe: no schedule 'nope' in domain '{DOMAIN}'")
    for command in ("pause", "unpause", "trigger", "delete"):
        result = cli("schedule", command, "nope")
        assert (result.status, result.err.strip()) == (1, f"flowser schedule {command}: no running schedule 'nope' in domain '{DOMAIN}'")
    assert cli("schedule", "create", "twice", "--every", "1h", "-t", "Report").status == 0
    again = cli("schedule", "create", "twice", "--every", "1h", "-t", "Report")
    assert (again.status, again.err.strip()) == (1, f"flowser schedule create: schedule 'twice' exists already in domain '{DOMAIN}'")
    unknown = cli("schedule", "create", "ghost", "--every", "1h", "-t", "Ghost")
    assert (unknown.status, unknown.err.strip()) == (1, f"flowser schedule create: no registered workflow type 'Ghost' in domain '{DOMAIN}'")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["create", "x", "-t", "T"], "give --cron EXPR or --every DURATION (one of them)"),
        (["create", "x", "--cron", "0 2 * * *", "--every", "1d", "-t", "T"], "give --cron EXPR or --every DURATION (one of them)"),
        (["create", "x", "--cron", "0 25 * * *", "-t", "T"], "bad cron expression '0 25 * * *': Bad hour"),
        (["create", "x", "--cron", "0 2 * * *", "--timezone", "Mars/Olympus", "-t", "T"], "unknown time zone 'Mars/Olympus' (an IANA name such as UTC or Europe/Paris)"),
        (["create", "x", "--every", "soon", "-t", "T"], "--every soon: a duration like 90s, 15m, 2h, 1d or 1h30m"),
        (["create", "x", "--cron", "0 2 * * *", "--offset", "1h", "-t", "T"], "--offset goes with --every"),
        (["create", "x", "--every", "1d", "--start-at", "2026-02-01", "--end-at", "2026-01-01", "-t", "T"], "end_at is before start_at"),
        (["backfill", "x", "--from", "2026-02-01", "--to", "2026-01-01"], "--to 2026-01-01 is before --from 2026-02-01"),
        (["backfill", "x", "--from", "yesterday", "--to", "2026-01-01"], "'yesterday' is neither an ISO 8601 time nor an age like 15m, 2h or 3d"),
    ],
)
def test_usage_mistakes_are_one_line_exit_2(args: list[str], message: str, capsys: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv("FLOWSER_DOMAIN", DOMAIN)
    monkeypatch.setenv("FLOWSER_BACKEND", "http://127.0.0.1:9")  # never reached: the mistake is found first
    status = main(["schedule", *args])
    out, err = capsys.readouterr()
    assert (status, out) == (2, "")
    assert err.strip() == f"flowser schedule {args[0]}: {message}"


def test_click_usage_mistakes_exit_2(capsys: Any) -> None:
    status = main(["schedule", "create", "x", "--every", "1d", "-t", "T", "--overlap", "sometimes"])
    err = capsys.readouterr().err
    assert status == 2 and len(err.strip().splitlines()) == 1 and "--overlap" in err
    status = main(["schedule", "backfill", "x", "--from", "2026-01-01"])
    err = capsys.readouterr().err
    assert status == 2 and len(err.strip().splitlines()) == 1 and "--to" in err


def test_the_schedule_decider_is_one_command(redis_client: Any, redis_url: str) -> None:
    """``flowser decider flowser.schedules:Schedule --domain D`` runs schedules out of the box."""
    import subprocess

    import backends

    from .conftest import ROOT

    client = backends.connect(redis_url, poll_hold=0.3)
    domain = Reports(client)
    domain.register()
    assert main(["schedule", "create", "proc", "--every", "1d", "-t", "Report", "--backend", redis_url, "-d", DOMAIN]) == 0
    command = [sys.executable, "-m", "flowser.cli", "decider", "flowser.schedules:Schedule", "--domain", DOMAIN, "--backend", redis_url]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        assert main(["schedule", "trigger", "proc", "--backend", redis_url, "-d", DOMAIN]) == 0
        with workers(domain, Report):

            def done() -> bool:
                assert process.poll() is None, process.stderr.read() if process.stderr else "the decider exited"
                return [r["status"] for r in _describe(client, "proc")["recent"]] == ["COMPLETED"]

            wait_until(done, timeout=30)
    finally:
        process.terminate()
        process.wait(15)
        client.close()
    assert process.returncode == 0, process.stderr.read() if process.stderr else ""


def _describe(client: Any, name: str) -> dict[str, Any]:
    from flowser import schedules

    return schedules.describe(client, DOMAIN, name)


def test_create_paused_with_a_window_jitter_and_settings(cli: Cli) -> None:
    created = cli(
        "schedule", "create", "windowed", "--every", "6h", "--offset", "30m", "--jitter", "10m", "-t", "Report",
        "--paused", "--note", "not before the launch", "--start-at", "2030-01-01T00:00:00Z", "--end-at", "2030-02-01",
        "--workflow-id-prefix", "launch", "--task-list", "urgent", "--execution-timeout", "2h", "--tag", "team:data",
    )  # fmt: skip
    assert created.status == 0, created.err
    assert "paused: not before the launch" in created.out
    info = cli.json("schedule", "describe", "windowed")
    assert (info["paused"], info["note"]) == (True, "not before the launch")
    assert info["spec"] == {
        "every": 21600, "offset": 1800, "timezone": "UTC", "jitter": 600,
        "start_at": "2030-01-01T00:00:00Z", "end_at": "2030-02-01T00:00:00Z",
    }  # fmt: skip
    assert info["spec_text"] == "every 6h +30m, jitter 10m"
    first = [dt.datetime.fromisoformat(n["scheduled"]) for n in info["next"]]
    assert [t.strftime("%Y-%m-%d %H:%M") for t in first[:2]] == ["2030-01-01 00:30", "2030-01-01 06:30"]
    assert all(dt.timedelta(0) <= dt.datetime.fromisoformat(n["at"]) - t < dt.timedelta(minutes=10) for n, t in zip(info["next"], first, strict=True))
    assert info["workflow_id_prefix"] == "launch"
    assert "NEXT FIRE TIMES (paused: not taken until unpaused)" in cli("schedule", "describe", "windowed").out
