"""Props of :class:`MonitoringStack` (kept apart so the config generators can import them)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from .._network import IpBlockCidrs
from .._pod import Image
from .._props import DnsLabel, Props, Quantity
from ..ha_api_deployment import SecretKeyRef
from ._promql import MetricName, PromDuration, duration_seconds, series_names
from .platform_alerts import alert_severities, platform_alert_groups, scraped_series
from .dashboards import dashboard_queries
from .slo import SLO, default_slos, recorded_series, slo_rule_groups

Receiver = Literal["pagerduty", "chat", "none"]


def _default_severity_receivers() -> dict[str, Receiver]:
    return {"critical": "pagerduty", "warning": "chat", "info": "none"}


class MonitoringStackProps(Props):
    """Props of :class:`MonitoringStack`. Every field has a default; production is the default shape."""

    namespace: DnsLabel = Field("leanvibe", description="Namespace of the stack. Default: 'leanvibe'.")
    part_of: DnsLabel = Field("leanvibe", description="app.kubernetes.io/part-of label. Default: 'leanvibe'.")
    watched_namespaces: tuple[DnsLabel, ...] = Field(
        (), description="Namespaces Prometheus discovers targets in. Default: only `namespace`."
    )
    cluster_name: DnsLabel = Field(
        "leanvibe", description="external label 'cluster' on every series and alert. Default: 'leanvibe'."
    )
    prometheus_image: Image = Field(
        "quay.io/prometheus/prometheus:v2.53.2", description="Default: quay.io/prometheus/prometheus:v2.53.2 (LTS)."
    )
    alertmanager_image: Image = Field(
        "quay.io/prometheus/alertmanager:v0.27.0", description="Default: quay.io/prometheus/alertmanager:v0.27.0."
    )
    grafana_image: Image = Field("docker.io/grafana/grafana:11.2.2", description="Default: grafana/grafana:11.2.2.")
    kube_state_metrics_image: Image = Field(
        "registry.k8s.io/kube-state-metrics/kube-state-metrics:v2.13.0",
        description="Default: kube-state-metrics v2.13.0.",
    )
    prometheus_replicas: int = Field(
        2, ge=1, le=5, description="Identical Prometheus replicas scraping the same targets. Default: 2."
    )
    alertmanager_replicas: int = Field(
        3, ge=1, le=7, description="Alertmanager cluster size (gossip deduplicates notifications). Default: 3."
    )
    retention: PromDuration = Field(
        "15d", description="Prometheus --storage.tsdb.retention.time. Default: '15d'."
    )
    retention_size: Quantity | None = Field(
        None, description="Prometheus --storage.tsdb.retention.size. Default: 80% of prometheus_storage."
    )
    prometheus_storage: Quantity = Field("50Gi", description="PVC size of each Prometheus replica. Default: '50Gi'.")
    alertmanager_storage: Quantity = Field(
        "1Gi", description="PVC size of each Alertmanager replica (silences, notification log). Default: '1Gi'."
    )
    storage_class: DnsLabel = Field(
        "leanvibe-regional-ssd", description="StorageClass of the PVCs. Default: 'leanvibe-regional-ssd'."
    )
    prometheus_cpu: Quantity = Field("1", description="Prometheus CPU request (limit: 2x). Default: '1'.")
    prometheus_memory: Quantity = Field(
        "4Gi", description="Prometheus memory request and limit. Default: '4Gi'."
    )
    scrape_interval: PromDuration = Field("30s", description="Default: '30s'.")
    scrape_timeout: PromDuration = Field("10s", description="Default: '10s'; must not exceed scrape_interval.")
    evaluation_interval: PromDuration = Field("30s", description="Rule evaluation interval. Default: '30s'.")
    patroni_port: int = Field(
        8008, ge=1, le=65535, description="Patroni REST port scraped on component=database pods. Default: 8008."
    )
    slos: tuple[SLO, ...] = Field(
        default_factory=default_slos,
        description="Objectives to record and alert on. Default: API 99.9% availability and 99% under 500 ms.",
    )
    runbook_base_url: str = Field(
        "https://runbooks.leanvibe.example/alerts",
        pattern=r"^https?://",
        description="Each alert's runbook_url is this + '/' + alert name. Default: https://runbooks.leanvibe.example/alerts.",
    )
    severity_receivers: dict[str, Receiver] = Field(
        default_factory=_default_severity_receivers,
        description="Receiver per severity label. Default: critical -> pagerduty, warning -> chat, info -> none.",
    )
    pagerduty_routing_key: SecretKeyRef | None = Field(
        default_factory=lambda: SecretKeyRef(secret_name="leanvibe-alertmanager-pagerduty", key="routing-key"),
        description="Secret key holding the PagerDuty Events v2 routing key. "
        "Default: key 'routing-key' of Secret 'leanvibe-alertmanager-pagerduty'; None disables PagerDuty.",
    )
    chat_webhook: SecretKeyRef | None = Field(
        default_factory=lambda: SecretKeyRef(secret_name="leanvibe-alertmanager-chat", key="webhook-url"),
        description="Secret key holding the Slack-compatible incoming webhook URL for tickets. "
        "Default: key 'webhook-url' of Secret 'leanvibe-alertmanager-chat'; None disables chat.",
    )
    chat_channel: str = Field("#leanvibe-alerts", min_length=1, description="Chat channel. Default: '#leanvibe-alerts'.")
    grafana_admin_secret: DnsLabel = Field(
        "leanvibe-grafana-admin",
        description="Secret with keys 'admin-user' and 'admin-password' for Grafana. Default: 'leanvibe-grafana-admin'.",
    )
    extra_dashboards: dict[DnsLabel, dict[str, Any]] = Field(
        default_factory=dict,
        description="More Grafana dashboards (JSON models) by uid; their queries are checked like ours. Default: none.",
    )
    extra_series: tuple[MetricName, ...] = Field(
        (), description="More series that scraped workloads expose, for dashboards and SLOs. Default: none."
    )
    kubernetes_api_cidrs: IpBlockCidrs = Field(
        (),
        description="Addresses of the Kubernetes API server; Prometheus and kube-state-metrics get egress to "
        "them on 443 and 6443 (discovery, object state). Default: none, no such policy: declare the route "
        "with ZeroTrustPolicies.allow_kubernetes_api instead (0.0.0.0/0 is refused).",
    )
    node_cidrs: IpBlockCidrs = Field(
        (),
        description="Addresses of the nodes; Prometheus gets egress to the kubelets on 10250 (volume stats). "
        "Default: none, no such policy (0.0.0.0/0 is refused).",
    )
    kubelet_tls_insecure_skip_verify: bool = Field(
        True,
        description="Skip verifying kubelet serving certificates, which are self-signed unless the cluster "
        "enables serverTLSBootstrap. Default: True.",
    )
    zone_spread: Literal["required", "preferred"] = Field(
        "required", description="Spread replicas over zones as a hard ('required') or soft rule. Default: 'required'."
    )
    priority_class_name: DnsLabel | None = Field(
        None, description="PriorityClass of every pod, e.g. 'leanvibe-critical'. Default: none."
    )
    operator: bool = Field(
        False,
        description="Also emit the rule groups as PrometheusRule objects (monitoring.coreos.com/v1) for a "
        "Prometheus Operator managed Prometheus to evaluate; the stack's own Prometheus is unchanged. "
        "Default: False (rule files in a ConfigMap only).",
    )

    @classmethod
    def for_environment(cls, environment: str, **overrides: Any) -> MonitoringStackProps:
        """Production: HA (2 Prometheus, 3 Alertmanager) and PagerDuty; dev: one of each, tickets only."""
        if environment == "production":
            return cls.build(**overrides)
        if environment == "dev":
            return cls.build(
                **{
                    "prometheus_replicas": 1,
                    "alertmanager_replicas": 1,
                    "prometheus_storage": "5Gi",
                    "retention": "3d",
                    "prometheus_cpu": "250m",
                    "prometheus_memory": "1Gi",
                    "zone_spread": "preferred",
                    "pagerduty_routing_key": None,
                    "severity_receivers": {"critical": "chat", "warning": "chat", "info": "none"},
                    **overrides,
                }
            )
        raise ValueError(f"unknown environment {environment!r}; expected 'production' or 'dev'")

    @property
    def namespaces(self) -> tuple[str, ...]:
        return self.watched_namespaces or (self.namespace,)

    def known_series(self) -> frozenset[str]:
        return scraped_series() | recorded_series(self.slos) | frozenset(self.extra_series)

    def rule_groups(self) -> list[dict[str, Any]]:
        groups = platform_alert_groups(self.runbook_base_url)
        for slo in self.slos:
            groups += slo_rule_groups(slo, self.runbook_base_url)
        return groups

    @model_validator(mode="after")
    def _check_consistency(self) -> MonitoringStackProps:
        if duration_seconds(self.scrape_timeout) > duration_seconds(self.scrape_interval):
            raise ValueError(
                f"scrape_timeout ({self.scrape_timeout}) must be <= scrape_interval ({self.scrape_interval})"
            )
        if self.alertmanager_replicas == 2:
            raise ValueError(
                "alertmanager_replicas (2) must be 1 or at least 3: two gossiping peers cannot tell a dead peer "
                "from a partition, so a partition double-notifies"
            )
        ids = [slo.sloth_id for slo in self.slos]
        if len(set(ids)) != len(ids):
            raise ValueError(f"slos ({ids}) must have unique service/name pairs")
        self._check_receivers()
        self._check_series()
        return self

    def _check_receivers(self) -> None:
        configured = {"none": True, "pagerduty": self.pagerduty_routing_key is not None, "chat": self.chat_webhook is not None}
        for severity, receiver in self.severity_receivers.items():
            if not configured[receiver]:
                field = "pagerduty_routing_key" if receiver == "pagerduty" else "chat_webhook"
                raise ValueError(
                    f"severity_receivers maps '{severity}' to '{receiver}' but {field} is None; "
                    f"set {field} or map '{severity}' to another receiver"
                )
        used = alert_severities(platform_alert_groups(self.runbook_base_url))
        for slo in self.slos:
            for severity in slo.severities():
                used.setdefault(severity, set()).add(slo.alert)
        for severity, alerts in sorted(used.items()):
            if severity not in self.severity_receivers:
                raise ValueError(
                    f"severity '{severity}' (alerts {sorted(alerts)}) has no receiver; severity_receivers maps "
                    f"{sorted(self.severity_receivers)}: add '{severity}' (pagerduty, chat or none)"
                )

    def _check_series(self) -> None:
        known = self.known_series()
        for slo in self.slos:
            missing = sorted(slo.series() - known)
            if missing:
                raise ValueError(
                    f"slo {slo.sloth_id} reads {missing}, which no scraped construct exposes; "
                    "fix the metric name or declare it in extra_series"
                )
        for uid, dashboard in self.extra_dashboards.items():
            for title, expr in dashboard_queries(dashboard):
                missing = sorted(series_names(expr) - known)
                if missing:
                    raise ValueError(
                        f"extra_dashboards['{uid}'] panel '{title}' queries {missing}, which no scraped construct "
                        f"or rule provides; known series include e.g. {sorted(known)[:5]}; declare it in extra_series"
                    )
