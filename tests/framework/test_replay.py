"""Replay tests: ``flowser.testing.replay`` / ``replay_dir`` over histories saved from real runs.

The saved histories (``histories/``) come from ``histories/generate.py``:
real runs of examples/arithmetic, examples/orders (a signal and a child) and
``histories/reminder.py`` (a timer, a marker, execution contexts and
continue-as-new) on the local engine, saved with ``flowser executions
history``. Live runs replay on every backend (local engine, ``flowser
serve``, moto where it has the calls); a decider changed after its history
was saved must fail, naming the decision task and showing both decisions.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote

import pytest
from activities import MultiplyActivity, SumActivity
from workflows import ArithmeticWorkflow, MathDomain

import flowser
from flowser.cli import main as flowser_cli
from flowser.events import raw_attrs
from flowser.historyfile import load_histories, load_history
from flowser.replay import SETTINGS, SwfCallRefused
from flowser.testing import (
    Environment,
    ReplayMismatch,
    history_files,
    replay,
    replay_dir,
    wait_until,
    workers,
)
from flowser.ui import UI, Request

from .conftest import ROOT, Backend
from .histories import generate
from .histories.reminder import Reminder, Reminders

if str(ROOT / "examples" / "orders") not in sys.path:
    sys.path.insert(0, str(ROOT / "examples" / "orders"))

from shop import Charge, Order, Pack, Ship, Shop

HISTORIES = Path(__file__).resolve().parent / "histories"
DECIDERS = [ArithmeticWorkflow, Order, Ship, Reminder]


def completed_tasks(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if e["eventType"] == "DecisionTaskCompleted"]


def pages_of(events: list[dict[str, Any]], size: int = 5) -> list[dict[str, Any]]:
    return [{"events": events[i : i + size]} for i in range(0, len(events), size)]


def epoch_pages(pages: list[dict[str, Any]]) -> str:
    """Pages as the AWS CLI prints them: JSON, timestamps in epoch seconds."""
    return json.dumps(pages, default=lambda value: value.timestamp())


# -- every accepted form of a saved history ------------------------------------------------------
def _forms(path: Path) -> dict[str, Callable[[], Any]]:
    text = path.read_text()
    runs = load_histories(path)
    every_event = [e for run in runs for e in run.events]
    forms: dict[str, Callable[[], Any]] = {
        "path": lambda: path,
        "str path": lambda: str(path),
        "open file": lambda: io.StringIO(text),
        "bytes": lambda: text.encode(),
        "JSON text": lambda: text,
        "list of events": lambda: every_event,
        "one page": lambda: {"events": every_event},
        "list of pages": lambda: pages_of(every_event),
        "pages as JSON (epoch times)": lambda: epoch_pages(pages_of(every_event)),
    }
    if len(runs) == 1:
        forms["loaded document"] = lambda: json.loads(text)
        forms["HistoryFile"] = lambda: load_history(path)
    return forms


SAVED = [(path, form) for path in history_files(HISTORIES) for form in _forms(path)]


@pytest.mark.parametrize(("path", "form"), SAVED, ids=[f"{p.name}-{f}" for p, f in SAVED])
def test_saved_histories_replay_in_every_form(path: Path, form: str) -> None:
    runs = load_histories(path)
    result = replay(_forms(path)[form](), DECIDERS)
    assert [run.decision_tasks for run in result.runs] == [len(completed_tasks(run.events)) for run in runs]
    assert result.decision_tasks > 0 and result.decisions > 0
    if form == "path":
        assert result.source == str(path)
        assert [run.run_id for run in result.runs] == [run.run_id for run in runs]


def test_the_saved_histories_cover_signals_children_timers_markers_and_continue_as_new() -> None:
    types = {e["eventType"] for path in history_files(HISTORIES) for run in load_histories(path) for e in run.events}
    assert {
        "WorkflowExecutionSignaled",
        "StartChildWorkflowExecutionInitiated",
        "ChildWorkflowExecutionCompleted",
        "TimerStarted",
        "TimerFired",
        "MarkerRecorded",
        "WorkflowExecutionContinuedAsNew",
        "ActivityTaskCompleted",
    } <= types
    assert [p.name for p in history_files(HISTORIES)] == ["arithmetic.json", "order.json", "reminder.jsonl", "ship.json"]
    assert len(load_histories(HISTORIES / "reminder.jsonl")) == 3


def test_replay_dir_replays_the_saved_folder() -> None:
    results = replay_dir(HISTORIES, DECIDERS)
    assert [Path(r.source).name for r in results] == ["arithmetic.json", "order.json", "reminder.jsonl", "ship.json"]
    assert all(r.decision_tasks > 0 for r in results)


def test_the_generator_writes_histories_that_replay(tmp_path: Path) -> None:
    """The saved histories come from real runs: generating them again gives the same decisions, and they replay."""

    def decided(path: Path) -> list[list[str]]:  # the events decisions made (the rest depends on threads' timing)
        return [[e["eventType"] for e in run.events if "decisionTaskCompletedEventId" in raw_attrs(e)] for run in load_histories(path)]

    written = generate.generate(tmp_path)
    assert sorted(p.name for p in written) == [p.name for p in history_files(HISTORIES)]
    for path in written:
        assert decided(path) == decided(HISTORIES / path.name), path.name
    assert len(replay_dir(tmp_path, DECIDERS)) == 4


# -- the decider changed after the history was saved: the replay must fail ---------------------
class ChargeMore(Order):
    """Order, changed: it now charges one more than the order's amount."""

    def decide(self, task: Any) -> None:
        history = task.history
        order = history.start_input
        if history.signals_named("approve") and history.activities.get(f"charge-{order['order']}") is None:
            task.schedule(Charge, {**order, "amount": order["amount"] + 1})
            return
        super().decide(task)


