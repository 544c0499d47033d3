"""The engine's own tests of tests/engine/test_children.py, re-run on the local Redis Cluster (conftest.py)."""

from tests.engine.test_children import *  # noqa: F403
