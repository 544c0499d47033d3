"""Decision and activity tasks: polling, paging, routing, priority, counts, tokens (§2.4, §7, §12)."""

from __future__ import annotations

import contextlib
import multiprocessing
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from .helpers import (
    ACT,
    DOMAIN,
    WF,
    attrs,
    body,
    complete,
    fault,
    first_decision,
    history,
    pending_activities,
    pending_decisions,
    poll_activity,
    poll_decision,
    poll_in_process,
    quick_client,
    respond,
    schedule,
    setup_domain,
    start,
    types,
    wait_until,
    waiting_polls,
    whole_second,
)


@pytest.fixture
def swf_d(swf: Any) -> Any:
    setup_domain(swf)
    return swf


@pytest.fixture
def env_d(env: Any) -> Any:
    setup_domain(env.client)
    return env


@pytest.fixture
def quick(swf_d: Any, redis_url: str) -> Iterator[Any]:
    """A client with a 0.2 s poll hold on the same engine data."""
    with quick_client(redis_url, poll_hold=0.2) as client:
        yield client


def signal(swf: Any, run_id: str, n: int = 1, workflow_id: str = "w1") -> None:
    for i in range(n):
        swf.signal_workflow_execution(domain=DOMAIN, workflowId=workflow_id, runId=run_id, signalName=f"s{i}")


def ids(events: list[dict[str, Any]]) -> list[int]:
    return [e["eventId"] for e in events]


# -- PollForDecisionTask paging -------------------------------------------------------------------
def test_decision_task_pages(swf_d: Any) -> None:
    swf = swf_d
    run_id = start(swf)
    signal(swf, run_id, 10)  # events 3-12; one DecisionTaskScheduled (2) covers them
    page1 = poll_decision(swf, maximumPageSize=5, identity="d")
    assert ids(page1["events"]) == [1, 2, 3, 4, 5]
    assert (page1["startedEventId"], page1["previousStartedEventId"]) == (13, 0)
    assert page1["workflowExecution"] == {"workflowId": "w1", "runId": run_id}
    assert page1["workflowType"] == WF
    start(swf, "w2")  # a second task waits on the same list: continuations must not take it
    assert pending_decisions(swf) == 1

    page2 = poll_decision(swf, maximumPageSize=5, nextPageToken=page1["nextPageToken"])
    page3 = poll_decision(swf, maximumPageSize=5, nextPageToken=page2["nextPageToken"])
    assert ids(page2["events"]) == [6, 7, 8, 9, 10]
    assert ids(page3["events"]) == [11, 12, 13]
    assert "nextPageToken" not in page3
    for page in (page2, page3):
        assert page["taskToken"] == page1["taskToken"]
        assert (page["startedEventId"], page["previousStartedEventId"]) == (13, 0)
        assert page["workflowExecution"] == page1["workflowExecution"]
        assert page["workflowType"] == WF
    assert page1["events"] + page2["events"] + page3["events"] == history(swf, run_id)
    assert pending_decisions(swf) == 1
    assert len(history(swf, run_id)) == 13

    respond(swf, page1, complete())
    other = poll_decision(swf)
    assert other["workflowExecution"]["workflowId"] == "w2"


def test_decision_task_exactly_full_last_page_has_no_token(swf_d: Any) -> None:
    swf = swf_d
    start(swf)
    page = poll_decision(swf, maximumPageSize=3)
    assert ids(page["events"]) == [1, 2, 3] and "nextPageToken" not in page


def test_decision_task_pages_newest_first(swf_d: Any) -> None:
    swf = swf_d
    run_id = start(swf)
    signal(swf, run_id, 10)
    page1 = poll_decision(swf, maximumPageSize=5, reverseOrder=True)
    page2 = poll_decision(swf, maximumPageSize=5, reverseOrder=True, nextPageToken=page1["nextPageToken"])
    page3 = poll_decision(swf, maximumPageSize=5, reverseOrder=True, nextPageToken=page2["nextPageToken"])
    assert [ids(p["events"]) for p in (page1, page2, page3)] == [
        [13, 12, 11, 10, 9],
        [8, 7, 6, 5, 4],
        [3, 2, 1],
    ]
    assert page1["events"][0]["eventType"] == "DecisionTaskStarted"
    assert "nextPageToken" not in page3
    assert {p["taskToken"] for p in (page1, page2, page3)} == {page1["taskToken"]}


