"""Child workflows and child policies on virtual time (swf-semantics.md §8.3, §8.4, §8.5, §9, §14(e))."""

from __future__ import annotations

from typing import Any

import pytest

from backends.local import EngineConfig
from backends.local.decisions import Limits
from backends.local.testing import LocalEnvironment

from .helpers import DOMAIN, DTS, WF, Flow, at, close_status, complete, continue_as_new, decision, start_child

KIDS = {"name": "kids"}
DTS_KIDS = {**DTS, "taskList": KIDS}
BARE = {"name": "bare", "version": "1"}
"""A workflow type registered without any default."""


@pytest.fixture
def flow(env: Any) -> Flow:
    return Flow(env)


def execution(workflow_id: str, run_id: str) -> dict[str, str]:
    return {"workflowId": workflow_id, "runId": run_id}


def initiated(workflow_id: str = "c", dtc: int = 4, **kw: Any) -> dict[str, Any]:
    """StartChildWorkflowExecutionInitiated attributes resolved from the helpers' type defaults."""
    return {
        "workflowId": workflow_id,
        "workflowType": WF,
        "executionStartToCloseTimeout": "3600",
        "taskList": KIDS,
        "decisionTaskCompletedEventId": dtc,
        "childPolicy": "TERMINATE",
        "taskStartToCloseTimeout": "60",
        **kw,
    }


def family(flow: Flow, parent_kw: dict[str, Any] | None = None, **child_kw: Any) -> tuple[str, str]:
    """Parent p starts child c on the kids' list (parent events 1-7); returns (parent runId, child runId)."""
    parent = flow.start("p", **(parent_kw or {}))
    flow.decide(start_child("c", taskList=KIDS, **child_kw))
    events = flow.events(parent, "p")
    assert [e["eventType"] for e in events][4:] == [
        "StartChildWorkflowExecutionInitiated",
        "ChildWorkflowExecutionStarted",
        "DecisionTaskScheduled",
    ]
    child = events[5]["childWorkflowExecutionStartedEventAttributes"]["workflowExecution"]["runId"]
    return parent, child


def child_closes(flow: Flow, outcome: str) -> None:
    """Make child c close with ``outcome`` (a closeStatus)."""
    if outcome == "COMPLETED":
        flow.decide(complete("r"), task_list="kids")
    elif outcome == "FAILED":
        flow.decide(decision("FailWorkflowExecution", reason="why", details="d"), task_list="kids")
    elif outcome == "CANCELED":
        flow.decide(decision("CancelWorkflowExecution", details="d"), task_list="kids")
    elif outcome == "TERMINATED":
        flow.swf.terminate_workflow_execution(domain=DOMAIN, workflowId="c", reason="stop")
    else:
        flow.sleep(30)  # the child's executionStartToCloseTimeout


