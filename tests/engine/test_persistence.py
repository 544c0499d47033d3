"""Reopening a data directory finds every domain, type, execution and history as it was."""

from __future__ import annotations

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
