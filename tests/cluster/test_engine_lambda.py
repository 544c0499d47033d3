"""The engine's own tests of tests/engine/test_lambda.py, re-run on the local Redis Cluster (conftest.py)."""

from tests.engine.test_lambda import *  # noqa: F403
