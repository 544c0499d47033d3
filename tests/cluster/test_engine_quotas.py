"""The engine's own tests of tests/engine/test_quotas.py, re-run on the local Redis Cluster (conftest.py)."""

from tests.engine.test_quotas import *  # noqa: F403