def test_child_completes(flow: Flow) -> None:
    """§14(e), with every attribute of both histories."""
    t0 = flow.now()
    parent = flow.start("p")
    flow.decide(start_child("c", taskList=KIDS, input="ci", control="ctl", tagList=["x"]))
    child = flow.events(parent, "p")[5]["childWorkflowExecutionStartedEventAttributes"]["workflowExecution"]["runId"]
    assert flow.describe(parent, "p")["openCounts"]["openChildWorkflowExecutions"] == 1
    info = flow.describe(child, "c")["executionInfo"]
    assert info["parent"] == execution("p", parent) and info["executionStatus"] == "OPEN"
    assert sorted(flow.open_runs()) == [("c", child), ("p", parent)]
    flow.decide(workflow_id="p")  # nothing to do until the child reports
    flow.sleep(10)
    flow.decide(complete("cr"), task_list="kids")
    flow.decide(complete("done"), workflow_id="p")

    started = {"workflowExecution": execution("c", child), "workflowType": WF}
    assert flow.seq(parent, "p") == [
        (
            "WorkflowExecutionStarted",
            {
                "executionStartToCloseTimeout": "3600",
                "taskStartToCloseTimeout": "60",
                "childPolicy": "TERMINATE",
                "taskList": {"name": "deciders"},
                "workflowType": WF,
                "parentInitiatedEventId": 0,
            },
        ),
        ("DecisionTaskScheduled", DTS),
        ("DecisionTaskStarted", {"scheduledEventId": 2}),
        ("DecisionTaskCompleted", {"scheduledEventId": 2, "startedEventId": 3}),
        ("StartChildWorkflowExecutionInitiated", initiated(control="ctl", input="ci", tagList=["x"])),
        ("ChildWorkflowExecutionStarted", {**started, "initiatedEventId": 5}),
        ("DecisionTaskScheduled", DTS),
        ("DecisionTaskStarted", {"scheduledEventId": 7}),
        ("DecisionTaskCompleted", {"scheduledEventId": 7, "startedEventId": 8}),
        ("ChildWorkflowExecutionCompleted", {**started, "result": "cr", "initiatedEventId": 5, "startedEventId": 6}),
        ("DecisionTaskScheduled", DTS),
        ("DecisionTaskStarted", {"scheduledEventId": 11}),
        ("DecisionTaskCompleted", {"scheduledEventId": 11, "startedEventId": 12}),
        ("WorkflowExecutionCompleted", {"result": "done", "decisionTaskCompletedEventId": 13}),
    ]
    assert flow.seq(child, "c") == [
        (
            "WorkflowExecutionStarted",
            {
                "input": "ci",
                "executionStartToCloseTimeout": "3600",
                "taskStartToCloseTimeout": "60",
                "childPolicy": "TERMINATE",
                "taskList": KIDS,
                "workflowType": WF,
                "tagList": ["x"],
                "parentWorkflowExecution": execution("p", parent),
                "parentInitiatedEventId": 5,
            },
        ),
        ("DecisionTaskScheduled", DTS_KIDS),
        ("DecisionTaskStarted", {"scheduledEventId": 2}),
        ("DecisionTaskCompleted", {"scheduledEventId": 2, "startedEventId": 3}),
        ("WorkflowExecutionCompleted", {"result": "cr", "decisionTaskCompletedEventId": 4}),
    ]
    parent_times = [e["eventTimestamp"] for e in flow.events(parent, "p")]
    assert parent_times == [at(t0)] * 9 + [at(t0 + 10)] * 5
    assert [e["eventTimestamp"] for e in flow.events(child, "c")] == [at(t0)] * 2 + [at(t0 + 10)] * 3
    assert flow.describe(parent, "p")["openCounts"]["openChildWorkflowExecutions"] == 0
    assert flow.describe(child, "c")["executionInfo"]["parent"] == execution("p", parent)


def test_child_settings_from_the_decision(flow: Flow) -> None:
    """Explicit settings win over the type's defaults and reach the child's start event (§3.1, §9)."""
    settings = {
        "executionStartToCloseTimeout": "900",
        "taskList": {"name": "elsewhere"},
        "taskPriority": "5",
        "taskStartToCloseTimeout": "9",
        "childPolicy": "REQUEST_CANCEL",
        "lambdaRole": "arn:aws:iam::1:role/kid",
    }
    parent = flow.start("p")
    flow.decide(start_child("c", **settings))
    seq = flow.seq(parent, "p")
    child = seq[5][1]["workflowExecution"]["runId"]
    assert seq[4] == (
        "StartChildWorkflowExecutionInitiated",
        {"workflowId": "c", "workflowType": WF, **settings, "decisionTaskCompletedEventId": 4},
    )
    assert flow.seq(child, "c") == [
        (
            "WorkflowExecutionStarted",
            {
                **settings,
                "workflowType": WF,
                "parentWorkflowExecution": execution("p", parent),
                "parentInitiatedEventId": 5,
            },
        ),
        (
            "DecisionTaskScheduled",
            {"taskList": {"name": "elsewhere"}, "taskPriority": "5", "startToCloseTimeout": "9", "scheduleToStartTimeout": "NONE"},
        ),
    ]
    assert flow.describe(child, "c")["executionConfiguration"] == {
        "taskStartToCloseTimeout": "9",
        "executionStartToCloseTimeout": "900",
        "taskList": {"name": "elsewhere"},
        "taskPriority": "5",
        "childPolicy": "REQUEST_CANCEL",
        "lambdaRole": "arn:aws:iam::1:role/kid",
    }


