"""The tests' local cluster is a real Redis Cluster: 3 masters own every slot, each with an in-sync replica."""

from __future__ import annotations

from typing import Any

from .local_cluster import SLOTS, LocalCluster


def test_three_masters_own_every_slot_each_with_a_replica(cluster: LocalCluster, cluster_client: Any) -> None:
    masters = cluster.masters()
    assert len(masters) == 3
    info = masters[0].client().execute_command("CLUSTER", "INFO").decode()
    assert "cluster_state:ok" in info and f"cluster_slots_assigned:{SLOTS}" in info
    replicas = [n for n in cluster.nodes if n not in masters]
    assert len(replicas) == 3
    assert {r.client().info("replication")["master_port"] for r in replicas} == {m.port for m in masters}
    # keys of different slots land on different masters, each readable through the cluster client
    for n in range(30):
        cluster_client.set(f"k{n}", n)
    assert sum(1 for m in masters if m.client().dbsize() > 0) == 3
    assert [int(cluster_client.get(f"k{n}")) for n in range(30)] == list(range(30))
