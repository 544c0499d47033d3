"""The engine's own tests of tests/engine/test_sequences.py, re-run on the local Redis Cluster (conftest.py)."""

from tests.engine.test_sequences import *  # noqa: F403
