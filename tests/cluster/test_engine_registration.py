"""The engine's own tests of tests/engine/test_registration.py, re-run on the local Redis Cluster (conftest.py)."""

from tests.engine.test_registration import *  # noqa: F403
