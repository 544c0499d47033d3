"""``flowser job run|restart|status|validate`` and ``flowser worker --builtins`` as a user sees them:
``flowser.cli.main`` in-process (stdout, stderr, exit status), the job decider and workers in threads on
a client of the same backend. The examples/jobs CI job runs end to end on the embedded engine, a
``flowser serve`` process and moto (real time: these jobs have no timers).
"""

from __future__ import annotations

import io
import itertools
import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import flowser
from flowser.cli import main
from flowser.jobs import Builtins, Job, JobLock
from flowser.testing import workers

from . import cli_harness as harness
from .test_jobs import Step

ROOT = Path(__file__).resolve().parents[2]
CI = ROOT / "examples" / "jobs" / "ci.yaml"
DOMAIN = "cli-jobs"


class CliJobs(flowser.Domain):
    name = DOMAIN
    workflow_types = [Job, JobLock]
    activity_types = [Builtins, Step]


class Cli(harness.Cli):
    def __init__(self, name: str, backend: str, client: Any, capsys: Any, monkeypatch: Any) -> None:
        super().__init__(name, backend, client, capsys, monkeypatch, domain=DOMAIN, columns=200)
        self.domain = CliJobs(client)
        self.domain.register()

    def workers(self) -> Any:
        return workers(self.domain, Job, Builtins, Step)

    def runs(self) -> list[str]:
        since = {"oldestDate": 0}
        found = []
        for method in ("list_open_workflow_executions", "list_closed_workflow_executions"):
            infos = getattr(self.client, method)(domain=DOMAIN, startTimeFilter=since).get("executionInfos", [])
            found += [info["execution"]["workflowId"] for info in infos]
        return found


@pytest.fixture(params=harness.BACKENDS)
def cli(request: pytest.FixtureRequest, redis_client: Any, redis_url: str, capsys: Any, monkeypatch: Any) -> Iterator[Cli]:
    with harness.cli_on(request.param, request, redis_url, monkeypatch, lambda *made: Cli(*made, capsys, monkeypatch)) as cli:
        yield cli


@pytest.fixture
def local(redis_client: Any, redis_url: str, capsys: Any, monkeypatch: Any) -> Iterator[Cli]:
    import backends

    client = backends.connect(redis_url, poll_hold=0.3)
    try:
        yield Cli("local", redis_url, client, capsys, monkeypatch)
    finally:
        client.close()


JOB_INPUT = json.dumps({"repo": "github.com/acme/shop", "version": "1.4.0"})


def test_the_ci_example_runs_end_to_end_with_a_live_view(cli: Cli) -> None:
    with cli.workers():
        result = cli("job", "run", str(CI), "--input", JOB_INPUT, "--var", f"PYTHON={sys.executable}", "--var", "BRANCH=release",
                     "--id", "ci-1", "--wait", "--interval", "0.1", "--timeout", "120")
    assert result.status == 0, result.err
    lines = result.out.splitlines()
    assert lines[0].startswith("started job ci: workflowId ci-1 runId ")
    for task in ("checkout", "build", "unit-tests", "lint", "integration-tests", "tests-passed", "package", "notify"):
        assert any(line.startswith(f"{task}: done") for line in lines), (task, result.out)
    assert lines.index(next(x for x in lines if x.startswith("checkout: done"))) < lines.index(next(x for x in lines if x.startswith("build: done")))
    assert "job ci (8/8 done): COMPLETED" in result.out
    history = cli.domain.execution("ci-1").closed_history()
    assert history is not None
    results = history.result["results"]
    assert results["checkout"]["stdout"] == "github.com/acme/shop@release\n"
    assert results["build"]["stdout"] == "built github.com/acme/shop@release\n"
    assert results["notify"]["stdout"] == "notified: shop-1.4.0.tar.gz\n"
    # the three test tasks ran side by side: all scheduled before any of them closed
    events = history.events
    scheduled = [e.id for e in events if e.type == "ActivityTaskScheduled" and e.raw_attrs["activityId"] in ("unit-tests", "lint", "integration-tests")]
    first_close = min(e.id for e in events if e.type == "ActivityTaskCompleted" and e.raw_attrs["scheduledEventId"] in scheduled)
    assert len(scheduled) == 3 and max(scheduled) < first_close

    shown = cli("job", "status", "ci-1")
    assert shown.status == 0, shown.err
    assert "job ci (8/8 done): COMPLETED" in shown.out and "✓ done" in shown.out
    row = next(line for line in shown.out.splitlines() if line.startswith("tests-passed "))
    assert "merge all of" in row  # wide: what each task runs
    cli.monkeypatch.setenv("COLUMNS", "80")
    narrow = cli("job", "status", "ci-1").out.splitlines()
    assert all(len(line) <= 80 for line in narrow), narrow
    # names, states and upstream tasks stay whole on 80 columns; what a task runs is left to validate
    assert any(line.split()[:4] == ["integration-tests", "✓", "done", "1"] for line in narrow), narrow
    assert not any("shell python" in line for line in narrow), narrow


