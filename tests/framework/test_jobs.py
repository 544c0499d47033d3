"""Jobs as YAML (issue 14) as a user sees them: job files run by the flowser.Job decider on the embedded
engine with virtual time (timeouts, sleeps and retry backoffs pass with env.sleep), the results, the
histories and the outcome. The CLI and the other backends: test_jobs_cli.py.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import flowser
from flowser import types
from flowser.jobs import Builtins, Fetch, Job, JobFileError, JobLock, Shell, load, load_text, restart, start
from flowser.testing import Environment, wait_until

RUNS: Counter[str] = Counter()
LOCK = threading.Lock()


class Step(types.Activity):
    """Returns its input and how many times this activityId's task ran; fails while that is <= input.fail."""

    name, version, task_list = "test.step", "1", "steps"
    start_to_close_timeout = 600
    schedule_to_start_timeout = 600

    def run(self, input: Any) -> Any:
        key = f"{self.task.workflow_execution.workflow_id}/{self.task.activity_id.split('~')[0]}"
        with LOCK:
            RUNS[key] += 1
            n = RUNS[key]
        if n <= (input or {}).get("fail", 0):
            raise RuntimeError(f"step broke ({n})")
        return {"echo": (input or {}).get("echo"), "n": n}


class Jobs(flowser.Domain):
    name = "jobs-test"
    workflow_types = [Job, JobLock]
    activity_types = [Shell, Fetch, Step]


@pytest.fixture
def env() -> Iterator[Environment]:
    RUNS.clear()
    with Environment(Jobs) as environment:
        yield environment


def finish(env: Environment, run: Any, step: float = 60, limit: float = 30.0) -> Any:
    """Let virtual time pass (timers, backoffs) until the run closes; its closed history."""

    def closed() -> Any:
        if run.is_closed():
            return run.closed_history()
        env.sleep(step)
        return None

    return wait_until(closed, timeout=limit, interval=0.05)


def open_counts(history: Any) -> list[int]:
    """The number of open activities after each event (ScheduleActivityTask .. its close)."""
    counts, current = [], 0
    for event in history.events:
        if event.type == "ActivityTaskScheduled":
            current += 1
        elif event.type in ("ActivityTaskCompleted", "ActivityTaskFailed", "ActivityTaskTimedOut", "ActivityTaskCanceled"):
            current -= 1
        counts.append(current)
    return counts


DIAMOND = """
name: diamond
tasks:
  top:
    activity: {name: test.step, version: "1", task_list: steps}
    input: {echo: {from: job, path: "$.order.id"}}
  left:
    depends_on: [top]
    activity: {name: test.step, version: "1"}
    input: {echo: {from: top, path: echo}}
  right:
    depends_on: [top]
    shell: {command: "%s", args: [-c, "import json, os; print(json.loads(os.environ['FLOWSER_INPUT'])['n'] * 10)"]}
    input: {n: {from: top, path: n}}
  bottom:
    depends_on: [left, right]
    activity: {name: test.step, version: "1"}
    input: {echo: {value: [1, 2]}}
"""


def python() -> str:
    import sys

    return sys.executable


def test_diamond_feeds_inputs_by_path_and_completes_with_every_result(env: Environment) -> None:
    spec = load_text(DIAMOND % python()).spec
    with env.workers(Job, Step, Builtins):
        run = start(env.domain, spec, {"order": {"id": "o-7"}}, workflow_id_="diamond-1")
        result = run.result(timeout=30)
    assert result["results"]["top"] == {"echo": "o-7", "n": 1}
    assert result["results"]["left"] == {"echo": "o-7", "n": 1}
    assert result["results"]["right"]["stdout"] == "10\n"
    assert result["results"]["bottom"] == {"echo": [1, 2], "n": 1}
    assert {name: t["status"] for name, t in result["tasks"].items()} == dict.fromkeys(["top", "left", "right", "bottom"], "done")
    history = run.closed_history()
    order = [e.raw_attrs["activityId"] for e in history.events if e.type == "ActivityTaskScheduled"]
    assert order[0] == "top" and order[-1] == "bottom" and set(order[1:3]) == {"left", "right"}
    assert history.started.raw_attrs["tagList"] == ["flowser-job:diamond"]


