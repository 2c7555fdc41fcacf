"""Per-workload checks: probes, resources, security context, images, service accounts."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from .._props import quantity_value
from .model import Inventory, Manifest

Found = Iterator[tuple[Manifest, str]]

# Volume types the Pod Security "restricted" profile allows.
RESTRICTED_VOLUME_TYPES = {
    "configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret",
}
# Namespaced sysctls the Pod Security "baseline" (and so "restricted") profile allows.
SAFE_SYSCTLS = {
    "kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
}
_DIGEST = re.compile(r"@sha256:[a-f0-9]{64}$")


def probes(inv: Inventory) -> Found:
    for w in inv.long_running:
        for c in w.containers:
            if c.init:
                continue
            missing = [p for p in ("readinessProbe", "livenessProbe") if not c.spec.get(p)]
            if missing:
                yield w.manifest, f"container {c.name!r} has no {' and no '.join(missing)}"


def startup_probe(inv: Inventory) -> Found:
    for w in inv.long_running:
        for c in w.containers:
            if not c.init and not c.spec.get("startupProbe"):
                yield w.manifest, f"container {c.name!r} has no startupProbe"


def resources(inv: Inventory) -> Found:
    for w in inv.workloads:
        for c in w.containers:
            res = c.spec.get("resources") or {}
            requests, limits = res.get("requests") or {}, res.get("limits") or {}
            missing = [f"requests.{r}" for r in ("cpu", "memory") if r not in requests]
            missing += ["limits.memory"] if "memory" not in limits else []
            if missing:
                yield w.manifest, f"container {c.name!r} sets no {', '.join(missing)}"
            for resource in sorted(set(requests) & set(limits)):
                request, limit = _quantity(requests[resource]), _quantity(limits[resource])
                if request is not None and limit is not None and request > limit:
                    yield w.manifest, (
                        f"container {c.name!r} requests more {resource} ({requests[resource]}) "
                        f"than its limit ({limits[resource]}); the API server rejects this"
                    )


def cpu_limit(inv: Inventory) -> Found:
    for w in inv.workloads:
        for c in w.containers:
            if "cpu" not in ((c.spec.get("resources") or {}).get("limits") or {}):
                yield w.manifest, f"container {c.name!r} has no CPU limit"


def _quantity(value: Any) -> float | None:
    try:
        return quantity_value(str(value))
    except ValueError:
        return None


def security_context(inv: Inventory) -> Found:
    """The Pod Security Standard "restricted" profile, field by field."""
    for w in inv.workloads:
        spec = w.pod_spec
        pod_sc = spec.get("securityContext") or {}
        problems: list[str] = []
        for host in ("hostNetwork", "hostPID", "hostIPC"):
            if spec.get(host):
                problems.append(f"{host} is true")
        for volume in spec.get("volumes") or []:
            kinds = set(volume) - {"name"}
            if kinds and not kinds <= RESTRICTED_VOLUME_TYPES:
                problems.append(f"volume {volume.get('name')!r} is of type {', '.join(sorted(kinds))}")
        if pod_sc.get("runAsUser") == 0:
            problems.append("pod runAsUser is 0 (root)")
        unsafe = sorted(s.get("name", "") for s in pod_sc.get("sysctls") or [] if s.get("name") not in SAFE_SYSCTLS)
        if unsafe:
            problems.append(f"pod sets unsafe sysctls {unsafe}")
        if (pod_sc.get("appArmorProfile") or {}).get("type") == "Unconfined":
            problems.append("pod appArmorProfile is Unconfined")
        containers = w.containers + [_Ephemeral(e) for e in spec.get("ephemeralContainers") or []]
        for c in containers:
            sc = c.spec.get("securityContext") or {}
            who = f"container {c.name!r}"
            if sc.get("privileged"):
                problems.append(f"{who} is privileged")
            if sc.get("allowPrivilegeEscalation") is not False:
                problems.append(f"{who} does not set allowPrivilegeEscalation: false")
            caps = sc.get("capabilities") or {}
            if "ALL" not in (caps.get("drop") or []):
                problems.append(f"{who} does not drop ALL capabilities")
            added = set(caps.get("add") or []) - {"NET_BIND_SERVICE"}
            if added:
                problems.append(f"{who} adds capabilities {sorted(added)}")
            run_as_non_root = sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot"))
            if run_as_non_root is not True:
                problems.append(f"{who} does not set runAsNonRoot: true (pod or container)")
            if sc.get("runAsUser") == 0:
                problems.append(f"{who} runAsUser is 0 (root)")
            seccomp = (sc.get("seccompProfile") or pod_sc.get("seccompProfile") or {}).get("type")
            if seccomp not in ("RuntimeDefault", "Localhost"):
                problems.append(f"{who} has seccompProfile {seccomp or 'unset'} (needs RuntimeDefault or Localhost)")
            if any(p.get("hostPort") for p in c.spec.get("ports") or []):
                problems.append(f"{who} uses a hostPort")
            if sc.get("procMount", "Default") != "Default":
                problems.append(f"{who} has procMount {sc['procMount']}")
            if (sc.get("appArmorProfile") or {}).get("type") == "Unconfined":
                problems.append(f"{who} appArmorProfile is Unconfined")
        for problem in problems:
            yield w.manifest, problem


class _Ephemeral:
    def __init__(self, spec: dict[str, Any]):
        self.spec, self.init = spec, False
        self.name = str(spec.get("name", ""))


def read_only_root(inv: Inventory) -> Found:
    for w in inv.workloads:
        for c in w.containers:
            if (c.spec.get("securityContext") or {}).get("readOnlyRootFilesystem") is not True:
                yield w.manifest, f"container {c.name!r} has a writable root filesystem"


def split_image(image: str) -> tuple[str, str | None, str | None]:
    """(repository, tag, digest) of an image reference."""
    digest = None
    if "@" in image:
        image, digest = image.split("@", 1)
    last = image.rsplit("/", 1)[-1]
    tag = None
    if ":" in last:
        image, tag = image.rsplit(":", 1)
    return image, tag, digest


def image_pinned(inv: Inventory) -> Found:
    for w in inv.workloads:
        for c in w.containers:
            image = str(c.spec.get("image", ""))
            _, tag, digest = split_image(image)
            if digest:
                continue
            if not tag:
                yield w.manifest, f"container {c.name!r} image {image!r} has no tag (means 'latest')"
            elif tag == "latest":
                yield w.manifest, f"container {c.name!r} image {image!r} uses the moving tag 'latest'"


def image_digest(inv: Inventory) -> Found:
    for w in inv.workloads:
        for c in w.containers:
            image = str(c.spec.get("image", ""))
            _, tag, _ = split_image(image)
            if tag and not _DIGEST.search(image):  # untagged images are image-pinned's finding
                yield w.manifest, f"container {c.name!r} image {image!r} is pinned by tag only, not by digest"


INSTANCE_LABEL = "app.kubernetes.io/instance"


def service_account(inv: Inventory) -> Found:
    """One account per application. Workloads of one instance (blue and green colours) may share it."""
    users: dict[tuple[str, str], list[Any]] = {}
    for w in inv.workloads:
        users.setdefault((w.namespace, w.service_account_name), []).append(w)
    for w in inv.workloads:
        sa = w.service_account_name
        if sa == "default":
            yield w.manifest, "pods run as the namespace's 'default' service account"
            continue
        instance = w.pod_labels.get(INSTANCE_LABEL)
        others = [
            f"{o.kind} {o.name}" for o in users[(w.namespace, sa)]
            if o is not w and not (instance and o.pod_labels.get(INSTANCE_LABEL) == instance)
        ]
        if others:
            yield w.manifest, f"service account {sa!r} is shared with {', '.join(others)}"


def _rbac_subjects(inv: Inventory) -> set[tuple[str, str]]:
    bound = set()
    for binding in inv.kind("RoleBinding", "ClusterRoleBinding"):
        for subject in binding.obj.get("subjects") or []:
            if subject.get("kind") == "ServiceAccount":
                namespace = subject.get("namespace") or binding.namespace or ""
                bound.add((namespace, subject.get("name", "")))
    return bound


def service_account_token(inv: Inventory) -> Found:
    bound = _rbac_subjects(inv)
    for w in inv.workloads:
        sa_name = w.service_account_name
        sa = inv.get("ServiceAccount", w.namespace, sa_name)
        pod_setting = w.pod_spec.get("automountServiceAccountToken")
        sa_setting = sa.obj.get("automountServiceAccountToken") if sa else None
        mounted = pod_setting if pod_setting is not None else sa_setting is not False
        if mounted and (w.namespace, sa_name) not in bound:
            yield w.manifest, (
                f"pods mount a token for service account {sa_name!r}, which no RoleBinding or "
                "ClusterRoleBinding grants anything: the token is of use only to an attacker"
            )
