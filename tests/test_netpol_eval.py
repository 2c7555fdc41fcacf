"""The NetworkPolicy evaluator, on small hand-written cases with known answers.

Each case is one rule of the NetworkPolicy reference; the connectivity test
over dist/ is only as good as these.
"""

from __future__ import annotations

import pytest

from .netpol_eval import (
    Cluster,
    ContainerPort,
    External,
    Flow,
    Pod,
    allowed_flows,
    candidate_ports,
    ip_block_matches,
    pods_of_workload,
    selector_matches,
)

WEB = Pod("web", "shop", {"app": "web", "tier": "front"}, "10.0.0.1", (ContainerPort(8080, "TCP", "http"),))
DB = Pod("db", "shop", {"app": "db"}, "10.0.0.2", (ContainerPort(5432, "TCP", "postgres"),))
CACHE = Pod("cache", "shop", {"app": "cache"}, "10.0.0.3", (ContainerPort(6379, "TCP", "redis"),))
SCRAPER = Pod("scraper", "monitoring", {"app": "prometheus"}, "10.0.1.1")
INTRUDER = Pod("intruder", "other", {"app": "db"}, "10.0.2.1")
INTERNET = External("internet", "198.51.100.7")


def policy(name: str, namespace: str = "shop", **spec) -> dict:
    spec.setdefault("podSelector", {})
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": namespace}, "spec": spec}


def cluster(*policies: dict) -> Cluster:
    c = Cluster()
    c.add_namespace("shop", {"team": "shop"})
    c.add_namespace("monitoring", {"team": "observability"})
    c.add_namespace("other", {})
    for p in policies:
        c.add_policy(p)
    return c


# --- isolation and policyTypes -------------------------------------------------------


def test_without_policies_everything_is_allowed():
    c = cluster()
    assert c.allows(WEB, DB, 5432) and c.allows(INTRUDER, DB, 1234, "UDP") and c.allows(DB, INTERNET, 443)


def test_default_deny_ingress_isolates_ingress_only():
    c = cluster(policy("deny", policyTypes=["Ingress"]))
    assert not c.allows(WEB, DB, 5432)
    assert c.egress_allows(WEB, INTERNET, 443)
    assert c.allows(WEB, SCRAPER, 9090)  # the monitoring namespace has no policy


def test_policy_types_default_to_ingress_plus_egress_when_an_egress_section_exists():
    ingress_only = cluster(policy("p", ingress=[{}]))
    assert ingress_only.is_isolated(WEB, "Ingress") and not ingress_only.is_isolated(WEB, "Egress")
    both = cluster(policy("p", egress=[]))
    assert both.is_isolated(WEB, "Ingress") and both.is_isolated(WEB, "Egress")
    assert not both.allows(WEB, INTERNET, 443)


def test_egress_policy_type_without_rules_denies_all_egress_and_leaves_ingress_open():
    c = cluster(policy("deny-egress", policyTypes=["Egress"]))
    assert not c.allows(WEB, DB, 5432)
    assert c.allows(SCRAPER, WEB, 8080)


def test_an_egress_only_policy_does_not_isolate_ingress_even_with_ingress_rules_listed():
    # policyTypes is authoritative: an ingress section is ignored when Ingress is not listed.
    c = cluster(policy("p", policyTypes=["Egress"], ingress=[{"from": [{"podSelector": {"matchLabels": {"x": "y"}}}]}]))
    assert not c.is_isolated(DB, "Ingress")


def test_policy_selects_only_pods_of_its_own_namespace():
    c = cluster(policy("deny", namespace="other", policyTypes=["Ingress", "Egress"]))
    assert c.allows(WEB, DB, 5432)
    assert not c.allows(WEB, INTRUDER, 80)


def test_pod_selector_of_the_policy_limits_which_pods_are_isolated():
    c = cluster(policy("deny-db", podSelector={"matchLabels": {"app": "db"}}, policyTypes=["Ingress"]))
    assert not c.allows(WEB, DB, 5432)
    assert c.allows(DB, WEB, 8080)


def test_policies_are_additive():
    c = cluster(
        policy("deny", policyTypes=["Ingress"]),
        policy("web-to-db", podSelector={"matchLabels": {"app": "db"}},
               ingress=[{"from": [{"podSelector": {"matchLabels": {"app": "web"}}}]}]),
        policy("cache-to-db", podSelector={"matchLabels": {"app": "db"}},
               ingress=[{"from": [{"podSelector": {"matchLabels": {"app": "cache"}}}]}]),
    )
    assert c.allows(WEB, DB, 5432) and c.allows(CACHE, DB, 5432)
    assert not c.allows(WEB, CACHE, 6379)