OUTCOMES = [
    ("FAILED", "ChildWorkflowExecutionFailed", {"reason": "why", "details": "d"}, 0),
    ("CANCELED", "ChildWorkflowExecutionCanceled", {"details": "d"}, 0),
    ("TIMED_OUT", "ChildWorkflowExecutionTimedOut", {"timeoutType": "START_TO_CLOSE"}, 30),
    ("TERMINATED", "ChildWorkflowExecutionTerminated", {}, 0),
    ("COMPLETED", "ChildWorkflowExecutionCompleted", {"result": "r"}, 0),
]


@pytest.mark.parametrize(("outcome", "event_type", "extra", "after"), OUTCOMES, ids=[o[0] for o in OUTCOMES])
def test_each_child_outcome_in_the_parent(
    flow: Flow, outcome: str, event_type: str, extra: dict[str, Any], after: int
) -> None:
    t0 = flow.now()
    parent, child = family(flow, executionStartToCloseTimeout="30")
    flow.decide(workflow_id="p")
    child_closes(flow, outcome)
    assert close_status(flow.swf, "c", child) == outcome
    events = flow.events(parent, "p")
    assert flow.seq(parent, "p")[9:] == [
        (
            event_type,
            {
                "workflowExecution": execution("c", child),
                "workflowType": WF,
                **extra,
                "initiatedEventId": 5,
                "startedEventId": 6,
            },
        ),
        ("DecisionTaskScheduled", DTS),
    ]
    assert events[9]["eventTimestamp"] == at(t0 + after)
    assert flow.describe(parent, "p")["openCounts"]["openChildWorkflowExecutions"] == 0
    task = flow.poll()
    assert task["workflowExecution"] == execution("p", parent) and task["startedEventId"] == 12


