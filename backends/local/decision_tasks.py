"""Decision tasks: polling for one (with its history pages) and completing it with a batch of decisions."""

from __future__ import annotations

from typing import Any

from . import decisions as decision_rules
from . import tokens
from .core import Core, seconds
from .events import EventPage
from .executions import new_run, resolve_workflow_settings
from .faults import UnknownResourceFault, ValidationException
from .keys import DomainKeys
from .observers import TaskStarted
from .polling import Polling
from .run import Run, deadline, parse_member
from .store import Read, Tx, read_types, unpack


class DecisionTasks:
    """PollForDecisionTask and RespondDecisionTaskCompleted."""

    def __init__(self, core: Core, polling: Polling) -> None:
        self.core = core
        self.polling = polling

    def poll_for_decision_task(self, p: dict[str, Any]) -> dict[str, Any]:
        self.core.known_domain(p["domain"])
        dk = DomainKeys(p["domain"])
        if p.get("nextPageToken"):
            return self._decision_page(dk, p)
        task_list = p["taskList"]["name"]
        identity = p.get("identity")

        def take(member: str) -> dict[str, Any] | None:
            run_id, scheduled = parse_member(member)

            def change(run: Run, tx: Tx) -> dict[str, Any] | None:
                self.polling.unless_poller_gone(dk, "d", task_list, member)
                dt = run.state.decision_task
                tx.multi()
                tx.drop_claim(dk, "d", task_list, member)
                if (
                    not run.is_open
                    or dt.scheduled_event_id != scheduled
                    or dt.started_event_id
                    or dt.task_member != member
                ):
                    return None
                started = run.start_decision_task(identity)
                timeout = seconds(run.state.config["taskStartToCloseTimeout"])
                if timeout is not None:
                    run.effects.deadlines_add[deadline("dto", run_id, int(started))] = run.now + timeout
                self.core.write_run(tx, dk, run)
                # the first page is read in the same EXEC, after the DecisionTaskStarted it ends with
                prev = dt.previous_started_event_id
                first = prev if (p.get("startAtPreviousStartedEvent") and prev) else 1
                query = ("DecisionPage", dk.domain, run_id, started, p.get("reverseOrder"), first)
                read, reverse, page_token = self.core.page_plan(dk, run_id, first, started, p, query)
                index = tx.queue_history_range(dk, run_id, *read) if read else None
                return {"run": run, "tx": tx, "index": index, "reverse": reverse, "token": page_token}

            try:
                return self.core.transition(dk, run_id, change)
            except UnknownResourceFault:  # purged meanwhile
                self.core.store.drop_claim(dk, "d", task_list, member)
                return None

        claimed = self.polling.long_poll(dk, "d", task_list, take)
        if claimed is None:
            return self.polling.empty_answer({"previousStartedEventId": 0, "startedEventId": 0})
        run = claimed["run"]
        if self.core.wants(TaskStarted):
            dt = run.state.decision_task
            self.core.publish(
                TaskStarted(dk.domain, "d", task_list, run.run_id, dt.started_scheduled_event_id, dt.started_event_id)
            )
        index = claimed["index"]
        raw = claimed["tx"].results[index] if index is not None else []
        events = EventPage(raw, claimed["reverse"])
        return self._decision_task(dk, claimed["run"], events, claimed["token"])

    def _decision_task(
        self, dk: DomainKeys, run: Run, events: EventPage, page_token: str | None
    ) -> dict[str, Any]:
        dt = run.state.decision_task
        started = dt.started_event_id
        prev = dt.previous_started_event_id
        token = tokens.encode_task(dk.domain, run.run_id, "d", dt.started_scheduled_event_id, started)
        return _answer(run, events, page_token, token, started, prev)

    def _decision_page(self, dk: DomainKeys, p: dict[str, Any]) -> dict[str, Any]:
        """A later page of a decision task's history: never claims a task (§2.4)."""
        inner, run_id, started, prev, token = tokens.unwrap_decision_page(p["nextPageToken"])
        run = self.core.load(dk, run_id)
        if run is None:
            raise ValidationException("Invalid nextPageToken")
        first = prev if (p.get("startAtPreviousStartedEvent") and prev) else 1
        query = ("DecisionPage", dk.domain, run_id, started, p.get("reverseOrder"), first)
        events, page_token = self.core.history_page(dk, run_id, first, started, {**p, "nextPageToken": inner}, query)
        return _answer(run, events, page_token, token, started, prev)

    def respond_decision_task_completed(self, p: dict[str, Any]) -> dict[str, Any]:
        domain, run_id, scheduled, started = tokens.decode_task(p["taskToken"], "d")
        dk = DomainKeys(domain)
        batch = list(p.get("decisions") or [])
        decision_rules.check_batch(batch)
        wanted_activities = sorted(
            {
                (a["activityType"]["name"], a["activityType"]["version"])
                for d in batch
                if d["decisionType"] == "ScheduleActivityTask"
                for a in [decision_rules.attributes_of(d)]
            }
        )
        also_read: tuple[Read, ...] = ()
        if wanted_activities:  # read with the run's state, in one round trip
            also_read = (read_types(dk, "a", wanted_activities),)
        activity_types: dict[tuple[str, str], dict[str, Any] | None] = {}
        workflow_types: dict[tuple[str, str], dict[str, Any] | None] = {}
        open_executions = 0
        if any(d["decisionType"] in ("StartChildWorkflowExecution", "ContinueAsNewWorkflowExecution") for d in batch):
            workflow_types = self._workflow_types_of(dk, batch, run_id)
            open_executions = self.core.store.open_count(dk)

        def change(run: Run, tx: Tx) -> None:
            dt = run.state.decision_task
            if not run.is_open or dt.started_event_id != started:
                raise UnknownResourceFault(f"Unknown decision task, scheduledEventId = {scheduled}")
            if wanted_activities:
                activity_types.update(
                    (key, unpack(raw) if raw is not None else None)
                    for key, raw in zip(wanted_activities, tx.prefetched[0], strict=True)
                )
            run.begin_completion()
            attrs: dict[str, Any] = {}
            if "executionContext" in p:
                attrs["executionContext"] = p["executionContext"]
                run.state.execution_context = p["executionContext"]
            attrs["scheduledEventId"] = dt.started_scheduled_event_id
            attrs["startedEventId"] = started
            if "taskList" in p:
                attrs["taskList"] = p["taskList"]
                dt.override_task_list = p["taskList"]["name"]
                limit = p.get("taskListScheduleToStartTimeout")
                dt.override_schedule_to_start = limit if limit not in (None, "NONE") else None
            if "taskListScheduleToStartTimeout" in p:
                attrs["taskListScheduleToStartTimeout"] = p["taskListScheduleToStartTimeout"]
            completed = run.add("DecisionTaskCompleted", attrs)
            dt.previous_started_event_id = started
            run.effects.deadlines_remove.add(deadline("dto", run_id, int(started)))
            ctx = decision_rules.DecisionContext(
                activity_types,
                self.core.config.limits,
                completed,
                workflow_types=workflow_types,
                open_executions=open_executions,
                max_open_executions=self.core.config.max_open_executions,
                new_run=new_run,
                resolve=resolve_workflow_settings,
            )
            decision_rules.apply(run, batch, ctx)
            run.end_started_task()
            tx.multi()
            self.core.write_run(tx, dk, run)
            for new in ctx.new_runs:
                self.core.write_run(tx, dk, new, created=True)

        self.core.transition(dk, run_id, change, also_read=also_read)
        return {}

    def _workflow_types_of(
        self, dk: DomainKeys, batch: list[dict[str, Any]], run_id: str
    ) -> dict[tuple[str, str], dict[str, Any] | None]:
        """The workflow type records StartChild and ContinueAsNew decisions name, read once."""
        wanted: set[tuple[str, str]] = set()
        for d in batch:
            if d["decisionType"] not in ("StartChildWorkflowExecution", "ContinueAsNewWorkflowExecution"):
                continue
            a = decision_rules.attributes_of(d)
            if "workflowType" in a:
                wanted.add((a["workflowType"]["name"], a["workflowType"]["version"]))
            else:  # ContinueAsNew: the run's own type name, maybe another version
                run = self.core.load(dk, run_id)
                if run is not None:
                    name, version = run.state.workflow_type
                    wanted.add((name, a.get("workflowTypeVersion") or version))
        if not wanted:
            return {}
        keys = sorted(wanted)
        return dict(zip(keys, self.core.store.type_records(dk, "w", keys), strict=True))


def _answer(run: Run, events: EventPage, page_token: str | None, token: str, started: int, prev: int) -> dict[str, Any]:
    """A decision task's answer (its first page, or a later one): the members in SWF's order."""
    out: dict[str, Any] = {
        "taskToken": token,
        "startedEventId": started,
        "workflowExecution": run.execution,
        "workflowType": run.workflow_type,
        "events": events,
    }
    if page_token:
        out["nextPageToken"] = tokens.wrap_decision_page(page_token, run.run_id, started, prev, token)
    out["previousStartedEventId"] = prev
    return out
