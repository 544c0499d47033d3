"""What happens when a deadline passes (pure transitions on a ``Run``; §4.6, §7.2, §8.3, §10).

Deadline members are ``<kind>|<runId>|<ref>`` in the domain's deadlines ZSET,
scored by the deadline (epoch seconds):

  wto   execution START_TO_CLOSE              ref: -
  dto   decision task START_TO_CLOSE          ref: DecisionTaskStarted id
  a2s   activity SCHEDULE_TO_START            ref: ActivityTaskScheduled id
  a2c   activity SCHEDULE_TO_CLOSE            ref: ActivityTaskScheduled id
  as2c  activity START_TO_CLOSE               ref: ActivityTaskScheduled id
  ahb   activity HEARTBEAT                    ref: ActivityTaskScheduled id
  tmr   timer fires                           ref: TimerStarted id
  purge closed run leaves after retention     ref: -

Every function returns True when it changed the run. The run's ``now`` is
the deadline, so the events carry it as their timestamp.
"""

from __future__ import annotations

from typing import Any

from .run import Run

ACTIVITY_TIMEOUTS = {"a2s": "SCHEDULE_TO_START", "a2c": "SCHEDULE_TO_CLOSE", "as2c": "START_TO_CLOSE", "ahb": "HEARTBEAT"}
ACTIVITY_KINDS = tuple(ACTIVITY_TIMEOUTS)


def parse(member: str) -> tuple[str, str, str]:
    kind, run_id, ref = member.split("|", 2)
    return kind, run_id, ref


def execution_timed_out(run: Run) -> bool:
    if not run.is_open:
        return False
    run.add(
        "WorkflowExecutionTimedOut", {"timeoutType": "START_TO_CLOSE", "childPolicy": run.s["cfg"]["childPolicy"]}
    )
    run.close("TIMED_OUT")
    return True


def decision_task_timed_out(run: Run, started: int) -> bool:
    dt = run.s["dt"]
    if not run.is_open or dt["started"] != started:
        return False
    run.add(
        "DecisionTaskTimedOut",
        {"timeoutType": "START_TO_CLOSE", "scheduledEventId": dt["ssched"], "startedEventId": started},
    )
    run.end_started_task()
    return True


def activity_timed_out(run: Run, kind: str, scheduled: int) -> bool:
    act: dict[str, Any] | None = run.s["acts"].get(str(scheduled))
    if not run.is_open or act is None:
        return False
    started = int(act["st"])
    if kind == "a2s" and started:
        return False
    if kind in ("as2c", "ahb") and not started:
        return False
    del run.s["acts"][str(scheduled)]
    run.s["lat"] = run.now
    rid = run.run_id
    run.effects.deadlines_remove.update(f"{k}|{rid}|{scheduled}" for k in ACTIVITY_KINDS)
    if act.get("m"):
        run.effects.dequeue.append(("a", act["tl"], act["m"]))
    attrs: dict[str, Any] = {
        "timeoutType": ACTIVITY_TIMEOUTS[kind],
        "scheduledEventId": scheduled,
        "startedEventId": started,
    }
    if act.get("hb") is not None:
        attrs["details"] = act["hb"]
    run.add("ActivityTaskTimedOut", attrs)
    return True
