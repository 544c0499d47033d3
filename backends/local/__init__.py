"""The local SWF engine on Redis, and its in-process boto3 client.

    import backends.local
    swf = backends.local.connect()                 # private embedded redis-server
    swf = backends.local.connect("redis://host:6379/0")
    swf.register_domain(name="demo", workflowExecutionRetentionPeriodInDays="1")

``connect`` returns a real botocore SWF client answered in-process by the
engine (see ``client``), and starts a timekeeper thread that fires timeouts
and timers on time. ``client.close()`` stops both and releases the embedded
server, which stops when its last user has gone.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from .clock import Clock, ManualClock, SystemClock
from .engine import Engine, EngineConfig
from .store import RedisStore

__all__ = ["Clock", "Engine", "EngineConfig", "ManualClock", "SystemClock", "connect", "open_engine"]


def open_store(url: str | None = None, *, data_dir: str | os.PathLike[str] | None = None) -> RedisStore:
    """A store on ``url`` (or ``$FLOWSER_REDIS_URL``), else on the embedded server of ``data_dir``."""
    url = url or os.environ.get("FLOWSER_REDIS_URL") or None
    if url:
        return RedisStore.from_url(url)
    from .embedded import EmbeddedRedis

    server = EmbeddedRedis.acquire(Path(data_dir) if data_dir is not None else None)
    try:
        return RedisStore.from_url(server.url, owner=server)
    except Exception:
        server.close()
        raise


def open_engine(
    url: str | None = None,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    clock: Clock | None = None,
    config: EngineConfig | None = None,
) -> Engine:
    return Engine(open_store(url, data_dir=data_dir), clock, config)


def connect(
    url: str | None = None,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    clock: Clock | None = None,
    poll_hold: float | None = None,
    empty_poll_token: Literal["absent", "empty"] | None = None,
    config: EngineConfig | None = None,
    timekeeper: bool = True,
    lambdas: dict[str, Callable[[str | None], Any]] | None = None,
    region_name: str = "us-east-1",
) -> Any:
    """A boto3 SWF client backed by the local engine (embedded Redis unless ``url`` is given).

    Empty polls answer ``taskToken: ""``, as AWS documents; ``empty_poll_token="absent"``
    leaves it out, as moto does. SWF's quotas and limits come from ``config``
    (``EngineConfig(max_domains=..., max_types=..., max_open_executions=...)``);
    ``region_name`` is the region of domain ARNs.
    ``lambdas`` maps Lambda function names to Python callables that run for
    ``ScheduleLambdaFunction`` decisions (see ``lambdas``).
    """
    from .client import local_client
    from .lambdas import LambdaRunner
    from .timekeeper import Timekeeper

    config = config or EngineConfig()
    if poll_hold is not None:
        config.poll_hold = poll_hold
    if empty_poll_token is not None:
        config.empty_poll_token = empty_poll_token
    config.region = region_name
    engine = open_engine(url, data_dir=data_dir, clock=clock, config=config)
    keeper = Timekeeper(engine).start() if timekeeper else None
    runner = LambdaRunner(engine, lambdas).start() if lambdas else None

    def on_close() -> None:
        if runner is not None:
            runner.stop()
        if keeper is not None:
            keeper.stop()
        engine.store.close()

    return local_client(engine, region_name=region_name, on_close=on_close)
