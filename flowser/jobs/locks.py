"""Resource tags: a lock per tag, as an SWF execution that grants it through signals (FIFO).

A job naming ``resource_tags`` takes their locks one at a time, in sorted order (so two jobs never
wait on each other), before it starts any task, and gives them back before it closes:

* The lock of tag T is an execution of ``flowser.JobLock`` (version 1, task list ``flowser-jobs``,
  served by the same ``flowser decider flowser.jobs:Job`` process) with workflowId ``flowser-lock.T``.
* To take it, the job's decider starts it as a child (``StartChildWorkflowExecution``, input: the tag
  and the job's ``{workflowId, runId}``); the job's child policy is ABANDON, so the lock outlives the
  job that started it. If it is already running (``WORKFLOW_ALREADY_RUNNING``), the job signals it
  ``flowser.lock.acquire`` instead; if that signal finds it closed meanwhile, the job starts it again.
* The lock keeps a queue in its history: whoever started it, then each ``acquire`` in the order the
  signals reached it. It signals ``flowser.lock.granted`` (input ``{"tag"}``) to the head of the queue;
  the job's ``flowser.lock.release`` removes it and the next one is granted. A grant that cannot be
  delivered (that run is closed: terminated, timed out) counts as a release. With an empty queue the
  lock completes; a signal that arrives meanwhile makes SWF refuse the completion (UNHANDLED_DECISION)
  and the lock goes on. After 500 signals it continues as new with its queue.
* So two jobs sharing a tag never run at once, on any number of deciders and hosts, in the order their
  requests reach the lock. Everything is plain SWF (children, external signals): it runs on AWS. moto
  has neither child workflows nor external signals: there, jobs with resource tags cannot run.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ..types import ONE_DAY, Workflow

if TYPE_CHECKING:
    from ..tasks import Decision

__all__ = ["ACQUIRE", "GRANTED", "LOCK_TYPE", "RELEASE", "JobLock", "Locks", "lock_id"]

LOCK_TYPE = "flowser.JobLock"
ACQUIRE = "flowser.lock.acquire"
RELEASE = "flowser.lock.release"
GRANTED = "flowser.lock.granted"
PREFIX = "flowser-lock."
CONTINUE_AFTER = 500
WAKE = ".lock-wake-"
WAKE_SECONDS = 30


def lock_id(tag: str) -> str:
    return PREFIX + tag


def _json(text: str | None) -> Any:
    try:
        return json.loads(text) if text else None
    except ValueError:
        return None


def _attrs(event: Any) -> Any:
    return event.raw_attrs


class JobLock(Workflow):
    """The lock of one resource tag (see the module docstring); its decide() is called by Job's."""

    name, version, task_list = LOCK_TYPE, "1", "flowser-jobs"
    execution_start_to_close_timeout = 365 * ONE_DAY
    task_start_to_close_timeout = 60
    child_policy = "ABANDON"

    @staticmethod
    def get_id_from_input(input: Any) -> str:
        return lock_id(input["tag"])


def _key(who: Any) -> tuple[str, str]:
    return (str(who.get("workflowId")), str(who.get("runId")))


def decide_lock(task: Decision) -> None:
    """The lock's decider: grant to the head of the queue, drop who released, complete when empty."""
    events = sorted(task.events, key=lambda e: e.id)
    started = next(e for e in events if e.type == "WorkflowExecutionStarted")
    state = _json(_attrs(started).get("input")) or {}
    tag = state["tag"]
    queue: list[tuple[str, str]] = [_key(w) for w in state.get("queue", [])]
    granted: set[tuple[str, str]] = {_key(w) for w in state.get("granted", [])}
    pending: set[tuple[str, str]] = set()
    signals = 0
    by_id = {e.id: e for e in events}
    for event in events:
        attrs = _attrs(event)
        if event.type == "WorkflowExecutionSignaled":
            signals += 1
            who = _json(attrs.get("input")) or {}
            if "workflowId" not in who:
                continue
            if attrs.get("signalName") == ACQUIRE and _key(who) not in queue:
                queue.append(_key(who))
            elif attrs.get("signalName") == RELEASE and _key(who) in queue:
                queue.remove(_key(who))
                granted.discard(_key(who))
        elif event.type == "SignalExternalWorkflowExecutionInitiated" and attrs.get("signalName") == GRANTED:
            pending.add((attrs["workflowId"], attrs.get("runId", "")))
        elif event.type == "ExternalWorkflowExecutionSignaled":
            initiated = by_id.get(attrs.get("initiatedEventId"))
            if initiated is not None:
                who = (_attrs(initiated)["workflowId"], _attrs(initiated).get("runId", ""))
                pending.discard(who)
                granted.add(who)
        elif event.type == "SignalExternalWorkflowExecutionFailed":
            initiated = by_id.get(attrs.get("initiatedEventId"))
            if initiated is not None:
                who = (_attrs(initiated)["workflowId"], _attrs(initiated).get("runId", ""))
                pending.discard(who)
                if who in queue:  # that run is gone: as good as released
                    queue.remove(who)
    if not queue:
        task.complete_workflow({"tag": tag, "free": True})
        return
    head = queue[0]
    if head not in granted and head not in pending:
        task.signal_external(head[0], GRANTED, {"tag": tag}, run_id=head[1])
        pending.add(head)
    if signals >= CONTINUE_AFTER and not pending:
        carried = {
            "tag": tag,
            "queue": [{"workflowId": w, "runId": r} for w, r in queue],
            "granted": [{"workflowId": w, "runId": r} for w, r in granted if (w, r) in queue],
        }
        task.continue_as_new(carried)


