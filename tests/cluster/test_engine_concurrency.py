"""The engine's own tests of tests/engine/test_concurrency.py, re-run on the local Redis Cluster (conftest.py)."""

from tests.engine.test_concurrency import *  # noqa: F403
