"""The built-in task types' activities, served by ``flowser worker --builtins`` (task list ``flowser-builtins``).

* ``flowser.shell`` (version 1): runs ``command`` with ``args`` (no shell), ``env`` added to the worker's
  environment, ``FLOWSER_INPUT`` = the task's input as JSON, in ``cwd``. Exit code 0 completes the task
  with ``{"exit_code", "stdout", "stderr"}`` (each stream's last 4,000 characters); any other exit code
  fails it with reason ``exit code N`` and the same tails as details. A program that cannot start fails
  it with reason ``cannot run COMMAND: ...``. It heartbeats every 10 s while the program runs; when the
  task's cancellation is requested it stops the program and cancels the task; when SWF no longer knows
  the task (the job was canceled or terminated, the task timed out) it stops the program and answers nothing.
* ``flowser.fetch`` (version 1): downloads ``url`` (http, https or file) to ``dest`` (default: a new
  temporary file), and completes with ``{"path", "sha256", "bytes"}`` when the SHA-256 matches;
  otherwise it fails with reason ``checksum mismatch`` and removes the file.

Sleeps are SWF timers of the job's own run: no worker runs them.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tempfile
import urllib.request
from typing import Any, ClassVar

from .. import types
from ..exceptions import Error, is_fault

__all__ = ["BUILTINS", "BUILTIN_TASK_LIST", "Builtins", "Fetch", "Shell", "TaskCanceled", "TaskFailed"]

BUILTIN_TASK_LIST = "flowser-builtins"
TAIL = 4_000


class TaskFailed(Error):
    """Raised by a built-in to fail its task with a reason (the worker reports ``TaskFailed: reason``)."""


def _tail(text: str) -> str:
    return text if len(text) <= TAIL else "..." + text[-TAIL:]


class _Builtin(types.Activity):
    task_list = os.environ.get("FLOWSER_BUILTINS_TASK_LIST") or BUILTIN_TASK_LIST
    """What a worker polls: ``flowser-builtins``, or ``$FLOWSER_BUILTINS_TASK_LIST`` (a job's tasks with
    ``task_list: gpu`` go to ``FLOWSER_BUILTINS_TASK_LIST=gpu flowser worker --builtins``)."""
    version = "1"
    start_to_close_timeout = 3600
    schedule_to_start_timeout = 3600
    schedule_to_close_timeout = 7200
    heartbeat_timeout = 300
    task_priority = 0

    @staticmethod
    def get_id_from_input(input: Any) -> str:
        raise Error("a job names its tasks' activity ids")

    def handle(self, task: Any) -> None:
        """Run the built-in the task names (one worker serves the built-ins' common task list)."""
        handler: _Builtin = self
        if task.activity_type.name != self.name and task.activity_type.name in BY_NAME:
            handler = BY_NAME[task.activity_type.name](self._domain)
        handler.task = self.task = task
        try:
            result = handler.run(task.input)
        except TaskCanceled as exc:
            task.cancel(details=str(exc) or None)
            return
        except TaskLost:
            task.closed = True  # nobody to answer: the worker logs it and moves on
            task.outcome = "lost"
            return
        except TaskFailed as exc:
            reason, _, details = str(exc).partition("\n")
            task.fail(details=details or None, reason=reason)
            return
        task.complete(result)


class TaskCanceled(Error):
    """Raised by a built-in that stopped because SWF asked to cancel its task (the task is then canceled)."""


class TaskLost(Error):
    """Raised by a built-in that stopped because SWF no longer knows its task (the run closed, the task
    timed out): nothing is answered."""


def _stop(proc: subprocess.Popen[str]) -> tuple[str, str]:
    """SIGTERM, then SIGKILL after 10 s; the program's output."""
    proc.terminate()
    try:
        return proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.communicate()


class Shell(_Builtin):
    name = "flowser.shell"
    heartbeat_every: ClassVar[float] = 10.0
    """While the program runs, a heartbeat every this many seconds: a cancellation request (the job was
    canceled) stops the program (SIGTERM, then SIGKILL after 10 s) and cancels the task."""

    def run(self, input: Any) -> Any:
        spec = input["shell"]
        argv = [spec["command"], *spec.get("args", [])]
        env = {**os.environ, **spec.get("env", {}), "FLOWSER_INPUT": json.dumps(input.get("input"))}
        try:
            proc = subprocess.Popen(
                argv, cwd=spec.get("cwd"), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace"
            )
        except OSError as exc:
            raise TaskFailed(f"cannot run {spec['command']}: {exc.strerror or exc}") from None
        while True:
            try:
                stdout, stderr = proc.communicate(timeout=self.heartbeat_every)
                break
            except subprocess.TimeoutExpired:
                if self.task is not None and self._should_stop():
                    stdout, stderr = _stop(proc)
                    if self.task.lost:
                        raise TaskLost() from None
                    raise TaskCanceled(json.dumps({"stdout": _tail(stdout), "stderr": _tail(stderr)})) from None
        out = {"exit_code": proc.returncode, "stdout": _tail(stdout), "stderr": _tail(stderr)}
        if self.task is not None and self.task.lost:
            raise TaskLost()
        if proc.returncode != 0:
            raise TaskFailed(f"exit code {proc.returncode}\n{json.dumps(out)}")
        return out


    def _should_stop(self) -> bool:
        """Heartbeat: True once the task's cancellation was requested, or SWF no longer knows it."""
        task = self.task
        assert task is not None
        if task.cancel_requested or task.lost:
            return True
        try:
            return task.heartbeat()
        except Exception as exc:
            if is_fault(exc, "UnknownResourceFault"):
                task.lost = True
                return True
            return False  # SWF cannot be reached: go on, the next heartbeat tries again


class Fetch(_Builtin):
    name = "flowser.fetch"

    def run(self, input: Any) -> Any:
        spec = input["fetch"]
        dest = spec.get("dest")
        if dest is None:
            handle, dest = tempfile.mkstemp(prefix="flowser-fetch-")
            os.close(handle)
        digest = hashlib.sha256()
        size = 0
        try:
            with urllib.request.urlopen(spec["url"], timeout=60) as response, open(dest, "wb") as out:
                while True:
                    chunk = response.read(65536)
                    if not chunk:
                        break
                    digest.update(chunk)
                    size += len(chunk)
                    out.write(chunk)
                    if self.task is not None and size % (1 << 24) < 65536:
                        self.task.heartbeat({"bytes": size})
        except OSError as exc:
            raise TaskFailed(f"cannot fetch {spec['url']}: {getattr(exc, 'reason', None) or exc}") from None
        if digest.hexdigest() != spec["sha256"]:
            os.unlink(dest)
            raise TaskFailed(f"checksum mismatch\nexpected sha256 {spec['sha256']}, got {digest.hexdigest()} ({size} bytes)")
        return {"path": dest, "sha256": digest.hexdigest(), "bytes": size}


class Builtins(Shell):
    """What ``flowser worker --builtins`` runs: polls ``flowser-builtins`` and runs each task's built-in."""


BUILTINS: dict[str, type[_Builtin]] = {"shell": Shell, "fetch": Fetch}
BY_NAME: dict[str, type[_Builtin]] = {cls.name: cls for cls in BUILTINS.values() if cls.name}