def test_a_decider_changed_after_the_history_was_saved_fails() -> None:
    path = HISTORIES / "order.json"
    saved = load_history(path)
    events = {e["eventId"]: e for e in saved.events}
    charge = next(e for e in saved.events if e["eventType"] == "ActivityTaskScheduled")
    completed = events[charge["activityTaskScheduledEventAttributes"]["decisionTaskCompletedEventId"]]
    started = events[completed["decisionTaskCompletedEventAttributes"]["startedEventId"]]
    number = completed_tasks(saved.events).index(completed) + 1
    with pytest.raises(ReplayMismatch) as raised:
        replay(path, ChargeMore, domain=Shop)
    message = str(raised.value)
    assert isinstance(raised.value, AssertionError)
    first, where = message.splitlines()[:2]
    assert first.startswith(f"{path}: Order (1) order-42 (run {saved.run_id}): ")
    assert f"decision task {number} of {len(completed_tasks(saved.events))}" in first
    assert first.endswith("decision 1 (ScheduleActivityTask): input differs")
    assert f"started event {started['eventId']} at {started['eventTimestamp'].isoformat(timespec='milliseconds').replace('+00:00', 'Z')}" in where
    assert f"completed event {completed['eventId']}" in where
    assert f"--- recorded then (event {charge['eventId']})" in message
    assert "+++ decided now" in message
    assert '-    input: {"order": 42, "amount": 30, "items": ["book", "pen"]}' in message.splitlines()
    assert '+    input: {"order": 42, "amount": 31, "items": ["book", "pen"]}' in message.splitlines()
    assert "     activityId: charge-42" in message.splitlines()  # the same on both sides: context
    assert raised.value.task is not None and raised.value.task.completed_event_id == completed["eventId"]
    # the same history replays with the decider as it was
    assert replay(path, Order, domain=Shop).decision_tasks == len(completed_tasks(saved.events))


class RenamedCharge(Order):
    """Order, changed: the charge's activity id is payment-N now (a run that was charged would be charged again)."""

    def decide(self, task: Any) -> None:
        history = task.history
        order = history.start_input
        if history.signals_named("approve") and history.activities.get(f"payment-{order['order']}") is None:
            task.schedule(Charge, order, activity_id=f"payment-{order['order']}")
            return
        super().decide(task)


def test_a_renamed_activity_id_is_caught_where_it_was_decided() -> None:
    with pytest.raises(ReplayMismatch) as raised:
        replay(HISTORIES / "order.json", RenamedCharge)
    lines = str(raised.value).splitlines()
    assert lines[0].endswith("decision 1 (ScheduleActivityTask): activityId differs")
    assert "-    activityId: charge-42" in lines and "+    activityId: payment-42" in lines


def test_the_signal_that_triggered_the_task_is_named() -> None:
    with pytest.raises(ReplayMismatch, match=r"new to the decider: \d+ WorkflowExecutionSignaled"):
        replay(HISTORIES / "order.json", ChargeMore)


# -- each kind of difference -------------------------------------------------------------------
class OnlyMultiply(ArithmeticWorkflow):
    def decide(self, task: Any) -> None:
        if len(task.filter("DecisionTaskScheduled")) == 1:
            op_id, _, values = task.start_input["operations"][0]
            task.schedule(MultiplyActivity, {"id": task.start_input["id"], "operation": [op_id, values]})
            return
        super().decide(task)


