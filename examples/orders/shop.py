"""The operator walkthrough's workflows (docs/cli.md): an order waits for approval, charges, then ships.

* ``Order`` (decisions on ``orders``) waits for an ``approve`` signal, then
  schedules ``Charge``; when the charge completes it starts one ``Ship``
  child workflow, and completes with the receipt and the parcel.
* ``Ship`` (decisions on ``shipping``) schedules ``Pack`` and completes with
  its result.

Run one process per type (``flowser decider shop:Order --register``...), as
docs/cli.md shows.
"""

from __future__ import annotations

from typing import Any

import flowser
from flowser import types
from flowser.history import COMPLETED


class Charge(types.Activity):
    name, version, task_list = "Charge", "1", "charges"
    start_to_close_timeout = 60

    @classmethod
    def get_id_from_input(cls, input: Any) -> str:
        return f"charge-{input['order']}"

    def run(self, input: Any) -> Any:
        return {"receipt": f"R-{input['order']}", "amount": input["amount"]}


class Pack(types.Activity):
    name, version, task_list = "Pack", "1", "packing"
    start_to_close_timeout = 60

    @classmethod
    def get_id_from_input(cls, input: Any) -> str:
        return f"pack-{input['order']}"

    def run(self, input: Any) -> Any:
        return {"parcel": f"P-{input['order']}", "items": len(input["items"])}


class Ship(types.Workflow):
    name, version, task_list = "Ship", "1", "shipping"

    @classmethod
    def get_id_from_input(cls, input: Any) -> str:
        return f"ship-{input['order']}"

    def decide(self, task: Any) -> None:
        history = task.history
        pack = history.activities.get(f"pack-{history.start_input['order']}")
        if pack is None:
            task.schedule(Pack, history.start_input)
        elif pack.status == COMPLETED:
            task.complete_workflow(pack.result)
        elif not pack.is_open:
            task.fail_workflow(reason=f"packing {pack.status}")


class Order(types.Workflow):
    name, version, task_list = "Order", "1", "orders"
    execution_start_to_close_timeout = 3600

    @classmethod
    def get_id_from_input(cls, input: Any) -> str:
        return f"order-{input['order']}"

    def decide(self, task: Any) -> None:
        history = task.history
        order = history.start_input
        if not history.signals_named("approve"):
            return  # nothing to do until someone approves
        charge = history.activities.get(f"charge-{order['order']}")
        ship = history.children.get(f"ship-{order['order']}")
        if charge is None:
            task.schedule(Charge, order)
        elif charge.status != COMPLETED:
            if not charge.is_open:
                task.fail_workflow(reason=f"charge {charge.status}")
        elif ship is None:
            task.start_child(Ship, order)
        elif ship.status == COMPLETED:
            task.complete_workflow({**charge.result, **ship.result, "approved_by": history.signals_named("approve")[0].input})
        elif not ship.is_open:
            task.fail_workflow(reason=f"shipping {ship.status}")


class Shop(flowser.Domain):
    name = "shop"
    retention_period = "7"
    workflow_types = [Order, Ship]
    activity_types = [Charge, Pack]
