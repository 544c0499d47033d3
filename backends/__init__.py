"""Backends that speak boto3's SWF client interface.

``backends.local`` is the SWF engine on Redis with an in-process client;
``backends.http`` serves that engine over SWF's own wire protocol.
"""