class ExtraTimer(ArithmeticWorkflow):
    def decide(self, task: Any) -> None:
        if len(task.filter("DecisionTaskScheduled")) == 1:
            for op_id, op, values in task.start_input["operations"]:
                activity = MultiplyActivity if op == "multiply" else SumActivity
                task.schedule(activity, {"id": task.start_input["id"], "operation": [op_id, values]})
            task.start_timer("deadline", 600)
            return
        super().decide(task)


class FailsInstead(ArithmeticWorkflow):
    def decide(self, task: Any) -> None:
        if len(task.filter("DecisionTaskScheduled")) > 1:
            task.fail_workflow(reason="no")
            return
        super().decide(task)


class Raises(ArithmeticWorkflow):
    def decide(self, task: Any) -> None:
        raise KeyError("operations")


class RaisesAndRetries(Raises):
    on_decider_error = "retry"


class Signals(ArithmeticWorkflow):
    def decide(self, task: Any) -> None:
        task.workflow_execution.signal("hello")
        super().decide(task)


class SlowerMultiply(MultiplyActivity):
    start_to_close_timeout = "120"


class LongerTimeout(ArithmeticWorkflow):
    def decide(self, task: Any) -> None:
        if len(task.filter("DecisionTaskScheduled")) == 1:
            for op_id, op, values in task.start_input["operations"]:
                activity = SlowerMultiply if op == "multiply" else SumActivity
                task.schedule(activity, {"id": task.start_input["id"], "operation": [op_id, values]})
            return
        super().decide(task)


class OtherContext(Reminder):
    def decide(self, task: Any) -> None:
        complete = task.complete
        task.complete = lambda context=None: complete(context={"round": "changed"})
        super().decide(task)


@pytest.mark.parametrize(
    ("decider", "what", "lines"),
    [
        (OnlyMultiply, "decision 2 (ScheduleActivityTask, event 6) is no longer made", ["-ScheduleActivityTask", "-    activityType: SumActivity 1.0.0"]),
        (ExtraTimer, "decision 3 is new: StartTimer", ["+StartTimer", "+    timerId: deadline", "+    startToFireTimeout: 600"]),
        (FailsInstead, "decision 1 is a FailWorkflowExecution now, a CompleteWorkflowExecution then", ["-CompleteWorkflowExecution", "+FailWorkflowExecution", "+    reason: no"]),
        (Raises, "decision 1 is a FailWorkflowExecution now, a ScheduleActivityTask then", ["+    reason: KeyError: 'operations'"]),
        (RaisesAndRetries, "the decider left the task unanswered after decide() raised KeyError: 'operations'", ["+(no answer)"]),
        (Signals, "decide() called SWF (signal_workflow_execution)", []),
        (LongerTimeout, "decision 1 (ScheduleActivityTask): startToCloseTimeout differs", ["-    startToCloseTimeout: 60", "+    startToCloseTimeout: 120"]),
    ],
    ids=lambda value: value.__name__ if isinstance(value, type) else None,
)
def test_each_kind_of_difference_is_named(decider: type[flowser.types.Workflow], what: str, lines: list[str]) -> None:
    with pytest.raises(ReplayMismatch) as raised:
        replay(HISTORIES / "arithmetic.json", decider, domain=MathDomain)
    message = str(raised.value)
    assert message.splitlines()[0].endswith(what), message
    for line in lines:
        assert line in message.splitlines(), message


def test_a_decider_that_raises_is_shown_with_its_exception() -> None:
    with pytest.raises(ReplayMismatch, match=r"decide\(\) raised KeyError: 'operations'"):
        replay(HISTORIES / "arithmetic.json", Raises)


def test_a_decider_calling_swf_is_refused_and_named() -> None:
    with pytest.raises(ReplayMismatch) as raised:
        replay(HISTORIES / "arithmetic.json", Signals)
    assert "  decide() called SWF's signal_workflow_execution: replay refuses every call but the task's answer" in str(raised.value)
    assert raised.value.task is not None and raised.value.task.refused_calls == ["signal_workflow_execution"]
    assert isinstance(raised.value.task.raised, SwfCallRefused)


def test_settings_can_be_left_out_of_the_comparison() -> None:
    result = replay(HISTORIES / "arithmetic.json", LongerTimeout, ignore=SETTINGS)
    assert result.decision_tasks == 2