def test_start_at_previous_started_event(swf_d: Any) -> None:
    swf = swf_d
    run_id, task = first_decision(swf)
    respond(swf, task)  # 4 DecisionTaskCompleted
    signal(swf, run_id, 3)  # 5 signal, 6 DTS, 7, 8 signals
    task = poll_decision(swf, startAtPreviousStartedEvent=True)
    assert (task["startedEventId"], task["previousStartedEventId"]) == (9, 3)
    assert ids(task["events"]) == [3, 4, 5, 6, 7, 8, 9]
    assert task["events"] == history(swf, run_id)[2:]


def test_start_at_previous_started_event_pages(swf_d: Any) -> None:
    swf = swf_d
    run_id, task = first_decision(swf)
    respond(swf, task)
    signal(swf, run_id, 3)
    page1 = poll_decision(swf, startAtPreviousStartedEvent=True, maximumPageSize=4)
    assert ids(page1["events"]) == [3, 4, 5, 6]
    page2 = poll_decision(
        swf, startAtPreviousStartedEvent=True, maximumPageSize=4, nextPageToken=page1["nextPageToken"]
    )
    assert ids(page2["events"]) == [7, 8, 9] and "nextPageToken" not in page2
    assert page2["taskToken"] == page1["taskToken"] and page2["previousStartedEventId"] == 3
    respond(swf, page1)
    signal(swf, run_id)
    task = poll_decision(swf, startAtPreviousStartedEvent=True, reverseOrder=True)
    assert ids(task["events"]) == [13, 12, 11, 10, 9]


def test_start_at_previous_started_event_without_previous_gives_everything(swf_d: Any) -> None:
    swf = swf_d
    start(swf)
    task = poll_decision(swf, startAtPreviousStartedEvent=True)
    assert ids(task["events"]) == [1, 2, 3] and task["previousStartedEventId"] == 0


def test_page_token_is_checked(swf_d: Any) -> None:
    swf = swf_d
    run_id = start(swf)
    signal(swf, run_id, 4)
    page1 = poll_decision(swf, maximumPageSize=2)
    with fault("ValidationException"):
        poll_decision(swf, maximumPageSize=2, nextPageToken="garbage")
    with fault("ValidationException"):  # a continuation must repeat the other arguments
        poll_decision(swf, maximumPageSize=2, reverseOrder=True, nextPageToken=page1["nextPageToken"])


# -- activity tasks -------------------------------------------------------------------------------
def test_activity_task_fields(swf_d: Any) -> None:
    swf = swf_d
    run_id, task = first_decision(swf)
    respond(swf, task, schedule("bare", control="secret"), schedule("full", input="in", control="secret"))
    first = body(poll_activity(swf, identity="w"))
    assert set(first) == {"taskToken", "activityId", "startedEventId", "workflowExecution", "activityType"}
    assert first["activityId"] == "bare" and first["startedEventId"] == 7
    assert first["workflowExecution"] == {"workflowId": "w1", "runId": run_id}
    assert first["activityType"] == ACT
    second = body(poll_activity(swf))
    assert set(second) == {
        "taskToken",
        "activityId",
        "startedEventId",
        "workflowExecution",
        "activityType",
        "input",
    }
    assert (second["activityId"], second["input"], second["startedEventId"]) == ("full", "in", 8)
    events = history(swf, run_id)
    assert attrs(events[4])["control"] == "secret"  # control stays in the history
    assert attrs(events[6]) == {"scheduledEventId": 5, "identity": "w"}
    assert attrs(events[7]) == {"scheduledEventId": 6}
    assert first["taskToken"] != second["taskToken"]


# -- empty polls and long polling -----------------------------------------------------------------
def test_empty_polls_carry_an_empty_token_by_default(quick: Any) -> None:
    began = time.monotonic()
    decision = body(quick.poll_for_decision_task(domain=DOMAIN, taskList={"name": "deciders"}))
    held = time.monotonic() - began
    assert decision == {"taskToken": "", "previousStartedEventId": 0, "startedEventId": 0}
    assert 0.2 <= held < 1.0
    activity = body(quick.poll_for_activity_task(domain=DOMAIN, taskList={"name": "workers"}))
    assert activity == {"taskToken": "", "startedEventId": 0}


