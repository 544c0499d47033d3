"""``flowser serve``, ``worker``, ``decider``, ``reset`` and ``redis-url``: the long-running and store commands.

Each keeps its own argparse options, as before the click-based CLI: ``flowser/cli/__init__.py``
hands their arguments through untouched.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from typing import Any


def run_serve(argv: list[str]) -> int:
    """``flowser serve``: backends.http.serve parses its own options; ``--ui`` (ours) also mounts the
    dashboard under ``/ui/``, on an in-process client of the server's engine (``flowser.cli.ui``)."""
    from backends.http.serve import main as serve
    from backends.http.serve import parser

    if "-h" in argv or "--help" in argv:
        print(parser().format_help().rstrip())
        print("\ndashboard:\n  --ui                  also serve the web dashboard under /ui/ (docs/ui.md)")
        print("\njobs:\n  --jobs DIR            POST /jobs/DOMAIN/NAME starts the job file DIR/NAME.yaml (docs/jobs.md)")
        return 0
    mounts: dict[str, Any] = {}
    if "--jobs" in argv:  # the job files' data trigger (flowser.jobs.trigger)
        at = argv.index("--jobs")
        if at + 1 >= len(argv):
            print("flowser serve: --jobs needs a directory", file=sys.stderr)
            return 2
        directory, argv = argv[at + 1], argv[:at] + argv[at + 2 :]
        mounts["/jobs/"] = lambda engine, credentials: _mount_jobs(directory, engine, credentials)
    if "--ui" in argv:
        from .ui import mount_for_serve

        argv = [arg for arg in argv if arg != "--ui"]
        mounts["/ui/"] = mount_for_serve
    return serve(argv, mounts=mounts) if mounts else serve(argv)


def _mount_jobs(directory: str, engine: Any, credentials: Any) -> Any:
    """``flowser serve --jobs DIR``: flowser.jobs.trigger on an in-process client of the server's engine."""
    from backends.local.client import local_client
    from flowser.jobs.trigger import JobTrigger

    from .ui import Mount, credential_check

    check, allows = credential_check(credentials)
    client = local_client(engine, region_name=engine.config.region)
    token = os.environ.get("FLOWSER_JOBS_TOKEN") or None
    return Mount(JobTrigger(client, directory, check=check, allows=allows, token=token))


def run_redis_url(argv: list[str]) -> int:
    """``flowser redis-url``: print the URL of a data directory's embedded redis-server."""
    parser = argparse.ArgumentParser(
        prog="flowser redis-url",
        description="Print the URL of a data directory's embedded redis-server (started if needed; it stops when "
        "no process uses it any more).",
    )
    parser.add_argument("--data-dir", default=None, help="data directory (default: $FLOWSER_DATA_DIR or per-user)")
    args = parser.parse_args(argv)
    from backends.local.embedded import EmbeddedRedis

    with EmbeddedRedis.acquire(args.data_dir) as server:
        print(server.url)
    return 0


def run_worker(command: str, argv: list[str]) -> int:
    """``flowser worker`` / ``flowser decider`` with their own (argparse) options."""
    parser = _worker_parser(command)
    args = parser.parse_args(argv)
    if getattr(args, "builtins", False):  # the job files' built-in task types (flowser.jobs.builtins)
        if args.target:
            parser.error("give TARGET or --builtins, not both")
        args.target = "flowser.jobs.builtins:Builtins"
    elif not args.target:
        parser.error("the following arguments are required: TARGET")
    args.command = command
    return _run_worker(args)


