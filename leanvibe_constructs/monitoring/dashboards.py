"""Grafana dashboards as plain dicts (the JSON model Grafana provisions from files).

SLA: availability against the objective, error budget remaining, burn rates
(all from the SLO recording rules). API: request rate, error rate, latency
percentiles, replicas against the autoscaler. PostgreSQL and Redis: health,
replication and load. Every query reads only series that a rule records or a
scraped source exposes; a test checks the names.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .slo import SLO

DATASOURCE = {"type": "prometheus", "uid": "prometheus"}
SCHEMA_VERSION = 39


def _panel(
    kind: str, title: str, targets: list[tuple[str, str]], x: int, y: int, w: int = 12, h: int = 8,
    unit: str | None = None, thresholds: list[tuple[float | None, str]] | None = None,
    description: str = "", max_value: float | None = None, min_value: float | None = None,
) -> dict[str, Any]:
    defaults: dict[str, Any] = {}
    if unit:
        defaults["unit"] = unit
    if max_value is not None:
        defaults["max"] = max_value
    if min_value is not None:
        defaults["min"] = min_value
    if thresholds:
        defaults["thresholds"] = {
            "mode": "absolute",
            "steps": [{"color": color, "value": value} for value, color in thresholds],
        }
    return {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "gridPos": {"x": x, "y": y, "w": w, "h": h},
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": {},
        "targets": [
            {"refId": chr(ord("A") + i), "datasource": DATASOURCE, "expr": expr, "legendFormat": legend}
            for i, (expr, legend) in enumerate(targets)
        ],
    }


def _dashboard(uid: str, title: str, panels: list[dict[str, Any]], tags: list[str]) -> dict[str, Any]:
    for index, panel in enumerate(panels, start=1):
        panel["id"] = index
    return {
        "uid": uid,
        "title": title,
        "tags": ["leanvibe", *tags],
        "timezone": "utc",
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "editable": False,
        "refresh": "1m",
        "time": {"from": "now-24h", "to": "now"},
        "templating": {"list": []},
        "annotations": {"list": []},
        "panels": panels,
    }


def sla_dashboard(slos: tuple[SLO, ...]) -> dict[str, Any]:
    panels: list[dict[str, Any]] = []
    y = 0
    for slo in slos:
        sel = f'sloth_id="{slo.sloth_id}"'
        objective = f"slo:objective:ratio{{{sel}}}"
        window = slo.window
        panels += [
            _panel(
                "stat", f"{slo.service} {slo.name}: {window} SLI vs objective",
                [(f"1 - slo:sli_error:ratio_rate{window}{{{sel}}}", "achieved"), (objective, "objective")],
                0, y, w=6, unit="percentunit", description=slo.description,
                thresholds=[(None, "red"), (slo.objective, "green")],
            ),
            _panel(
                "gauge", f"{slo.service} {slo.name}: error budget remaining",
                [(f"slo:period_error_budget_remaining:ratio{{{sel}}}", "remaining")],
                6, y, w=6, unit="percentunit", min_value=0, max_value=1,
                thresholds=[(None, "red"), (0.25, "orange"), (0.5, "green")],
            ),
            _panel(
                "timeseries", f"{slo.service} {slo.name}: burn rate by window",
                [
                    (f"slo:sli_error:ratio_rate{w}{{{sel}}} / on (sloth_id) group_left slo:error_budget:ratio{{{sel}}}",
                     w)
                    for w in ("5m", "1h", "6h", "1d", "3d")
                ],
                12, y, w=12, unit="x",
                description="1x spends exactly the budget over the window; pages at 14.4x (1h) and 6x (6h).",
                thresholds=[(None, "green"), (1, "orange"), (6, "red")],
            ),
        ]
        y += 8
        panels.append(
            _panel(
                "timeseries", f"{slo.service} {slo.name}: availability over time",
                [(f"1 - slo:sli_error:ratio_rate1h{{{sel}}}", "1h"), (objective, "objective")],
                0, y, w=24, unit="percentunit",
            )
        )
        y += 8
    panels.append(
        _panel(
            "table", "Firing alerts",
            [('sum by (alertname, service, severity) (ALERTS{alertstate="firing"})', "{{alertname}}")],
            0, y, w=24,
        )
    )
    return _dashboard("leanvibe-sla", "LeanVibe SLA", panels, ["sla", "slo"])


def api_dashboard(service: str = "leanvibe-api", deployment: str = "leanvibe-api") -> dict[str, Any]:
    sel = f'service="{service}"'
    duration = f"http_request_duration_seconds_bucket{{{sel}}}"
    colours = f"{deployment}(-blue|-green)?"  # blue-green releases run coloured Deployments and HPAs
    return _dashboard(
        "leanvibe-api",
        "LeanVibe API",
        [
            _panel("timeseries", "Requests per second by status",
                   [(f"sum by (code) (rate(http_requests_total{{{sel}}}[5m]))", "{{code}}")], 0, 0, unit="reqps"),
            _panel("timeseries", "Error rate (5xx)",
                   [(f'sum(rate(http_requests_total{{{sel}, code=~"5.."}}[5m])) / sum(rate(http_requests_total{{{sel}}}[5m]))',
                     "5xx share")], 12, 0, unit="percentunit"),
            _panel("timeseries", "Latency percentiles",
                   [(f"histogram_quantile({q}, sum by (le) (rate({duration}[5m])))", f"p{int(q * 100)}")
                    for q in (0.5, 0.95, 0.99)], 0, 8, unit="s"),
            _panel("timeseries", "Replicas vs. autoscaler",
                   [(f'sum by (deployment) (kube_deployment_status_replicas_available{{deployment=~"{colours}"}})',
                     "available {{deployment}}"),
                    (f'sum by (deployment) (kube_deployment_spec_replicas{{deployment=~"{colours}"}})',
                     "desired {{deployment}}"),
                    (f'max by (horizontalpodautoscaler) (kube_horizontalpodautoscaler_spec_max_replicas'
                     f'{{horizontalpodautoscaler=~"{colours}"}})', "HPA max {{horizontalpodautoscaler}}"),
                    (f'max by (horizontalpodautoscaler) (kube_horizontalpodautoscaler_spec_min_replicas'
                     f'{{horizontalpodautoscaler=~"{colours}"}})', "HPA min {{horizontalpodautoscaler}}")],
                   12, 8),
            _panel("timeseries", "p95 latency vs. same time last week (regression)",
                   [(f"histogram_quantile(0.95, sum by (le) (rate({duration}[30m])))", "p95 now"),
                    (f"histogram_quantile(0.95, sum by (le) (rate({duration}[30m] offset 1w)))", "p95 a week ago")],
                   0, 24, w=24, unit="s",
                   description="ApiLatencyRegression warns when now stays above 1.5x last week for 30 minutes."),
            _panel("timeseries", "CPU per pod",
                   [(f"sum by (pod) (rate(process_cpu_seconds_total{{{sel}}}[5m]))", "{{pod}}")], 0, 16, unit="short"),
            _panel("timeseries", "Memory per pod",
                   [(f"sum by (pod) (process_resident_memory_bytes{{{sel}}})", "{{pod}}")], 12, 16, unit="bytes"),
        ],
        ["api"],
    )


def postgres_dashboard() -> dict[str, Any]:
    return _dashboard(
        "leanvibe-postgres",
        "LeanVibe PostgreSQL",
        [
            _panel("stat", "Members up", [("sum by (service) (pg_up)", "{{service}}")], 0, 0, w=6),
            _panel("stat", "Leader", [("max by (service, pod) (patroni_primary) == 1", "{{pod}}")], 6, 0, w=6),
            _panel("stat", "Timeline", [("max by (service) (patroni_postgres_timeline)", "{{service}}")], 12, 0, w=6),
            _panel("stat", "Leader lock free (1 = no leader)",
                   [("min by (service) (patroni_cluster_unlocked)", "{{service}}")], 18, 0, w=6,
                   thresholds=[(None, "green"), (1, "red")]),
            _panel("timeseries", "Replication lag (bytes of WAL not replayed)",
                   [("max by (namespace, service) (patroni_xlog_location) - on (namespace, service) group_right "
                     "patroni_xlog_replayed_location", "{{pod}}")], 0, 8, unit="bytes"),
            _panel("timeseries", "Replication lag (seconds)", [("pg_replication_lag_seconds", "{{pod}}")],
                   12, 8, unit="s"),
            _panel("timeseries", "Connections vs. max_connections",
                   [("sum by (pod) (pg_stat_database_numbackends)", "{{pod}}"),
                    ("max(pg_settings_max_connections)", "max_connections")], 0, 16),
            _panel("timeseries", "Transactions per second",
                   [("sum by (pod) (rate(pg_stat_database_xact_commit[5m]))", "commit {{pod}}"),
                    ("sum by (pod) (rate(pg_stat_database_xact_rollback[5m]))", "rollback {{pod}}")],
                   12, 16, unit="ops"),
        ],
        ["postgresql"],
    )


def redis_dashboard() -> dict[str, Any]:
    return _dashboard(
        "leanvibe-redis",
        "LeanVibe Redis",
        [
            _panel("stat", "Instances up", [("sum by (service) (redis_up)", "{{service}}")], 0, 0, w=8),
            _panel("stat", "Master", [('max by (service, pod) (redis_instance_info{role="master"})', "{{pod}}")],
                   8, 0, w=8),
            _panel("stat", "Healthy sentinels per master",
                   [("max by (master_name) (redis_sentinel_master_ok_sentinels)", "{{master_name}}")], 16, 0, w=8),
            _panel("timeseries", "Commands per second",
                   [("sum by (pod) (rate(redis_commands_processed_total[5m]))", "{{pod}}")], 0, 8, unit="ops"),
            _panel("timeseries", "Hit ratio",
                   [("sum(rate(redis_keyspace_hits_total[5m])) / (sum(rate(redis_keyspace_hits_total[5m])) "
                     "+ sum(rate(redis_keyspace_misses_total[5m])))", "hit ratio")], 12, 8, unit="percentunit"),
            _panel("timeseries", "Memory used vs. maxmemory",
                   [("redis_memory_used_bytes", "{{pod}}"), ("redis_memory_max_bytes", "max {{pod}}")],
                   0, 16, unit="bytes"),
            _panel("timeseries", "Replica lag", [("redis_connected_slave_lag_seconds", "{{pod}} {{slave_ip}}")],
                   12, 16, unit="s"),
        ],
        ["redis"],
    )


def dashboards(slos: tuple[SLO, ...], extra: dict[str, dict[str, Any]] | None = None) -> dict[str, dict[str, Any]]:
    """uid -> dashboard JSON model."""
    result = {
        "leanvibe-sla": sla_dashboard(slos),
        "leanvibe-api": api_dashboard(),
        "leanvibe-postgres": postgres_dashboard(),
        "leanvibe-redis": redis_dashboard(),
    }
    for uid, model in (extra or {}).items():
        result[uid] = {**model, "uid": uid}
    return result


def dashboard_queries(dashboard: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(panel title, PromQL expression) for every query, rows and nested panels included."""
    for panel in dashboard.get("panels", []):
        yield from dashboard_queries(panel)
        for target in panel.get("targets", []):
            if isinstance(target, dict) and target.get("expr"):
                yield panel.get("title", ""), target["expr"]