MERGES = """
name: merges
tasks:
  fast: {activity: {name: test.step, version: "1", task_list: steps}, input: {echo: {value: fast}}}
  slow: {sleep: {seconds: 3600}}
  first:
    merge: {wait: [fast, slow], mode: any}
  after-first:
    depends_on: [first]
    activity: {name: test.step, version: "1", task_list: steps}
    input: {echo: {from: first, path: fast.echo}}
  both:
    merge: {wait: [fast, slow], mode: all}
  after-both: {depends_on: [both], activity: {name: test.step, version: "1", task_list: steps}}
"""


def test_merge_any_goes_on_with_the_first_and_merge_all_waits_for_every_one(env: Environment) -> None:
    spec = load_text(MERGES).spec
    with env.workers(Job, Step):
        run = start(env.domain, spec, None, workflow_id_="merges-1")
        wait_until(lambda: run.history().activities.get("after-first") and run.history().activities["after-first"].status == "COMPLETED")
        during = run.history()
        assert during.timers["slow"].status == "STARTED"  # the sleep still runs: "any" did not wait for it
        assert "after-both" not in during.activities  # "all" does
        assert during.activities["after-first"].input == {"echo": "fast"}
        history = finish(env, run, step=600)
    assert history.close_status == "COMPLETED"
    fired = next(e.id for e in history.events if e.type == "TimerFired")
    scheduled = next(e.id for e in history.events if e.type == "ActivityTaskScheduled" and e.raw_attrs["activityId"] == "after-both")
    assert scheduled > fired
    assert history.result["results"]["both"] == {"fast": {"echo": "fast", "n": 1}, "slow": None}


def test_merge_any_of_failures_fails_and_skips_what_follows(env: Environment) -> None:
    spec = load_text(
        """
name: anyfail
tasks:
  a: {activity: {name: test.step, version: "1", task_list: steps}, input: {fail: {value: 9}}}
  b: {activity: {name: test.step, version: "1", task_list: steps}, input: {fail: {value: 9}}}
  ok: {activity: {name: test.step, version: "1", task_list: steps}}
  either: {merge: {wait: [a, b], mode: any}}
  then: {depends_on: [either], activity: {name: test.step, version: "1", task_list: steps}}
"""
    ).spec
    with env.workers(Job, Step):
        run = start(env.domain, spec, None, workflow_id_="anyfail-1")
        with pytest.raises(flowser.exceptions.WorkflowFailed) as failed:
            run.result(timeout=30)
    assert failed.value.reason == "failed: a, b; not run: either, then"
    tasks = failed.value.details["tasks"]
    assert tasks["ok"]["status"] == "done"  # an independent branch runs to its end
    assert tasks["then"]["status"] == "skipped"
    assert "RuntimeError: step broke (1)" in tasks["a"]["reason"]


def test_a_failing_task_is_retried_with_backoff_and_then_succeeds(env: Environment) -> None:
    spec = load_text(
        """
name: flaky
tasks:
  charge:
    activity: {name: test.step, version: "1", task_list: steps}
    input: {fail: {value: 2}, echo: {value: paid}}
    retry: {maximum_attempts: 4, initial_interval: 30, backoff_coefficient: 2}
  receipt: {depends_on: [charge], activity: {name: test.step, version: "1", task_list: steps}, input: {from: charge}}
"""
    ).spec
    with env.workers(Job, Step):
        run = start(env.domain, spec, None, workflow_id_="flaky-1")
        history = finish(env, run, step=30)
    assert history.close_status == "COMPLETED", history.close_reason
    assert history.result["tasks"]["charge"] == {"status": "done", "attempts": 3}
    assert history.result["results"]["charge"] == {"echo": "paid", "n": 3}
    timers = [(e.raw_attrs["timerId"], e.raw_attrs["startToFireTimeout"]) for e in history.events if e.type == "TimerStarted"]
    assert timers == [("charge~2", "30"), ("charge~3", "60")]
    assert [e.raw_attrs["activityId"] for e in history.events if e.type == "ActivityTaskScheduled"] == ["charge", "charge~2", "charge~3", "receipt"]


