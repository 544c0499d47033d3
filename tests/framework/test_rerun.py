"""Re-run from failure (``Domain.rerun``, ``flowser executions rerun``; ``flowser.rerun``) as a user sees it.

A run fails (or is terminated, or times out) after some activities and
children completed; its re-run is a new execution of the same workflowId,
type and input whose decider finds those results COMPLETED and does not run
them again -- the workers ran each once over both runs -- and whose history
has one ``flowser.reused`` marker per reused result saying where it came
from. ``--force`` patterns run matching ones again. On the local engine with
virtual time, and on ``flowser serve`` and moto where noted.
"""

from __future__ import annotations

import inspect
import json
import threading
from collections import Counter
from typing import Any

import pytest

import flowser
from flowser import types
from flowser.history import COMPLETED, REUSED_MARKER
from flowser.rerun import SUMMARY_MARKER
from flowser.testing import Environment, wait_until, workers
from flowser.worker import run_activity_task, run_decision_task

from .conftest import Backend

CALLS: Counter[str] = Counter()
"""Times each activity id ran, over every run (the workers run in-process)."""
FAILING: set[str] = set()
"""Activity ids that fail while listed."""
LOCK = threading.Lock()


class Step(types.Activity):
    name, version, task_list = "Step", "1", "steps"
    start_to_close_timeout = 60

    def run(self, input: Any) -> Any:
        assert self.task is not None
        activity_id = self.task.activity_id
        with LOCK:
            CALLS[activity_id] += 1
        if activity_id in FAILING:
            raise RuntimeError(f"{activity_id} broke")
        return {"step": input["step"], "done": input["step"] * 10}


def run_steps(task: Any, steps: list[int]) -> dict[str, Any] | None:
    """Schedule the first step not done; the results once all are; None while waiting (or after failing)."""
    history = task.history
    results: dict[str, Any] = {}
    for step in steps:
        record = history.activities.get(f"step-{step}")
        if record is None:
            task.schedule(Step, {"step": step}, activity_id=f"step-{step}")
            return None
        if record.status == COMPLETED:
            results[f"step-{step}"] = record.result["done"]
            continue
        if not record.is_open:
            task.fail_workflow(reason=f"step-{step} {record.status}: {record.reason}")
        return None
    return results


class Steps(types.Workflow):
    """Steps 1, 2, 3 one after the other; completes with their results."""

    name, version, task_list = "Steps", "1", "steps-decisions"
    execution_start_to_close_timeout = 3600

    def decide(self, task: Any) -> None:
        results = run_steps(task, [1, 2, 3])
        if results is not None:
            task.complete_workflow(results)


class Chain(types.Workflow):
    """Stage 1 runs step 1 and continues as new with stage 2, which runs steps 2 and 3."""

    name, version, task_list = "Chain", "1", "chain-decisions"
    execution_start_to_close_timeout = 3600

    def decide(self, task: Any) -> None:
        stage = task.history.start_input["stage"]
        results = run_steps(task, [1] if stage == 1 else [2, 3])
        if results is None:
            return
        if stage == 1:
            task.continue_as_new({"stage": 2})
        else:
            task.complete_workflow(results)


class Leaf(types.Workflow):
    name, version, task_list = "Leaf", "1", "leaf-decisions"

    def decide(self, task: Any) -> None:
        with LOCK:
            CALLS["leaf"] += 1
        task.complete_workflow({"leaf": task.start_input})


class Tree(types.Workflow):
    """Starts the Leaf child, then runs step 3."""

    name, version, task_list = "Tree", "1", "tree-decisions"

    def decide(self, task: Any) -> None:
        leaf = task.history.children.get("leaf-1")
        if leaf is None:
            task.start_child(Leaf, 7, workflow_id="leaf-1")
        elif leaf.status == COMPLETED:
            results = run_steps(task, [3])
            if results is not None:
                task.complete_workflow({**results, "leaf": leaf.result})


