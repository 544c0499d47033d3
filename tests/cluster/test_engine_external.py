"""The engine's own tests of tests/engine/test_external.py, re-run on the local Redis Cluster (conftest.py)."""

from tests.engine.test_external import *  # noqa: F403