def test_a_fan_out_of_200_never_runs_more_than_max_concurrency_at_once(env: Environment) -> None:
    tasks = "\n".join(f"  t{i:03}: {{activity: {{name: test.step, version: '1', task_list: steps}}}}" for i in range(200))
    spec = load_text(f"name: fanout\nmax_concurrency: 10\ntasks:\n{tasks}\n  all: {{merge: {{wait: [{', '.join(f't{i:03}' for i in range(200))}]}}}}\n").spec
    with env.workers(Job, Step, threads=4):
        run = start(env.domain, spec, None, workflow_id_="fanout-1")
        history = run.wait(timeout=240)
    assert history.close_status == "COMPLETED", history.close_reason
    counts = open_counts(history)
    assert max(counts) == 10  # reached, never passed
    assert sum(1 for e in history.events if e.type == "ActivityTaskCompleted") == 200
    assert len(history.result["results"]["all"]) == 200


def test_restart_runs_only_the_failed_branch_and_what_follows_it(env: Environment) -> None:
    spec = load_text(
        """
name: branches
tasks:
  fetch-data: {activity: {name: test.step, version: "1", task_list: steps}}
  good: {depends_on: [fetch-data], activity: {name: test.step, version: "1", task_list: steps}}
  cool-down: {depends_on: [fetch-data], sleep: {seconds: 600}}
  bad: {depends_on: [cool-down], activity: {name: test.step, version: "1", task_list: steps}, input: {fail: {value: 1}}}
  after-bad: {depends_on: [bad], activity: {name: test.step, version: "1", task_list: steps}}
  end: {merge: {wait: [good, after-bad]}}
"""
    ).spec
    with env.workers(Job, Step):
        first = start(env.domain, spec, None, workflow_id_="branches-1")
        history = finish(env, first, step=300)
        assert history.close_reason == "failed: bad; not run: after-bad, end"
        again = restart(env.domain, "branches-1")
        history = again.wait(timeout=30)  # no time passes: the sleep is not slept again
        again_twice = restart(env.domain, "branches-1", again.run_id)  # a restart of a restart reuses all of it
        twice = again_twice.wait(timeout=30)
    assert again.run_id != first.run_id
    assert history.close_status == "COMPLETED", history.close_reason
    assert RUNS == {"branches-1/fetch-data": 1, "branches-1/good": 1, "branches-1/bad": 2, "branches-1/after-bad": 1}
    scheduled = [e.raw_attrs["activityId"] for e in history.events if e.type == "ActivityTaskScheduled"]
    assert scheduled == ["bad", "after-bad"]
    assert not [e for e in history.events if e.type == "TimerStarted"]
    assert sorted(r.activity_id for r in history.reused) == ["fetch-data", "good"]
    assert [(m.name, json.loads(m.details or "")) for m in history.markers if m.name == "flowser.job.sleeps"] == [
        ("flowser.job.sleeps", {"source": first.run_id, "done": ["cool-down"]})
    ]
    assert history.result["results"]["bad"] == {"echo": None, "n": 2}
    assert twice.close_status == "COMPLETED"
    assert not [e for e in twice.events if e.type in ("TimerStarted", "ActivityTaskScheduled")]


