"""``flowser executions ...``: list, describe, start, signal, cancel, terminate (history and tree: history.py)."""

from __future__ import annotations

import click


@click.group("executions", help="Workflow executions: list, describe, history, tree, start, signal, cancel, terminate.")
def executions() -> None:
    pass


COMMANDS = [executions]
