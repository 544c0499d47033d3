"""A workflow with a timer, a marker, an execution context and continue-as-new, for the replay tests.

``Reminder`` waits ``every`` seconds on a timer, records a ``reminded``
marker, and continues as new until it has reminded ``times`` times; the
last run completes with the number of reminders. Each decision task
answers with an execution context (``{"round": n}``).
"""

from __future__ import annotations

from typing import Any

import flowser
from flowser import types
from flowser.history import FIRED


class Reminder(types.Workflow):
    name, version, task_list = "Reminder", "1", "reminders"
    execution_start_to_close_timeout = 86400
    task_start_to_close_timeout = 60
    child_policy = "TERMINATE"

    @classmethod
    def get_id_from_input(cls, input: Any) -> str:
        return f"reminder-{input['id']}"

    def decide(self, task: Any) -> None:
        history = task.history
        spec = history.start_input
        timer = history.timers.get("tick")
        if timer is None:
            task.start_timer("tick", spec["every"], control={"round": spec["round"]})
        elif timer.status == FIRED:
            task.mark("reminded", {"round": spec["round"]})
            if spec["round"] < spec["times"]:
                task.continue_as_new({**spec, "round": spec["round"] + 1})
            else:
                task.complete_workflow({"reminded": spec["round"]})
        task.complete(context={"round": spec["round"]})


class Reminders(flowser.Domain):
    name = "reminders"
    retention_period = "1"
    workflow_types = [Reminder]