# -- reset: wipe a development store while its servers run ------------------------------------
def run_reset(argv: list[str]) -> int:
    """``flowser reset``: delete flowser's keys in a Redis (``backends.local.reset``); 0 done, 1 not
    confirmed, 2 bad options or the store cannot be reached (one line on stderr)."""
    import re
    from pathlib import Path

    from backends.local import reset
    from backends.local.embedded import EmbeddedRedis, EmbeddedRedisError, default_data_dir
    from backends.local.store import RedisStore, StoreError

    parser = argparse.ArgumentParser(
        prog="flowser reset",
        description="Delete every domain, type, execution and task of a local SWF store: flowser's keys in that "
        "Redis, nothing else. Servers using it keep running, and forget the domains they had cached.",
    )
    store = parser.add_mutually_exclusive_group()
    store.add_argument("--data-dir", metavar="DIR", help="data directory of the embedded Redis (default: $FLOWSER_DATA_DIR or per-user)")
    store.add_argument("--redis", metavar="URL", help="the Redis to wipe (default: $FLOWSER_REDIS_URL, else the embedded one)")
    parser.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    args = parser.parse_args(argv)
    url = args.redis or (None if args.data_dir else os.environ.get("FLOWSER_REDIS_URL")) or None
    server: Any = None
    client: Any = None
    where = f"the Redis at {args.redis}"
    try:
        if url is None:
            data_dir = Path(args.data_dir).expanduser() if args.data_dir else default_data_dir()
            if not data_dir.is_dir():
                print(f"flowser reset: nothing to reset: {data_dir} does not exist")
                return 0
            where = f"the embedded Redis of {data_dir}"
            server = EmbeddedRedis.acquire(data_dir)
            url = server.url
        else:
            where = re.sub(r"//[^/@]*@", "//", url)  # no password in messages
        client = RedisStore.from_url(url, connect_timeout=5, check_version=False)
        domains, keys = reset.inventory(client)
        question = f"Delete all flowser data in {where} ({domains} domain(s), {keys} key(s))? Servers keep running. [y/N] "
        if not args.yes and not _confirmed(question):
            print("flowser reset: not confirmed, nothing deleted (--yes skips the question)", file=sys.stderr)
            return 1
        wiped = reset.wipe(client)
    except (StoreError, EmbeddedRedisError, ValueError, OSError) as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        print(f"flowser reset: cannot reach {where}: {reason}", file=sys.stderr)
        return 2
    finally:
        if client is not None:
            client.close()
        if server is not None:
            server.close()
    print(
        f"flowser reset: deleted {wiped.domains} domain(s) and {wiped.keys} key(s) in {where}; "
        f"{wiped.acknowledged} running engine(s) dropped their caches"
    )
    if wiped.acknowledged < wiped.engines:
        print(f"flowser reset: {wiped.engines - wiped.acknowledged} engine(s) did not confirm in time", file=sys.stderr)
    return 0


def _confirmed(question: str) -> bool:
    print(question, end="", file=sys.stderr, flush=True)
    try:
        answer = sys.stdin.readline() if sys.stdin is not None else ""
    except (OSError, ValueError, KeyboardInterrupt):
        answer = ""
    if not answer.endswith("\n"):
        print(file=sys.stderr)
    return answer.strip().lower() in ("y", "yes")


# -- worker / decider: one long-running process per workflow or activity type ------------------
def _worker_parser(command: str) -> argparse.ArgumentParser:
    what = "activity" if command == "worker" else "workflow"
    cmd = argparse.ArgumentParser(
        prog=f"flowser {command}",
        description=f"Poll for {what} tasks of TARGET (module:Class or path/file.py:Class) and handle them. "
        "An exception in user code fails the task; SIGTERM/SIGINT stops polling, lets the task in hand "
        "finish (or gives up on it after --grace seconds) and exits 0.",
    )
    cmd.add_argument("target", metavar="TARGET", nargs="?", help=f"the types.{what.title()} subclass, as module:Class")
    if command == "worker":
        cmd.add_argument("--builtins", action="store_true", help="serve the job files' built-in shell and fetch tasks (docs/jobs.md)")
    named = cmd.add_mutually_exclusive_group()
    named.add_argument("--domain-class", metavar="MODULE:DOMAIN", help="the flowser.Domain subclass")
    named.add_argument("--domain", metavar="NAME", help="the domain's name (instead of --domain-class); without either, the one Domain of TARGET's module that lists it, else $FLOWSER_DOMAIN")
    pool = cmd.add_mutually_exclusive_group()
    pool.add_argument("--threads", type=int, default=1, metavar="N", help="polling threads (default 1)")
    pool.add_argument("--processes", type=int, default=None, metavar="N", help="worker processes of one thread each")
    cmd.add_argument(
        "--backend",
        default=os.environ.get("FLOWSER_BACKEND"),
        metavar="URL",
        help="local (default), redis://..., http://host:port or aws ($FLOWSER_BACKEND)",
    )
    cmd.add_argument("--identity", default=None, help="identity sent with polls (default host:pid)")
    cmd.add_argument("--grace", type=float, default=30.0, metavar="SECONDS", help="shutdown grace period (default 30)")
    cmd.add_argument("--register", action="store_true", help="register the domain and its types first")
    cmd.add_argument(
        "--give-up-after",
        type=float,
        default=600.0,
        metavar="SECONDS",
        help="while SWF cannot be reached (or the domain is not registered), retry with backoff for this long, "
        "then exit 1 (default 600; 0: never give up)",
    )
    cmd.add_argument("--log-level", default="INFO", help="logging level (default INFO)")
    if command == "decider":
        cmd.add_argument(
            "--on-decider-error",
            choices=("fail", "retry"),
            default=None,
            help="when decide() raises: fail the workflow execution, or leave the decision task to time out "
            "so that a decider retries it (default: the workflow class's on_decider_error, itself 'fail')",
        )
    if command == "worker":
        cmd.add_argument("--executor", choices=("thread", "rq"), default="thread", help="where handlers run")
        cmd.add_argument(
            "--rq-url", default=None, metavar="URL", help="rq's Redis (default: --backend if redis://, else $RQ_REDIS_URL)"
        )
        cmd.add_argument("--rq-max-queued", type=int, default=1, metavar="N", help="jobs waiting in the queue at most")
    return cmd


