"""freezegun moves the engine's clock: the documented recipe of docs/testing.md."""

from __future__ import annotations

from typing import Any

import redis
from freezegun import freeze_time

from backends.local import connect

from .helpers import attrs, history, poll_decision, setup_domain, start, types


def test_freezegun_tick_then_fire_due(redis_client: redis.Redis, redis_url: str) -> None:
    with freeze_time("2024-01-01 00:00:00") as frozen:
        swf: Any = connect(redis_url, poll_hold=0.2, timekeeper=False)
        try:
            setup_domain(swf)
            run_id = start(swf, taskStartToCloseTimeout="10")
            poll_decision(swf)
            frozen.tick(9)
            assert swf.flowser_engine.fire_due() == 0
            frozen.tick(2)
            assert swf.flowser_engine.fire_due() == 1
            events = history(swf, run_id)
            assert types(events)[3:] == ["DecisionTaskTimedOut", "DecisionTaskScheduled"]
            assert str(events[3]["eventTimestamp"]) == "2024-01-01 00:00:10+00:00"
            assert attrs(events[3]) == {"timeoutType": "START_TO_CLOSE", "scheduledEventId": 2, "startedEventId": 3}
        finally:
            swf.close()