def test_start_child_failed_synchronously(flow: Flow) -> None:
    """Type and default failures: no Initiated event, initiatedEventId 0 (§5)."""
    swf = flow.swf
    swf.register_workflow_type(domain=DOMAIN, name="old", version="1", **{
        "defaultTaskList": {"name": "deciders"},
        "defaultExecutionStartToCloseTimeout": "60",
        "defaultTaskStartToCloseTimeout": "10",
        "defaultChildPolicy": "TERMINATE",
    })
    swf.deprecate_workflow_type(domain=DOMAIN, workflowType={"name": "old", "version": "1"})
    swf.register_workflow_type(domain=DOMAIN, name=BARE["name"], version=BARE["version"])
    full = {
        "executionStartToCloseTimeout": "60",
        "taskList": KIDS,
        "taskStartToCloseTimeout": "10",
        "childPolicy": "ABANDON",
    }

    def without(member: str) -> dict[str, Any]:
        return {k: v for k, v in full.items() if k != member}

    cases = [
        (start_child("c1", {"name": "nope", "version": "1"}, control="k1"), "WORKFLOW_TYPE_DOES_NOT_EXIST"),
        (start_child("c2", {"name": WF["name"], "version": "2"}), "WORKFLOW_TYPE_DOES_NOT_EXIST"),
        (start_child("c3", {"name": "old", "version": "1"}), "WORKFLOW_TYPE_DEPRECATED"),
        (start_child("c4", BARE, **without("executionStartToCloseTimeout")), "DEFAULT_EXECUTION_START_TO_CLOSE_TIMEOUT_UNDEFINED"),
        (start_child("c5", BARE, **without("taskList")), "DEFAULT_TASK_LIST_UNDEFINED"),
        (start_child("c6", BARE, **without("taskStartToCloseTimeout")), "DEFAULT_TASK_START_TO_CLOSE_TIMEOUT_UNDEFINED"),
        (start_child("c7", BARE, **without("childPolicy")), "DEFAULT_CHILD_POLICY_UNDEFINED"),
    ]
    parent = flow.start("p")
    flow.decide(*[c for c, _ in cases], start_child("ok", BARE, **full))
    expected = []
    for n, (d, cause) in enumerate(cases):
        a = d["startChildWorkflowExecutionDecisionAttributes"]
        failed = {
            "workflowType": a["workflowType"],
            "cause": cause,
            "workflowId": f"c{n + 1}",
            "initiatedEventId": 0,
            "decisionTaskCompletedEventId": 4,
        }
        if "control" in a:
            failed["control"] = a["control"]
        expected.append(("StartChildWorkflowExecutionFailed", failed))
    seq = flow.seq(parent, "p")
    assert seq[4:11] == expected
    assert seq[11] == (
        "StartChildWorkflowExecutionInitiated",
        {
            "workflowId": "ok",
            "workflowType": BARE,
            "executionStartToCloseTimeout": "60",
            "taskList": KIDS,
            "decisionTaskCompletedEventId": 4,
            "childPolicy": "ABANDON",
            "taskStartToCloseTimeout": "10",
        },
    )
    assert [t for t, _ in seq[12:]] == ["DecisionTaskScheduled", "ChildWorkflowExecutionStarted"]
    assert sorted(w for w, _ in flow.open_runs()) == ["ok", "p"]


def test_start_child_failed_workflow_already_running(flow: Flow) -> None:
    """After Initiated, with its id (§5, §9.3); the parent's own workflowId counts too."""
    other = flow.start("other", taskList={"name": "elsewhere"})
    parent = flow.start("p")
    flow.decide(start_child("other", taskList=KIDS, control="k"), start_child("p", taskList=KIDS))
    assert flow.seq(parent, "p")[4:] == [
        ("StartChildWorkflowExecutionInitiated", initiated("other", control="k")),
        ("StartChildWorkflowExecutionInitiated", initiated("p")),
        (
            "StartChildWorkflowExecutionFailed",
            {
                "workflowType": WF,
                "cause": "WORKFLOW_ALREADY_RUNNING",
                "workflowId": "other",
                "initiatedEventId": 5,
                "decisionTaskCompletedEventId": 4,
                "control": "k",
            },
        ),
        ("DecisionTaskScheduled", DTS),
        (
            "StartChildWorkflowExecutionFailed",
            {
                "workflowType": WF,
                "cause": "WORKFLOW_ALREADY_RUNNING",
                "workflowId": "p",
                "initiatedEventId": 6,
                "decisionTaskCompletedEventId": 4,
            },
        ),
    ]
    assert flow.describe(parent, "p")["openCounts"]["openChildWorkflowExecutions"] == 0
    assert sorted(flow.open_runs()) == sorted([("other", other), ("p", parent)])
    assert "parent" not in flow.describe(other, "other")["executionInfo"]
    # once closed, the workflowId can be a child's
    flow.swf.terminate_workflow_execution(domain=DOMAIN, workflowId="other")
    flow.decide(start_child("other", taskList=KIDS), workflow_id="p")
    assert [t for t, _ in flow.seq(parent, "p")][9:] == [
        "DecisionTaskStarted",
        "DecisionTaskCompleted",
        "StartChildWorkflowExecutionInitiated",
        "ChildWorkflowExecutionStarted",
        "DecisionTaskScheduled",
    ]


