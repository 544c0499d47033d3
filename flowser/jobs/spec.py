"""The job file's schema (pydantic): what ``flowser job validate`` checks and the DAG decider reads.

A job is a ``name``, a ``version`` and ``tasks`` (a mapping: task name -> task). Each task is exactly
one of ``activity`` (an SWF activity type), ``shell``, ``fetch`` (built-in activities served by
``flowser worker --builtins``), ``sleep`` (a durable SWF timer) or ``merge`` (waits for all or any of
some tasks). docs/jobs.md documents every field; this module is the authority.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..retry import RetryPolicy

__all__ = ["KINDS", "ActivityRef", "Fetch", "JobSpec", "Merge", "Shell", "Sleep", "Source", "Task", "Timeouts"]

NAME_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,79}$"
"""Task and job names: letters, digits, ``_ . -`` (no ``~``: retry attempts use it), at most 80."""
TAG_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,199}$"
KINDS = ("activity", "shell", "fetch", "sleep", "merge")
JOB_SOURCE = "job"
"""``from: job`` names the job's input; any other ``from`` names a task."""
WHOLE = "$"
"""The key under which a task's single-source ``input`` is kept (the activity gets that value itself)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class ActivityRef(_Strict):
    """An SWF activity type, served by your own ``flowser worker`` (or any SWF worker)."""

    name: str = Field(min_length=1, max_length=256)
    version: str = Field(min_length=1, max_length=64)
    task_list: str | None = Field(default=None, min_length=1, max_length=256)
    """None: the type's registered default task list."""


class Shell(_Strict):
    """A program run by the ``flowser.shell`` built-in activity: its exit code decides success."""

    command: str = Field(min_length=1)
    """The program (looked up on PATH); not a shell line: use ``command: sh`` and ``args: [-c, "..."]`` for one."""
    args: list[str] = []
    env: dict[str, str] = {}
    """Added to the worker's environment (``FLOWSER_INPUT`` holds the task's input as JSON)."""
    cwd: str | None = None


class Fetch(_Strict):
    """A download by the ``flowser.fetch`` built-in activity, checked against its SHA-256."""

    url: str = Field(min_length=1)
    sha256: str
    dest: str | None = None
    """Where to write it on the worker (default: a new temporary file); the result names the path."""

    @field_validator("sha256")
    @classmethod
    def _hex(cls, value: str) -> str:
        if not re.fullmatch(r"[0-9a-fA-F]{64}", value):
            raise ValueError("sha256 must be 64 hexadecimal digits")
        return value.lower()


class Sleep(_Strict):
    """A durable SWF timer (``StartTimer``): no worker is involved."""

    seconds: int = Field(ge=0, le=31_536_000)


class Merge(_Strict):
    """Done when ``all`` (default) or ``any`` of ``wait`` are done; its result maps each done one to its result."""

    wait: list[str] = Field(min_length=1)
    mode: Literal["all", "any"] = "all"


class Source(_Strict):
    """One input value: a constant (``value``), or part of the job input (``from: job``) or of an earlier
    task's result (``from: TASK``) by ``path`` (``a.b[0].c``, optionally led by ``$.``)."""

    value: Any = None
    from_: str | None = Field(default=None, alias="from")
    path: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _one(cls, data: Any) -> Any:
        if isinstance(data, dict):
            if ("value" in data) == ("from" in data or "from_" in data):
                raise ValueError("give exactly one of 'value' (a constant) or 'from' (job or a task name)")
            if "value" in data and "path" in data:
                raise ValueError("'path' goes with 'from', not with 'value'")
        return data


class Timeouts(_Strict):
    """Seconds (SWF's activity timeouts); unset: the activity type's registered defaults."""

    start_to_close: int | None = Field(default=None, ge=1)
    schedule_to_start: int | None = Field(default=None, ge=1)
    schedule_to_close: int | None = Field(default=None, ge=1)
    heartbeat: int | None = Field(default=None, ge=1)


