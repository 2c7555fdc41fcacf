"""Declared connections between workloads, rendered as NetworkPolicies.

Zero trust here means: the namespace denies all traffic by default (see
``zero_trust.py``) and every allowed flow is a declared connection. A
connection from a client to a server on some ports yields two policies, as
cdk8s-plus's ``connections.allow_to`` does: an egress policy on the client and
the mirror ingress policy on the server, on exactly those ports. An end that
is not a workload of this app (the ingress controller's namespace, the
internet) gets no policy, since it is not ours to restrict.
"""

from __future__ import annotations

import copy
import ipaddress
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from constructs import Construct
from pydantic import AfterValidator

from ._k8s import api_object
from ._labels import Identity

NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
# The API server's endpoint ports after the kubernetes Service's DNAT: 443 on
# GKE, EKS and AKS, 6443 on kubeadm clusters.
KUBERNETES_API_PORTS: tuple[int, ...] = (443, 6443)


@dataclass(frozen=True)
class Port:
    """A port and protocol a connection opens. Use ``Port.tcp(5432)``."""

    number: int
    protocol: Literal["TCP", "UDP"] = "TCP"

    @classmethod
    def tcp(cls, number: int) -> Port:
        return cls(number, "TCP")

    @classmethod
    def udp(cls, number: int) -> Port:
        return cls(number, "UDP")

    def render(self) -> dict[str, Any]:
        return {"port": self.number, "protocol": self.protocol}


@dataclass(frozen=True)
class Endpoint:
    """One end of a connection.

    Workload endpoints (``scope`` set) are ours: they get policies. The named
    constructors build the ends that are not: other namespaces, IP ranges.
    """

    name: str
    peer: dict[str, Any]  # the NetworkPolicyPeer that selects this end
    namespace: str | None = None
    identity: Identity | None = None
    scope: Construct | None = field(default=None, compare=False, repr=False)
    default_ports: tuple[Port, ...] = ()
    more_peers: tuple[dict[str, Any], ...] = ()  # further NetworkPolicyPeers, e.g. one ipBlock per CIDR
    pod_selector: dict[str, str] | None = None  # for workloads not labelled by an Identity (cdk8s-plus)

    @property
    def peers(self) -> list[dict[str, Any]]:
        """Every NetworkPolicyPeer that selects this end, for a rule's ``from`` or ``to``."""
        return copy.deepcopy([self.peer, *self.more_peers])

    @classmethod
    def workload(
        cls,
        scope: Construct,
        *,
        identity: Identity,
        namespace: str,
        default_ports: tuple[Port, ...] = (),
    ) -> Endpoint:
        """The pods of one of this app's workloads; policies are created under ``scope``."""
        peer = {
            "namespaceSelector": {"matchLabels": {NAMESPACE_NAME_LABEL: namespace}},
            "podSelector": {"matchLabels": identity.selector()},
        }
        return cls(identity.instance, peer, namespace, identity, scope, tuple(default_ports))

    @classmethod
    def from_cdk8s_plus(cls, workload: Any, *, namespace: str | None = None, part_of: str = "leanvibe") -> Endpoint:
        """A cdk8s-plus-27 workload (``kplus.Deployment``, ``StatefulSet``...) as one end of a connection.

        Lets a team's own cdk8s-plus workloads reach these constructs under
        default deny: ``postgres.allow_from(Endpoint.from_cdk8s_plus(worker))``
        creates the worker's egress policy (under the worker) and the
        database's ingress policy, both selecting the pods by the labels
        cdk8s-plus selects them by. ``namespace`` defaults to the workload's.
        """
        labels = dict(workload.match_labels or {})
        namespace = namespace or workload.metadata.namespace
        if not labels:
            raise ValueError(f"{workload.name}: the cdk8s-plus workload selects no pods (select=False?)")
        if not namespace:
            raise ValueError(f"{workload.name}: give namespace=, the workload's chart sets none")
        identity = Identity(
            name=workload.name, instance=workload.name, component="workload", part_of=part_of, version="unversioned"
        )
        peer = {
            "namespaceSelector": {"matchLabels": {NAMESPACE_NAME_LABEL: namespace}},
            "podSelector": {"matchLabels": labels},
        }
        return cls(workload.name, peer, namespace, identity, workload, pod_selector=labels)

    @classmethod
    def namespace_peer(cls, namespace: str, pod_labels: dict[str, str] | None = None) -> Endpoint:
        """Pods in another namespace, e.g. the ingress controller's."""
        peer: dict[str, Any] = {"namespaceSelector": {"matchLabels": {NAMESPACE_NAME_LABEL: namespace}}}
        if pod_labels:
            peer["podSelector"] = {"matchLabels": dict(pod_labels)}
        name = namespace if not pod_labels else f"{namespace}-{'-'.join(sorted(pod_labels.values()))}"
        return cls(name, peer)

    @classmethod
    def ip_block(cls, name: str, cidr: str, except_: tuple[str, ...] = ()) -> Endpoint:
        """Addresses outside the cluster, e.g. the internet minus private ranges."""
        block: dict[str, Any] = {"cidr": cidr}
        if except_:
            block["except"] = list(except_)
        return cls(name, {"ipBlock": block})

    @classmethod
    def ip_blocks(cls, name: str, cidrs: tuple[str, ...] | list[str]) -> Endpoint:
        """Several address ranges as one end, e.g. the Kubernetes API server's endpoint addresses."""
        if not cidrs:
            raise ValueError(f"endpoint {name}: at least one CIDR is required")
        peers = [{"ipBlock": {"cidr": cidr}} for cidr in cidrs]
        return cls(name, peers[0], more_peers=tuple(peers[1:]))

    @classmethod
    def internet(cls) -> Endpoint:
        """Public IPv4 addresses: everything except the private and link-local ranges."""
        return cls.ip_block(
            "internet",
            "0.0.0.0/0",
            ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "100.64.0.0/10"),
        )

    @property
    def is_workload(self) -> bool:
        return self.scope is not None


