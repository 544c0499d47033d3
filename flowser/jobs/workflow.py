"""The generic DAG workflow: one execution of ``flowser.Job`` runs one job file.

Its input is ``{"spec": <the validated job, JSON>, "input": <the job input>}`` (``flowser job run``
builds it; :func:`job_input` does too). Its decider -- ``flowser decider flowser.jobs:Job --domain D``,
which also serves the resource-tag locks (:mod:`.locks`) -- reads the run's typed history at every
decision task (:func:`.state.task_states`), and then, with plain SWF decisions:

1. takes the job's resource-tag locks, if it names any, before anything else;
2. schedules every ready task (all its dependencies done), highest ``priority`` first then in file
   order, while fewer than ``max_concurrency`` tasks run (activities, their retry backoffs, sleeps),
   and at most 100 per decision task: an activity or built-in as ``ScheduleActivityTask`` with
   activityId = the task's name (retries: ``flowser.retry``, attempt n is ``NAME~n``), a sleep as a
   ``StartTimer`` with timerId = the task's name; a merge runs nothing: it is done when its upstream is;
3. once nothing runs and nothing more can start, gives the locks back and closes the run: completed
   when every task is done (result: each task's status and result), else failed with reason
   ``failed: A, B`` and, as details, each task's status and failure reason. Tasks downstream of a
   failure are skipped; independent branches run to the end first.

A cancellation request stops scheduling, asks running activities to cancel (their workers learn it at
their next heartbeat), cancels sleeps, gives the locks back and cancels the run.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, ClassVar

from ..history import FIRED
from ..rerun import SOURCE_TAG
from ..retry import RetryPolicy
from ..tasks import WorkflowExecution
from ..types import ONE_DAY, Activity, Workflow
from .builtins import BUILTIN_TASK_LIST, BUILTINS
from .graph import order
from .locks import LOCK_TYPE, Locks, decide_lock
from .spec import JobSpec, Task
from .state import (
    DONE,
    FAILED,
    RUNNING,
    SKIPPED,
    SLEEPS_MARKER,
    TERMINAL,
    TaskState,
    resolve_input,
    reused_sleeps,
    task_states,
)

if TYPE_CHECKING:
    from ..tasks import Decision

__all__ = ["INPUT_LIMIT", "JOB_TASK_LIST", "JOB_TYPE", "Job", "JobInputTooLarge", "job_input"]

JOB_TYPE = "flowser.Job"
JOB_TASK_LIST = "flowser-jobs"
INPUT_LIMIT = 32_768
PER_DECISION = 100
RESULT_LIMIT = 30_000


class JobInputTooLarge(ValueError):
    """The spec and the job input do not fit SWF's 32,768 characters of workflow input."""


def job_input(spec: JobSpec, value: Any = None) -> dict[str, Any]:
    """The ``flowser.Job`` input for ``spec`` and a job input; raises JobInputTooLarge past SWF's limit."""
    payload = {"spec": spec.wire(), "input": value}
    size = len(json.dumps(payload, separators=(",", ":")))
    if size > INPUT_LIMIT:
        raise JobInputTooLarge(
            f"the job and its input take {size} characters: SWF takes at most {INPUT_LIMIT} as a workflow input "
            "(pass large inputs by reference: a URL, a path, an S3 key)"
        )
    return payload


_ACTIVITY_CLASSES: dict[tuple[str, str], type[Activity]] = {}


