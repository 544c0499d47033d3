"""A small threaded HTTP/1.1 server, built for long polls: one thread per connection.

Why not ``http.server``: it cannot bound the time a client takes to send its
request (a slow client holds a thread forever), answers bad requests with
HTML, and cannot be drained gracefully. This one reads requests on the raw
socket with deadlines, always answers through the handler's own error
format, and shuts down in steps (``HttpServer.stop_accepting``, ``wait_idle``, ``close``).

A connection is served by one thread: it waits for a request (at most
``idle_timeout``), reads its head (``header_timeout`` from the first byte)
and body (``body_timeout``; ``Content-Length`` or chunked, at most
``max_body`` bytes), calls the handler, and writes the response (at most
``write_timeout``). A response may instead be a stream (``Response.stream``:
server-sent events), written piece by piece as chunks, after which the
connection closes. A thread waiting on Redis for a long poll, or on its
socket for the next request, is blocked in the kernel and uses no CPU;
what it costs is its stack (only the touched pages count) and two file
descriptors (the client's socket and a Redis connection).
"""

from __future__ import annotations

import logging
import os
import re
import selectors
import signal
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from email.utils import formatdate
from http import HTTPStatus
from typing import Protocol
from urllib.parse import urlsplit

log = logging.getLogger("flowser.http")