def test_two_jobs_sharing_a_resource_tag_never_overlap(env: Environment) -> None:
    text = """
name: {name}
resource_tags: [staging-db]
tasks:
  migrate: {{activity: {{name: test.step, version: "1", task_list: steps}}}}
  soak: {{depends_on: [migrate], sleep: {{seconds: 600}}}}
  check: {{depends_on: [soak], activity: {{name: test.step, version: "1", task_list: steps}}}}
"""
    free = load_text("name: free\ntasks:\n  x: {activity: {name: test.step, version: '1', task_list: steps}}\n").spec
    with env.workers(Job, Step):
        a = start(env.domain, load_text(text.format(name="a")).spec, None, workflow_id_="job-a")
        wait_until(lambda: "migrate" in a.history().activities)
        b = start(env.domain, load_text(text.format(name="b")).spec, None, workflow_id_="job-b")
        other = start(env.domain, free, None, workflow_id_="job-free")
        assert other.result(timeout=30)["tasks"]["x"]["status"] == "done"  # no tag: not held up
        wait_until(lambda: any(e.type == "SignalExternalWorkflowExecutionInitiated" for e in b.history().events))
        assert not b.history().activities  # b asked for the lock and waits
        history_a = finish(env, a, step=300)
        history_b = finish(env, b, step=300)
        lock = env.domain.execution("flowser-lock.staging-db")
        wait_until(lambda: lock.is_closed())
    assert history_a.close_status == history_b.close_status == "COMPLETED"

    def span(history: Any) -> tuple[Any, Any]:
        kinds = ("ActivityTaskScheduled", "TimerStarted", "ActivityTaskCompleted", "TimerFired")
        times = [e.time_stamp for e in history.events if e.type in kinds and e.raw_attrs.get("timerId", "soak") == "soak"]
        return min(times), max(times)

    a_span, b_span = span(history_a), span(history_b)
    assert a_span[1] <= b_span[0]  # b's first task after a's last
    lock_history = lock.closed_history()
    granted = [e.raw_attrs["workflowId"] for e in lock_history.events if e.type == "SignalExternalWorkflowExecutionInitiated"]
    assert granted == ["job-a", "job-b"]  # in start order
    assert lock_history.close_status == "COMPLETED"


def test_a_job_with_a_cycle_is_rejected_before_anything_starts(tmp_path: Path) -> None:
    path = tmp_path / "cycle.yaml"
    path.write_text("name: loop\ntasks:\n  a:\n    depends_on: [c]\n    sleep: {seconds: 1}\n  b:\n    depends_on: [a]\n    sleep: {seconds: 1}\n  c:\n    depends_on: [b]\n    sleep: {seconds: 1}\n")
    with pytest.raises(JobFileError) as error:
        load(path)
    assert error.value.problems == [f"{path}:4: tasks.a: dependency cycle: a -> c -> b -> a (each depends on the next)"]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("name: x\ntasks:\n  a: {sleep: {seconds: 1}, depends_on: [zz]}\n", "<job>:3: tasks.a.depends_on[0]: unknown task 'zz'"),
        ("name: x\ntasks:\n  a: {sleep: {seconds: 1}}\n  b:\n    shell: {command: echo}\n    input: {v: {from: a}}\n",
         "<job>:6: tasks.b.input.v.from: 'a' is a task that is not upstream of it (add it to depends_on)"),
        ("name: x\ntasks:\n  a:\n    shell:\n      comand: echo\n", "<job>:5: tasks.a.shell.comand: Extra inputs are not permitted"),
        ("name: x\ntasks:\n  a:\n    sleep: {seconds: -1}\n", "<job>:4: tasks.a.sleep.seconds: Input should be greater than or equal to 0"),
        ("name: x\ntasks:\n  a: {sleep: {seconds: 1}, shell: {command: echo}}\n", "<job>:3: tasks.a: a task is exactly one of activity, shell, fetch, sleep, merge (this one: shell and sleep)"),
        ("name: x\ntasks:\n  a:\n    shell: {command: '${NOPE}'}\n", "<job>:4: tasks.a.shell.command: ${NOPE}: no such variable (give --var NOPE=... or vars: {NOPE: ...})"),
        ("name: x\ntasks:\n  m: {merge: {wait: [m]}}\n", "<job>:3: tasks.m.merge.wait[0]: a task cannot depend on itself"),
        ("tasks: [1, 2]\n", "<job>:1: name: Field required"),
        ("name: x\ntasks:\n  a: {sleep: {seconds: 1}}\n  b:\n    depends_on: [a]\n    shell: {command: echo}\n    input: {from: a, value: 3}\n",
         "<job>:7: tasks.b.input: give exactly one of 'value' (a constant) or 'from' (job or a task name)"),
        ("name: x\ntasks:\n  a:\n    shell: {command: echo}\n    input:\n      k: {from: job, pth: 3}\n", "<job>:6: tasks.a.input.k.pth: Extra inputs are not permitted"),
        ("name: x\ntasks:\n  a: {merge: {wait: [b], mode: some}}\n  b: {sleep: {seconds: 1}}\n", "<job>:3: tasks.a.merge.mode: Input should be 'all' or 'any'"),
        ("name: x\ntasks:\n  a: {fetch: {url: 'http://x', sha256: abc}}\n", "<job>:3: tasks.a.fetch.sha256: sha256 must be 64 hexadecimal digits"),
        ("name: x\ntasks:\n  a:\n    sleep: {seconds: 1}\n    retry: {maximum_attempts: 2}\n", "<job>:3: tasks.a: a sleep is an SWF timer: it has no retry"),
        ("name: x\nresource_tags: ['a b']\ntasks:\n  a: {sleep: {seconds: 1}}\n", "<job>:2: resource_tags: resource tag 'a b': letters, digits, '_ . -' only, at most 200 (it is part of a workflowId)"),
        ("name: x\ntasks:\n  arn: {sleep: {seconds: 1}}\n", "<job>:3: tasks.arn: 'arn' cannot be a task name: SWF refuses it as an activityId"),
        ("name: x\ntasks:\n  a: {sleep: {seconds: 1}}\n  job: {sleep: {seconds: 1}}\n", "<job>:4: tasks.job: 'job' is reserved (from: job names the job input)"),
        ("name: x\ntasks:\n  'a b': {sleep: {seconds: 1}}\n", "<job>:3: tasks.a b: task name 'a b': letters, digits, '_', '.', '-' only, at most 80"),
        ("name: x\ntasks:\n  a: [oops\n", "<job>:4: not YAML: expected ',' or ']', but got '<stream end>'"),
    ],
)
def test_mistakes_name_the_line_and_the_field(text: str, problem: str) -> None:
    with pytest.raises(JobFileError) as error:
        load_text(text)
    assert problem in error.value.problems


