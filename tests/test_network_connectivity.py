"""The production network is exactly the declared connections: nothing declared is blocked, nothing else is open.

The flows are computed, not read from the policy names: the NetworkPolicies
and pod labels in dist/production are evaluated with the NetworkPolicy
semantics of ``netpol_eval`` (both the source's egress and the destination's
ingress must allow a flow) for every pair of ends and every port anyone
declares, plus a probe port nobody declares (a rule without ``ports`` opens
it). The result must equal ``DECLARED`` below, the oracle, written by hand
from the architecture, not from the manifests.

Ends: one pod per workload of dist/production (a pod to itself stands for
"to another replica"), named by its ``app.kubernetes.io/instance`` label
(``instance/component`` when one instance has several workloads, as Redis
and its Sentinels do), the CI runners included (the pod template of the
AutoscalingRunnerSet in their own namespace); cluster DNS in kube-system;
the ingress controller's namespace; a stray pod in each of our namespaces
("stranger" and "runner-stranger", e.g. a debug pod); pods in another
namespace wearing the API's and the runners' labels ("outsider",
"runner-outsider"); a public address ("internet"); the Kubernetes API
server ("kubernetes-api", at the address the policies name for it). Flows
between two ends outside our namespaces are not ours to police and are
left out.
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from typing import Any

import pytest

from .manifests import dist_objects
from .netpol_eval import (
    Cluster,
    External,
    Flow,
    Pod,
    allowed_flows,
    candidate_ports,
    ip_block_matches,
    pods_of_workload,
)
from .test_pod_security import CUSTOM_POD_TEMPLATE_KINDS, POD_TEMPLATE_KINDS

NAMESPACE = "leanvibe"
RUNNER_NAMESPACE = "leanvibe-runners"
OUR_NAMESPACES = (NAMESPACE, RUNNER_NAMESPACE)
INGRESS_NAMESPACE = "ingress-nginx"
PROBE_PORTS = [(65000, "TCP"), (65000, "UDP")]

# --- the ends ----------------------------------------------------------------------------
API = "leanvibe-api"
POSTGRES = "leanvibe-postgres"
REDIS = "leanvibe-redis/cache"
SENTINEL = "leanvibe-redis/sentinel"
PROMETHEUS = "leanvibe-prometheus"
ALERTMANAGER = "leanvibe-alertmanager"
GRAFANA = "leanvibe-grafana"
KUBE_STATE_METRICS = "leanvibe-kube-state-metrics"
RUNNER = "leanvibe-deploy"
INGRESS = INGRESS_NAMESPACE
DNS = "kube-dns"
INTERNET = "internet"
KUBERNETES_API = "kubernetes-api"
KUBELETS = "kubelets"
STRANGER = "stranger"
RUNNER_STRANGER = "runner-stranger"
OUTSIDER = "outsider"
RUNNER_OUTSIDER = "runner-outsider"
PRIVATE_NETWORK = "private-network"
CLOUD_METADATA = "cloud-metadata"
# Ends outside the cluster whose address differs per cluster: found in the policies
# by the names the constructs give them ("<client>-to-kubernetes-api" from
# ZeroTrustPolicies and MonitoringStack, "-to-kube-apiserver" from PostgresHA).
NAMED_IP_ENDS = {
    KUBERNETES_API: ("-to-kubernetes-api", "-to-kube-apiserver"),
    KUBELETS: ("-to-kubelets",),
}
# The API server's endpoint port after the Service's DNAT: 443 on GKE, EKS and AKS,
# 6443 on kubeadm; the manifests are cloud-neutral, so both are declared.
KUBERNETES_API_PORTS = (443, 6443)

# --- the oracle: every flow the architecture needs, and nothing else --------------------
DECLARED: set[Flow] = {
    # The only way in from outside: the ingress controller to the API's http port.
    Flow(INGRESS, API, 8000),
    # The API's dependencies.
    Flow(API, POSTGRES, 5432),
    Flow(API, REDIS, 6379),
    Flow(API, SENTINEL, 26379),
    # PostgreSQL members replicate (5432) and Patroni members check each other (8008).
    Flow(POSTGRES, POSTGRES, 5432),
    Flow(POSTGRES, POSTGRES, 8008),
    # Patroni keeps its leader lock in the Kubernetes API.
    *(Flow(POSTGRES, KUBERNETES_API, port) for port in KUBERNETES_API_PORTS),
    # Redis replicas follow the master; Sentinels watch the data nodes and talk to each
    # other; a starting data node asks the Sentinels who the master is.
    Flow(REDIS, REDIS, 6379),
    Flow(SENTINEL, REDIS, 6379),
    Flow(SENTINEL, SENTINEL, 26379),
    Flow(REDIS, SENTINEL, 26379),
    # Prometheus scrapes every metrics port: the API, the PostgreSQL exporter and
    # Patroni's REST API, the Redis exporter, the monitoring components (its peer
    # replica included), and the kubelets; it discovers targets in the Kubernetes API.
    Flow(PROMETHEUS, API, 9090),
    Flow(PROMETHEUS, POSTGRES, 9187),
    Flow(PROMETHEUS, POSTGRES, 8008),
    Flow(PROMETHEUS, REDIS, 9121),
    Flow(PROMETHEUS, SENTINEL, 9121),  # the sentinels' own redis_exporter
    Flow(PROMETHEUS, PROMETHEUS, 9090),
    Flow(PROMETHEUS, ALERTMANAGER, 9093),
    Flow(PROMETHEUS, GRAFANA, 3000),
    Flow(PROMETHEUS, KUBE_STATE_METRICS, 8080),
    Flow(PROMETHEUS, KUBELETS, 10250),
    *(Flow(PROMETHEUS, KUBERNETES_API, port) for port in KUBERNETES_API_PORTS),
    # kube-state-metrics reads object state from the Kubernetes API.
    *(Flow(KUBE_STATE_METRICS, KUBERNETES_API, port) for port in KUBERNETES_API_PORTS),
    # Dashboards and alerting.
    Flow(GRAFANA, PROMETHEUS, 9090),
    Flow(ALERTMANAGER, ALERTMANAGER, 9094, "TCP"),  # cluster gossip: TCP and UDP
    Flow(ALERTMANAGER, ALERTMANAGER, 9094, "UDP"),
    # Egress to the internet: Alertmanager pages PagerDuty over HTTPS; WAL-G ships
    # WAL and base backups to object storage.
    Flow(ALERTMANAGER, INTERNET, 443),
    Flow(POSTGRES, INTERNET, 443),
    # CI runners (their own namespace): GitHub and the registry over HTTPS, the
    # Kubernetes API for the deploy job's kubectl, the API's http port for the
    # smoke test through the preview/live Service. Nothing may connect to them.
    Flow(RUNNER, INTERNET, 443),
    *(Flow(RUNNER, KUBERNETES_API, port) for port in KUBERNETES_API_PORTS),
    Flow(RUNNER, API, 8000),
}

INTERNET_EGRESS = {(ALERTMANAGER, 443, "TCP"), (POSTGRES, 443, "TCP"), (RUNNER, 443, "TCP")}
# Pods that get cluster DNS: every pod in the platform's namespace (ZeroTrustPolicies
# allows it namespace-wide) and the runners (their own policy); not a stray pod in
# the runners' namespace, whose default-deny leaves it nothing.


def workload_name(pod: Pod, shared_instances: set[str]) -> str:
    instance = pod.labels.get("app.kubernetes.io/instance", pod.name)
    if instance in shared_instances:
        return f"{instance}/{pod.labels.get('app.kubernetes.io/component', pod.name)}"
    return instance


def production_world(objects: list[dict[str, Any]] | None = None) -> tuple[Cluster, list[Pod], list[External]]:
    objects = dist_objects("production") if objects is None else objects
    cluster = Cluster()
    for namespace in (o for o in objects if o["kind"] == "Namespace"):
        cluster.add_namespace(namespace["metadata"]["name"], namespace["metadata"].get("labels"))
    for namespace in ("kube-system", INGRESS_NAMESPACE, "other", *OUR_NAMESPACES):
        if namespace not in cluster.namespaces:
            cluster.add_namespace(namespace)
    for policy in (o for o in objects if o["kind"] == "NetworkPolicy"):
        cluster.add_policy(policy)

    workloads = [o for o in objects if o["kind"] in POD_TEMPLATE_KINDS | CUSTOM_POD_TEMPLATE_KINDS]
    components = {}
    for workload in workloads:
        labels = workload["metadata"]["labels"]
        components.setdefault(labels["app.kubernetes.io/instance"], set()).add(labels["app.kubernetes.io/component"])
    shared = {instance for instance, found in components.items() if len(found) > 1}
    pods: dict[str, Pod] = {}
    for index, workload in enumerate(workloads):
        pod = pods_of_workload(workload, ip=f"10.8.0.{index + 10}")
        name = workload_name(pod, shared)
        # Blue and green colours of one release are one end.
        pods.setdefault(name, Pod(name, pod.namespace, pod.labels, pod.ip, pod.ports))
    others = [
        Pod(DNS, "kube-system", {"k8s-app": "kube-dns"}, "10.8.1.1"),
        Pod(INGRESS, INGRESS_NAMESPACE, {"app.kubernetes.io/name": "ingress-nginx"}, "10.8.2.1"),
        Pod(STRANGER, NAMESPACE, {"app": "debug"}, "10.8.0.250"),
        Pod(RUNNER_STRANGER, RUNNER_NAMESPACE, {"app": "debug"}, "10.8.0.251"),
        # Wear the API's and the runners' labels in another namespace: selectors must pin the namespace.
        Pod(OUTSIDER, "other", dict(pods[API].labels), "10.8.3.1") if API in pods else None,
        Pod(RUNNER_OUTSIDER, "other", dict(pods[RUNNER].labels), "10.8.3.2") if RUNNER in pods else None,
    ]
    return cluster, list(pods.values()) + [p for p in others if p], external_ends(cluster.policies)


def external_ends(policies: list[dict[str, Any]]) -> list[External]:
    """Addresses outside the cluster to probe.

    The internet, a private address outside the cluster and the cloud
    metadata service (no pod may reach either), the Kubernetes API server and
    the kubelets at the ranges their policies name, and one address inside
    every other ipBlock any policy names, so that no ipBlock opens a flow the
    oracle cannot see.
    """
    ends = [
        External(INTERNET, "198.51.100.7"),
        External(PRIVATE_NETWORK, "10.200.0.1"),
        External(CLOUD_METADATA, "169.254.169.254"),
    ]
    blocks = {
        (policy["metadata"]["name"], peer["ipBlock"]["cidr"], tuple(peer["ipBlock"].get("except") or ()))
        for policy in policies
        for direction, side in (("ingress", "from"), ("egress", "to"))
        for rule in policy["spec"].get(direction) or []
        for peer in rule.get(side) or []
        if "ipBlock" in peer
    }
    named: set[str] = set()
    for end, suffixes in NAMED_IP_ENDS.items():
        cidrs = sorted({cidr for name, cidr, _ in blocks if name.endswith(suffixes)})
        for cidr in cidrs:
            assert ipaddress.ip_network(cidr).prefixlen > 0, f"the {end} range {cidr} is the whole internet"
        if cidrs:
            ends.append(External(end, sample_address(cidrs[0], ())))
            named.update(cidrs)
    for cidr, excepted in sorted({(cidr, excepted) for _, cidr, excepted in blocks if cidr not in named}):
        block = {"cidr": cidr, "except": list(excepted)}
        if any(ip_block_matches(block, end.ip) for end in ends):
            continue  # already probed, e.g. the internet block by the internet address
        address = sample_address(cidr, excepted)
        if address:
            ends.append(External(f"ipBlock {cidr}", address))
    return ends


def sample_address(cidr: str, excepted: tuple[str, ...]) -> str | None:
    """The first host address of ``cidr`` outside ``excepted`` (None if there is none in the first 1024)."""
    network = ipaddress.ip_network(cidr)
    excluded = [ipaddress.ip_network(e) for e in excepted]
    if network.num_addresses == 1:
        return str(network.network_address)
    for index, host in enumerate(network.hosts()):
        if index > 1024:
            return None
        if not any(host in e for e in excluded):
            return str(host)
    return None


@pytest.fixture(scope="module")
def world():
    return production_world()


@pytest.fixture(scope="module")
def flows(world) -> set[Flow]:
    cluster, pods, externals = world
    ours = {p.name for p in pods if p.namespace in OUR_NAMESPACES}
    ports = candidate_ports(pods, cluster.policies, extra=PROBE_PORTS)
    ends = pods + externals
    return {f for f in allowed_flows(cluster, ends, ends, ports) if f.source in ours or f.destination in ours}


def expected_flows(world) -> set[Flow]:
    _, pods, externals = world
    present = {p.name for p in pods} | {e.name for e in externals}
    expected = {f for f in DECLARED if f.source in present and f.destination in present}
    for name in dns_clients(pods):
        expected |= {Flow(name, DNS, 53, "UDP"), Flow(name, DNS, 53, "TCP")}
    return expected


def dns_clients(pods: list[Pod]) -> list[str]:
    return [p.name for p in pods if p.namespace == NAMESPACE or p.name == RUNNER]


def test_every_declared_workload_is_in_dist(world):
    _, pods, externals = world
    present = {p.name for p in pods} | {e.name for e in externals}
    ends = {f.source for f in DECLARED} | {f.destination for f in DECLARED}
    assert not ends - present, f"declared ends missing from dist/production: {sorted(ends - present)}"


def test_workload_names_are_unique_per_end(world):
    _, pods, _ = world
    counts = Counter(p.name for p in pods)
    assert all(n == 1 for n in counts.values()), counts


def test_allowed_flows_equal_the_declared_connections(world, flows):
    expected = expected_flows(world)
    blocked = sorted(map(str, expected - flows))
    undeclared = sorted(map(str, flows - expected))
    assert not blocked and not undeclared, (
        "declared but blocked:\n  " + "\n  ".join(blocked) + "\nopen but not declared:\n  " + "\n  ".join(undeclared)
    )


def test_internet_egress_is_only_paging_backups_and_ci_over_https(flows):
    internet = {(f.source, f.port, f.protocol) for f in flows if f.destination == INTERNET}
    assert internet == INTERNET_EGRESS, f"internet egress {sorted(internet)} != {sorted(INTERNET_EGRESS)}"


def test_runners_reach_only_dns_the_internet_the_kubernetes_api_and_the_api_and_nothing_reaches_them(flows):
    assert {f for f in flows if f.source == RUNNER} == {
        Flow(RUNNER, DNS, 53, "UDP"), Flow(RUNNER, DNS, 53, "TCP"), Flow(RUNNER, INTERNET, 443),
        Flow(RUNNER, KUBERNETES_API, 443), Flow(RUNNER, KUBERNETES_API, 6443), Flow(RUNNER, API, 8000)}
    assert not {f for f in flows if f.destination == RUNNER}


def test_nothing_enters_from_the_internet_or_other_namespaces_except_the_ingress_controller(flows):
    inbound = {f for f in flows if f.source in (INTERNET, PRIVATE_NETWORK, CLOUD_METADATA, OUTSIDER,
                                                RUNNER_OUTSIDER, KUBERNETES_API, KUBELETS, DNS, INGRESS)
               or f.source.startswith("ipBlock")}
    assert inbound <= {Flow(INGRESS, API, 8000)}, sorted(map(str, inbound))


def test_dns_is_open_for_every_pod_and_only_to_kube_dns(world, flows):
    _, pods, _ = world
    ours = dns_clients(pods)
    assert RUNNER in ours and API in ours
    for name in ours:
        assert Flow(name, DNS, 53, "UDP") in flows and Flow(name, DNS, 53, "TCP") in flows, name
    assert {f.port for f in flows if f.destination == DNS} == {53}


def test_a_stray_pod_in_the_namespace_gets_dns_and_nothing_else(flows):
    assert {f for f in flows if STRANGER in (f.source, f.destination)} == {
        Flow(STRANGER, DNS, 53, "UDP"), Flow(STRANGER, DNS, 53, "TCP")}


def test_a_stray_pod_in_the_runner_namespace_gets_nothing(world, flows):
    assert RUNNER_STRANGER in {p.name for p in world[1]}
    assert not {f for f in flows if RUNNER_STRANGER in (f.source, f.destination)}


def test_no_pod_reaches_the_cloud_metadata_service_or_other_private_addresses(flows):
    assert not [str(f) for f in flows if f.destination in (CLOUD_METADATA, PRIVATE_NETWORK)]


def test_no_rule_opens_every_port(flows):
    assert not [str(f) for f in flows if f.port == PROBE_PORTS[0][0]]
