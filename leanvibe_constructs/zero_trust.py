"""ZeroTrustPolicies: deny all traffic in the namespace, then allow only declared connections.

Synthesizes two NetworkPolicies for the whole namespace:

- ``<part_of>-default-deny`` selects every pod and lists both policy types
  with no rules: nothing enters or leaves a pod unless another policy allows
  it. NetworkPolicies are additive, so every later "allow" opens exactly one
  flow and nothing else.
- ``<part_of>-allow-dns`` lets every pod query cluster DNS, and only cluster
  DNS: UDP and TCP 53 (TCP for answers larger than 512 bytes) to the pods
  labelled ``k8s-app=kube-dns`` in ``kube-system``. GKE, EKS and AKS all
  label their CoreDNS/kube-dns pods that way.

Every other flow is a declared connection: ``zero_trust.allow(api, redis)``
or ``postgres.allow_from(api)``. Each one yields the client's egress policy
and the server's mirror ingress policy on exactly the declared ports (see
``_network.connect``). A workload nobody connects gets DNS and nothing else.

NetworkPolicies need a network plugin that enforces them (Calico, Cilium,
GKE Dataplane V2, the VPC CNI with network policy enabled, Azure NPM or
Cilium on AKS); on a plugin that does not, they are accepted and ignored.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

from constructs import Construct
from pydantic import Field, field_validator

from ._k8s import api_object
from ._labels import Identity
from ._network import (
    KUBERNETES_API_PORTS,
    NAMESPACE_NAME_LABEL,
    Endpoint,
    Port,
    IpBlockCidrs,
    PortNumbers,
    connect,
    endpoint_of,
)
from ._props import DnsLabel, Props, PropsError


class ZeroTrustPoliciesProps(Props):
    """Props of :class:`ZeroTrustPolicies`. Nothing is required."""

    namespace: DnsLabel = Field("leanvibe", description="Namespace the policies isolate. Default: 'leanvibe'.")
    part_of: DnsLabel = Field(
        "leanvibe", description="app.kubernetes.io/part-of label and policy name prefix. Default: 'leanvibe'."
    )
    dns_namespace: DnsLabel = Field(
        "kube-system", description="Namespace of the cluster DNS pods. Default: 'kube-system'."
    )
    dns_pod_labels: dict[str, str] = Field(
        default_factory=lambda: {"k8s-app": "kube-dns"},
        min_length=1,
        description="Labels of the cluster DNS pods. Default: {'k8s-app': 'kube-dns'} (GKE, EKS, AKS, kubeadm).",
    )
    node_local_dns_ip: str | None = Field(
        None,
        description="Address of NodeLocal DNSCache (e.g. '169.254.20.10') when pods query it instead of "
        "kube-dns; it answers from the node, so it needs an ipBlock. Default: none.",
    )
    ingress_controller_namespace: DnsLabel = Field(
        "ingress-nginx",
        description="Namespace of the ingress controller, the only way in from outside. Default: 'ingress-nginx'.",
    )
    kubernetes_api_cidrs: IpBlockCidrs = Field(
        (),
        description="Addresses of the Kubernetes API server endpoints, as CIDRs (`kubectl get endpointslices "
        "-n default -l kubernetes.io/service-name=kubernetes`). Required before `allow_kubernetes_api`; "
        "there is no safe default: a wrong range would cut Patroni off its leader lock. Default: none.",
    )
    kubernetes_api_ports: PortNumbers = Field(
        KUBERNETES_API_PORTS,
        min_length=1,
        description="Ports of the API server endpoints, after the Service's DNAT: 443 on GKE, EKS and AKS, "
        "6443 on kubeadm clusters. Default: (443, 6443), as PostgresHA and MonitoringStack open.",
    )

    @field_validator("node_local_dns_ip")
    @classmethod
    def _check_ip(cls, value: str | None) -> str | None:
        if value is not None:
            ipaddress.ip_address(value)
        return value


class ZeroTrustPolicies(Construct):
    """Default-deny for the namespace, DNS for every pod, and an API to declare the rest.

    Attributes: ``default_deny`` and ``allow_dns`` (the two NetworkPolicy
    objects), ``ingress_controller`` and ``internet`` (Endpoints to connect to).
    """

    def __init__(self, scope: Construct, id: str, props: ZeroTrustPoliciesProps | None = None, **kwargs: Any):
        super().__init__(scope, id)
        self.props = p = ZeroTrustPoliciesProps.build(props, **kwargs)
        self.namespace = p.namespace
        self.identity = Identity(
            name="leanvibe-zero-trust", instance=f"{p.part_of}-zero-trust", component="network-policy",
            part_of=p.part_of, version="1",
        )
        self.default_deny = api_object(
            self, "Resource", api_version="networking.k8s.io/v1", kind="NetworkPolicy",
            name=f"{p.part_of}-default-deny", namespace=p.namespace, identity=self.identity,
            spec=default_deny_spec(),
        )
        self.allow_dns = api_object(
            self, "AllowDns", api_version="networking.k8s.io/v1", kind="NetworkPolicy",
            name=f"{p.part_of}-allow-dns", namespace=p.namespace, identity=self.identity,
            spec=dns_egress_spec(p),
        )
        self.ingress_controller = Endpoint.namespace_peer(p.ingress_controller_namespace)
        self.internet = Endpoint.internet()

    def allow(
        self,
        client: Endpoint | Any,
        server: Endpoint | Any,
        ports: Iterable[Port | int] | None = None,
    ) -> None:
        """Let ``client`` reach ``server``; ``zero_trust.allow(api, redis)``.

        Either end is a workload construct (anything with an ``endpoint``) or an
        Endpoint (``zero_trust.ingress_controller``, ``zero_trust.internet``,
        ``Endpoint.ip_block(...)``). Without ``ports``, a server construct with
        an ``allow_from`` method decides what a client needs (Redis: the
        Sentinels and the data nodes); otherwise the server's declared ports
        are used. Integers are TCP ports.
        """
        if ports is None and not isinstance(server, Endpoint) and callable(getattr(server, "allow_from", None)):
            server.allow_from(endpoint_of(client))
            return
        rendered = None if ports is None else tuple(Port.tcp(p) if isinstance(p, int) else p for p in ports)
        connect(endpoint_of(client), endpoint_of(server), rendered)

    def allow_metrics(self, scraper: Endpoint | Any, *targets: Any) -> None:
        """Let ``scraper`` (Prometheus) reach the ``metrics_port`` of each target construct."""
        for target in targets:
            port = getattr(target, "metrics_port", None)
            if not isinstance(port, int):
                raise TypeError(f"{target!r} has no metrics_port to scrape")
            connect(endpoint_of(scraper), endpoint_of(target), (Port.tcp(port),))

    def allow_internet(self, client: Endpoint | Any, ports: Iterable[Port | int]) -> None:
        """Let ``client`` reach public addresses (not private, link-local or CGNAT ranges) on ``ports``."""
        self.allow(client, self.internet, ports)

    def allow_kubernetes_api(self, client: Endpoint | Any) -> None:
        """Let ``client`` reach the Kubernetes API server (Patroni's leader lock, Prometheus discovery)."""
        connect(endpoint_of(client), self.kubernetes_api, tuple(Port.tcp(n) for n in self.props.kubernetes_api_ports))

    @property
    def kubernetes_api(self) -> Endpoint:
        if not self.props.kubernetes_api_cidrs:
            raise PropsError(
                "ZeroTrustPoliciesProps.kubernetes_api_cidrs: got (): set the API server endpoint addresses "
                "(kubectl get endpointslices -n default -l kubernetes.io/service-name=kubernetes) "
                "before allowing a workload to reach the Kubernetes API"
            )
        return Endpoint.ip_blocks("kubernetes-api", self.props.kubernetes_api_cidrs)


def default_deny_spec() -> dict[str, Any]:
    return {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}


def dns_egress_spec(p: ZeroTrustPoliciesProps) -> dict[str, Any]:
    peers: list[dict[str, Any]] = [
        {
            "namespaceSelector": {"matchLabels": {NAMESPACE_NAME_LABEL: p.dns_namespace}},
            "podSelector": {"matchLabels": dict(sorted(p.dns_pod_labels.items()))},
        }
    ]
    if p.node_local_dns_ip:
        suffix = "/32" if ipaddress.ip_address(p.node_local_dns_ip).version == 4 else "/128"
        peers.append({"ipBlock": {"cidr": p.node_local_dns_ip + suffix}})
    return {
        "podSelector": {},
        "policyTypes": ["Egress"],
        "egress": [
            {
                "to": peers,
                "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}],
            }
        ],
    }
