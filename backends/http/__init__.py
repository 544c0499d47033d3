"""SWF's own HTTP protocol in front of the local engine: ``flowser serve``.

* ``app``: requests to answers (routing, SigV4 and permissions, metrics),
  through the engine's wire codec (``backends.local.wire``);
* ``server``: a threaded HTTP/1.1 server built for long polls and bounded clients;
* ``auth``: access keys, SigV4 verification, per-key domain and operation limits;
* ``metrics``: Prometheus text;
* ``serve``: the server process (``main(argv)``, also ``flowser serve``).

See docs/server.md.
"""
