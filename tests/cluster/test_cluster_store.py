"""The store on a Redis Cluster: URLs, routing by domain, transactions on one slot, MOVED.

What a user sees: the same SWF answers whichever master holds a domain, and a
slot moved to another master under a running engine costs nothing but a retry.
"""

from __future__ import annotations

from typing import Any

import pytest
import redis

from backends.local import connect, open_store
from backends.local.events import dump_event
from backends.local.keys import DomainKeys
from backends.local.store import ClusterStore, RedisStore
from tests.engine.helpers import history, poll_decision, setup_domain, start

from .local_cluster import LocalCluster, Node


def decide_nothing(swf: Any, domain: str) -> None:
    task = poll_decision(swf, domain=domain)
    swf.respond_decision_task_completed(taskToken=task["taskToken"], decisions=[])


def owner(cluster: LocalCluster, domain: str) -> Node:
    from redis.crc import key_slot

    return cluster.master_of_slot(key_slot(DomainKeys(domain).types.encode()))


def test_every_url_form_reaches_the_cluster(cluster: LocalCluster, cluster_client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    one = cluster.nodes[0]
    stores = [
        open_store(cluster.url),
        open_store(f"redis+cluster://127.0.0.1:{one.port}"),  # one seed is enough
        open_store(f"redis://127.0.0.1:{one.port}/0"),  # a node's plain URL: cluster mode detected
    ]
    monkeypatch.setenv("FLOWSER_REDIS_URL", cluster.url)
    stores.append(open_store())
    try:
        assert all(isinstance(s, ClusterStore) and s.cluster for s in stores)
    finally:
        for s in stores:
            s.close()
    with pytest.raises(ValueError, match="database 0"):
        open_store(f"redis+cluster://127.0.0.1:{one.port}/3")


def test_domains_spread_over_the_masters_and_each_lives_on_one(cluster: LocalCluster, cluster_client: Any) -> None:
    swf = connect(cluster.url, poll_hold=0.5)
    try:
        domains = [f"dom{n}" for n in range(12)]
        for domain in domains:
            setup_domain(swf, domain)
            run_id = start(swf, "w1", domain=domain)
            decide_nothing(swf, domain)
            assert [e["eventType"] for e in history(swf, run_id, domain=domain)][-1] == "DecisionTaskCompleted"
        holders = {owner(cluster, d).port for d in domains}
        assert len(holders) == 3  # 12 domains: every master holds some (their tags hash apart)
        for domain in domains:
            tag = DomainKeys(domain).base
            node = owner(cluster, domain)
            found = {n.port for n in cluster.masters() if n.client().keys(f"{tag}*")}
            assert found == {node.port}
    finally:
        swf.close()


def test_a_transaction_that_fails_runs_again_and_writes_once(cluster: LocalCluster, cluster_client: Any) -> None:
    swf = connect(cluster.url)
    try:
        setup_domain(swf, "d")
        store: RedisStore = swf.flowser_engine.store
        dk = DomainKeys("d")
        watched = dk.base + "test-watched"  # in the domain's slot, as every watched key
        event = dump_event({"eventId": 1, "eventTimestamp": 1.0, "eventType": "MarkerRecorded", "markerRecordedEventAttributes": {}})
        attempts: list[int] = []

        def body(tx: Any) -> None:
            tx.read_many(("GET", watched))
            attempts.append(1)
            if len(attempts) == 1:
                cluster_client.set(watched, "changed")  # EXEC fails: nothing of this attempt is written
            tx.multi()
            tx.append_events(dk, "r1", [event])
            tx.stream_events(dk, 100, "r1|w1|wf|1", [event])

        store.transaction([watched], body)
        assert len(attempts) == 2
        assert store.history_range(dk, "r1", 0, -1) == [event]
        assert store.stream_last(dk) == 1

        def aborted(tx: Any) -> None:
            tx.read_many(("GET", watched))
            tx.multi()
            tx.append_events(dk, "r2", [event])
            tx.stream_events(dk, 100, "r2|w2|wf|1", [event])
            tx._write("SET", dk.base + "only-a-key")  # refused when queued: the whole EXEC is aborted

        with pytest.raises(redis.ResponseError):
            store.transaction([watched], aborted)
        assert store.history_range(dk, "r2", 0, -1) == []
        assert store.stream_last(dk) == 1
    finally:
        swf.close()


def migrate_slot(cluster: LocalCluster, slot: int, source: Node, target: Node) -> None:
    """Move one slot and its keys from ``source`` to ``target`` (what a resharding does)."""
    src, dst = source.client(), target.client()
    dst.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", source.node_id)
    src.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", target.node_id)
    while keys := src.execute_command("CLUSTER", "GETKEYSINSLOT", slot, 100):
        src.execute_command("MIGRATE", "127.0.0.1", target.port, "", 0, 5000, "KEYS", *keys)
    for node in cluster.masters():
        node.client().execute_command("CLUSTER", "SETSLOT", slot, "NODE", target.node_id)


def test_a_domain_whose_slot_moves_to_another_master_carries_on(
    cluster: LocalCluster, cluster_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from redis.crc import key_slot

    swf = connect(cluster.url, poll_hold=0.5)
    store = swf.flowser_engine.store
    refreshed: list[str] = []
    rerouted = store.rerouted
    monkeypatch.setattr(store, "rerouted", lambda error, started: (refreshed.append(type(error).__name__), rerouted(error, started)))
    try:
        setup_domain(swf, "moving")
        run_id = start(swf, "w1", domain="moving")
        slot = key_slot(DomainKeys("moving").types.encode())
        source = owner(cluster, "moving")
        target = next(n for n in cluster.masters() if n.port != source.port)
        migrate_slot(cluster, slot, source, target)
        # the engine still routes by its old slot map: MOVED, a fresh map, the same answers
        decide_nothing(swf, "moving")
        start(swf, "w2", domain="moving")
        assert [e["eventType"] for e in history(swf, run_id, domain="moving")][-1] == "DecisionTaskCompleted"
        assert swf.count_open_workflow_executions(
            domain="moving", startTimeFilter={"oldestDate": 0}
        )["count"] == 2
        assert owner(cluster, "moving").port == target.port
        assert "MovedError" in refreshed  # the old map was used, and corrected
        assert not source.client().keys(f"{DomainKeys('moving').base}*")
    finally:
        swf.close()
        migrate_slot(cluster, key_slot(DomainKeys("moving").types.encode()), target, source)  # as the session had it


def test_a_cluster_url_must_name_nodes_as_host_port() -> None:
    with pytest.raises(ValueError, match="host:port"):
        open_store("redis+cluster://127.0.0.1")
    with pytest.raises((redis.RedisError, redis.exceptions.RedisClusterException)):
        open_store("redis+cluster://127.0.0.1:1")


def test_min_replicas_ack_answers_a_change_only_once_replicas_have_it(cluster: LocalCluster, cluster_client: Any) -> None:
    from botocore.exceptions import ClientError

    from backends.local import EngineConfig

    one = connect(cluster.url, config=EngineConfig(min_replicas_ack=1, replica_ack_timeout=2.0))
    two = connect(cluster.url, config=EngineConfig(min_replicas_ack=2, replica_ack_timeout=0.2))
    try:
        setup_domain(one, "acked")
        run_id = start(one, "w1", domain="acked")
        # each master has one replica: the change is made, but two replicas can never confirm it
        with pytest.raises(ClientError) as raised:
            start(two, "w2", domain="acked")
        error = raised.value.response["Error"]
        assert error["Code"] == "InternalFailure" and "1 of the 2 replicas" in error["Message"]
        assert history(one, run_id, domain="acked")[0]["eventType"] == "WorkflowExecutionStarted"
    finally:
        one.close()
        two.close()