def test_open_children_limit(redis_client: Any, redis_url: str) -> None:
    with LocalEnvironment(redis_url, config=EngineConfig(limits=Limits(open_children=2))) as env:
        flow = Flow(env)
        parent = flow.start("p")
        flow.decide(*[start_child(f"c{n}", taskList=KIDS) for n in (1, 2, 3)])
        seq = flow.seq(parent, "p")
        assert seq[4:7] == [
            ("StartChildWorkflowExecutionInitiated", initiated("c1")),
            ("StartChildWorkflowExecutionInitiated", initiated("c2")),
            (
                "StartChildWorkflowExecutionFailed",
                {
                    "workflowType": WF,
                    "cause": "OPEN_CHILDREN_LIMIT_EXCEEDED",
                    "workflowId": "c3",
                    "initiatedEventId": 0,
                    "decisionTaskCompletedEventId": 4,
                },
            ),
        ]
        assert sorted(t for t, _ in seq[7:]) == [
            "ChildWorkflowExecutionStarted",
            "ChildWorkflowExecutionStarted",
            "DecisionTaskScheduled",
        ]
        assert flow.describe(parent, "p")["openCounts"]["openChildWorkflowExecutions"] == 2
        # still full in the next decision task; a closed child frees its slot
        flow.decide(start_child("c3", taskList=KIDS), workflow_id="p")
        assert flow.seq(parent, "p")[-2][1]["cause"] == "OPEN_CHILDREN_LIMIT_EXCEEDED"
        flow.swf.terminate_workflow_execution(domain=DOMAIN, workflowId="c1")
        flow.decide(start_child("c3", taskList=KIDS), workflow_id="p")
        assert [t for t, _ in flow.seq(parent, "p")][-8:] == [
            "StartChildWorkflowExecutionFailed",
            "DecisionTaskScheduled",
            "ChildWorkflowExecutionTerminated",
            "DecisionTaskStarted",
            "DecisionTaskCompleted",
            "StartChildWorkflowExecutionInitiated",
            "ChildWorkflowExecutionStarted",
            "DecisionTaskScheduled",
        ]


# -- child policies -------------------------------------------------------------------------------
TERMINATED_BY_POLICY = {"cause": "CHILD_POLICY_APPLIED"}


def how_parent_closes(flow: Flow, how: str, override: str | None) -> None:
    if how == "terminate":
        kw = {"childPolicy": override} if override else {}
        flow.swf.terminate_workflow_execution(domain=DOMAIN, workflowId="p", reason="r", **kw)
    else:
        flow.sleep(100)  # the parent's executionStartToCloseTimeout


POLICY_CASES = [
    # (how the parent closes, parent's childPolicy, override on terminate, policy applied)
    ("terminate", "TERMINATE", None, "TERMINATE"),
    ("terminate", "REQUEST_CANCEL", None, "REQUEST_CANCEL"),
    ("terminate", "ABANDON", None, "ABANDON"),
    ("terminate", "ABANDON", "TERMINATE", "TERMINATE"),
    ("terminate", "TERMINATE", "REQUEST_CANCEL", "REQUEST_CANCEL"),
    ("terminate", "TERMINATE", "ABANDON", "ABANDON"),
    ("timeout", "TERMINATE", None, "TERMINATE"),
    ("timeout", "REQUEST_CANCEL", None, "REQUEST_CANCEL"),
    ("timeout", "ABANDON", None, "ABANDON"),
]


