"""Standard alerts for the platform's workloads, each with a runbook annotation.

Severity ``critical`` pages (the service is down or about to be), ``warning``
opens a ticket (redundancy is reduced, act within the working day). Every
expression reads only series listed in :data:`SCRAPED_SERIES`, and a test
holds them to it.
"""

from __future__ import annotations

from typing import Any

# Series each scraped source exposes that rules and dashboards may read. The API's
# HTTP series are the contract the API must honour (prometheus_client naming):
#   http_requests_total{code="<HTTP status>"}          counter of finished requests
#   http_request_duration_seconds_bucket{le=...}       histogram of request durations
SCRAPED_SERIES: dict[str, frozenset[str]] = {
    "api (port 'metrics')": frozenset(
        {
            "http_requests_total",
            "http_request_duration_seconds_bucket",
            "http_request_duration_seconds_count",
            "http_request_duration_seconds_sum",
            "process_cpu_seconds_total",
            "process_resident_memory_bytes",
        }
    ),
    "postgres_exporter (port 'metrics')": frozenset(
        {
            "pg_up",
            "pg_replication_lag_seconds",
            "pg_replication_is_replica",
            "pg_stat_database_numbackends",
            "pg_stat_database_xact_commit",
            "pg_stat_database_xact_rollback",
            "pg_settings_max_connections",
            "pg_database_size_bytes",
        }
    ),
    "patroni REST API (/metrics)": frozenset(
        {
            "patroni_primary",
            "patroni_replica",
            "patroni_cluster_unlocked",
            "patroni_postgres_running",
            "patroni_postgres_timeline",
            "patroni_xlog_location",
            "patroni_xlog_replayed_location",
        }
    ),
    "redis_exporter (port 'metrics')": frozenset(
        {
            "redis_up",
            "redis_instance_info",
            "redis_connected_clients",
            "redis_memory_used_bytes",
            "redis_memory_max_bytes",
            "redis_commands_processed_total",
            "redis_keyspace_hits_total",
            "redis_keyspace_misses_total",
            "redis_connected_slaves",
            "redis_master_link_up",
            "redis_connected_slave_lag_seconds",
            "redis_sentinel_master_status",
            "redis_sentinel_master_ok_sentinels",
        }
    ),
    "kube-state-metrics": frozenset(
        {
            "kube_deployment_spec_replicas",
            "kube_deployment_status_replicas_available",
            "kube_deployment_status_replicas_unavailable",
            "kube_horizontalpodautoscaler_spec_max_replicas",
            "kube_horizontalpodautoscaler_spec_min_replicas",
            "kube_horizontalpodautoscaler_status_current_replicas",
            "kube_horizontalpodautoscaler_status_desired_replicas",
            "kube_pod_container_status_waiting_reason",
            "kube_pod_container_status_restarts_total",
            "kube_statefulset_replicas",
            "kube_statefulset_status_replicas_ready",
        }
    ),
    "kubelet": frozenset({"kubelet_volume_stats_available_bytes", "kubelet_volume_stats_capacity_bytes"}),
    "prometheus and alertmanager": frozenset(
        {
            "up",
            "ALERTS",
            "scrape_duration_seconds",
            "prometheus_rule_evaluation_failures_total",
            "prometheus_notifications_alertmanagers_discovered",
            "prometheus_notifications_dropped_total",
            "alertmanager_notifications_total",
            "alertmanager_notifications_failed_total",
            "alertmanager_cluster_members",
        }
    ),
}


def scraped_series() -> frozenset[str]:
    return frozenset().union(*SCRAPED_SERIES.values())


def _alert(
    name: str,
    expr: str,
    severity: str,
    summary: str,
    description: str,
    runbooks: str,
    for_: str | None = None,
    service: str | None = None,
) -> dict[str, Any]:
    rule: dict[str, Any] = {"alert": name, "expr": expr}
    if for_:
        rule["for"] = for_
    labels = {"severity": severity}
    if service:
        labels["service"] = service
    rule["labels"] = labels
    rule["annotations"] = {
        "summary": summary,
        "description": description,
        "runbook_url": f"{runbooks.rstrip('/')}/{name}",
    }
    return rule


