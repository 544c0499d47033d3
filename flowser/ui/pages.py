"""The dashboard's own pages: domains, executions list, actions, login, opening a history file."""

from __future__ import annotations

from .app import Route

ROUTES: list[Route] = []
