"""``flowser serve``: the engine behind SWF's own HTTP protocol, as one process.

    flowser serve [--host 127.0.0.1] [--port 8765] [--redis URL | --data-dir DIR]
                  [--poll-hold SECONDS] [--empty-poll-token empty|absent]
                  [--credentials FILE] [--insecure] [--region REGION]
                  [--max-domains N] [--max-types N] [--max-open-executions N]
                  [--stream-maxlen N] [--processes N] [--min-replicas-ack N] ...

The process opens the engine (the embedded Redis of ``--data-dir``, the same
default directory as ``backends.local.connect()``, unless ``--redis`` names
one), runs a timekeeper (every server process does: several processes on
one Redis fire each timeout and timer once), listens, and prints
``flowser serve: listening on <url>``.

SIGTERM or SIGINT stops it gracefully: it stops accepting and closes idle
connections, answers held polls empty (``Engine.stop_polls``; a poll that
already claimed its task still returns it), lets calls under way finish
(at most ``--shutdown-timeout`` seconds), stops the timekeeper and exits 0.
A second signal exits at once (status 1).

``--processes N`` forks N such processes (before any of them opens the
engine or starts a thread) that all listen on the one port with
``SO_REUSEPORT``, the kernel spreading connections over them; the first
process stays as their supervisor. It prints ``listening on`` once all N
are, passes SIGTERM/SIGINT on to them (each shuts down gracefully, as
above), and exits 0 when all exited 0; if one dies, it stops the others and
exits 1. Each also listens on a private loopback port, through which a
scrape of ``/metrics`` on any of them gathers the others' counts
(``metrics.merge``): the figures are those of the whole server.

``main(argv, mounts={"/ui/": build})`` also serves other applications beside the
SWF endpoint: once the engine is open, ``build(engine, credentials)`` makes the
handler of every request under that prefix (``App``'s ``mounts``); this is how
``flowser serve --ui`` adds the dashboard without this package knowing it.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import ipaddress
import logging
import os
import resource
import signal
import socket
import sys
from collections.abc import Callable
from typing import Any

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
DEFAULT_POLL_HOLD = 50.0
"""Below botocore's default 60 s read timeout, so an idle poller never sees a timeout."""

log = logging.getLogger("flowser.serve")


