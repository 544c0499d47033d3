"""A server test suites can live with: settable quotas, ``flowser reset``, ARNs in the caller's region,
and the ``aws swf`` commands of docs/server.md as printed."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
import redis
from botocore.config import Config
from botocore.exceptions import ClientError

from flowser.testing import wait_until

from ..conftest import FreshRedis
from .conftest import KEY_ID, ROOT, SECRET, Server, raw, register_basics, target


def register_domains(swf: Any, names: range, prefix: str = "q") -> None:
    for n in names:
        swf.register_domain(name=f"{prefix}{n}", workflowExecutionRetentionPeriodInDays="1")


# -- quotas ------------------------------------------------------------------------------------------
def test_domain_quota_is_settable_and_defaults_to_swfs(serve: Callable[..., Server], fresh_redis: FreshRedis) -> None:
    url = fresh_redis()
    default = serve("--poll-hold", "1", redis=url).client()
    register_domains(default, range(100))
    with pytest.raises(default.exceptions.LimitExceededFault, match="Limit of 100 domains reached"):
        register_domains(default, range(100, 101))
    # a server on the same store with a raised quota takes the 101st and up to 150
    raised = serve("--poll-hold", "1", "--max-domains", "150", redis=url).client()
    register_domains(raised, range(100, 150))
    with pytest.raises(raised.exceptions.LimitExceededFault, match="Limit of 150 domains reached"):
        register_domains(raised, range(150, 151))
    assert len(raised.list_domains(registrationStatus="REGISTERED", maximumPageSize=1000)["domainInfos"]) == 150


def test_type_and_open_execution_quotas_are_settable(
    serve: Callable[..., Server], fresh_redis: FreshRedis
) -> None:
    server = serve("--poll-hold", "1", "--max-types", "2", "--max-open-executions", "1", redis=fresh_redis())
    swf = server.client()
    swf.register_domain(name="quotas", workflowExecutionRetentionPeriodInDays="1")
    workflow = {"defaultTaskList": {"name": "tl"}, "defaultExecutionStartToCloseTimeout": "60",
                "defaultTaskStartToCloseTimeout": "10", "defaultChildPolicy": "TERMINATE"}
    for version in ("1", "2"):
        swf.register_workflow_type(domain="quotas", name="wf", version=version, **workflow)
    with pytest.raises(swf.exceptions.LimitExceededFault, match="Limit of 2 types reached"):
        swf.register_workflow_type(domain="quotas", name="wf", version="3", **workflow)
    swf.register_activity_type(domain="quotas", name="act", version="1")  # activity types count apart
    swf.start_workflow_execution(domain="quotas", workflowId="one", workflowType={"name": "wf", "version": "1"})
    with pytest.raises(swf.exceptions.LimitExceededFault, match="open executions"):
        swf.start_workflow_execution(domain="quotas", workflowId="two", workflowType={"name": "wf", "version": "1"})


def test_quotas_reach_the_in_process_client(fresh_redis: FreshRedis) -> None:
    from backends.local import EngineConfig, connect

    swf = connect(fresh_redis(), config=EngineConfig(max_domains=2), timekeeper=False)
    try:
        register_domains(swf, range(2))
        with pytest.raises(swf.exceptions.LimitExceededFault, match="Limit of 2 domains reached"):
            register_domains(swf, range(2, 3))
    finally:
        swf.close()


def test_quota_options_refuse_nonsense(serve: Callable[..., Server]) -> None:
    bad = serve("--max-domains", "0", wait=False)
    assert bad.proc.wait(30) == 2
    assert any("--max-domains: must be >= 1" in line for line in bad.errors)


# -- flowser reset -----------------------------------------------------------------------------------
def flowser_reset(
    *args: str, answer: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``flowser reset ARGS``; ``answer`` is typed at its question (None: no stdin at all)."""
    environ = {k: v for k, v in os.environ.items() if k not in ("FLOWSER_REDIS_URL", "FLOWSER_DATA_DIR")}
    return subprocess.run(
        [sys.executable, "-m", "flowser.cli", "reset", *args], cwd=ROOT, input=answer, env={**environ, **(env or {})},
        stdin=subprocess.DEVNULL if answer is None else None, capture_output=True, text=True, timeout=60,
    )


WF = {"name": "wf", "version": "1"}