def _is_source(value: Any) -> bool:
    return isinstance(value, dict) and bool(value) and set(value) <= {"value", "from", "path"} and (
        "value" in value or "from" in value
    )


class Task(_Strict):
    activity: ActivityRef | None = None
    shell: Shell | None = None
    fetch: Fetch | None = None
    sleep: Sleep | None = None
    merge: Merge | None = None
    depends_on: list[str] = []
    input: dict[str, Source] | None = None
    """name -> source (the task gets a mapping); or one source (the task gets that value)."""
    timeouts: Timeouts = Timeouts()
    priority: int | None = Field(default=None, ge=-2_147_483_648, le=2_147_483_647)
    retry: RetryPolicy | None = None
    task_list: str | None = Field(default=None, min_length=1, max_length=256)
    """For ``shell``/``fetch``: the task list of the built-in workers (default ``flowser-builtins``)."""

    @field_validator("input", mode="before")
    @classmethod
    def _single(cls, value: Any) -> Any:
        return {WHOLE: value} if _is_source(value) else value

    @field_validator("depends_on", mode="before")
    @classmethod
    def _listed(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _one_kind(self) -> Task:
        given = [kind for kind in KINDS if getattr(self, kind) is not None]
        if len(given) != 1:
            what = "none" if not given else " and ".join(given)
            raise ValueError(f"a task is exactly one of {', '.join(KINDS)} (this one: {what})")
        if self.merge is not None and (self.input or self.retry or self.priority is not None):
            raise ValueError("a merge takes no input, retry or priority (it runs nothing)")
        if self.sleep is not None and self.retry is not None:
            raise ValueError("a sleep is an SWF timer: it has no retry")
        return self

    @property
    def kind(self) -> str:
        return next(kind for kind in KINDS if getattr(self, kind) is not None)

    def upstream_names(self) -> list[str]:
        """depends_on, and a merge's wait list (a merge depends on what it waits for)."""
        names = list(self.depends_on)
        if self.merge is not None:
            names += [n for n in self.merge.wait if n not in names]
        return names

    def sources(self) -> dict[str, Source]:
        return dict(self.input or {})


class JobSpec(_Strict):
    name: str = Field(pattern=NAME_PATTERN)
    version: str = Field(default="1", min_length=1, max_length=64)
    description: str | None = None
    tasks: dict[str, Task] = Field(min_length=1)
    max_concurrency: int | None = Field(default=None, ge=1)
    """At most this many tasks (activities and sleeps) run at once; None: no limit."""
    resource_tags: list[str] = []
    """Two jobs that name one tag never run at once (``flowser.jobs.locks``)."""
    timeout: int = Field(default=86_400, ge=1)
    """The execution's start-to-close timeout, in seconds."""

    @staticmethod
    def check_task_name(name: str) -> None:
        """Raise ValueError for a name that cannot be a task's (it is its activityId or timerId)."""
        if not re.fullmatch(NAME_PATTERN, name):
            raise ValueError(f"task name {name!r}: letters, digits, '_', '.', '-' only, at most 80")
        if name == JOB_SOURCE:
            raise ValueError(f"'{JOB_SOURCE}' is reserved (from: job names the job input)")
        if name == "arn":
            raise ValueError("'arn' cannot be a task name: SWF refuses it as an activityId")

    @field_validator("tasks")
    @classmethod
    def _names(cls, value: dict[str, Task]) -> dict[str, Task]:
        for name in value:
            cls.check_task_name(name)
        return value

    @field_validator("resource_tags")
    @classmethod
    def _tags(cls, value: list[str]) -> list[str]:
        for tag in value:
            if not re.fullmatch(TAG_PATTERN, tag):
                raise ValueError(f"resource tag {tag!r}: letters, digits, '_ . -' only, at most 200 (it is part of a workflowId)")
        return sorted(set(value))

    def wire(self) -> dict[str, Any]:
        """The spec as the decider receives it (JSON)."""
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True)
