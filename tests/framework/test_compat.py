"""flowser 0.1's behaviours, kept, and each defect of flowser-0.1-api.md §2.11, fixed.

Most run on the local engine with a virtual clock (``flowser.testing.Environment``);
a recording fake client checks exact calls where the engine cannot show them.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import botocore.session
import pytest

import flowser
from flowser import decisions, events, exceptions, tasks, types
from flowser.testing import Environment

from .flows import Base


class Work(Base, types.Activity):
    name = "Work"
    task_list = "work"


class Flow(Base, types.Workflow):
    name = "Flow"
    task_list = "flow"


class Bare(types.Activity):
    """No defaults registered: every schedule must carry them (0.1's behaviour, opt-in)."""

    name = "Bare"
    version = "1"
    task_list = "bare"
    register_defaults = False


class CompatDomain(flowser.Domain):
    name = "compat"
    retention_period = 1
    workflow_types = [Flow]
    activity_types = [Work, Bare]


@pytest.fixture
def env(redis_client: Any, redis_url: str) -> Iterator[Environment]:
    with Environment(CompatDomain, redis_url, poll_hold=0.2) as environment:
        yield environment


def first_decision(env: Environment, input: Any = None, workflow_id: str = "Flow.1") -> tasks.Decision:
    env.domain.start(Flow, input, workflow_id=workflow_id) if input is None else env.domain.start(Flow, input)
    task = env.domain.poll_decision(Flow)
    assert task is not None
    return task


class FakeClient:
    """Answers polls from a script and records every call."""

    def __init__(self, answers: list[dict[str, Any]]) -> None:
        self.answers = list(answers)
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __getattr__(self, name: str) -> Any:
        def call(**kwargs: Any) -> Any:
            self.calls.append((name, kwargs))
            if name.startswith("poll_for"):
                return self.answers.pop(0)
            return {}

        return call


EXECUTION = {"workflowId": "Flow.1", "runId": "r1"}


def decision_answer(events: list[dict[str, Any]], token: str = "t1", next_page: str | None = None) -> dict[str, Any]:
    out = {
        "taskToken": token,
        "startedEventId": 3,
        "previousStartedEventId": 0,
        "workflowExecution": EXECUTION,
        "workflowType": {"name": "Flow", "version": "1.0"},
        "events": events,
    }
    if next_page:
        out["nextPageToken"] = next_page
    return out


def event(event_id: int, event_type: str, **attrs: Any) -> dict[str, Any]:
    return {
        "eventId": event_id,
        "eventType": event_type,
        "eventTimestamp": dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
        events.attributes_key(event_type): attrs,
    }


# -- the 0.1 surface ----------------------------------------------------------------------------------
def test_public_names() -> None:
    assert flowser.Domain is flowser.domain.Domain if hasattr(flowser, "domain") else True
    for name in ("Type", "Workflow", "Activity"):
        assert isinstance(getattr(flowser.types, name), type)
    for name in ("Decision", "Activity", "WorkflowExecution", "WorkflowType", "ActivityType", "Event"):
        assert isinstance(getattr(flowser.tasks, name), type)
    assert issubclass(exceptions.EmptyTaskPollResult, exceptions.Error)
    assert issubclass(exceptions.LastPage, exceptions.Error)
    assert flowser.serializing.dumps({"a": 1}) == json.dumps({"a": 1})
    assert types.ONE_HOUR == 3600 and types.ONE_DAY == 86400


def test_type_requires_name_version_task_list() -> None:
    class NoList(types.Activity):
        name = "x"
        version = "1"

    with pytest.raises(exceptions.Error) as info:
        NoList(CompatDomain(FakeClient([])))
    assert str(info.value) == "task_list"
    with pytest.raises(NotImplementedError):
        types.Type.get_id_from_input({"id": "1"})


def test_schedule_and_start_child_build_0_1_decisions() -> None:
    decision = Work.schedule({"id": "a", "n": 1}, control={"c": 2})
    attrs = decision["scheduleActivityTaskDecisionAttributes"]
    assert decision["decisionType"] == "ScheduleActivityTask"
    assert attrs["activityId"] == "Work.a"
    assert attrs["activityType"] == {"name": "Work", "version": "1.0"}
    assert attrs["taskList"] == {"name": "work"}
    assert json.loads(attrs["input"]) == {"id": "a", "n": 1}
    assert json.loads(attrs["control"]) == {"c": 2}
    assert [attrs[k] for k in ("heartbeatTimeout", "scheduleToCloseTimeout", "scheduleToStartTimeout", "startToCloseTimeout")] == ["3600"] * 4
    assert "taskPriority" not in attrs
    child = Flow.start_child({"id": "c"}, control="x")["startChildWorkflowExecutionDecisionAttributes"]
    assert child["workflowId"] == "Flow.c" and child["childPolicy"] == "TERMINATE"
    assert child["executionStartToCloseTimeout"] == "600" and child["taskStartToCloseTimeout"] == "120"
    assert child["taskList"] == {"name": "flow"} and json.loads(child["control"]) == "x"
    assert decisions.skeleton("StartTimer") == ({"decisionType": "StartTimer", "startTimerDecisionAttributes": {}}, {})
    with pytest.raises(KeyError):
        decisions.skeleton("NoSuchDecision")


def test_register_swallows_existing_unless_asked(env: Environment) -> None:
    env.domain.register()  # again: nothing raised
    with pytest.raises(exceptions.Error):
        env.domain.register(raise_exists=True)
    with pytest.raises(exceptions.Error):
        Work(env.domain)._register(raise_exists=True)


def test_events_newest_first_and_most_recent(env: Environment) -> None:
    task = first_decision(env, {"id": "1"})
    ids = [e.id for e in task.events]
    assert ids == sorted(ids, reverse=True) == [3, 2, 1]
    assert task.most_recent("WorkflowExecutionStarted").id == 1  # type: ignore[union-attr]
    assert task.most_recent("TimerFired") is None
    assert repr(task.most_recent("DecisionTaskStarted")).startswith("<Event id(3) type(DecisionTaskStarted) time_stamp(")


def test_decisions_are_polled_newest_first() -> None:
    client = FakeClient([{"startedEventId": 0}, decision_answer([event(1, "WorkflowExecutionStarted")])])
    task = next(CompatDomain(client).decisions(Flow))
    assert [kw.get("reverseOrder") for _, kw in client.calls] == [True, True]
    assert task.task_token == "t1"


def test_empty_polls_are_skipped_absent_or_empty_token() -> None:
    activity = {
        "taskToken": "a1",
        "activityId": "Work.1",
        "startedEventId": 6,
        "workflowExecution": EXECUTION,
        "activityType": {"name": "Work", "version": "1.0"},
        "input": '{"id": "1"}',
    }
    client = FakeClient([{"startedEventId": 0}, {"taskToken": "", "startedEventId": 0}, activity])
    task = next(CompatDomain(client).activities(Work))
    assert len(client.calls) == 3
    assert task.input == {"id": "1"} and task.activity_id == "Work.1"
    assert CompatDomain(FakeClient([{"taskToken": ""}])).poll_activity(Work) is None
    with pytest.raises(exceptions.EmptyTaskPollResult):
        Work(CompatDomain(FakeClient([{"taskToken": ""}])))._poll_for_activity_task()


@pytest.mark.parametrize("form", ["empty", "absent", None])
def test_both_empty_poll_forms_on_the_engine(redis_client: Any, redis_url: str, form: Any) -> None:
    from backends.local import connect

    client = connect(redis_url, poll_hold=0.1, **({"empty_poll_token": form} if form else {}))
    try:
        domain = CompatDomain(client)
        domain.register()
        answer = client.poll_for_activity_task(domain="compat", taskList={"name": "work"})
        assert answer.get("taskToken", "(none)") == {"empty": "", "absent": "(none)", None: ""}[form]
        assert domain.poll_activity(Work) is None and domain.poll_decision(Flow) is None
    finally:
        client.close()


def test_start_input_is_cached(env: Environment) -> None:
    task = first_decision(env, {"id": "1", "big": list(range(5))})
    first = task.start_input
    assert first == {"id": "1", "big": [0, 1, 2, 3, 4]}
    assert task.start_input is first


def test_json_everywhere_and_strings_as_is(env: Environment) -> None:
    task = first_decision(env, {"id": "1"})
    task.schedule(Work, {"id": "w"}, control={"k": 1}).mark("m", "plain details").complete(context={"ctx": True})
    activity = env.domain.poll_activity(Work)
    assert activity is not None
    activity.complete({"r": [1, 2]})
    run = env.domain.execution("Flow.1")
    history = run.history()
    raw = {e.type: e.raw_attrs for e in history}
    assert json.loads(raw["WorkflowExecutionStarted"]["input"]) == {"id": "1"}
    assert json.loads(raw["ActivityTaskScheduled"]["input"]) == {"id": "w"}
    assert json.loads(raw["ActivityTaskScheduled"]["control"]) == {"k": 1}
    assert json.loads(raw["ActivityTaskCompleted"]["result"]) == {"r": [1, 2]}
    assert json.loads(raw["DecisionTaskCompleted"]["executionContext"]) == {"ctx": True}
    assert raw["MarkerRecorded"]["details"] == "plain details"
    task2 = env.domain.poll_decision(Flow)
    assert task2 is not None
    task2.fail(details="plain", reason="why")
    closed = run.history().closed
    assert closed is not None and closed.raw_attrs["details"] == "plain" and closed.raw_attrs["reason"] == "why"


def test_workflow_execution_complete_responds_at_once(env: Environment) -> None:
    task = first_decision(env, {"id": "1"})
    assert str(task.workflow_execution) == f"run_id({task.workflow_execution.run_id}) workflow_id(Flow.1)"
    task.workflow_execution.complete({"done": 1})
    assert task.closed
    assert env.domain.execution("Flow.1").history().result == {"done": 1}


def test_domain_start_answers_like_0_1(env: Environment) -> None:
    run = env.domain.start(Flow, {"id": "7"})
    assert run["runId"] == run.run_id and run["workflowId"] == "Flow.7"
    info = run.describe()["executionInfo"]
    assert info["execution"] == {"workflowId": "Flow.7", "runId": run.run_id}


def test_terminate_abandon_request_cancel(env: Environment) -> None:
    for n, method in enumerate(("terminate", "abandon", "terminate_request_cancel")):
        run = env.domain.start(Flow, {"id": str(n)})
        getattr(run, method)(details="d", reason="r")
        closed = run.history().closed
        assert closed is not None and closed.type == "WorkflowExecutionTerminated"
        assert closed.raw_attrs["childPolicy"] == {"terminate": "TERMINATE", "abandon": "ABANDON"}.get(method, "REQUEST_CANCEL")


# -- §2.11 -----------------------------------------------------------------------------------------
def test_fix_1_events_paging_ends_without_stopiteration(env: Environment) -> None:
    """0.1 ended the generator with ``raise StopIteration`` (RuntimeError since PEP 479)."""
    env.domain.start(Flow, {"id": "1"})
    env.domain.execution("Flow.1").signal("a", 1)
    env.domain.execution("Flow.1").signal("b", 2)
    instance = Flow(env.domain)
    task = tasks.Decision(instance._poll_for_decision_task(maximum_page_size=2, reverse_order=True), instance)
    assert task.next_page_token is not None
    ids = [e.id for e in task.events]  # pages through, then simply ends
    assert ids == list(range(max(ids), 0, -1))
    assert [e.id for e in task.events] == ids  # again, from the buffer
    assert len(task.filter("WorkflowExecutionSignaled")) == 2
    with pytest.raises(exceptions.LastPage):
        task._next_page()


def test_fix_2_filter_is_a_list(env: Environment) -> None:
    task = first_decision(env, {"id": "1"})
    found = task.filter("DecisionTaskScheduled")
    assert isinstance(found, list) and len(found) == 1


def test_fix_4_any_boto3_client_and_faults_by_name() -> None:
    """No boto2: a boto3 client (here a stubbed real one) and its modeled faults."""
    from botocore.stub import Stubber

    client = botocore.session.get_session().create_client(
        "swf", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y"
    )
    stub = Stubber(client)
    stub.add_client_error("register_domain", "DomainAlreadyExistsFault")
    for _ in range(3):
        stub.add_client_error("register_workflow_type" if _ == 0 else "register_activity_type", "TypeAlreadyExistsFault")
    with stub:
        CompatDomain(client).register()
    stub.add_client_error("register_domain", "OperationNotPermittedFault")
    with stub, pytest.raises(client.exceptions.OperationNotPermittedFault):
        CompatDomain(client).register()


def test_fix_5_events_decoded_once_raw_untouched() -> None:
    raw_events = [
        event(7, "ActivityTaskCompleted", result='"123"', scheduledEventId=5, startedEventId=6),
        event(5, "ActivityTaskScheduled", activityId="a", activityType={"name": "Work", "version": "1.0"}, input="not json"),
        event(1, "WorkflowExecutionStarted", input='{"id": "1"}', workflowType={"name": "Flow", "version": "1.0"}),
    ]
    task = tasks.Decision(decision_answer(raw_events), Flow(CompatDomain(FakeClient([]))))
    for _ in range(3):  # 0.1 decoded in place: the second pass raised, and '"123"' became 123
        completed = task.filter("ActivityTaskCompleted")[0]
        assert completed.attrs["result"] == "123"
    assert raw_events[0]["activityTaskCompletedEventAttributes"]["result"] == '"123"'
    assert task.filter("ActivityTaskCompleted")[0] is completed
    assert task.filter("ActivityTaskScheduled")[0].input == "not json"  # not JSON: the text as it is


def test_fix_6_missing_input_result_control(env: Environment) -> None:
    task = first_decision(env, None, workflow_id="Flow.none")
    assert task.start_input is None
    task.schedule(Work, None, activity_id="no-input").complete()
    activity = env.domain.poll_activity(Work)
    assert activity is not None and activity.input is None
    activity.complete()  # no result
    task = env.domain.poll_decision(Flow)
    assert task is not None
    completed = task.most_recent("ActivityTaskCompleted")
    assert completed is not None and "result" not in completed.attrs and completed.result is None
    assert completed.control is None
    assert task.history.activities["no-input"].result is None


def test_fix_7_empty_string_token_is_empty() -> None:
    types._raise_if_empty_poll_result({"taskToken": "x"})
    for empty in ({}, {"taskToken": ""}, {"taskToken": None}):
        with pytest.raises(exceptions.EmptyTaskPollResult):
            types._raise_if_empty_poll_result(empty)


def test_fix_8_request_cancel_and_decision_fail(env: Environment) -> None:
    run = env.domain.start(Flow, {"id": "1"})
    run.request_cancel()
    task = env.domain.poll_decision(Flow)
    assert task is not None and task.history.cancel_requested
    task.schedule(Work, {"id": "dropped"})
    task.fail(details="the details", reason="the reason")
    history = run.history()
    assert history.close_status == "FAILED"
    assert history.closed is not None and history.closed.get("reason") == "the reason"
    assert not history.activities  # decisions added before fail() are dropped


def test_fix_9_heartbeat_returns_cancel_requested_and_helpers_chain(env: Environment) -> None:
    task = first_decision(env, {"id": "1"})
    assert task.schedule(Work, {"id": "h"}) is task
    for helper, args in [
        ("start_timer", ("t", 10)),
        ("cancel_timer", ("t",)),
        ("request_cancel_activity", ("x",)),
        ("signal_external", ("Flow.1", "s")),
        ("request_cancel_external", ("other",)),
        ("mark", ("m",)),
    ]:
        assert getattr(task, helper)(*args) is task
    task._decisions = task._decisions[:2]
    task.complete()
    activity = env.domain.poll_activity(Work)
    assert activity is not None
    assert activity.heartbeat("1/2") is False
    task = env.domain.poll_decision(Flow)
    assert task is None  # nothing triggered a decision yet
    env.domain.execution("Flow.1").signal("wake")
    task = env.domain.poll_decision(Flow)
    assert task is not None
    task.request_cancel_activity("Work.h").complete()
    assert activity.heartbeat({"progress": 2}) is True and activity.cancel_requested
    activity.cancel("stopping")
    task = env.domain.poll_decision(Flow)
    assert task is not None and task.history.activities["Work.h"].status == "CANCELED"


def test_fix_10_types_registered_with_defaults(env: Environment) -> None:
    client = env.client
    config = client.describe_activity_type(domain="compat", activityType={"name": "Work", "version": "1.0"})["configuration"]
    assert config["defaultTaskList"] == {"name": "work"}
    assert config["defaultTaskStartToCloseTimeout"] == "3600"
    wconfig = client.describe_workflow_type(domain="compat", workflowType={"name": "Flow", "version": "1.0"})["configuration"]
    assert wconfig["defaultExecutionStartToCloseTimeout"] == "600" and wconfig["defaultChildPolicy"] == "TERMINATE"
    # another client starts and schedules with nothing but the type: no DefaultUndefinedFault
    run_id = client.start_workflow_execution(domain="compat", workflowId="raw", workflowType={"name": "Flow", "version": "1.0"})["runId"]
    task = env.domain.poll_decision(Flow)
    assert task is not None and task.workflow_execution.run_id == run_id
    client.respond_decision_task_completed(
        taskToken=task.task_token,
        decisions=[
            decisions.build("ScheduleActivityTask", activityId="w", activityType={"name": "Work", "version": "1.0"}),
            decisions.build("ScheduleActivityTask", activityId="b", activityType={"name": "Bare", "version": "1"}),
        ],
    )
    activity = env.domain.poll_activity(Work)
    assert activity is not None and activity.activity_id == "w"
    failed = env.domain.execution("raw").history().activities["b"]
    assert failed.status == "SCHEDULE_FAILED" and failed.cause == "DEFAULT_TASK_LIST_UNDEFINED"
    bare = client.describe_activity_type(domain="compat", activityType={"name": "Bare", "version": "1"})["configuration"]
    assert "defaultTaskList" not in bare


def test_fix_11_all_54_event_types() -> None:
    model = botocore.session.get_session().get_service_model("swf")
    assert sorted(events._event_types) == sorted(model.shape_for("EventType").enum)
    for kind in ("MarkerRecorded", "RecordMarkerFailed", "LambdaFunctionScheduled", "LambdaFunctionStarted",
                 "LambdaFunctionCompleted", "LambdaFunctionFailed", "LambdaFunctionTimedOut",
                 "ScheduleLambdaFunctionFailed", "StartLambdaFunctionFailed"):
        assert events.Event(event(1, kind, cause="X")).attrs == {"cause": "X"}
    assert events.Event({"eventId": 1, "eventType": "FromTheFuture", "eventTimestamp": None}).attrs == {}


def test_fix_12_durations_as_int_or_timedelta() -> None:
    class Timed(Base, types.Activity):
        name = "Timed"
        task_list = "timed"
        heartbeat_timeout = dt.timedelta(minutes=2)
        start_to_close_timeout = 30
        schedule_to_start_timeout = "NONE"

    attrs = Timed.schedule({"id": "1"}, schedule_to_close_timeout=dt.timedelta(hours=1))["scheduleActivityTaskDecisionAttributes"]
    assert (attrs["heartbeatTimeout"], attrs["startToCloseTimeout"]) == ("120", "30")
    assert (attrs["scheduleToStartTimeout"], attrs["scheduleToCloseTimeout"]) == ("NONE", "3600")
    assert types.duration(None) is None and types.seconds("NONE") is None
    with pytest.raises(TypeError):
        types.duration(True)
