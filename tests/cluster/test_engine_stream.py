"""The engine's own tests of tests/engine/test_stream.py, re-run on the local Redis Cluster (conftest.py)."""

from tests.engine.test_stream import *  # noqa: F403

# It shares the store's connection pool with a raw redis.Redis to make one EXEC fail, which has no
# equivalent on a cluster's per-node pools; test_cluster_store.py checks the same on a cluster.
del test_a_transaction_that_fails_writes_neither_events_nor_entries  # noqa: F821