_TOKEN = rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_REQUEST_LINE = re.compile(rb"(" + _TOKEN + rb") ([^\x00-\x20\x7f]+) (HTTP/[0-9]\.[0-9])")
_HEADER_LINE = rb"(?:" + _TOKEN + rb":[^\x00\r\n]*\r?)"
_METHOD_START = frozenset(bytes([c]) for c in b"ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_PEEK = int(socket.MSG_PEEK | socket.MSG_DONTWAIT)
"""recv flags of a look that leaves the byte and never blocks (an int: IntFlag's ``|`` is slow)."""
_HEADER_BLOCK = re.compile(_HEADER_LINE + rb"(?:\n" + _HEADER_LINE + rb")*")


@dataclass
class Limits:
    """Bounds on what one client may cost; every one is enforced per request."""

    max_body: int = 1 << 20
    """Largest request body, in bytes (SWF's field limits keep real requests far below 1 MiB)."""
    max_head: int = 32 << 10
    """Largest request line plus headers, in bytes."""
    header_timeout: float = 10.0
    """Seconds from a request's first byte to the end of its headers."""
    body_timeout: float = 30.0
    """Seconds to receive a request's body once its headers are in."""
    idle_timeout: float = 75.0
    """Seconds a kept-alive connection may wait for its next request."""
    write_timeout: float = 30.0
    """Seconds to send one response."""
    max_connections: int = 4096
    """Open connections at once; past it, a new one gets 503 and is closed."""


@dataclass
class Request:
    method: str
    target: str
    path: str
    query: str
    version: str
    headers: dict[str, str]
    """Lower-cased names; repeated headers joined with ``,``."""
    body: bytes
    peer: str
    connection: ConnectionWatch | None = None
    """What a long-running handler (a held poll) may ask of the client's connection."""


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes = b""
    close: bool = False
    abandon: bool = False
    """Send nothing and close the connection: the client stopped listening, or shares it with another."""
    stream: Iterable[bytes] | None = None
    """A body sent as it is made, instead of ``body`` (server-sent events): each piece goes out at
    once, as one chunk (HTTP/1.1 chunked; to an HTTP/1.0 client, bare, the end of the body being the
    connection's), and the connection closes after the last. Each write has ``write_timeout``; a
    client that goes makes the next write fail, which ends (closes) the iterator."""


class ConnectionWatch(Protocol):
    """A request's view of its connection, for handlers that hold a request (long polls).

    A client that closes its connection, or sends the next request before this
    one was answered, is not waiting for this answer any more (a client that
    gave up, or several processes sharing one inherited keep-alive
    connection): such a request should end without effects and be abandoned.
    """

    @property
    def pipelined(self) -> bool:
        """This request had arrived before the previous answer on the connection was sent."""
        ...

    def gone(self) -> bool:
        """The client closed the connection, or sent more bytes after this request (never blocks)."""
        ...

    def watch(self, on_gone: Callable[[], None]) -> AbstractContextManager[None]:
        """While inside, call ``on_gone()`` (once, on the server's watcher thread) as soon as ``gone()`` would be true."""
        ...


class Handler(Protocol):
    def __call__(self, request: Request) -> Response: ...

    def http_error(self, status: int, code: str, message: str) -> Response:
        """The answer to a request that could not be read (bad framing, too large, too slow)."""
        ...


class _HttpError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class _Closed(Exception):
    """The peer closed, or the server is closing an idle connection: leave quietly."""


class _Timeout(Exception):
    pass


class _Interleaved(Exception):
    """The bytes of two requests are mixed: processes sharing one connection wrote at once.

    Only looked for on a connection that has answered before (the one a
    process inherited from its parent, which made a call on it).

    A request whose body is the start of another request (a request line), or
    whose request line is the end of another's JSON body, can only come from
    two writers on one socket (botocore sends a request's head and body in two
    writes). Whoever reads an answer would take another's: nothing is answered,
    and the connection closes, so that each client retries on a connection of
    its own.
    """


class _Watcher:
    """One thread that watches the sockets of held requests and reports the ones whose client went.

    A held poll blocks its connection's thread on Redis, not on its socket;
    this thread waits for any of those sockets to become readable (the peer
    closed, reset, or sent more bytes) and calls the request's callback.
    """

    def __init__(self) -> None:
        self._selector = selectors.DefaultSelector()
        self._lock = threading.Lock()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._selector.register(self._wake_r, selectors.EVENT_READ)
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="flowser-http-watch", daemon=True)
        self._thread.start()

    def add(self, sock: socket.socket, on_gone: Callable[[], None]) -> None:
        with self._lock:
            if not self._closed:
                self._selector.register(sock, selectors.EVENT_READ, on_gone)
        if not isinstance(self._selector, selectors.EpollSelector):
            self._wake_w.send(b"x")  # select again, with the new socket (epoll sees it in the running wait)

    def remove(self, sock: socket.socket) -> None:
        with self._lock:
            try:
                self._selector.unregister(sock)
            except (KeyError, ValueError, OSError):
                pass  # already reported (and unregistered), or closed

    def _loop(self) -> None:
        while True:
            ready = self._selector.select()
            gone: list[Callable[[], None]] = []
            with self._lock:
                if self._closed:
                    return
                for key, _ in ready:
                    if key.fileobj is self._wake_r:
                        try:
                            while self._wake_r.recv(4096):
                                pass
                        except OSError:
                            pass
                        continue
                    try:
                        self._selector.unregister(key.fileobj)
                    except (KeyError, ValueError, OSError):
                        continue  # removed meanwhile: its request ended
                    gone.append(key.data)
            for on_gone in gone:
                try:
                    on_gone()
                except Exception:
                    log.exception("reporting a gone client failed")

    def close(self) -> None:
        with self._lock:
            self._closed = True
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass
        self._thread.join(2)
        self._selector.close()
        for s in (self._wake_r, self._wake_w):
            s.close()