def test_both_egress_of_the_source_and_ingress_of_the_destination_must_allow():
    egress_only = cluster(
        policy("deny", policyTypes=["Ingress", "Egress"]),
        policy("web-out", podSelector={"matchLabels": {"app": "web"}}, policyTypes=["Egress"],
               egress=[{"to": [{"podSelector": {"matchLabels": {"app": "db"}}}]}]),
    )
    assert egress_only.egress_allows(WEB, DB, 5432)
    assert not egress_only.allows(WEB, DB, 5432)
    ingress_only = cluster(
        policy("deny", policyTypes=["Ingress", "Egress"]),
        policy("db-in", podSelector={"matchLabels": {"app": "db"}}, policyTypes=["Ingress"],
               ingress=[{"from": [{"podSelector": {"matchLabels": {"app": "web"}}}]}]),
    )
    assert ingress_only.ingress_allows(WEB, DB, 5432)
    assert not ingress_only.allows(WEB, DB, 5432)


# --- peers ------------------------------------------------------------------------


def test_a_rule_without_from_or_with_an_empty_from_allows_every_source():
    for rule in ({}, {"from": []}):
        c = cluster(policy("open", ingress=[rule]))
        assert c.allows(INTRUDER, DB, 5432) and c.allows(INTERNET, DB, 1)


def test_pod_selector_peer_means_pods_of_the_policy_namespace():
    c = cluster(policy("db-in", podSelector={"matchLabels": {"app": "db"}},
                       ingress=[{"from": [{"podSelector": {"matchLabels": {"app": "db"}}}]}]))
    assert not c.allows(INTRUDER, DB, 5432)  # same labels, other namespace
    assert c.allows(DB, DB, 5432)  # another replica of db


def test_empty_pod_selector_peer_means_every_pod_of_the_policy_namespace():
    c = cluster(policy("same-ns", ingress=[{"from": [{"podSelector": {}}]}]))
    assert c.allows(WEB, DB, 5432) and c.allows(CACHE, DB, 5432)
    assert not c.allows(SCRAPER, DB, 5432) and not c.allows(INTERNET, DB, 5432)


def test_namespace_selector_alone_means_every_pod_of_those_namespaces():
    c = cluster(policy("from-monitoring",
                       ingress=[{"from": [{"namespaceSelector": {"matchLabels": {"team": "observability"}}}]}]))
    assert c.allows(SCRAPER, WEB, 8080)
    assert not c.allows(INTRUDER, WEB, 8080) and not c.allows(DB, WEB, 8080)


def test_empty_namespace_selector_means_every_namespace():
    c = cluster(policy("any-db", ingress=[{"from": [{"namespaceSelector": {},
                                                     "podSelector": {"matchLabels": {"app": "db"}}}]}]))
    assert c.allows(INTRUDER, WEB, 8080) and c.allows(DB, WEB, 8080)
    assert not c.allows(SCRAPER, WEB, 8080)


def test_namespace_and_pod_selector_in_one_peer_are_anded_but_two_peers_are_ored():
    anded = cluster(policy("and", ingress=[{"from": [{
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
        "podSelector": {"matchLabels": {"app": "db"}},
    }]}]))
    assert not anded.allows(SCRAPER, WEB, 8080) and not anded.allows(DB, WEB, 8080)
    ored = cluster(policy("or", ingress=[{"from": [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}},
        {"podSelector": {"matchLabels": {"app": "db"}}},
    ]}]))
    assert ored.allows(SCRAPER, WEB, 8080) and ored.allows(DB, WEB, 8080)
    assert not ored.allows(INTRUDER, WEB, 8080)


def test_namespaces_carry_their_metadata_name_label():
    c = cluster(policy("by-name", ingress=[{"from": [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "other"}}}]}]))
    assert c.allows(INTRUDER, WEB, 8080) and not c.allows(SCRAPER, WEB, 8080)


def test_ip_block_peer_matches_addresses_in_cidr_minus_except():
    c = cluster(policy("egress-internet", policyTypes=["Egress"], egress=[{"to": [
        {"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8"]}}]}]))
    assert c.allows(WEB, INTERNET, 443)
    assert not c.allows(WEB, DB, 5432)  # pod address 10.0.0.2 is excepted
    assert not c.allows(WEB, External("metadata", "10.1.2.3"), 80)


