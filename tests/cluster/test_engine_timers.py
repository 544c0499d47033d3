"""The engine's own tests of tests/engine/test_timers.py, re-run on the local Redis Cluster (conftest.py)."""

from tests.engine.test_timers import *  # noqa: F403
