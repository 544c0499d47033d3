"""The same jobs on every backend: the embedded engine (virtual time), a ``flowser serve`` process and
moto (real time, short timers). What moto lacks is skipped, naming the gap.
"""

from __future__ import annotations

import itertools
from typing import Any

from flowser.jobs import Builtins, Job, load_text, start
from flowser.testing import wait_until, workers

from .conftest import Backend
from .test_jobs import RUNS, Jobs, Step, open_counts, python

CORE = """
name: core
max_concurrency: 3
tasks:
  top:
    activity: {name: test.step, version: "1", task_list: steps}
    input: {echo: {from: job, path: id}}
  flaky:
    depends_on: [top]
    activity: {name: test.step, version: "1", task_list: steps}
    input: {fail: {value: 1}, echo: {from: top, path: echo}}
    retry: {maximum_attempts: 3, initial_interval: 1}
  nap: {depends_on: [top], sleep: {seconds: 1}}
  shell:
    depends_on: [top]
    shell: {command: "%s", args: [-c, "print('ok')"]}
  fan-1: {depends_on: [top], activity: {name: test.step, version: "1", task_list: steps}}
  fan-2: {depends_on: [top], activity: {name: test.step, version: "1", task_list: steps}}
  fan-3: {depends_on: [top], activity: {name: test.step, version: "1", task_list: steps}}
  first: {merge: {wait: [flaky, nap], mode: any}}
  every: {merge: {wait: [flaky, nap, shell, fan-1, fan-2, fan-3]}}
  bottom:
    depends_on: [first, every]
    activity: {name: test.step, version: "1", task_list: steps}
    input: {echo: {from: flaky, path: echo}}
"""


def run_until_closed(backend: Backend, run: Any, limit: float = 60.0) -> Any:
    def closed() -> Any:
        if run.is_closed():
            return run.closed_history()
        if backend.virtual_time:  # real time passes by itself meanwhile
            backend.sleep(1)
        return None

    return wait_until(closed, timeout=limit, interval=0.05 if backend.virtual_time else 0.2)


def test_a_job_with_retries_sleeps_merges_and_a_concurrency_limit(backend: Backend) -> None:
    RUNS.clear()
    domain = backend.domain(Jobs)
    spec = load_text(CORE % python()).spec
    # moto is not thread-safe: two decider threads polling it at once may both get a decision task of
    # the same execution (SWF starts one at a time), and the later one's ScheduleActivityTask then
    # fails with ACTIVITY_ID_ALREADY_IN_USE (seen about once in 12 runs): one decider thread there
    deciders = 1 if backend.name == "moto" else 2
    with workers(domain, Job, threads=deciders), workers(domain, Step, Builtins, threads=2):
        run = start(domain, spec, {"id": f"core-{backend.name}"}, workflow_id_=f"core-{backend.name}")
        history = run_until_closed(backend, run)
    assert history.close_status == "COMPLETED", history.close_reason
    result = history.result
    assert result["tasks"]["flaky"] == {"status": "done", "attempts": 2}
    assert result["results"]["bottom"] == {"echo": f"core-{backend.name}", "n": 1}
    assert result["results"]["shell"]["stdout"] == "ok\n"
    timers, running = 0, []
    for event, activities in zip(history.events, open_counts(history), strict=True):
        if event.type == "TimerStarted" and event.raw_attrs["timerId"] == "nap":
            timers += 1
        elif event.type == "TimerFired" and event.raw_attrs["timerId"] == "nap":
            timers -= 1
        running.append(activities + timers)
    assert max(running) == 3  # open activities and the sleep together: the limit, reached and never passed


def test_two_jobs_sharing_a_resource_tag_take_turns(backend: Backend) -> None:
    backend.require("child")  # the lock is started as a child workflow, and granted by external signals
    backend.require("signal_external")
    RUNS.clear()
    domain = backend.domain(Jobs)
    text = "name: {name}\nresource_tags: [printer]\ntasks:\n  nap: {{sleep: {{seconds: 1}}}}\n  print: {{depends_on: [nap], activity: {{name: test.step, version: '1', task_list: steps}}}}\n"
    with workers(domain, Job, threads=3), workers(domain, Step):
        runs = [start(domain, load_text(text.format(name=f"j{n}")).spec, None, workflow_id_=f"{backend.name}-j{n}") for n in range(3)]
        histories = [run_until_closed(backend, run) for run in runs]
        lock = domain.execution("flowser-lock.printer")
        wait_until(lambda: lock.is_closed(), timeout=30)
    assert [h.close_status for h in histories] == ["COMPLETED"] * 3
    spans = sorted(
        (h.timers["nap"].started.time_stamp, max(e.time_stamp for e in h.events if e.type == "ActivityTaskCompleted"))
        for h in histories
    )
    for (_, end), (begin, _) in itertools.pairwise(spans):
        assert end <= begin  # one after the other
    granted = [e.raw_attrs["workflowId"] for e in lock.closed_history().events if e.type == "SignalExternalWorkflowExecutionInitiated"]
    assert sorted(granted) == [f"{backend.name}-j{n}" for n in range(3)]
