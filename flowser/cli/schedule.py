"""``flowser schedule ...``: create, list, describe, pause, unpause, trigger, backfill and delete schedules.

A schedule is an SWF execution of the built-in ``flowser.Schedule`` workflow type
(:mod:`flowser.schedules`); these commands start it, signal it and read its state.
Its decider runs as ``flowser decider flowser.schedules:Schedule --domain DOMAIN``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import click

from .. import ops, schedules
from ._show import emit, fields, table, text, type_name
from .common import CliError, Session, backend_options, format_time, parse_time, read_input, usage_error

DECIDER = "flowser decider flowser.schedules:Schedule --domain {domain}"


@click.group(
    "schedule",
    short_help="start workflows on a cron expression or an interval: create, list, describe, pause, trigger, backfill",
    help="Schedules: a workflow started on a cron expression or an interval, with an overlap policy, pause, trigger "
    "and backfill. Each schedule is an SWF execution of flowser.Schedule (workflowId flowser-schedule.NAME); run its "
    "decider with: flowser decider flowser.schedules:Schedule --domain DOMAIN. See docs/recipes.md.",
)
def schedule() -> None:
    pass


def _duration(option: str, value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return schedules.parse_duration(value)
    except ValueError:
        raise usage_error(f"{option} {value}: a duration like 90s, 15m, 2h, 1d or 1h30m") from None


def _one_line(exc: Exception) -> str:
    """A pydantic ValidationError (or any ValueError) as one line."""
    errors = getattr(exc, "errors", None)
    if callable(errors):
        first = errors()[0]
        message = str(first.get("msg", exc)).removeprefix("Value error, ")
        where = ".".join(str(part) for part in first.get("loc", ()))
        return f"{where}: {message}" if where and not first.get("type") == "value_error" else message
    return str(exc).splitlines()[0]


def _when(session: Session, value: str | None) -> str:
    """An ISO time and, after it, how far it is (``2026-01-08T01:00:00Z (in 3h00m)``)."""
    if not value:
        return "-"
    return f"{format_time(value, 'iso')} ({format_time(value)})" if session.time_format == "relative" else format_time(value, "iso")


def _fail(exc: Exception) -> CliError:
    return CliError(str(exc))


# -- create ------------------------------------------------------------------------------------------
@schedule.command(
    "create",
    short_help="create a schedule (start its flowser.Schedule execution)",
    help="Create schedule NAME: start WORKFLOW_TYPE (--workflow-type NAME or NAME:VERSION) on a cron expression "
    "(--cron, in --timezone) or every DURATION (--every, counted from the Unix epoch plus --offset). Started runs "
    "are named PREFIX-YYYYMMDDTHHMMSSZ after their fire time. Registers flowser.Schedule in the domain.",
)
@backend_options(domain=True, output=True)
@click.argument("name")
@click.option("--cron", metavar="EXPR", default=None, help="a cron expression: 5 fields, or 6 with seconds first")
@click.option("--every", metavar="DURATION", default=None, help="an interval: 90s, 15m, 2h, 1d, 1h30m")
@click.option("--offset", metavar="DURATION", default=None, help="with --every: after the epoch's multiples (--every 1d --offset 2h: 02:00 UTC)")
@click.option("--timezone", "tz", metavar="IANA", default="UTC", show_default=True, help="the time zone of --cron (Europe/Paris...)")
@click.option("--workflow-type", "-t", "workflow_type", metavar="NAME[:VERSION]", required=True, help="the workflow type to start")
@click.option("--input", "-i", "input_", metavar="TEXT|@FILE|-", default=None, help="each run's input: text, @file or - (stdin)")
@click.option("--workflow-id-prefix", metavar="PREFIX", default=None, help="runs' workflowIds start so (default: NAME)")
@click.option("--overlap", type=click.Choice(schedules.OVERLAP_POLICIES), default="skip", show_default=True, help="when the previous run is still open")
@click.option("--jitter", metavar="DURATION", default=None, help="start each fire up to this much later (fixed per fire time)")
@click.option("--paused", is_flag=True, help="create it paused")
@click.option("--note", metavar="TEXT", default="", help="a note (why it is paused)")
@click.option("--start-at", metavar="TIME", default=None, help="no fire before: ISO 8601 (UTC unless it says)")
@click.option("--end-at", metavar="TIME", default=None, help="no fire after: ISO 8601; then the schedule completes")
@click.option("--catchup-window", metavar="DURATION", default="1d", show_default=True, help="fires missed by more (the decider was down) are not taken")
@click.option("--check-every", metavar="DURATION", default="1m", show_default=True, help="buffer_one: how often to look whether the open run has closed")
@click.option("--task-list", metavar="NAME", default=None, help="the runs' decision task list (default: the type's)")
@click.option("--execution-timeout", metavar="DURATION", default=None, help="the runs' executionStartToCloseTimeout")
@click.option("--task-timeout", metavar="DURATION", default=None, help="the runs' taskStartToCloseTimeout")
@click.option("--tag", "tags", metavar="TAG", multiple=True, help="a tag of the runs (up to 4; flowser-schedule:NAME is added)")
@click.option("--continue-every", type=click.IntRange(min=2), default=100, show_default=True, help="decision tasks per schedule run before it continues as new")
def create_schedule(
    session: Session,
    name: str,
    cron: str | None,
    every: str | None,
    offset: str | None,
    tz: str,
    workflow_type: str,
    input_: str | None,
    workflow_id_prefix: str | None,
    overlap: str,
    jitter: str | None,
    paused: bool,
    note: str,
    start_at: str | None,
    end_at: str | None,
    catchup_window: str,
    check_every: str,
    task_list: str | None,
    execution_timeout: str | None,
    task_timeout: str | None,
    tags: tuple[str, ...],
    continue_every: int,
) -> None:
    if (cron is None) == (every is None):
        raise usage_error("give --cron EXPR or --every DURATION (one of them)")
    if offset is not None and every is None:
        raise usage_error("--offset goes with --every")
    if len(tags) > 4:
        raise usage_error("at most 4 --tag (SWF allows 5 tags; the schedule adds flowser-schedule:NAME)")
    type_name_, _, version = workflow_type.partition(":")
    if not type_name_:
        raise usage_error(f"--workflow-type {workflow_type}: NAME or NAME:VERSION")
    try:
        spec = schedules.Spec(
            cron=cron,
            every=_duration("--every", every),
            offset=_duration("--offset", offset) or 0,
            timezone=tz,
            jitter=_duration("--jitter", jitter) or 0,
            start_at=parse_time(start_at) if start_at else None,
            end_at=parse_time(end_at) if end_at else None,
        )
        policy = schedules.Policy(
            overlap=overlap,  # type: ignore[arg-type]
            catchup_window=_duration("--catchup-window", catchup_window) or 0,
            check_every=_duration("--check-every", check_every) or 0,
        )
    except ValueError as exc:
        raise usage_error(_one_line(exc)) from None
    timeouts = {k: _duration(f"--{k.replace('_', '-')}", v) for k, v in (("execution_timeout", execution_timeout), ("task_timeout", task_timeout))}
    data = read_input(input_)
    domain = session.domain
    if not version:
        try:
            version = ops.type_version(session.client, domain, "workflow", type_name_)
        except ops.TypeVersionUnknown as exc:
            raise CliError(str(exc)) from None
    action = schedules.Action(
        workflow_type={"name": type_name_, "version": version},
        input=data,
        workflow_id_prefix=workflow_id_prefix or name,
        task_list=task_list,
        execution_timeout=None if timeouts["execution_timeout"] is None else str(timeouts["execution_timeout"]),
        task_timeout=None if timeouts["task_timeout"] is None else str(timeouts["task_timeout"]),
        tags=list(tags),
    )
    try:
        started = schedules.create(
            session.client, domain, name, spec=spec, action=action, policy=policy, paused=paused, note=note, continue_every=continue_every
        )
    except schedules.ScheduleError as exc:
        raise _fail(exc) from None
    except ValueError as exc:
        raise usage_error(_one_line(exc)) from None
    now = dt.datetime.now(dt.UTC)
    upcoming = [] if paused else spec.next_fires(name, max(now, spec.start_at or now), 3)
    answer = {
        "name": name,
        **started,
        "decider": DECIDER.format(domain=domain),
        "next": [schedules.iso(actual) for _, actual in upcoming],
    }
    if session.output != "table":
        session.echo(session.dump(answer))
        return
    session.console.print(
        fields(
            [
                ("schedule", name),
                ("workflowId", started["workflowId"]),
                ("runId", started["runId"]),
                ("spec", spec.describe()),
                ("starts", f"{type_name(action.workflow_type)} as {action.workflow_id_prefix}-YYYYMMDDTHHMMSSZ"),
                ("overlap", overlap),
                ("state", f"paused{': ' + note if note else ''}" if paused else "active"),
                ("next", ", ".join(format_time(t, "iso") for t in answer["next"]) or "-"),
            ]
        )
    )
    session.warn(f"its decider must run: {answer['decider']}")


# -- list, describe -----------------------------------------------------------------------------------
@schedule.command("list", short_help="the running schedules of the domain", help="The running schedules of the domain (open flowser.Schedule executions), by name.")
@backend_options(domain=True, output=True)
def list_schedules(session: Session) -> None:
    rows = schedules.list_schedules(session.client, session.domain)

    def build() -> Any:
        grid = table("NAME", "STATE", "SPEC", "WORKFLOW TYPE", "OVERLAP", "NEXT", "LAST RUN")
        for row in rows:
            last = row["last"]
            grid.add_row(
                text(row["name"]),
                text("paused" if row["paused"] else "active", "yellow" if row["paused"] else "green"),
                text(row["spec_text"]),
                text(type_name(row["workflowType"])),
                text(row["overlap"]),
                text(session.time(row["next"]) if row["next"] else None),
                text(f"{last['workflowId']} {last['status'] or ''}".strip() if last else None),
            )
        return grid

    if session.output == "table" and not rows:
        session.warn("no schedule in this domain")
        return
    emit(session, rows, build)


@schedule.command(
    "describe",
    short_help="one schedule: spec, policies, state, next 5 fire times, last 5 runs",
    help="One schedule: its spec and policies, paused or not (and why), the next 5 fire times, the last 5 runs "
    "it started with their status now, the counts, and signals its decider has not handled yet.",
)
@backend_options(domain=True, output=True)
@click.argument("name")
def describe_schedule(session: Session, name: str) -> None:
    try:
        info = schedules.describe(session.client, session.domain, name)
    except schedules.ScheduleError as exc:
        raise _fail(exc) from None
    if session.output != "table":
        session.echo(session.dump(info))
        return
    counts = info["counts"]
    state = "paused" if info["paused"] else "active"
    if info["paused"] and info["note"]:
        state += f": {info['note']}"
    pairs: list[tuple[str, Any]] = [
        ("schedule", info["name"]),
        ("workflowId", info["workflowId"]),
        ("runId", info["runId"]),
        ("status", info["status"] if info["status"] != "OPEN" else state),
        ("spec", info["spec_text"]),
        ("window", " to ".join(format_time(info["spec"].get(k), "iso") for k in ("start_at", "end_at")) if ("start_at" in info["spec"] or "end_at" in info["spec"]) else None),
        ("starts", f"{type_name(info['workflowType'])} as {info['workflow_id_prefix']}-YYYYMMDDTHHMMSSZ"),
        ("overlap", info["overlap"]),
        (
            "counts",
            ", ".join(f"{key} {value}" for key, value in counts.items()),
        ),
        ("running", ", ".join(r["workflowId"] for r in info["running"]) or None),
        ("buffered", format_time(info["buffered"]["scheduled"], "iso") if info["buffered"] else None),
        (
            "backfilling",
            ", ".join(f"{format_time(b['start'], 'iso')} to {format_time(b['end'], 'iso')}" for b in info.get("backfilling", [])) or None,
        ),
        ("pending signals", ", ".join(info["pending_signals"]) or None),
    ]
    session.console.print(fields(pairs))
    session.console.print()
    upcoming = table("NEXT FIRE TIMES" + (" (paused: not taken until unpaused)" if info["paused"] else ""))
    for item in info["next"]:
        upcoming.add_row(text(_when(session, item["at"])))
    if not info["next"]:
        upcoming.add_row(text("none"))
    session.console.print(upcoming)
    session.console.print()
    recent = table("LAST RUNS", "RUN ID", "BY", "SCHEDULED", "STARTED", "STATUS")
    for record in info["recent"]:
        status = record["status"] or "-"
        recent.add_row(
            text(record["workflowId"]),
            text((record["runId"] or "-")[:8]),
            text(record["by"]),
            text(format_time(record["scheduled"], "iso")),
            text(session.time(record["started"])),
            text(status + (f" ({record['error']})" if record.get("error") else ""), _STATUS_STYLES.get(status, "")),
        )
    if not info["recent"]:
        recent.add_row(text("none yet"), text(None), text(None), text(None), text(None), text(None))
    session.console.print(recent)


_STATUS_STYLES = {"OPEN": "bold blue", "COMPLETED": "green", "FAILED": "red", "START_FAILED": "red", "TIMED_OUT": "red", "TERMINATED": "magenta", "CANCELED": "yellow"}


# -- signals: pause, unpause, trigger, backfill; delete -------------------------------------------------
def _done(session: Session, name: str, what: str, extra: dict[str, Any] | None = None) -> None:
    if session.output != "table":
        session.echo(session.dump({"name": name, "ok": True, **(extra or {})}))
    else:
        session.echo(f"{what} {name}")


@schedule.command("pause", short_help="pause a schedule (fires are not taken)", help="Pause: fires are not taken until unpause (those missed meanwhile are not caught up). A signal to the schedule's run.")
@backend_options(domain=True, output=True)
@click.argument("name")
@click.option("--note", metavar="TEXT", default="", help="why (describe shows it)")
def pause_schedule(session: Session, name: str, note: str) -> None:
    try:
        schedules.pause(session.client, session.domain, name, note)
    except schedules.ScheduleError as exc:
        raise _fail(exc) from None
    _done(session, name, "paused")


@schedule.command("unpause", short_help="unpause a schedule", help="Unpause: the next fire time is taken; those missed while paused are not.")
@backend_options(domain=True, output=True)
@click.argument("name")
@click.option("--note", metavar="TEXT", default="", help="a note (describe shows it)")
def unpause_schedule(session: Session, name: str, note: str) -> None:
    try:
        schedules.unpause(session.client, session.domain, name, note)
    except schedules.ScheduleError as exc:
        raise _fail(exc) from None
    _done(session, name, "unpaused")


@schedule.command("trigger", short_help="start the workflow now", help="Start the workflow now (paused or not), with the overlap policy (the schedule's unless --overlap).")
@backend_options(domain=True, output=True)
@click.argument("name")
@click.option("--overlap", type=click.Choice(schedules.OVERLAP_POLICIES), default=None, help="this time (default: the schedule's)")
def trigger_schedule(session: Session, name: str, overlap: str | None) -> None:
    try:
        schedules.trigger(session.client, session.domain, name, overlap)
    except schedules.ScheduleError as exc:
        raise _fail(exc) from None
    _done(session, name, "triggered")


@schedule.command(
    "backfill",
    short_help="take the fire times of a past range now",
    help=f"Take every fire time of the spec from --from to --to (inclusive) now, in order, with the overlap policy "
    f"(the schedule's unless --overlap; allow_all starts them all at once). At most {schedules.MAX_BACKFILL} fire times.",
)
@backend_options(domain=True, output=True)
@click.argument("name")
@click.option("--from", "start", metavar="TIME", required=True, help="ISO 8601 (UTC unless it says) or an age (3d)")
@click.option("--to", "end", metavar="TIME", required=True, help="ISO 8601 or an age")
@click.option("--overlap", type=click.Choice(schedules.OVERLAP_POLICIES), default=None, help="for these starts (default: the schedule's)")
def backfill_schedule(session: Session, name: str, start: str, end: str, overlap: str | None) -> None:
    begin, finish = parse_time(start), parse_time(end)
    if finish < begin:
        raise usage_error(f"--to {end} is before --from {start}")
    domain = session.domain
    try:
        info = schedules.describe(session.client, domain, name, next_count=0)
    except schedules.ScheduleError as exc:
        raise _fail(exc) from None
    spec = schedules.Spec.model_validate(info["spec"])
    times: list[dt.datetime] = []
    for when in spec.times_after(begin - dt.timedelta(microseconds=1)):
        if when > finish or len(times) > schedules.MAX_BACKFILL:
            break
        times.append(when)
    if len(times) > schedules.MAX_BACKFILL:
        raise usage_error(f"that range has more than {schedules.MAX_BACKFILL} fire times: backfill it in parts")
    if not times:
        session.warn("no fire time in that range: nothing to do")
        return
    try:
        schedules.backfill(session.client, domain, name, begin, finish, overlap)
    except schedules.ScheduleError as exc:
        raise _fail(exc) from None
    _done(session, name, f"backfilling {len(times)} fire time{'s' if len(times) != 1 else ''} of", {"fires": [schedules.iso(t) for t in times]})


@schedule.command("delete", short_help="delete a schedule (terminate its run)", help="Terminate the schedule's run. The runs it started go on.")
@backend_options(domain=True, output=True)
@click.argument("name")
def delete_schedule(session: Session, name: str) -> None:
    try:
        schedules.delete(session.client, session.domain, name)
    except schedules.ScheduleError as exc:
        raise _fail(exc) from None
    _done(session, name, "deleted")


COMMANDS = [schedule]