def endpoint_of(peer: Endpoint | Any) -> Endpoint:
    """The Endpoint of a workload construct (its ``endpoint`` attribute), or ``peer`` itself when it is one."""
    if isinstance(peer, Endpoint):
        return peer
    endpoint = getattr(peer, "endpoint", None)
    if not isinstance(endpoint, Endpoint):
        raise TypeError(f"{peer!r} is neither a workload construct with an `endpoint` nor an Endpoint")
    return endpoint


def check_cidrs(cidrs: tuple[str, ...], *, allow_everything: bool = False) -> tuple[str, ...]:
    """Validate CIDRs for an ipBlock peer; a props ``field_validator`` calls it.

    Unless ``allow_everything``, a /0 is refused: it would turn a rule meant
    for one address range (the Kubernetes API server, the nodes) into one
    that opens every address, private ranges and the metadata service included.
    """
    for cidr in cidrs:
        try:
            network = ipaddress.ip_network(cidr, strict=True)
        except ValueError as err:
            raise ValueError(f"{cidr!r} is not a CIDR such as '10.0.0.0/28' ({err})") from None
        if network.prefixlen == 0 and not allow_everything:
            raise ValueError(f"{cidr!r} would open every address; list the API server's endpoint addresses")
    return cidrs


def check_ports(ports: tuple[int, ...]) -> tuple[int, ...]:
    """Validate port numbers for a props ``field_validator``."""
    if any(not 1 <= port <= 65535 for port in ports):
        raise ValueError("ports must be between 1 and 65535")
    return ports


IpBlockCidrs = Annotated[tuple[str, ...], AfterValidator(check_cidrs)]
"""CIDRs for ipBlock peers, e.g. the Kubernetes API server's endpoint addresses; a /0 is refused."""

PortNumbers = Annotated[tuple[int, ...], AfterValidator(check_ports)]
"""Port numbers between 1 and 65535."""


def connect(client: Endpoint, server: Endpoint, ports: tuple[Port, ...] | None = None) -> None:
    """Allow ``client`` to reach ``server`` on ``ports`` (default: the server's ports).

    Creates the client's egress policy and the server's ingress policy, for
    each end that is a workload of this app.
    """
    ports = tuple(ports) if ports else server.default_ports
    if not ports:
        raise ValueError(f"connection {client.name} -> {server.name}: no ports given and the server declares none")
    rendered_ports = [p.render() for p in sorted(set(ports), key=lambda p: (p.number, p.protocol))]
    if server.is_workload:
        _policy(
            server,
            f"{server.name}-from-{client.name}" if client.name != server.name else f"{server.name}-from-peers",
            "Ingress",
            {"from": client.peers, "ports": rendered_ports},
        )
    if client.is_workload:
        _policy(
            client,
            f"{client.name}-to-{server.name}" if client.name != server.name else f"{client.name}-to-peers",
            "Egress",
            {"to": server.peers, "ports": rendered_ports},
        )


def _policy(owner: Endpoint, name: str, direction: Literal["Ingress", "Egress"], rule: dict[str, Any]) -> None:
    assert owner.scope is not None and owner.identity is not None
    construct_id = f"NetworkPolicy-{name}"
    if owner.scope.node.try_find_child(construct_id) is not None:
        # A second policy with the same name would fail deep inside cdk8s; say what to do instead.
        raise ValueError(
            f"NetworkPolicy {name} is declared twice: connect each client and server once, "
            "with every port the connection needs"
        )
    api_object(
        owner.scope,
        construct_id,
        api_version="networking.k8s.io/v1",
        kind="NetworkPolicy",
        name=name,
        namespace=owner.namespace,
        identity=owner.identity,
        spec={
            "podSelector": {"matchLabels": owner.pod_selector or owner.identity.selector()},
            "policyTypes": [direction],
            direction.lower(): [rule],
        },
    )