def test_a_changed_execution_context_is_a_difference() -> None:
    with pytest.raises(ReplayMismatch) as raised:
        replay(HISTORIES / "reminder.jsonl", OtherContext)
    message = str(raised.value)
    assert message.splitlines()[0].endswith("decision task 1 of 2: the executionContext differs")
    assert '-executionContext: {"round": 1}' in message.splitlines()
    assert '+executionContext: {"round": "changed"}' in message.splitlines()


def test_a_history_of_another_workflow_type_is_a_value_error() -> None:
    with pytest.raises(ValueError, match=r"a history of workflow type 'Order' \(1\), replayed with ArithmeticWorkflow \(ArithmeticWorkflow\)"):
        replay(HISTORIES / "order.json", ArithmeticWorkflow)


def test_an_empty_folder_is_a_value_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no history files"):
        replay_dir(tmp_path, DECIDERS)


# -- replay_dir: every file, every mismatch ----------------------------------------------------
class DoubleMultiply(ArithmeticWorkflow):
    """The arithmetic workflow as another version decided: it multiplies the first operation's values twice."""

    def decide(self, task: Any) -> None:
        if len(task.filter("DecisionTaskScheduled")) == 1:
            for op_id, op, values in task.start_input["operations"]:
                activity = MultiplyActivity if op == "multiply" else SumActivity
                task.schedule(activity, {"id": task.start_input["id"], "operation": [op_id, values * (2 if op == "multiply" else 1)]})
            return
        super().decide(task)


def test_replay_dir_with_a_good_and_a_bad_history_names_the_bad_one(tmp_path: Path) -> None:
    # a real run of another version of the decider, saved by the CLI: the current decider no longer fits it
    generate.arithmetic(tmp_path, {**generate.ARITHMETIC_INPUT, "id": "other-version"}, DoubleMultiply, "a-bad.json")
    shutil.copy(HISTORIES / "arithmetic.json", tmp_path / "b-good.json")
    with pytest.raises(ReplayMismatch) as raised:
        replay_dir(tmp_path, ArithmeticWorkflow)
    message = str(raised.value)
    assert message.splitlines()[0] == f"1 of 2 histories under {tmp_path} do not replay:"
    assert [Path(file).name for file, _ in raised.value.failures] == ["a-bad.json"]
    assert f"{tmp_path / 'a-bad.json'}: ArithmeticWorkflow (1.0.0) ArithmeticWorkflow.other-version" in message
    assert "b-good.json" not in message
    assert "-    input: " in message and "+    input: " in message
    # replayed with the version that made it, the bad history is a good one
    assert replay(tmp_path / "a-bad.json", DoubleMultiply).decision_tasks == len(completed_tasks(load_history(tmp_path / "a-bad.json").events))


def test_replay_dir_reports_every_failing_file(tmp_path: Path) -> None:
    for name in ("arithmetic.json", "order.json", "ship.json"):
        shutil.copy(HISTORIES / name, tmp_path / name)
    with pytest.raises(ReplayMismatch) as raised:
        replay_dir(tmp_path, [OnlyMultiply, Order])  # order.json replays; arithmetic.json differs; nothing replays Ship
    assert [Path(file).name for file, _ in raised.value.failures] == ["arithmetic.json", "ship.json"]
    assert "2 of 3 histories" in str(raised.value)
    assert "a history of workflow type 'Ship' (1)" in str(raised.value)


# -- live runs, every backend ------------------------------------------------------------------
def raw_pages(client: Any, domain: str, execution: dict[str, str], size: int) -> list[dict[str, Any]]:
    """GetWorkflowExecutionHistory's pages as boto3 answers them."""
    pages, token = [], None
    while True:
        kwargs: dict[str, Any] = {"domain": domain, "execution": execution, "maximumPageSize": size}
        if token:
            kwargs["nextPageToken"] = token
        page = client.get_workflow_execution_history(**kwargs)
        pages.append(page)
        token = page.get("nextPageToken")
        if not token:
            return pages