class RerunDomain(flowser.Domain):
    name = "reruns"
    retention_period = "1"
    workflow_types = [Steps, Chain, Tree, Leaf]
    activity_types = [Step]


@pytest.fixture(autouse=True)
def _fresh() -> None:
    CALLS.clear()
    FAILING.clear()


def reused_markers(history: Any) -> dict[str, dict[str, Any]]:
    return {d["id"]: d for d in (json.loads(m.details) for m in history.markers if m.name == REUSED_MARKER)}


def scheduled(history: Any) -> list[str]:
    return [e.get("activityId") for e in history.filter("ActivityTaskScheduled")]


def test_rerun_reuses_what_completed(backend: Backend) -> None:
    domain = backend.domain(RerunDomain)
    FAILING.add("step-3")
    with workers(domain, Steps, Step):
        first = domain.start(Steps, {"order": 1}, workflow_id="steps-1")
        failed = first.wait(timeout=30)
        assert failed.close_status == "FAILED"
        assert failed.close_reason == "step-3 FAILED: RuntimeError: step-3 broke"
        FAILING.clear()  # the cause is fixed: re-run it
        rerun = domain.rerun("steps-1")
        history = rerun.wait(timeout=30)
    assert rerun.workflow_id == "steps-1" and rerun.run_id != first.run_id
    assert rerun.rerun_of == {"workflowId": "steps-1", "runId": first.run_id}
    assert history.close_status == "COMPLETED", history.close_reason
    assert history.result == {"step-1": 10, "step-2": 20, "step-3": 30}
    assert history.start_input == {"order": 1}
    # steps 1 and 2 ran once over both runs; the re-run scheduled step 3 only
    assert CALLS == Counter({"step-1": 1, "step-2": 1, "step-3": 2})
    assert scheduled(history) == ["step-3"]
    # one marker per reused result, naming where it came from
    markers = reused_markers(history)
    assert sorted(markers) == ["step-1", "step-2"]
    completed = {e.id: e for e in failed.filter("ActivityTaskCompleted")}
    for step, marker in markers.items():
        assert marker["kind"] == "activity" and marker["type"] == {"name": "Step", "version": "1"}
        assert marker["source"]["workflowId"] == "steps-1" and marker["source"]["runId"] == first.run_id
        assert completed[marker["source"]["eventId"]].result == json.loads(marker["result"])
        assert history.activities[step].reused is not None
    summary = json.loads(next(m.details for m in history.markers if m.name == SUMMARY_MARKER))
    assert summary["source"]["runId"] == first.run_id and summary["reused"] == 2
    assert rerun.describe()["executionInfo"]["tagList"] == [f"flowser-rerun={first.run_id}"]


def test_force_runs_matching_ones_again() -> None:
    FAILING.add("step-3")
    with Environment(RerunDomain) as env, env.workers(Steps, Step):
        first = env.domain.start(Steps, {}, workflow_id="steps-f", tag_list=["team-a"])
        assert first.wait(timeout=30).close_status == "FAILED"
        FAILING.clear()
        rerun = env.domain.rerun(first, force=["step-2"])
        history = rerun.wait(timeout=30)
    # the source's tags, then the reference and the forced patterns
    assert history.started.raw_attrs["tagList"] == ["team-a", f"flowser-rerun={first.run_id}", 'flowser-rerun-force=["step-2"]']
    assert history.close_status == "COMPLETED"
    assert CALLS == Counter({"step-1": 1, "step-2": 2, "step-3": 2})
    assert sorted(reused_markers(history)) == ["step-1"]
    assert scheduled(history) == ["step-2", "step-3"]
    summary = json.loads(next(m.details for m in history.markers if m.name == SUMMARY_MARKER))
    assert summary["forced"] == ["step-2"] and summary["force"] == ["step-2"]


def _two_steps_then_stop(env: Environment, workflow_id: str) -> Any:
    """Steps 1 and 2 completed, step 3 scheduled; nobody works it."""
    run = env.domain.start(Steps, {}, workflow_id=workflow_id)
    for _ in range(2):
        env.decide(Steps)
        env.work(Step)
    env.decide(Steps)
    return run