def parser(prog: str = "flowser serve") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description="Serve the local SWF engine over SWF's own HTTP protocol.")
    p.add_argument("--host", default=DEFAULT_HOST, help=f"address to bind (default {DEFAULT_HOST})")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0: any free port)")
    store = p.add_mutually_exclusive_group()
    store.add_argument("--redis", metavar="URL", help="Redis to use (default: $FLOWSER_REDIS_URL, else the embedded one)")
    store.add_argument("--data-dir", metavar="DIR", help="data directory of the embedded Redis (default: $FLOWSER_DATA_DIR or per-user)")
    p.add_argument(
        "--poll-hold",
        type=_positive,
        default=DEFAULT_POLL_HOLD,
        metavar="SECONDS",
        help=f"seconds an empty poll is held before it is answered empty (default {DEFAULT_POLL_HOLD:g})",
    )
    p.add_argument(
        "--empty-poll-token",
        choices=("empty", "absent"),
        default="empty",
        help="taskToken of empty poll answers: \"\" (default, as AWS documents) or none (as moto)",
    )
    p.add_argument(
        "--credentials",
        metavar="FILE",
        help="JSON access keys: verify SigV4 and apply per-key permissions "
        "(default: $FLOWSER_CREDENTIALS or $FLOWSER_CREDENTIALS_FILE; see docs/server.md)",
    )
    p.add_argument("--insecure", action="store_true", help="allow a non-loopback --host without credentials")
    p.add_argument(
        "--region", default="us-east-1", help="region in domain ARNs when a request is not signed (default us-east-1)"
    )
    quotas = p.add_argument_group("SWF quotas (AWS's defaults; AWS raises them on request)")
    quotas.add_argument("--max-domains", type=_count, default=100, metavar="N", help="domains, deprecated ones included (default 100)")
    quotas.add_argument("--max-types", type=_count, default=10_000, metavar="N", help="workflow types, and activity types, per domain (default 10000)")
    quotas.add_argument(
        "--max-open-executions", type=_count, default=100_000, metavar="N", help="open executions per domain (default 100000)"
    )
    p.add_argument(
        "--stream-maxlen",
        type=_non_negative,
        default=100_000,
        metavar="N",
        help="entries each domain's event stream keeps, about (flowser listen, GET /flowser/listen); "
        "0: no stream (default 100000)",
    )
    p.add_argument("--max-polls", type=int, default=2000, help="polls held at once; more get LimitExceededFault (default 2000)")
    p.add_argument("--max-connections", type=int, default=4096, help="open connections at once (default 4096)")
    p.add_argument("--max-body", type=int, default=1 << 20, help="largest request body in bytes (default 1 MiB)")
    p.add_argument("--header-timeout", type=_positive, default=10.0, help="seconds to receive a request's headers (default 10)")
    p.add_argument("--body-timeout", type=_positive, default=30.0, help="seconds to receive a request's body (default 30)")
    p.add_argument("--idle-timeout", type=_positive, default=75.0, help="seconds a kept-alive connection may idle (default 75)")
    p.add_argument("--shutdown-timeout", type=_positive, default=30.0, help="seconds to let calls finish on shutdown (default 30)")
    p.add_argument(
        "--lambda",
        dest="lambdas",
        action="append",
        default=[],
        metavar="[NAME=]MODULE:FUNCTION",
        help="run FUNCTION for ScheduleLambdaFunction decisions naming NAME (default: the function's name); repeatable",
    )
    p.add_argument(
        "--min-replicas-ack",
        type=_non_negative,
        default=0,
        metavar="N",
        help="answer a change only once N Redis replicas have it (WAIT after each transaction; default 0: "
        "once the primary has it). See docs/scaling.md",
    )
    p.add_argument(
        "--replica-ack-timeout",
        type=_positive,
        default=5.0,
        metavar="SECONDS",
        help="how long a change waits for --min-replicas-ack replicas; then InternalFailure (default 5)",
    )
    p.add_argument(
        "--processes",
        type=_count,
        default=1,
        metavar="N",
        help="server processes sharing the port (SO_REUSEPORT), each with its engine and timekeeper (default 1)",
    )
    p.add_argument("--log-level", default="WARNING", help="logging level (default WARNING)")
    return p


