"""PlatformBaseline: the namespace and the cluster objects every workload relies on.

Synthesizes:

- the Namespace, labelled for Pod Security Admission at the ``restricted``
  level in all three modes (``enforce`` rejects, ``audit`` records, ``warn``
  tells ``kubectl`` users), each pinned to one policy version so a cluster
  upgrade never tightens the rules under running workloads unannounced.
  Pod Security Policies were removed in Kubernetes 1.25; this is their
  replacement.
- a ResourceQuota (the namespace's share of the cluster, no LoadBalancer or
  NodePort Services: the only way in is the ingress controller) and a
  LimitRange (defaults for containers that set no requests or limits, which
  the quota would otherwise reject, and per-container and per-volume caps);
- two PriorityClasses: ``leanvibe-critical`` for the API and the databases,
  and ``leanvibe-capacity-reserve``, a negative priority for placeholder
  pods that hold spare capacity until real pods need it;
- the ``leanvibe-regional-ssd`` StorageClass the databases claim volumes from,
  with presets for GKE, EKS and AKS;
- two read-only Roles for people: ``leanvibe-operator`` and
  ``leanvibe-on-call``, bound to groups when groups are given.
"""

from __future__ import annotations

from typing import Any, Literal

from constructs import Construct
from pydantic import Field, field_validator, model_validator

from ._k8s import api_object
from ._labels import Identity
from ._props import DnsLabel, Props, Quantity, quantity_value

CRITICAL_PRIORITY_CLASS = "leanvibe-critical"
CAPACITY_RESERVE_PRIORITY_CLASS = "leanvibe-capacity-reserve"
REGIONAL_SSD_STORAGE_CLASS = "leanvibe-regional-ssd"

POD_SECURITY_LEVEL = "restricted"
POD_SECURITY_MODES = ("enforce", "audit", "warn")

# cluster-autoscaler treats pods below --expendable-pods-priority-cutoff
# (default -10) as expendable: it never adds a node for them. Reserve pods
# must stay at or above it, or an evicted reserve is never re-created on a new
# node and the headroom silently disappears.
AUTOSCALER_EXPENDABLE_CUTOFF = -10


class StorageClassSettings(Props):
    """Provisioner and parameters of the regional SSD StorageClass.

    Use a preset: ``gke()``, ``eks()``, ``aks()``, or ``local_path()`` for a laptop cluster.
    """

    provisioner: str = Field(description="CSI driver name, e.g. 'pd.csi.storage.gke.io'. Required.", min_length=1)
    parameters: dict[str, str] = Field(
        default_factory=dict, description="Driver parameters (type, replication...). Default: none."
    )
    zone_redundant: bool = Field(
        description="Whether one volume survives the loss of its zone (replicated by the cloud). "
        "When False, surviving a zone loss relies on database replication across zones. Required."
    )

    @classmethod
    def gke(cls) -> StorageClassSettings:
        # Regional persistent disk: synchronously replicated across two zones
        # of the region; a pod rescheduled into the second zone re-attaches it.
        return cls(
            provisioner="pd.csi.storage.gke.io",
            parameters={"type": "pd-ssd", "replication-type": "regional-pd"},
            zone_redundant=True,
        )

    @classmethod
    def eks(cls) -> StorageClassSettings:
        # EBS volumes are zonal: a gp3 volume lives in one availability zone
        # and a pod using it can only run there. AWS has no regional block
        # volume; PostgreSQL and Redis survive a zone loss through their own
        # replicas in other zones, not through the disk.
        return cls(
            provisioner="ebs.csi.aws.com",
            parameters={"type": "gp3", "encrypted": "true"},
            zone_redundant=False,
        )

    @classmethod
    def aks(cls) -> StorageClassSettings:
        # Zone-redundant premium SSD: synchronously replicated across three
        # zones (regions with availability zones only).
        return cls(provisioner="disk.csi.azure.com", parameters={"skuName": "Premium_ZRS"}, zone_redundant=True)

    @classmethod
    def local_path(cls) -> StorageClassSettings:
        # Laptop clusters (kind, k3s): a directory on the one node. For dev only.
        return cls(provisioner="rancher.io/local-path", zone_redundant=False)

    @classmethod
    def for_cloud(cls, cloud: Literal["gke", "eks", "aks", "local-path"]) -> StorageClassSettings:
        presets = {"gke": cls.gke, "eks": cls.eks, "aks": cls.aks, "local-path": cls.local_path}
        if cloud not in presets:
            raise ValueError(f"unknown cloud {cloud!r}; expected one of {sorted(presets)}")
        return presets[cloud]()


