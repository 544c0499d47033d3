"""A run whose state an earlier version stored (``state.py``'s layout, older keys) carries on."""

from __future__ import annotations

from typing import Any

import msgpack

from backends.local.keys import DomainKeys

from .helpers import (
    cancel_timer,
    complete,
    describe,
    history,
    poll_activity,
    poll_decision,
    respond,
    schedule,
    setup_domain,
    start,
    timer,
    types,
)


def test_a_run_stored_by_an_earlier_version_carries_on(swf: Any, redis_client: Any) -> None:
    setup_domain(swf)
    run_id = start(swf, "w1", input="in")
    respond(swf, poll_decision(swf), schedule("a1"), timer("t1", "3600"))
    key = DomainKeys("test").run(run_id)
    stored = msgpack.unpackb(redis_client.get(key), raw=False, strict_map_key=False)
    assert set(stored) >= {"d", "wid", "rid", "type", "cfg", "dt", "acts", "timers", "n", "cr", "pie"}
    assert list(stored["timers"]) == ["t1"] and [a["id"] for a in stored["acts"].values()] == ["a1"]
    # as earlier versions left it: no start order, no list in the decision task, empty optional maps
    del stored["seq"]
    del stored["dt"]["stl"]
    stored["dt"].update(held=None, tlt=None)
    stored.update(children={}, lambdas={})
    redis_client.set(key, msgpack.packb(stored, use_bin_type=True))

    counts = describe(swf, run_id)["openCounts"]
    assert (counts["openActivityTasks"], counts["openTimers"], counts["openChildWorkflowExecutions"]) == (1, 1, 0)
    activity = poll_activity(swf)
    assert (activity["activityId"], activity["workflowExecution"]["runId"]) == ("a1", run_id)
    swf.respond_activity_task_completed(taskToken=activity["taskToken"], result="ok")
    respond(swf, poll_decision(swf), cancel_timer("t1"), complete("done"))

    events = types(history(swf, run_id))
    assert events[-3:] == ["DecisionTaskCompleted", "TimerCanceled", "WorkflowExecutionCompleted"]
    info = describe(swf, run_id)["executionInfo"]
    assert (info["executionStatus"], info["closeStatus"]) == ("CLOSED", "COMPLETED")
    rewritten = msgpack.unpackb(redis_client.get(key), raw=False, strict_map_key=False)
    assert rewritten["dt"]["stl"] == "deciders" and "children" not in rewritten and rewritten["seq"] == 0
