"""Registering, starting and restarting jobs (what ``flowser job run|restart`` call)."""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from ..domain import Domain
from ..tasks import WorkflowExecution
from ..types import ONE_HOUR, Activity
from ..worker import named_domain
from .builtins import Fetch, Shell
from .locks import JobLock
from .spec import JobSpec
from .workflow import Job, job_input

__all__ = ["JOB_TAG", "job_domain", "register", "restart", "schedule_action", "start", "workflow_id"]

JOB_TAG = "flowser-job:"
"""Every job run has the tag ``flowser-job:NAME`` (``flowser executions list --tag flowser-job:ci``)."""


def job_domain(conn: Any, name: str) -> Domain:
    """A Domain named ``name`` that lists the job types (so payloads decode as they are sent)."""
    cls = type(
        "JobDomain",
        (named_domain(name),),
        {"workflow_types": [Job, JobLock], "activity_types": [Shell, Fetch], "__module__": __name__},
    )
    return cls(conn)


def register(domain: Domain, spec: JobSpec | None = None) -> None:
    """Register the domain (if it is not), ``flowser.Job``, ``flowser.JobLock``, the built-ins and the
    activity types ``spec`` names with a task list (defaults: that task list, one hour for each timeout but
    schedule-to-close, two).
    Types already registered are left alone."""
    named = type("Registering", (type(domain),), {"workflow_types": [Job, JobLock], "activity_types": [Shell, Fetch]})
    named(domain.conn).register()
    for task in (spec.tasks.values() if spec else []):
        ref = task.activity
        if ref is None or ref.task_list is None:
            continue
        cls = type(
            "JobActivityRegistration",
            (Activity,),
            {"name": ref.name, "version": ref.version, "task_list": ref.task_list, "schedule_to_close_timeout": 2 * ONE_HOUR},
        )
        cls(domain)._register()


def workflow_id(spec: JobSpec, now: dt.datetime | None = None) -> str:
    """``NAME-YYYYMMDDTHHMMSSZ-xxxxxx``: the run's workflowId unless one is given."""
    when = (now or dt.datetime.now(dt.UTC)).strftime("%Y%m%dT%H%M%SZ")
    return f"{spec.name}-{when}-{secrets.token_hex(3)}"


def start(domain: Domain, spec: JobSpec, value: Any = None, *, workflow_id_: str | None = None, **settings: Any) -> WorkflowExecution:
    """Start one execution of ``flowser.Job`` for ``spec`` and the job input ``value``."""
    payload = job_input(spec, value)
    tags = list(settings.pop("tag_list", None) or [])
    return domain.start(
        Job,
        payload,
        workflow_id=workflow_id_ or workflow_id(spec),
        execution_start_to_close_timeout=spec.timeout,
        tag_list=[f"{JOB_TAG}{spec.name}"[:256], *tags],
        **settings,
    )


def restart(domain: Domain, workflow_id_: str, run_id: str | None = None) -> WorkflowExecution:
    """A new run of a closed job that runs only what did not complete (``Domain.rerun``, docs/jobs.md)."""
    return domain.rerun(workflow_id_, run_id)


def schedule_action(spec: JobSpec, value: Any = None) -> Any:
    """A ``flowser.schedules.Action`` that starts the job (``schedules.create(..., action=...)``): the runs
    are named ``NAME-YYYYMMDDTHHMMSSZ`` after their fire time and tagged ``flowser-job:NAME``. A schedule
    carries its runs' input in its own state: at most 16,384 characters of spec and input."""
    from .. import schedules

    return schedules.action_for(
        Job,
        job_input(spec, value),
        workflow_id_prefix=spec.name,
        execution_start_to_close_timeout=spec.timeout,
        tag_list=[f"{JOB_TAG}{spec.name}"[:256]],
    )
