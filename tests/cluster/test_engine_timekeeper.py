"""The engine's own tests of tests/engine/test_timekeeper.py, re-run on the local Redis Cluster (conftest.py)."""

from tests.engine.test_timekeeper import *  # noqa: F403

# It counts the commands of one Redis and its blocked clients; on a cluster the timekeeper's wait is on
# the master of swf:tk:wake: test_cluster_timekeeper.py checks every master is left alone instead.
del test_an_idle_timekeeper_with_10000_pending_timers_sends_no_commands  # noqa: F821
