"""ScheduleLambdaFunction with local Python callables (swf-semantics.md §5, §6, §13, §16.17)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from backends.local import EngineConfig, connect
from backends.local.decisions import Limits
from backends.local.testing import LocalEnvironment

from .helpers import DOMAIN, DTS, WF, Flow, at, complete, lambda_fn, setup_domain, wait_until

ROLE = "arn:aws:iam::123456789012:role/swf-lambda"


class Functions:
    """The callables the tests register, with what they saw."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str | None]] = []
        self.gate = threading.Event()
        self.slow_done = threading.Event()

    def echo(self, payload: str | None) -> str:
        self.calls.append(("echo", payload))
        return (payload or "").upper()

    def structured(self, payload: str | None) -> Any:
        self.calls.append(("structured", payload))
        return {"got": payload, "n": [1, 2]}

    def nothing(self, payload: str | None) -> None:
        self.calls.append(("nothing", payload))

    def boom(self, payload: str | None) -> str:
        self.calls.append(("boom", payload))
        raise ValueError(f"bad input: {payload}")

    def slow(self, payload: str | None) -> str:
        self.calls.append(("slow", payload))
        try:
            self.gate.wait(5)
            return "late"
        finally:
            self.slow_done.set()

    def table(self) -> dict[str, Any]:
        return {
            "echo": self.echo,
            "structured": self.structured,
            "nothing": self.nothing,
            "boom": self.boom,
            "slow": self.slow,
        }


@pytest.fixture
def fns() -> Iterator[Functions]:
    functions = Functions()
    yield functions
    functions.gate.set()


def lambda_env(redis_url: str, fns: Functions, **config: Any) -> LocalEnvironment:
    return LocalEnvironment(redis_url, lambdas=fns.table(), config=EngineConfig(**config))


@pytest.fixture
def flow(redis_client: Any, redis_url: str, fns: Functions) -> Iterator[Flow]:
    with lambda_env(redis_url, fns) as env:
        yield Flow(env)


def types_of(flow: Flow, run_id: str) -> list[str]:
    return [t for t, _ in flow.seq(run_id)]


def until(flow: Flow, run_id: str, event_type: str, count: int = 1) -> list[tuple[str, dict[str, Any]]]:
    """Wait (real time, for the runner's threads) until the history holds ``count`` events of a type."""

    def check() -> list[tuple[str, dict[str, Any]]] | None:
        seq = flow.seq(run_id)
        return seq if [t for t, _ in seq].count(event_type) >= count else None

    return list(wait_until(check, interval=0.005))


def scheduled(lambda_id: str, name: str, dtc: int = 4, timeout: str = "900", **kw: Any) -> tuple[str, dict[str, Any]]:
    return (
        "LambdaFunctionScheduled",
        {"id": lambda_id, "name": name, **kw, "startToCloseTimeout": timeout, "decisionTaskCompletedEventId": dtc},
    )


def test_scheduled_started_completed(flow: Flow, fns: Functions) -> None:
    t0 = flow.now()
    run_id = flow.start(lambdaRole=ROLE)
    flow.decide(lambda_fn("l1", "echo", input="hi", control="ctl"))
    seq = until(flow, run_id, "DecisionTaskScheduled", 2)
    assert seq == [
        (
            "WorkflowExecutionStarted",
            {
                "executionStartToCloseTimeout": "3600",
                "taskStartToCloseTimeout": "60",
                "childPolicy": "TERMINATE",
                "taskList": {"name": "deciders"},
                "workflowType": WF,
                "parentInitiatedEventId": 0,
                "lambdaRole": ROLE,
            },
        ),
        ("DecisionTaskScheduled", DTS),
        ("DecisionTaskStarted", {"scheduledEventId": 2}),
        ("DecisionTaskCompleted", {"scheduledEventId": 2, "startedEventId": 3}),
        scheduled("l1", "echo", control="ctl", input="hi"),
        ("LambdaFunctionStarted", {"scheduledEventId": 5}),
        ("LambdaFunctionCompleted", {"scheduledEventId": 5, "startedEventId": 6, "result": "HI"}),
        ("DecisionTaskScheduled", DTS),
    ]
    assert [e["eventTimestamp"] for e in flow.events(run_id)] == [at(t0)] * 8
    assert fns.calls == [("echo", "hi")]
    assert flow.describe(run_id)["openCounts"]["openLambdaFunctions"] == 0
    flow.decide(complete())
    assert types_of(flow, run_id)[-1] == "WorkflowExecutionCompleted"


