"""ZeroTrustPolicies: default deny, DNS only to kube-dns, and declared connections on exactly their ports."""

from __future__ import annotations

import pytest

from leanvibe_constructs import HAApiDeployment, PropsError
from leanvibe_constructs._network import Endpoint, Port
from leanvibe_constructs.zero_trust import ZeroTrustPolicies, ZeroTrustPoliciesProps

from .manifests import find, find_all, synth_chart
from .netpol_eval import Cluster, External, Flow, Pod, allowed_flows, candidate_ports, pods_of_workload
from .schemas import validate_object

IMAGE = "ghcr.io/leanvibe/agent-hive-api:2.4.1"
API_SERVER_CIDR = "172.16.0.0/28"


def build(wire=None, **props):
    def _build(chart):
        zero_trust = ZeroTrustPolicies(chart, "ZeroTrust", **props)
        if wire:
            wire(chart, zero_trust)

    return synth_chart(_build)


def world(objects):
    """The synthesized policies in a cluster with DNS, an ingress controller, a stranger and the internet."""
    cluster = Cluster()
    for namespace in ("leanvibe", "kube-system", "ingress-nginx", "other"):
        cluster.add_namespace(namespace)
    for policy in find_all(objects, "NetworkPolicy"):
        cluster.add_policy(policy)
    pods = [pods_of_workload(o, ip=f"10.8.0.{i + 10}") for i, o in enumerate(find_all(objects, "Deployment"))]
    pods += [
        Pod("kube-dns", "kube-system", {"k8s-app": "kube-dns"}, "10.8.1.1"),
        Pod("ingress-nginx", "ingress-nginx", {"app.kubernetes.io/name": "ingress-nginx"}, "10.8.2.1"),
        Pod("stranger", "leanvibe", {"app": "debug"}, "10.8.0.200"),
        Pod("outsider", "other", {"app.kubernetes.io/instance": "leanvibe-api"}, "10.8.3.1"),
    ]
    externals = [External("internet", "198.51.100.7"), External("kubernetes-api", "172.16.0.2")]
    return cluster, pods, externals


def flows(objects):
    """Allowed flows with at least one end in the leanvibe namespace (the others are not ours to police)."""
    cluster, pods, externals = world(objects)
    ports = candidate_ports(pods, cluster.policies, extra=[(65000, "TCP"), (65000, "UDP")])
    ours = {p.name for p in pods if p.namespace == "leanvibe"}
    everything = allowed_flows(cluster, pods + externals, pods + externals, ports)
    return {f for f in everything if f.source in ours or f.destination in ours}


def test_namespace_denies_everything_but_dns_by_default():
    objects = build()
    deny = find(objects, "NetworkPolicy", "leanvibe-default-deny")
    assert deny["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    cluster, pods, _ = world(objects)
    stranger = next(p for p in pods if p.name == "stranger")
    assert cluster.is_isolated(stranger, "Ingress") and cluster.is_isolated(stranger, "Egress")
    leanvibe_flows = {f for f in flows(objects) if f.source == "stranger" or f.destination == "stranger"}
    assert leanvibe_flows == {Flow("stranger", "kube-dns", 53, "UDP"), Flow("stranger", "kube-dns", 53, "TCP")}


def test_dns_egress_goes_only_to_kube_dns_pods_in_kube_system():
    spec = find(build(), "NetworkPolicy", "leanvibe-allow-dns")["spec"]
    assert spec["podSelector"] == {} and spec["policyTypes"] == ["Egress"]
    (rule,) = spec["egress"]
    assert rule["to"] == [{
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
        "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
    }]
    assert rule["ports"] == [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]


def test_dns_is_refused_to_anything_that_is_not_kube_dns():
    cluster, pods, externals = world(build())
    stranger = next(p for p in pods if p.name == "stranger")
    impostor = Pod("impostor", "other", {"k8s-app": "kube-dns"}, "10.8.3.9")
    assert not cluster.allows(stranger, impostor, 53, "UDP")
    assert not cluster.allows(stranger, External("resolver", "8.8.8.8"), 53, "UDP")


def test_node_local_dns_cache_address_is_allowed_when_configured():
    spec = find(build(node_local_dns_ip="169.254.20.10"), "NetworkPolicy", "leanvibe-allow-dns")["spec"]
    assert {"ipBlock": {"cidr": "169.254.20.10/32"}} in spec["egress"][0]["to"]


def test_declared_connection_yields_egress_on_client_and_ingress_on_server_on_exactly_those_ports():
    def wire(chart, zero_trust):
        api = HAApiDeployment(chart, "Api", image=IMAGE)
        worker = HAApiDeployment(chart, "Worker", image=IMAGE, name="leanvibe-worker", http_port=8080)
        zero_trust.allow(worker, api, [Port.tcp(8000)])

    objects = build(wire)
    egress = find(objects, "NetworkPolicy", "leanvibe-worker-to-leanvibe-api")
    ingress = find(objects, "NetworkPolicy", "leanvibe-api-from-leanvibe-worker")
    assert egress["spec"]["policyTypes"] == ["Egress"] and ingress["spec"]["policyTypes"] == ["Ingress"]
    assert egress["spec"]["egress"][0]["ports"] == ingress["spec"]["ingress"][0]["ports"] == [
        {"port": 8000, "protocol": "TCP"}]
    opened = {f for f in flows(objects) if f.destination != "kube-dns"}
    assert opened == {Flow("leanvibe-worker", "leanvibe-api", 8000)}


def test_a_construct_that_is_not_connected_gets_nothing_but_dns():
    objects = build(lambda chart, zt: HAApiDeployment(chart, "Api", image=IMAGE))
    assert {f for f in flows(objects) if "leanvibe-api" in (f.source, f.destination)} == {
        Flow("leanvibe-api", "kube-dns", 53, "UDP"), Flow("leanvibe-api", "kube-dns", 53, "TCP")}


def test_ingress_controller_namespace_reaches_the_api_http_port_only():
    def wire(chart, zero_trust):
        zero_trust.allow(zero_trust.ingress_controller, HAApiDeployment(chart, "Api", image=IMAGE), [8000])

    opened = {f for f in flows(build(wire)) if f.destination != "kube-dns"}
    assert opened == {Flow("ingress-nginx", "leanvibe-api", 8000)}


def test_ingress_controller_namespace_is_configurable():
    def wire(chart, zero_trust):
        zero_trust.allow(zero_trust.ingress_controller, HAApiDeployment(chart, "Api", image=IMAGE), [8000])

    objects = build(wire, ingress_controller_namespace="traefik")
    policy = find(objects, "NetworkPolicy", "leanvibe-api-from-traefik")
    assert policy["spec"]["ingress"][0]["from"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "traefik"}}}]


