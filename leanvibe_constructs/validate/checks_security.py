"""Security checks: network policies, Pod Security labels, RBAC, secret material."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from .model import Inventory, Manifest
from .selectors import is_empty, selector_matches

Found = Iterator[tuple[Manifest, str]]

PSS_ENFORCE = "pod-security.kubernetes.io/enforce"
PSS_LEVELS = ("privileged", "baseline", "restricted")
_SECRET_NAME = re.compile(r"(?i)(password|passwd|secret|token|api_?key|private_?key|credentials?)")
_PRIVATE_KEY = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")
DNS_PORT = 53


def policy_types(policy: Manifest) -> set[str]:
    """policyTypes as the API server defaults them: Ingress always, Egress when egress rules exist."""
    declared = policy.spec.get("policyTypes")
    if declared:
        return set(declared)
    return {"Ingress", "Egress"} if "egress" in policy.spec else {"Ingress"}


def network_policy(inv: Inventory) -> Found:
    policies = inv.kind("NetworkPolicy")
    for w in inv.workloads:
        covering = [
            p for p in policies
            if p.namespace == w.namespace and selector_matches(p.spec.get("podSelector") or {}, w.pod_labels)
        ]
        directions = set().union(*(policy_types(p) for p in covering)) if covering else set()
        missing = [d for d in ("Ingress", "Egress") if d not in directions]
        if missing:
            yield w.manifest, f"its pods are selected by no NetworkPolicy of type {' or '.join(missing)}"


def _only_dns(rules: list[dict[str, Any]]) -> bool:
    ports = [p for rule in rules for p in rule.get("ports") or [None]]
    return bool(ports) and all(p is not None and p.get("port") in (DNS_PORT, "dns", "dns-tcp") for p in ports)


def denies(policy: Manifest, direction: str) -> bool:
    """Whether a policy over every pod denies ``direction`` (egress may still allow DNS)."""
    if not is_empty(policy.spec.get("podSelector") or {}) or direction not in policy_types(policy):
        return False
    rules = policy.spec.get(direction.lower()) or []
    return not rules or (direction == "Egress" and _only_dns(rules))


def default_deny(inv: Inventory) -> Found:
    policies = inv.kind("NetworkPolicy")
    for namespace in sorted(inv.namespaces_in_use()):
        in_namespace = [p for p in policies if p.namespace == namespace]
        missing = [d for d in ("Ingress", "Egress") if not any(denies(p, d) for p in in_namespace)]
        if missing:
            subject = inv.get("Namespace", None, namespace) or next(
                w.manifest for w in inv.workloads if w.namespace == namespace
            )
            yield subject, (
                f"namespace {namespace} has no default-deny NetworkPolicy for {' and '.join(missing)} "
                "(podSelector {} with no rules)"
            )


def pod_security_labels(inv: Inventory) -> Found:
    for namespace in inv.kind("Namespace"):
        level = namespace.labels.get(PSS_ENFORCE)
        if level is None:
            yield namespace, f"has no {PSS_ENFORCE} label: pods are admitted without Pod Security checks"
        elif level not in PSS_LEVELS:
            yield namespace, f"{PSS_ENFORCE}={level!r} is not one of {', '.join(PSS_LEVELS)}"


def pod_security_restricted(inv: Inventory) -> Found:
    for namespace in inv.kind("Namespace"):
        level = namespace.labels.get(PSS_ENFORCE)
        if level in ("privileged", "baseline"):
            yield namespace, f"enforces the {level!r} Pod Security level, not 'restricted'"


def namespace_defined(inv: Inventory) -> Found:
    for namespace in sorted(inv.namespaces_in_use()):
        if inv.get("Namespace", None, namespace) is None:
            first = next(w.manifest for w in inv.workloads if w.namespace == namespace)
            yield first, (
                f"namespace {namespace} is not defined in these manifests; its Pod Security labels go unchecked"
            )


def rbac_wildcard(inv: Inventory) -> Found:
    for role in inv.kind("Role", "ClusterRole"):
        for number, rule in enumerate(role.obj.get("rules") or [], start=1):
            wild = [f for f in ("apiGroups", "resources", "verbs", "nonResourceURLs") if "*" in (rule.get(f) or [])]
            if wild:
                yield role, f"rule {number} grants '*' in {', '.join(wild)}"
    for binding in inv.kind("RoleBinding", "ClusterRoleBinding"):
        if (binding.obj.get("roleRef") or {}).get("name") == "cluster-admin":
            yield binding, "binds cluster-admin, which grants '*' on everything"


def secret_data(inv: Inventory) -> Found:
    for secret in inv.kind("Secret"):
        keys = sorted(set(secret.obj.get("data") or {}) | set(secret.obj.get("stringData") or {}))
        if keys:
            yield secret, f"carries secret material in the manifest (keys: {', '.join(keys)}; values not shown)"
    for w in inv.workloads:
        for c in w.containers:
            for env in c.spec.get("env") or []:
                if "value" in env and env["value"] and _SECRET_NAME.search(str(env.get("name", ""))):
                    yield w.manifest, (
                        f"container {c.name!r} sets {env['name']} as a literal value (not shown); "
                        "read it from a Secret"
                    )
    for cm, key, text in inv.config_documents():
        if _PRIVATE_KEY.search(text):
            yield cm, f"data key {key!r} contains a private key"