def test_results_of_several_functions_in_one_batch(flow: Flow, fns: Functions) -> None:
    run_id = flow.start(lambdaRole=ROLE)
    flow.decide(
        lambda_fn("a", "structured", input="x", startToCloseTimeout="60"),
        lambda_fn("b", "nothing"),
        lambda_fn("c", "echo"),
    )
    seq = until(flow, run_id, "LambdaFunctionCompleted", 3)
    assert seq[4:7] == [
        scheduled("a", "structured", input="x", timeout="60"),
        scheduled("b", "nothing"),
        scheduled("c", "echo"),
    ]
    started = {a["scheduledEventId"]: n + 1 for n, (t, a) in enumerate(seq) if t == "LambdaFunctionStarted"}
    assert sorted(started) == [5, 6, 7]
    completed = {a["scheduledEventId"]: a for t, a in seq if t == "LambdaFunctionCompleted"}
    assert completed == {
        5: {"scheduledEventId": 5, "startedEventId": started[5], "result": json.dumps({"got": "x", "n": [1, 2]})},
        6: {"scheduledEventId": 6, "startedEventId": started[6]},
        7: {"scheduledEventId": 7, "startedEventId": started[7], "result": ""},
    }
    assert sorted(fns.calls) == [("echo", None), ("nothing", None), ("structured", "x")]


def test_a_raising_function_fails(flow: Flow) -> None:
    run_id = flow.start(lambdaRole=ROLE)
    flow.decide(lambda_fn("l1", "boom", input="zz"))
    seq = until(flow, run_id, "LambdaFunctionFailed")
    assert seq[4:] == [
        scheduled("l1", "boom", input="zz"),
        ("LambdaFunctionStarted", {"scheduledEventId": 5}),
        (
            "LambdaFunctionFailed",
            {"scheduledEventId": 5, "startedEventId": 6, "reason": "ValueError", "details": "bad input: zz"},
        ),
        ("DecisionTaskScheduled", DTS),
    ]


def test_a_slow_function_times_out_and_its_late_result_is_dropped(flow: Flow, fns: Functions) -> None:
    t0 = flow.now()
    run_id = flow.start(lambdaRole=ROLE)
    flow.decide(lambda_fn("l1", "slow", startToCloseTimeout="30"))
    until(flow, run_id, "LambdaFunctionStarted")
    assert flow.describe(run_id)["openCounts"]["openLambdaFunctions"] == 1
    assert flow.sleep(29) == 0
    assert len(flow.events(run_id)) == 6
    assert flow.sleep(1) == 1
    assert flow.seq(run_id)[4:] == [
        scheduled("l1", "slow", timeout="30"),
        ("LambdaFunctionStarted", {"scheduledEventId": 5}),
        ("LambdaFunctionTimedOut", {"scheduledEventId": 5, "startedEventId": 6, "timeoutType": "START_TO_CLOSE"}),
        ("DecisionTaskScheduled", DTS),
    ]
    events = flow.events(run_id)
    assert (events[5]["eventTimestamp"], events[6]["eventTimestamp"]) == (at(t0), at(t0 + 30))
    assert flow.describe(run_id)["openCounts"]["openLambdaFunctions"] == 0
    fns.gate.set()
    assert fns.slow_done.wait(2)
    flow.env.lambdas.stop()  # waits for the runner's threads: its late write, had there been one, is in
    flow.poll()
    assert types_of(flow, run_id)[6:] == ["LambdaFunctionTimedOut", "DecisionTaskScheduled", "DecisionTaskStarted"]


def test_a_function_nobody_runs_times_out_unstarted(flow: Flow) -> None:
    t0 = flow.now()
    run_id = flow.start(lambdaRole=ROLE)
    flow.decide(lambda_fn("l1", "unregistered", startToCloseTimeout="5"))
    flow.sleep(5)
    assert flow.seq(run_id)[4:] == [
        scheduled("l1", "unregistered", timeout="5"),
        ("LambdaFunctionTimedOut", {"scheduledEventId": 5, "startedEventId": 0, "timeoutType": "START_TO_CLOSE"}),
        ("DecisionTaskScheduled", DTS),
    ]
    assert flow.events(run_id)[5]["eventTimestamp"] == at(t0 + 5)


def test_without_a_lambda_role_the_function_cannot_start(flow: Flow, fns: Functions) -> None:
    run_id = flow.start()
    flow.decide(lambda_fn("l1", "echo", input="x"))
    seq = flow.seq(run_id)
    assert [t for t, _ in seq][4:] == ["LambdaFunctionScheduled", "StartLambdaFunctionFailed", "DecisionTaskScheduled"]
    assert seq[4] == scheduled("l1", "echo", input="x")
    failed = seq[5][1]
    assert (failed["scheduledEventId"], failed["cause"]) == (5, "ASSUME_ROLE_FAILED")
    assert isinstance(failed.get("message"), str) and failed["message"]
    assert set(failed) == {"scheduledEventId", "cause", "message"}
    assert flow.describe(run_id)["openCounts"]["openLambdaFunctions"] == 0
    flow.poll()
    assert fns.calls == []


