"""Reopening a data directory finds every domain, type, execution and history as it was."""

from __future__ import annotations

import json
import os
import select
import tempfile
from typing import Any

from backends.local import connect

from .helpers import WF, complete, history, poll_decision, setup_domain, start, types


def test_reopening_the_data_directory_finds_everything(tmp_path: Any) -> None:
    with tempfile.TemporaryDirectory(prefix="flp", dir="/tmp", ignore_cleanup_errors=True) as data_dir:
        swf = connect(data_dir=data_dir, poll_hold=0.2)
        try:
            setup_domain(swf)
            closed_run = start(swf, "done")
            task = poll_decision(swf)
            swf.respond_decision_task_completed(taskToken=task["taskToken"], decisions=[complete("r")])
            open_run = start(swf, "open", input="still here")
            before = history(swf, closed_run, "done")
            server_pid = swf.flowser_engine.store._owner.server_pid()
            pidfd = os.pidfd_open(server_pid)
        finally:
            swf.close()  # the last user: the embedded server stops
        try:
            assert select.select([pidfd], [], [], 15)[0], "the embedded redis-server did not stop"
        finally:
            os.close(pidfd)

        swf = connect(data_dir=data_dir, poll_hold=0.2)
        try:
            names = [d["name"] for d in swf.list_domains(registrationStatus="REGISTERED")["domainInfos"]]
            assert names == ["test"]
            described = swf.describe_workflow_type(domain="test", workflowType=WF)
            assert described["configuration"]["defaultTaskList"] == {"name": "deciders"}
            assert history(swf, closed_run, "done") == before
            assert types(history(swf, open_run, "open")) == ["WorkflowExecutionStarted", "DecisionTaskScheduled"]
            opened = swf.list_open_workflow_executions(domain="test", startTimeFilter={"oldestDate": 0})
            assert [i["execution"]["runId"] for i in opened["executionInfos"]] == [open_run]
            assert swf.flowser_engine.store._owner.server_pid() != server_pid  # a new server, reloaded from its AOF
            task = poll_decision(swf)  # the pending decision task survived too
            assert task["workflowExecution"] == {"workflowId": "open", "runId": open_run}
        finally:
            swf.close()


def test_histories_stored_by_earlier_versions_still_read(swf: Any, redis_client: Any) -> None:
    """Events are stored compactly (``backends.local.events``); the first versions stored msgpack."""
    import msgpack

    from backends.local.events import event_json
    from backends.local.keys import DomainKeys

    setup_domain(swf)
    run_id = start(swf, "old", input="in|put")
    task = poll_decision(swf)
    swf.respond_decision_task_completed(
        taskToken=task["taskToken"],
        decisions=[{"decisionType": "ScheduleActivityTask", "scheduleActivityTaskDecisionAttributes": {
            "activityType": {"name": "act", "version": "1"}, "activityId": "a1", "input": "j|o|b"}}],
    )
    key = DomainKeys("test").history(run_id)
    stored = redis_client.lrange(key, 0, -1)
    assert [raw.split(b"|", 1)[0] for raw in stored] == [str(i).encode() for i in range(1, len(stored) + 1)]
    before = history(swf, run_id, "old")
    assert before[0]["workflowExecutionStartedEventAttributes"]["input"] == "in|put"
    # rewrite the history as the first versions stored it: msgpack events
    redis_client.delete(key)
    old = [msgpack.packb(json.loads(event_json(raw)), use_bin_type=True) for raw in stored]
    redis_client.rpush(key, *old)

    assert history(swf, run_id, "old") == before
    newest = swf.get_workflow_execution_history(
        domain="test", execution={"workflowId": "old", "runId": run_id}, reverseOrder=True, maximumPageSize=2
    )
    assert [e["eventId"] for e in newest["events"]] == [before[-1]["eventId"], before[-2]["eventId"]]
    activity = swf.poll_for_activity_task(domain="test", taskList={"name": "workers"})
    assert (activity["activityId"], activity["input"]) == ("a1", "j|o|b")  # read from the msgpack Scheduled event
    swf.respond_activity_task_completed(taskToken=activity["taskToken"], result="done")
    task = poll_decision(swf)
    assert task["events"][: len(before)] == before  # old and new events, one page
    assert types(task["events"])[len(before) :] == [
        "ActivityTaskStarted", "ActivityTaskCompleted", "DecisionTaskScheduled", "DecisionTaskStarted"
    ]

    # callers of Engine.handle get the events as dicts too
    page = swf.flowser_engine.handle(
        "GetWorkflowExecutionHistory", {"domain": "test", "execution": {"workflowId": "old", "runId": run_id}}
    )["events"]
    assert list(page)[: len(before)] == [{**e, "eventTimestamp": e["eventTimestamp"].timestamp()} for e in before]
    assert page[-1]["eventType"] == "DecisionTaskStarted" and len(page) == len(task["events"])
