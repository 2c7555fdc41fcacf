"""cdk8s-plus-27 workloads of a team's own chart connect to these constructs under default deny."""

from __future__ import annotations

import cdk8s
import cdk8s_plus_27 as kplus
import pytest

from leanvibe_constructs import Endpoint, PostgresHA

from .manifests import find
from .netpol_eval import Cluster, Pod, allowed_flows
from .schemas import validate_object

WORKER_IMAGE = "ghcr.io/acme/worker:1.0.0"


def compose() -> tuple[list[dict], kplus.Deployment]:
    app = cdk8s.App()
    chart = cdk8s.Chart(app, "team", namespace="leanvibe", disable_resource_name_hashes=True)
    worker = kplus.Deployment(chart, "Worker", containers=[kplus.ContainerProps(image=WORKER_IMAGE)])
    postgres = PostgresHA(chart, "Postgres")
    postgres.allow_from(Endpoint.from_cdk8s_plus(worker))
    return list(cdk8s.Testing.synth(chart)), worker


def test_a_cdk8s_plus_deployment_gets_the_egress_half_and_postgres_the_ingress_half():
    objects, worker = compose()
    egress = find(objects, "NetworkPolicy", f"{worker.name}-to-leanvibe-postgres")
    ingress = find(objects, "NetworkPolicy", f"leanvibe-postgres-from-{worker.name}")
    assert egress["spec"]["podSelector"] == {"matchLabels": worker.match_labels}
    assert egress["spec"]["egress"][0]["ports"] == [{"port": 5432, "protocol": "TCP"}]
    assert ingress["spec"]["ingress"][0]["from"][0]["podSelector"] == {"matchLabels": worker.match_labels}
    for policy in (egress, ingress):
        assert validate_object(policy, "1.27.0") is None and validate_object(policy, "1.37.0") is None


def test_the_evaluated_policies_open_exactly_5432_from_the_worker():
    objects, worker = compose()
    cluster = Cluster()
    cluster.add_namespace("leanvibe")
    for policy in (o for o in objects if o["kind"] == "NetworkPolicy"):
        cluster.add_policy(policy)
    postgres_labels = find(objects, "StatefulSet")["spec"]["template"]["metadata"]["labels"]
    worker_pod = Pod("worker", "leanvibe", dict(worker.match_labels), "10.8.0.2")
    postgres_pod = Pod("postgres", "leanvibe", postgres_labels, "10.8.0.3")
    flows = allowed_flows(cluster, [worker_pod], [postgres_pod], [(p, "TCP") for p in (5432, 8008, 9187)])
    assert {(f.source, f.destination, f.port) for f in flows} == {("worker", "postgres", 5432)}


def test_a_workload_that_selects_nothing_is_refused():
    app = cdk8s.App()
    chart = cdk8s.Chart(app, "team", namespace="leanvibe")
    worker = kplus.Deployment(chart, "Worker", select=False, containers=[kplus.ContainerProps(image=WORKER_IMAGE)])
    with pytest.raises(ValueError, match="selects no pods"):
        Endpoint.from_cdk8s_plus(worker)
