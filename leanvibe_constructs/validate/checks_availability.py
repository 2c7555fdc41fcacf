"""Availability checks: replicas, spreading, disruption budgets, autoscalers."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from typing import Any

from .model import Inventory, Manifest, Workload
from .selectors import is_empty, render, selector_matches

Found = Iterator[tuple[Manifest, str]]
REPLICATED_KINDS = ("Deployment", "StatefulSet", "Rollout")


def _scaled_to_zero(w: Workload) -> bool:
    # replicas: 0 is a deliberate off switch (an idle blue-green colour), not an availability bug.
    return w.declared_replicas == 0


def _maximum_replicas(inv: Inventory, w: Workload) -> int:
    hpas = inv.hpas_for(w)
    declared = w.declared_replicas if w.declared_replicas is not None else 1
    return max([declared, *(int(h.spec.get("maxReplicas", 1)) for h in hpas)])


def replicas(inv: Inventory) -> Found:
    for w in inv.long_running:
        if w.kind not in REPLICATED_KINDS or (_scaled_to_zero(w) and not inv.hpas_for(w)):
            continue
        minimum = inv.minimum_replicas(w)
        if minimum is not None and minimum < 2:
            hpas = inv.hpas_for(w)
            if hpas:
                yield w.manifest, f"HorizontalPodAutoscaler {hpas[0].name} may scale it down to {minimum} replica"
            elif w.declared_replicas is None:
                yield w.manifest, "spec.replicas is omitted (defaults to 1) and no HorizontalPodAutoscaler targets it"
            else:
                yield w.manifest, f"runs {minimum} replica: a single node or pod failure is an outage"


def _own_pods(selector: dict[str, Any] | None, w: Workload) -> bool:
    return selector_matches(selector, w.pod_labels)


def spread(inv: Inventory) -> Found:
    """Anti-affinity or topology spread, either of which must select the workload's own pods."""
    for w in inv.long_running:
        if w.kind not in REPLICATED_KINDS or _maximum_replicas(inv, w) < 2:
            continue
        spec = w.pod_spec
        anti = (spec.get("affinity") or {}).get("podAntiAffinity") or {}
        terms = list(anti.get("requiredDuringSchedulingIgnoredDuringExecution") or [])
        preferred = anti.get("preferredDuringSchedulingIgnoredDuringExecution") or []
        terms += [t.get("podAffinityTerm") or {} for t in preferred]
        constraints = spec.get("topologySpreadConstraints") or []
        if any(_own_pods(t.get("labelSelector"), w) for t in terms + constraints):
            continue
        if terms or constraints:
            yield w.manifest, (
                "its podAntiAffinity/topologySpreadConstraints select other pods, not its own: "
                "replicas may all land on one node"
            )
        else:
            yield w.manifest, "no podAntiAffinity or topologySpreadConstraints: replicas may all land on one node"


def pdb_present(inv: Inventory) -> Found:
    for w in inv.long_running:
        if w.kind in REPLICATED_KINDS and _maximum_replicas(inv, w) >= 2 and not inv.pdbs_selecting(w):
            yield w.manifest, (
                f"runs up to {_maximum_replicas(inv, w)} replicas but no PodDisruptionBudget selects its pods "
                "(all of a budget's matchLabels and matchExpressions must match): a drain may evict them all"
            )


def pdb_overlap(inv: Inventory) -> Found:
    for w in inv.long_running:
        pdbs = inv.pdbs_selecting(w)
        if len(pdbs) > 1:
            yield w.manifest, (
                f"selected by {len(pdbs)} PodDisruptionBudgets ({', '.join(p.name for p in pdbs)}): "
                "the eviction API refuses pods with more than one budget, so drains hang"
            )


_INT_OR_PERCENT = re.compile(r"^[0-9]+%?$")


def scaled(value: int | str, total: int) -> int:
    """An int-or-percent scaled to ``total``, rounded up as the disruption controller does."""
    if not _INT_OR_PERCENT.match(str(value)):
        raise ValueError(f"{value!r} is neither an integer nor a percentage")
    if isinstance(value, str) and value.endswith("%"):
        return math.ceil(int(value[:-1]) * total / 100)
    return int(value)


def desired_healthy(pdb_spec: dict[str, Any], expected: int) -> int | None:
    """Pods the budget keeps, for ``expected`` pods; None when it sets no budget."""
    if pdb_spec.get("maxUnavailable") is not None:
        return expected - scaled(pdb_spec["maxUnavailable"], expected)
    if pdb_spec.get("minAvailable") is not None:
        return scaled(pdb_spec["minAvailable"], expected)
    return None


def pdb_allows_drain(inv: Inventory) -> Found:
    for pdb in inv.kind("PodDisruptionBudget"):
        selected = [
            w for w in inv.workloads_selected_by(pdb.spec.get("selector"), pdb.namespace or "")
            if w.kind in (*REPLICATED_KINDS, "ReplicaSet")
        ]
        if not selected:
            continue
        expected = sum(inv.minimum_replicas(w) or 0 for w in selected)
        try:
            keep = desired_healthy(pdb.spec, expected)
        except ValueError as error:
            yield pdb, f"its budget cannot be evaluated: {error} (the API server rejects it)"
            continue
        if keep is None or keep < expected:
            continue
        budget = (
            f"maxUnavailable {pdb.spec['maxUnavailable']}" if pdb.spec.get("maxUnavailable") is not None
            else f"minAvailable {pdb.spec['minAvailable']}"
        )
        basis = ", ".join(
            f"{w.kind} {w.name}: {inv.minimum_replicas(w)}"
            + (" (HPA minReplicas)" if inv.hpas_for(w) else "")
            for w in selected
        )
        yield pdb, (
            f"{budget} of {expected} pods ({basis}) keeps {keep}: no pod may ever be evicted, "
            "so every node drain blocks"
        )


def pdb_selector(inv: Inventory) -> Found:
    for pdb in inv.kind("PodDisruptionBudget"):
        selector = pdb.spec.get("selector")
        if selector is None:
            yield pdb, "has no selector: in policy/v1 a null selector selects no pods"
            continue
        if is_empty(selector):
            continue  # {} deliberately selects every pod of the namespace
        if not inv.workloads_selected_by(selector, pdb.namespace or ""):
            yield pdb, (
                f"selector {render(selector)} matches no pod template in namespace {pdb.namespace} "
                "(matchLabels and matchExpressions must all match)"
            )


def hpa_target(inv: Inventory) -> Found:
    for hpa in inv.kind("HorizontalPodAutoscaler"):
        ref = hpa.spec.get("scaleTargetRef") or {}
        if not ref.get("kind") or not ref.get("name"):
            yield hpa, "has no scaleTargetRef kind and name"
            continue
        target = inv.get(str(ref["kind"]), hpa.namespace, str(ref["name"]))
        if target is None:
            yield hpa, f"scaleTargetRef {ref.get('kind')} {hpa.namespace}/{ref.get('name')} is not in these manifests"
            continue
        if target.spec.get("replicas") is not None:
            yield hpa, (
                f"its target {target.ref} sets spec.replicas ({target.spec['replicas']}): every apply resets "
                "the count the autoscaler chose"
            )
        minimum, maximum = int(hpa.spec.get("minReplicas", 1)), int(hpa.spec.get("maxReplicas", 0))
        if minimum > maximum:
            yield hpa, f"minReplicas ({minimum}) is greater than maxReplicas ({maximum})"