def _run_worker(args: argparse.Namespace) -> int:
    import logging

    import backends
    from flowser.types import Activity, Workflow
    from flowser.worker import LOG_FORMAT, find_domain, load_object, named_domain, runner_for

    logging.basicConfig(level=args.log_level.upper(), format=LOG_FORMAT, stream=sys.stderr)
    wanted = Activity if args.command == "worker" else Workflow
    loaded = []
    for spec in (args.target, args.domain_class):
        try:
            loaded.append(load_object(spec) if spec else None)
        except (ImportError, AttributeError, ValueError) as exc:
            print(f"flowser {args.command}: cannot load {spec}: {exc}", file=sys.stderr)
            return 2
    type_cls, domain_cls = loaded
    if not (isinstance(type_cls, type) and issubclass(type_cls, wanted)):
        print(f"flowser {args.command}: {args.target} is not a flowser.types.{wanted.__name__} subclass", file=sys.stderr)
        return 2
    if domain_cls is None:
        domain_cls = named_domain(args.domain) if args.domain else find_domain(type_cls)
    if domain_cls is None and os.environ.get("FLOWSER_DOMAIN"):  # as the operator commands take it
        domain_cls = named_domain(os.environ["FLOWSER_DOMAIN"])
    if domain_cls is None:
        print(
            f"flowser {args.command}: name the domain with --domain-class module:Domain, --domain NAME or $FLOWSER_DOMAIN",
            file=sys.stderr,
        )
        return 2
    if args.processes:
        return _supervise(args)
    client = _connect(args)
    if isinstance(client, int):
        return client
    domain = domain_cls(client)
    executor = _rq_executor(args, type_cls, domain_cls) if getattr(args, "executor", "thread") == "rq" else None
    options: dict[str, Any] = {}
    if args.command == "decider" and getattr(args, "on_decider_error", None):
        options["on_decider_error"] = args.on_decider_error
    runner = runner_for(
        domain,
        type_cls,
        threads=args.threads,
        identity=args.identity,
        grace=args.grace,
        on_stop=lambda: backends.stop_polls(client),
        executor=executor,
        register=args.register,
        give_up_after=getattr(args, "give_up_after", 600.0),
        **options,
    )
    signals = (signal.SIGTERM,) if getattr(args, "child", False) else (signal.SIGTERM, signal.SIGINT)
    return runner.run(signals=signals)


def _connect(args: argparse.Namespace) -> Any:
    """The client for ``--backend``; an exit status when there is none.

    Configuration errors (an unknown backend, no AWS region, a data directory
    that cannot be used) print one line: status 2. A Redis that does not
    answer is retried with backoff, as polls are: status 1 after
    ``--give-up-after`` seconds.
    """
    import logging
    import time

    import backends

    log = logging.getLogger("flowser.worker")
    what = f"flowser {args.command}"
    give_up_after = getattr(args, "give_up_after", 600.0) or None
    began = time.monotonic()
    delay, attempts = 1.0, 0
    while True:
        try:
            client = backends.connect(args.backend)
        except ValueError as exc:
            print(f"{what}: {exc}", file=sys.stderr)
            return 2
        except Exception as exc:
            if type(exc).__name__ == "NoRegionError":  # botocore's
                print(
                    f"{what}: --backend {args.backend}: no AWS region is configured: use --backend aws://REGION, "
                    "or set AWS_REGION (or AWS_DEFAULT_REGION, or a region in your AWS profile)",
                    file=sys.stderr,
                )
                return 2
            if isinstance(exc, OSError | RuntimeError):  # the local engine's data directory or redis-server
                print(f"{what}: cannot start the local engine: {exc}", file=sys.stderr)
                return 2
            attempts += 1
            elapsed = time.monotonic() - began
            if give_up_after is not None and elapsed >= give_up_after:
                log.error(
                    "giving up: cannot connect to %s for %.1f s (%d attempts; give up after %g s): %s",
                    args.backend,
                    elapsed,
                    attempts,
                    give_up_after,
                    exc,
                )
                return 1
            wait = delay if give_up_after is None else min(delay, give_up_after - elapsed + 0.01)
            if attempts == 1:
                log.error("cannot connect to %s; retrying with backoff", args.backend, exc_info=exc)
            else:
                log.warning("cannot connect to %s (%d attempts in %.0f s): %s; retrying in %.1f s", args.backend, attempts, elapsed, exc, wait)
            time.sleep(wait)
            delay = min(delay * 2, 30.0)
            continue
        if str(args.backend).partition("://")[0] == "aws" and _no_aws_credentials():
            print(
                f"{what}: --backend {args.backend}: no AWS credentials found: set AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY, or AWS_PROFILE, or run with an instance or task role",
                file=sys.stderr,
            )
            return 2
        return client