def test_validate_prints_the_graph_and_rejects_a_cycle_before_anything_starts(local: Cli, tmp_path: Path) -> None:
    shown = local("job", "validate", str(CI))
    assert shown.status == 0, shown.err
    assert shown.out.splitlines()[0] == f"{CI}: job ci version 1, 8 tasks, including {CI.parent / 'defaults.yaml'} (max_concurrency 4)"
    assert "  tests-passed: merge all of unit-tests, lint, integration-tests  <- unit-tests, lint, integration-tests" in shown.out

    cycle = tmp_path / "cycle.yaml"
    cycle.write_text("name: loop\ntasks:\n  a: {depends_on: [b], sleep: {seconds: 1}}\n  b:\n    depends_on: [a]\n    sleep: {seconds: 1}\n")
    for command in ("validate", "run"):
        result = local("job", command, str(cycle))
        assert result.status == 2
        assert result.err == f"flowser job {command}: {cycle}:3: tasks.a: dependency cycle: a -> b -> a (each depends on the next)\n"
    assert local.runs() == []  # nothing was started

    several = tmp_path / "several.yaml"
    several.write_text("name: x\ntasks:\n  a: {sleep: {seconds: 1}, depends_on: [nope]}\n  b: {sleep: {seconds: 1}, depends_on: [gone]}\n")
    result = local("job", "validate", str(several))
    assert result.status == 2
    assert result.err.splitlines() == [
        f"flowser job validate: {several}:3: tasks.a.depends_on[0]: unknown task 'nope'",
        f"flowser job validate: {several}:4: tasks.b.depends_on[0]: unknown task 'gone'",
    ]


def test_usage_mistakes_are_one_line_and_exit_2(local: Cli, tmp_path: Path) -> None:
    assert local("job", "run", str(CI), "--var", "oops").err == "flowser job run: --var 'oops': expected NAME=value\n"
    bad = local("job", "run", str(CI), "--input", "{not json")
    assert bad.status == 2 and bad.err.startswith("flowser job run: --input is not JSON")
    big = local("job", "run", str(CI), "--input", json.dumps({"blob": "x" * 40_000}))
    assert big.status == 2
    assert "SWF takes at most 32768 as a workflow input" in big.err and len(big.err.splitlines()) == 1
    missing = local("job", "validate", str(tmp_path / "none.yaml"))
    assert (missing.status, missing.err) == (2, f"flowser job validate: {tmp_path / 'none.yaml'}: cannot read: No such file or directory\n")
    assert local.runs() == []
    with pytest.raises(SystemExit) as exited:  # argparse's, as for every option mistake of flowser worker
        main(["worker", "--builtins", "flowser.jobs:Shell", "--domain", DOMAIN])
    assert exited.value.code == 2
    assert "give TARGET or --builtins, not both" in local.capsys.readouterr().err


def test_a_failed_job_exits_1_and_restart_runs_only_the_failed_branch(local: Cli, tmp_path: Path) -> None:
    from .test_jobs import RUNS

    RUNS.clear()
    job = tmp_path / "job.yaml"
    job.write_text(
        "name: nightly\ntasks:\n"
        "  extract: {activity: {name: test.step, version: '1', task_list: steps}}\n"
        "  report: {depends_on: [extract], activity: {name: test.step, version: '1', task_list: steps}}\n"
        "  load: {depends_on: [extract], activity: {name: test.step, version: '1', task_list: steps}, input: {fail: {value: 1}}}\n"
        "  index: {depends_on: [load], activity: {name: test.step, version: '1', task_list: steps}}\n"
    )
    with local.workers():
        failed = local("job", "run", str(job), "--id", "nightly-1", "--wait", "--interval", "0.1", "--timeout", "60")
        assert failed.status == 1
        assert failed.err == "flowser job run: nightly-1: FAILED: failed: load; not run: index\n"
        assert "load: failed" in failed.out and "index: skipped" in failed.out
        again = local("job", "restart", "nightly-1", "--wait", "--interval", "0.1", "--timeout", "60")
    assert again.status == 0, again.err
    assert again.out.startswith("restarted job nightly-1: runId ")
    assert "extract: done" in again.out and "(reused)" in again.out
    assert RUNS == {"nightly-1/extract": 1, "nightly-1/report": 1, "nightly-1/load": 2, "nightly-1/index": 1}
    unknown = local("job", "restart", "no-such-job")
    assert unknown.status == 1 and len(unknown.err.splitlines()) == 1


