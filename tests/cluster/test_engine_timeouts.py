"""The engine's own tests of tests/engine/test_timeouts.py, re-run on the local Redis Cluster (conftest.py)."""

from tests.engine.test_timeouts import *  # noqa: F403
