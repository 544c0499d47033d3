"""The engine's own tests of tests/engine/test_reset.py, re-run on the local Redis Cluster (conftest.py)."""

from tests.engine.test_reset import *  # noqa: F403