def test_a_live_arithmetic_run_replays_from_raw_pages(backend: Backend, tmp_path: Path) -> None:
    domain = backend.domain(MathDomain)
    with workers(domain, ArithmeticWorkflow, MultiplyActivity, SumActivity):
        run = domain.start(ArithmeticWorkflow, {"id": "live", "operations": [["m", "multiply", [6, 7]], ["s", "sum", [1, 2]]]})
        assert run.result(timeout=30) == {"m": 42, "s": 3}
    execution = run.to_dict()
    pages = raw_pages(backend.client, "math", execution, 4)
    assert len(pages) == 1 if backend.name == "moto" else len(pages) > 1  # moto ignores maximumPageSize
    events = [e for page in pages for e in page["events"]]
    (tmp_path / "pages.json").write_text(epoch_pages(pages))
    for form in (pages, pages[0] if len(pages) == 1 else {"events": events}, events, tmp_path / "pages.json"):
        result = replay(form, ArithmeticWorkflow, execution=execution)
        assert result.decision_tasks == len(completed_tasks(events)) >= 2  # two, or three when the results came apart
        assert result.runs[0].workflow_id == "ArithmeticWorkflow.live"
    with pytest.raises(ReplayMismatch, match=r"decision task 1 of \d: decision 1 \(ScheduleActivityTask\): input differs"):
        replay(pages, DoubleMultiply, execution=execution)


def test_a_live_order_with_a_signal_and_a_child_replays(backend: Backend) -> None:
    backend.require("child")
    domain = backend.domain(Shop)
    with workers(domain, Order, Ship, Charge, Pack):
        run = domain.start(Order, {"order": 7, "amount": 5, "items": ["cup"]})
        wait_until(lambda: completed_tasks([e.raw for e in run.history()]))
        run.signal("approve", "bob")
        assert run.result(timeout=30)["approved_by"] == "bob"
    child = run.history().children["ship-7"]
    for execution in (run.to_dict(), {"workflowId": child.workflow_id, "runId": str(child.run_id)}):
        pages = raw_pages(backend.client, "shop", execution, 1000)
        result = replay(pages, [Order, Ship], execution=execution)
        assert result.decision_tasks == len(completed_tasks(pages[0]["events"])) > 0
    with pytest.raises(ReplayMismatch, match="input differs"):
        replay(raw_pages(backend.client, "shop", run.to_dict(), 1000), ChargeMore)


def test_a_live_reminder_chain_replays(backend: Backend) -> None:
    backend.require("continue_as_new")
    domain = backend.domain(Reminders)
    every = 3600 if backend.virtual_time else 1
    with workers(domain, Reminder):
        first = domain.start(Reminder, {"id": "live", "every": every, "times": 2, "round": 1})
        current = first
        for _ in range(2):
            wait_until(lambda run=current: run.history().timers.get("tick"))
            if backend.virtual_time:  # on real time the 1 s timer fires while the next wait waits
                backend.sleep(every)
            history = wait_until(lambda run=current: run.closed_history(), timeout=30)
            if history.new_run_id:
                current = domain.execution(current.workflow_id, history.new_run_id, Reminder)
        assert first.result(timeout=30) == {"reminded": 2}
    chain = [first.to_dict(), {"workflowId": first.workflow_id, "runId": str(first.followed[-1])}]
    events = [e for execution in chain for page in raw_pages(backend.client, "reminders", execution, 1000) for e in page["events"]]
    result = replay(events, Reminder)  # the two runs one after the other, as a --follow -o jsonl stream holds them
    assert [r.decision_tasks for r in result.runs] == [2, 2]
    with pytest.raises(ReplayMismatch, match="executionContext differs"):
        replay(events, OtherContext)


# -- saved by the CLI and by the dashboard -----------------------------------------------------
def test_histories_saved_by_the_cli_and_the_dashboard_replay(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    with Environment(Shop) as env:
        with env.workers(Order, Ship, Charge, Pack):
            run = env.domain.start(Order, {"order": 9, "amount": 12, "items": ["lamp"]})
            wait_until(lambda: completed_tasks([e.raw for e in run.history()]))
            run.signal("approve", "carol")
            run.result(timeout=30)
        capsys.readouterr()
        args = ["executions", "history", "order-9", "-o", "json", "--backend", env.url, "--domain", "shop"]
        assert flowser_cli(args) == 0
        printed = capsys.readouterr().out
        path = f"/ui/d/shop/x/order-9/{quote(str(run.run_id), safe='')}/history.json"
        download = UI(env.client).handle(Request("GET", path, ""))
    assert download.status == 200 and download.headers["Content-Disposition"].startswith("attachment")
    (tmp_path / "cli.json").write_text(printed)
    (tmp_path / "dashboard.json").write_bytes(download.body)
    tasks = len(completed_tasks(load_history(tmp_path / "cli.json").events))
    for source in (printed, tmp_path / "cli.json", download.body, tmp_path / "dashboard.json", json.loads(download.body)):
        result = replay(source, Order)  # the environment is gone: replay needs no backend
        assert result.decision_tasks == tasks > 0
        assert result.runs[0].run_id == run.run_id
    results = replay_dir(tmp_path, Order)
    assert len(results) == 2
    with pytest.raises(ReplayMismatch) as raised:
        replay(download.body, ChargeMore)
    assert re.search(r"Order \(1\) order-9 \(run .+\): the decider decides differently now at decision task \d of \d", str(raised.value))


# -- docs/recipes.md, "Replay tests": its test file runs under pytest --------------------------------
CHANGED_SHOP = '''
"""examples/orders/shop.py as released, but Order now charges one more than the order's amount."""
import importlib.util

spec = importlib.util.spec_from_file_location("shop_as_released", {path!r})
released = importlib.util.module_from_spec(spec)
spec.loader.exec_module(released)
globals().update({{k: v for k, v in vars(released).items() if not k.startswith("__")}})


class Order(released.Order):
    def decide(self, task):
        history = task.history
        order = history.start_input
        if history.signals_named("approve") and history.activities.get(f"charge-{{order['order']}}") is None:
            task.schedule(released.Charge, {{**order, "amount": order["amount"] + 1}})
            return
        super().decide(task)


class Shop(released.Shop):
    workflow_types = [Order, released.Ship]
'''


def recipe() -> str:
    text = (ROOT / "docs" / "recipes.md").read_text()
    return text.split("\n## Replay tests\n", 1)[1].split("\n## ", 1)[0]


def run_pytest(folder: Path, shop_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(shop_dir), str(ROOT)])}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_recipe.py"]
    return subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, timeout=120)


