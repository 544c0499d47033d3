"""A run's typed state reads the stored form flowser has always written, and writes it back."""

from __future__ import annotations

import dataclasses
from typing import Any

from backends.local.run import Run
from backends.local.state import Activity, Child, DecisionTask, LambdaTask, RunState, Timer
from backends.local.store import pack, unpack

CFG = {
    "executionStartToCloseTimeout": "3600",
    "taskList": {"name": "deciders"},
    "taskStartToCloseTimeout": "30",
    "childPolicy": "TERMINATE",
    "taskPriority": "5",
}


def stored_busy_run() -> dict[str, Any]:
    """A run as the code before typed state wrote it: every optional key present."""
    return {
        "d": "orders",
        "wid": "order-1",
        "rid": "run-1",
        "type": ["Order", "1"],
        "start": 1700000000.123,
        "seq": 1700000000123456789,
        "close": None,
        "status": "OPEN",
        "cs": None,
        "cfg": CFG,
        "tags": ["a", "b"],
        "parent": {"workflowId": "p", "runId": "prun"},
        "pie": 7,
        "cr": True,
        "n": 40,
        "dt": {
            "sched": 38,
            "started": 36,
            "ssched": 35,
            "prev": 20,
            "m": None,
            "tl": "urgent",
            "stl": "urgent",
            "tlt": "10",
            "held": "urgent",
        },
        "acts": {
            "12": {"id": "a1", "tl": "workers", "st": 0, "cr": 0, "m": "member-12"},
            "14": {"id": "a2", "tl": "workers", "st": 15, "cr": 30, "m": None, "hb": "50%", "hbs": 60.0},
        },
        "timers": {"t1": 17},
        "children": {"21": {"wid": "child-1", "type": ["Child", "2"], "rid": "crun", "st": 23}},
        "lambdas": {"25": {"id": "l1", "name": "resize", "st": 0, "m": "member-25"}},
        "ctx": "context",
        "lat": 1700000001.5,
        "policy": "TERMINATE",
    }


def stored_new_run() -> dict[str, Any]:
    """A run just started, as the code before typed state wrote it (no optional keys)."""
    return {
        "d": "orders",
        "wid": "order-2",
        "rid": "run-2",
        "type": ["Order", "1"],
        "start": 1700000000.0,
        "seq": 1,
        "close": None,
        "status": "OPEN",
        "cs": None,
        "cfg": CFG,
        "tags": [],
        "parent": None,
        "pie": 0,
        "cr": False,
        "n": 2,
        "dt": {"sched": 2, "started": 0, "ssched": 0, "prev": 0, "m": "member-2", "tl": None, "stl": "deciders"},
        "acts": {},
        "timers": {},
        "ctx": None,
        "lat": None,
    }


def test_a_busy_run_stored_by_the_old_layout_loads_with_readable_names() -> None:
    state = RunState.load(unpack(pack(stored_busy_run())))
    assert (state.domain, state.workflow_id, state.run_id, state.workflow_type) == ("orders", "order-1", "run-1", ("Order", "1"))
    assert (state.start_order, state.close_time, state.status, state.close_status) == (1700000000123456789, None, "OPEN", None)
    assert (state.parent, state.parent_initiated_event_id, state.cancel_requested, state.event_count) == (
        {"workflowId": "p", "runId": "prun"},
        7,
        True,
        40,
    )
    assert state.decision_task == DecisionTask(38, 36, 35, 20, None, "urgent", "urgent", "10", "urgent")
    assert state.activities == {
        12: Activity("a1", "workers", 0, 0, "member-12"),
        14: Activity("a2", "workers", 15, 30, None, "50%", 60.0),
    }
    assert state.timers == {"t1": Timer("t1", 17)}
    assert state.children == {21: Child("child-1", ("Child", "2"), "crun", 23)}
    assert state.lambda_tasks == {25: LambdaTask("l1", "resize", 0, "member-25")}
    assert (state.execution_context, state.latest_activity_time, state.child_policy_on_close) == (
        "context",
        1700000001.5,
        "TERMINATE",
    )


def test_the_old_layout_round_trips_unchanged() -> None:
    for stored in (stored_busy_run(), stored_new_run()):
        state = RunState.load(unpack(pack(stored)))
        assert state.dump() == stored
        assert unpack(pack(state.dump())) == stored
        assert RunState.load(unpack(pack(state.dump()))) == state


def test_keys_earlier_versions_left_out_or_wrote_empty_get_their_defaults() -> None:
    stored = stored_new_run()
    del stored["seq"]  # before runs were ordered within a millisecond
    del stored["dt"]["stl"]  # before a task went to the list its event names
    stored["dt"]["held"] = None
    stored["dt"]["tlt"] = None
    stored["children"] = {}  # a StartChild decision that failed left an empty map
    stored["lambdas"] = {}
    state = RunState.load(unpack(pack(stored)))
    assert state.start_order == 0
    assert state.decision_task.task_list == "deciders"  # the run's own list (no override)
    assert state.decision_task.held_on is None and state.decision_task.override_schedule_to_start is None
    assert state.children == {} and state.lambda_tasks == {}
    # written back in today's layout: empty optional keys are left out, readers default them
    assert state.dump() == {**stored_new_run(), "seq": 0}


def test_a_loaded_run_takes_a_transition() -> None:
    run = Run(RunState.load(unpack(pack(stored_new_run()))), 1700000005.0)
    run.close("TERMINATED")
    assert run.state.close_status == "TERMINATED" and run.state.close_time == 1700000005.0
    assert run.effects.dequeue == [("d", "deciders", "member-2")]
    dumped = run.state.dump()
    assert (dumped["status"], dumped["cs"], dumped["dt"]["m"], dumped["dt"]["sched"]) == ("CLOSED", "TERMINATED", None, 0)


def test_load_sets_every_field() -> None:
    """``load`` fills a bare instance field by field: a field added later must be set there too."""
    for stored in (stored_busy_run(), stored_new_run()):
        state = RunState.load(stored)
        assert [f.name for f in dataclasses.fields(RunState) if not hasattr(state, f.name)] == []