class PlatformBaselineProps(Props):
    """Props of :class:`PlatformBaseline`. Nothing is required; the defaults are the production shape."""

    namespace: DnsLabel = Field("leanvibe", description="Namespace of every workload. Default: 'leanvibe'.")
    part_of: DnsLabel = Field("leanvibe", description="app.kubernetes.io/part-of label. Default: 'leanvibe'.")
    pod_security_version: str = Field(
        "v1.27",
        pattern=r"^v1\.(2[5-9]|[3-9][0-9])$",
        description="Pod Security Standards version the namespace enforces, audits and warns at; pinned "
        "('latest' is refused) so an upgrade never changes admission silently. Default: 'v1.27' "
        "(the oldest Kubernetes this library supports).",
    )
    quota_requests_cpu: Quantity = Field(
        "64", description="Total CPU requests in the namespace. Default: '64' (32 API pods at a rollout's "
        "surge, 3 PostgreSQL, 6 Redis/Sentinel and the monitoring stack, with headroom).",
    )
    quota_limits_cpu: Quantity = Field("128", description="Total CPU limits. Default: '128'.")
    quota_requests_memory: Quantity = Field("128Gi", description="Total memory requests. Default: '128Gi'.")
    quota_limits_memory: Quantity = Field("160Gi", description="Total memory limits. Default: '160Gi'.")
    quota_requests_storage: Quantity = Field(
        "2Ti", description="Total storage all PersistentVolumeClaims may request. Default: '2Ti'."
    )
    quota_pods: int = Field(100, ge=1, le=10000, description="Pods in the namespace. Default: 100.")
    quota_persistent_volume_claims: int = Field(
        30, ge=0, le=10000, description="PersistentVolumeClaims in the namespace. Default: 30."
    )
    default_cpu_request: Quantity = Field(
        "100m", description="CPU request of a container that sets none (LimitRange). Default: '100m'."
    )
    default_cpu_limit: Quantity = Field("500m", description="CPU limit of a container that sets none. Default: '500m'.")
    default_memory_request: Quantity = Field(
        "128Mi", description="Memory request of a container that sets none. Default: '128Mi'."
    )
    default_memory_limit: Quantity = Field(
        "512Mi", description="Memory limit of a container that sets none. Default: '512Mi'."
    )
    default_ephemeral_storage_request: Quantity = Field(
        "64Mi", description="Ephemeral storage request of a container that sets none. Default: '64Mi'."
    )
    default_ephemeral_storage_limit: Quantity = Field(
        "1Gi", description="Ephemeral storage limit of a container that sets none. Default: '1Gi'."
    )
    max_container_cpu: Quantity = Field("16", description="Largest CPU limit one container may set. Default: '16'.")
    max_container_memory: Quantity = Field(
        "64Gi", description="Largest memory limit one container may set. Default: '64Gi'."
    )
    max_volume_size: Quantity = Field(
        "1Ti", description="Largest PersistentVolumeClaim. Default: '1Ti'."
    )
    critical_priority_value: int = Field(
        1_000_000,
        ge=1,
        le=1_000_000_000,
        description="Priority of 'leanvibe-critical' (API, databases): above every pod without a class (0), "
        "far below the system classes (2 000 000 000). Default: 1000000.",
    )
    capacity_reserve_priority_value: int = Field(
        -1,
        ge=AUTOSCALER_EXPENDABLE_CUTOFF,
        le=-1,
        description="Priority of 'leanvibe-capacity-reserve': negative, so any ordinary pod preempts it; "
        "not below cluster-autoscaler's expendable cutoff (-10), so an evicted reserve pod still gets a "
        "new node. Default: -1.",
    )
    storage: StorageClassSettings = Field(
        default_factory=StorageClassSettings.gke,
        description="Provisioner of the regional SSD StorageClass: StorageClassSettings.gke(), .eks() or .aks(). "
        "Default: GKE regional pd-ssd.",
    )
    storage_reclaim_policy: Literal["Retain", "Delete"] = Field(
        "Retain",
        description="What happens to a database volume when its claim is deleted. 'Retain' keeps the disk "
        "(a deleted StatefulSet or a mistyped kubectl delete must not destroy data). Default: 'Retain'.",
    )
    operator_groups: tuple[str, ...] = Field(
        (), description="Groups bound to the read-only operator Role. Default: none (the Role exists, unbound)."
    )
    on_call_groups: tuple[str, ...] = Field(
        (), description="Groups bound to the on-call Role. Default: none (the Role exists, unbound)."
    )

    @field_validator("operator_groups", "on_call_groups")
    @classmethod
    def _check_groups(cls, groups: tuple[str, ...]) -> tuple[str, ...]:
        if any(not group.strip() for group in groups):
            raise ValueError("group names must not be empty")
        if any(group.startswith("system:") for group in groups):
            raise ValueError("system: groups are Kubernetes' own; bind people's groups from your identity provider")
        if len(set(groups)) != len(groups):
            raise ValueError("each group must be listed once")
        return groups

    @model_validator(mode="after")
    def _check_consistency(self) -> PlatformBaselineProps:
        pairs = [
            ("quota_requests_cpu", "quota_limits_cpu"),
            ("quota_requests_memory", "quota_limits_memory"),
            ("default_cpu_request", "default_cpu_limit"),
            ("default_memory_request", "default_memory_limit"),
            ("default_ephemeral_storage_request", "default_ephemeral_storage_limit"),
            ("default_cpu_limit", "max_container_cpu"),
            ("default_memory_limit", "max_container_memory"),
            ("max_container_cpu", "quota_limits_cpu"),
            ("max_container_memory", "quota_limits_memory"),
            ("max_volume_size", "quota_requests_storage"),
        ]
        for low, high in pairs:
            if quantity_value(getattr(self, low)) > quantity_value(getattr(self, high)):
                raise ValueError(f"{low} ({getattr(self, low)}) must be <= {high} ({getattr(self, high)})")
        return self