def test_the_recipe_runs_under_pytest_and_fails_on_a_changed_decider(tmp_path: Path) -> None:
    code = "\n\n".join(re.findall(r"```python\n(.*?)```", recipe(), flags=re.S))
    (tmp_path / "test_recipe.py").write_text(code)
    (tmp_path / "histories").mkdir()
    for name in ("order.json", "ship.json"):
        shutil.copy(HISTORIES / name, tmp_path / "histories" / name)
    passed = run_pytest(tmp_path, ROOT / "examples" / "orders")
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "3 passed" in passed.stdout
    changed = tmp_path / "changed"
    changed.mkdir()
    (changed / "shop.py").write_text(CHANGED_SHOP.format(path=str(ROOT / "examples" / "orders" / "shop.py")))
    failed = run_pytest(tmp_path, changed)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "FAILED test_recipe.py::test_the_deciders_decide_what_they_decided[order.json]" in failed.stdout
    assert "FAILED test_recipe.py::test_every_saved_history_replays" in failed.stdout
    assert "2 failed, 1 passed" in failed.stdout  # ship.json still replays
    # the failure the recipe shows is the one pytest prints (but for the file's place and the run's id and time)
    sample = re.search(r"```text\n(.*?)```", recipe(), flags=re.S)
    assert sample is not None

    def same(line: str) -> str:
        line = re.sub(r"\(run \S+\)", "(run RUN)", re.sub(r"at \S+Z,", "at TIME,", line))
        return re.sub(r"(/src/shop/tests|" + re.escape(str(tmp_path)) + r")/histories/order(-42)?\.json", "HISTORY", line).rstrip()

    printed = {same(line) for line in failed.stdout.splitlines()}
    shown = [same(line) for line in sample.group(1).splitlines() if line.startswith(("E ", ">", "    def"))]
    assert len(shown) == 18
    assert [line for line in shown if line not in printed] == []


# -- a re-run reads its source run's history: replay answers it from the source's saved history ------
def test_a_rerun_replays_given_its_source_run(tmp_path: Path) -> None:
    with Environment(Shop) as env:
        with env.workers(Order, Ship, Charge, Pack):
            source = env.domain.start(Order, {"order": 5, "amount": 8, "items": ["mug"]})
            wait_until(lambda: completed_tasks([e.raw for e in source.history()]))
            source.signal("approve", "dave")
            source.result(timeout=30)
            new = env.domain.rerun(source)
            wait_until(lambda: completed_tasks([e.raw for e in new.history()]))
            new.signal("approve", "erin")
            assert new.result(timeout=30)["approved_by"] == "erin"
        assert [m.name for m in new.history().markers][-1] == "flowser.rerun"
        for name, run in (("source.json", source), ("rerun.json", new)):
            generate.save(env, run.workflow_id, str(run.run_id), tmp_path / name)
    with pytest.raises(ReplayMismatch) as raised:
        replay(tmp_path / "rerun.json", Order)
    assert (
        f"decide() called SWF's get_workflow_execution_history of order-5 (run {source.run_id}), "
        "a run replay does not hold (give its history in sources=)"
    ) in str(raised.value)
    result = replay(tmp_path / "rerun.json", Order, sources=[tmp_path / "source.json"])
    assert result.decision_tasks == len(completed_tasks(load_history(tmp_path / "rerun.json").events))


