"""The engine's own tests of tests/engine/test_executions.py, re-run on the local Redis Cluster (conftest.py)."""

from tests.engine.test_executions import *  # noqa: F403