def test_empty_polls_omit_the_token_when_absent(swf_d: Any, redis_url: str) -> None:
    with quick_client(redis_url, poll_hold=0.2, empty_poll_token="absent") as client:
        decision = body(client.poll_for_decision_task(domain=DOMAIN, taskList={"name": "deciders"}))
        assert decision == {"previousStartedEventId": 0, "startedEventId": 0}
        activity = body(client.poll_for_activity_task(domain=DOMAIN, taskList={"name": "workers"}))
        assert activity == {"startedEventId": 0}


def test_poll_of_unknown_domain(swf: Any) -> None:
    with fault("UnknownResourceFault"):
        swf.poll_for_decision_task(domain="nowhere", taskList={"name": "deciders"})
    with fault("UnknownResourceFault"):
        swf.poll_for_activity_task(domain="nowhere", taskList={"name": "workers"})


def test_waiting_poll_gets_a_task_scheduled_meanwhile(swf_d: Any) -> None:
    swf = swf_d
    got: dict[str, Any] = {}

    def poller() -> None:
        began = time.monotonic()
        got["task"] = poll_decision(swf)
        got["done"] = time.monotonic()
        got["held"] = got["done"] - began

    thread = threading.Thread(target=poller)
    thread.start()
    wait_until(lambda: waiting_polls(swf) == 1)  # found nothing, and waits
    assert thread.is_alive()
    run_id = start(swf)
    scheduled = time.monotonic()
    thread.join(5)
    assert got["task"]["workflowExecution"]["runId"] == run_id
    assert got["done"] - scheduled < 0.5
    assert got["held"] < 2.0  # returned before the hold ended

    # same for an activity poller
    def activity_poller() -> None:
        got["activity"] = poll_activity(swf)
        got["done"] = time.monotonic()

    thread = threading.Thread(target=activity_poller)
    thread.start()
    wait_until(lambda: waiting_polls(swf) == 1)
    respond(swf, got["task"], schedule("a1"))
    scheduled = time.monotonic()
    thread.join(5)
    assert got["activity"]["activityId"] == "a1"
    assert got["done"] - scheduled < 0.5


@pytest.mark.slow
def test_poller_in_another_process_is_woken(swf_d: Any, redis_url: str) -> None:
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    process = ctx.Process(target=poll_in_process, args=(redis_url, queue, 10.0))
    process.start()
    try:
        assert queue.get(timeout=30) == "ready"  # its poll found nothing, and waits
        run_id = start(swf_d)
        scheduled = time.time()
        began, done, token, execution = queue.get(timeout=10)
        process.join(10)
    finally:
        if process.is_alive():
            process.kill()
    assert token and execution == {"workflowId": "w1", "runId": run_id}
    assert done - scheduled < 0.5
    assert done - began < 10.0
    assert pending_decisions(swf_d) == 0
    assert types(history(swf_d, run_id))[-1] == "DecisionTaskStarted"


def test_a_task_goes_to_exactly_one_waiting_poller(swf_d: Any, redis_url: str) -> None:
    results: list[dict[str, Any]] = []
    lock = threading.Lock()

    def poller(client: Any) -> None:
        answer = body(client.poll_for_decision_task(domain=DOMAIN, taskList={"name": "deciders"}))
        with lock:
            results.append(answer)

    with contextlib.ExitStack() as stack:
        clients = [stack.enter_context(quick_client(redis_url, poll_hold=1.0)) for _ in range(4)]
        threads = [threading.Thread(target=poller, args=(client,)) for client in clients]
        for thread in threads:
            thread.start()
        wait_until(lambda: sum(waiting_polls(client) for client in clients) == 4)
        run1 = start(swf_d, "w1")
        run2 = start(swf_d, "w2")
        for thread in threads:
            thread.join(5)
    got = [r for r in results if r.get("taskToken")]
    assert len(results) == 4 and len(got) == 2
    assert sorted(r["workflowExecution"]["runId"] for r in got) == sorted([run1, run2])
    assert all(
        r == {"taskToken": "", "previousStartedEventId": 0, "startedEventId": 0} for r in results if not r.get("taskToken")
    )
    for run_id, workflow_id in ((run1, "w1"), (run2, "w2")):
        assert types(history(swf_d, run_id, workflow_id)).count("DecisionTaskStarted") == 1


