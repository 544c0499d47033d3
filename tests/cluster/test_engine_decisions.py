"""The engine's own tests of tests/engine/test_decisions.py, re-run on the local Redis Cluster (conftest.py)."""

from tests.engine.test_decisions import *  # noqa: F403