def test_internet_egress_is_public_addresses_on_the_declared_port_only():
    def wire(chart, zero_trust):
        zero_trust.allow_internet(HAApiDeployment(chart, "Api", image=IMAGE), [443])

    objects = build(wire)
    opened = {f for f in flows(objects) if f.destination != "kube-dns"}
    assert opened == {Flow("leanvibe-api", "internet", 443)}
    block = find(objects, "NetworkPolicy", "leanvibe-api-to-internet")["spec"]["egress"][0]["to"][0]["ipBlock"]
    assert block["cidr"] == "0.0.0.0/0" and "10.0.0.0/8" in block["except"] and "169.254.0.0/16" in block["except"]


def test_kubernetes_api_egress_uses_the_configured_endpoint_addresses():
    def wire(chart, zero_trust):
        zero_trust.allow_kubernetes_api(HAApiDeployment(chart, "Api", image=IMAGE))

    objects = build(wire, kubernetes_api_cidrs=(API_SERVER_CIDR, "172.16.1.0/28"))
    policy = find(objects, "NetworkPolicy", "leanvibe-api-to-kubernetes-api")
    assert policy["spec"]["egress"] == [{
        "to": [{"ipBlock": {"cidr": API_SERVER_CIDR}}, {"ipBlock": {"cidr": "172.16.1.0/28"}}],
        "ports": [{"port": 443, "protocol": "TCP"}, {"port": 6443, "protocol": "TCP"}],
    }]
    opened = {f for f in flows(objects) if f.destination != "kube-dns"}
    assert opened == {Flow("leanvibe-api", "kubernetes-api", 443), Flow("leanvibe-api", "kubernetes-api", 6443)}


def test_kubernetes_api_port_can_be_narrowed_to_the_clusters_own():
    def wire(chart, zero_trust):
        zero_trust.allow_kubernetes_api(HAApiDeployment(chart, "Api", image=IMAGE))

    objects = build(wire, kubernetes_api_cidrs=(API_SERVER_CIDR,), kubernetes_api_ports=(443,))
    rule = find(objects, "NetworkPolicy", "leanvibe-api-to-kubernetes-api")["spec"]["egress"][0]
    assert rule["ports"] == [{"port": 443, "protocol": "TCP"}]


def test_kubernetes_api_without_addresses_is_refused_before_synthesis():
    with pytest.raises(PropsError, match="kubernetes_api_cidrs"):
        build(lambda chart, zt: zt.allow_kubernetes_api(HAApiDeployment(chart, "Api", image=IMAGE)))


def test_allow_uses_the_server_default_ports_when_none_are_given():
    def wire(chart, zero_trust):
        zero_trust.allow(zero_trust.ingress_controller, HAApiDeployment(chart, "Api", image=IMAGE, http_port=8443))

    rule = find(build(wire), "NetworkPolicy", "leanvibe-api-from-ingress-nginx")["spec"]["ingress"][0]
    assert rule["ports"] == [{"port": 8443, "protocol": "TCP"}]


def test_declaring_the_same_connection_twice_is_an_error_naming_the_policy():
    def wire(chart, zero_trust):
        api = HAApiDeployment(chart, "Api", image=IMAGE)
        zero_trust.allow(zero_trust.ingress_controller, api, [8000])
        zero_trust.allow(zero_trust.ingress_controller, api, [9090])

    with pytest.raises(ValueError, match="leanvibe-api-from-ingress-nginx is declared twice"):
        build(wire)