def test_include_merges_maps_and_replaces_lists_and_vars_fill_strings(tmp_path: Path) -> None:
    (tmp_path / "base.yaml").write_text(
        "vars: {WHO: base}\nmax_concurrency: 2\nresource_tags: [one, two]\ntasks:\n  a:\n    shell: {command: echo, args: [base], env: {A: '1'}}\n"
    )
    (tmp_path / "job.yaml").write_text(
        "include: [base.yaml]\nname: inc\nresource_tags: [three]\ntasks:\n  a:\n    shell: {args: ['${WHO}', '${ENV:JOB_TEST_HOME}', '$${literal}'], env: {B: '2'}}\n"
    )
    loaded = load(tmp_path / "job.yaml", {"WHO": "cli"}, environ={"JOB_TEST_HOME": "/home/x"})
    shell = loaded.spec.tasks["a"].shell
    assert shell is not None
    assert shell.command == "echo"
    assert shell.args == ["cli", "/home/x", "${literal}"]  # the list replaced, variables filled
    assert shell.env == {"A": "1", "B": "2"}  # the maps merged
    assert loaded.spec.max_concurrency == 2 and loaded.spec.resource_tags == ["three"]
    (tmp_path / "bad.yaml").write_text("include: [base.yaml]\nname: inc\ntasks:\n  a:\n    shell: {cwd: 3}\n")
    with pytest.raises(JobFileError) as error:
        load(tmp_path / "bad.yaml")
    assert error.value.problems == [f"{tmp_path / 'bad.yaml'}:5: tasks.a.shell.cwd: Input should be a valid string"]


