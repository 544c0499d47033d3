"""The ``flowser`` command: one CLI for every SWF backend.

The root group is click's; each command family lives in a module of this
package that defines ``COMMANDS`` (click commands or groups), added to the
root in module-name order (:func:`_load_commands`). ``serve``, ``worker``,
``decider``, ``reset`` and ``redis-url`` keep the argparse options they
always had (:mod:`flowser.cli.runtime`): their arguments pass through
untouched.

Exit codes (docs/cli.md): 0 ok; 1 an SWF fault, an unreachable backend or a
failed outcome; 2 a usage mistake. Every error is one line on stderr,
``flowser <command>: <what>``, never a traceback.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from typing import Any

import click

from .common import CliError, fault_line
from .runtime import _job_clients, rq_activity_job, run_redis_url, run_reset, run_serve, run_worker

__all__ = ["_job_clients", "cli", "main", "rq_activity_job"]

_PASS_THROUGH: dict[str, Any] = {
    "ignore_unknown_options": True,
    "allow_extra_args": True,
    "help_option_names": [],
}


@click.group(
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110},
    help="Amazon SWF tools and a local SWF on Redis. Every command below works on any backend: "
    "local (the embedded engine), redis://..., http://host:port (flowser serve, moto) or aws.",
)
def cli() -> None:
    pass


def _pass_through(name: str, summary: str, run: Any) -> click.Command:
    @click.command(name, context_settings=_PASS_THROUGH, add_help_option=False, help=summary, short_help=summary)
    @click.argument("args", nargs=-1, type=click.UNPROCESSED)
    def command(args: tuple[str, ...]) -> int:
        return int(run(list(args)))

    return command


for _name, _summary, _run in (
    ("serve", "serve the local SWF over SWF's HTTP protocol; --ui: and the dashboard (flowser serve --help)", run_serve),
    ("worker", "poll for and handle one activity type's tasks until SIGTERM/SIGINT", lambda a: run_worker("worker", a)),
    ("decider", "poll for and handle one workflow type's tasks until SIGTERM/SIGINT", lambda a: run_worker("decider", a)),
    ("reset", "delete all data of a local SWF store, servers running (flowser reset --help)", run_reset),
    ("redis-url", "print the URL of a data directory's embedded redis-server", run_redis_url),
):
    cli.add_command(_pass_through(_name, _summary, _run))


def _load_commands() -> None:
    """Add every sibling module's ``COMMANDS`` to the root group (modules import their heavy parts lazily)."""
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_") or info.name in ("common", "runtime"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        for command in getattr(module, "COMMANDS", ()):
            cli.add_command(command)


_load_commands()


def main(argv: list[str] | None = None) -> int:
    """Run ``flowser``; the exit status (see the module docstring)."""
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        status = cli.main(args=args, prog_name="flowser", standalone_mode=False)
    except click.exceptions.NoArgsIsHelpError as exc:  # `flowser`, `flowser executions`: the help, status 2
        print(exc.format_message())
        return 2
    except click.UsageError as exc:
        where = exc.ctx.command_path if exc.ctx is not None else "flowser"
        hint = f" (see {where} --help)" if exc.ctx is not None else ""
        print(f"{where}: {exc.format_message()}{hint}", file=sys.stderr)
        return 2
    except CliError as exc:
        print(f"{exc.where}: {exc.message}", file=sys.stderr)
        return exc.status
    except click.ClickException as exc:
        print(f"flowser: {exc.format_message()}", file=sys.stderr)
        return exc.exit_code
    except (click.Abort, KeyboardInterrupt):
        return 130
    except BrokenPipeError:
        return 0  # `flowser ... | head`
    except NotImplementedError as exc:  # moto in-process, for calls it lacks
        what = str(exc).strip() or "this call"
        print(f"{_command_path(args)}: not implemented by this backend: {what}", file=sys.stderr)
        return 1
    except Exception as exc:  # an SWF fault or an unreachable backend: one line, never a traceback
        line = fault_line(exc)
        if line is None:
            raise
        print(f"{_command_path(args)}: {line}", file=sys.stderr)
        return 1
    return status if isinstance(status, int) else 0


def _command_path(args: list[str]) -> str:
    words = ["flowser"]
    group: Any = cli
    for arg in args:
        if arg.startswith("-") or not isinstance(group, click.Group) or arg not in group.commands:
            break
        words.append(arg)
        group = group.commands[arg]
    return " ".join(words)