def _count(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be >= 1")
    return value


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be >= 0")
    return value


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError("must be > 0")
    return value


def is_loopback(host: str) -> bool:
    """Whether every address ``host`` resolves to is a loopback address."""
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror:
        return False
    addresses = {str(info[4][0]) for info in infos}
    return bool(addresses) and all(ipaddress.ip_address(a.split("%", 1)[0]).is_loopback for a in addresses)


def load_lambdas(specs: list[str]) -> dict[str, Callable[[str | None], Any]]:
    functions: dict[str, Callable[[str | None], Any]] = {}
    for spec in specs:
        name, _, target = spec.rpartition("=")
        module_name, colon, attribute = target.partition(":")
        if not colon or not module_name or not attribute:
            raise ValueError(f"--lambda {spec!r}: expected [NAME=]MODULE:FUNCTION")
        function = getattr(importlib.import_module(module_name), attribute)
        if not callable(function):
            raise ValueError(f"--lambda {spec!r}: {target} is not callable")
        functions[name or attribute] = function
    return functions


def _raise_fd_limit() -> None:
    """Each held poll needs two descriptors (client and Redis): use the hard limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard if hard != resource.RLIM_INFINITY else 65536, hard))
        except (ValueError, OSError):
            pass


Mount = Callable[[Any, Any], Callable[[Any], Any]]
"""``build(engine, credentials) -> handler``: a mounted application, made once the engine is open."""


def main(argv: list[str] | None = None, *, mounts: dict[str, Mount] | None = None, prog: str = "flowser serve") -> int:
    args = parser(prog).parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")

    from .auth import Credentials, CredentialsError

    try:
        credentials = Credentials.load(args.credentials) if args.credentials else Credentials.from_environment()
    except CredentialsError as exc:
        print(f"flowser serve: {exc}", file=sys.stderr)
        return 2
    if credentials is None and not args.insecure and not is_loopback(args.host):
        print(
            f"flowser serve: refusing to listen on {args.host} (not a loopback address) without credentials: "
            "give --credentials FILE (or $FLOWSER_CREDENTIALS), or --insecure to serve anyone who can connect",
            file=sys.stderr,
        )
        return 2
    try:
        lambdas = load_lambdas(args.lambdas)
    except (ImportError, AttributeError, ValueError) as exc:
        print(f"flowser serve: {exc}", file=sys.stderr)
        return 2
    _raise_fd_limit()
    if args.processes > 1:
        return _supervise(args, credentials, lambdas, mounts)
    return _serve(args, credentials, lambdas, mounts)


def _serve(
    args: argparse.Namespace,
    credentials: Any,
    lambdas: dict[str, Callable[[str | None], Any]],
    mounts: dict[str, Mount] | None,
    group: _Group | None = None,
) -> int:
    """One server process (``group``: one of ``--processes``)."""
    from backends.local import EngineConfig, open_engine, wire
    from backends.local.lambdas import LambdaRunner
    from backends.local.observers import DeadlineFired, TaskStarted
    from backends.local.timekeeper import Timekeeper

    from .app import App
    from .metrics import Metrics
    from .server import HttpServer, Limits, ShutdownSignals

    config = EngineConfig(
        poll_hold=args.poll_hold,
        empty_poll_token=args.empty_poll_token,
        region=args.region,
        max_domains=args.max_domains,
        max_types=args.max_types,
        max_open_executions=args.max_open_executions,
        stream_maxlen=args.stream_maxlen,
        min_replicas_ack=args.min_replicas_ack,
        replica_ack_timeout=args.replica_ack_timeout,
    )
    try:
        engine = open_engine(args.redis, data_dir=args.data_dir, config=config)
    except Exception as exc:
        print(f"flowser serve: cannot open the store: {exc}", file=sys.stderr)
        return 1
    # each held poll waits on its own Redis connection; redis-py's pools stop at 100 by default
    engine.store.reserve_connections(args.max_polls + args.max_connections // 4 + 64)
    metrics = Metrics()
    engine.observe(metrics.observe, DeadlineFired, TaskStarted)
    metrics.start(engine)
    try:
        handlers = {prefix: build(engine, credentials) for prefix, build in (mounts or {}).items()}
    except Exception as exc:
        print(f"flowser serve: cannot start a mounted application: {exc}", file=sys.stderr)
        metrics.stop()
        engine.store.close()
        return 1
    app = App(engine, credentials=credentials, metrics=metrics, max_polls=args.max_polls, mounts=handlers)
    limits = Limits(
        max_body=args.max_body,
        header_timeout=args.header_timeout,
        body_timeout=args.body_timeout,
        idle_timeout=args.idle_timeout,
        max_connections=args.max_connections,
    )
    try:
        server = HttpServer(app, args.host, args.port, limits, reuse_port=group is not None)
        private = HttpServer(app, "127.0.0.1", 0, limits) if group is not None else None
    except OSError as exc:
        print(f"flowser serve: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        engine.store.close()
        return 1

    shutdown = ShutdownSignals().install()  # restored in the finally below
    wire.operations_without_output()  # load botocore's model now, not on the first request
    # what start-up built (botocore's model, the validation models) lives as long as the process:
    # keep it out of the cyclic GC, whose full passes would otherwise stop every thread for ~30 ms
    gc.collect()
    gc.freeze()
    keeper = Timekeeper(engine).start()
    runner = LambdaRunner(engine, lambdas).start() if lambdas else None
    server.start()
    if group is not None and private is not None:
        private.start()
        app.siblings = group.sibling_metrics
        group.ready(private.address[1])
    else:
        for prefix in handlers:
            print(f"flowser serve: {prefix} mounted at {server.url}{prefix}", flush=True)
        print(f"flowser serve: listening on {server.url}", flush=True)
    try:
        shutdown.wait()
        log.info("shutting down")
        server.stop_accepting()
        if private is not None:
            private.stop_accepting()
        engine.stop_polls()
        # stop_polls again while calls are under way: it wakes polls that began waiting meanwhile
        finished = server.wait_idle(args.shutdown_timeout, tick=engine.stop_polls)
        if not finished:
            log.warning("calls still under way after %ss; closing their connections", args.shutdown_timeout)
        server.close()
        if private is not None:
            private.close()
    finally:
        if runner is not None:
            runner.stop()
        metrics.stop()
        keeper.stop()
        engine.store.close()
        shutdown.restore()
    if group is None:
        print("flowser serve: stopped", flush=True)
    return 0


class _Group:
    """What one of ``--processes`` knows of the others: a directory where each writes its private port."""

    def __init__(self, directory: str, index: int, token: str | None) -> None:
        self.directory = directory
        self.index = index
        self.token = token

    def ready(self, private_port: int) -> None:
        path = os.path.join(self.directory, str(self.index))
        with open(path + ".tmp", "w") as f:
            f.write(str(private_port))
        os.replace(path + ".tmp", path)  # the supervisor counts whole files only

    def sibling_metrics(self) -> list[str]:
        import urllib.request

        texts = []
        for name in os.listdir(self.directory):
            if not name.isdigit() or int(name) == self.index:
                continue
            with open(os.path.join(self.directory, name)) as f:
                port = int(f.read())
            request = urllib.request.Request(f"http://127.0.0.1:{port}/metrics?local=1")
            if self.token:
                request.add_header("Authorization", f"Bearer {self.token}")
            try:
                with urllib.request.urlopen(request, timeout=5) as answer:
                    texts.append(answer.read().decode("utf-8"))
            except OSError as exc:  # a process shutting down: its counts are gone with it
                log.warning("metrics of process %s unavailable: %s", name, exc)
        return texts


def _supervise(
    args: argparse.Namespace,
    credentials: Any,
    lambdas: dict[str, Callable[[str | None], Any]],
    mounts: dict[str, Mount] | None,
) -> int:
    """Fork ``--processes`` servers on one port (SO_REUSEPORT) and watch over them."""
    import shutil
    import tempfile
    import time

    family, _, _, _, address = socket.getaddrinfo(args.host, args.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    # holds the port (port 0: picks one) until the servers listen on it; never listens itself
    holder = socket.socket(family, socket.SOCK_STREAM)
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        holder.bind(address[:2])
    except OSError as exc:
        print(f"flowser serve: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    args.port = holder.getsockname()[1]
    directory = tempfile.mkdtemp(prefix="flowser-serve-")
    token = credentials.metrics_token if credentials is not None else None
    children: dict[int, int] = {}
    sys.stdout.flush()
    sys.stderr.flush()
    for index in range(args.processes):
        pid = os.fork()
        if pid == 0:  # a server: no thread has started yet in this process
            holder.close()
            code = 1
            try:
                code = _serve(args, credentials, lambdas, mounts, _Group(directory, index, token))
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        children[pid] = index

    signals = 0

    def on_signal(signum: int, _frame: Any) -> None:
        nonlocal signals
        signals += 1
        for child in children:
            try:
                os.kill(child, signal.SIGKILL if signals > 1 else signum)
            except ProcessLookupError:
                pass

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    status = 0
    announced = False
    try:
        while children:
            if not announced and sum(1 for n in os.listdir(directory) if n.isdigit()) == args.processes:
                announced = True
                holder.close()
                host = f"[{args.host}]" if ":" in args.host else args.host
                for prefix in mounts or {}:
                    print(f"flowser serve: {prefix} mounted at http://{host}:{args.port}{prefix}", flush=True)
                print(f"flowser serve: {args.processes} processes listening on http://{host}:{args.port}", flush=True)
            try:
                pid, code = os.waitpid(-1, 0 if announced else os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                time.sleep(0.02)
                continue
            children.pop(pid, None)
            exit_code = os.waitstatus_to_exitcode(code)
            if exit_code != 0:
                status = 1
                if not signals:  # one died on its own: the server is not whole, stop the rest
                    log.error("server process %s exited with %s; stopping the others", pid, exit_code)
                    print(f"flowser serve: a server process exited with status {exit_code}; stopping", file=sys.stderr, flush=True)
                    on_signal(signal.SIGTERM, None)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        holder.close()
        shutil.rmtree(directory, ignore_errors=True)
    print("flowser serve: stopped", flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
