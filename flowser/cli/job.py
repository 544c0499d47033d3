"""``flowser job run|restart|status|validate``: jobs as YAML (docs/jobs.md), on any backend.

``run`` checks the file, registers what it needs (the domain if missing, ``flowser.Job``,
``flowser.JobLock``, the built-ins and the activity types the file names with a task list) and starts one
execution of ``flowser.Job``; ``--wait`` shows the tasks until the run closes and exits 0 (completed) or 1.
A job file with mistakes is a usage mistake: each one on its own line, ``FILE:LINE: field: message``,
exit 2.
"""

from __future__ import annotations

import json
from typing import Any

import click

from .common import CliError, Session, backend_options, read_input, usage_error


@click.group("job", short_help="run, restart, watch and check jobs written as YAML (docs/jobs.md)", help="Jobs as YAML: a DAG of tasks run by one generic SWF decider (flowser decider flowser.jobs:Job; built-in shell and fetch tasks: flowser worker --builtins).")
def job() -> None:
    pass


def _load(file: str, variables: tuple[str, ...]) -> Any:
    from ..jobs import JobFileError, load, parse_vars

    try:
        values = parse_vars(variables)
    except ValueError as exc:
        raise usage_error(str(exc)) from None
    try:
        return load(file, values)
    except JobFileError as exc:
        ctx = click.get_current_context()
        for problem in exc.problems[:-1]:
            click.echo(f"{ctx.command_path}: {problem}", err=True)
        raise usage_error(exc.problems[-1]) from None


_var_option = click.option("--var", "variables", metavar="NAME=VALUE", multiple=True, help="set ${NAME} (repeat)")


@job.command("validate", short_help="check a job file and print its graph", help="Check FILE (schema, includes, variables, dependencies, cycles, inputs) and print its graph, "
              "in order. Exit 0 if it is valid, 2 with each mistake as FILE:LINE: field: message.")
@click.argument("file", type=click.Path(dir_okay=False))
@_var_option
def validate(file: str, variables: tuple[str, ...]) -> None:
    from ..jobs.graph import render_tree

    loaded = _load(file, variables)
    spec = loaded.spec
    extras = []
    if spec.max_concurrency:
        extras.append(f"max_concurrency {spec.max_concurrency}")
    if spec.resource_tags:
        extras.append(f"resource tags {', '.join(spec.resource_tags)}")
    included = f", including {', '.join(loaded.files[1:])}" if len(loaded.files) > 1 else ""
    click.echo(f"{file}: job {spec.name} version {spec.version}, {len(spec.tasks)} tasks{included}" + (f" ({'; '.join(extras)})" if extras else ""))
    for text in render_tree(spec):
        click.echo(f"  {text}")


def _watch(session: Session, run: Any, interval: float, timeout: float | None) -> int:
    from ..jobs.progress import watch

    snap = watch(run, session.console, interval=interval, timeout=timeout)
    if snap.close_status is None:
        raise CliError(f"{run.workflow_id} is still open after {timeout:g} s")
    if snap.close_status == "COMPLETED":
        return 0
    session.warn(f"{run.workflow_id}: {snap.close_status}" + (f": {snap.close_reason}" if snap.close_reason else ""))
    return 1


_wait_options = [
    click.option("--wait", is_flag=True, help="show the tasks until the run closes; exit 0 if it completed, else 1"),
    click.option("--interval", type=click.FloatRange(min=0.05), default=1.0, show_default=True, help="seconds between two reads of the history (--wait)"),
    click.option("--timeout", type=click.FloatRange(min=0), default=None, help="give up waiting after this many seconds (exit 1)"),
]


def _with_wait(fn: Any) -> Any:
    for option in reversed(_wait_options):
        fn = option(fn)
    return fn


@job.command("run", short_help="start a job (--wait: watch it until it closes)", help="Check FILE, register what it needs and start one run of flowser.Job with the job input "
              "(--input JSON, @file or - for stdin). Prints the workflowId and runId; --wait shows the tasks until it "
              "closes. The job decider (flowser decider flowser.jobs:Job --domain D) and, for shell/fetch tasks, "
              "flowser worker --builtins --domain D must be running.")
