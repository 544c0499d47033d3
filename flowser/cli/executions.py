"""``flowser executions ...``: list, describe, start, rerun, signal, cancel, terminate (history and tree: history.py)."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import sys
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

import click

from .. import ops
from ._show import CLOSE_STYLES, emit, fields, seconds, table, text, type_name
from .common import (
    CliError,
    Session,
    as_datetime,
    backend_options,
    fault_line,
    format_duration,
    parse_time,
    read_input,
    usage_error,
)

F = TypeVar("F", bound=Callable[..., Any])

TABLE_LIMIT = 50
"""Rows ``executions list`` shows in a table unless --limit says otherwise (JSON: all)."""
CHILD_POLICIES = ("TERMINATE", "REQUEST_CANCEL", "ABANDON")
SHORT_RUN_ID = 8
"""Characters of a runId a table shows (--run-id takes such a prefix)."""


@click.group("executions", short_help="list, describe, follow, trace, start, signal, cancel and terminate runs", help="Workflow executions: list, describe, history, tree, start, signal, cancel, terminate.")
def executions() -> None:
    pass


# -- the filters list, signal, cancel and terminate share -------------------------------------------
def _split_type(value: str | None) -> tuple[str | None, str | None]:
    if not value:
        return None, None
    name, _, version = value.partition(":")
    if not name:
        raise usage_error(f"--type {value}: NAME or NAME:VERSION")
    return name, version or None


def selection_options(fn: F) -> F:
    """--type, --tag, --since, --until: what selects runs, for a list or a batch."""
    options = [
        click.option("--type", "type_", metavar="NAME[:VERSION]", default=None, help="workflow type (any version unless given)"),
        click.option("--tag", "tags", metavar="TAG", multiple=True, help="runs with this tag (repeat: with every one)"),
        click.option("--since", metavar="TIME", default=None, help="started at or after: ISO 8601 or an age (15m, 2h, 3d)"),
        click.option("--until", metavar="TIME", default=None, help="started at or before: ISO 8601 or an age"),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _query(
    *,
    status: str | None = None,
    close_status: str | None = None,
    type_: str | None = None,
    tags: tuple[str, ...] = (),
    workflow_id: str | None = None,
    since: str | None = None,
    until: str | None = None,
) -> ops.ExecutionQuery:
    name, version = _split_type(type_)
    try:
        return ops.ExecutionQuery(
            status=status,
            close_status=close_status,
            type_name=name,
            type_version=version,
            tags=tuple(tags),
            workflow_id=workflow_id,
            since=parse_time(since) if since else None,
            until=parse_time(until) if until else None,
        )
    except ValueError as exc:
        raise usage_error(str(exc)) from None


def _short(run_id: str) -> str:
    return run_id[:SHORT_RUN_ID]


def _status_cell(info: dict[str, Any]) -> Any:
    if info.get("executionStatus") == "OPEN":
        return text("OPEN", "bold blue")
    status = info.get("closeStatus") or "CLOSED"
    return text(status, CLOSE_STYLES.get(status, ""))


def _duration(info: dict[str, Any], now: dt.datetime) -> str:
    """Start to close; an open run's so far (moto leaves a terminated run's close time out)."""
    started = as_datetime(info.get("startTimestamp"))
    closed = as_datetime(info.get("closeTimestamp"))
    if started is None:
        return "-"
    if closed is None:
        return format_duration(max(0.0, (now - started).total_seconds())) if info.get("executionStatus") == "OPEN" else "-"
    return format_duration(max(0.0, (closed - started).total_seconds()))


# -- list -------------------------------------------------------------------------------------------
@executions.command(
    "list",
    short_help="open and closed runs, newest first, with filters",
    help="Open and closed runs, newest first (by start time). Every filter given must match: SWF takes one "
    "per call, flowser applies the others. The table shows the newest 50 unless --limit says.",
)
@backend_options(domain=True, output=True)
@click.option("--status", type=click.Choice(("open", "closed", "all")), default="all", show_default=True, help="open runs, closed runs or both")
@click.option(
    "--close-status",
    type=click.Choice(ops.CLOSE_STATUSES, case_sensitive=False),
    default=None,
    help="closed runs that closed so",
)
@click.option("--workflow-id", "-w", metavar="ID", default=None, help="runs of this workflowId")
@selection_options
@click.option("--limit", "-n", type=click.IntRange(min=0), default=None, help="at most N runs (0: all; default 50 in a table, all in JSON)")
def list_executions(
    session: Session,
    status: str,
    close_status: str | None,
    workflow_id: str | None,
    type_: str | None,
    tags: tuple[str, ...],
    since: str | None,
    until: str | None,
    limit: int | None,
) -> None:
    query = _query(
        status=None if status == "all" else status,
        close_status=close_status.upper() if close_status else None,
        type_=type_,
        tags=tags,
        workflow_id=workflow_id,
        since=since,
        until=until,
    )
    if limit is None:
        limit = TABLE_LIMIT if session.output == "table" else 0
    domain = session.domain  # a missing domain is a usage mistake, found before the backend is reached
    found = ops.iter_executions(session.client, domain, query)
    rows = list(itertools.islice(found, limit + 1 if limit else None))
    more = bool(limit) and len(rows) > limit
    if more:
        rows = rows[:limit]
    now = dt.datetime.now(dt.UTC)

    def build() -> Any:
        wide = session.console.width >= 120
        columns: list[Any] = ["WORKFLOW ID", ("RUN ID", {"no_wrap": True}), "TYPE", ("STATUS", {"no_wrap": True}), "STARTED"]
        if wide:
            columns.append("CLOSED")
        columns.append(("DURATION", {"justify": "right", "no_wrap": True}))
        grid = table(*columns)
        for info in rows:
            cells = [
                text(info["execution"]["workflowId"]),
                text(_short(info["execution"]["runId"])),
                text(type_name(info.get("workflowType"))),
                _status_cell(info),
                text(session.time(info.get("startTimestamp"), now)),
            ]
            if wide:
                cells.append(text(session.time(info.get("closeTimestamp"), now)))
            cells.append(text(_duration(info, now)))
            grid.add_row(*cells)
        return grid

    if session.output == "table" and not rows:
        session.warn("no execution matches")
        return
    emit(session, rows, build)
    if more:
        session.warn(f"showing the newest {limit}; more runs match (--limit N for more, --limit 0 for all)")


# -- describe -----------------------------------------------------------------------------------------
def _find(session: Session, workflow_id: str, run_id: str | None) -> dict[str, str]:
    domain = session.domain
    try:
        return ops.find_run(session.client, domain, workflow_id, run_id)
    except ops.NoSuchExecution as exc:
        raise CliError(str(exc)) from None
    except ops.AmbiguousRunId as exc:
        raise usage_error(str(exc)) from None


@executions.command(
    "describe",
    short_help="one run: status, timeouts, open counts, pending activities",
    help="One run: status, type, times, parent, tags, task list, timeouts, open counts and pending activities. "
    "A WORKFLOW_ID alone means its open run, else its latest; --run-id takes a runId or its first characters.",
)
@backend_options(domain=True, output=True)
@click.argument("workflow_id")
@click.option("--run-id", "-r", metavar="RUN_ID", default=None, help="this run (or a prefix of its runId)")
def describe_execution(session: Session, workflow_id: str, run_id: str | None) -> None:
    execution = _find(session, workflow_id, run_id)
    detail = ops.describe_run(session.client, session.domain, execution)
    if session.output != "table":
        session.echo(session.dump(detail))
        return
    now = dt.datetime.now(dt.UTC)
    info = detail["executionInfo"]
    config = detail.get("executionConfiguration", {})
    counts = detail.get("openCounts", {})
    parent = info.get("parent")
    status = _status_cell(info)
    if info.get("cancelRequested") and info.get("executionStatus") == "OPEN":
        status.append(" (cancel requested)", style="yellow")
    task_list = (config.get("taskList") or {}).get("name")
    if config.get("taskPriority") not in (None, ""):
        task_list = f"{task_list} (priority {config['taskPriority']})"
    pairs: list[tuple[str, Any]] = [
        ("workflowId", info["execution"]["workflowId"]),
        ("runId", info["execution"]["runId"]),
        ("type", type_name(info.get("workflowType"))),
        ("status", status),
        ("started", session.time(info.get("startTimestamp"), now)),
        ("closed", session.time(info.get("closeTimestamp"), now)),
        ("duration", _duration(info, now)),
        ("parent", f"{parent['workflowId']} (run {parent['runId']})" if parent else None),
        ("tags", ", ".join(info.get("tagList") or ()) or None),
        ("task list", task_list),
        (
            "timeouts",
            f"execution {seconds(config.get('executionStartToCloseTimeout'))}, "
            f"decision task {seconds(config.get('taskStartToCloseTimeout'))}",
        ),
        ("child policy", config.get("childPolicy")),
        (
            "open",
            f"activity tasks {counts.get('openActivityTasks', 0)}, decision tasks {counts.get('openDecisionTasks', 0)}, "
            f"timers {counts.get('openTimers', 0)}, children {counts.get('openChildWorkflowExecutions', 0)}, "
            f"lambda functions {counts.get('openLambdaFunctions', 0)}",
        ),
        ("last activity scheduled", session.time(detail.get("latestActivityTaskTimestamp"), now)),
    ]
    if detail.get("latestExecutionContext"):
        pairs.append(("execution context", detail["latestExecutionContext"]))
    session.console.print(fields(pairs))
    pending = detail.get("pendingActivities") or []
    if not pending:
        return
    grid = table(
        "ACTIVITY ID",
        "TYPE",
        ("STATE", {"no_wrap": True}),
        ("ATTEMPT", {"justify": "right", "no_wrap": True}),
        "SCHEDULED",
        "STARTED",
        "WORKER",
        title="pending activities",
        title_justify="left",
    )
    for task in pending:
        state = task["state"] + (" (cancel requested)" if task.get("cancelRequested") else "")
        grid.add_row(
            text(task["activityId"]),
            text(type_name(task.get("activityType"))),
            text(state, "green" if task["state"] == "STARTED" else "yellow"),
            text(task["attempt"]),
            text(session.time(task.get("scheduledTimestamp"), now)),
            text(session.time(task.get("startedTimestamp"), now)),
            text(task.get("identity")),
        )
    session.console.print()
    session.console.print(grid)


# -- start --------------------------------------------------------------------------------------------
def _timeout(option: str, value: str | None) -> str | None:
    """A timeout option as SWF takes it: whole seconds as a string, or NONE (90, 90s, 15m, 2h, 1d)."""
    if value is None:
        return None
    raw = value.strip()
    if raw.upper() == "NONE":
        return "NONE"
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    number, unit = (raw[:-1], units[raw[-1]]) if raw and raw[-1] in units else (raw, 1)
    if not number.isdigit():
        raise usage_error(f"{option} {value}: seconds, or a duration like 90s, 15m, 2h, 1d, or NONE")
    return str(int(number) * unit)


@executions.command(
    "start",
    short_help="start a run",
    help="Start a run of WORKFLOW_TYPE (NAME or NAME:VERSION; without a version, the one registered). "
    "What is not given takes the type's defaults. Prints the workflowId and runId.",
)
@backend_options(domain=True, output=True)
@click.argument("workflow_type")
@click.option("--workflow-id", "-w", metavar="ID", default=None, help="the workflowId (default: a new UUID)")
@click.option("--input", "-i", "input_", metavar="TEXT|@FILE|-", default=None, help="the run's input: text, @file or - (stdin)")
@click.option("--task-list", metavar="NAME", default=None, help="the decision task list")
@click.option("--execution-timeout", metavar="DURATION", default=None, help="executionStartToCloseTimeout (90s, 15m, 2h, 1d)")
@click.option("--task-timeout", metavar="DURATION", default=None, help="a decision task's taskStartToCloseTimeout")
@click.option("--tag", "tags", metavar="TAG", multiple=True, help="a tag (repeat for up to 5)")
@click.option("--child-policy", type=click.Choice(CHILD_POLICIES, case_sensitive=False), default=None, help="what closing the run does to its children")
@click.option("--priority", type=int, default=None, help="the decision tasks' priority")
def start_execution(
    session: Session,
    workflow_type: str,
    workflow_id: str | None,
    input_: str | None,
    task_list: str | None,
    execution_timeout: str | None,
    task_timeout: str | None,
    tags: tuple[str, ...],
    child_policy: str | None,
    priority: int | None,
) -> None:
    name, version = _split_type(workflow_type)
    assert name is not None
    execution_timeout = _timeout("--execution-timeout", execution_timeout)
    task_timeout = _timeout("--task-timeout", task_timeout)
    data = read_input(input_)
    domain = session.domain
    if version is None:
        try:
            version = ops.type_version(session.client, domain, "workflow", name)
        except ops.TypeVersionUnknown as exc:
            raise CliError(str(exc)) from None
    started = ops.start_execution(
        session.client,
        domain,
        name,
        version,
        workflow_id or str(uuid.uuid4()),
        input=data,
        task_list=task_list,
        execution_timeout=execution_timeout,
        task_timeout=task_timeout,
        tags=tags,
        child_policy=child_policy.upper() if child_policy else None,
        priority=str(priority) if priority is not None else None,
    )
    if session.output != "table":
        session.echo(session.dump(started))
        return
    session.console.print(fields([("workflowId", started["workflowId"]), ("runId", started["runId"])]))


# -- rerun --------------------------------------------------------------------------------------------
@executions.command(
    "rerun",
    short_help="a new run of a closed run that reuses what completed in it",
    help="Start a new run of WORKFLOW_ID's closed run (its latest unless --run-id), with the same type, input, "
    "settings and tags. Its decider gets the results of the activities and child workflows that completed in that "
    "run and in the runs it continued as new, recorded as flowser.reused markers, and does not run them again; "
    "--force PATTERN (fnmatch on the activityId or child workflowId, repeatable) runs matching ones again. "
    "Prints the workflowId, the new runId and the source runId.",
)
@backend_options(domain=True, output=True)
@click.argument("workflow_id")
@click.option("--run-id", "-r", metavar="RUN_ID", default=None, help="this run (or a prefix of its runId)")
@click.option("--force", "force", metavar="PATTERN", multiple=True, help="run these again (fnmatch on activityId / child workflowId; repeat)")
def rerun_execution(session: Session, workflow_id: str, run_id: str | None, force: tuple[str, ...]) -> None:
    from .. import domain as domain_module
    from .. import exceptions, rerun

    if force and len(rerun.FORCE_TAG + json.dumps(list(force), separators=(",", ":"))) > rerun.TAG_LIMIT:
        raise usage_error(f"--force: the patterns travel in one tag of at most {rerun.TAG_LIMIT} characters; give fewer or shorter ones")
    # without --run-id the latest run: the end of a continue-as-new chain (flowser.tasks resolves it)
    resolved = _find(session, workflow_id, run_id)["runId"] if run_id else None
    domain = type("CliDomain", (domain_module.Domain,), {"name": session.domain})(session.client)
    try:
        new = rerun.rerun(domain, workflow_id, resolved, force)
    except exceptions.Error as exc:
        raise CliError(str(exc)) from None
    source = new.rerun_of or {}
    started = {"workflowId": new.workflow_id, "runId": new.run_id, "source": source, "force": list(force)}
    if session.output != "table":
        session.echo(session.dump(started))
        return
    pairs: list[tuple[str, Any]] = [
        ("workflowId", new.workflow_id),
        ("runId", new.run_id),
        ("rerun of", source.get("runId")),
        ("forced", ", ".join(force) or None),
    ]
    session.console.print(fields(pairs))


# -- signal, cancel, terminate --------------------------------------------------------------------------
def batch_options(fn: F) -> F:
    """The batch selection (open runs only) and its confirmation."""
    options = [
        click.option("--run-id", "-r", metavar="RUN_ID", default=None, help="this run of WORKFLOW_ID (or a prefix of its runId)"),
        click.option("--all-matching", is_flag=True, help="act on every open run the filters select (all, without filters)"),
        click.option("--yes", "-y", is_flag=True, help="act on a batch without asking"),
    ]
    for option in reversed(options):
        fn = option(fn)
    return selection_options(fn)


def _batch(
    session: Session,
    action: str,
    past: str,
    workflow_id: str | None,
    run_id: str | None,
    selection: dict[str, Any],
    all_matching: bool,
    yes: bool,
    params: Callable[[], dict[str, Any]],
    stdin_used: bool = False,
) -> int:
    """Act on one run (WORKFLOW_ID [--run-id]) or on the open runs selected, after confirmation.

    ``params()`` gives the call's parameters once the arguments are known to be right (it may read stdin).
    """
    filtered = any(bool(v) for v in selection.values())
    domain = session.domain
    if workflow_id is not None:
        if filtered or all_matching:
            raise usage_error("give a WORKFLOW_ID or batch filters (--type, --tag, --since, --until, --all-matching), not both")
        execution = _find(session, workflow_id, run_id) if run_id else {"workflowId": workflow_id}
        ops.act(session.client, domain, action, execution, **params())
        if session.output != "table":
            session.echo(session.dump({**execution, "ok": True}))
        else:
            where = f" (run {_short(execution['runId'])})" if execution.get("runId") else ""
            session.echo(f"{past} {workflow_id}{where}")
        return 0
    if run_id:
        raise usage_error("--run-id needs a WORKFLOW_ID")
    if not (filtered or all_matching):
        raise usage_error("name a WORKFLOW_ID, or select open runs with --type, --tag, --since, --until or --all-matching")
    if stdin_used and not yes:
        raise usage_error("stdin gives the input, so it cannot answer the confirmation: add --yes")
    query = _query(status="open", **selection)
    arguments = params()
    runs = [dict(info["execution"]) for info in ops.iter_executions(session.client, domain, query)]
    if not runs:
        session.warn("no open run matches: nothing to do")
        return 0
    if not yes and not _confirm(session, action, runs):
        raise CliError("not confirmed: nothing done")
    failed = 0
    results: list[dict[str, Any]] = []
    for execution, error in ops.act_on_each(session.client, domain, action, runs, **arguments):
        line = f"{execution['workflowId']} (run {_short(execution['runId'])})"
        if error is None:
            results.append({**execution, "ok": True})
            if session.output == "table":
                session.echo(f"{past} {line}")
        else:
            failed += 1
            message = fault_line(error) or str(error)
            results.append({**execution, "ok": False, "error": message})
            session.warn(f"{line}: {message}")
    if session.output == "json":
        session.echo(session.dump(results))
    elif session.output == "jsonl":
        for result in results:
            session.echo(session.dump(result))
    summary = f"{past} {len(runs) - failed} of {len(runs)} runs" + (f"; {failed} failed" if failed else "")
    if session.output == "table":
        session.echo(summary)
    elif failed:
        session.warn(summary)
    return 1 if failed else 0


def _confirm(session: Session, action: str, runs: list[dict[str, str]]) -> bool:
    """Show the count and the first runs on stderr and ask; only y or yes goes on."""
    shown = 10
    click.echo(f"{len(runs)} open run{'s' if len(runs) != 1 else ''} in domain {session.domain} match:", err=True)
    for execution in runs[:shown]:
        click.echo(f"  {execution['workflowId']} (run {_short(execution['runId'])})", err=True)
    if len(runs) > shown:
        click.echo(f"  ... and {len(runs) - shown} more", err=True)
    click.echo(f"{action} {'them' if len(runs) != 1 else 'it'}? [y/N] ", err=True, nl=False)
    answer = sys.stdin.readline()
    if not sys.stdin.isatty():
        click.echo(answer.strip(), err=True)  # what a terminal would have echoed
    return answer.strip().lower() in ("y", "yes")


def _selection(type_: str | None, tags: tuple[str, ...], since: str | None, until: str | None) -> dict[str, Any]:
    return {"type_": type_, "tags": tags, "since": since, "until": until}


@executions.command(
    "signal",
    short_help="signal one run or a batch",
    help="Signal one run (WORKFLOW_ID SIGNAL_NAME: its open run, or --run-id), or every open run the filters "
    "select (SIGNAL_NAME with --type/--tag/--since/--until or --all-matching), after confirmation.",
)
@backend_options(domain=True, output=True)
@click.argument("words", nargs=-1, metavar="[WORKFLOW_ID] SIGNAL_NAME")
@click.option("--input", "-i", "input_", metavar="TEXT|@FILE|-", default=None, help="the signal's input: text, @file or - (stdin)")
@batch_options
def signal_executions(
    session: Session,
    words: tuple[str, ...],
    input_: str | None,
    run_id: str | None,
    all_matching: bool,
    yes: bool,
    type_: str | None,
    tags: tuple[str, ...],
    since: str | None,
    until: str | None,
) -> int:
    if len(words) not in (1, 2):
        raise usage_error("give WORKFLOW_ID SIGNAL_NAME, or SIGNAL_NAME with batch filters")
    workflow_id, signal_name = (None, words[0]) if len(words) == 1 else words
    selection = _selection(type_, tags, since, until)
    return _batch(
        session,
        "signal",
        "signalled",
        workflow_id,
        run_id,
        selection,
        all_matching,
        yes,
        lambda: {"signalName": signal_name, "input": read_input(input_)},
        stdin_used=input_ == "-",
    )


@executions.command(
    "cancel",
    short_help="request cancellation of one run or a batch",
    help="Ask one run (WORKFLOW_ID: its open run, or --run-id) or every open run the filters select to cancel "
    "(RequestCancelWorkflowExecution: its decider decides). A batch asks for confirmation.",
)
@backend_options(domain=True, output=True)
@click.argument("workflow_id", required=False)
@batch_options
def cancel_executions(
    session: Session,
    workflow_id: str | None,
    run_id: str | None,
    all_matching: bool,
    yes: bool,
    type_: str | None,
    tags: tuple[str, ...],
    since: str | None,
    until: str | None,
) -> int:
    selection = _selection(type_, tags, since, until)
    return _batch(session, "cancel", "cancel requested for", workflow_id, run_id, selection, all_matching, yes, dict)


@executions.command(
    "terminate",
    short_help="terminate one run or a batch",
    help="Terminate one run (WORKFLOW_ID: its open run, or --run-id) or every open run the filters select, "
    "at once (no decider is asked). A batch asks for confirmation.",
)
@backend_options(domain=True, output=True)
@click.argument("workflow_id", required=False)
@click.option("--reason", metavar="TEXT", default=None, help="the reason recorded")
@click.option("--details", metavar="TEXT|@FILE|-", default=None, help="details recorded: text, @file or - (stdin)")
@click.option("--child-policy", type=click.Choice(CHILD_POLICIES, case_sensitive=False), default=None, help="what happens to its children (default: the run's)")
@batch_options
def terminate_executions(
    session: Session,
    workflow_id: str | None,
    reason: str | None,
    details: str | None,
    child_policy: str | None,
    run_id: str | None,
    all_matching: bool,
    yes: bool,
    type_: str | None,
    tags: tuple[str, ...],
    since: str | None,
    until: str | None,
) -> int:
    selection = _selection(type_, tags, since, until)
    return _batch(
        session,
        "terminate",
        "terminated",
        workflow_id,
        run_id,
        selection,
        all_matching,
        yes,
        lambda: {"reason": reason, "details": read_input(details), "childPolicy": child_policy.upper() if child_policy else None},
        stdin_used=details == "-",
    )


COMMANDS = [executions]
