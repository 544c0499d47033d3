"""Jobs as YAML: a DAG of activities run by one generic SWF decider (docs/jobs.md).

    loaded = flowser.jobs.load("examples/jobs/ci.yaml", {"BRANCH": "main"})
    run = flowser.jobs.start(domain, loaded.spec, {"repo": "..."})

``flowser decider flowser.jobs:Job --domain D`` runs every job (and the resource-tag locks);
``flowser worker --builtins --domain D`` runs the shell and fetch tasks.
"""

from __future__ import annotations

from .builtins import BUILTIN_TASK_LIST, BUILTINS, Builtins, Fetch, Shell
from .load import JobFileError, Loaded, load, load_text, parse_vars
from .locks import JobLock
from .run import job_domain, register, restart, schedule_action, start
from .spec import JobSpec
from .workflow import JOB_TASK_LIST, JOB_TYPE, Job, JobInputTooLarge, job_input

__all__ = [
    "BUILTINS",
    "BUILTIN_TASK_LIST",
    "JOB_TASK_LIST",
    "JOB_TYPE",
    "Builtins",
    "Fetch",
    "Job",
    "JobFileError",
    "JobInputTooLarge",
    "JobLock",
    "JobSpec",
    "Loaded",
    "Shell",
    "job_domain",
    "job_input",
    "load",
    "load_text",
    "parse_vars",
    "register",
    "restart",
    "schedule_action",
    "start",
]