def test_shell_exit_code_and_fetch_checksum_decide_success(env: Environment, tmp_path: Path) -> None:
    payload = tmp_path / "artifact.bin"
    payload.write_bytes(b"flowser" * 1000)
    good = hashlib.sha256(payload.read_bytes()).hexdigest()
    spec = load_text(
        f"""
name: builtins
tasks:
  ok: {{shell: {{command: "{python()}", args: [-c, "import os; print(os.environ['MODE'])"], env: {{MODE: fast}}, cwd: "{tmp_path}"}}}}
  exit3: {{shell: {{command: "{python()}", args: [-c, "import sys; print('oops', file=sys.stderr); sys.exit(3)"]}}}}
  missing: {{shell: {{command: /no/such/program}}}}
  get: {{fetch: {{url: "{payload.as_uri()}", sha256: {good}, dest: "{tmp_path / 'copy.bin'}"}}}}
  corrupt: {{fetch: {{url: "{payload.as_uri()}", sha256: "{'0' * 64}"}}}}
"""
    ).spec
    with env.workers(Job, Builtins):
        run = start(env.domain, spec, None, workflow_id_="builtins-1")
        history = run.wait(timeout=30)
    assert history.close_status == "FAILED"
    activities = history.activities
    assert activities["ok"].result == {"exit_code": 0, "stdout": "fast\n", "stderr": ""}
    assert activities["exit3"].reason == "exit code 3"
    assert '"stderr": "oops\\n"' in activities["exit3"].closed.raw_attrs["details"]
    assert activities["missing"].reason.startswith("cannot run /no/such/program")
    assert activities["get"].result == {"path": str(tmp_path / "copy.bin"), "sha256": good, "bytes": 7000}
    assert (tmp_path / "copy.bin").read_bytes() == payload.read_bytes()
    assert activities["corrupt"].reason == "checksum mismatch"
    assert history.close_reason == "failed: exit3, missing, corrupt"


def test_a_schedule_starts_the_job_every_night(env: Environment) -> None:
    from flowser import schedules
    from flowser.jobs import schedule_action

    spec = load_text(
        "name: nightly-report\ntasks:\n  report:\n    activity: {name: test.step, version: '1', task_list: steps}\n"
        "    input: {echo: {from: job, path: kind}}\n"
    ).spec
    schedules.create(env.client, Jobs.name, "reports", spec=schedules.Spec(every=86400), action=schedule_action(spec, {"kind": "sales"}))
    since = {"oldestDate": 0}

    def runs() -> list[Any]:
        infos = env.client.list_closed_workflow_executions(domain=Jobs.name, startTimeFilter=since, tagFilter={"tag": "flowser-job:nightly-report"})
        return sorted(infos["executionInfos"], key=lambda i: i["startTimestamp"])

    with env.workers(schedules.Schedule, Job, Step):
        for night in (1, 2):
            env.sleep(86400)
            wait_until(lambda night=night: len(runs()) == night and runs()[-1]["closeStatus"] == "COMPLETED")
    first = env.domain.execution(runs()[0]["execution"]["workflowId"])
    assert first.workflow_id.startswith("nightly-report-")
    assert first.result(timeout=10)["results"]["report"]["echo"] == "sales"


def test_ready_tasks_start_by_priority_and_a_missing_input_path_fails_the_task(env: Environment) -> None:
    step = "{name: test.step, version: '1', task_list: steps}"
    spec = load_text(
        f"name: prio\nmax_concurrency: 1\ntasks:\n  low: {{activity: {step}, priority: 1}}\n  high: {{activity: {step}, priority: 5}}\n"
        f"  plain: {{activity: {step}}}\n  reader: {{depends_on: [plain], activity: {step}, input: {{x: {{from: plain, path: missing.key}}}}}}\n"
    ).spec
    with env.workers(Job, Step):
        run = start(env.domain, spec, None, workflow_id_="prio-1")
        history = run.wait(timeout=30)
    scheduled = [e.raw_attrs["activityId"] for e in history.events if e.type == "ActivityTaskScheduled"]
    assert scheduled == ["high", "low", "plain"]
    assert history.close_reason == "failed: reader"
    assert history.close_details["tasks"]["reader"]["reason"] == "input: 'missing.key' is not in the result of plain"