def use_everything(swf: Any, domain: str) -> None:
    """A domain whose existence the server has cached (polls, counts), with an open run and a task."""
    register_basics(swf, domain)
    swf.start_workflow_execution(domain=domain, workflowId="w1", workflowType=WF)
    assert swf.poll_for_decision_task(domain=domain, taskList={"name": "tl"})["taskToken"]
    assert swf.count_pending_activity_tasks(domain=domain, taskList={"name": "tl"})["count"] == 0
    swf.start_workflow_execution(domain=domain, workflowId="w2", workflowType=WF)


def assert_gone(swf: Any, domain: str) -> None:
    """Every call about the domain fails at once: nothing of it is left, in Redis or in a cache."""
    gone = swf.exceptions.UnknownResourceFault
    with pytest.raises(gone, match=f"Unknown domain: {domain}"):
        swf.describe_domain(name=domain)
    with pytest.raises(gone):  # the server had cached the domain for polls and counts: not held, refused
        swf.poll_for_decision_task(domain=domain, taskList={"name": "tl"})
    with pytest.raises(gone):
        swf.poll_for_activity_task(domain=domain, taskList={"name": "tl"})
    with pytest.raises(gone):
        swf.count_pending_decision_tasks(domain=domain, taskList={"name": "tl"})
    with pytest.raises(gone):
        swf.describe_workflow_type(domain=domain, workflowType=WF)
    with pytest.raises(gone):
        swf.start_workflow_execution(domain=domain, workflowId="w1", workflowType=WF)


def assert_usable_again(swf: Any, domain: str) -> None:
    register_basics(swf, domain)
    run_id = swf.start_workflow_execution(domain=domain, workflowId="w1", workflowType=WF)["runId"]
    task = swf.poll_for_decision_task(domain=domain, taskList={"name": "tl"})
    assert task["workflowExecution"]["runId"] == run_id
    assert [e["eventType"] for e in task["events"]][-1] == "DecisionTaskStarted" and len(task["events"]) == 3


def test_reset_wipes_the_store_of_a_running_server(serve: Callable[..., Server], fresh_redis: FreshRedis) -> None:
    url = fresh_redis()
    server = serve("--poll-hold", "1", redis=url)
    swf = server.client()
    use_everything(swf, "before")
    with redis.Redis.from_url(url) as other:
        other.set("rq:job:1", "not flowser's")
        other.rpush("rq:queue:default", "1")
        done = flowser_reset("--redis", url, "--yes")
        assert done.returncode == 0, done.stderr
        assert done.stderr == "" and "deleted 1 domain(s)" in done.stdout
        assert "1 running engine(s) dropped their caches" in done.stdout, done.stdout
        assert_gone(swf, "before")
        assert other.get("rq:job:1") == b"not flowser's" and other.llen("rq:queue:default") == 1
        assert other.keys("swf:*") == []
    assert_usable_again(swf, "before")
    assert server.proc.poll() is None


def test_a_poll_held_across_a_reset_takes_the_next_task(serve: Callable[..., Server], fresh_redis: FreshRedis) -> None:
    import threading

    url = fresh_redis()
    server = serve("--poll-hold", "20", redis=url)
    swf = server.client()
    use_everything(swf, "held")
    answers: list[dict[str, Any]] = []
    poller = threading.Thread(
        target=lambda: answers.append(server.client().poll_for_decision_task(domain="held", taskList={"name": "tl2"}))
    )
    poller.start()
    wait_until(lambda: b"flowser_polls_held 1" in raw(server.url, None, b"", method="GET", path="/metrics")[2])
    assert flowser_reset("--redis", url, "--yes").returncode == 0
    register_basics(swf, "held", task_list="tl2")
    run_id = swf.start_workflow_execution(domain="held", workflowId="w1", workflowType=WF)["runId"]
    poller.join(10)
    assert answers and answers[0]["workflowExecution"]["runId"] == run_id


def test_reset_asks_first(serve: Callable[..., Server], fresh_redis: FreshRedis) -> None:
    url = fresh_redis()
    swf = serve("--poll-hold", "1", redis=url).client()
    use_everything(swf, "kept")
    for answer in (None, "", "no\n", "n\n", "yess\n"):
        done = flowser_reset("--redis", url, answer=answer)
        assert done.returncode == 1, (answer, done.stderr)
        assert "Delete all flowser data" in done.stderr and "(1 domain(s)" in done.stderr
        # (a terminal echoes the answer's newline; without one, the refusal has a line of its own)
        assert done.stderr.endswith("flowser reset: not confirmed, nothing deleted (--yes skips the question)\n")
        assert swf.describe_domain(name="kept")["domainInfo"]["name"] == "kept"
    done = flowser_reset("--redis", url, answer="yes\n")
    assert done.returncode == 0, done.stderr
    assert_gone(swf, "kept")


