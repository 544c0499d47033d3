"""The operator commands on a Redis Cluster: ``flowser listen`` and ``flowser reset`` with its URL."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import backends
from backends.local.keys import DomainKeys
from tests.engine.helpers import WF, setup_domain

from .local_cluster import LocalCluster
from .test_cluster_timekeeper import one_domain_per_master

ROOT = Path(__file__).resolve().parents[2]


def flowser(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "flowser.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


def test_listen_follows_a_domain_on_the_cluster(cluster: LocalCluster, cluster_client: Any) -> None:
    swf = backends.connect(cluster.url)  # the same URL the CLI's --backend takes
    try:
        setup_domain(swf, "heard")
        run_id = swf.start_workflow_execution(domain="heard", workflowId="w1", workflowType=WF)["runId"]
        swf.signal_workflow_execution(domain="heard", workflowId="w1", signalName="s")
    finally:
        swf.close()
    done = flowser("listen", "--backend", cluster.url, "--domain", "heard", "--from", "0", "-o", "jsonl", "--limit", "3")
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [line["event"]["eventType"] for line in lines] == [
        "WorkflowExecutionStarted", "DecisionTaskScheduled", "WorkflowExecutionSignaled"
    ]
    assert {line["runId"] for line in lines} == {run_id}


def test_reset_wipes_every_master_and_only_flowser_keys(cluster: LocalCluster, cluster_client: Any) -> None:
    domains = one_domain_per_master(cluster)
    swf = backends.connect(cluster.url)
    try:
        for domain in domains:
            setup_domain(swf, domain)
            swf.start_workflow_execution(domain=domain, workflowId="w1", workflowType=WF)
        cluster_client.set("not-flowser", "kept")
        assert all(m.client().keys("swf:*") for m in cluster.masters())  # every master holds some
        done = flowser("reset", "--redis", cluster.url, "--yes")
        assert done.returncode == 0, done.stderr
        assert not any(m.client().keys("swf:*") for m in cluster.masters())
        # a node's plain URL reaches the whole cluster too
        setup_domain(swf, "again")
        done = flowser("reset", "--redis", f"redis://127.0.0.1:{cluster.masters()[-1].port}/0", "--yes")
        assert done.returncode == 0, done.stderr
        assert not any(m.client().keys("swf:*") for m in cluster.masters())
        assert cluster_client.get("not-flowser") == b"kept"
        # the running engine forgot the domains it had cached: they are unknown now
        assert swf.list_domains(registrationStatus="REGISTERED")["domainInfos"] == []
        assert not cluster_client.exists(DomainKeys(domains[0]).types)
    finally:
        swf.close()


def test_an_unreachable_cluster_is_one_line_not_a_traceback() -> None:
    done = flowser("reset", "--redis", "redis+cluster://127.0.0.1:1", "--yes")
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