class HttpServer:
    """Listens on ``(host, port)`` and serves each connection on its own thread."""

    def __init__(
        self, handler: Handler, host: str, port: int, limits: Limits | None = None, *, reuse_port: bool = False
    ) -> None:
        """``reuse_port``: share the port with other processes that set it too (``SO_REUSEPORT``:
        the kernel spreads new connections over them; ``flowser serve --processes``)."""
        self.handler = handler
        self.limits = limits or Limits()
        family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
        self._sock = socket.create_server(address[:2], family=family, backlog=4096, reuse_port=reuse_port)
        self._sock.setblocking(False)
        self.address: tuple[str, int] = self._sock.getsockname()[:2]
        self._wake_r, self._wake_w = socket.socketpair()
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._connections: dict[socket.socket, _Connection] = {}
        self._active = 0  # requests being read, handled or answered
        self._stopping = False
        self._accept_thread: threading.Thread | None = None
        self._watcher: _Watcher | None = None

    @property
    def url(self) -> str:
        host, port = self.address
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    @property
    def watcher(self) -> _Watcher:
        with self._lock:
            if self._watcher is None:
                self._watcher = _Watcher()
            return self._watcher

    def start(self) -> HttpServer:
        self._accept_thread = threading.Thread(target=self._accept_loop, name="flowser-http-accept", daemon=True)
        self._accept_thread.start()
        return self

    # -- shutdown, in steps -------------------------------------------------------------
    def stop_accepting(self) -> None:
        """Close the listening socket and every idle connection; requests under way go on."""
        with self._lock:
            self._stopping = True
            idle = [c for c in self._connections.values() if c.idle]
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass
        if self._accept_thread is not None:
            self._accept_thread.join(5)
        for connection in idle:
            connection.abort()

    def wait_idle(self, timeout: float, tick: Callable[[], None] | None = None) -> bool:
        """Wait until no request is under way (calling ``tick`` every 0.2 s meanwhile)."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._active:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._idle.wait(min(remaining, 0.2))
                if tick is not None and self._active:
                    self._lock.release()
                    try:
                        tick()
                    finally:
                        self._lock.acquire()
        return True

    def close(self) -> None:
        """Drop every connection still open."""
        with self._lock:
            self._stopping = True
            connections = list(self._connections.values())
        for connection in connections:
            connection.abort()
        if self._watcher is not None:
            self._watcher.close()
        for s in (self._sock, self._wake_r, self._wake_w):
            try:
                s.close()
            except OSError:
                pass

    # -- accepting ----------------------------------------------------------------------
    def _accept_loop(self) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self._sock, selectors.EVENT_READ)
            selector.register(self._wake_r, selectors.EVENT_READ)
            while True:
                ready = selector.select()
                if self._stopping or any(key.fileobj is self._wake_r for key, _ in ready):
                    break
                while True:
                    try:
                        sock, peer = self._sock.accept()
                    except (BlockingIOError, InterruptedError):
                        break
                    except OSError as exc:  # e.g. EMFILE: wait a little rather than spin
                        log.warning("accept failed: %s", exc)
                        time.sleep(0.05)
                        break
                    self._admit(sock, peer)
        try:
            self._sock.close()
        except OSError:
            pass

    def _admit(self, sock: socket.socket, peer: tuple[str, int]) -> None:
        sock.setblocking(True)  # deadlines are the kernel's (SO_RCVTIMEO, SO_SNDTIMEO): see _Connection
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        connection = _Connection(self, sock, f"{peer[0]}:{peer[1]}")
        with self._lock:
            full = len(self._connections) >= self.limits.max_connections
            if not full:
                self._connections[sock] = connection
        if full:
            connection.reject(503, "ServiceUnavailable", "Too many open connections; retry later")
            return
        try:
            threading.Thread(target=connection.serve, name="flowser-http-conn", daemon=True).start()
        except RuntimeError:  # cannot start a thread: the process is at its limit
            with self._lock:
                self._connections.pop(sock, None)
            connection.reject(503, "ServiceUnavailable", "Server busy; retry later")

    def _forget(self, connection: _Connection) -> None:
        with self._lock:
            self._connections.pop(connection.sock, None)

    def _begin(self, connection: _Connection) -> bool:
        """A request's first byte came: it will be served (False if the server closed it first)."""
        with self._lock:
            if connection.aborted:
                return False
            connection.idle = False
            self._active += 1
            return True

    def _end(self, connection: _Connection) -> None:
        with self._idle:
            self._active -= 1
            connection.idle = True
            self._idle.notify_all()

    @property
    def stopping(self) -> bool:
        return self._stopping

    @property
    def read_slice(self) -> float:
        """The longest a connection's recv waits before its deadline is looked at again."""
        limits = self.limits
        return min(limits.header_timeout, limits.body_timeout, limits.idle_timeout)