@pytest.mark.parametrize(
    ("how", "policy", "override", "applied"), POLICY_CASES, ids=["-".join(map(str, c)) for c in POLICY_CASES]
)
def test_child_policy_when_the_parent_is_terminated_or_times_out(
    flow: Flow, how: str, policy: str, override: str | None, applied: str
) -> None:
    t0 = flow.now()
    # the child's own policy differs from the parent's: the child's termination event carries its own
    parent, child = family(flow, {"childPolicy": policy, "executionStartToCloseTimeout": "100"}, childPolicy="ABANDON")
    flow.sleep(5)
    flow.decide(workflow_id="p")
    how_parent_closes(flow, how, override)
    closed_at = at(t0 + (5 if how == "terminate" else 100))

    parent_events = flow.events(parent, "p")
    last = parent_events[-1]
    if how == "terminate":
        assert (last["eventType"], last["eventId"]) == ("WorkflowExecutionTerminated", 10)
        assert last["workflowExecutionTerminatedEventAttributes"] == {"reason": "r", "childPolicy": applied}
    else:
        assert (last["eventType"], last["eventId"]) == ("WorkflowExecutionTimedOut", 10)
        assert last["workflowExecutionTimedOutEventAttributes"] == {"timeoutType": "START_TO_CLOSE", "childPolicy": applied}
    assert last["eventTimestamp"] == closed_at

    child_events = flow.events(child, "c")
    child_seq = flow.seq(child, "c")
    assert child_seq[:2] == [
        (
            "WorkflowExecutionStarted",
            {
                "executionStartToCloseTimeout": "3600",
                "taskStartToCloseTimeout": "60",
                "childPolicy": "ABANDON",
                "taskList": KIDS,
                "workflowType": WF,
                "parentWorkflowExecution": execution("p", parent),
                "parentInitiatedEventId": 5,
            },
        ),
        ("DecisionTaskScheduled", DTS_KIDS),
    ]
    info = flow.describe(child, "c")["executionInfo"]
    if applied == "TERMINATE":
        assert child_seq[2:] == [("WorkflowExecutionTerminated", {"childPolicy": "ABANDON", **TERMINATED_BY_POLICY})]
        assert child_events[2]["eventTimestamp"] == closed_at
        assert (info["executionStatus"], info["closeStatus"]) == ("CLOSED", "TERMINATED")
        flow.no_task("kids")
    elif applied == "REQUEST_CANCEL":
        # the decision task already pending covers the request
        assert child_seq[2:] == [("WorkflowExecutionCancelRequested", TERMINATED_BY_POLICY)]
        assert child_events[2]["eventTimestamp"] == closed_at
        assert (info["executionStatus"], info["cancelRequested"]) == ("OPEN", True)
        flow.decide(decision("CancelWorkflowExecution"), task_list="kids")
        assert close_status(flow.swf, "c", child) == "CANCELED"
    else:
        assert child_seq[2:] == []
        assert (info["executionStatus"], info["cancelRequested"]) == ("OPEN", False)
        flow.decide(complete(), task_list="kids")
        assert close_status(flow.swf, "c", child) == "COMPLETED"
    # the closed parent hears nothing more
    assert len(flow.events(parent, "p")) == 10


def grandchildren(flow: Flow, child_policy: str) -> tuple[str, str, str]:
    """p -> c (its own childPolicy ``child_policy``) -> g; returns the three runIds."""
    parent, child = family(flow, childPolicy=child_policy)
    flow.decide(start_child("g", taskList={"name": "grandkids"}), task_list="kids")
    started = flow.events(child, "c")[5]
    assert started["eventType"] == "ChildWorkflowExecutionStarted"
    grandchild = started["childWorkflowExecutionStartedEventAttributes"]["workflowExecution"]["runId"]
    assert flow.describe(grandchild, "g")["executionInfo"]["parent"] == execution("c", child)
    return parent, child, grandchild


