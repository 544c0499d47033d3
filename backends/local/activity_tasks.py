"""Activity tasks: polling for one, heartbeats, and its completion, failure or cancellation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import tokens
from .core import Core, seconds
from .events import load_event
from .faults import UnknownResourceFault
from .keys import DomainKeys
from .observers import TaskStarted
from .polling import Polling
from .run import Run, deadline, parse_member
from .state import Activity
from .store import Tx, read_event


class ActivityTasks:
    """PollForActivityTask, RecordActivityTaskHeartbeat and RespondActivityTask*."""

    def __init__(self, core: Core, polling: Polling) -> None:
        self.core = core
        self.polling = polling

    def poll_for_activity_task(self, p: dict[str, Any]) -> dict[str, Any]:
        self.core.known_domain(p["domain"])
        dk = DomainKeys(p["domain"])
        task_list = p["taskList"]["name"]
        identity = p.get("identity")

        def take(member: str) -> dict[str, Any] | None:
            run_id, scheduled = parse_member(member)

            def change(run: Run, tx: Tx) -> tuple[int, str, dict[str, Any], str] | None:
                self.polling.unless_poller_gone(dk, "a", task_list, member)
                act = run.state.activities.get(scheduled)
                scheduled_event = tx.prefetched[0]
                tx.multi()
                tx.drop_claim(dk, "a", task_list, member)
                if not run.is_open or act is None or act.started_event_id or act.task_member != member:
                    return None
                attrs: dict[str, Any] = {"scheduledEventId": scheduled}
                if identity is not None:
                    attrs["identity"] = identity
                started = run.add("ActivityTaskStarted", attrs)
                act.started_event_id = started
                act.task_member = None
                run.state.latest_activity_time = run.now
                ev = load_event(scheduled_event)["activityTaskScheduledEventAttributes"]
                self._on_activity_started(run, act, scheduled, ev)
                return started, act.activity_id, ev, run.workflow_id

            try:
                result = self.core.transition(
                    dk, run_id, change, also_read=(read_event(dk, run_id, scheduled),)
                )
            except UnknownResourceFault:
                self.core.store.drop_claim(dk, "a", task_list, member)
                return None
            if result is None:
                return None
            started, activity_id, ev, workflow_id = result
            if self.core.wants(TaskStarted):
                self.core.publish(TaskStarted(dk.domain, "a", task_list, run_id, scheduled, started))
            task: dict[str, Any] = {
                "taskToken": tokens.encode_task(dk.domain, run_id, "a", scheduled, started),
                "activityId": activity_id,
                "startedEventId": started,
                "workflowExecution": {"workflowId": workflow_id, "runId": run_id},
                "activityType": ev["activityType"],
            }
            if "input" in ev:
                task["input"] = ev["input"]
            return task

        task = self.polling.long_poll(dk, "a", task_list, take)
        if task is None:
            return self.polling.empty_answer({"startedEventId": 0})
        return dict(task)

    def _on_activity_started(
        self, run: Run, act: Activity, scheduled: int, scheduled_attrs: dict[str, Any]
    ) -> None:
        """Deadlines that start with the task (START_TO_CLOSE, HEARTBEAT); SCHEDULE_TO_START ends."""
        rid = run.run_id
        effects = run.effects
        effects.deadlines_remove.add(deadline("a4ss", rid, int(scheduled)))
        start_to_close = seconds(scheduled_attrs.get("startToCloseTimeout"))
        if start_to_close is not None:
            effects.deadlines_add[deadline("a2st", rid, int(scheduled))] = run.now + start_to_close
        heartbeat = seconds(scheduled_attrs.get("heartbeatTimeout"))
        if heartbeat is not None:
            act.heartbeat_timeout = heartbeat
            effects.deadlines_add[deadline("a3hb", rid, int(scheduled))] = run.now + heartbeat

    def _activity_transition(self, token: str, change: Callable[[Run, Activity, int, int], Any]) -> Any:
        domain, run_id, scheduled, started = tokens.decode_task(token, "a")
        dk = DomainKeys(domain)

        def body(run: Run, _tx: Tx) -> Any:
            act = run.state.activities.get(scheduled)
            if not run.is_open or act is None or act.started_event_id != started:
                raise UnknownResourceFault(f"Unknown activity, scheduledEventId = {scheduled}")
            return change(run, act, scheduled, started)

        return self.core.transition(dk, run_id, body)

    def _close_activity(self, run: Run, scheduled: int, event_type: str, attrs: dict[str, Any]) -> None:
        del run.state.activities[scheduled]
        run.state.latest_activity_time = run.now
        rid = run.run_id
        run.effects.deadlines_remove.update(
            {deadline(k, rid, int(scheduled)) for k in ("a4ss", "a1sc", "a2st", "a3hb")}
        )
        run.add(event_type, attrs)

    def respond_activity_task_completed(self, p: dict[str, Any]) -> dict[str, Any]:
        def change(run: Run, act: Activity, scheduled: int, started: int) -> None:
            attrs: dict[str, Any] = {k: p[k] for k in ("result",) if k in p}
            attrs.update(scheduledEventId=scheduled, startedEventId=started)
            self._close_activity(run, scheduled, "ActivityTaskCompleted", attrs)

        self._activity_transition(p["taskToken"], change)
        return {}

    def respond_activity_task_failed(self, p: dict[str, Any]) -> dict[str, Any]:
        def change(run: Run, act: Activity, scheduled: int, started: int) -> None:
            attrs: dict[str, Any] = {k: p[k] for k in ("reason", "details") if k in p}
            attrs.update(scheduledEventId=scheduled, startedEventId=started)
            self._close_activity(run, scheduled, "ActivityTaskFailed", attrs)

        self._activity_transition(p["taskToken"], change)
        return {}

    def respond_activity_task_canceled(self, p: dict[str, Any]) -> dict[str, Any]:
        def change(run: Run, act: Activity, scheduled: int, started: int) -> None:
            attrs: dict[str, Any] = {k: p[k] for k in ("details",) if k in p}
            attrs.update(scheduledEventId=scheduled, startedEventId=started)
            if act.cancel_requested_event_id:
                attrs["latestCancelRequestedEventId"] = act.cancel_requested_event_id
            self._close_activity(run, scheduled, "ActivityTaskCanceled", attrs)

        self._activity_transition(p["taskToken"], change)
        return {}

    def record_activity_task_heartbeat(self, p: dict[str, Any]) -> dict[str, Any]:
        def change(run: Run, act: Activity, scheduled: int, started: int) -> bool:
            if "details" in p:
                act.heartbeat_details = p["details"]
            if act.heartbeat_timeout:
                run.effects.deadlines_add[deadline("a3hb", run.run_id, scheduled)] = run.now + act.heartbeat_timeout
            return bool(act.cancel_requested_event_id)

        return {"cancelRequested": self._activity_transition(p["taskToken"], change)}