def _no_aws_credentials() -> bool:
    """True if boto3's credential chain (environment, profile, instance or task role) finds nothing."""
    import boto3

    return boto3.session.Session().get_credentials() is None


def _rq_executor(args: argparse.Namespace, type_cls: Any, domain_cls: Any) -> Any:
    from flowser.executors import RQExecutor
    from flowser.worker import absolute_spec

    rq_url = args.rq_url
    if rq_url is None and args.backend and args.backend.partition("://")[0] in ("redis", "rediss", "unix"):
        rq_url = args.backend
    rq_url = rq_url or os.environ.get("RQ_REDIS_URL")
    if rq_url is None and args.backend in (None, "", "local"):
        from backends.local.embedded import EmbeddedRedis

        rq_url = EmbeddedRedis.acquire(None).url
    if rq_url is None:
        raise SystemExit("flowser worker: --executor rq needs --rq-url (or $RQ_REDIS_URL)")
    generated = domain_cls.__module__ == "flowser.worker"
    return RQExecutor(
        rq_url,
        activity=absolute_spec(args.target),
        domain=None if generated else (absolute_spec(args.domain_class) if args.domain_class else _spec_of(domain_cls)),
        domain_name=domain_cls.name,
        backend=args.backend,
        queue_name=str(type_cls.task_list),
        max_queued=args.rq_max_queued,
    )


def _spec_of(obj: Any) -> str:
    module = sys.modules[obj.__module__]
    path = getattr(module, "__file__", None)
    if obj.__module__ == "__main__" or (path and obj.__module__ == os.path.splitext(os.path.basename(path))[0]):
        return f"{path}:{obj.__qualname__}"
    return f"{obj.__module__}:{obj.__qualname__}"


def _supervise(args: argparse.Namespace) -> int:
    """Run ``--processes N`` children (one thread each); forward SIGTERM/SIGINT to them as SIGTERM."""
    import logging
    import multiprocessing

    log = logging.getLogger("flowser.worker")
    ctx = multiprocessing.get_context("spawn")
    options = {**vars(args), "processes": None, "threads": 1, "child": True}
    children = [ctx.Process(target=_child_main, args=(options,), name=f"{args.command}-{n}") for n in range(args.processes)]
    stopping = False

    def forward(signum: int, frame: Any) -> None:
        nonlocal stopping
        stopping = True
        for child in children:
            if child.pid is not None and child.is_alive():
                os.kill(child.pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    for child in children:
        child.start()
    status = 0
    while any(child.is_alive() for child in children):
        for child in children:
            child.join(timeout=0.2)
            if not child.is_alive() and not stopping and child.exitcode != 0:
                log.error("%s exited with %s: stopping the others", child.name, child.exitcode)
                status = child.exitcode if child.exitcode and child.exitcode > 0 else 1
                forward(signal.SIGTERM, None)
    return status


def _child_main(options: dict[str, Any]) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent turns Ctrl-C into one SIGTERM
    sys.exit(_run_worker(argparse.Namespace(**options)))


_job_clients: dict[str | None, Any] = {}


def rq_activity_job(spec: dict[str, Any]) -> str | None:
    """The rq job behind ``flowser worker --executor rq``: run one activity task, respond to SWF."""
    import backends
    from flowser.worker import run_job

    backend = spec.get("backend")
    if backend not in _job_clients:
        _job_clients[backend] = backends.connect(backend)
    return run_job(_job_clients[backend], spec)