def test_allow_rejects_things_that_are_not_endpoints():
    with pytest.raises(TypeError, match="neither a workload construct"):
        build(lambda chart, zt: zt.allow("leanvibe-api", zt.internet, [443]))


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("kubernetes_api_cidrs", ("0.0.0.0/0",), "would open every address"),
        ("kubernetes_api_cidrs", ("10.0.0.1/8",), "is not a CIDR"),
        ("kubernetes_api_ports", (0,), "between 1 and 65535"),
        ("kubernetes_api_ports", (), "at least 1"),
        ("namespace", "Leanvibe", "DNS-1123"),
        ("node_local_dns_ip", "169.254.20", "does not appear to be an IPv4 or IPv6 address"),
        ("dns_pod_labels", {}, "at least 1"),
    ],
)
def test_bad_props_name_the_field_and_value(field, value, message):
    with pytest.raises(PropsError, match=rf"ZeroTrustPoliciesProps\.{field}: got .*{message}"):
        ZeroTrustPoliciesProps.build(**{field: value})


@pytest.mark.parametrize("kubernetes_version", ["1.27.0", "1.37.0"])
def test_every_object_validates_strictly(kubernetes_version):
    def wire(chart, zero_trust):
        api = HAApiDeployment(chart, "Api", image=IMAGE)
        zero_trust.allow(zero_trust.ingress_controller, api, [8000])
        zero_trust.allow_internet(api, [443])
        zero_trust.allow_kubernetes_api(api)

    objects = build(wire, kubernetes_api_cidrs=(API_SERVER_CIDR,), node_local_dns_ip="169.254.20.10")
    for obj in objects:
        assert validate_object(obj, kubernetes_version) is None, obj["metadata"]["name"]
        assert obj["metadata"]["labels"]["app.kubernetes.io/part-of"] == "leanvibe"


def test_endpoint_ip_blocks_needs_a_cidr():
    with pytest.raises(ValueError, match="at least one CIDR"):
        Endpoint.ip_blocks("nothing", ())


def test_policies_snapshot(yaml_snapshot):
    import yaml

    def wire(chart, zero_trust):
        api = HAApiDeployment(chart, "Api", image=IMAGE)
        zero_trust.allow(zero_trust.ingress_controller, api, [8000])

    policies = find_all(build(wire), "NetworkPolicy")
    assert yaml.safe_dump_all(policies, sort_keys=False) == yaml_snapshot


class _Cache:
    """A stand-in for a workload construct with its own idea of what a client needs."""

    def __init__(self, scope):
        from leanvibe_constructs._labels import Identity

        identity = Identity(name="cache", instance="leanvibe-cache", component="cache", part_of="leanvibe",
                            version="1")
        self.endpoint = Endpoint.workload(scope, identity=identity, namespace="leanvibe",
                                          default_ports=(Port.tcp(6379),))
        sentinel = Identity(name="cache", instance="leanvibe-cache-sentinel", component="sentinel",
                            part_of="leanvibe", version="1")
        self.sentinel_endpoint = Endpoint.workload(scope, identity=sentinel, namespace="leanvibe",
                                                   default_ports=(Port.tcp(26379),))
        self.metrics_port = 9121

    def allow_from(self, client):
        from leanvibe_constructs._network import connect

        connect(client, self.endpoint)
        connect(client, self.sentinel_endpoint)


def test_allow_without_ports_lets_the_server_construct_decide_what_a_client_needs():
    def wire(chart, zero_trust):
        zero_trust.allow(HAApiDeployment(chart, "Api", image=IMAGE), _Cache(chart))

    names = {p["metadata"]["name"] for p in find_all(build(wire), "NetworkPolicy")}
    assert {"leanvibe-api-to-leanvibe-cache", "leanvibe-api-to-leanvibe-cache-sentinel",
            "leanvibe-cache-from-leanvibe-api", "leanvibe-cache-sentinel-from-leanvibe-api"} <= names


def test_allow_metrics_opens_each_target_metrics_port_to_the_scraper_only():
    def wire(chart, zero_trust):
        api = HAApiDeployment(chart, "Api", image=IMAGE)
        scraper = HAApiDeployment(chart, "Prometheus", image=IMAGE, name="leanvibe-prometheus")
        zero_trust.allow_metrics(scraper, api, _Cache(chart))

    opened = {f for f in flows(build(wire)) if f.destination != "kube-dns"}
    # The stand-in cache has no pods in this chart, so only its policies exist; the API's flow is evaluated.
    assert opened == {Flow("leanvibe-prometheus", "leanvibe-api", 9090)}


def test_allow_metrics_refuses_a_target_without_a_metrics_port():
    with pytest.raises(TypeError, match="no metrics_port"):
        build(lambda chart, zt: zt.allow_metrics(HAApiDeployment(chart, "Api", image=IMAGE), zt.internet))
