"""An evaluator of Kubernetes NetworkPolicy semantics, for tests.

Given namespaces, pods and NetworkPolicy objects, it answers: may traffic go
from this source to this destination on this port? It follows the API
reference of ``networking.k8s.io/v1`` NetworkPolicy
(https://kubernetes.io/docs/concepts/services-networking/network-policies/):

- A policy applies to the pods of its own namespace that its ``podSelector``
  selects; an empty selector selects every pod of the namespace.
- ``policyTypes`` defaults to ``["Ingress"]``, plus ``"Egress"`` when the
  policy has an ``egress`` section. A pod is isolated for a direction once any
  policy of that type applies to it; a pod that is not isolated allows all
  traffic in that direction. Policies are additive: an isolated pod allows a
  connection when at least one rule of one applying policy allows it.
- A rule with no ``from``/``to`` (absent or empty) matches every peer; a rule
  with no ``ports`` matches every port.
- A peer is ``podSelector`` alone (pods of the policy's namespace),
  ``namespaceSelector`` alone (every pod of the selected namespaces), both
  (the selected pods in the selected namespaces) or ``ipBlock`` (an address
  in ``cidr`` and in none of ``except``).
- A port is ``protocol`` (default TCP) plus an optional number, a number
  range up to ``endPort``, or a name that resolves against the destination
  pod's container ports. A rule port without ``port`` matches every port of
  the protocol.
- A connection is allowed when the source's egress allows it AND the
  destination's ingress allows it. Ends that are not pods (addresses outside
  the cluster) have no policies of their own.

ipBlock and pod addresses: the reference leaves it to the network plugin
whether an ipBlock matches pod addresses (it is meant for cluster-external
addresses). This evaluator matches an ipBlock against a pod's address when
the pod has one, the stricter reading for "nothing undeclared is open": a
policy that opens 0.0.0.0/0 without excepting the pod range is caught.

Label selectors are the ``metav1.LabelSelector`` semantics: ``matchLabels``
and ``matchExpressions`` are ANDed; ``In``/``NotIn``/``Exists``/``DoesNotExist``;
``NotIn`` and ``DoesNotExist`` also match when the key is absent. Invalid
selectors (``In`` without values, ``Exists`` with values) raise, as the API
server would reject them.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
PROTOCOLS = ("TCP", "UDP", "SCTP")

Protocol = Literal["TCP", "UDP", "SCTP"]


@dataclass(frozen=True)
class ContainerPort:
    number: int
    protocol: Protocol = "TCP"
    name: str | None = None


@dataclass(frozen=True)
class Pod:
    """A pod as far as NetworkPolicy cares: where it is, its labels, address and ports."""

    name: str
    namespace: str
    labels: Mapping[str, str]
    ip: str | None = None
    ports: tuple[ContainerPort, ...] = ()

    def named_port(self, name: str, protocol: str) -> int | None:
        for port in self.ports:
            if port.name == name and port.protocol == protocol:
                return port.number
        return None


@dataclass(frozen=True)
class External:
    """An address outside the cluster (the internet, the API server, a SaaS endpoint)."""

    name: str
    ip: str


Endpoint = Pod | External


@dataclass(frozen=True)
class Flow:
    source: str
    destination: str
    port: int
    protocol: Protocol = "TCP"

    def __str__(self) -> str:
        return f"{self.source} -> {self.destination} {self.port}/{self.protocol}"


# --- label selectors -------------------------------------------------------------


def selector_matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """``metav1.LabelSelector`` semantics; ``{}`` matches everything."""
    if selector is None:
        raise ValueError("a null selector selects nothing; callers decide what an absent selector means")
    unknown = set(selector) - {"matchLabels", "matchExpressions"}
    if unknown:
        raise ValueError(f"unknown label selector fields {sorted(unknown)}")
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        if not _expression_matches(expression, labels):
            return False
    return True


def _expression_matches(expression: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    key, operator, values = expression["key"], expression["operator"], expression.get("values") or []
    if operator in ("In", "NotIn"):
        if not values:
            raise ValueError(f"selector {key} {operator} needs at least one value")
        if operator == "In":
            return key in labels and labels[key] in values
        return key not in labels or labels[key] not in values
    if operator in ("Exists", "DoesNotExist"):
        if values:
            raise ValueError(f"selector {key} {operator} must not have values")
        return (key in labels) == (operator == "Exists")
    raise ValueError(f"unknown selector operator {operator!r}")


# --- the cluster -----------------------------------------------------------------


@dataclass
class Cluster:
    """Namespaces (name -> labels) and the NetworkPolicies in them."""

    namespaces: dict[str, dict[str, str]] = field(default_factory=dict)
    policies: list[dict[str, Any]] = field(default_factory=list)
    _applying: dict[tuple[Any, ...], list[dict[str, Any]]] = field(default_factory=dict, repr=False)

    def add_namespace(self, name: str, labels: Mapping[str, str] | None = None) -> None:
        # The API server sets kubernetes.io/metadata.name on every namespace (1.21+).
        self.namespaces[name] = {**(labels or {}), NAMESPACE_NAME_LABEL: name}
        self._applying.clear()

    def add_policy(self, policy: Mapping[str, Any]) -> None:
        if policy.get("kind") != "NetworkPolicy":
            raise ValueError(f"not a NetworkPolicy: {policy.get('kind')}")
        if not policy["metadata"].get("namespace"):
            raise ValueError(f"NetworkPolicy {policy['metadata']['name']} has no namespace")
        for direction in policy_types(policy):
            if direction not in ("Ingress", "Egress"):
                raise ValueError(f"unknown policyType {direction!r}")
        self.policies.append(dict(policy))
        self._applying.clear()

    def namespace_labels(self, namespace: str) -> dict[str, str]:
        return self.namespaces.get(namespace, {NAMESPACE_NAME_LABEL: namespace})

    # -- which policies apply --

    def policies_for(self, pod: Pod, direction: Literal["Ingress", "Egress"]) -> list[dict[str, Any]]:
        key = (pod.namespace, tuple(sorted(pod.labels.items())), direction)
        if key not in self._applying:
            self._applying[key] = [
                policy
                for policy in self.policies
                if policy["metadata"]["namespace"] == pod.namespace
                and direction in policy_types(policy)
                and selector_matches(policy["spec"].get("podSelector", {}), pod.labels)
            ]
        return self._applying[key]

    def is_isolated(self, pod: Pod, direction: Literal["Ingress", "Egress"]) -> bool:
        return bool(self.policies_for(pod, direction))

    # -- decisions --

    def ingress_allows(self, source: Endpoint, destination: Pod, port: int, protocol: str = "TCP") -> bool:
        policies = self.policies_for(destination, "Ingress")
        if not policies:
            return True
        return any(
            self._rule_allows(rule.get("from"), rule.get("ports"), policy, source, destination, port, protocol)
            for policy in policies
            for rule in policy["spec"].get("ingress") or []
        )

    def egress_allows(self, source: Pod, destination: Endpoint, port: int, protocol: str = "TCP") -> bool:
        policies = self.policies_for(source, "Egress")
        if not policies:
            return True
        return any(
            self._rule_allows(rule.get("to"), rule.get("ports"), policy, destination, destination, port, protocol)
            for policy in policies
            for rule in policy["spec"].get("egress") or []
        )

    def allows(self, source: Endpoint, destination: Endpoint, port: int, protocol: str = "TCP") -> bool:
        """Both ends must agree: the source's egress and the destination's ingress."""
        if protocol not in PROTOCOLS:
            raise ValueError(f"unknown protocol {protocol!r}")
        if isinstance(source, Pod) and not self.egress_allows(source, destination, port, protocol):
            return False
        if isinstance(destination, Pod) and not self.ingress_allows(source, destination, port, protocol):
            return False
        return True

    def _rule_allows(
        self,
        peers: list[dict[str, Any]] | None,
        ports: list[dict[str, Any]] | None,
        policy: dict[str, Any],
        peer_endpoint: Endpoint,
        destination: Endpoint,
        port: int,
        protocol: str,
    ) -> bool:
        peer_ok = not peers or any(self._peer_matches(peer, policy, peer_endpoint) for peer in peers)
        port_ok = not ports or any(_port_matches(rule_port, destination, port, protocol) for rule_port in ports)
        return peer_ok and port_ok

    def _peer_matches(self, peer: Mapping[str, Any], policy: Mapping[str, Any], endpoint: Endpoint) -> bool:
        if "ipBlock" in peer:
            if "podSelector" in peer or "namespaceSelector" in peer:
                raise ValueError("a peer with ipBlock must not have selectors")
            address = endpoint.ip
            return address is not None and ip_block_matches(peer["ipBlock"], address)
        if "podSelector" not in peer and "namespaceSelector" not in peer:
            raise ValueError(f"empty NetworkPolicyPeer in {policy['metadata']['name']}")
        if not isinstance(endpoint, Pod):
            return False
        if "namespaceSelector" in peer:
            if not selector_matches(peer["namespaceSelector"], self.namespace_labels(endpoint.namespace)):
                return False
        elif endpoint.namespace != policy["metadata"]["namespace"]:
            return False
        if "podSelector" in peer:
            return selector_matches(peer["podSelector"], endpoint.labels)
        return True


def policy_types(policy: Mapping[str, Any]) -> list[str]:
    spec = policy["spec"]
    if spec.get("policyTypes"):
        return list(spec["policyTypes"])
    return ["Ingress", "Egress"] if "egress" in spec else ["Ingress"]


def ip_block_matches(block: Mapping[str, Any], address: str) -> bool:
    network = ipaddress.ip_network(block["cidr"], strict=False)
    ip = ipaddress.ip_address(address)
    if ip.version != network.version or ip not in network:
        return False
    for excluded in block.get("except") or []:
        excluded_network = ipaddress.ip_network(excluded, strict=False)
        if not excluded_network.subnet_of(network):  # type: ignore[arg-type]
            raise ValueError(f"ipBlock except {excluded} is not inside {block['cidr']}")
        if ip in excluded_network:
            return False
    return True


def _port_matches(rule_port: Mapping[str, Any], destination: Endpoint, port: int, protocol: str) -> bool:
    if rule_port.get("protocol", "TCP") != protocol:
        return False
    if "port" not in rule_port or rule_port["port"] is None:
        if "endPort" in rule_port:
            raise ValueError("endPort requires port")
        return True
    wanted = rule_port["port"]
    if isinstance(wanted, str):
        if "endPort" in rule_port:
            raise ValueError("endPort requires a numeric port")
        # A named port means the destination pod's container port of that name.
        if not isinstance(destination, Pod):
            return False
        number = destination.named_port(wanted, protocol)
        return number is not None and number == port
    end = rule_port.get("endPort")
    if end is not None:
        if end < wanted:
            raise ValueError(f"endPort {end} is below port {wanted}")
        return wanted <= port <= end
    return wanted == port


# --- whole-cluster views -------------------------------------------------------------


def candidate_ports(pods: Iterable[Pod], policies: Iterable[Mapping[str, Any]], extra: Iterable[tuple[int, str]] = ()) -> set[tuple[int, str]]:
    """Every (port, protocol) worth probing: container ports, ports any policy names, and ``extra``.

    Pass an ``extra`` port no one declares (e.g. 65000) to catch rules that
    open every port.
    """
    ports = {(p.number, p.protocol) for pod in pods for p in pod.ports}
    for policy in policies:
        for direction in ("ingress", "egress"):
            for rule in policy["spec"].get(direction) or []:
                for rule_port in rule.get("ports") or []:
                    protocol = rule_port.get("protocol", "TCP")
                    number = rule_port.get("port")
                    if isinstance(number, int):
                        ports.add((number, protocol))
                        if rule_port.get("endPort") is not None:
                            ports.add((rule_port["endPort"], protocol))
    ports.update(extra)
    return ports


def allowed_flows(
    cluster: Cluster,
    sources: Iterable[Endpoint],
    destinations: Iterable[Endpoint],
    ports: Iterable[tuple[int, str]],
    name_of: Any = None,
) -> set[Flow]:
    """Every (source, destination, port) the policies allow, named by ``name_of(endpoint)``.

    A pod stands for every replica of its workload, so a flow from a pod to
    itself means "to another replica" (replication, gossip), which policies
    govern like any other flow.
    """
    name_of = name_of or (lambda endpoint: endpoint.name)
    destinations = list(destinations)
    ports = sorted(ports)
    flows = set()
    for source in sources:
        for destination in destinations:
            for number, protocol in ports:
                if cluster.allows(source, destination, number, protocol):
                    flows.add(Flow(name_of(source), name_of(destination), number, protocol))
    return flows


def pods_of_workload(workload: Mapping[str, Any], ip: str | None = None, name: str | None = None) -> Pod:
    """A representative pod of a Deployment, StatefulSet, DaemonSet, Job, CronJob or AutoscalingRunnerSet."""
    template = workload["spec"]["template"] if workload["kind"] != "CronJob" else (
        workload["spec"]["jobTemplate"]["spec"]["template"]
    )
    spec = template["spec"]
    ports = tuple(
        ContainerPort(p["containerPort"], p.get("protocol", "TCP"), p.get("name"))
        for container in spec.get("containers", []) + spec.get("initContainers", [])
        for p in container.get("ports", [])
    )
    return Pod(
        name=name or workload["metadata"]["name"],
        namespace=workload["metadata"].get("namespace", "default"),
        labels=dict(template["metadata"].get("labels") or {}),
        ip=ip,
        ports=ports,
    )
