"""A server test suites can live with: settable quotas, ``flowser reset``, ARNs in the caller's region,
and the ``aws swf`` commands of docs/server.md as printed."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import boto3
import pytest
import redis
from botocore.config import Config
from botocore.exceptions import ClientError

from .conftest import KEY_ID, SECRET, Server, raw, target

FreshRedis = Callable[[], str]


@pytest.fixture
def fresh_redis(redis_url: str) -> Iterator[FreshRedis]:
    """URLs of empty databases of the test Redis (numbers 8 up), away from the other tests' database."""
    used: list[str] = []

    def make() -> str:
        base, _, query = redis_url.partition("?")
        kept = [(k, v) for k, v in parse_qsl(query) if k != "db"]
        url = f"{base}?{urlencode([*kept, ('db', str(8 + len(used)))])}"  # the query's db wins over a path's
        with redis.Redis.from_url(url) as client:
            client.flushdb()
        used.append(url)
        return url

    yield make
    for url in used:
        with redis.Redis.from_url(url) as client:
            client.flushdb()


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