def test_reset_of_the_embedded_redis_of_a_data_dir(serve: Callable[..., Server], tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    server = serve("--poll-hold", "1", "--data-dir", str(data_dir), redis=None)
    swf = server.client()
    use_everything(swf, "embedded")
    done = flowser_reset("--data-dir", str(data_dir), "-y")
    assert done.returncode == 0, done.stderr
    assert f"in the embedded Redis of {data_dir}" in done.stdout and "1 running engine(s)" in done.stdout
    assert_gone(swf, "embedded")
    assert_usable_again(swf, "embedded")
    assert flowser_reset("--data-dir", str(tmp_path / "none"), "--yes").returncode == 0  # nothing there


def test_reset_finds_the_store_as_serve_does(serve: Callable[..., Server], fresh_redis: FreshRedis, tmp_path: Path) -> None:
    url = fresh_redis()
    swf = serve("--poll-hold", "1", redis=url).client()
    use_everything(swf, "by-url")
    done = flowser_reset("--yes", env={"FLOWSER_REDIS_URL": url})
    assert done.returncode == 0 and "deleted 1 domain(s)" in done.stdout, done
    assert_gone(swf, "by-url")
    data_dir = tmp_path / "data"
    swf = serve("--poll-hold", "1", redis=None, env={"FLOWSER_DATA_DIR": str(data_dir)}).client()
    use_everything(swf, "by-dir")
    done = flowser_reset("--yes", env={"FLOWSER_DATA_DIR": str(data_dir)})
    assert done.returncode == 0 and f"in the embedded Redis of {data_dir}" in done.stdout, done
    assert_gone(swf, "by-dir")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--redis", "nope://x"), "flowser reset: cannot reach nope://x: Redis URL must specify"),
        (("--redis", "redis://127.0.0.1:1/0"), "flowser reset: cannot reach redis://127.0.0.1:1/0: Error 111"),
        (("--redis", "redis://user:secret@127.0.0.1:1/0"), "flowser reset: cannot reach redis://127.0.0.1:1/0:"),
    ],
)
def test_reset_errors_are_one_line(args: tuple[str, ...], message: str) -> None:
    done = flowser_reset(*args, "--yes")
    assert done.returncode == 2 and done.stdout == ""
    assert len(done.stderr.splitlines()) == 1 and done.stderr.startswith(message), done.stderr
    assert "secret" not in done.stderr


# -- ARNs in the region the caller signed for ---------------------------------------------------------
def regional_client(server: Server, region: str, key: str = KEY_ID, secret: str = SECRET) -> Any:
    return boto3.session.Session().client(
        "swf", region_name=region, endpoint_url=server.url, aws_access_key_id=key, aws_secret_access_key=secret,
        config=Config(retries={"max_attempts": 1, "mode": "standard"}),
    )


def arn(region: str, domain: str) -> str:
    return f"arn:aws:swf:{region}:000000000000:/domain/{domain}"


def test_domain_arns_carry_the_region_the_caller_signed_for(serve: Callable[..., Server], domain: str) -> None:
    server = serve("--poll-hold", "1", "--region", "ap-south-1")
    ireland, virginia = regional_client(server, "eu-west-1"), regional_client(server, "us-east-1")
    ireland.register_domain(name=domain, workflowExecutionRetentionPeriodInDays="1")
    assert ireland.describe_domain(name=domain)["domainInfo"]["arn"] == arn("eu-west-1", domain)
    assert virginia.describe_domain(name=domain)["domainInfo"]["arn"] == arn("us-east-1", domain)
    listed = ireland.list_domains(registrationStatus="REGISTERED", maximumPageSize=1000)["domainInfos"]
    assert {d["arn"] for d in listed if d["name"] == domain} == {arn("eu-west-1", domain)}
    # the tag operations take the ARN of the caller's region, and only that one
    ireland.tag_resource(resourceArn=arn("eu-west-1", domain), tags=[{"key": "team", "value": "a"}])
    assert ireland.list_tags_for_resource(resourceArn=arn("eu-west-1", domain))["tags"] == [{"key": "team", "value": "a"}]
    with pytest.raises(virginia.exceptions.UnknownResourceFault):
        virginia.list_tags_for_resource(resourceArn=arn("eu-west-1", domain))
    assert virginia.list_tags_for_resource(resourceArn=arn("us-east-1", domain))["tags"] == [{"key": "team", "value": "a"}]
    # a request without a signature: --region
    status, _, body = raw(server.url, target("DescribeDomain"), {"name": domain})
    assert status == 200 and json.loads(body)["domainInfo"]["arn"] == arn("ap-south-1", domain)
    # a scope that is no region name is not copied into ARNs
    odd = {"Authorization": "AWS4-HMAC-SHA256 Credential=AKID/20261203/EU WEST/swf/aws4_request, SignedHeaders=host, Signature=0"}
    status, _, body = raw(server.url, target("DescribeDomain"), {"name": domain}, odd)
    assert status == 200 and json.loads(body)["domainInfo"]["arn"] == arn("ap-south-1", domain)