@pytest.mark.parametrize("child_policy", ["TERMINATE", "REQUEST_CANCEL", "ABANDON"])
def test_child_policy_applies_recursively(flow: Flow, child_policy: str) -> None:
    _parent, child, grandchild = grandchildren(flow, child_policy)
    flow.swf.terminate_workflow_execution(domain=DOMAIN, workflowId="p")  # p's policy: TERMINATE
    assert flow.seq(child, "c")[-1] == (
        "WorkflowExecutionTerminated",
        {"childPolicy": child_policy, "cause": "CHILD_POLICY_APPLIED"},
    )
    g_last = flow.seq(grandchild, "g")[-1]
    g_info = flow.describe(grandchild, "g")["executionInfo"]
    if child_policy == "TERMINATE":
        assert g_last == ("WorkflowExecutionTerminated", {"childPolicy": "TERMINATE", "cause": "CHILD_POLICY_APPLIED"})
        assert g_info["closeStatus"] == "TERMINATED"
    elif child_policy == "REQUEST_CANCEL":
        assert g_last == ("WorkflowExecutionCancelRequested", {"cause": "CHILD_POLICY_APPLIED"})
        assert (g_info["executionStatus"], g_info["cancelRequested"]) == ("OPEN", True)
    else:
        assert g_last[0] == "DecisionTaskScheduled"
        assert g_info["executionStatus"] == "OPEN"
    assert [w for w, _ in flow.open_runs()] == ([] if child_policy == "TERMINATE" else ["g"])


def test_request_cancel_does_not_reach_grandchildren(flow: Flow) -> None:
    _parent, child, grandchild = grandchildren(flow, "TERMINATE")
    flow.swf.terminate_workflow_execution(domain=DOMAIN, workflowId="p", childPolicy="REQUEST_CANCEL")
    assert flow.seq(child, "c")[-2:] == [
        ("DecisionTaskScheduled", DTS_KIDS),
        ("WorkflowExecutionCancelRequested", {"cause": "CHILD_POLICY_APPLIED"}),
    ]
    assert flow.seq(grandchild, "g")[-1][0] == "DecisionTaskScheduled"
    # when the child then honours the request, its own children are left alone (decider-made close, §8.4)
    flow.decide(decision("CancelWorkflowExecution"), task_list="kids")
    assert close_status(flow.swf, "c", child) == "CANCELED"
    assert close_status(flow.swf, "g", grandchild) is None


CLOSES = {
    "complete": complete("r"),
    "fail": decision("FailWorkflowExecution", reason="r"),
    "cancel": decision("CancelWorkflowExecution"),
    "continue": continue_as_new(),
}


@pytest.mark.parametrize("close", list(CLOSES))
def test_no_child_policy_on_decider_made_closes(flow: Flow, close: str) -> None:
    """Our documented choice (§8.4, §16.15): children of a run its decider closes keep running."""
    parent, child = family(flow)
    flow.decide(CLOSES[close], workflow_id="p")
    assert close_status(flow.swf, "p", parent) in ("COMPLETED", "FAILED", "CANCELED", "CONTINUED_AS_NEW")
    assert flow.seq(child, "c")[2:] == []
    assert flow.describe(child, "c")["executionInfo"]["executionStatus"] == "OPEN"
    count = len(flow.events(parent, "p"))
    flow.decide(complete(), task_list="kids")
    assert close_status(flow.swf, "c", child) == "COMPLETED"
    assert len(flow.events(parent, "p")) == count  # a closed parent is not told
    if close == "continue":  # nor is the parent's next run: the child was its previous run's
        new_run = flow.events(parent, "p")[-1]["workflowExecutionContinuedAsNewEventAttributes"]["newExecutionRunId"]
        assert [t for t, _ in flow.seq(new_run, "p")] == ["WorkflowExecutionStarted", "DecisionTaskScheduled"]


# -- a child that continues as new ----------------------------------------------------------------
def child_continues(flow: Flow, times: int = 2) -> tuple[str, list[str]]:
    """Child c continues as new ``times`` times; returns (parent runId, the child's runIds)."""
    parent, child = family(flow)
    runs = [child]
    for _ in range(times):
        flow.decide(continue_as_new(taskList=KIDS, input=f"run{len(runs) + 1}"), task_list="kids")
        attrs = flow.events(runs[-1], "c")[-1]["workflowExecutionContinuedAsNewEventAttributes"]
        runs.append(attrs["newExecutionRunId"])
    return parent, runs


