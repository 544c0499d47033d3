"""Backends that speak boto3's SWF client interface.

``backends.local`` is the SWF engine on Redis with an in-process client;
``backends.http`` serves that engine over SWF's own wire protocol.

``connect(url)`` picks a client from one string, for scripts and the CLI:

======================  =========================================================
``None`` / ``"local"``  the local engine on its embedded redis-server
``"redis://..."``       the local engine on that Redis (also ``rediss://``, ``unix://``, and
                        ``redis+cluster://host:port[,host:port...]`` for a Redis Cluster: docs/scaling.md)
``"http://host:port"``  ``boto3.client("swf", endpoint_url=...)`` (``flowser serve``)
``"aws"``               real AWS SWF (``"aws://us-west-2"`` names the region)
======================  =========================================================

Every one is a boto3 SWF client. The boto3 ones get a read timeout above
SWF's 60 s long-poll hold (:data:`READ_TIMEOUT`), so an empty poll is not
mistaken for a dead connection.
"""

from __future__ import annotations

import os
from typing import Any

__all__ = ["READ_TIMEOUT", "connect", "stop_polls"]

READ_TIMEOUT = 70.0
"""Seconds a boto3 client waits for an answer: above the 60 s a poll may be held."""

LOCAL_SCHEMES = ("redis", "rediss", "unix", "redis+cluster", "rediss+cluster")
HTTP_SCHEMES = ("http", "https")


def connect(url: str | None = None, **kw: Any) -> Any:
    """A boto3-style SWF client for ``url`` (see the module docstring).

    Keyword arguments go to ``backends.local.connect`` (``data_dir``,
    ``poll_hold``...) or to ``boto3.client`` (``region_name``, credentials;
    ``read_timeout`` and ``config`` adjust the botocore ``Config``; ``profile_name`` picks
    an AWS profile).
    """
    if url in (None, "", "local"):
        from .local import connect as local_connect

        return local_connect(**kw)
    scheme, sep, rest = url.partition("://")
    if sep and scheme in LOCAL_SCHEMES:
        from .local import connect as local_connect

        return local_connect(url, **kw)
    if sep and scheme in HTTP_SCHEMES:
        return _boto3(endpoint_url=url, unsigned=not _has_credentials(kw), **kw)
    if url == "aws" or (sep and scheme == "aws"):
        if rest:
            kw.setdefault("region_name", rest.strip("/"))
        return _boto3(**kw)
    raise ValueError(
        f"unknown SWF backend {url!r}: use local, redis://..., redis+cluster://..., http://host:port or aws"
    )


def _has_credentials(kw: dict[str, Any]) -> bool:
    return bool(kw.get("aws_access_key_id") or os.environ.get("AWS_ACCESS_KEY_ID") or os.environ.get("AWS_PROFILE"))


def _boto3(
    *,
    endpoint_url: str | None = None,
    unsigned: bool = False,
    read_timeout: float = READ_TIMEOUT,
    config: Any = None,
    region_name: str | None = None,
    profile_name: str | None = None,
    **kw: Any,
) -> Any:
    import boto3
    from botocore import UNSIGNED
    from botocore.config import Config

    settings: dict[str, Any] = {"read_timeout": read_timeout, "connect_timeout": 10, "retries": {"mode": "standard"}}
    if unsigned:
        settings["signature_version"] = UNSIGNED
    merged = Config(**settings)
    if config is not None:
        merged = merged.merge(config)
    region = region_name or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if region is None and endpoint_url is not None:
        region = "us-east-1"  # any region will do for a local endpoint
    session = boto3.session.Session(profile_name=profile_name) if profile_name else boto3
    if region is None and profile_name:
        region = session.region_name  # the profile's own region
    return session.client("swf", endpoint_url=endpoint_url, region_name=region, config=merged, **kw)


def stop_polls(client: Any) -> None:
    """Answer the client's held long polls now (the local engine only; others end on their own)."""
    engine = getattr(client, "flowser_engine", None)
    stop = getattr(engine, "stop_polls", None)
    if callable(stop):
        stop()