def test_access_denied_names_the_signed_region(
    serve: Callable[..., Server], tmp_path: Path, domain: str
) -> None:
    path = tmp_path / "credentials.json"
    path.write_text(json.dumps({"keys": [
        {"access_key_id": KEY_ID, "secret_access_key": SECRET},
        {"access_key_id": "AKIDMINE", "secret_access_key": "mine", "domains": [domain]},
    ]}))
    server = serve("--poll-hold", "1", "--credentials", str(path))
    regional_client(server, "us-west-2").register_domain(name="other", workflowExecutionRetentionPeriodInDays="1")
    limited = regional_client(server, "eu-central-1", "AKIDMINE", "mine")
    with pytest.raises(ClientError) as denied:
        limited.describe_domain(name="other")
    assert denied.value.response["Error"]["Code"] == "AccessDeniedException"
    assert denied.value.response["Error"]["Message"].endswith(f"on resource: {arn('eu-central-1', 'other')}")
    with pytest.raises(ClientError) as denied:
        limited.list_tags_for_resource(resourceArn=arn("eu-central-1", "other"))
    assert denied.value.response["Error"]["Code"] == "AccessDeniedException"


def test_in_process_client_keeps_its_region(redis_client: Any, redis_url: str) -> None:
    from backends.local import connect

    swf = connect(redis_url, region_name="eu-north-1", timekeeper=False)
    try:
        swf.register_domain(name="nordic", workflowExecutionRetentionPeriodInDays="1")
        assert swf.describe_domain(name="nordic")["domainInfo"]["arn"] == arn("eu-north-1", "nordic")
    finally:
        swf.close()


# -- the aws swf commands of docs/server.md, as printed ----------------------------------------------
DOCS_ENDPOINT = "http://127.0.0.1:8765"


def documented_aws_blocks() -> list[str]:
    """The ```sh blocks of docs/server.md that run ``aws swf``; no ``aws swf`` command outside them."""
    text = (ROOT / "docs" / "server.md").read_text()
    blocks = re.findall(r"^```sh\n(.*?)^```$", text, flags=re.S | re.M)
    runnable = [b for b in blocks if "aws swf" in b]
    outside = re.sub(r"^```sh\n.*?^```$", "", text, flags=re.S | re.M)
    assert not re.search(r"aws swf [a-z]", outside), "an `aws swf` command outside a ```sh block is not tested"
    return runnable


def test_documented_aws_cli_commands_work_as_printed(
    serve: Callable[..., Server], fresh_redis: FreshRedis, tmp_path: Path
) -> None:
    blocks = documented_aws_blocks()
    assert len(blocks) >= 2 and sum(b.count("aws swf ") for b in blocks) >= 3
    server = serve("--poll-hold", "1", redis=fresh_redis())
    home = tmp_path / "home"
    home.mkdir()
    # a machine with no AWS configuration: no AWS_* variables, an empty home, the CLI on PATH
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(HOME=str(home), PATH=f"{Path(sys.executable).parent}:/usr/bin:/bin")
    outputs = []
    for block in blocks:
        script = "set -euo pipefail\n" + block.replace(DOCS_ENDPOINT, server.url)
        done = subprocess.run(["bash", "-c", script], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, (block, done.stderr)
        outputs.append(done.stdout)
    assert not any(home.iterdir())  # nothing was configured along the way
    swf = server.client()
    assert swf.describe_domain(name="demo")["domainInfo"]["arn"] == arn("us-east-1", "demo")
    assert '"name": "demo"' in "".join(outputs)
    # the same commands without the variables fail as the docs say they would
    bare = subprocess.run(["aws", "swf", "list-domains", "--registration-status", "REGISTERED",
                           "--endpoint-url", server.url], env=env, capture_output=True, text=True, timeout=60)
    assert bare.returncode != 0 and "region" in bare.stderr
