"""Backends for the framework tests: the same tests on the local engine, moto and ``flowser serve``.

``backend`` is parametrized: ``local`` (the engine in-process, virtual time),
``moto`` (``moto.mock_aws``, real time) and ``http`` (a ``flowser serve``
process on the session's Redis, driven by ``backends.connect("http://...")``).
Each gives a boto3 SWF client, a way to let time pass and what it lacks.
The arithmetic example's modules are importable as ``workflows`` / ``activities``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

import flowser
from tests.conftest import database_url
from tests.serve_process import ServeProcess
from tests.serve_process import free_port as free_port  # for the tests that take a port of their own

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "arithmetic"
if str(EXAMPLE) not in sys.path:
    sys.path.insert(0, str(EXAMPLE))

MOTO_LACKS = {
    "child": "moto's SWF raises NotImplementedError for StartChildWorkflowExecution decisions",
    "cancel_activity": "moto's SWF has no RequestCancelActivityTask decision nor RespondActivityTaskCanceled",
    "continue_as_new": "moto's SWF raises NotImplementedError for ContinueAsNewWorkflowExecution decisions",
    "signal_external": "moto's SWF raises NotImplementedError for SignalExternalWorkflowExecution decisions",
}


class Backend:
    def __init__(self, name: str, client: Any, sleep: Callable[[float], Any], lacks: dict[str, str] | None = None) -> None:
        self.name = name
        self.client = client
        self.sleep = sleep
        self.lacks = lacks or {}
        self.virtual_time = name in ("local", "cluster")

    def domain(self, domain_cls: type[flowser.Domain]) -> flowser.Domain:
        domain = domain_cls(self.client)
        domain.register()
        return domain

    def require(self, feature: str) -> None:
        if feature in self.lacks:
            pytest.skip(self.lacks[feature])


def http_available() -> bool:
    return (ROOT / "backends" / "http" / "serve.py").exists()


SERVE_DB = 7
"""The session's ``flowser serve`` keeps to a database of its own: its timekeeper, on the real
clock, would otherwise fire the deadlines of the tests that share database 0 on a clock of their own."""


@pytest.fixture(scope="session")
def serve_session(redis_url: str) -> Iterator[ServeProcess]:
    url = database_url(redis_url, SERVE_DB)
    with redis.Redis.from_url(url) as client:
        client.flushdb()
    process = ServeProcess(url)
    yield process
    process.stop()


@pytest.fixture
def serve_process(serve_session: ServeProcess) -> ServeProcess:
    """The session's ``flowser serve``, on an empty database."""
    with redis.Redis.from_url(serve_session.redis_url) as client:
        client.flushdb()
    return serve_session


@pytest.fixture(scope="session")
def backends_cluster() -> Iterator[str]:
    """A local Redis Cluster, 3 masters and 3 replicas (tests/cluster/local_cluster.py): its URL."""
    from tests.cluster.local_cluster import LocalCluster

    with LocalCluster.start() as running:
        yield running.url


@pytest.fixture(params=["local", "moto", "http"])
def backend(request: pytest.FixtureRequest, redis_client: Any, redis_url: str) -> Iterator[Backend]:
    """``cluster`` (test_backends.py asks for it): the local engine, virtual time, on a Redis Cluster."""
    if request.param == "cluster":
        from redis.cluster import RedisCluster

        from backends.local.testing import LocalEnvironment

        url = request.getfixturevalue("backends_cluster")
        seed = url.removeprefix("redis+cluster://").split(",")[0].split(":")
        with RedisCluster(host=seed[0], port=int(seed[1])) as client:
            client.flushall(target_nodes=RedisCluster.PRIMARIES)
        env = LocalEnvironment(url, poll_hold=0.3)
        try:
            yield Backend("cluster", env.client, env.sleep)
        finally:
            env.close()
    elif request.param == "local":
        from backends.local.testing import LocalEnvironment

        env = LocalEnvironment(redis_url, poll_hold=0.3)
        try:
            yield Backend("local", env.client, env.sleep)
        finally:
            env.close()
    elif request.param == "moto":
        import boto3
        from moto import mock_aws

        monkeypatch = request.getfixturevalue("monkeypatch")
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        # moto answers an empty poll after sleep(1) (no long poll): shorten that wait
        monkeypatch.setattr("moto.swf.models.sleep", lambda seconds: time.sleep(min(seconds, 0.05)))
        with mock_aws():
            yield Backend("moto", boto3.client("swf", region_name="us-east-1"), time.sleep, MOTO_LACKS)
    else:
        if not http_available():
            pytest.skip("backends/http/serve.py is not in the repository yet")
        import backends

        server = request.getfixturevalue("serve_process")
        client = backends.connect(server.url)
        try:
            yield Backend("http", client, time.sleep)
        finally:
            client.close()