# -- priority -------------------------------------------------------------------------------------
def test_activity_priority_then_age(env_d: Any) -> None:
    swf = env_d.client
    _, task = first_decision(swf)
    respond(swf, task, schedule("old-0"))
    env_d.sleep(1)
    swf.signal_workflow_execution(domain=DOMAIN, workflowId="w1", signalName="more")
    task = poll_decision(swf)
    respond(
        swf,
        task,
        schedule("low", taskPriority="-5"),
        schedule("new-0"),
        schedule("high", taskPriority="10"),
        schedule("mid", taskPriority="3"),
        schedule("top", taskPriority="2147483647"),
        schedule("bottom", taskPriority="-2147483648"),
    )
    order = [poll_activity(swf)["activityId"] for _ in range(7)]
    assert order == ["top", "high", "mid", "old-0", "new-0", "low", "bottom"]


def test_activities_of_one_batch_go_out_in_scheduling_order(env_d: Any) -> None:
    """Same priority, same timestamp: the earlier ActivityTaskScheduled is the older task (§12)."""
    swf = env_d.client
    _, task = first_decision(swf)
    respond(swf, task, *[schedule(f"a{i}") for i in range(12)])  # events 5..16
    started = [poll_activity(swf) for _ in range(12)]
    assert [a["activityId"] for a in started] == [f"a{i}" for i in range(12)]
    assert [a["startedEventId"] for a in started] == list(range(17, 29))


def test_activity_age_across_runs(env_d: Any) -> None:
    swf = env_d.client
    for workflow_id in ("w1", "w2", "w3"):
        start(swf, workflow_id)
    tasks = {t["workflowExecution"]["workflowId"]: t for t in (poll_decision(swf) for _ in range(3))}
    for activity_id, workflow_id in (("first", "w3"), ("second", "w1"), ("third", "w2")):
        respond(swf, tasks[workflow_id], schedule(activity_id))
        env_d.sleep(1)
    assert [poll_activity(swf)["activityId"] for _ in range(3)] == ["first", "second", "third"]


def test_decision_priority_then_age(env_d: Any) -> None:
    swf = env_d.client
    start(swf, "low", taskPriority="1")
    env_d.sleep(1)
    start(swf, "old")
    env_d.sleep(1)
    start(swf, "negative", taskPriority="-3")
    env_d.sleep(1)
    start(swf, "new")
    env_d.sleep(1)
    start(swf, "high", taskPriority="9")
    order = [poll_decision(swf)["workflowExecution"]["workflowId"] for _ in range(5)]
    assert order == ["high", "low", "old", "new", "negative"]


def test_decision_task_priority_comes_from_the_run(env_d: Any) -> None:
    swf = env_d.client
    run_id = start(swf, taskPriority="4")
    assert attrs(history(swf, run_id)[1]) == {
        "taskList": {"name": "deciders"},
        "taskPriority": "4",
        "startToCloseTimeout": "60",
        "scheduleToStartTimeout": "NONE",
    }


# -- routing --------------------------------------------------------------------------------------
def test_schedule_activity_on_another_task_list(swf_d: Any, quick: Any) -> None:
    swf = swf_d
    _, task = first_decision(swf)
    respond(swf, task, schedule("a1", taskList={"name": "special"}))
    assert (pending_activities(swf, "special"), pending_activities(swf, "workers")) == (1, 0)
    assert quick.poll_for_activity_task(domain=DOMAIN, taskList={"name": "workers"})["taskToken"] == ""
    activity = poll_activity(swf, task_list="special")
    assert activity["activityId"] == "a1" and activity["startedEventId"] == 6


def test_decision_task_list_override(swf_d: Any, quick: Any) -> None:
    swf = swf_d
    run_id, task = first_decision(swf)
    respond(swf, task, schedule("a1"), taskList={"name": "deciders2"})
    events = history(swf, run_id)
    assert attrs(events[3]) == {"scheduledEventId": 2, "startedEventId": 3, "taskList": {"name": "deciders2"}}
    activity = poll_activity(swf)
    swf.respond_activity_task_completed(taskToken=activity["taskToken"])
    events = history(swf, run_id)
    assert types(events)[-1] == "DecisionTaskScheduled"
    assert attrs(events[-1])["taskList"] == {"name": "deciders2"}
    assert (pending_decisions(swf, "deciders2"), pending_decisions(swf, "deciders")) == (1, 0)
    assert quick.poll_for_decision_task(domain=DOMAIN, taskList={"name": "deciders"})["taskToken"] == ""
    task = poll_decision(swf, task_list="deciders2")
    assert (task["startedEventId"], task["previousStartedEventId"]) == (9, 3)
    respond(swf, task)  # no override this time: the change is permanent
    swf.signal_workflow_execution(domain=DOMAIN, workflowId="w1", signalName="s")
    assert attrs(history(swf, run_id)[-1])["taskList"] == {"name": "deciders2"}
    assert pending_decisions(swf, "deciders2") == 1


