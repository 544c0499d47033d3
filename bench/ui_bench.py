"""How fast the dashboard answers for large runs and domains (run by hand; not a test).

    .venv/bin/python bench/ui_bench.py                     # a 10,000-event run, a 10,000-execution domain
    .venv/bin/python bench/ui_bench.py --events 20000 --executions 0 --repeat 5

On the local engine (an embedded redis-server in a temp dir), through the
dashboard's own handler (``flowser.ui.UI.handle``, what ``flowser ui`` and
``flowser serve --ui`` call per request, without the socket):

1. one execution of more than ``--events`` events (decision tasks scheduling
   30 activities and recording 60 markers each, a signal waking the decider):
   the execution page in each view (timeline, grouped, JSON), the live
   fragment and ``history.json``; the reference in the same run is reading
   the whole history through the client (``flowser.ops.history_events``),
   which every one of those answers starts with;
2. a domain of ``--executions`` closed executions: the executions list's
   first page and the counts; the reference is one
   ``ListClosedWorkflowExecutions`` page of the same size.

Each figure is the median of ``--repeat`` answers, in ms, with the page size.
The issue's target: a 10,000-event execution's page usable within 1 s.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import backends
from flowser import ops
from flowser.ui import UI, Request

DOMAIN = "bench"
WF = {"name": "Big", "version": "1"}
ACT = {"name": "Step", "version": "1"}


def setup(client: Any) -> None:
    client.register_domain(name=DOMAIN, workflowExecutionRetentionPeriodInDays="1")
    client.register_workflow_type(
        domain=DOMAIN, name=WF["name"], version=WF["version"], defaultTaskList={"name": "deciders"},
        defaultExecutionStartToCloseTimeout="3600", defaultTaskStartToCloseTimeout="60", defaultChildPolicy="TERMINATE",
    )
    client.register_activity_type(
        domain=DOMAIN, name=ACT["name"], version=ACT["version"], defaultTaskList={"name": "workers"},
        defaultTaskScheduleToStartTimeout="600", defaultTaskScheduleToCloseTimeout="600",
        defaultTaskStartToCloseTimeout="600", defaultTaskHeartbeatTimeout="NONE",
    )


def big_run(client: Any, events: int) -> dict[str, str]:
    run_id = client.start_workflow_execution(domain=DOMAIN, workflowId="big", workflowType=WF)["runId"]
    while True:
        task = client.poll_for_decision_task(domain=DOMAIN, taskList={"name": "deciders"}, identity="bench")
        if not task.get("taskToken"):
            continue
        last = task["startedEventId"]
        if last > events:
            decisions = [{"decisionType": "CompleteWorkflowExecution", "completeWorkflowExecutionDecisionAttributes": {"result": "done"}}]
            client.respond_decision_task_completed(taskToken=task["taskToken"], decisions=decisions)
            return {"workflowId": "big", "runId": run_id}
        decisions = [
            {"decisionType": "ScheduleActivityTask", "scheduleActivityTaskDecisionAttributes": {
                "activityType": ACT, "activityId": f"a{last}-{i}", "input": f'{{"i": {i}}}'}}
            for i in range(30)
        ] + [
            {"decisionType": "RecordMarker", "recordMarkerDecisionAttributes": {"markerName": f"m{i % 3}"}}
            for i in range(60)
        ]
        client.respond_decision_task_completed(taskToken=task["taskToken"], decisions=decisions)
        client.signal_workflow_execution(domain=DOMAIN, workflowId="big", signalName="go")


def many_runs(client: Any, count: int) -> None:
    for n in range(count):
        client.start_workflow_execution(domain=DOMAIN, workflowId=f"run-{n}", workflowType=WF)
        client.terminate_workflow_execution(domain=DOMAIN, workflowId=f"run-{n}", reason="bench")


def timed(repeat: int, call: Any) -> tuple[float, Any]:
    took, answer = [], None
    for _ in range(repeat):
        began = time.perf_counter()
        answer = call()
        took.append(1000 * (time.perf_counter() - began))
    return statistics.median(took), answer


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--events", type=int, default=10_000, help="events in the big run (default 10,000)")
    p.add_argument("--executions", type=int, default=10_000, help="closed executions in the domain (default 10,000; 0: skip)")
    p.add_argument("--repeat", type=int, default=5)
    args = p.parse_args(argv)

    from backends.local.embedded import EmbeddedRedis

    server = EmbeddedRedis.acquire(tempfile.mkdtemp(prefix="flowser-ui-bench-", dir="/tmp"))
    client = backends.connect(server.url, poll_hold=0.2)
    try:
        setup(client)
        began = time.perf_counter()
        execution = big_run(client, args.events)
        print(f"big run: {execution['runId']} in {time.perf_counter() - began:.1f} s", flush=True)
        ui = UI(client)
        path = "/".join(["/ui/d", DOMAIN, "x", quote(execution["workflowId"], safe=""), quote(execution["runId"], safe="")])

        def get(target: str, **query: Any) -> Any:
            response = ui.handle(Request("GET", target, urlencode(query)))
            assert response.status == 200, (target, query, response.status)
            return response

        rows: list[tuple[str, float, int | None]] = []
        ms, events = timed(args.repeat, lambda: list(ops.history_events(client, DOMAIN, execution)))
        rows.append((f"reference: the whole history through the client ({len(events):,} events)", ms, None))
        for view in ("timeline", "grouped", "json"):
            ms, response = timed(args.repeat, lambda view=view: get(path, view=view))
            rows.append((f"execution page, {view} view", ms, len(response.body)))
        ms, response = timed(args.repeat, lambda: get(path + "/fragment", view="timeline"))
        rows.append(("live fragment (timeline)", ms, len(response.body)))
        ms, response = timed(args.repeat, lambda: get(path + "/history.json"))
        rows.append(("history.json", ms, len(response.body)))
        if args.executions:
            began = time.perf_counter()
            many_runs(client, args.executions)
            print(f"{args.executions:,} executions in {time.perf_counter() - began:.1f} s", flush=True)
            since = {"oldestDate": 0}
            ms, _ = timed(args.repeat, lambda: client.list_closed_workflow_executions(
                domain=DOMAIN, startTimeFilter=since, maximumPageSize=50))
            rows.append(("reference: one ListClosedWorkflowExecutions page of 50", ms, None))
            ms, response = timed(args.repeat, lambda: get(f"/ui/d/{DOMAIN}"))
            rows.append((f"executions list, first page ({args.executions + 1:,} runs in the domain)", ms, len(response.body)))
        width = max(len(name) for name, _, _ in rows)
        print(f"\n{'answer':<{width}}  {'ms (median)':>11}  {'bytes':>9}")
        for name, ms, size in rows:
            print(f"{name:<{width}}  {ms:>11.1f}  {'' if size is None else f'{size:,}':>9}")
    finally:
        client.close()
        server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
