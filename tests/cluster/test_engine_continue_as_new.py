"""The engine's own tests of tests/engine/test_continue_as_new.py, re-run on the local Redis Cluster (conftest.py)."""

from tests.engine.test_continue_as_new import *  # noqa: F403
