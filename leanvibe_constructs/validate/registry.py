"""The one table of checks, and the runner that turns their output into findings."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from . import checks_availability as availability
from . import checks_observability as observability
from . import checks_security as security
from . import checks_workload as workload
from .model import Inventory, Manifest, Severity

CheckFunction = Callable[[Inventory], Iterator[tuple[Manifest, str]]]

ERROR, WARNING, INFO = Severity.ERROR, Severity.WARNING, Severity.INFO


class CheckError(Exception):
    """A check that could not run on the given manifests; str() is one line."""


@dataclass(frozen=True)
class Check:
    id: str
    category: str
    severity: Severity
    title: str
    hint: str
    function: CheckFunction


@dataclass(frozen=True)
class Finding:
    check: str
    category: str
    severity: Severity
    kind: str
    namespace: str | None
    name: str
    source: str
    message: str
    hint: str

    @property
    def object(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}" if self.namespace else f"{self.kind} {self.name}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "category": self.category,
            "severity": self.severity.value,
            "object": {"kind": self.kind, "namespace": self.namespace, "name": self.name, "source": self.source},
            "message": self.message,
            "hint": self.hint,
        }


def _c(id: str, category: str, severity: Severity, title: str, hint: str, function: CheckFunction) -> Check:
    return Check(id, category, severity, title, hint, function)


CHECKS: tuple[Check, ...] = (
    # workload
    _c("probes", "workload", ERROR, "Containers have readiness and liveness probes",
       "Add a readinessProbe (gates traffic) and a livenessProbe (restarts a hung process) to every container.",
       workload.probes),
    _c("startup-probe", "workload", WARNING, "Containers have a startup probe",
       "Add a startupProbe so a slow first start is not killed by the liveness probe.", workload.startup_probe),
    _c("resources", "workload", ERROR, "Containers request CPU and memory and limit memory",
       "Set resources.requests.cpu, requests.memory and limits.memory (requests <= limits).", workload.resources),
    _c("cpu-limit", "workload", WARNING, "Containers limit CPU",
       "Set resources.limits.cpu, or accept that one pod can starve its neighbours of CPU.", workload.cpu_limit),
    _c("security-context", "workload", ERROR, "Pods meet the Pod Security 'restricted' profile",
       "runAsNonRoot: true, allowPrivilegeEscalation: false, capabilities.drop [ALL], seccompProfile "
       "RuntimeDefault, no host namespaces, ports or hostPath volumes.", workload.security_context),
    _c("read-only-root", "workload", WARNING, "Containers have a read-only root filesystem",
       "Set readOnlyRootFilesystem: true and mount an emptyDir where the process must write.",
       workload.read_only_root),
    _c("image-pinned", "workload", ERROR, "Images are pinned to a version",
       "Use an explicit version tag (never 'latest'), ideally with an @sha256 digest.", workload.image_pinned),
    _c("image-digest", "workload", INFO, "Images are pinned by digest",
       "Append @sha256:<digest> so a re-pushed tag cannot change what runs.", workload.image_digest),
    _c("service-account", "workload", ERROR, "Each workload has its own service account",
       "Create a ServiceAccount per workload and set serviceAccountName.", workload.service_account),
    _c("service-account-token", "workload", ERROR, "API tokens are mounted only where RBAC grants something",
       "Set automountServiceAccountToken: false on the ServiceAccount or pod, or bind the Role the pod needs.",
       workload.service_account_token),
    # availability
    _c("replicas", "availability", ERROR, "Deployments and StatefulSets run at least 2 replicas",
       "Set spec.replicas >= 2, or an HPA with minReplicas >= 2.", availability.replicas),
    _c("spread", "availability", ERROR, "Replicas are spread by anti-affinity or topology spread",
       "Add topologySpreadConstraints (zone and hostname) or podAntiAffinity whose labelSelector selects "
       "the workload's own pods.", availability.spread),
    _c("pdb", "availability", ERROR, "Multi-replica Deployments and StatefulSets have a PodDisruptionBudget",
       "Add a PodDisruptionBudget whose selector is the workload's selector.", availability.pdb_present),
    _c("pdb-overlap", "availability", ERROR, "No pod is selected by two PodDisruptionBudgets",
       "Make the budgets' selectors disjoint; keep one budget per workload.", availability.pdb_overlap),
    _c("pdb-drain", "availability", ERROR, "PodDisruptionBudgets never block node drains",
       "Keep minAvailable below the minimum replica count (percentages round up), or use maxUnavailable >= 1.",
       availability.pdb_allows_drain),
    _c("pdb-selector", "availability", ERROR, "PodDisruptionBudget selectors select pods",
       "Use the workload's selector labels; every matchLabels entry and matchExpression must match.",
       availability.pdb_selector),
    _c("hpa-target", "availability", ERROR, "Autoscalers target an existing workload that omits spec.replicas",
       "Point scaleTargetRef at the workload and remove spec.replicas from it.", availability.hpa_target),
    # security
    _c("network-policy", "security", ERROR, "Every pod is selected by an ingress and an egress NetworkPolicy",
       "Declare the workload's connections so it gets its own ingress and egress policies.",
       security.network_policy),
    _c("default-deny", "security", ERROR, "Each namespace denies traffic by default",
       "Add a NetworkPolicy with podSelector {} and policyTypes [Ingress, Egress] and no rules "
       "(egress to port 53 may stay open).", security.default_deny),
    _c("pod-security-labels", "security", ERROR, "Namespaces enforce a Pod Security level",
       "Label the Namespace pod-security.kubernetes.io/enforce=restricted (and audit, warn).",
       security.pod_security_labels),
    _c("pod-security-restricted", "security", WARNING, "Namespaces enforce the 'restricted' level",
       "Raise pod-security.kubernetes.io/enforce to restricted.", security.pod_security_restricted),
    _c("namespace-defined", "security", WARNING, "Namespaces used by workloads are in the manifests",
       "Include the Namespace object, with its Pod Security labels, in what you validate.",
       security.namespace_defined),
    _c("rbac-wildcard", "security", ERROR, "RBAC grants no wildcards",
       "List the apiGroups, resources and verbs the workload needs.", security.rbac_wildcard),
    _c("secret-data", "security", ERROR, "No secret material in manifests",
       "Create Secrets out of band (External Secrets, sealed secrets, kubectl) and reference them by name.",
       security.secret_data),
    # observability
    _c("metrics-port", "observability", ERROR, "Workloads expose a container port named 'metrics'",
       "Name the container port that serves /metrics 'metrics'.", observability.metrics_port),
    _c("metrics-scraped", "observability", ERROR, "Prometheus scrapes every metrics port",
       "Add a scrape job (or PodMonitor/ServiceMonitor) that keeps port name 'metrics' in the namespace.",
       observability.metrics_scraped),
    _c("slo-burn-rate-alerts", "observability", ERROR, "The API has fast and slow SLO burn-rate alerts",
       "Record slo:sli_error:ratio_rate<window> series and alert on multiwindow burn rates "
       "(1h/5m and 6h/30m, as in the SRE workbook).", observability.slo_burn_rate_alerts),
)

CHECKS_BY_ID = {c.id: c for c in CHECKS}

# A deliberate exception is written on the object, with its reason, e.g.
#   validate.leanvibe.io/skip-replicas: "two kube-state-metrics replicas double every series"
# The finding stays in the report, as info carrying the reason; an empty reason waives nothing.
SKIP_ANNOTATION = "validate.leanvibe.io/skip-"


def run_checks(
    manifests: Iterable[Manifest] | Iterable[dict[str, Any]], skip: Iterable[str] = ()
) -> list[Finding]:
    """Run every check (minus ``skip``) and return the findings, most severe first."""
    unknown = sorted(set(skip) - set(CHECKS_BY_ID))
    if unknown:
        raise ValueError(f"unknown check id(s): {', '.join(unknown)}; see `leanvibe checks`")
    inv = Inventory.of(list(manifests))
    findings = []
    for check in CHECKS:
        if check.id in skip:
            continue
        try:
            found = list(check.function(inv))
        except Exception as error:  # a checker bug must not look like a finding, nor be a traceback
            raise CheckError(f"check {check.id} failed on these manifests: {type(error).__name__}: {error}") from error
        for subject, message in found:
            severity = check.severity
            reason = str((subject.metadata.get("annotations") or {}).get(SKIP_ANNOTATION + check.id, "")).strip()
            if reason:
                severity, message = INFO, f"waived ({reason}): {message}"
            findings.append(
                Finding(
                    check.id, check.category, severity, subject.kind, subject.namespace, subject.name,
                    subject.source, message, check.hint,
                )
            )
    order = {c.id: n for n, c in enumerate(CHECKS)}
    findings.sort(key=lambda f: (f.severity.rank, order[f.check], f.object, f.message))
    return findings