def test_lambda_role_from_the_type_default(flow: Flow, fns: Functions) -> None:
    flow.swf.register_workflow_type(
        domain=DOMAIN,
        name=WF["name"],
        version="2",
        defaultTaskList={"name": "deciders"},
        defaultExecutionStartToCloseTimeout="600",
        defaultTaskStartToCloseTimeout="60",
        defaultChildPolicy="TERMINATE",
        defaultLambdaRole=ROLE,
    )
    run_id = flow.start(workflowType={"name": WF["name"], "version": "2"})
    assert flow.seq(run_id)[0][1]["lambdaRole"] == ROLE
    flow.decide(lambda_fn("l1", "echo", input="x"))
    assert until(flow, run_id, "LambdaFunctionCompleted")[-2][1]["result"] == "X"


def test_id_already_in_use_then_reusable_after_close(flow: Flow) -> None:
    run_id = flow.start(lambdaRole=ROLE)
    flow.decide(lambda_fn("l1", "unregistered", startToCloseTimeout="10"), lambda_fn("l1", "echo"))
    assert flow.seq(run_id)[4:] == [
        scheduled("l1", "unregistered", timeout="10"),
        (
            "ScheduleLambdaFunctionFailed",
            {"id": "l1", "name": "echo", "cause": "ID_ALREADY_IN_USE", "decisionTaskCompletedEventId": 4},
        ),
        ("DecisionTaskScheduled", DTS),
    ]
    flow.sleep(10)  # l1 times out: its id is free again
    flow.decide(lambda_fn("l1", "echo", input="again"))
    seq = until(flow, run_id, "LambdaFunctionCompleted")
    assert seq[7:] == [
        ("LambdaFunctionTimedOut", {"scheduledEventId": 5, "startedEventId": 0, "timeoutType": "START_TO_CLOSE"}),
        ("DecisionTaskStarted", {"scheduledEventId": 7}),
        ("DecisionTaskCompleted", {"scheduledEventId": 7, "startedEventId": 9}),
        scheduled("l1", "echo", dtc=10, input="again"),
        ("LambdaFunctionStarted", {"scheduledEventId": 11}),
        ("LambdaFunctionCompleted", {"scheduledEventId": 11, "startedEventId": 12, "result": "AGAIN"}),
        ("DecisionTaskScheduled", DTS),
    ]


def test_open_lambda_functions_limit(redis_client: Any, redis_url: str, fns: Functions) -> None:
    with lambda_env(redis_url, fns, limits=Limits(open_lambdas=2)) as env:
        flow = Flow(env)
        run_id = flow.start(lambdaRole=ROLE)
        flow.decide(*[lambda_fn(f"l{n}", "unregistered", startToCloseTimeout="10") for n in (1, 2, 3)])
        assert flow.seq(run_id)[4:] == [
            scheduled("l1", "unregistered", timeout="10"),
            scheduled("l2", "unregistered", timeout="10"),
            (
                "ScheduleLambdaFunctionFailed",
                {
                    "id": "l3",
                    "name": "unregistered",
                    "cause": "OPEN_LAMBDA_FUNCTIONS_LIMIT_EXCEEDED",
                    "decisionTaskCompletedEventId": 4,
                },
            ),
            ("DecisionTaskScheduled", DTS),
        ]
        assert flow.describe(run_id)["openCounts"]["openLambdaFunctions"] == 2
        flow.sleep(10)
        flow.decide(lambda_fn("l3", "echo"))
        assert until(flow, run_id, "LambdaFunctionCompleted")[-2][1]["scheduledEventId"] == 13


def test_connect_runs_lambdas_on_the_real_clock(redis_client: Any, redis_url: str, fns: Functions) -> None:
    swf = connect(redis_url, poll_hold=2.0, lambdas=fns.table())
    try:
        setup_domain(swf)
        run_id = swf.start_workflow_execution(domain=DOMAIN, workflowId="w1", workflowType=WF, lambdaRole=ROLE)["runId"]
        task = swf.poll_for_decision_task(domain=DOMAIN, taskList={"name": "deciders"})
        swf.respond_decision_task_completed(taskToken=task["taskToken"], decisions=[lambda_fn("l1", "echo", input="rt")])
        task = swf.poll_for_decision_task(domain=DOMAIN, taskList={"name": "deciders"})
        assert task["workflowExecution"]["runId"] == run_id
        assert [e["eventType"] for e in task["events"]][4:] == [
            "LambdaFunctionScheduled",
            "LambdaFunctionStarted",
            "LambdaFunctionCompleted",
            "DecisionTaskScheduled",
            "DecisionTaskStarted",
        ]
        assert task["events"][6]["lambdaFunctionCompletedEventAttributes"]["result"] == "RT"
    finally:
        swf.close()