def test_held_decision_task_goes_where_its_event_says(swf_d: Any, quick: Any) -> None:
    """A task held during an override: its DecisionTaskScheduled names the list it is delivered on."""
    swf = swf_d
    run_id, task = first_decision(swf)
    swf.signal_workflow_execution(domain=DOMAIN, workflowId="w1", signalName="s")  # 4, held DTS 5
    respond(swf, task, taskList={"name": "deciders2"})
    events = history(swf, run_id)
    assert types(events)[3:] == [
        "WorkflowExecutionSignaled",
        "DecisionTaskScheduled",
        "DecisionTaskCompleted",
    ]
    listed = attrs(events[4])["taskList"]["name"]
    elsewhere = "deciders2" if listed == "deciders" else "deciders"
    assert (pending_decisions(swf, listed), pending_decisions(swf, elsewhere)) == (1, 0)
    task = poll_decision(quick, task_list=listed)
    assert task.get("startedEventId") == 7 and attrs(task["events"][-1]) == {"scheduledEventId": 5}


# -- counts ---------------------------------------------------------------------------------------
def test_pending_counts(swf_d: Any) -> None:
    swf = swf_d
    assert body(swf.count_pending_decision_tasks(domain=DOMAIN, taskList={"name": "unused"})) == {
        "count": 0,
        "truncated": False,
    }
    assert body(swf.count_pending_activity_tasks(domain=DOMAIN, taskList={"name": "unused"})) == {
        "count": 0,
        "truncated": False,
    }
    for workflow_id in ("w1", "w2", "w3"):
        start(swf, workflow_id)
    assert pending_decisions(swf) == 3 and pending_activities(swf, "deciders") == 0
    task = poll_decision(swf)
    assert pending_decisions(swf) == 2  # started tasks are not pending
    respond(swf, task, schedule("a1"), schedule("a2"), schedule("a3", taskList={"name": "other"}))
    assert (pending_activities(swf), pending_activities(swf, "other")) == (2, 1)
    assert pending_decisions(swf, "workers") == 0 and pending_decisions(swf) == 2
    activity = poll_activity(swf)
    assert pending_activities(swf) == 1
    swf.respond_activity_task_completed(taskToken=activity["taskToken"])
    assert pending_activities(swf) == 1 and pending_decisions(swf) == 3
    # a task held behind a started one counts as pending (§12, [E])
    task = poll_decision(swf)
    assert pending_decisions(swf) == 2
    run = task["workflowExecution"]
    swf.signal_workflow_execution(
        domain=DOMAIN, workflowId=run["workflowId"], runId=run["runId"], signalName="s"
    )
    assert pending_decisions(swf) == 3
    respond(swf, task)
    assert pending_decisions(swf) == 3
    with fault("UnknownResourceFault"):
        swf.count_pending_activity_tasks(domain="nowhere", taskList={"name": "workers"})
    with fault("UnknownResourceFault"):
        swf.count_pending_decision_tasks(domain="nowhere", taskList={"name": "deciders"})


def test_pending_tasks_of_a_closed_run_are_dropped(swf_d: Any, quick: Any) -> None:
    swf = swf_d
    _, task = first_decision(swf)
    respond(swf, task, schedule("a1"))
    swf.signal_workflow_execution(domain=DOMAIN, workflowId="w1", signalName="s")
    assert (pending_activities(swf), pending_decisions(swf)) == (1, 1)
    swf.terminate_workflow_execution(domain=DOMAIN, workflowId="w1")
    assert (pending_activities(swf), pending_decisions(swf)) == (0, 0)
    assert quick.poll_for_activity_task(domain=DOMAIN, taskList={"name": "workers"})["taskToken"] == ""
    assert quick.poll_for_decision_task(domain=DOMAIN, taskList={"name": "deciders"})["taskToken"] == ""


