"""README's shell commands work as printed: its ``aws swf`` commands against a real ``flowser serve``,
on a machine without AWS configuration (no ``AWS_*`` variables, an empty home directory)."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

from .conftest import ROOT, ServeProcess

README = ROOT / "README.md"
PRINTED_URL = "http://127.0.0.1:8765"


def shell_lines(text: str) -> list[str]:
    """The lines of README's ```sh blocks (continuations joined)."""
    lines: list[str] = []
    for block in re.findall(r"```sh\n(.*?)```", text, flags=re.S):
        lines.extend(block.replace("\\\n", " ").splitlines())
    return lines


def test_readme_aws_cli_commands_work_as_printed(redis_client: Any, serve_process: ServeProcess, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    bin_dir = str(Path(sys.executable).parent)  # the venv's aws
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(HOME=str(home), PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}")
    ran = []
    for line in shell_lines(README.read_text()):
        words = shlex.split(line, comments=True)
        if words[:1] == ["export"]:
            env.update(word.split("=", 1) for word in words[1:])
        elif words[:2] == ["aws", "swf"]:
            words = [serve_process.url if w == PRINTED_URL else w for w in words]
            done = subprocess.run(words, env=env, cwd=home, capture_output=True, text=True, timeout=60)
            assert done.returncode == 0, (line, done.stdout, done.stderr)
            ran.append((words[2], done.stdout))
    assert [command for command, _ in ran] == ["register-domain", "list-domains"]
    assert '"name": "demo"' in ran[-1][1]