class PlatformBaseline(Construct):
    """The namespace, its guard rails and the cluster-wide classes the workloads use.

    Attributes consumers use: ``namespace``, ``critical_priority_class_name``,
    ``capacity_reserve_priority_class_name``, ``storage_class_name``,
    ``storage_zone_redundant``, ``operator_role_name``, ``on_call_role_name``.
    """

    def __init__(self, scope: Construct, id: str, props: PlatformBaselineProps | None = None, **kwargs: Any):
        super().__init__(scope, id)
        self.props = p = PlatformBaselineProps.build(props, **kwargs)
        self.namespace = p.namespace
        self.critical_priority_class_name = CRITICAL_PRIORITY_CLASS
        self.capacity_reserve_priority_class_name = CAPACITY_RESERVE_PRIORITY_CLASS
        self.storage_class_name = REGIONAL_SSD_STORAGE_CLASS
        self.storage_zone_redundant = p.storage.zone_redundant
        self.operator_role_name = f"{p.part_of}-operator"
        self.on_call_role_name = f"{p.part_of}-on-call"

        def identity(component: str) -> Identity:
            return Identity(name="leanvibe-platform", instance=p.namespace, component=component,
                            part_of=p.part_of, version="1")

        ns = p.namespace
        self.namespace_object = api_object(
            self, "Resource", api_version="v1", kind="Namespace", name=ns,
            identity=identity("namespace"), labels=pod_security_labels(p.pod_security_version),
        )
        quota = identity("quota")
        api_object(
            self, "ResourceQuota", api_version="v1", kind="ResourceQuota", name=f"{p.part_of}-quota",
            namespace=ns, identity=quota, spec=resource_quota_spec(p),
        )
        api_object(
            self, "LimitRange", api_version="v1", kind="LimitRange", name=f"{p.part_of}-limits",
            namespace=ns, identity=quota, spec=limit_range_spec(p),
        )
        scheduling = identity("scheduling")
        for construct_id, body in (
            ("CriticalPriority", critical_priority_class(p)),
            ("CapacityReservePriority", capacity_reserve_priority_class(p)),
        ):
            api_object(self, construct_id, api_version="scheduling.k8s.io/v1", kind="PriorityClass",
                       identity=scheduling, **body)
        api_object(
            self, "StorageClass", api_version="storage.k8s.io/v1", kind="StorageClass",
            name=REGIONAL_SSD_STORAGE_CLASS, identity=identity("storage"), **storage_class_body(p),
        )
        access = identity("access-control")
        for construct_id, role_name, rules, groups in (
            ("OperatorRole", self.operator_role_name, operator_rules(), p.operator_groups),
            ("OnCallRole", self.on_call_role_name, on_call_rules(), p.on_call_groups),
        ):
            api_object(self, construct_id, api_version="rbac.authorization.k8s.io/v1", kind="Role",
                       name=role_name, namespace=ns, identity=access, rules=rules)
            if groups:
                api_object(
                    self, f"{construct_id}Binding", api_version="rbac.authorization.k8s.io/v1",
                    kind="RoleBinding", name=role_name, namespace=ns, identity=access,
                    roleRef={"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role_name},
                    subjects=[{"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": g} for g in groups],
                )


def pod_security_labels(version: str) -> dict[str, str]:
    labels = {}
    for mode in POD_SECURITY_MODES:
        labels[f"pod-security.kubernetes.io/{mode}"] = POD_SECURITY_LEVEL
        labels[f"pod-security.kubernetes.io/{mode}-version"] = version
    return labels


def resource_quota_spec(p: PlatformBaselineProps) -> dict[str, Any]:
    return {
        "hard": {
            "requests.cpu": p.quota_requests_cpu,
            "limits.cpu": p.quota_limits_cpu,
            "requests.memory": p.quota_requests_memory,
            "limits.memory": p.quota_limits_memory,
            "requests.storage": p.quota_requests_storage,
            "pods": str(p.quota_pods),
            "persistentvolumeclaims": str(p.quota_persistent_volume_claims),
            # No Service may bypass the ingress controller (and the policies in front of it).
            "services.loadbalancers": "0",
            "services.nodeports": "0",
        }
    }


def limit_range_spec(p: PlatformBaselineProps) -> dict[str, Any]:
    return {
        "limits": [
            {
                "type": "Container",
                "defaultRequest": {
                    "cpu": p.default_cpu_request,
                    "memory": p.default_memory_request,
                    "ephemeral-storage": p.default_ephemeral_storage_request,
                },
                "default": {
                    "cpu": p.default_cpu_limit,
                    "memory": p.default_memory_limit,
                    "ephemeral-storage": p.default_ephemeral_storage_limit,
                },
                "max": {"cpu": p.max_container_cpu, "memory": p.max_container_memory},
            },
            {"type": "PersistentVolumeClaim", "max": {"storage": p.max_volume_size}},
        ]
    }


def critical_priority_class(p: PlatformBaselineProps) -> dict[str, Any]:
    return {
        "name": CRITICAL_PRIORITY_CLASS,
        "value": p.critical_priority_value,
        "globalDefault": False,
        # May evict lower-priority pods (capacity reserve first) to get scheduled.
        "preemptionPolicy": "PreemptLowerPriority",
        "description": "LeanVibe API and databases: scheduled first, preempt lower-priority pods when the "
        "cluster is full, evicted last under node pressure.",
    }


def capacity_reserve_priority_class(p: PlatformBaselineProps) -> dict[str, Any]:
    return {
        "name": CAPACITY_RESERVE_PRIORITY_CLASS,
        "value": p.capacity_reserve_priority_value,
        "globalDefault": False,
        # preemptionPolicy decides whether *these* pods may evict others, not
        # whether others may evict them: a pod with preemptionPolicy Never is
        # still preempted by any higher-priority pod (Kubernetes docs,
        # "Non-preempting PriorityClass"). What makes reserve pods give way is
        # their negative value. Never only stops a reserve pod from ever
        # displacing real work, even a best-effort pod below it; when it is
        # evicted it waits Pending, and that Pending pod is what makes the
        # cluster-autoscaler add the next node of headroom.
        "preemptionPolicy": "Never",
        "description": "Placeholder pods holding spare capacity: preempted by every pod with a higher "
        "priority (all ordinary pods), never preempt anything themselves.",
    }


def storage_class_body(p: PlatformBaselineProps) -> dict[str, Any]:
    body: dict[str, Any] = {
        "provisioner": p.storage.provisioner,
        "reclaimPolicy": p.storage_reclaim_policy,
        # Bind only once the pod is scheduled, so the volume is created in the
        # pod's zone (zonal disks) or a zone pair that includes it (regional).
        "volumeBindingMode": "WaitForFirstConsumer",
        "allowVolumeExpansion": True,
    }
    if p.storage.parameters:
        body["parameters"] = dict(sorted(p.storage.parameters.items()))
    return body


# --- Roles for people -------------------------------------------------------------------

READ = ["get", "list", "watch"]

# What an operator may see. Secrets are absent on purpose: `list` on Secrets
# returns their data. pods/exec, pods/attach and pods/portforward are absent:
# RBAC has no deny, so leaving them out is how exec is denied (a shell in a
# database pod, or a port-forward around the NetworkPolicies, is not a
# read-only act).
_READABLE: list[tuple[str, list[str]]] = [
    ("", ["pods", "services", "endpoints", "configmaps", "persistentvolumeclaims", "events",
          "serviceaccounts", "resourcequotas", "limitranges"]),
    ("apps", ["deployments", "statefulsets", "replicasets", "controllerrevisions"]),
    ("autoscaling", ["horizontalpodautoscalers"]),
    ("batch", ["jobs", "cronjobs"]),
    ("policy", ["poddisruptionbudgets"]),
    ("networking.k8s.io", ["networkpolicies", "ingresses"]),
    ("discovery.k8s.io", ["endpointslices"]),
    ("events.k8s.io", ["events"]),
    ("rbac.authorization.k8s.io", ["roles", "rolebindings"]),
    ("monitoring.coreos.com", ["servicemonitors", "podmonitors", "prometheusrules"]),
]


def operator_rules() -> list[dict[str, Any]]:
    """Read-only: every object of the namespace except Secrets, plus container logs."""
    rules = [{"apiGroups": [group], "resources": sorted(resources), "verbs": READ} for group, resources in _READABLE]
    rules.append({"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]})
    return rules


def on_call_rules() -> list[dict[str, Any]]:
    """The operator's view, plus live resource usage for triage (`kubectl top`)."""
    return operator_rules() + [{"apiGroups": ["metrics.k8s.io"], "resources": ["pods"], "verbs": ["get", "list"]}]