def test_rerun_of_a_terminated_run(backend: Backend) -> None:
    domain = backend.domain(RerunDomain)
    first = domain.start(Steps, {}, workflow_id="steps-t")
    for _ in (1, 2):  # steps 1 and 2 completed; then it is terminated (moto would keep a scheduled step's task)
        run_decision_task(Steps(domain), wait_until(lambda: domain.poll_decision(Steps), timeout=20))
        run_activity_task(Step(domain), wait_until(lambda: domain.poll_activity(Step), timeout=20))
    first.terminate(reason="stuck")
    assert first.wait(timeout=10).close_status == "TERMINATED"
    with workers(domain, Steps, Step):
        history = domain.rerun("steps-t").wait(timeout=30)
    assert history.close_status == "COMPLETED"
    assert CALLS == Counter({"step-1": 1, "step-2": 1, "step-3": 1})
    assert sorted(reused_markers(history)) == ["step-1", "step-2"]


def test_rerun_of_a_timed_out_run() -> None:
    with Environment(RerunDomain) as env:
        first = _two_steps_then_stop(env, "steps-o")
        env.sleep(3600)
        assert first.wait(timeout=10).close_status == "TIMED_OUT"
        with env.workers(Steps, Step):
            history = env.domain.rerun("steps-o").wait(timeout=30)
    assert history.close_status == "COMPLETED"
    assert CALLS == Counter({"step-1": 1, "step-2": 1, "step-3": 1})


def test_rerun_of_an_open_run_is_refused() -> None:
    with Environment(RerunDomain) as env:
        run = env.domain.start(Steps, {}, workflow_id="steps-open")
        with pytest.raises(flowser.exceptions.Error, match="still open"):
            env.domain.rerun(run)


def test_rerun_across_a_continue_as_new_chain(backend: Backend) -> None:
    backend.require("continue_as_new")
    domain = backend.domain(RerunDomain)
    FAILING.add("step-3")
    with workers(domain, Chain, Step):
        first = domain.start(Chain, {"stage": 1}, workflow_id="chain-1")
        with pytest.raises(flowser.exceptions.WorkflowFailed):
            first.result(timeout=30)
        stage1, stage2 = first.run_id, first.followed[-1]
        FAILING.clear()
        rerun = domain.rerun("chain-1")  # the latest run: stage 2, the end of the chain
        history = rerun.wait(timeout=30)
    assert rerun.rerun_of == {"workflowId": "chain-1", "runId": stage2}
    assert history.start_input == {"stage": 2}
    assert history.close_status == "COMPLETED", history.close_reason
    assert CALLS == Counter({"step-1": 1, "step-2": 1, "step-3": 2})
    markers = reused_markers(history)
    assert {step: m["source"]["runId"] for step, m in markers.items()} == {"step-1": stage1, "step-2": stage2}
    summary = json.loads(next(m.details for m in history.markers if m.name == SUMMARY_MARKER))
    assert summary["source"]["chain"] == [stage1, stage2]


def test_rerun_reuses_a_child_workflow(backend: Backend) -> None:
    backend.require("child")
    domain = backend.domain(RerunDomain)
    FAILING.add("step-3")
    with workers(domain, Tree, Leaf, Step):
        first = domain.start(Tree, None, workflow_id="tree-1")
        assert first.wait(timeout=30).close_status == "FAILED"
        FAILING.clear()
        history = domain.rerun(first).wait(timeout=30)
    assert history.close_status == "COMPLETED", history.close_reason
    assert history.result == {"step-3": 30, "leaf": {"leaf": 7}}
    assert CALLS["leaf"] == 1
    assert history.filter("StartChildWorkflowExecutionInitiated") == []
    assert reused_markers(history)["leaf-1"]["kind"] == "child"


