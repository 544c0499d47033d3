"""The engine's own tests of tests/engine/test_timekeeper.py, re-run on the local Redis Cluster (conftest.py)."""

from tests.engine.test_timekeeper import *  # noqa: F403
