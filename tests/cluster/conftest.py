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