# -- tokens ---------------------------------------------------------------------------------------
def _activity_calls(swf: Any, token: str) -> list[Any]:
    return [
        lambda: swf.respond_activity_task_completed(taskToken=token, result="r"),
        lambda: swf.respond_activity_task_failed(taskToken=token, reason="r"),
        lambda: swf.respond_activity_task_canceled(taskToken=token, details="d"),
        lambda: swf.record_activity_task_heartbeat(taskToken=token, details="d"),
    ]


def _all_refused(swf: Any, token: str) -> None:
    for call in [*_activity_calls(swf, token), lambda: swf.respond_decision_task_completed(taskToken=token)]:
        with fault("UnknownResourceFault"):
            call()


def test_garbage_tokens(swf_d: Any) -> None:
    swf = swf_d
    run_id, task = first_decision(swf)
    for token in ("garbage", "Z" * 1024, "eyJ0YXNrIjogMX0=", "kgEC"):
        _all_refused(swf, token)
    respond(swf, task, schedule("a1"))
    assert len(history(swf, run_id)) == 5


def test_tokens_of_the_wrong_kind(swf_d: Any) -> None:
    swf = swf_d
    run_id, task = first_decision(swf)
    for call in _activity_calls(swf, task["taskToken"]):
        with fault("UnknownResourceFault"):
            call()
    respond(swf, task, schedule("a1"))
    activity = poll_activity(swf)
    with fault("UnknownResourceFault"):
        swf.respond_decision_task_completed(taskToken=activity["taskToken"], decisions=[complete()])
    swf.respond_activity_task_completed(taskToken=activity["taskToken"])
    assert types(history(swf, run_id))[-2:] == ["ActivityTaskCompleted", "DecisionTaskScheduled"]


def test_used_activity_token(swf_d: Any) -> None:
    swf = swf_d
    for n, close in enumerate(["completed", "failed", "canceled"]):
        workflow_id = f"w{n}"
        run_id, task = first_decision(swf, workflow_id)
        respond(swf, task, schedule("a1"))
        activity = poll_activity(swf)
        getattr(swf, f"respond_activity_task_{close}")(taskToken=activity["taskToken"])
        _all_refused(swf, activity["taskToken"])
        events = history(swf, run_id, workflow_id)
        assert types(events)[6:] == [f"ActivityTask{close.capitalize()}", "DecisionTaskScheduled"]
        assert attrs(events[6]) == {"scheduledEventId": 5, "startedEventId": 6}
        respond(swf, poll_decision(swf), complete())


def test_used_decision_token(swf_d: Any) -> None:
    swf = swf_d
    run_id, task = first_decision(swf)
    respond(swf, task, schedule("a1"))
    _all_refused(swf, task["taskToken"])
    assert len(history(swf, run_id)) == 5


def test_tokens_of_a_closed_run(swf_d: Any) -> None:
    swf = swf_d
    run_id, task = first_decision(swf)
    respond(swf, task, schedule("a1"))
    activity = poll_activity(swf)
    swf.signal_workflow_execution(domain=DOMAIN, workflowId="w1", signalName="s")
    task = poll_decision(swf)
    swf.terminate_workflow_execution(domain=DOMAIN, workflowId="w1", reason="stop")
    _all_refused(swf, activity["taskToken"])
    _all_refused(swf, task["taskToken"])
    assert types(history(swf, run_id))[-1] == "WorkflowExecutionTerminated"


def test_heartbeat_details_in_heartbeat_timeout(env_d: Any) -> None:
    swf = env_d.client
    whole_second(env_d)
    run_id, task = first_decision(swf)
    respond(swf, task, schedule("a1", heartbeatTimeout="30"), schedule("a2", heartbeatTimeout="30"))
    one = poll_activity(swf)
    two = poll_activity(swf)
    swf.record_activity_task_heartbeat(taskToken=one["taskToken"], details="10%")
    swf.record_activity_task_heartbeat(taskToken=one["taskToken"], details="20%")
    swf.record_activity_task_heartbeat(taskToken=two["taskToken"])  # no details
    env_d.sleep(30)
    events = history(swf, run_id)
    assert types(events)[8:] == ["ActivityTaskTimedOut", "DecisionTaskScheduled", "ActivityTaskTimedOut"]
    assert attrs(events[8]) == {
        "timeoutType": "HEARTBEAT",
        "scheduledEventId": 5,
        "startedEventId": 7,
        "details": "20%",
    }
    assert attrs(events[10]) == {"timeoutType": "HEARTBEAT", "scheduledEventId": 6, "startedEventId": 8}
