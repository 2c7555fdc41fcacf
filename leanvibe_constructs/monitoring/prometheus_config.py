"""prometheus.yml and the rule files, as plain text.

Discovery is Kubernetes pod discovery restricted to the platform's
namespaces and to pods labelled ``app.kubernetes.io/part-of=<part_of>``; a
target is kept only when its container port is named ``metrics`` (the
contract every workload construct honours). Target labels keep where a
series came from: ``namespace``, ``pod``, ``container``, ``component`` and
``service`` (the ``app.kubernetes.io/instance`` label, e.g. leanvibe-api),
which is also what Alertmanager groups pages by.
"""

from __future__ import annotations

from typing import Any

from ..ha_api_deployment import COLOUR_LABEL  # set by HAApiDeployment(release="blue_green")
from ._yaml import dump_yaml
from .platform_alerts import platform_alert_groups
from .props import MonitoringStackProps
from .slo import slo_rule_groups

RULES_DIR = "/etc/prometheus/rules"
SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
# In-pod directories the config refers to, and where a test puts them locally.
IN_POD_PATHS = {RULES_DIR: "rules", SERVICE_ACCOUNT_DIR: "serviceaccount"}

PROMETHEUS_PORT = 9090
ALERTMANAGER_PORT = 9093
ALERTMANAGER_CLUSTER_PORT = 9094
GRAFANA_PORT = 3000
KUBE_STATE_METRICS_PORT = 8080
KUBELET_PORT = 10250


def instance_name(part_of: str, component: str) -> str:
    """Object name and app.kubernetes.io/instance of one stack component, e.g. 'leanvibe-prometheus'."""
    return f"{part_of}-{component}"


def prometheus_url(
    namespace: str = MonitoringStackProps.model_fields["namespace"].default,
    part_of: str = MonitoringStackProps.model_fields["part_of"].default,
) -> str:
    """In-cluster URL of the stack's Prometheus Service; defaults: the stack's default props.

    What Grafana's datasource, the release watch, the pipeline and the Argo
    Rollouts analysis query: 'http://leanvibe-prometheus.leanvibe.svc:9090'.
    """
    return f"http://{instance_name(part_of, 'prometheus')}.{namespace}.svc:{PROMETHEUS_PORT}"


def _label(name: str) -> str:
    return "__meta_kubernetes_pod_label_" + name.replace(".", "_").replace("/", "_").replace("-", "_")


def _pod_discovery(p: MonitoringStackProps) -> list[dict[str, Any]]:
    return [
        {
            "role": "pod",
            "namespaces": {"names": list(p.namespaces)},
            # Watch only the platform's pods, not every pod of the namespaces.
            "selectors": [{"role": "pod", "label": f"app.kubernetes.io/part-of={p.part_of}"}],
        }
    ]


def _target_labels() -> list[dict[str, Any]]:
    return [
        {"action": "drop", "source_labels": ["__meta_kubernetes_pod_phase"], "regex": "Pending|Succeeded|Failed"},
        {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
        {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"},
        {"source_labels": ["__meta_kubernetes_pod_container_name"], "target_label": "container"},
        {"source_labels": [_label("app.kubernetes.io/component")], "target_label": "component"},
        {"source_labels": [_label("app.kubernetes.io/instance")], "target_label": "service"},
        {"source_labels": [_label("app.kubernetes.io/name")], "target_label": "app"},
        # Blue-green API pods carry their colour; an empty value adds no label.
        {"source_labels": [_label(COLOUR_LABEL)], "target_label": "colour"},
    ]


def _keep(source: str, regex: str) -> dict[str, Any]:
    return {"action": "keep", "source_labels": [source], "regex": regex}


def scrape_configs(p: MonitoringStackProps) -> list[dict[str, Any]]:
    name_label = _label("app.kubernetes.io/name")
    component = _label("app.kubernetes.io/component")
    return [
        {
            "job_name": "leanvibe-pods",
            "kubernetes_sd_configs": _pod_discovery(p),
            "relabel_configs": [
                _keep("__meta_kubernetes_pod_container_port_name", "metrics"),
                # kube-state-metrics has its own job: it needs honor_labels.
                {"action": "drop", "source_labels": [name_label], "regex": "kube-state-metrics"},
                *_target_labels(),
            ],
        },
        {
            # Patroni serves leader and WAL position metrics on its REST port.
            "job_name": "patroni",
            "kubernetes_sd_configs": _pod_discovery(p),
            "relabel_configs": [
                _keep(component, "database"),
                _keep("__meta_kubernetes_pod_container_port_number", str(p.patroni_port)),
                *_target_labels(),
            ],
        },
        {
            # Its series describe other objects (namespace, pod, deployment labels):
            # honor_labels keeps those instead of renaming them exported_*.
            "job_name": "kube-state-metrics",
            "honor_labels": True,
            "kubernetes_sd_configs": _pod_discovery(p),
            "relabel_configs": [
                _keep(name_label, "kube-state-metrics"),
                _keep("__meta_kubernetes_pod_container_port_name", "metrics"),
                *_target_labels(),
            ],
        },
        {
            # Volume usage is only known to the kubelets; keep nothing else from them.
            "job_name": "kubelet",
            "scheme": "https",
            "authorization": {"credentials_file": f"{SERVICE_ACCOUNT_DIR}/token"},
            "tls_config": {
                "ca_file": f"{SERVICE_ACCOUNT_DIR}/ca.crt",
                "insecure_skip_verify": p.kubelet_tls_insecure_skip_verify,
            },
            "kubernetes_sd_configs": [{"role": "node"}],
            "relabel_configs": [
                {"source_labels": ["__meta_kubernetes_node_name"], "target_label": "node"},
            ],
            "metric_relabel_configs": [
                _keep("__name__", "kubelet_volume_stats_(available|capacity)_bytes"),
                _keep("namespace", "|".join(p.namespaces)),
            ],
        },
    ]


def alertmanager_targets(p: MonitoringStackProps) -> list[str]:
    # Every replica by its stable name: Prometheus must send each alert to all of
    # them (not to one behind a Service) for the cluster to deduplicate.
    name = instance_name(p.part_of, "alertmanager")
    return [f"{name}-{i}.{name}.{p.namespace}.svc:{ALERTMANAGER_PORT}" for i in range(p.alertmanager_replicas)]


def prometheus_config(p: MonitoringStackProps) -> str:
    config = {
        "global": {
            "scrape_interval": p.scrape_interval,
            "scrape_timeout": p.scrape_timeout,
            "evaluation_interval": p.evaluation_interval,
            # No per-replica label: both replicas must send identical alerts so that
            # Alertmanager deduplicates them.
            "external_labels": {"cluster": p.cluster_name},
        },
        "rule_files": [f"{RULES_DIR}/*.yaml"],
        "alerting": {
            "alertmanagers": [
                {"api_version": "v2", "static_configs": [{"targets": alertmanager_targets(p)}]}
            ]
        },
        "scrape_configs": scrape_configs(p),
    }
    return dump_yaml(config)


def rule_files(p: MonitoringStackProps) -> dict[str, str]:
    """File name -> rule file text: one for the platform alerts, one per SLO."""
    files = {"platform.yaml": dump_yaml({"groups": platform_alert_groups(p.runbook_base_url)})}
    for slo in p.slos:
        files[f"slo-{slo.sloth_id}.yaml"] = dump_yaml({"groups": slo_rule_groups(slo, p.runbook_base_url)})
    return files