def test_a_canceled_job_releases_its_tag_and_a_terminated_waiter_loses_its_turn(env: Environment) -> None:
    text = "name: {name}\nresource_tags: [gpu]\ntasks:\n  train: {{sleep: {{seconds: 3600}}}}\n  save: {{depends_on: [train], activity: {{name: test.step, version: '1', task_list: steps}}}}\n"
    spec = {name: load_text(text.format(name=name)).spec for name in "abc"}
    with env.workers(Job, Step):
        a = start(env.domain, spec["a"], None, workflow_id_="gpu-a")
        wait_until(lambda: "train" in a.history().timers)
        b = start(env.domain, spec["b"], None, workflow_id_="gpu-b")
        lock = env.domain.execution("flowser-lock.gpu")
        wait_until(lambda: sum(e.type == "WorkflowExecutionSignaled" for e in lock.history().events) == 1)
        c = start(env.domain, spec["c"], None, workflow_id_="gpu-c")
        wait_until(lambda: sum(e.type == "WorkflowExecutionSignaled" for e in lock.history().events) == 2)
        b.terminate(reason="not needed")  # b waits in the queue: its grant cannot be delivered, c goes next
        a.request_cancel()
        history_a = a.wait(timeout=30)
        assert history_a.close_status == "CANCELED"
        assert history_a.timers["train"].status == "CANCELED"  # the sleep was canceled with the job
        history_c = wait_until(lambda: c.history().timers.get("train") and c.history())
        assert "train" in history_c.timers
        finished = finish(env, c, step=1800)
        wait_until(lock.is_closed)
    assert finished.close_status == "COMPLETED"
    assert b.closed_history().close_status == "TERMINATED"
    lock_events = lock.closed_history().events
    assert [e.raw_attrs["cause"] for e in lock_events if e.type == "SignalExternalWorkflowExecutionFailed"] == [
        "UNKNOWN_EXTERNAL_WORKFLOW_EXECUTION"  # the grant to b, terminated
    ]
    granted = [e.raw_attrs["workflowId"] for e in lock_events if e.type == "SignalExternalWorkflowExecutionInitiated"]
    assert granted == ["gpu-a", "gpu-b", "gpu-c"]


def test_a_lock_continues_as_new_with_its_queue(env: Environment, monkeypatch: pytest.MonkeyPatch) -> None:
    from flowser.jobs import locks

    monkeypatch.setattr(locks, "CONTINUE_AFTER", 2)
    text = "name: {name}\nresource_tags: [one]\ntasks:\n  nap: {{sleep: {{seconds: 60}}}}\n"
    with env.workers(Job):
        runs = [start(env.domain, load_text(text.format(name=f"n{i}")).spec, None, workflow_id_=f"n{i}") for i in range(5)]
        histories = [finish(env, run, step=30) for run in runs]
        lock = env.domain.execution("flowser-lock.one")
        wait_until(lock.is_closed)
    assert [h.close_status for h in histories] == ["COMPLETED"] * 5
    spans = sorted((h.timers["nap"].started.time_stamp, h.timers["nap"].closed.time_stamp) for h in histories)
    assert all(end <= begin for (_, end), (begin, _) in itertools.pairwise(spans))
    last = lock.closed_history()
    assert last.close_status == "COMPLETED"
    since = {"oldestDate": 0}
    closed = env.client.list_closed_workflow_executions(domain=Jobs.name, startTimeFilter=since, executionFilter={"workflowId": "flowser-lock.one"})
    statuses = sorted(info["closeStatus"] for info in closed["executionInfos"])
    assert "CONTINUED_AS_NEW" in statuses


def test_a_task_that_nobody_takes_times_out_and_is_retried_in_virtual_time(env: Environment) -> None:
    spec = load_text(
        """
name: unserved
tasks:
  orphan:
    activity: {name: test.step, version: "1", task_list: nobody-polls-this}
    timeouts: {schedule_to_start: 300, start_to_close: 60, schedule_to_close: 3600, heartbeat: 60}
    retry: {maximum_attempts: 2, initial_interval: 10}
"""
    ).spec
    with env.workers(Job):
        run = start(env.domain, spec, None, workflow_id_="unserved-1")
        wait_until(lambda: "orphan" in run.history().activities)
        history = finish(env, run, step=300)
    assert history.close_reason == "failed: orphan"
    timeouts = [e.raw_attrs["timeoutType"] for e in history.events if e.type == "ActivityTaskTimedOut"]
    assert timeouts == ["SCHEDULE_TO_START", "SCHEDULE_TO_START"]
    assert history.close_details["tasks"]["orphan"]["attempts"] == 2
    scheduled = [e.raw_attrs for e in history.events if e.type == "ActivityTaskScheduled"]
    assert [a["scheduleToStartTimeout"] for a in scheduled] == ["300", "300"]
    assert [a["taskList"]["name"] for a in scheduled] == ["nobody-polls-this"] * 2


