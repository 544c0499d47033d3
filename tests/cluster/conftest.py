"""The session's local Redis Cluster (3 masters, 3 replicas; ``local_cluster.py``), started once.

Tests here are marked ``cluster``. ``cluster`` is the running ``LocalCluster``;
``cluster_url`` its ``redis+cluster://`` URL. The engine suite re-run on the
cluster (``test_engine_on_cluster.py``) gets ``redis_url`` and ``redis_client``
overridden: the cluster's URL and a ``RedisCluster`` client over an emptied
cluster, so the engine's own tests run unchanged against it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from redis.cluster import RedisCluster

from .local_cluster import LocalCluster


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/cluster/" in item.nodeid.replace("\\", "/"):
            item.add_marker(pytest.mark.cluster)


@pytest.fixture(scope="session")
def cluster() -> Iterator[LocalCluster]:
    with LocalCluster.start() as running:
        yield running


@pytest.fixture(scope="session")
def cluster_url(cluster: LocalCluster) -> str:
    return cluster.url


@pytest.fixture
def cluster_client(cluster: LocalCluster) -> Iterator[Any]:
    """A redis-py ``RedisCluster`` over the emptied cluster."""
    cluster.wait_healthy()
    cluster.flush()
    client = RedisCluster(host="127.0.0.1", port=cluster.masters()[0].port)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture(scope="session")
def redis_url(cluster_url: str) -> str:
    """The engine's tests, re-run here (``test_engine_*.py``), get the cluster's URL."""
    return cluster_url


@pytest.fixture
def redis_client(cluster_client: Any) -> Any:
    """... and a ``RedisCluster`` client over the emptied cluster where they flush a database."""
    return cluster_client


@pytest.fixture
def fresh_redis(cluster: LocalCluster) -> Any:
    """``fresh_redis()``: the emptied cluster, as the plain ``redis://`` URL of one of its masters (the
    engine finds the cluster through it, and so does a wipe given a client of that URL). A cluster has
    one database (0): a test that asks for a second one, beside the first, is about databases and does
    not apply to a cluster."""
    given: list[str] = []

    def make() -> str:
        if given:
            pytest.skip("a Redis Cluster has one database (0): no second database beside the first")
        cluster.wait_healthy()
        cluster.flush()
        url = f"redis://127.0.0.1:{cluster.masters()[0].port}/0"
        given.append(url)
        return url

    return make


@pytest.fixture
def private_url(cluster: LocalCluster) -> str:
    """The timekeeper tests' own Redis: here the emptied cluster, named by the plain ``redis://`` URL of
    the master of their domain's slot (the engine finds the cluster through it; the tests' raw client
    reads that domain's keys there)."""
    from redis.crc import key_slot

    from backends.local.keys import DomainKeys
    from tests.engine.helpers import DOMAIN

    cluster.wait_healthy()
    cluster.flush()
    return f"redis://127.0.0.1:{cluster.master_of_slot(key_slot(DomainKeys(DOMAIN).types.encode())).port}/0"
