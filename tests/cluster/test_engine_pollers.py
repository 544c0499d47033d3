"""The engine's own tests of tests/engine/test_pollers.py, re-run on the local Redis Cluster (conftest.py)."""

from tests.engine.test_pollers import *  # noqa: F403
