"""The arithmetic example on the embedded local SWF engine, driven through its boto3 client.

A workflow receives a list of operations; the decider schedules one activity
per operation (multiply or sum), activity workers compute them, and when all
results are in the decider completes the workflow with them. Run it with
``python examples/arithmetic/run.py``; it prints each result and the history.
"""

from __future__ import annotations

import json
import math
import sys
import threading
import uuid
from typing import Any

import backends.local

DOMAIN = "math"
WORKFLOW = {"name": "ArithmeticWorkflow", "version": "1.0.0"}
ACTIVITIES = {
    "MultiplyActivity": lambda values: math.prod(values),
    "SumActivity": lambda values: sum(values),
}


def register(swf: Any) -> None:
    existing = swf.list_domains(registrationStatus="REGISTERED")["domainInfos"]
    if any(d["name"] == DOMAIN for d in existing):
        return
    swf.register_domain(name=DOMAIN, workflowExecutionRetentionPeriodInDays="1")
    swf.register_workflow_type(
        domain=DOMAIN,
        **WORKFLOW,
        defaultTaskList={"name": "arithmetic-decisions"},
        defaultExecutionStartToCloseTimeout="600",
        defaultTaskStartToCloseTimeout="60",
        defaultChildPolicy="TERMINATE",
    )
    for name in ACTIVITIES:
        swf.register_activity_type(
            domain=DOMAIN,
            name=name,
            version="1.0.0",
            defaultTaskList={"name": name},
            defaultTaskScheduleToStartTimeout="60",
            defaultTaskScheduleToCloseTimeout="120",
            defaultTaskStartToCloseTimeout="60",
            defaultTaskHeartbeatTimeout="NONE",
        )


def worker(swf: Any, name: str, stop: threading.Event) -> None:
    while not stop.is_set():
        task = swf.poll_for_activity_task(domain=DOMAIN, taskList={"name": name}, identity=f"{name}-worker")
        if not task.get("taskToken"):
            continue
        op_id, values = json.loads(task["input"])
        result = ACTIVITIES[name](values)
        print(f"  {name}({values}) = {result}")
        swf.respond_activity_task_completed(taskToken=task["taskToken"], result=json.dumps([op_id, result]))


def decide(swf: Any) -> None:
    """Decide until the one workflow of this run is complete."""
    while True:
        task = swf.poll_for_decision_task(domain=DOMAIN, taskList={"name": "arithmetic-decisions"}, identity="decider")
        if not task.get("taskToken"):
            continue
        events = task["events"]
        started = next(e for e in events if e["eventType"] == "WorkflowExecutionStarted")
        operations = json.loads(started["workflowExecutionStartedEventAttributes"]["input"])["operations"]
        results = dict(
            json.loads(e["activityTaskCompletedEventAttributes"]["result"])
            for e in events
            if e["eventType"] == "ActivityTaskCompleted"
        )
        scheduled = any(e["eventType"] == "ActivityTaskScheduled" for e in events)
        if not scheduled:
            decisions = [
                {
                    "decisionType": "ScheduleActivityTask",
                    "scheduleActivityTaskDecisionAttributes": {
                        "activityType": {"name": op["activity"], "version": "1.0.0"},
                        "activityId": f"op-{i}",
                        "input": json.dumps([i, op["values"]]),
                    },
                }
                for i, op in enumerate(operations)
            ]
        elif len(results) == len(operations):
            ordered = [results[i] for i in range(len(operations))]
            decisions = [
                {
                    "decisionType": "CompleteWorkflowExecution",
                    "completeWorkflowExecutionDecisionAttributes": {"result": json.dumps(ordered)},
                }
            ]
        else:
            decisions = []
        swf.respond_decision_task_completed(taskToken=task["taskToken"], decisions=decisions)
        if decisions and decisions[0]["decisionType"] == "CompleteWorkflowExecution":
            return


def main() -> int:
    data_dir = sys.argv[1] if len(sys.argv) > 1 else None  # default: the per-user data directory
    swf = backends.local.connect(data_dir=data_dir, poll_hold=1.0)
    try:
        register(swf)
        stop = threading.Event()
        threads = [threading.Thread(target=worker, args=(swf, name, stop), daemon=True) for name in ACTIVITIES]
        for t in threads:
            t.start()
        workflow_id = f"arithmetic-{uuid.uuid4()}"
        operations = [
            {"activity": "MultiplyActivity", "values": [2, 3, 7]},
            {"activity": "SumActivity", "values": [1, 2, 3, 4]},
            {"activity": "MultiplyActivity", "values": [10, 10]},
        ]
        run_id = swf.start_workflow_execution(
            domain=DOMAIN, workflowId=workflow_id, workflowType=WORKFLOW, input=json.dumps({"operations": operations})
        )["runId"]
        print(f"started {workflow_id} (run {run_id})")
        decide(swf)
        stop.set()
        for t in threads:
            t.join()
        info = swf.describe_workflow_execution(domain=DOMAIN, execution={"workflowId": workflow_id, "runId": run_id})
        print("close status:", info["executionInfo"]["closeStatus"])
        print("history:")
        pages = swf.get_paginator("get_workflow_execution_history").paginate(
            domain=DOMAIN, execution={"workflowId": workflow_id, "runId": run_id}
        )
        for page in pages:
            for event in page["events"]:
                print(f"  {event['eventId']:>3} {event['eventTimestamp']:%H:%M:%S.%f} {event['eventType']}")
        result = next(
            e["workflowExecutionCompletedEventAttributes"]["result"]
            for page in swf.get_paginator("get_workflow_execution_history").paginate(
                domain=DOMAIN, execution={"workflowId": workflow_id, "runId": run_id}
            )
            for e in page["events"]
            if e["eventType"] == "WorkflowExecutionCompleted"
        )
        print("result:", result)
        return 0
    finally:
        swf.close()


if __name__ == "__main__":
    sys.exit(main())