def test_ip_block_matches_pod_addresses_when_not_excepted():
    c = cluster(policy("wide", policyTypes=["Egress"], egress=[{"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}]))
    assert c.allows(WEB, DB, 5432)


def test_selectors_never_match_addresses_outside_the_cluster():
    c = cluster(policy("in", ingress=[{"from": [{"namespaceSelector": {}}]}]))
    assert not c.allows(INTERNET, WEB, 8080)
    assert c.allows(SCRAPER, WEB, 8080)


def test_ip_block_edge_cases():
    assert ip_block_matches({"cidr": "192.168.1.0/24", "except": ["192.168.1.128/25"]}, "192.168.1.5")
    assert not ip_block_matches({"cidr": "192.168.1.0/24", "except": ["192.168.1.128/25"]}, "192.168.1.200")
    assert not ip_block_matches({"cidr": "0.0.0.0/0"}, "2001:db8::1")
    with pytest.raises(ValueError, match="not inside"):
        ip_block_matches({"cidr": "10.0.0.0/16", "except": ["10.1.0.0/24"]}, "10.0.0.1")


def test_peer_mixing_ip_block_and_selectors_is_rejected():
    c = cluster(policy("bad", ingress=[{"from": [{"ipBlock": {"cidr": "0.0.0.0/0"}, "podSelector": {}}]}]))
    with pytest.raises(ValueError, match="ipBlock"):
        c.allows(WEB, DB, 5432)


# --- label selectors --------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "labels", "expected"),
    [
        ({"key": "tier", "operator": "In", "values": ["front", "back"]}, {"tier": "front"}, True),
        ({"key": "tier", "operator": "In", "values": ["back"]}, {"tier": "front"}, False),
        ({"key": "tier", "operator": "In", "values": ["front"]}, {}, False),
        ({"key": "tier", "operator": "NotIn", "values": ["back"]}, {"tier": "front"}, True),
        ({"key": "tier", "operator": "NotIn", "values": ["front"]}, {"tier": "front"}, False),
        ({"key": "tier", "operator": "NotIn", "values": ["front"]}, {}, True),  # absent key matches NotIn
        ({"key": "tier", "operator": "Exists"}, {"tier": ""}, True),
        ({"key": "tier", "operator": "Exists"}, {}, False),
        ({"key": "tier", "operator": "DoesNotExist"}, {}, True),
        ({"key": "tier", "operator": "DoesNotExist"}, {"tier": "x"}, False),
    ],
)
def test_match_expressions(expression, labels, expected):
    assert selector_matches({"matchExpressions": [expression]}, labels) is expected


def test_match_labels_and_expressions_are_anded():
    selector = {"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "tier", "operator": "In", "values": ["x"]}]}
    assert not selector_matches(selector, WEB.labels)
    assert selector_matches({}, WEB.labels)


@pytest.mark.parametrize(
    "expression",
    [
        {"key": "a", "operator": "In", "values": []},
        {"key": "a", "operator": "Exists", "values": ["x"]},
        {"key": "a", "operator": "Matches", "values": ["x"]},
    ],
)
def test_invalid_expressions_are_rejected_like_the_api_server_would(expression):
    with pytest.raises(ValueError):
        selector_matches({"matchExpressions": [expression]}, {})


def test_match_expressions_in_a_policy_pod_selector():
    c = cluster(policy("not-front", podSelector={"matchExpressions": [
        {"key": "tier", "operator": "NotIn", "values": ["front"]}]}, policyTypes=["Ingress"]))
    assert c.allows(DB, WEB, 8080)  # web is tier=front: not selected, not isolated
    assert not c.allows(WEB, DB, 5432)  # db has no tier: NotIn selects it


# --- ports --------------------------------------------------------------------------


def test_rule_without_ports_allows_every_port_and_protocol():
    c = cluster(policy("in", ingress=[{"from": [{"podSelector": {}}]}]))
    assert c.allows(WEB, DB, 1) and c.allows(WEB, DB, 65535, "UDP")


def test_port_protocol_defaults_to_tcp():
    c = cluster(policy("dns-ish", ingress=[{"ports": [{"port": 53}]}]))
    assert c.allows(WEB, DB, 53, "TCP")
    assert not c.allows(WEB, DB, 53, "UDP")


def test_port_without_number_allows_every_port_of_its_protocol():
    c = cluster(policy("udp", ingress=[{"ports": [{"protocol": "UDP"}]}]))
    assert c.allows(WEB, DB, 12345, "UDP") and not c.allows(WEB, DB, 12345, "TCP")


def test_end_port_opens_a_range():
    c = cluster(policy("range", ingress=[{"ports": [{"port": 32000, "endPort": 32010}]}]))
    assert c.allows(WEB, DB, 32000) and c.allows(WEB, DB, 32010)
    assert not c.allows(WEB, DB, 31999) and not c.allows(WEB, DB, 32011)


def test_named_port_resolves_against_the_destination_pod():
    c = cluster(policy("named", ingress=[{"ports": [{"port": "postgres"}]}]))
    assert c.allows(WEB, DB, 5432)
    assert not c.allows(WEB, DB, 5433)
    assert not c.allows(DB, WEB, 8080)  # web has no port named postgres


def test_named_port_in_egress_resolves_against_the_destination_pod():
    c = cluster(policy("out", policyTypes=["Egress"], egress=[{"ports": [{"port": "redis"}]}]))
    assert c.allows(WEB, CACHE, 6379)
    assert not c.allows(WEB, DB, 6379)  # db has no port named redis
    assert not c.allows(WEB, INTERNET, 6379)  # an address outside has no named ports


def test_named_port_must_match_the_protocol():
    c = cluster(policy("named", ingress=[{"ports": [{"port": "postgres", "protocol": "UDP"}]}]))
    assert not c.allows(WEB, DB, 5432, "UDP") and not c.allows(WEB, DB, 5432, "TCP")


def test_peers_and_ports_of_one_rule_are_anded_across_rules_ored():
    c = cluster(policy("rules", podSelector={"matchLabels": {"app": "db"}}, ingress=[
        {"from": [{"podSelector": {"matchLabels": {"app": "web"}}}], "ports": [{"port": 5432}]},
        {"from": [{"namespaceSelector": {"matchLabels": {"team": "observability"}}}], "ports": [{"port": 9187}]},
    ]))
    assert c.allows(WEB, DB, 5432) and c.allows(SCRAPER, DB, 9187)
    assert not c.allows(WEB, DB, 9187) and not c.allows(SCRAPER, DB, 5432)


# --- whole-cluster views -----------------------------------------------------------


def test_allowed_flows_finds_exactly_the_open_pairs_and_an_all_ports_rule_via_the_probe_port():
    c = cluster(
        policy("deny", policyTypes=["Ingress", "Egress"]),
        policy("web-to-db", podSelector={"matchLabels": {"app": "web"}}, policyTypes=["Egress"],
               egress=[{"to": [{"podSelector": {"matchLabels": {"app": "db"}}}], "ports": [{"port": 5432}]}]),
        policy("db-from-web", podSelector={"matchLabels": {"app": "db"}}, policyTypes=["Ingress"],
               ingress=[{"from": [{"podSelector": {"matchLabels": {"app": "web"}}}]}]),  # no ports: all
    )
    pods = [WEB, DB, CACHE]
    ports = candidate_ports(pods, c.policies, extra=[(65000, "TCP")])
    assert (5432, "TCP") in ports and (65000, "TCP") in ports
    assert allowed_flows(c, pods, pods, ports) == {Flow("web", "db", 5432)}
    c.add_policy(policy("web-anything", podSelector={"matchLabels": {"app": "web"}}, policyTypes=["Egress"],
                        egress=[{"to": [{"podSelector": {"matchLabels": {"app": "db"}}}]}]))
    assert Flow("web", "db", 65000) in allowed_flows(c, pods, pods, ports)


def test_pods_of_workload_reads_template_labels_and_named_ports():
    deployment = {
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [
            {"name": "c", "ports": [{"name": "http", "containerPort": 8080}, {"containerPort": 53, "protocol": "UDP"}]}
        ]}}},
    }
    pod = pods_of_workload(deployment, ip="10.0.0.9")
    assert pod.labels == {"app": "web"} and pod.namespace == "shop"
    assert pod.named_port("http", "TCP") == 8080 and pod.named_port("http", "UDP") is None
    assert ContainerPort(53, "UDP", None) in pod.ports


def test_add_policy_rejects_other_kinds_and_unknown_policy_types():
    c = cluster()
    with pytest.raises(ValueError, match="not a NetworkPolicy"):
        c.add_policy({"kind": "Service", "metadata": {"name": "x", "namespace": "shop"}, "spec": {}})
    with pytest.raises(ValueError, match="policyType"):
        c.add_policy(policy("x", policyTypes=["Sideways"]))