def test_the_dashboard_download_replays_on_every_backend(backend: Backend) -> None:
    domain = backend.domain(MathDomain)
    with workers(domain, ArithmeticWorkflow, MultiplyActivity, SumActivity):
        run = domain.start(ArithmeticWorkflow, {"id": "dash", "operations": [["m", "multiply", [2, 5]], ["s", "sum", [3, 4]]]})
        assert run.result(timeout=30) == {"m": 10, "s": 7}
    path = "/".join(["/ui/d/math/x", quote(run.workflow_id, safe=""), quote(str(run.run_id), safe=""), "history.json"])
    download = UI(backend.client).handle(Request("GET", path, ""))
    assert download.status == 200, download.body[:300]
    result = replay(download.body, ArithmeticWorkflow)
    assert result.runs[0].run_id == run.run_id
    assert result.decision_tasks == len(completed_tasks(load_history(json.loads(download.body)).events)) >= 2
    with pytest.raises(ReplayMismatch, match="input differs"):
        replay(download.body, DoubleMultiply)


# -- retries: the framework's own decisions (backoff timers, later attempts) replay too ----------------
class Flaky(flowser.types.Activity):
    name, version, task_list = "Flaky", "1", "flaky"
    start_to_close_timeout = 60
    retry_policy = flowser.RetryPolicy(maximum_attempts=3, initial_interval=600, backoff_coefficient=2)

    @classmethod
    def get_id_from_input(cls, input: Any) -> str:
        return f"flaky-{input['id']}"

    def handle(self, task: Any) -> None:
        if "~" not in task.activity_id:  # the first attempt fails
            task.fail(reason="not yet")
        else:
            task.complete({"attempt": task.activity_id})


class Persevere(flowser.types.Workflow):
    name, version, task_list = "Persevere", "1", "persevere"
    execution_start_to_close_timeout = 7200

    @classmethod
    def get_id_from_input(cls, input: Any) -> str:
        return f"persevere-{input['id']}"

    def decide(self, task: Any) -> None:
        flaky = task.history.activities.get(f"flaky-{task.start_input['id']}")
        if flaky is None:
            task.schedule(Flaky, task.start_input)
        elif flaky.status == "COMPLETED":
            task.complete_workflow(flaky.result)
        elif not flaky.is_open:
            task.fail_workflow(reason=flaky.reason)


class PersevereSooner(Persevere):
    def decide(self, task: Any) -> None:
        if not task.history.activities.get(f"flaky-{task.start_input['id']}"):
            task.schedule(Flaky, task.start_input, retry_policy=flowser.RetryPolicy(maximum_attempts=3, initial_interval=60))
            return
        super().decide(task)


class Retries(flowser.Domain):
    name = "retries"
    workflow_types = [Persevere]
    activity_types = [Flaky]


def test_a_history_with_a_retry_replays(tmp_path: Path) -> None:
    with Environment(Retries) as env:
        with env.workers(Persevere, Flaky):
            run = env.domain.start(Persevere, {"id": "1"})
            wait_until(lambda: any(e.type == "TimerStarted" for e in run.history()))  # the backoff, after attempt 1 failed
            env.sleep(600)
            assert run.result(timeout=30) == {"attempt": "flaky-1~2"}
        generate.save(env, run.workflow_id, str(run.run_id), tmp_path / "retry.json")
    saved = load_history(tmp_path / "retry.json")
    assert {"ActivityTaskFailed", "TimerStarted", "TimerFired"} <= {e["eventType"] for e in saved.events}
    assert replay(tmp_path / "retry.json", Persevere).decision_tasks == len(completed_tasks(saved.events))
    with pytest.raises(ReplayMismatch) as raised:  # another policy: the first attempt's control holds it
        replay(tmp_path / "retry.json", PersevereSooner)
    assert "decision task 1 of" in str(raised.value) and "control differs" in str(raised.value)
    assert '-    control: {"flowser.retry":{"id":"flaky-1","attempt":1,"policy":{"initial_interval":600.0}}}' in str(raised.value)


# -- a decision SWF refused is compared on what its failure event keeps ---------------------------------
class Unregistered(flowser.types.Activity):
    name, version, task_list = "Unregistered", "1", "nowhere"
    start_to_close_timeout = 60

    @classmethod
    def get_id_from_input(cls, input: Any) -> str:
        return f"nowhere-{input['id']}"