def platform_alert_groups(
    runbook_base_url: str,
    api_deployment: str = "leanvibe-api",
    api_service: str = "leanvibe-api",
) -> list[dict[str, Any]]:
    r = runbook_base_url
    # Blue-green releases run <name>-blue and <name>-green Deployments (and HPAs).
    api = f'deployment=~"{api_deployment}(-blue|-green)?"'
    latency = f'http_request_duration_seconds_bucket{{service="{api_service}"}}'
    return [
        {
            "name": "leanvibe-meta",
            "rules": [
                # Always firing: Alertmanager's Watchdog route proves the whole alerting
                # path works; its silence is the alert (dead man's switch).
                _alert(
                    "Watchdog", "vector(1)", "none", "Alerting pipeline heartbeat",
                    "Always firing. If it stops arriving at the heartbeat receiver, Prometheus or "
                    "Alertmanager is down and no other alert can be trusted.", r,
                ),
                _alert(
                    "TargetDown",
                    "100 * (count by (namespace, service, job) (up == 0)\n"
                    "  / count by (namespace, service, job) (up)) > 10\n",
                    "warning", "Scrape targets are down",
                    "{{ $value | humanize }}% of the {{ $labels.job }} targets of {{ $labels.service }} in "
                    "{{ $labels.namespace }} cannot be scraped.", r, for_="10m",
                ),
                _alert(
                    "PrometheusRuleFailures",
                    "increase(prometheus_rule_evaluation_failures_total[5m]) > 0",
                    "warning", "Prometheus fails to evaluate rules",
                    "{{ $labels.pod }} failed {{ $value | humanize }} rule evaluations in 5 minutes; "
                    "alerts depending on them are blind.", r, for_="15m",
                ),
                _alert(
                    "PrometheusNotConnectedToAlertmanagers",
                    "max_over_time(prometheus_notifications_alertmanagers_discovered[5m]) < 1",
                    "warning", "Prometheus cannot reach any Alertmanager",
                    "{{ $labels.pod }} has no Alertmanager to send alerts to.", r, for_="10m",
                ),
                _alert(
                    "AlertmanagerFailedToSendAlerts",
                    "rate(alertmanager_notifications_failed_total[5m])\n"
                    "  / ignoring (reason) group_left rate(alertmanager_notifications_total[5m]) > 0.01\n",
                    "warning", "Alertmanager fails to deliver notifications",
                    "{{ $labels.pod }} failed to send {{ $value | humanizePercentage }} of its "
                    "notifications to {{ $labels.integration }}.", r, for_="5m",
                ),
            ],
        },
        {
            "name": "leanvibe-kubernetes",
            "rules": [
                _alert(
                    "ApiReplicasUnavailable",
                    f"kube_deployment_status_replicas_unavailable{{{api}}} > 0",
                    "warning", "API replicas are unavailable",
                    "{{ $value }} replicas of {{ $labels.deployment }} have been unavailable for 10 minutes; "
                    "the API runs with less headroom than planned.", r, for_="10m", service=api_service,
                ),
                _alert(
                    "ApiNoReplicasAvailable",
                    f"kube_deployment_status_replicas_available{{{api}}} < 1",
                    "critical", "The API has no available replica",
                    "{{ $labels.deployment }} in {{ $labels.namespace }} has no available replica: "
                    "the API is down.", r, for_="2m", service=api_service,
                ),
                _alert(
                    "ApiLatencyRegression",
                    f"histogram_quantile(0.95, sum by (le) (rate({latency}[30m])))\n"
                    "  > 1.5 *\n"
                    f"histogram_quantile(0.95, sum by (le) (rate({latency}[30m] offset 1w)))\n"
                    "and\n"
                    f"histogram_quantile(0.95, sum by (le) (rate({latency}[30m]))) > 0.1\n",
                    "warning", "API latency regressed against last week",
                    "The API's p95 latency ({{ $value | humanizeDuration }}) has been over 1.5x the p95 of the "
                    "same time last week for 30 minutes: a release or a dependency made it slower.",
                    r, for_="30m", service=api_service,
                ),
                _alert(
                    "HpaAtMaxReplicas",
                    "kube_horizontalpodautoscaler_status_current_replicas\n"
                    "  >= on (namespace, horizontalpodautoscaler) group_left\n"
                    "kube_horizontalpodautoscaler_spec_max_replicas\n",
                    "warning", "Autoscaler is at its maximum",
                    "{{ $labels.horizontalpodautoscaler }} has run at max replicas for 15 minutes; "
                    "more load will not be absorbed.", r, for_="15m",
                ),
                _alert(
                    "PodCrashLooping",
                    'max_over_time(kube_pod_container_status_waiting_reason{reason="CrashLoopBackOff"}[5m]) >= 1',
                    "warning", "A container is crash looping",
                    "{{ $labels.container }} in {{ $labels.namespace }}/{{ $labels.pod }} has been in "
                    "CrashLoopBackOff for 15 minutes.", r, for_="15m",
                ),
                _alert(
                    "PersistentVolumeFillingUp",
                    "kubelet_volume_stats_available_bytes / kubelet_volume_stats_capacity_bytes < 0.15\n"
                    "and\n"
                    "predict_linear(kubelet_volume_stats_available_bytes[6h], 4 * 24 * 3600) < 0\n",
                    "warning", "A persistent volume will fill up within 4 days",
                    "{{ $labels.persistentvolumeclaim }} in {{ $labels.namespace }} has "
                    "{{ $value | humanizePercentage }} free and fills within 4 days at the current rate.",
                    r, for_="1h",
                ),
                _alert(
                    "PersistentVolumeFull",
                    "kubelet_volume_stats_available_bytes / kubelet_volume_stats_capacity_bytes < 0.03",
                    "critical", "A persistent volume is almost full",
                    "{{ $labels.persistentvolumeclaim }} in {{ $labels.namespace }} has only "
                    "{{ $value | humanizePercentage }} free; writes will fail soon.", r, for_="5m",
                ),
            ],
        },
        {
            "name": "leanvibe-postgres",
            "rules": [
                _alert(
                    "PostgresDown",
                    "max by (namespace, service) (pg_up) < 1",
                    "critical", "No PostgreSQL member is up",
                    "Every member of {{ $labels.service }} in {{ $labels.namespace }} reports pg_up 0: "
                    "the database is down.", r, for_="1m",
                ),
                _alert(
                    "PostgresMemberDown",
                    "pg_up < 1",
                    "warning", "A PostgreSQL member is down",
                    "{{ $labels.pod }} of {{ $labels.service }} reports pg_up 0; the cluster runs with "
                    "less redundancy.", r, for_="5m",
                ),
                _alert(
                    "PostgresNoLeader",
                    "min by (namespace, service) (patroni_cluster_unlocked) > 0",
                    "critical", "The PostgreSQL cluster has no leader",
                    "No Patroni member of {{ $labels.service }} in {{ $labels.namespace }} holds the "
                    "leader lock: writes fail until a leader is elected.", r, for_="2m",
                ),
                _alert(
                    "PostgresReplicationLag",
                    "max by (namespace, service) (patroni_xlog_location)\n"
                    "  - on (namespace, service) group_right\n"
                    "patroni_xlog_replayed_location\n"
                    "> 64 * 1024 * 1024\n",
                    "warning", "A PostgreSQL replica lags behind the primary",
                    "{{ $labels.pod }} has not replayed {{ $value | humanize1024 }}B of WAL; a failover "
                    "to it would lose or wait for that data.", r, for_="5m",
                ),
            ],
        },
        {
            "name": "leanvibe-redis",
            "rules": [
                _alert(
                    "RedisDown",
                    "max by (namespace, service) (redis_up) < 1",
                    "critical", "No Redis instance is up",
                    "Every Redis instance of {{ $labels.service }} in {{ $labels.namespace }} is down.",
                    r, for_="1m",
                ),
                _alert(
                    "RedisInstanceDown",
                    "redis_up < 1",
                    "warning", "A Redis instance is down",
                    "{{ $labels.pod }} of {{ $labels.service }} is down; the set runs with less redundancy.",
                    r, for_="5m",
                ),
                _alert(
                    "RedisNoMaster",
                    "count by (namespace, service) (redis_up == 1)\n"
                    "unless on (namespace, service)\n"
                    'count by (namespace, service) (redis_instance_info{role="master"})\n',
                    "critical", "No Redis instance is master",
                    "Redis instances of {{ $labels.service }} are up but none is master: writes fail "
                    "until Sentinel promotes a replica.", r, for_="1m",
                ),
                _alert(
                    "RedisNoMasterSeenBySentinels",
                    "max by (namespace, service, master_name) (redis_sentinel_master_status) < 1",
                    "critical", "Sentinels see no healthy master",
                    "No Sentinel of {{ $labels.service }} reports master {{ $labels.master_name }} as ok "
                    "(requires redis_exporter on the Sentinel pods).", r, for_="1m",
                ),
                _alert(
                    "RedisReplicaLinkDown",
                    "redis_master_link_up < 1",
                    "warning", "A Redis replica lost its master link",
                    "{{ $labels.pod }} is not replicating from its master.", r, for_="2m",
                ),
                _alert(
                    "RedisReplicaLag",
                    "redis_connected_slave_lag_seconds > 10",
                    "warning", "A Redis replica lags",
                    "A replica of {{ $labels.pod }} last acknowledged replication {{ $value }}s ago.",
                    r, for_="5m",
                ),
            ],
        },
    ]


def alert_severities(groups: list[dict[str, Any]]) -> dict[str, set[str]]:
    """Severity -> names of the alerts that carry it (Watchdog excluded: it has its own route)."""
    found: dict[str, set[str]] = {}
    for group in groups:
        for rule in group["rules"]:
            if "alert" in rule and rule["alert"] != "Watchdog":
                found.setdefault(rule["labels"]["severity"], set()).add(rule["alert"])
    return found