class Locks:
    """A job run's side: which of its tags it holds, and the decisions to take or give back the others."""

    def __init__(self, task: Decision, tags: list[str]) -> None:
        self.task = task
        self.tags = tags
        self.me = {"workflowId": task.workflow_execution.workflow_id, "runId": str(task.workflow_execution.run_id)}
        self.granted: set[str] = set()
        self.requests: dict[str, list[tuple[str, str]]] = {tag: [] for tag in tags}
        """Per tag, each request's (op, outcome): op start|acquire, outcome open|ok|failed."""
        self.releases: dict[str, str] = {}
        by_control: dict[int, tuple[str, str]] = {}
        for event in sorted(task.events, key=lambda e: e.id):
            attrs = _attrs(event)
            if event.type == "WorkflowExecutionSignaled" and attrs.get("signalName") == GRANTED:
                tag = (_json(attrs.get("input")) or {}).get("tag")
                if tag in self.requests:
                    self.granted.add(tag)
            elif event.type in ("StartChildWorkflowExecutionInitiated", "SignalExternalWorkflowExecutionInitiated"):
                control = _json(attrs.get("control"))
                if isinstance(control, dict) and control.get("lock") in self.requests:
                    tag, op = control["lock"], control["op"]
                    by_control[event.id] = (tag, op)
                    if op == "release":
                        self.releases[tag] = "open"
                    else:
                        self.requests[tag].append((op, "open"))
            elif event.type in (
                "StartChildWorkflowExecutionFailed",
                "ChildWorkflowExecutionStarted",
                "ExternalWorkflowExecutionSignaled",
                "SignalExternalWorkflowExecutionFailed",
            ):
                found = by_control.get(attrs.get("initiatedEventId", -1))
                if found is None:
                    continue
                tag, op = found
                outcome = "failed" if event.type.endswith("Failed") else "ok"
                if op == "release":
                    self.releases[tag] = "done"
                elif self.requests[tag] and self.requests[tag][-1][1] == "open":
                    self.requests[tag][-1] = (op, outcome)

    @property
    def all_granted(self) -> bool:
        return all(tag in self.granted for tag in self.tags)

    def waiting_for(self) -> str | None:
        return next((tag for tag in self.tags if tag not in self.granted), None)

    def acquire(self) -> None:
        """Ask for the first tag not yet granted (one at a time, in sorted order)."""
        tag = self.waiting_for()
        if tag is None:
            return
        last = self.requests[tag][-1] if self.requests[tag] else None
        if last is None or (last[0] == "acquire" and last[1] == "failed"):
            self.task.start_child(JobLock, {"tag": tag, "queue": [self.me]}, {"lock": tag, "op": "start"}, workflow_id=lock_id(tag))
        elif last[0] == "start" and last[1] == "failed":
            self._signal(tag, ACQUIRE, "acquire")

    def release(self) -> bool:
        """Give back every granted tag; True once every release reached its lock (or found it gone)."""
        for tag in sorted(self.granted):
            if tag not in self.releases:
                self._signal(tag, RELEASE, "release")
                self.releases[tag] = "open"
        return all(self.releases.get(tag) == "done" for tag in self.granted)

    def _signal(self, tag: str, name: str, op: str) -> None:
        self.task.signal_external(lock_id(tag), name, self.me, control={"lock": tag, "op": op})
        self.signalled = True

    signalled = False

    def keep_awake(self, timers: Any) -> None:
        """While the job waits on the outcome of a signal it sent (delivered, or failed because the lock
        closed), make sure a decision task comes: SWF schedules one for those events, and this timer
        (``.lock-wake-N``, 30 s; no task name starts with ``.``) stands in should one not come."""
        waiting = self.signalled or any(state == "open" for state in self.releases.values())
        waiting = waiting or any(reqs and reqs[-1] == ("acquire", "open") for reqs in self.requests.values())
        wakes = [name for name in timers if name.startswith(WAKE)]
        if waiting and not any(timers[name].is_open for name in wakes):
            self.task.start_timer(f"{WAKE}{len(wakes) + 1}", WAKE_SECONDS)
