"""The server's tests of tests/http/test_held_polls.py, re-run with every `flowser serve` on the local Redis Cluster."""

from tests.http.conftest import domain, serve, server  # noqa: F401 (their fixtures, on the cluster's redis_url)
from tests.http.test_held_polls import *  # noqa: F403