def test_rerun_reuses_a_retried_activity_once() -> None:
    policy = flowser.RetryPolicy(maximum_attempts=3, initial_interval=1)

    class Retried(Steps):
        name = "Retried"

        def decide(self, task: Any) -> None:
            history = task.history
            first = history.activities.get("step-1")
            if first is None:
                task.schedule(Step, {"step": 1}, activity_id="step-1", retry_policy=policy)
            elif first.status == COMPLETED:
                results = run_steps(task, [2])
                if results is not None:
                    task.complete_workflow(results)

    class Domain(RerunDomain):
        workflow_types = [Retried]

    FAILING.update({"step-1", "step-2"})
    with Environment(Domain) as env, env.workers(Retried, Step):
        first = env.domain.start(Retried, {}, workflow_id="retried-1")
        wait_until(lambda: first.history().retry_timers, timeout=10)
        FAILING.discard("step-1")
        env.sleep(1)
        assert first.wait(timeout=30).close_status == "FAILED"
        FAILING.clear()
        history = env.domain.rerun(first).wait(timeout=30)
    assert history.close_status == "COMPLETED"
    assert CALLS == Counter({"step-1": 1, "step-1~2": 1, "step-2": 2})
    assert sorted(reused_markers(history)) == ["step-1"]
    assert json.loads(reused_markers(history)["step-1"]["result"]) == {"step": 1, "done": 10}


def test_cli_rerun(capsys: Any) -> None:
    from flowser.cli import main

    FAILING.add("step-3")
    with Environment(RerunDomain) as env, env.workers(Steps, Step):
        first = env.domain.start(Steps, {}, workflow_id="steps-cli")
        first.wait(timeout=30)
        FAILING.clear()
        capsys.readouterr()
        base = ["--backend", env.url, "--domain", "reruns"]
        status = main(["executions", "rerun", "steps-cli", "--run-id", str(first.run_id)[:10], "--force", "step-1", "-o", "json", *base])
        out, err = capsys.readouterr()
        assert status == 0, err
        answer = json.loads(out)
        assert answer["source"] == {"workflowId": "steps-cli", "runId": first.run_id}
        assert answer["force"] == ["step-1"]
        history = env.domain.execution("steps-cli", answer["runId"]).wait(timeout=30)
        assert history.close_status == "COMPLETED"
        assert sorted(reused_markers(history)) == ["step-2"]
        # the table names the new run and its source
        status = main(["executions", "rerun", "steps-cli", *base])
        out, err = capsys.readouterr()
        assert status == 0, err
        shown = dict(line.split(None, 1) if not line.startswith("rerun of") else ("rerun of", line[8:]) for line in out.splitlines())
        assert shown["rerun of"].strip() == answer["runId"]  # the latest run: the first re-run
        assert shown["workflowId"].strip() == "steps-cli" and shown["runId"].strip() not in (first.run_id, answer["runId"])
        # mistakes and faults: one line, no traceback
        again = env.domain.execution("steps-cli").wait(timeout=30)
        assert again.close_status == "COMPLETED"
        status = main(["executions", "rerun", "no-such-run", *base])
        out, err = capsys.readouterr()
        assert status == 1 and err.count("\n") == 1 and "no execution with workflowId 'no-such-run'" in err
        env.domain.start(Steps, {}, workflow_id="steps-open", task_list="nobody-polls")  # stays open
        status = main(["executions", "rerun", "steps-open", *base])
        out, err = capsys.readouterr()
        assert status == 1 and err.count("\n") == 1 and "still open" in err