class ShutdownSignals:
    """SIGTERM and SIGINT for a server's main thread, from ``install()`` to ``restore()`` (or inside
    ``with``): the first ends ``wait()``, a second exits the process at once. The handler only counts;
    a wake-up socket ends the wait."""

    def install(self) -> ShutdownSignals:
        self.count = 0
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_w.setblocking(False)

        def on_signal(signum: int, _frame: object) -> None:
            self.count += 1
            if self.count > 1:
                os._exit(1)

        self._previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
        self._previous_fd = signal.set_wakeup_fd(self._wake_w.fileno(), warn_on_full_buffer=False)
        return self

    def wait(self) -> None:
        """Until the first signal."""
        while not self.count:
            self._wake_r.recv(64)

    def restore(self) -> None:
        signal.set_wakeup_fd(self._previous_fd)
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._wake_r.close()
        self._wake_w.close()

    def __enter__(self) -> ShutdownSignals:
        return self.install()

    def __exit__(self, *exc: object) -> None:
        self.restore()


_date_cache: tuple[int, str] = (0, "")


def _http_date() -> str:
    global _date_cache
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache = (now, formatdate(now, usegmt=True))
    return _date_cache[1]


@dataclass
class _Connection:
    server: HttpServer
    sock: socket.socket
    peer: str
    buf: bytearray = field(default_factory=bytearray)
    idle: bool = True
    aborted: bool = False
    next_was_sent_early: bool = False
    """Bytes of the next request were in before the last answer was sent (pipelining, or a shared connection)."""
    pipelined: bool = False
    """The request being handled is such a request."""
    http10: bool = False
    answered: int = 0
    """Requests answered on this connection: only a connection in use can be shared (one a
    process inherited), so a fresh one's garbage gets the 400 any malformed request gets."""
    write_deadline: float = 0.0
    """The SO_SNDTIMEO in force (0: none yet)."""
    read_timeout: float = 0.0
    """The SO_RCVTIMEO in force (0: none yet)."""

    # -- life ---------------------------------------------------------------------------
    def serve(self) -> None:
        try:
            while not self.server.stopping:
                if not self._wait_for_request():
                    break
                if not self.server._begin(self):
                    break
                try:
                    keep = self._one_request()
                finally:
                    self.server._end(self)
                if not keep:
                    break
        except (_Closed, OSError):
            pass
        except Exception:  # a bug here must not take the process down
            log.exception("connection from %s failed", self.peer)
        finally:
            self.server._forget(self)
            try:
                self.sock.close()
            except OSError:
                pass

    def abort(self) -> None:
        """Wake and end this connection's thread (used on idle connections at shutdown)."""
        with self.server._lock:
            if not self.idle:
                return
            self.aborted = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def reject(self, status: int, code: str, message: str) -> None:
        try:
            self.sock.settimeout(1.0)
            self._send(self.server.handler.http_error(status, code, message), keep=False)
        except OSError:
            pass
        finally:
            try:
                self.sock.close()
            except OSError:
                pass

    # -- what a held request may ask (ConnectionWatch) ----------------------------------
    def gone(self) -> bool:
        if self.buf:
            return True  # the next request is already here
        try:
            self._peek()
        except (BlockingIOError, InterruptedError):
            return False  # open, and nothing more sent: still waiting for us
        except OSError:
            return True  # reset
        return True  # closed (b""), or more bytes sent

    def _peek(self) -> bytes:
        """The next byte the peer sent, left unread; b"" if it closed; BlockingIOError if there is none yet."""
        return self.sock.recv(1, _PEEK)

    @contextmanager
    def watch(self, on_gone: Callable[[], None]) -> Iterator[None]:
        watcher = self.server.watcher
        watcher.add(self.sock, on_gone)
        try:
            yield
        finally:
            watcher.remove(self.sock)

    def _more_sent(self) -> bool:
        """Bytes of another request are here already (never blocks)."""
        if self.buf:
            return True
        try:
            return bool(self._peek())
        except OSError:
            return False

    # -- deadlines ----------------------------------------------------------------------
    # The socket stays blocking and the kernel enforces each deadline (SO_RCVTIMEO and
    # SO_SNDTIMEO; a read or write past it fails with EAGAIN). A Python socket timeout
    # would cost a poll() before every recv and send and an ioctl per settimeout, each
    # a release of the GIL: under load, every release is a handoff between threads.
    def _read_deadline(self, seconds: float) -> None:
        if seconds != self.read_timeout:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, _timeval(seconds))
            self.read_timeout = seconds

    def _write_deadline(self, seconds: float) -> None:
        if seconds != self.write_deadline:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, _timeval(seconds))
            self.write_deadline = seconds

    # -- reading ------------------------------------------------------------------------
    def _fill(self, deadline: float) -> None:
        # Each recv waits at most the server's shortest read limit (its "slice"), set once per
        # connection; only a deadline nearer than that sets a shorter one. A recv that times out
        # before the deadline simply reads again: no setsockopt per request.
        slice_ = self.server.read_slice
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _Timeout()
            self._read_deadline(slice_ if remaining >= slice_ else remaining)
            try:
                data = self.sock.recv(65536)
            except (BlockingIOError, TimeoutError):  # EAGAIN: SO_RCVTIMEO passed
                continue
            if not data:
                raise _Closed()
            self.buf += data
            return

    def _wait_for_request(self) -> bool:
        """Wait (idle) for the first byte of the next request."""
        if self.buf:
            return True
        try:
            self._fill(time.monotonic() + self.server.limits.idle_timeout)
        except (_Timeout, _Closed):
            return False
        return True

    def _one_request(self) -> bool:
        """Read, handle and answer one request; return whether the connection stays open."""
        limits = self.server.limits
        try:
            request, keep = self._read_request(limits)
        except _Interleaved:
            return False
        except _Timeout:
            self._answer_error(408, "RequestTimeoutException", "Timed out reading the request")
            return False
        except _HttpError as err:
            self._answer_error(err.status, err.code, err.message)
            self._linger()
            return False
        response = self.server.handler(request)
        if response.abandon:
            return False  # nothing is sent: the connection closes
        if response.stream is not None:
            self.answered += 1
            self._send_stream(response, response.stream, head_only=request.method == "HEAD")
            return False
        keep = keep and not response.close and not self.server.stopping
        # Looked at before the answer goes out: bytes there now were sent before the client could
        # have read it (pipelining, or another process on the connection). Looked at after, a
        # quick client's next request would count too.
        self.next_was_sent_early = keep and self._more_sent()
        self._send(response, keep=keep, head_only=request.method == "HEAD")
        self.answered += 1
        return keep

    def _answer_error(self, status: int, code: str, message: str) -> None:
        try:
            self._send(self.server.handler.http_error(status, code, message), keep=False)
        except OSError:
            pass

    def _read_request(self, limits: Limits) -> tuple[Request, bool]:
        deadline = time.monotonic() + limits.header_timeout
        while True:
            # tolerate empty lines before a request (RFC 9112 §2.2)
            while self.buf[:2] == b"\r\n" or self.buf[:1] == b"\n":
                del self.buf[: 2 if self.buf[:1] == b"\r" else 1]
            end, sep = _head_end(self.buf)
            if end >= 0:
                break
            if len(self.buf) > limits.max_head:
                raise _HttpError(431, "MalformedHttpRequestException", "Request headers too large")
            self._fill(deadline)
        if end > limits.max_head:
            raise _HttpError(431, "MalformedHttpRequestException", "Request headers too large")
        head = bytes(self.buf[:end])
        del self.buf[: end + sep]
        if head[:1] == b"{" and self.answered:
            raise _Interleaved()
        self.pipelined, self.next_was_sent_early = self.next_was_sent_early, False
        method, target, version, headers = _parse_head(head)
        self.http10 = version == "HTTP/1.0"
        keep = _keep_alive(version, headers.get("connection", ""))
        path, query = _split_target(target)
        body = self._read_body(headers, limits)
        if self.answered and body[:1] in _METHOD_START and _REQUEST_LINE.match(body.partition(b"\n")[0].rstrip(b"\r")):
            raise _Interleaved()
        return Request(method, target, path, query, version, headers, body, self.peer, self), keep

    def _read_body(self, headers: dict[str, str], limits: Limits) -> bytes:
        deadline = time.monotonic() + limits.body_timeout
        encoding = headers.get("transfer-encoding")
        if encoding is not None:
            codings = [c.strip().lower() for c in encoding.split(",") if c.strip()]
            if not codings or codings[-1] != "chunked" or any(c not in ("chunked", "identity") for c in codings):
                raise _HttpError(400, "MalformedHttpRequestException", "Unsupported Transfer-Encoding")
            self._continue(headers)
            return self._read_chunked(deadline, limits)
        length_header = headers.get("content-length")
        if length_header is None:
            return b""
        values = {v.strip() for v in length_header.split(",")}
        if len(values) != 1 or not next(iter(values)).isdigit() or len(next(iter(values))) > 18:
            raise _HttpError(400, "MalformedHttpRequestException", "Invalid Content-Length")
        length = int(next(iter(values)))
        if length > limits.max_body:
            raise _HttpError(
                413, "RequestEntityTooLargeException", f"Request body of {length} bytes exceeds the limit of {limits.max_body}"
            )
        self._continue(headers)
        while len(self.buf) < length:
            self._fill(deadline)
        body = bytes(self.buf[:length])
        del self.buf[:length]
        return body

    def _continue(self, headers: dict[str, str]) -> None:
        if headers.get("expect", "").lower() == "100-continue":
            self._write_deadline(self.server.limits.write_timeout)
            self.sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")

    def _read_chunked(self, deadline: float, limits: Limits) -> bytes:
        body = bytearray()
        while True:
            line = self._line(deadline, 1024)
            size_text = line.split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise _HttpError(400, "MalformedHttpRequestException", "Invalid chunk size") from None
            if size < 0 or not size_text or size_text.startswith((b"-", b"+", b"0x", b"0X")):
                raise _HttpError(400, "MalformedHttpRequestException", "Invalid chunk size")
            if size == 0:
                while self._line(deadline, limits.max_head):  # trailers, up to an empty line
                    pass
                return bytes(body)
            if len(body) + size > limits.max_body:
                raise _HttpError(413, "RequestEntityTooLargeException", f"Request body exceeds the limit of {limits.max_body}")
            while len(self.buf) < size + 2:
                self._fill(deadline)
            if self.buf[size : size + 2] != b"\r\n":
                raise _HttpError(400, "MalformedHttpRequestException", "Invalid chunk")
            body += self.buf[:size]
            del self.buf[: size + 2]

    def _line(self, deadline: float, limit: int) -> bytes:
        while True:
            end = self.buf.find(b"\n")
            if end >= 0:
                line = bytes(self.buf[:end]).rstrip(b"\r")
                del self.buf[: end + 1]
                return line
            if len(self.buf) > limit:
                raise _HttpError(400, "MalformedHttpRequestException", "Line too long")
            self._fill(deadline)

    def _linger(self, limit: int = 16 << 20, seconds: float = 2.0) -> None:
        """After answering a request whose body was not read: let the client finish sending.

        Closing with unread data would reset the connection, and a client
        still sending (say, an oversized body) would never read the answer.
        """
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            return
        deadline = time.monotonic() + seconds
        drained = 0
        while drained < limit:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self._read_deadline(remaining)
            try:
                data = self.sock.recv(65536)
            except OSError:
                return
            if not data:
                return
            drained += len(data)

    # -- writing ------------------------------------------------------------------------
    def _send_stream(self, response: Response, stream: Iterable[bytes], *, head_only: bool) -> None:
        chunked = not self.http10
        try:
            lines = [f"HTTP/1.1 {response.status} {_reason(response.status)}"]
            lines += [f"{name}: {value}" for name, value in response.headers.items()]
            if chunked:
                lines.append("Transfer-Encoding: chunked")
            lines.append(f"Date: {_http_date()}")
            lines.append("Connection: close")
            self._write_deadline(self.server.limits.write_timeout)
            self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace"))
            if head_only:
                return
            for piece in stream:
                if piece:
                    self.sock.sendall(b"%x\r\n%b\r\n" % (len(piece), piece) if chunked else piece)
            if chunked:
                self.sock.sendall(b"0\r\n\r\n")
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                close()  # a generator's own clean-up runs now, whatever ended the stream

    def _send(self, response: Response, *, keep: bool, head_only: bool = False) -> None:
        status = response.status
        lines = [f"HTTP/1.1 {status} {_reason(status)}"]
        for name, value in response.headers.items():
            lines.append(f"{name}: {value}")
        lines.append(f"Content-Length: {len(response.body)}")
        lines.append(f"Date: {_http_date()}")
        if not keep:
            lines.append("Connection: close")
        elif self.http10:
            lines.append("Connection: keep-alive")  # HTTP/1.1 keeps the connection without saying so
        data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")
        if not head_only:
            data += response.body
        self._write_deadline(self.server.limits.write_timeout)
        self.sock.sendall(data)


