"""A server test suites can live with: settable quotas, ``flowser reset``, ARNs in the caller's region,
and the ``aws swf`` commands of docs/server.md as printed."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest
import redis

from .conftest import Server

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
