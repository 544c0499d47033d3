"""SignalExternalWorkflowExecution and RequestCancelExternalWorkflowExecution (swf-semantics.md §4.2, §5, §11)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from .helpers import (
    DOMAIN,
    DTS,
    Flow,
    at,
    cancel_external,
    close_status,
    complete,
    decision,
    setup_domain,
    signal_external,
)

TARGETS = {"name": "targets"}
DTS_TARGETS = {**DTS, "taskList": TARGETS}
KINDS = ["signal", "cancel"]

# per kind: the source's Initiated, success and failure events, and the target's event
NAMES = {
    "signal": (
        "SignalExternalWorkflowExecutionInitiated",
        "ExternalWorkflowExecutionSignaled",
        "SignalExternalWorkflowExecutionFailed",
        "WorkflowExecutionSignaled",
    ),
    "cancel": (
        "RequestCancelExternalWorkflowExecutionInitiated",
        "ExternalWorkflowExecutionCancelRequested",
        "RequestCancelExternalWorkflowExecutionFailed",
        "WorkflowExecutionCancelRequested",
    ),
}


@pytest.fixture
def flow(env: Any) -> Flow:
    return Flow(env)


def execution(workflow_id: str, run_id: str) -> dict[str, str]:
    return {"workflowId": workflow_id, "runId": run_id}


def external(kind: str, workflow_id: str, **kw: Any) -> dict[str, Any]:
    if kind == "signal":
        return signal_external(workflow_id, "go", input="in", **kw)
    return cancel_external(workflow_id, **kw)


def initiated(kind: str, workflow_id: str, dtc: int = 4, **kw: Any) -> tuple[str, dict[str, Any]]:
    attrs: dict[str, Any] = {"workflowId": workflow_id}
    if "runId" in kw:
        attrs["runId"] = kw.pop("runId")
    if kind == "signal":
        attrs.update(signalName="go", input="in")
    attrs["decisionTaskCompletedEventId"] = dtc
    attrs.update(kw)
    return NAMES[kind][0], attrs


def received(kind: str, source: dict[str, str], initiated_id: int) -> tuple[str, dict[str, Any]]:
    """The target's event."""
    if kind == "signal":
        attrs = {"signalName": "go", "input": "in", "externalWorkflowExecution": source, "externalInitiatedEventId": initiated_id}
    else:
        attrs = {"externalWorkflowExecution": source, "externalInitiatedEventId": initiated_id}
    return NAMES[kind][3], attrs


def target_ready(flow: Flow, workflow_id: str = "t") -> str:
    """A target run that has taken and completed its first decision task (so it has none pending)."""
    run_id = flow.start(workflow_id, taskList=TARGETS)
    flow.decide(task_list="targets")
    return run_id


@pytest.mark.parametrize("kind", KINDS)
def test_delivered_to_the_open_run(flow: Flow, kind: str) -> None:
    t0 = flow.now()
    target = target_ready(flow)
    source = flow.start("s")
    flow.sleep(7)
    flow.decide(external(kind, "t", control="ctl"))
    src = execution("s", source)
    assert flow.seq(source, "s")[3:] == [
        ("DecisionTaskCompleted", {"scheduledEventId": 2, "startedEventId": 3}),
        initiated(kind, "t", control="ctl"),
        (NAMES[kind][1], {"workflowExecution": execution("t", target), "initiatedEventId": 5}),
        ("DecisionTaskScheduled", DTS),
    ]
    assert flow.seq(target, "t")[3:] == [
        ("DecisionTaskCompleted", {"scheduledEventId": 2, "startedEventId": 3}),
        received(kind, src, 5),
        ("DecisionTaskScheduled", DTS_TARGETS),
    ]
    assert [e["eventTimestamp"] for e in flow.events(source, "s")][3:] == [at(t0 + 7)] * 4
    assert [e["eventTimestamp"] for e in flow.events(target, "t")][4:] == [at(t0 + 7)] * 2
    assert flow.describe(target, "t")["executionInfo"]["cancelRequested"] is (kind == "cancel")
    assert flow.describe(source, "s")["executionInfo"]["cancelRequested"] is False
    task = flow.poll("targets")
    assert task["events"][-3:][0]["eventType"] == NAMES[kind][3]
    if kind == "cancel":  # the target's decider may honour it
        flow.respond(task, decision("CancelWorkflowExecution", details="bye"))
        assert close_status(flow.swf, "t", target) == "CANCELED"