def test_flowser_worker_builtins_serves_shell_tasks_as_a_process(local: Cli, tmp_path: Path) -> None:
    job = tmp_path / "job.yaml"
    job.write_text(f"name: hello\ntasks:\n  hi:\n    shell: {{command: '{sys.executable}', args: [-c, 'print(42)']}}\n")
    registered = local("job", "run", str(job), "--id", "hello-1")
    assert registered.status == 0, registered.err
    command = [sys.executable, "-m", "flowser.cli", "worker", "--builtins", "--domain", DOMAIN, "--backend", local.backend]
    worker = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        with workers(local.domain, Job):
            run = local.domain.execution("hello-1")
            history = run.wait(timeout=60)
    finally:
        worker.send_signal(signal.SIGTERM)
        _, err = worker.communicate(timeout=30)
    assert history.close_status == "COMPLETED", history.close_reason
    assert history.result["results"]["hi"]["stdout"] == "42\n"
    assert worker.returncode == 0, err


def test_the_worked_example_in_docs_is_the_one_the_tests_run() -> None:
    import re

    text = (ROOT / "docs" / "jobs.md").read_text()
    blocks = re.findall(r"```yaml\n(.*?)```", text, flags=re.S)
    assert blocks[0] == CI.read_text()
    assert blocks[1] == (CI.parent / "defaults.yaml").read_text()


def test_the_live_view_on_a_terminal_and_status_of_a_run_that_is_no_job(local: Cli) -> None:

    from rich.console import Console

    from flowser.jobs import load_text, start
    from flowser.jobs.progress import watch

    spec = load_text(f"name: tiny\ntasks:\n  one: {{shell: {{command: '{sys.executable}', args: [-c, 'print(1)']}}}}\n  two: {{depends_on: [one], merge: {{wait: [one]}}}}\n").spec
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=160, color_system=None)
    with local.workers():
        run = start(local.domain, spec, None, workflow_id_="tiny-1")
        snap = watch(run, console, interval=0.05, timeout=60)
    assert snap.close_status == "COMPLETED"
    text = screen.getvalue()
    assert "job tiny (2/2 done): COMPLETED" in text
    assert "✓ done" in text and "merge all of one" in text
    assert "2/2 tasks finished" in text and "━" in text  # the progress bar over the table

    local.client.register_workflow_type(domain=DOMAIN, name="Other", version="1", defaultTaskList={"name": "x"},
                                        defaultExecutionStartToCloseTimeout="60", defaultTaskStartToCloseTimeout="10", defaultChildPolicy="TERMINATE")
    local.client.start_workflow_execution(domain=DOMAIN, workflowId="not-a-job", workflowType={"name": "Other", "version": "1"}, input='"x"')
    shown = local("job", "status", "not-a-job")
    assert (shown.status, shown.err) == (1, "flowser job status: not-a-job is not a job (flowser.Job) run\n")


def test_jobs_sharing_a_tag_take_turns_across_decider_processes(redis_client: Any, serve_process: Any, tmp_path: Path) -> None:
    """Two ``flowser decider flowser.jobs:Job`` processes and two workers, on a flowser serve: hosts, in short."""
    import backends

    client = backends.connect(serve_process.url)
    domain = CliJobs(client)
    domain.register()
    from flowser.jobs import load_text, start

    text = "name: {name}\nresource_tags: [deploy]\ntasks:\n  push: {{shell: {{command: '{python}', args: [-c, 'import time; time.sleep(0.3)']}}}}\n"
    command = [sys.executable, "-m", "flowser.cli", "decider", "flowser.jobs:Job", "--domain", DOMAIN, "--backend", serve_process.url]
    worker = [sys.executable, "-m", "flowser.cli", "worker", "--builtins", "--domain", DOMAIN, "--backend", serve_process.url]
    processes = [subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for argv in (command, command, worker, worker)]
    try:
        runs = [start(domain, load_text(text.format(name=f"d{n}", python=sys.executable)).spec, None, workflow_id_=f"deploy-{n}") for n in range(4)]
        histories = [run.wait(timeout=120) for run in runs]
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            process.wait(30)
        client.close()
    assert [h.close_status for h in histories] == ["COMPLETED"] * 4
    spans = sorted((h.activities["push"].scheduled.time_stamp, h.activities["push"].closed.time_stamp) for h in histories)
    assert all(end <= begin for (_, end), (begin, _) in itertools.pairwise(spans))
    deciders = {e.raw_attrs.get("identity", "").split(":")[1] for h in histories for e in h.events if e.type == "DecisionTaskStarted"}
    assert len(deciders) == 2  # both decider processes took part
