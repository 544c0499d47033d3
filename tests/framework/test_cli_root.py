"""The ``flowser`` root command: help, and mistakes as one line with status 2."""

from __future__ import annotations

from typing import Any

from flowser.cli import main


def test_no_command_prints_the_help_and_exits_2(capsys: Any) -> None:
    assert main([]) == 2
    out, err = capsys.readouterr()
    assert out.startswith("Usage: flowser [OPTIONS] COMMAND [ARGS]...") and err == ""
    for command in ("domains", "executions", "listen", "top", "types", "serve", "worker", "decider", "reset"):
        assert f"\n  {command} " in out, command
    assert main(["executions"]) == 2
    assert capsys.readouterr().out.startswith("Usage: flowser executions [OPTIONS] COMMAND [ARGS]...")


def test_help_exits_0(capsys: Any) -> None:
    assert main(["--help"]) == 0
    assert "Commands:" in capsys.readouterr().out


def test_an_unknown_command_is_one_line_with_status_2(capsys: Any) -> None:
    assert main(["executoins", "list"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1
    assert err.startswith("flowser: No such command 'executoins'.")