@backend_options(domain=True)
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--input", "input_", metavar="JSON|@FILE|-", default=None, help="the job input (JSON)")
@_var_option
@click.option("--id", "workflow_id", metavar="WORKFLOW_ID", default=None, help="the run's workflowId (default NAME-TIME-RANDOM)")
@click.option("--register/--no-register", default=True, show_default=True, help="register the domain and types first")
@_with_wait
def run(
    session: Session,
    file: str,
    input_: str | None,
    variables: tuple[str, ...],
    workflow_id: str | None,
    register: bool,
    wait: bool,
    interval: float,
    timeout: float | None,
) -> int:
    from ..jobs import JobInputTooLarge, job_domain, start
    from ..jobs import register as register_types

    loaded = _load(file, variables)
    text = read_input(input_)
    try:
        value = None if text is None else json.loads(text)
    except ValueError as exc:
        raise usage_error(f"--input is not JSON: {exc}") from None
    domain = job_domain(session.client, session.domain)
    if register:
        register_types(domain, loaded.spec)
    try:
        execution = start(domain, loaded.spec, value, workflow_id_=workflow_id)
    except JobInputTooLarge as exc:
        raise usage_error(str(exc)) from None
    click.echo(f"started job {loaded.spec.name}: workflowId {execution.workflow_id} runId {execution.run_id}")
    if not wait:
        return 0
    return _watch(session, execution, interval, timeout)


@job.command("restart", short_help="run again only what failed in a job run", help="Start a new run of the job WORKFLOW_ID's closed run (its latest unless --run-id) that "
              "runs only what did not complete: the tasks that failed and those downstream of them (flowser "
              "executions rerun: completed activities are reused, as flowser.reused markers).")
@backend_options(domain=True)
@click.argument("workflow_id")
@click.option("--run-id", "-r", metavar="RUN_ID", default=None, help="restart this run")
@_with_wait
def restart(session: Session, workflow_id: str, run_id: str | None, wait: bool, interval: float, timeout: float | None) -> int:
    from .. import exceptions
    from ..jobs import job_domain
    from ..jobs import restart as restart_job

    domain = job_domain(session.client, session.domain)
    try:
        execution = restart_job(domain, workflow_id, run_id)
    except exceptions.Error as exc:
        raise CliError(str(exc)) from None
    source = (execution.rerun_of or {}).get("runId")
    click.echo(f"restarted job {workflow_id}: runId {execution.run_id} (rerun of {source})")
    if not wait:
        return 0
    return _watch(session, execution, interval, timeout)


@job.command("input", short_help="print a job run's input (for flowser schedule create)", help="Print the input of a flowser.Job run for FILE and the job input (one line of JSON): what "
              "flowser schedule create NAME -t flowser.Job:1 --input @FILE takes to start the job on a schedule "
              "(docs/jobs.md). --register also registers flowser.Job and the types FILE names in --domain.")
@backend_options(domain=True)
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--input", "input_", metavar="JSON|@FILE|-", default=None, help="the job input (JSON)")
@_var_option
@click.option("--register", is_flag=True, help="register the domain and the job's types (the schedule then finds them)")
def input_command(session: Session, file: str, input_: str | None, variables: tuple[str, ...], register: bool) -> None:
    from ..jobs import JobInputTooLarge, job_domain, job_input
    from ..jobs import register as register_types

    loaded = _load(file, variables)
    text = read_input(input_)
    try:
        value = None if text is None else json.loads(text)
        payload = job_input(loaded.spec, value)
    except JobInputTooLarge as exc:
        raise usage_error(str(exc)) from None
    except ValueError as exc:
        raise usage_error(f"--input is not JSON: {exc}") from None
    if register:
        register_types(job_domain(session.client, session.domain), loaded.spec)
    click.echo(json.dumps(payload, separators=(",", ":")))


@job.command("status", short_help="show the tasks of a job run", help="Show the tasks of the job WORKFLOW_ID (its latest run unless --run-id): each one's status, "
              "attempt, duration and reason; with --wait until it closes. Exit 0 unless the run closed otherwise "
              "than completed (1).")
@backend_options(domain=True)
@click.argument("workflow_id")
@click.option("--run-id", "-r", metavar="RUN_ID", default=None, help="this run")
@_with_wait
def status(session: Session, workflow_id: str, run_id: str | None, wait: bool, interval: float, timeout: float | None) -> int:
    from .. import exceptions
    from ..jobs import job_domain
    from ..jobs.progress import snapshot, table

    domain = job_domain(session.client, session.domain)
    execution = domain.execution(workflow_id, run_id)
    if wait:
        return _watch(session, execution, interval, timeout)
    try:
        snap = snapshot(execution)
    except exceptions.Error as exc:
        raise CliError(str(exc)) from None
    except (KeyError, TypeError, AttributeError, ValueError):
        raise CliError(f"{workflow_id} is not a job (flowser.Job) run") from None
    session.console.print(table(snap, session.console.width))
    return 0 if snap.close_status in (None, "COMPLETED") else 1


COMMANDS = [job]
