"""The engine's own tests of tests/engine/test_tasks.py, re-run on the local Redis Cluster (conftest.py)."""

from tests.engine.test_tasks import *  # noqa: F403