@pytest.mark.parametrize("kind", KINDS)
def test_run_id_given_or_omitted(flow: Flow, kind: str) -> None:
    old = flow.start("t", taskList=TARGETS)
    flow.swf.terminate_workflow_execution(domain=DOMAIN, workflowId="t")
    current = target_ready(flow)
    source = flow.start("s")
    flow.decide(external(kind, "t", runId=current), external(kind, "t", runId=old), external(kind, "t"))
    seq = flow.seq(source, "s")
    assert seq[4:7] == [
        initiated(kind, "t", runId=current),
        initiated(kind, "t", runId=old),
        initiated(kind, "t"),
    ]
    # deliveries of one batch may come in any order (§11)
    assert Counter(repr(e) for e in seq[7:]) == Counter(
        repr(e)
        for e in [
            (NAMES[kind][1], {"workflowExecution": execution("t", current), "initiatedEventId": 5}),
            (
                NAMES[kind][2],
                {
                    "workflowId": "t",
                    "runId": old,
                    "cause": "UNKNOWN_EXTERNAL_WORKFLOW_EXECUTION",
                    "initiatedEventId": 6,
                    "decisionTaskCompletedEventId": 4,
                },
            ),
            (NAMES[kind][1], {"workflowExecution": execution("t", current), "initiatedEventId": 7}),
            ("DecisionTaskScheduled", DTS),
        ]
    )
    target_seq = flow.seq(current, "t")[4:]
    assert sorted(repr(e) for e in target_seq if e[0] != "DecisionTaskScheduled") == sorted(
        [repr(received(kind, execution("s", source), 5)), repr(received(kind, execution("s", source), 7))]
    )
    assert [t for t, _ in target_seq].count("DecisionTaskScheduled") == 1
    assert len(flow.events(old, "t")) == 3  # the closed run got nothing


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("target", ["unknown", "closed", "other-domain"])
def test_no_open_target_fails_after_initiated(flow: Flow, kind: str, target: str) -> None:
    if target == "closed":
        flow.start("t", taskList=TARGETS)
        flow.swf.terminate_workflow_execution(domain=DOMAIN, workflowId="t")
    elif target == "other-domain":
        setup_domain(flow.swf, "other")
        flow.swf.start_workflow_execution(domain="other", workflowId="t", workflowType={"name": "wf", "version": "1"})
    source = flow.start("s")
    flow.decide(external(kind, "t", control="ctl"))
    assert flow.seq(source, "s")[3:] == [
        ("DecisionTaskCompleted", {"scheduledEventId": 2, "startedEventId": 3}),
        initiated(kind, "t", control="ctl"),
        (
            NAMES[kind][2],
            {
                "workflowId": "t",
                "cause": "UNKNOWN_EXTERNAL_WORKFLOW_EXECUTION",
                "initiatedEventId": 5,
                "decisionTaskCompletedEventId": 4,
                "control": "ctl",
            },
        ),
        ("DecisionTaskScheduled", DTS),
    ]
    task = flow.poll()
    assert task["startedEventId"] == 8


@pytest.mark.parametrize("kind", KINDS)
def test_to_itself(flow: Flow, kind: str) -> None:
    source = flow.start("s")
    flow.decide(external(kind, "s"))
    me = execution("s", source)
    assert flow.seq(source, "s")[4:] == [
        initiated(kind, "s"),
        received(kind, me, 5),
        ("DecisionTaskScheduled", DTS),
        (NAMES[kind][1], {"workflowExecution": me, "initiatedEventId": 5}),
    ]
    assert flow.describe(source, "s")["executionInfo"]["cancelRequested"] is (kind == "cancel")


@pytest.mark.parametrize("kind", KINDS)
def test_delivered_even_when_the_source_closes_in_the_same_batch(flow: Flow, kind: str) -> None:
    target = target_ready(flow)
    source = flow.start("s")
    flow.decide(external(kind, "t"), complete("bye"))
    assert [t for t, _ in flow.seq(source, "s")][4:] == [NAMES[kind][0], "WorkflowExecutionCompleted"]
    assert flow.seq(target, "t")[4:] == [received(kind, execution("s", source), 5), ("DecisionTaskScheduled", DTS_TARGETS)]


def test_several_signals_of_one_batch(flow: Flow) -> None:
    target = target_ready(flow)
    source = flow.start("s")
    flow.decide(*[signal_external("t", f"n{n}") for n in range(3)])
    got = [(a["signalName"], a["externalInitiatedEventId"]) for t, a in flow.seq(target, "t") if t == "WorkflowExecutionSignaled"]
    assert sorted(got) == [("n0", 5), ("n1", 6), ("n2", 7)]
    acks = sorted(a["initiatedEventId"] for t, a in flow.seq(source, "s") if t == "ExternalWorkflowExecutionSignaled")
    assert acks == [5, 6, 7]
    assert [t for t, _ in flow.seq(source, "s")].count("DecisionTaskScheduled") == 2
