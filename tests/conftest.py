"""Shared fixtures: one real embedded redis-server for the session, a clean database per test.

``redis_url`` is that server (or ``$FLOWSER_TEST_REDIS_URL``, any Redis >= 6.2);
``swf`` is the engine's in-process boto3 client with a running timekeeper;
``env`` is a virtual-time environment (``backends.local.testing``) whose clock
the test owns.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest
import redis

from backends.local import connect
from backends.local.embedded import EmbeddedRedis


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    given = os.environ.get("FLOWSER_TEST_REDIS_URL")
    if given:
        yield given
        return
    # the server stops just after its last user leaves: ignore a socket it is still removing
    with tempfile.TemporaryDirectory(prefix="flt", dir="/tmp", ignore_cleanup_errors=True) as data_dir:
        server = EmbeddedRedis.acquire(data_dir)
        try:
            yield server.url
        finally:
            server.close()


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def swf(redis_client: redis.Redis, redis_url: str) -> Iterator[Any]:
    client = connect(redis_url, poll_hold=2.0)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def env(redis_client: redis.Redis, redis_url: str) -> Iterator[Any]:
    from backends.local.testing import LocalEnvironment

    environment = LocalEnvironment(redis_url, poll_hold=0.5)
    try:
        yield environment
    finally:
        environment.close()


FreshRedis = Callable[[], str]


def database_url(redis_url: str, db: int) -> str:
    """``redis_url`` with database ``db`` (the query's ``db`` wins over a path's)."""
    base, _, query = redis_url.partition("?")
    kept = [(k, v) for k, v in parse_qsl(query) if k != "db"]
    return f"{base}?{urlencode([*kept, ('db', str(db))])}"


@pytest.fixture
def fresh_redis(redis_url: str) -> Iterator[FreshRedis]:
    """``fresh_redis()``: the URL of an empty database of the test Redis (number 8 up, one more per
    call), away from the database the other tests share and flush; emptied again afterwards."""
    used: list[str] = []

    def make() -> str:
        url = database_url(redis_url, 8 + len(used))
        with redis.Redis.from_url(url) as client:
            client.flushdb()
        used.append(url)
        return url

    yield make
    for url in used:
        with redis.Redis.from_url(url) as client:
            client.flushdb()