def test_the_recipe_in_docs_recipes_md_runs_as_printed() -> None:
    import re

    from .conftest import ROOT

    section = (ROOT / "docs" / "recipes.md").read_text().split("\n## Re-runs\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 1
    exec(compile(blocks[0], "docs/recipes.md#re-runs", "exec"), {"__name__": "recipe"})  # its asserts are the test


class Big(Step):
    """Step whose result fills SWF's 32,768 characters: too large for a marker with its envelope."""

    name, task_list = "Big", "big"

    def run(self, input: Any) -> Any:
        super().run(input)
        return "x" * 32_700


class BigSteps(Steps):
    name = "BigSteps"

    def decide(self, task: Any) -> None:
        big = task.history.activities.get("big")
        if big is None:
            task.schedule(Big, {"step": 0}, activity_id="big")
        elif big.status == COMPLETED:
            results = run_steps(task, [1])
            if results is not None:
                task.complete_workflow({**results, "big": len(big.result)})


def test_a_result_too_large_for_a_marker_runs_again() -> None:
    class Domain(RerunDomain):
        workflow_types = [BigSteps]
        activity_types = [Big, Step]

    FAILING.add("step-1")
    with Environment(Domain) as env, env.workers(BigSteps, Big, Step):
        first = env.domain.start(BigSteps, {}, workflow_id="big-1")
        assert first.wait(timeout=30).close_status == "FAILED"
        FAILING.clear()
        history = env.domain.rerun(first).wait(timeout=30)
    assert history.result == {"step-1": 10, "big": 32_700}
    assert CALLS == Counter({"big": 2, "step-1": 2})
    assert reused_markers(history) == {}
    summary = json.loads(next(m.details for m in history.markers if m.name == SUMMARY_MARKER))
    assert summary["notReused"] == ["big"] and summary["reused"] == 0


def test_a_rerun_of_a_rerun_keeps_what_the_first_reused() -> None:
    FAILING.update({"step-2", "step-3"})
    with Environment(RerunDomain) as env, env.workers(Steps, Step):
        first = env.domain.start(Steps, {}, workflow_id="steps-rr")
        assert first.wait(timeout=30).close_status == "FAILED"  # step 1 completed, step 2 failed
        FAILING.discard("step-2")
        second = env.domain.rerun(first)
        assert second.wait(timeout=30).close_status == "FAILED"  # step 1 reused, step 2 completed, step 3 failed
        FAILING.clear()
        third = env.domain.rerun(second)
        history = third.wait(timeout=30)
        marker_ids = {m.event.id for m in second.history().markers if m.name == REUSED_MARKER}
    assert history.close_status == "COMPLETED"
    assert CALLS == Counter({"step-1": 1, "step-2": 2, "step-3": 2})
    markers = reused_markers(history)
    assert sorted(markers) == ["step-1", "step-2"]
    # each says where this run read it: step 1 from the second run's marker, step 2 from its completion
    assert {step: m["source"]["runId"] for step, m in markers.items()} == {"step-1": second.run_id, "step-2": second.run_id}
    assert markers["step-1"]["source"]["eventId"] in marker_ids


def test_the_rerun_tags_fit_swf_limits(capsys: Any) -> None:
    from flowser.cli import main
    from flowser.rerun import rerun_tags

    assert rerun_tags(["team", "flowser-rerun=old"], "r1", ["a*"]) == ["team", "flowser-rerun=r1", 'flowser-rerun-force=["a*"]']
    with pytest.raises(flowser.exceptions.Error, match="5"):
        rerun_tags(["a", "b", "c", "d"], "r1", ["x"])
    with Environment(RerunDomain) as env:
        run = env.domain.start(Steps, {}, workflow_id="steps-tags", tag_list=["a", "b", "c", "d", "e"])
        run.terminate()
        with pytest.raises(flowser.exceptions.Error, match="SWF allows 5"):
            env.domain.rerun(run)
        capsys.readouterr()
        status = main(["executions", "rerun", "steps-tags", "--backend", env.url, "--domain", "reruns", "--force", "p" * 250])
        _, err = capsys.readouterr()
    assert status == 2 and err.count("\n") == 1 and "--force" in err


def test_a_source_that_cannot_be_read_leaves_the_decision_task_to_time_out(monkeypatch: Any) -> None:
    from flowser import rerun as rerun_module

    real, calls = rerun_module.collect, []

    def down_once(*args: Any) -> Any:
        calls.append(args)
        if len(calls) == 1:
            raise ConnectionError("SWF unreachable")
        return real(*args)

    FAILING.add("step-2")
    with Environment(RerunDomain) as env, env.workers(Steps, Step):
        first = env.domain.start(Steps, {}, workflow_id="steps-down")
        assert first.wait(timeout=30).close_status == "FAILED"
        FAILING.clear()
        monkeypatch.setattr(rerun_module, "collect", down_once)
        new = env.domain.rerun(first)
        wait_until(lambda: calls)
        env.sleep(120)  # task_start_to_close_timeout: the unanswered task times out; SWF schedules another
        history = new.wait(timeout=30)
    assert history.close_status == "COMPLETED"
    assert len(history.filter("DecisionTaskTimedOut")) == 1
    assert sorted(reused_markers(history)) == ["step-1"]
    assert CALLS == Counter({"step-1": 1, "step-2": 2, "step-3": 1})


def test_cli_rerun_on_every_backend(backend: Backend, redis_url: str, request: pytest.FixtureRequest, capsys: Any) -> None:
    from flowser.cli import main

    url = {"local": redis_url, "moto": "aws://us-east-1"}.get(backend.name) or request.getfixturevalue("serve_process").url
    domain = backend.domain(RerunDomain)
    FAILING.add("step-2")
    with workers(domain, Steps, Step):
        first = domain.start(Steps, {}, workflow_id="steps-every")
        assert first.wait(timeout=30).close_status == "FAILED"
        FAILING.clear()
        capsys.readouterr()
        status = main(["executions", "rerun", "steps-every", "--backend", url, "--domain", "reruns", "-o", "json"])
        out, err = capsys.readouterr()
        assert status == 0, err
        answer = json.loads(out)
        assert answer["source"] == {"workflowId": "steps-every", "runId": first.run_id}
        history = domain.execution("steps-every", answer["runId"]).wait(timeout=30)
    assert history.close_status == "COMPLETED"
    assert CALLS == Counter({"step-1": 1, "step-2": 2, "step-3": 1})
    assert sorted(reused_markers(history)) == ["step-1"]


def test_the_dashboard_shows_a_rerun_its_source_and_the_reused_results() -> None:
    from flowser.ui.execution import Links, from_events, render_body

    FAILING.add("step-2")
    with Environment(RerunDomain) as env, env.workers(Steps, Step):
        first = env.domain.start(Steps, {}, workflow_id="steps-ui")
        first.wait(timeout=30)
        FAILING.clear()
        new = env.domain.rerun(first)
        raw = [e.raw for e in new.wait(timeout=30)]
    data = from_events(raw, domain="reruns", execution={"workflowId": "steps-ui", "runId": new.run_id})
    page = render_body(data, Links(("d", "reruns", "x", "steps-ui", str(new.run_id)), "reruns"), view="grouped")
    source_link = Links(("d", "reruns", "x", "steps-ui", str(first.run_id)), "reruns").here()
    assert f'<div class="field" id="rerun-of"><dt>Re-run of</dt><dd><a href="{source_link}">{first.run_id}</a>' in page
    assert page.count('<tr data-kind="marker" data-status="RECORDED"') == 2  # flowser.reused (step 1), flowser.rerun
    assert "flowser.reused" in page and "flowser.rerun" in page


def test_a_run_that_is_no_rerun_asks_swf_nothing_more(backend: Backend) -> None:
    """Only moto leaves tags out of WorkflowExecutionStarted: elsewhere a run's first decision task
    learns from its event that it is no re-run, without a DescribeWorkflowExecution call."""
    domain = backend.domain(RerunDomain)
    described: list[str] = []

    def describing(params: dict[str, Any], **_: Any) -> None:
        if any(frame.filename.endswith("flowser/rerun.py") for frame in inspect.stack()):  # not run.wait()'s
            described.append(params["execution"]["workflowId"])

    domain.conn.meta.events.register("before-parameter-build.swf.DescribeWorkflowExecution", describing)
    with workers(domain, Steps, Step):
        run = domain.start(Steps, {"order": 7}, workflow_id="steps-7")
        assert run.wait(timeout=30).close_status == "COMPLETED"
    assert described == (["steps-7"] if backend.name == "moto" else [])
