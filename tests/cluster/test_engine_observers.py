"""The engine's own tests of tests/engine/test_observers.py, re-run on the local Redis Cluster (conftest.py)."""

from tests.engine.test_observers import *  # noqa: F403