def test_the_job_decider_replays_its_own_histories_without_a_mismatch(env: Environment) -> None:
    from flowser.testing import replay

    spec = load_text(MERGES).spec
    retried = load_text(
        "name: again\ntasks:\n  flaky:\n    activity: {name: test.step, version: '1', task_list: steps}\n"
        "    input: {fail: {value: 1}}\n    retry: {maximum_attempts: 3, initial_interval: 5}\n"
        "  after: {depends_on: [flaky], sleep: {seconds: 60}}\n"
    ).spec
    with env.workers(Job, Step):
        runs = [start(env.domain, spec, None, workflow_id_="replay-1"), start(env.domain, retried, None, workflow_id_="replay-2")]
        histories = [finish(env, run, step=60) for run in runs]
    for run, history in zip(runs, histories, strict=True):
        assert history.close_status == "COMPLETED"
        result = replay([e.raw for e in history.events], Job, domain=Jobs, execution=run.to_dict())
        completed = sum(e.type == "DecisionTaskCompleted" for e in history.events)
        assert result.decision_tasks == completed and result.decisions >= len(history.activities) + 1


def test_canceling_a_job_asks_its_running_activities_to_cancel(env: Environment) -> None:
    spec = load_text(
        "name: stuck\ntasks:\n  waits: {activity: {name: test.step, version: '1', task_list: nobody-polls-this}}\n"
        "  naps: {sleep: {seconds: 600}}\n  later: {depends_on: [waits], activity: {name: test.step, version: '1', task_list: steps}}\n"
    ).spec
    with env.workers(Job):
        run = start(env.domain, spec, None, workflow_id_="stuck-1")
        wait_until(lambda: "waits" in run.history().activities and "naps" in run.history().timers)
        run.request_cancel()
        history = run.wait(timeout=30)
    assert history.close_status == "CANCELED"
    assert [e.raw_attrs["activityId"] for e in history.events if e.type == "ActivityTaskCancelRequested"] == ["waits"]
    assert [e.raw_attrs["timerId"] for e in history.events if e.type == "TimerCanceled"] == ["naps"]
    assert "later" not in history.activities


def test_canceling_a_job_stops_its_running_shell_command(env: Environment, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import os

    monkeypatch.setattr(Shell, "heartbeat_every", 0.1)
    pid_file = tmp_path / "pid"
    spec = load_text(
        f"name: long\ntasks:\n  forever:\n    shell: {{command: '{python()}', args: [-c, \"import os, pathlib, time; pathlib.Path('{pid_file}').write_text(str(os.getpid())); time.sleep(120)\"]}}\n"
    ).spec

    def gone(pid: int) -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False

    with env.workers(Job, Builtins):
        run = start(env.domain, spec, None, workflow_id_="long-1")
        pid = int(wait_until(lambda: pid_file.exists() and pid_file.read_text()))
        assert not gone(pid)
        run.request_cancel()
        history = run.wait(timeout=30)
        wait_until(lambda: gone(pid))  # the worker stopped the program: its task is gone with the run
    assert history.close_status == "CANCELED"
    assert [e.raw_attrs["activityId"] for e in history.events if e.type == "ActivityTaskCancelRequested"] == ["forever"]


def test_an_any_merge_goes_on_past_a_failure_but_the_job_still_fails(env: Environment) -> None:
    step = "{name: test.step, version: '1', task_list: steps}"
    spec = load_text(
        f"name: partial\ntasks:\n  bad: {{activity: {step}, input: {{fail: {{value: 9}}}}}}\n  good: {{activity: {step}, input: {{echo: {{value: g}}}}}}\n"
        f"  either: {{merge: {{wait: [bad, good], mode: any}}}}\n  then: {{depends_on: [either], activity: {step}, input: {{echo: {{from: either, path: good.echo}}}}}}\n"
    ).spec
    with env.workers(Job, Step):
        run = start(env.domain, spec, None, workflow_id_="partial-1")
        history = run.wait(timeout=30)
    assert history.close_status == "FAILED"
    assert history.close_reason == "failed: bad"
    assert history.activities["then"].status == "COMPLETED" and history.activities["then"].input == {"echo": "g"}
    assert history.close_details["tasks"]["either"] == {"status": "done"}