_REASONS = {int(status): status.phrase for status in HTTPStatus}


def _reason(status: int) -> str:
    return _REASONS.get(status, "Unknown")


def _timeval(seconds: float) -> bytes:
    """A struct timeval for SO_RCVTIMEO/SO_SNDTIMEO; at least 1 µs (0 would mean no deadline)."""
    micros = max(int(seconds * 1_000_000), 1)
    return struct.pack("@ll", micros // 1_000_000, micros % 1_000_000)


def _head_end(buf: bytearray) -> tuple[int, int]:
    """Index where the head ends and the separator's length (-1, 0 if incomplete)."""
    crlf = buf.find(b"\r\n\r\n")
    lf = buf.find(b"\n\n")
    if crlf >= 0 and (lf < 0 or crlf < lf):
        return crlf, 4
    if lf >= 0:
        return lf, 2
    return -1, 0


def _parse_head(head: bytes) -> tuple[str, str, str, dict[str, str]]:
    request_line, _, block = head.partition(b"\n")
    match = _REQUEST_LINE.fullmatch(request_line.rstrip(b"\r"))
    if match is None:
        raise _HttpError(400, "MalformedHttpRequestException", "Malformed request line")
    method, raw_target, raw_version = match.groups()
    if raw_version not in (b"HTTP/1.1", b"HTTP/1.0"):
        raise _HttpError(505, "MalformedHttpRequestException", "HTTP version not supported")
    headers: dict[str, str] = {}
    if block:
        if _HEADER_BLOCK.fullmatch(block) is None:  # every line "token: value" (one check, in C)
            raise _HttpError(400, "MalformedHttpRequestException", "Malformed header line")
        for line in block.split(b"\n"):
            name, _, value = line.partition(b":")
            key = name.decode("ascii").lower()
            text = value.strip(b" \t\r").decode("latin-1")
            headers[key] = f"{headers[key]},{text}" if key in headers else text
    return method.decode("ascii"), raw_target.decode("latin-1"), raw_version.decode("ascii"), headers


def _split_target(target: str) -> tuple[str, str]:
    if target.startswith("/"):
        path, _, query = target.partition("?")
        return path, query
    if target == "*":
        return "*", ""
    parts = urlsplit(target)
    if parts.scheme.lower() in ("http", "https") and parts.netloc:
        return parts.path or "/", parts.query
    raise _HttpError(400, "MalformedHttpRequestException", "Malformed request target")


def _keep_alive(version: str, connection: str) -> bool:
    tokens = {t.strip().lower() for t in connection.split(",")}
    if version == "HTTP/1.0":
        return "keep-alive" in tokens
    return "close" not in tokens