class Hopeful(flowser.types.Workflow):
    name, version, task_list = "Hopeful", "1", "hopeful"
    execution_start_to_close_timeout = 600

    @classmethod
    def get_id_from_input(cls, input: Any) -> str:
        return f"hopeful-{input['id']}"

    def decide(self, task: Any) -> None:
        record = task.history.activities.get(f"nowhere-{task.start_input['id']}")
        if record is None:
            task.schedule(Unregistered, task.start_input)
        else:
            task.fail_workflow(reason=f"could not schedule: {record.cause}")


class HopefulElsewhere(Hopeful):
    def decide(self, task: Any) -> None:
        if not task.history.activities:
            task.schedule(Unregistered, task.start_input, activity_id="elsewhere")
            return
        super().decide(task)


class Hopes(flowser.Domain):
    name = "hopes"
    workflow_types = [Hopeful]  # Unregistered is not registered: SWF refuses to schedule it


def test_a_refused_decision_is_compared_on_its_ids(tmp_path: Path) -> None:
    with Environment(Hopes) as env:
        with env.workers(Hopeful):
            run = env.domain.start(Hopeful, {"id": "1"})
            history = run.wait(timeout=30)
        assert history.close_reason == "could not schedule: ACTIVITY_TYPE_DOES_NOT_EXIST"
        generate.save(env, run.workflow_id, str(run.run_id), tmp_path / "hopeful.json")
    saved = load_history(tmp_path / "hopeful.json")
    refused = next(e for e in saved.events if e["eventType"] == "ScheduleActivityTaskFailed")
    assert replay(tmp_path / "hopeful.json", Hopeful, domain=Hopes).decision_tasks == 2
    with pytest.raises(ReplayMismatch) as raised:
        replay(tmp_path / "hopeful.json", HopefulElsewhere, domain=Hopes)
    lines = str(raised.value).splitlines()
    assert lines[0].endswith("decision task 1 of 2: decision 1 (ScheduleActivityTask): activityId differs")
    assert (
        f"  recorded event {refused['eventId']} ScheduleActivityTaskFailed: SWF refused that decision "
        "(ACTIVITY_TYPE_DOES_NOT_EXIST); compared on activityType, activityId only"
    ) in lines
    assert "-    activityId: nowhere-1" in lines and "+    activityId: elsewhere" in lines
    assert not any("input" in line for line in lines[4:])  # the failure event keeps no input: not compared


# -- what is not replayed: a decision task that timed out, one still open -------------------------------
class SecondTry(flowser.types.Workflow):
    """Completes at once; ``fail_first`` makes its first decision task raise (left to time out: on_decider_error=retry)."""

    name, version, task_list = "SecondTry", "1", "second-try"
    execution_start_to_close_timeout = 600
    task_start_to_close_timeout = 30
    on_decider_error = "retry"
    fail_first: ClassVar[list[bool]] = []

    @classmethod
    def get_id_from_input(cls, input: Any) -> str:
        return f"second-try-{input['id']}"

    def decide(self, task: Any) -> None:
        if self.fail_first:
            self.fail_first.pop()
            raise RuntimeError("first try")
        task.start_timer("settle", 60)


class Tries(flowser.Domain):
    name = "tries"
    workflow_types = [SecondTry]


def test_timed_out_and_open_decision_tasks_are_not_replayed() -> None:
    with Environment(Tries) as env:
        run = env.domain.start(SecondTry, {"id": "1"})
        SecondTry.fail_first[:] = [True]
        assert env.decide(SecondTry) is not None  # raises: left unanswered
        env.sleep(30)  # the decision task times out; SWF schedules another
        assert env.decide(SecondTry) is not None  # starts the timer
        env.sleep(60)  # the timer fires: a third decision task, taken and not answered yet
        open_task = env.domain.poll_decision(SecondTry)
        assert open_task is not None
        events = [e.raw for e in run.history()]
    types = [e["eventType"] for e in events]
    assert types.count("DecisionTaskTimedOut") == 1 and types.count("DecisionTaskCompleted") == 1
    assert types[-1] == "DecisionTaskStarted"
    result = replay(events, SecondTry, execution=run.to_dict())
    assert result.decision_tasks == 1
    task = result.runs[0].tasks[0]
    timed_out = next(e for e in events if e["eventType"] == "DecisionTaskTimedOut")
    assert task.previous_started_event_id == 0  # the timed-out task was never completed
    assert task.started_event_id > timed_out["eventId"]
