"""Parsed manifests and the index the checks read them through.

The checks never touch files: they receive an :class:`Inventory` (every object,
indexed by kind, with the pod template of each workload resolved) and yield the
object a finding concerns and a message.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import yaml

from .selectors import selector_matches

# libyaml when available: configuration files in ConfigMaps can be large (dashboards).
YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# Objects without metadata.namespace land in the namespace kubectl applies
# into; for reading manifests that is "default".
DEFAULT_NAMESPACE = "default"

CLUSTER_SCOPED_KINDS = frozenset(
    {
        "APIService",
        "ClusterIssuer",
        "ClusterRole",
        "ClusterRoleBinding",
        "CSIDriver",
        "CustomResourceDefinition",
        "IngressClass",
        "MutatingWebhookConfiguration",
        "Namespace",
        "Node",
        "PersistentVolume",
        "PriorityClass",
        "RuntimeClass",
        "StorageClass",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
        "ValidatingWebhookConfiguration",
        "VolumeAttachment",
    }
)

# Controllers that keep pods running, and so need probes, replicas, budgets, metrics.
# An Argo Rollouts Rollout carries a Deployment's pod template, replicas and selector.
LONG_RUNNING_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Rollout")
# Everything that creates pods: security, network and image checks cover all of them.
POD_OWNER_KINDS = (*LONG_RUNNING_KINDS, "ReplicaSet", "Job", "CronJob", "Pod")


class Severity(str, enum.Enum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        return {"error": 0, "warning": 1, "info": 2}[self.value]


@dataclass(frozen=True)
class Manifest:
    """One object read from a file; ``source`` is 'path#document-number' for messages."""

    obj: dict[str, Any]
    source: str = "<memory>"

    @property
    def kind(self) -> str:
        return str(self.obj.get("kind", ""))

    @property
    def api_version(self) -> str:
        return str(self.obj.get("apiVersion", ""))

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0]

    @property
    def metadata(self) -> dict[str, Any]:
        return self.obj.get("metadata") or {}

    @property
    def name(self) -> str:
        return str(self.metadata.get("name", ""))

    @property
    def namespace(self) -> str | None:
        if self.kind in CLUSTER_SCOPED_KINDS:
            return None
        return str(self.metadata.get("namespace") or DEFAULT_NAMESPACE)

    @property
    def labels(self) -> dict[str, str]:
        return self.metadata.get("labels") or {}

    @property
    def spec(self) -> dict[str, Any]:
        return self.obj.get("spec") or {}

    @property
    def ref(self) -> str:
        """'Kind namespace/name', how findings and diffs name an object."""
        return f"{self.kind} {self.namespace}/{self.name}" if self.namespace else f"{self.kind} {self.name}"


@dataclass(frozen=True)
class Container:
    spec: dict[str, Any]
    init: bool  # init containers (including native sidecars) run to completion or alongside

    @property
    def name(self) -> str:
        return str(self.spec.get("name", ""))

    @property
    def is_sidecar(self) -> bool:
        # Native sidecars (Kubernetes 1.29+): init containers with restartPolicy Always.
        return self.init and self.spec.get("restartPolicy") == "Always"

    @property
    def long_running(self) -> bool:
        return not self.init or self.is_sidecar

    @property
    def ports(self) -> list[dict[str, Any]]:
        return self.spec.get("ports") or []


@dataclass(frozen=True)
class Workload:
    """An object that creates pods, with its pod template resolved."""

    manifest: Manifest

    @property
    def kind(self) -> str:
        return self.manifest.kind

    @property
    def name(self) -> str:
        return self.manifest.name

    @property
    def namespace(self) -> str:
        return self.manifest.namespace or DEFAULT_NAMESPACE

    @property
    def long_running(self) -> bool:
        return self.kind in LONG_RUNNING_KINDS

    @property
    def template(self) -> dict[str, Any]:
        spec = self.manifest.spec
        if self.kind == "Pod":
            return {"metadata": self.manifest.metadata, "spec": spec}
        if self.kind == "CronJob":
            return ((spec.get("jobTemplate") or {}).get("spec") or {}).get("template") or {}
        return spec.get("template") or {}

    @property
    def pod_labels(self) -> dict[str, str]:
        return (self.template.get("metadata") or {}).get("labels") or {}

    @property
    def pod_annotations(self) -> dict[str, str]:
        return (self.template.get("metadata") or {}).get("annotations") or {}

    @property
    def pod_spec(self) -> dict[str, Any]:
        return self.template.get("spec") or {}

    @property
    def containers(self) -> list[Container]:
        spec = self.pod_spec
        return [Container(c, init=True) for c in spec.get("initContainers") or []] + [
            Container(c, init=False) for c in spec.get("containers") or []
        ]

    @property
    def declared_replicas(self) -> int | None:
        """spec.replicas as written; None when omitted (the API server then defaults it to 1)."""
        if self.kind not in ("Deployment", "StatefulSet", "ReplicaSet", "Rollout"):
            return None
        value = self.manifest.spec.get("replicas")
        return int(value) if value is not None else None

    @property
    def service_account_name(self) -> str:
        spec = self.pod_spec
        return str(spec.get("serviceAccountName") or spec.get("serviceAccount") or "default")


@dataclass
class Inventory:
    """Every object of a validation run, indexed for the checks."""

    manifests: list[Manifest]
    _by_kind: dict[str, list[Manifest]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for manifest in self.manifests:
            self._by_kind.setdefault(manifest.kind, []).append(manifest)

    @classmethod
    def of(cls, objects: list[dict[str, Any]] | list[Manifest]) -> Inventory:
        return cls([o if isinstance(o, Manifest) else Manifest(o) for o in objects])

    def kind(self, *kinds: str) -> list[Manifest]:
        return [m for k in kinds for m in self._by_kind.get(k, [])]

    def get(self, kind: str, namespace: str | None, name: str) -> Manifest | None:
        for manifest in self._by_kind.get(kind, []):
            if manifest.name == name and manifest.namespace == namespace:
                return manifest
        return None

    @cached_property
    def workloads(self) -> list[Workload]:
        """Every pod owner. A ReplicaSet or Job owned by another listed object is not repeated."""
        return [Workload(m) for m in self.kind(*POD_OWNER_KINDS)]

    @cached_property
    def long_running(self) -> list[Workload]:
        return [w for w in self.workloads if w.long_running]

    def hpas_for(self, workload: Workload) -> list[Manifest]:
        return [
            hpa
            for hpa in self.kind("HorizontalPodAutoscaler")
            if hpa.namespace == workload.namespace
            and (hpa.spec.get("scaleTargetRef") or {}).get("kind") == workload.kind
            and (hpa.spec.get("scaleTargetRef") or {}).get("name") == workload.name
        ]

    def minimum_replicas(self, workload: Workload) -> int | None:
        """The fewest pods the workload runs: the HPA's minReplicas when autoscaled, else spec.replicas.

        None for DaemonSets (one pod per node).
        """
        if workload.kind == "DaemonSet":
            return None
        hpas = self.hpas_for(workload)
        if hpas:
            return min(int(h.spec.get("minReplicas", 1)) for h in hpas)
        declared = workload.declared_replicas
        return 1 if declared is None else declared

    def pdbs_selecting(self, workload: Workload) -> list[Manifest]:
        return [
            pdb
            for pdb in self.kind("PodDisruptionBudget")
            if pdb.namespace == workload.namespace
            and "selector" in pdb.spec
            and selector_matches(pdb.spec.get("selector"), workload.pod_labels)
        ]

    def workloads_selected_by(self, selector: dict[str, Any] | None, namespace: str) -> list[Workload]:
        return [
            w for w in self.workloads if w.namespace == namespace and selector_matches(selector, w.pod_labels)
        ]

    def namespaces_in_use(self) -> set[str]:
        return {w.namespace for w in self.workloads}

    def config_documents(self) -> Iterator[tuple[Manifest, str, str]]:
        """(ConfigMap, key, text) for every data entry of every ConfigMap."""
        for cm in self.kind("ConfigMap"):
            for key, text in sorted((cm.obj.get("data") or {}).items()):
                if isinstance(text, str):
                    yield cm, key, text

    @cached_property
    def config_files(self) -> list[tuple[Manifest, str, Any]]:
        """(ConfigMap, key, parsed YAML) for every data entry named *.yml, *.yaml or *.rules, parsed once."""
        parsed = []
        for cm, key, text in self.config_documents():
            if key.endswith((".yml", ".yaml", ".rules")):
                try:
                    parsed.append((cm, key, yaml.load(text, Loader=YAML_LOADER)))
                except yaml.YAMLError:
                    continue  # not YAML after all; no check reads it
        return parsed
