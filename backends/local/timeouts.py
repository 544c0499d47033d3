"""What happens when a deadline passes (pure transitions on a ``Run``; §4.6, §7.2, §8.3, §10).

Deadline members are ``<kind>|<runId>|<ref>`` in the domain's deadlines ZSET,
scored by the deadline (epoch seconds):

  wto   execution START_TO_CLOSE              ref: -
  dto   decision task START_TO_CLOSE          ref: DecisionTaskStarted id
  a1sc  activity SCHEDULE_TO_CLOSE            ref: ActivityTaskScheduled id
  a2st  activity START_TO_CLOSE               ref: ActivityTaskScheduled id
  a3hb  activity HEARTBEAT                    ref: ActivityTaskScheduled id
  a4ss  activity SCHEDULE_TO_START            ref: ActivityTaskScheduled id

Deadlines due at the same time fire in member order, so an activity's
simultaneous timeouts are reported as SCHEDULE_TO_CLOSE, then START_TO_CLOSE,
then HEARTBEAT (the first one closes the task; docs/semantics.md).
  tmr   timer fires                           ref: TimerStarted id
  cpt   child policy TERMINATE on this child  ref: -
  cpc   child policy REQUEST_CANCEL           ref: -
  l2c   Lambda function START_TO_CLOSE        ref: LambdaFunctionScheduled id
  purge closed run leaves after retention     ref: -

Outbox entries, due at once, for what one transition asks of another run
(``relations``): chs (start a child), chc (tell the parent a child closed),
sig / rcx (deliver an external signal / cancel request).

Every function returns True when it changed the run. The run's ``now`` is
the deadline, so the events carry it as their timestamp.
"""

from __future__ import annotations

from typing import Any

from .run import Run, deadline, terminate

ACTIVITY_TIMEOUTS = {"a4ss": "SCHEDULE_TO_START", "a1sc": "SCHEDULE_TO_CLOSE", "a2st": "START_TO_CLOSE", "a3hb": "HEARTBEAT"}
ACTIVITY_KINDS = tuple(ACTIVITY_TIMEOUTS)


def parse(member: str) -> tuple[str, str, str]:
    kind, run_id, ref = member.split("|", 2)
    return kind, run_id, ref


def execution_timed_out(run: Run) -> bool:
    if not run.is_open:
        return False
    policy = run.state.config["childPolicy"]
    run.add("WorkflowExecutionTimedOut", {"timeoutType": "START_TO_CLOSE", "childPolicy": policy})
    run.state.child_policy_on_close = policy
    run.close("TIMED_OUT")
    return True


def decision_task_schedule_timed_out(run: Run, scheduled: int) -> bool:
    """Not started in time on an override task list: time out, and go back to the run's list (§4.4)."""
    dt = run.state.decision_task
    if not run.is_open or dt.scheduled_event_id != scheduled or dt.started_event_id:
        return False
    if dt.task_member and dt.task_list:
        run.effects.dequeue.append(("d", dt.task_list, dt.task_member))
    dt.task_member = None
    dt.scheduled_event_id = 0
    dt.override_task_list = None
    dt.override_schedule_to_start = None
    run.add("DecisionTaskTimedOut", {"timeoutType": "SCHEDULE_TO_START", "scheduledEventId": scheduled, "startedEventId": 0})
    return True


def decision_task_timed_out(run: Run, started: int) -> bool:
    dt = run.state.decision_task
    if not run.is_open or dt.started_event_id != started:
        return False
    if dt.override_schedule_to_start:  # a task list override with a limit lasts until a timeout (§4.4)
        dt.override_task_list = None
        dt.override_schedule_to_start = None
    run.add(
        "DecisionTaskTimedOut",
        {"timeoutType": "START_TO_CLOSE", "scheduledEventId": dt.started_scheduled_event_id, "startedEventId": started},
    )
    run.end_started_task()
    return True


def activity_timed_out(run: Run, kind: str, scheduled: int) -> bool:
    act = run.state.activities.get(scheduled)
    if not run.is_open or act is None:
        return False
    started = act.started_event_id
    if kind == "a4ss" and started:
        return False
    if kind in ("a2st", "a3hb") and not started:
        return False
    del run.state.activities[scheduled]
    run.state.latest_activity_time = run.now
    rid = run.run_id
    run.effects.deadlines_remove.update(deadline(k, rid, scheduled) for k in ACTIVITY_KINDS)
    if act.task_member:
        run.effects.dequeue.append(("a", act.task_list, act.task_member))
    attrs: dict[str, Any] = {
        "timeoutType": ACTIVITY_TIMEOUTS[kind],
        "scheduledEventId": scheduled,
        "startedEventId": started,
    }
    if act.heartbeat_details is not None:
        attrs["details"] = act.heartbeat_details
    run.add("ActivityTaskTimedOut", attrs)
    return True


def timer_fired(run: Run, started: int) -> bool:
    timers = run.state.timers
    timer_id = next((tid for tid, timer in timers.items() if timer.started_event_id == started), None)
    if not run.is_open or timer_id is None:
        return False
    del timers[timer_id]
    run.add("TimerFired", {"timerId": timer_id, "startedEventId": started})
    return True


def child_policy_applied(run: Run, kind: str) -> bool:
    """The parent closed (terminated or timed out): TERMINATE or REQUEST_CANCEL this child (§8.4)."""
    if not run.is_open:
        return False
    if kind == "cpt":
        policy = run.state.config["childPolicy"]
        terminate(run, {"childPolicy": policy, "cause": "CHILD_POLICY_APPLIED"}, policy)
    else:
        run.state.cancel_requested = True
        run.add("WorkflowExecutionCancelRequested", {"cause": "CHILD_POLICY_APPLIED"})
    return True


def lambda_timed_out(run: Run, scheduled: int) -> bool:
    entry = run.state.lambda_tasks.get(scheduled)
    if not run.is_open or entry is None:
        return False
    del run.state.lambda_tasks[scheduled]
    if entry.task_member:
        run.effects.dequeue.append(("l", entry.name, entry.task_member))
    run.add(
        "LambdaFunctionTimedOut",
        {"scheduledEventId": scheduled, "startedEventId": entry.started_event_id, "timeoutType": "START_TO_CLOSE"},
    )
    return True


def fire(run: Run, kind: str, ref: str) -> bool:
    """Apply the deadline ``<kind>|<run>|<ref>`` to its run; True when the run changed."""
    if kind == "wto":
        return execution_timed_out(run)
    if kind == "dto":
        return decision_task_timed_out(run, int(ref))
    if kind == "dts":
        return decision_task_schedule_timed_out(run, int(ref))
    if kind in ACTIVITY_TIMEOUTS:
        return activity_timed_out(run, kind, int(ref))
    if kind == "tmr":
        return timer_fired(run, int(ref))
    if kind in ("cpt", "cpc"):
        return child_policy_applied(run, kind)
    if kind == "l2c":
        return lambda_timed_out(run, int(ref))
    return False  # an unknown kind (a newer engine's?) is dropped