def test_child_continuing_as_new_reports_when_its_last_run_closes(flow: Flow) -> None:
    parent, runs = child_continues(flow)
    flow.decide(workflow_id="p")
    # the parent hears nothing of the continuations
    assert [t for t, _ in flow.seq(parent, "p")] == [
        "WorkflowExecutionStarted",
        "DecisionTaskScheduled",
        "DecisionTaskStarted",
        "DecisionTaskCompleted",
        "StartChildWorkflowExecutionInitiated",
        "ChildWorkflowExecutionStarted",
        "DecisionTaskScheduled",
        "DecisionTaskStarted",
        "DecisionTaskCompleted",
    ]
    assert flow.describe(parent, "p")["openCounts"]["openChildWorkflowExecutions"] == 1
    last = flow.seq(runs[-1], "c")[0]
    assert last[1]["parentWorkflowExecution"] == execution("p", parent)
    assert last[1]["parentInitiatedEventId"] == 5
    assert last[1]["continuedExecutionRunId"] == runs[1]
    assert flow.describe(runs[-1], "c")["executionInfo"]["parent"] == execution("p", parent)
    flow.decide(complete("end"), task_list="kids")
    assert flow.seq(parent, "p")[9:] == [
        (
            "ChildWorkflowExecutionCompleted",
            {
                "workflowExecution": execution("c", runs[-1]),
                "workflowType": WF,
                "result": "end",
                "initiatedEventId": 5,
                "startedEventId": 6,
            },
        ),
        ("DecisionTaskScheduled", DTS),
    ]
    assert flow.describe(parent, "p")["openCounts"]["openChildWorkflowExecutions"] == 0


@pytest.mark.parametrize("policy", ["TERMINATE", "REQUEST_CANCEL"])
def test_child_policy_reaches_the_current_run_of_a_continued_child(flow: Flow, policy: str) -> None:
    """§8.4 with §8.5: the policy applies to the child's open run, wherever its chain has got to."""
    _parent, runs = child_continues(flow)
    flow.swf.terminate_workflow_execution(domain=DOMAIN, workflowId="p", childPolicy=policy)
    current = flow.seq(runs[-1], "c")
    if policy == "TERMINATE":
        assert current[2:] == [("WorkflowExecutionTerminated", {"childPolicy": "TERMINATE", "cause": "CHILD_POLICY_APPLIED"})]
        assert close_status(flow.swf, "c", runs[-1]) == "TERMINATED"
        assert flow.open_runs() == []
    else:
        assert current[2:] == [("WorkflowExecutionCancelRequested", {"cause": "CHILD_POLICY_APPLIED"})]
        assert flow.describe(runs[-1], "c")["executionInfo"]["cancelRequested"] is True


def test_a_late_delivered_child_close_is_stamped_when_written_so_the_parent_history_never_goes_back(flow: Flow) -> None:
    """A timekeeper that took `now` before another transition wrote to the parent delivers the child's close
    with the time it is written, not that older `now` (a history's timestamps never decrease)."""
    t0 = flow.now()
    parent = flow.start("p")
    flow.decide(start_child("c", taskList=KIDS))
    flow.decide(workflow_id="p")
    flow.env.engine.timekeeper_notify = lambda deadline: None  # deliveries wait for an explicit fire_due
    flow.env.clock.advance(10)
    flow.decide(complete("cr"), task_list="kids")  # the child closes at t0 + 10; the parent is not told yet
    flow.env.clock.advance(2)
    flow.swf.signal_workflow_execution(domain=DOMAIN, workflowId="p", signalName="meanwhile")  # at t0 + 12
    assert flow.env.engine.fire_due(t0 + 11) == 1  # a timekeeper whose `now` was read at t0 + 11
    events = flow.events(parent, "p")
    assert [e["eventType"] for e in events[-3:]] == [
        "WorkflowExecutionSignaled", "DecisionTaskScheduled", "ChildWorkflowExecutionCompleted"
    ]
    stamps = [e["eventTimestamp"] for e in events]
    assert stamps == sorted(stamps)
    assert events[-1]["eventTimestamp"] == at(t0 + 12)