class _Named(Activity):
    """Sends no task list when the job gives none (SWF then uses the type's registered default)."""

    @classmethod
    def schedule(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:
        decision = super().schedule(*args, **kwargs)
        attrs = decision["scheduleActivityTaskDecisionAttributes"]
        if attrs.get("taskList", {}).get("name") is None:
            attrs.pop("taskList", None)
        return decision


def activity_class(name: str, version: str) -> type[Activity]:
    """A types.Activity for an activity type named in a job: nothing is sent that the job does not say
    (the task list and timeouts left unset are the type's registered defaults)."""
    key = (name, version)
    if key not in _ACTIVITY_CLASSES:
        _ACTIVITY_CLASSES[key] = type(
            "JobActivity",
            (_Named,),
            {
                "name": name,
                "version": version,
                "task_list": None,
                "heartbeat_timeout": None,
                "schedule_to_close_timeout": None,
                "schedule_to_start_timeout": None,
                "start_to_close_timeout": None,
                "__module__": __name__,
            },
        )
    return _ACTIVITY_CLASSES[key]


class Job(Workflow):
    """``flowser.Job`` version 1: the DAG decider (see the module docstring)."""

    name, version, task_list = JOB_TYPE, "1", JOB_TASK_LIST
    execution_start_to_close_timeout = ONE_DAY
    task_start_to_close_timeout = 60
    child_policy = "ABANDON"
    """The lock executions a job starts as children must outlive it."""
    on_decider_error: ClassVar[str] = "fail"

    @staticmethod
    def get_id_from_input(input: Any) -> str:
        raise ValueError("give the job's workflow_id")

    def decide(self, task: Decision) -> None:
        if task.workflow_type.name == LOCK_TYPE:
            decide_lock(task)
        else:
            JobDecider(task).run()


class JobDecider:
    def __init__(self, task: Decision) -> None:
        self.task = task
        self.history = task.history
        raw = self.history.start_input or {}
        self.spec = JobSpec.model_validate(raw["spec"])
        self.input = raw.get("input")

    def run(self) -> None:
        task, spec = self.task, self.spec
        locks = Locks(task, spec.resource_tags) if spec.resource_tags else None
        if self.history.cancel_requests:
            self.stop_running()
            if locks is None or locks.release():
                task.cancel_workflow({"canceled": "a cancellation was requested"})
            else:
                locks.keep_awake(self.history.timers)
            return
        if locks is not None and not locks.all_granted:
            locks.acquire()
            locks.keep_awake(self.history.timers)
            return
        states = task_states(spec, self.history, self.input, self.restart_sleeps())
        running = sum(1 for s in states.values() if s.status == RUNNING)
        room = PER_DECISION if spec.max_concurrency is None else min(spec.max_concurrency - running, PER_DECISION)
        position = {name: i for i, name in enumerate(order(spec))}
        ready = sorted(
            (s for s in states.values() if s.ready),
            key=lambda s: (-(spec.tasks[s.name].priority or 0), position[s.name]),
        )
        for state in ready[: max(room, 0)]:
            self.start(state.name, spec.tasks[state.name], states)
            running += 1
        if running or any(not s.ready and s.status not in TERMINAL for s in states.values()):
            return
        if ready:  # could not start them (no room): they start as running ones close
            return
        if locks is not None and not locks.release():
            locks.keep_awake(self.history.timers)
            return
        self.close(states)

    def stop_running(self) -> None:
        """Ask running activities to cancel (their workers see it at their next heartbeat) and cancel sleeps."""
        for name, spec_task in self.spec.tasks.items():
            if spec_task.sleep is not None:
                timer = self.history.timers.get(name)
                if timer is not None and timer.is_open:
                    self.task.cancel_timer(name)
            elif spec_task.merge is None:
                record = self.history.activities.get(name)
                if record is not None and record.is_open and record.cancel_requested is None:
                    self.task.request_cancel_activity(name)

    def restart_sleeps(self) -> set[str]:
        """On a restart's first decision task: the sleeps that fired in the run it restarts (and those that
        run reused), read once with GetWorkflowExecutionHistory and recorded in a marker."""
        sleeps = [name for name, t in self.spec.tasks.items() if t.sleep is not None]
        started = self.history.started
        tags = list(started.raw_attrs.get("tagList") or []) if started is not None else []
        source = next((tag[len(SOURCE_TAG) :] for tag in tags if tag.startswith(SOURCE_TAG)), None)
        if not sleeps or source is None or any(m.name == SLEEPS_MARKER for m in self.history.markers):
            return set()
        previous = WorkflowExecution({"workflowId": self.task.workflow_execution.workflow_id, "runId": source}, self.task)
        history = previous.history()
        done, _ = reused_sleeps(history)
        done |= {name for name in sleeps if name in history.timers and history.timers[name].status == FIRED}
        done &= set(sleeps)
        self.task.mark(SLEEPS_MARKER, {"source": source, "done": sorted(done)})
        return done

    def start(self, name: str, spec_task: Task, states: dict[str, TaskState]) -> None:
        task = self.task
        value = resolve_input(self.spec, name, self.input, states)
        if spec_task.sleep is not None:
            task.start_timer(name, spec_task.sleep.seconds)
            return
        timeouts = spec_task.timeouts
        kwargs: dict[str, Any] = {
            "activity_id": name,
            "task_priority": spec_task.priority,
            "heartbeat_timeout": timeouts.heartbeat,
            "schedule_to_close_timeout": timeouts.schedule_to_close,
            "schedule_to_start_timeout": timeouts.schedule_to_start,
            "start_to_close_timeout": timeouts.start_to_close,
            "retry_policy": spec_task.retry if isinstance(spec_task.retry, RetryPolicy) else None,
        }
        if spec_task.activity is not None:
            ref = spec_task.activity
            task.schedule(activity_class(ref.name, ref.version), value, task_list=ref.task_list, **kwargs)
            return
        kind = spec_task.kind
        body = getattr(spec_task, kind).model_dump(mode="json", exclude_none=True)
        task.schedule(BUILTINS[kind], {kind: body, "input": value}, task_list=spec_task.task_list or BUILTIN_TASK_LIST, **kwargs)

    def close(self, states: dict[str, TaskState]) -> None:
        summary = {
            name: {k: v for k, v in {"status": s.status, "attempts": s.attempt or None, "reason": s.reason}.items() if v}
            for name, s in states.items()
        }
        failed = [s.name for s in states.values() if s.status == FAILED]
        if not failed and all(s.status == DONE for s in states.values()):
            results = {name: s.result for name, s in states.items() if s.result is not None}
            outcome: dict[str, Any] = {"job": self.spec.name, "tasks": summary, "results": results}
            if len(json.dumps(outcome)) > RESULT_LIMIT:
                outcome = {"job": self.spec.name, "tasks": summary, "results_omitted": "larger than SWF's 32 KB result"}
            self.task.complete_workflow(outcome)
            return
        skipped = [s.name for s in states.values() if s.status == SKIPPED]
        reason = f"failed: {', '.join(failed)}" + (f"; not run: {', '.join(skipped)}" if skipped else "")
        self.task.fail_workflow(details={"job": self.spec.name, "tasks": summary}, reason=reason)
