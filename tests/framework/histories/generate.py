"""Write the saved histories the replay tests replay, from real runs on the local engine (virtual time).

    .venv/bin/python -m tests.framework.histories.generate

Each run goes through the real runners (``flowser.testing.workers``: the code
of ``flowser decider`` / ``flowser worker``) on a private store, and each
history is saved by the command line, as a user saves one from production:

* ``arithmetic.json`` -- examples/arithmetic: two activities, then complete
  (``flowser executions history ID -o json --file``);
* ``order.json`` and ``ship.json`` -- examples/orders/shop.py: an order that
  waits for an ``approve`` signal, charges, starts a ``Ship`` child, and the
  child's own history;
* ``reminder.jsonl`` -- ``reminder.Reminder``: a timer, a marker, an execution
  context and two continue-as-new, the whole chain
  (``flowser executions history ID --follow -o jsonl --file``).

Run it again after a deliberate change of these deciders: the replay tests
then hold the new decisions.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
for example in ("arithmetic", "orders"):
    if str(ROOT / "examples" / example) not in sys.path:
        sys.path.insert(0, str(ROOT / "examples" / example))

from flowser.cli import main as flowser_cli  # noqa: E402
from flowser.testing import Environment, wait_until  # noqa: E402

ARITHMETIC_INPUT = {"id": "replay-1", "operations": [["mult_id", "multiply", [1, 2, 3]], ["sum_id", "sum", [1, 2, 3, 4]]]}
ORDER_INPUT = {"order": 42, "amount": 30, "items": ["book", "pen"]}
REMINDER_INPUT = {"id": "r1", "every": 3600, "times": 3, "round": 1}


def save(env: Environment, workflow_id: str, run_id: str, path: Path, *more: str) -> Path:
    """``flowser executions history WORKFLOW_ID --run-id RUN_ID --file PATH [more]`` on ``env``'s store."""
    args = ["executions", "history", workflow_id, "--run-id", run_id, "--file", str(path), *more]
    status = flowser_cli([*args, "--backend", env.url, "--domain", str(env.domain.name)])
    if status != 0:
        raise RuntimeError(f"flowser {' '.join(args)} exited {status}")
    return path


def arithmetic(folder: Path, input: dict[str, Any] = ARITHMETIC_INPUT, decider: Any = None, name: str = "arithmetic.json") -> Path:
    """Run the arithmetic example (with ``decider``, a variant of its workflow, if given) and save its history."""
    from activities import MultiplyActivity, SumActivity
    from workflows import ArithmeticWorkflow, MathDomain

    with Environment(MathDomain) as env:
        with env.workers(decider or ArithmeticWorkflow, MultiplyActivity, SumActivity):
            run = env.domain.start(ArithmeticWorkflow, input)
            run.result(timeout=30)
        return save(env, run.workflow_id, str(run.run_id), folder / name)


def order(folder: Path, decider: Any = None, prefix: str = "") -> tuple[Path, Path]:
    """examples/orders (``decider``: a variant of ``Order``): approve an order once its first decision task is done; save it and its child."""
    from shop import Charge, Order, Pack, Ship, Shop

    with Environment(Shop) as env:
        with env.workers(decider or Order, Ship, Charge, Pack):
            run = env.domain.start(Order, ORDER_INPUT)
            wait_until(lambda: any(e.type == "DecisionTaskCompleted" for e in run.history()))
            run.signal("approve", "alice")
            run.result(timeout=30)
        history = run.history()
        child = history.children[f"ship-{ORDER_INPUT['order']}"]
        return (
            save(env, run.workflow_id, str(run.run_id), folder / f"{prefix}order.json"),
            save(env, child.workflow_id, str(child.run_id), folder / f"{prefix}ship.json"),
        )


def reminder(folder: Path) -> Path:
    """``Reminder``: three one-hour timers on virtual time, over a chain of three runs."""
    from .reminder import Reminder, Reminders

    with Environment(Reminders) as env:
        with env.workers(Reminder):
            first = env.domain.start(Reminder, REMINDER_INPUT)
            current = first
            for _ in range(REMINDER_INPUT["times"]):
                wait_until(lambda run=current: run.history().timers.get("tick"))
                env.sleep(REMINDER_INPUT["every"])
                history = wait_until(lambda run=current: run.closed_history())
                if history.new_run_id:
                    current = env.domain.execution(current.workflow_id, history.new_run_id, Reminder)
            first.result(timeout=30)
        return save(env, first.workflow_id, str(first.run_id), folder / "reminder.jsonl", "--follow", "-o", "jsonl")


def generate(folder: Path = HERE) -> list[Path]:
    return [arithmetic(folder), *order(folder), reminder(folder)]


if __name__ == "__main__":
    for written in generate(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE):
        print(written)
