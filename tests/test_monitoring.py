"""MonitoringStack: what operators rely on, and the errors bad props give."""

from __future__ import annotations

import configparser
import json
import re

import pytest
import yaml

from leanvibe_constructs import HAApiDeployment, PostgresHA, PropsError, RedisSentinel
from leanvibe_constructs.monitoring import (
    SLI,
    SLO,
    MonitoringStack,
    MonitoringStackProps,
    alertmanager_config,
    dashboards,
    prometheus_config,
)
from leanvibe_constructs.monitoring._promql import series_names
from leanvibe_constructs.monitoring._yaml import dump_yaml
from leanvibe_constructs.monitoring.dashboards import dashboard_queries
from leanvibe_constructs.monitoring.platform_alerts import platform_alert_groups, scraped_series
from leanvibe_constructs.monitoring.slo import WORKBOOK_WINDOWS, recorded_series, slo_rule_groups
from leanvibe_constructs.validate.checks_observability import metrics_scraped, slo_burn_rate_alerts
from leanvibe_constructs.validate import Severity, run_checks
from leanvibe_constructs.validate.model import Inventory

from .manifests import container, find, find_all, pod_spec, synth_chart
from .schemas import validate_object

API_IMAGE = "ghcr.io/leanvibe/agent-hive-api:2.4.1"


def build(props: MonitoringStackProps | None = None, **kwargs):
    return synth_chart(lambda chart: MonitoringStack(chart, "Monitoring", props, **kwargs))


def config_map(objects, name: str) -> dict[str, str]:
    return find(objects, "ConfigMap", name)["data"]


def policy(objects, name: str) -> dict:
    return find(objects, "NetworkPolicy", name)["spec"]


def ports_of(rule: dict) -> set[tuple[int, str]]:
    return {(p["port"], p["protocol"]) for p in rule["ports"]}


# --- manifests ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "props",
    [MonitoringStackProps(), MonitoringStackProps.for_environment("dev"), MonitoringStackProps(operator=True)],
    ids=["production", "dev", "operator"],
)
@pytest.mark.parametrize("kubernetes", ["1.27.0", "1.37.0"])
def test_every_object_validates_strictly_and_carries_the_standard_labels(props, kubernetes):
    for obj in build(props):
        assert validate_object(obj, kubernetes) is None, (obj["kind"], obj["metadata"]["name"],
                                                          validate_object(obj, kubernetes))
        labels = obj["metadata"]["labels"]
        assert labels["app.kubernetes.io/part-of"] == "leanvibe"
        assert labels["app.kubernetes.io/component"] == "monitoring"
        assert {"app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/version",
                "app.kubernetes.io/managed-by"} <= set(labels)


def test_production_runs_two_prometheus_and_a_three_member_alertmanager_cluster():
    objects = build()
    prometheus = find(objects, "StatefulSet", "leanvibe-prometheus")
    alertmanager = find(objects, "StatefulSet", "leanvibe-alertmanager")
    assert prometheus["spec"]["replicas"] == 2
    assert alertmanager["spec"]["replicas"] == 3
    args = container(alertmanager, "alertmanager")["args"]
    peers = [a.removeprefix("--cluster.peer=") for a in args if a.startswith("--cluster.peer=")]
    assert peers == [f"leanvibe-alertmanager-{i}.leanvibe-alertmanager.leanvibe.svc:9094" for i in range(3)]
    assert "--cluster.advertise-address=$(POD_IP):9094" in args
    headless = find(objects, "Service", "leanvibe-alertmanager")["spec"]
    assert headless["clusterIP"] == "None" and headless["publishNotReadyAddresses"] is True
    assert {(p["port"], p["protocol"]) for p in headless["ports"]} == {(9093, "TCP"), (9094, "TCP"), (9094, "UDP")}
    assert alertmanager["spec"]["serviceName"] == "leanvibe-alertmanager"
    # Quorum members never share a node; both workloads keep a replica through a drain.
    assert "requiredDuringSchedulingIgnoredDuringExecution" in pod_spec(alertmanager)["affinity"]["podAntiAffinity"]
    budgets = {b["metadata"]["name"]: b["spec"] for b in find_all(objects, "PodDisruptionBudget")}
    assert budgets["leanvibe-alertmanager"]["maxUnavailable"] == 1
    assert budgets["leanvibe-prometheus"]["maxUnavailable"] == 1


def test_prometheus_sends_every_alert_to_every_alertmanager_replica():
    config = yaml.safe_load(prometheus_config(MonitoringStackProps()))
    targets = config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    assert targets == [f"leanvibe-alertmanager-{i}.leanvibe-alertmanager.leanvibe.svc:9093" for i in range(3)]
    # No replica label: both Prometheus replicas send identical alerts, Alertmanager deduplicates.
    assert config["global"]["external_labels"] == {"cluster": "leanvibe"}


def test_dev_runs_one_of_each_without_gossip_or_disruption_budgets():
    objects = build(MonitoringStackProps.for_environment("dev"))
    assert find(objects, "StatefulSet", "leanvibe-prometheus")["spec"]["replicas"] == 1
    alertmanager = find(objects, "StatefulSet", "leanvibe-alertmanager")
    assert alertmanager["spec"]["replicas"] == 1
    assert "--cluster.listen-address=" in container(alertmanager, "alertmanager")["args"]
    assert find_all(objects, "PodDisruptionBudget") == []


def test_every_container_meets_the_restricted_pod_security_profile():
    objects = build()
    workloads = find_all(objects, "StatefulSet") + find_all(objects, "Deployment")
    assert len(workloads) == 4
    for workload in workloads:
        spec = pod_spec(workload)
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        for c in spec["containers"]:
            ctx = c["securityContext"]
            assert ctx["allowPrivilegeEscalation"] is False and ctx["readOnlyRootFilesystem"] is True
            assert ctx["capabilities"] == {"drop": ["ALL"]}
            assert c["resources"]["limits"]["memory"] == c["resources"]["requests"]["memory"]


def test_no_container_is_killed_by_liveness_while_it_starts():
    """Each has a startup probe (liveness waits for it) allowing at least 2 minutes to start."""
    objects = build()
    for workload in find_all(objects, "StatefulSet") + find_all(objects, "Deployment"):
        for c in pod_spec(workload)["containers"]:
            startup = c["startupProbe"]
            assert {"livenessProbe", "readinessProbe"} <= set(c), c["name"]
            assert startup["periodSeconds"] * startup["failureThreshold"] >= 120, c["name"]
    grafana = container(find(objects, "Deployment", "leanvibe-grafana"), "grafana")["startupProbe"]
    # A fresh sqlite database on every start: all of Grafana's migrations run first.
    assert grafana["periodSeconds"] * grafana["failureThreshold"] >= 300


def test_every_workload_exposes_a_port_named_metrics():
    objects = build()
    for workload in find_all(objects, "StatefulSet") + find_all(objects, "Deployment"):
        names = [p["name"] for c in pod_spec(workload)["containers"] for p in c.get("ports", [])]
        assert "metrics" in names, workload["metadata"]["name"]


def test_prometheus_persists_on_the_regional_ssd_class_and_bounds_retention():
    objects = build()
    prometheus = find(objects, "StatefulSet", "leanvibe-prometheus")
    claim = prometheus["spec"]["volumeClaimTemplates"][0]["spec"]
    assert claim["storageClassName"] == "leanvibe-regional-ssd"
    assert claim["resources"]["requests"]["storage"] == "50Gi"
    args = container(prometheus, "prometheus")["args"]
    assert "--storage.tsdb.retention.time=15d" in args
    # 80% of 50Gi, so the TSDB deletes old blocks before the volume fills.
    assert "--storage.tsdb.retention.size=40960MB" in args


def test_prometheus_may_only_read_discovery_objects():
    objects = build()
    role = find(objects, "ClusterRole", "leanvibe-prometheus")
    verbs = {verb for rule in role["rules"] for verb in rule["verbs"]}
    assert verbs <= {"get", "list", "watch"}
    resources = {r for rule in role["rules"] for r in rule.get("resources", [])}
    assert resources == {"nodes", "nodes/metrics", "pods", "services", "endpoints", "endpointslices"}
    assert {"nonResourceURLs": ["/metrics"], "verbs": ["get"]} in role["rules"]
    binding = find(objects, "ClusterRoleBinding")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "leanvibe-prometheus", "namespace": "leanvibe"}]
    # kube-state-metrics only sees the platform's namespace.
    assert [r["metadata"]["namespace"] for r in find_all(objects, "Role")] == ["leanvibe"]


def test_secrets_are_referenced_by_name_and_never_rendered():
    objects = build()
    alertmanager = find(objects, "StatefulSet", "leanvibe-alertmanager")
    volumes = {v["name"]: v for v in pod_spec(alertmanager)["volumes"]}
    assert volumes["pagerduty"]["secret"]["secretName"] == "leanvibe-alertmanager-pagerduty"
    assert volumes["pagerduty"]["secret"]["items"] == [{"key": "routing-key", "path": "routing-key"}]
    receivers = yaml.safe_load(config_map(objects, "leanvibe-alertmanager-config")["alertmanager.yml"])["receivers"]
    pagerduty = next(r for r in receivers if r["name"] == "pagerduty")["pagerduty_configs"][0]
    assert pagerduty["routing_key_file"] == "/etc/alertmanager/secrets/pagerduty/routing-key"
    assert "routing_key" not in pagerduty and "service_key" not in pagerduty
    assert not find_all(objects, "Secret")


def test_grafana_reads_its_admin_credentials_from_secret_files_not_environment_variables():
    objects = build()
    grafana = find(objects, "Deployment", "leanvibe-grafana")
    main = container(grafana, "grafana")
    # No secret in the pod's environment (checkov CKV_K8S_35), nor a literal value
    # under a password-like name (`leanvibe validate` secret-data).
    assert not [e for e in main["env"] if "secretKeyRef" in e.get("valueFrom", {})]
    assert not [e["name"] for e in main["env"] if e["name"].startswith("GF_SECURITY_")]
    env = {e["name"]: e.get("value") for e in main["env"]}
    volumes = {v["name"]: v for v in pod_spec(grafana)["volumes"]}
    mounted = {m["mountPath"]: volumes[m["name"]] for m in main["volumeMounts"]}
    assert all(m.get("readOnly") for m in main["volumeMounts"] if "secret" in volumes[m["name"]])

    folder, file_name = env["GF_PATHS_CONFIG"].rsplit("/", 1)
    config_map_name = mounted[folder]["configMap"]["name"]
    ini = configparser.ConfigParser(interpolation=None)
    ini.read_string(config_map(objects, config_map_name)[file_name])
    for option, key in (("admin_user", "admin-user"), ("admin_password", "admin-password")):
        # Grafana's $__file{} provider reads (and trims) the file when it loads its configuration.
        reference = re.fullmatch(r"\$__file\{(/[^}]+)\}", ini["security"][option])
        assert reference, ini["security"][option]
        secret_folder, secret_file = reference.group(1).rsplit("/", 1)
        secret = mounted[secret_folder]["secret"]
        assert secret["secretName"] == "leanvibe-grafana-admin"
        assert {"key": key, "path": secret_file} in secret["items"]
        # Readable by the pod's group (fsGroup), by no other user.
        assert secret["defaultMode"] == 0o440


def test_grafana_runs_as_a_high_uid_and_writes_only_to_its_emptydir():
    grafana = find(build(), "Deployment", "leanvibe-grafana")
    context = pod_spec(grafana)["securityContext"]
    # checkov CKV_K8S_40: uids below 10000 may belong to a host user.
    assert context["runAsUser"] >= 10000
    assert context["runAsGroup"] == context["fsGroup"] == context["runAsUser"]
    main = container(grafana, "grafana")
    assert main["securityContext"]["readOnlyRootFilesystem"] is True
    env = {e["name"]: e.get("value") for e in main["env"]}
    volumes = {v["name"]: v for v in pod_spec(grafana)["volumes"]}
    writable = [m["mountPath"] for m in main["volumeMounts"]
                if not m.get("readOnly") and "emptyDir" in volumes[m["name"]]]
    # The image's defaults (/var/lib/grafana, /var/log/grafana) are owned by uid
    # 472; every path Grafana writes to must be on a volume fsGroup makes ours.
    for variable in ("GF_PATHS_DATA", "GF_PATHS_LOGS", "GF_PATHS_PLUGINS"):
        assert any(env[variable] == path or env[variable].startswith(path + "/") for path in writable), variable


def test_only_prometheus_and_kube_state_metrics_mount_a_token_and_each_says_why():
    objects = build()
    workloads = find_all(objects, "StatefulSet") + find_all(objects, "Deployment")
    for workload in workloads:
        annotations = workload["metadata"].get("annotations", {})
        skips = dict(value.split("=", 1) for key, value in annotations.items() if key.startswith("checkov.io/skip"))
        mounts_token = pod_spec(workload)["automountServiceAccountToken"]
        name = workload["metadata"]["name"]
        assert mounts_token is (name in ("leanvibe-prometheus", "leanvibe-kube-state-metrics")), name
        if mounts_token:
            # The exception and its reason sit on the workload, where a reviewer reads them.
            assert "token" in skips["CKV_K8S_38"], skips
        else:
            assert "CKV_K8S_38" not in skips, name


def test_single_replica_workloads_state_why_and_the_validator_accepts_them():
    objects = build()
    single = {w["metadata"]["name"] for w in find_all(objects, "StatefulSet") + find_all(objects, "Deployment")
              if w["spec"]["replicas"] == 1}
    assert single == {"leanvibe-grafana", "leanvibe-kube-state-metrics"}
    findings = [f for f in run_checks(objects) if f.check == "replicas"]
    assert sorted(f.name for f in findings) == sorted(single)
    for finding in findings:
        assert finding.severity is Severity.INFO and finding.message.startswith("waived ("), finding


def test_grafana_is_provisioned_with_the_prometheus_service_and_four_dashboards():
    objects = build()
    datasources = yaml.safe_load(config_map(objects, "leanvibe-grafana-provisioning")["datasources.yaml"])
    source = datasources["datasources"][0]
    assert source["url"] == "http://leanvibe-prometheus.leanvibe.svc:9090"
    assert source["uid"] == "prometheus"
    files = config_map(objects, "leanvibe-grafana-dashboards")
    assert sorted(files) == ["leanvibe-api.json", "leanvibe-postgres.json", "leanvibe-redis.json", "leanvibe-sla.json"]
    for text in files.values():
        model = json.loads(text)
        for _, target in ((p, t) for p in model["panels"] for t in p["targets"]):
            assert target["datasource"]["uid"] == source["uid"]


def test_a_configuration_change_rolls_the_pods():
    def checksum(objects, kind, name):
        return find(objects, kind, name)["spec"]["template"]["metadata"]["annotations"]["checksum/config"]

    before = build()
    stricter = SLO(name="requests-availability", service="leanvibe-api", sli=SLI.errors(), objective=0.9995)
    after = build(MonitoringStackProps(slos=(stricter,)))
    assert checksum(before, "StatefulSet", "leanvibe-prometheus") != checksum(after, "StatefulSet",
                                                                                "leanvibe-prometheus")
    assert checksum(before, "Deployment", "leanvibe-grafana") != checksum(after, "Deployment", "leanvibe-grafana")
    assert checksum(before, "StatefulSet", "leanvibe-alertmanager") == checksum(after, "StatefulSet",
                                                                                  "leanvibe-alertmanager")


def test_synthesis_is_deterministic():
    assert build() == build()


def test_operator_mode_adds_prometheus_rules_with_the_same_groups():
    objects = build(MonitoringStackProps(operator=True))
    rules = {r["metadata"]["name"]: r["spec"] for r in find_all(objects, "PrometheusRule")}
    files = config_map(objects, "leanvibe-prometheus-rules")
    assert {f"leanvibe-prometheus-{name.removesuffix('.yaml')}" for name in files} == set(rules)
    for name, text in files.items():
        assert rules[f"leanvibe-prometheus-{name.removesuffix('.yaml')}"] == yaml.safe_load(text)


# --- network --------------------------------------------------------------------------


def test_declares_its_own_flows_and_nothing_wider():
    objects = build(MonitoringStackProps(kubernetes_api_cidrs=("10.0.0.10/32",), node_cidrs=("10.128.0.0/20",)))
    assert ports_of(policy(objects, "leanvibe-prometheus-from-leanvibe-grafana")["ingress"][0]) == {(9090, "TCP")}
    assert ports_of(policy(objects, "leanvibe-alertmanager-from-leanvibe-prometheus")["ingress"][0]) == {
        (9093, "TCP")}
    assert ports_of(policy(objects, "leanvibe-alertmanager-from-peers")["ingress"][0]) == {(9094, "TCP"),
                                                                                         (9094, "UDP")}
    internet = policy(objects, "leanvibe-alertmanager-to-internet")["egress"][0]
    assert ports_of(internet) == {(443, "TCP")}
    assert "10.0.0.0/8" in internet["to"][0]["ipBlock"]["except"]
    api = policy(objects, "leanvibe-prometheus-to-kubernetes-api")["egress"][0]
    assert ports_of(api) == {(443, "TCP"), (6443, "TCP")}
    assert ports_of(policy(objects, "leanvibe-prometheus-to-kubelets")["egress"][0]) == {(10250, "TCP")}
    # Grafana and Prometheus talk to nothing on the internet.
    names = {p["metadata"]["name"] for p in find_all(objects, "NetworkPolicy")}
    assert "leanvibe-grafana-to-internet" not in names and "leanvibe-prometheus-to-internet" not in names


def test_api_server_and_node_routes_exist_only_for_the_addresses_given():
    objects = build(MonitoringStackProps(kubernetes_api_cidrs=("10.0.0.10/32", "10.0.0.11/32")))
    api = policy(objects, "leanvibe-prometheus-to-kubernetes-api")["egress"][0]
    assert [peer["ipBlock"]["cidr"] for peer in api["to"]] == ["10.0.0.10/32", "10.0.0.11/32"]
    names = {p["metadata"]["name"] for p in find_all(build(), "NetworkPolicy")}
    assert not {n for n in names if n.endswith(("-to-kubernetes-api", "-to-kubelets"))}


def test_refuses_a_route_to_every_address():
    from leanvibe_constructs import PropsError

    with pytest.raises(PropsError, match=r"kubernetes_api_cidrs: got \('0.0.0.0/0',\): .*would open every address"):
        MonitoringStackProps.build(kubernetes_api_cidrs=("0.0.0.0/0",))


def test_scrape_opens_prometheus_to_a_workloads_metrics_port():
    def compose(chart):
        api = HAApiDeployment(chart, "Api", image=API_IMAGE)
        monitoring = MonitoringStack(chart, "Monitoring")
        monitoring.scrape(api)

    objects = synth_chart(compose)
    ingress = policy(objects, "leanvibe-api-from-leanvibe-prometheus")
    assert ports_of(ingress["ingress"][0]) == {(9090, "TCP")}
    assert ingress["ingress"][0]["from"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/name"] == "prometheus"
    assert ports_of(policy(objects, "leanvibe-prometheus-to-leanvibe-api")["egress"][0]) == {(9090, "TCP")}


def test_scrape_refuses_a_workload_without_a_metrics_port():
    class NoMetrics:
        def __init__(self, endpoint):
            self.endpoint = endpoint

    def compose(chart):
        api = HAApiDeployment(chart, "Api", image=API_IMAGE)
        MonitoringStack(chart, "Monitoring").scrape(NoMetrics(api.endpoint))

    with pytest.raises(TypeError, match="pass ports="):
        synth_chart(compose)


def test_prometheus_scrapes_every_metrics_port_of_the_platform():
    """The validator's relabelling simulation finds every workload's metrics port scraped."""

    def compose(chart):
        api = HAApiDeployment(chart, "Api", image=API_IMAGE)
        postgres = PostgresHA(chart, "Postgres")
        redis = RedisSentinel(chart, "Redis")
        monitoring = MonitoringStack(chart, "Monitoring")
        monitoring.scrape(api)
        monitoring.scrape(postgres, ports=(postgres.metrics_port, 8008))
        monitoring.scrape(redis)

    inventory = Inventory.of(synth_chart(compose))
    assert [message for _, message in metrics_scraped(inventory)] == []
    assert [message for _, message in slo_burn_rate_alerts(inventory)] == []


# --- scrape config --------------------------------------------------------------------


def test_pod_discovery_is_limited_to_the_platform_and_keeps_the_metrics_port():
    config = yaml.safe_load(prometheus_config(MonitoringStackProps(watched_namespaces=("leanvibe", "leanvibe-jobs"))))
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    pods = jobs["leanvibe-pods"]
    sd = pods["kubernetes_sd_configs"][0]
    assert sd["role"] == "pod"
    assert sd["namespaces"] == {"names": ["leanvibe", "leanvibe-jobs"]}
    assert sd["selectors"] == [{"role": "pod", "label": "app.kubernetes.io/part-of=leanvibe"}]
    assert {"action": "keep", "source_labels": ["__meta_kubernetes_pod_container_port_name"], "regex": "metrics"} in (
        pods["relabel_configs"])
    targets = {r["target_label"]: r["source_labels"][0] for r in pods["relabel_configs"] if "target_label" in r}
    assert targets == {
        "namespace": "__meta_kubernetes_namespace",
        "pod": "__meta_kubernetes_pod_name",
        "container": "__meta_kubernetes_pod_container_name",
        "component": "__meta_kubernetes_pod_label_app_kubernetes_io_component",
        "service": "__meta_kubernetes_pod_label_app_kubernetes_io_instance",
        "app": "__meta_kubernetes_pod_label_app_kubernetes_io_name",
        "colour": "__meta_kubernetes_pod_label_leanvibe_dev_colour",
    }
    assert jobs["kube-state-metrics"]["honor_labels"] is True
    assert jobs["kubelet"]["metric_relabel_configs"][1] == {
        "action": "keep", "source_labels": ["namespace"], "regex": "leanvibe|leanvibe-jobs"}


# --- SLO rules ------------------------------------------------------------------------


def test_burn_rate_factors_are_the_workbook_numbers_for_30_days_and_scale_for_28():
    assert [w.factor("30d") for w in WORKBOOK_WINDOWS] == [14.4, 6.0, 3.0, 1.0]
    assert [w.factor("28d") for w in WORKBOOK_WINDOWS] == [13.44, 5.6, 2.8, 0.933333]


def test_slo_rules_use_sloth_compatible_names():
    slo = SLO(name="requests-availability", service="leanvibe-api", sli=SLI.errors())
    sli, meta, alerts = slo_rule_groups(slo, "https://runbooks.example")
    assert sli["name"] == "sloth-slo-sli-recordings-leanvibe-api-requests-availability"
    assert [r["record"] for r in sli["rules"]] == [
        f"slo:sli_error:ratio_rate{w}" for w in ("5m", "30m", "1h", "2h", "6h", "1d", "3d", "30d")]
    assert sli["rules"][0]["labels"] == {"sloth_id": "leanvibe-api-requests-availability",
                                         "sloth_service": "leanvibe-api", "sloth_slo": "requests-availability",
                                         "sloth_window": "5m"}
    assert {r["record"] for r in meta["rules"]} >= {"slo:objective:ratio", "slo:error_budget:ratio",
                                                   "slo:period_error_budget_remaining:ratio"}
    assert next(r for r in meta["rules"] if r["record"] == "slo:error_budget:ratio")["expr"] == "vector(0.001)"
    page, ticket = alerts["rules"]
    assert (page["labels"]["severity"], ticket["labels"]["severity"]) == ("critical", "warning")
    assert "slo:sli_error:ratio_rate5m" in page["expr"] and "(14.4 * 0.001)" in page["expr"]
    assert "slo:sli_error:ratio_rate3d" in ticket["expr"] and "(1 * 0.001)" in ticket["expr"]
    assert page["annotations"]["runbook_url"].startswith("https://runbooks.example/")


def test_latency_sli_counts_requests_slower_than_the_threshold_bucket():
    sli = SLI.latency(threshold_le="0.25")
    assert sli.error_query("5m") == (
        '(sum(rate(http_request_duration_seconds_count{service="leanvibe-api"}[5m])) - '
        'sum(rate(http_request_duration_seconds_bucket{service="leanvibe-api", le="0.25"}[5m])))')
    assert sli.total_query("5m") == 'sum(rate(http_request_duration_seconds_count{service="leanvibe-api"}[5m]))'


# --- series the queries read ----------------------------------------------------------


def test_series_names_finds_metrics_and_skips_functions_labels_and_ranges():
    expr = ('histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{code=~"5..", '
            'le="0.5"}[5m]))) / on (sloth_id) group_left slo:error_budget:ratio offset 1h')
    assert series_names(expr) == {"http_request_duration_seconds_bucket", "slo:error_budget:ratio"}


def test_dashboards_are_grafana_models_that_only_read_provided_series():
    props = MonitoringStackProps()
    known = props.known_series()
    models = dashboards(props.slos)
    assert set(models) == {"leanvibe-sla", "leanvibe-api", "leanvibe-postgres", "leanvibe-redis"}
    read = set()
    for uid, model in models.items():
        assert model["uid"] == uid and model["schemaVersion"] >= 36 and model["title"]
        assert json.loads(json.dumps(model)) == model
        ids = [panel["id"] for panel in model["panels"]]
        assert len(ids) == len(set(ids))
        for panel in model["panels"]:
            assert {"x", "y", "w", "h"} <= set(panel["gridPos"]) and panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
            assert [t["refId"] for t in panel["targets"]] == [chr(ord("A") + i) for i in range(len(panel["targets"]))]
        for title, expr in dashboard_queries(model):
            names = series_names(expr)
            assert names, (uid, title, expr)
            assert names <= known, (uid, title, names - known)
            read |= names
    # The SLA dashboard reads the budget and burn rates the SLO rules record.
    assert {"slo:period_error_budget_remaining:ratio", "slo:sli_error:ratio_rate30d", "slo:error_budget:ratio"} <= read


def test_alert_rules_only_read_scraped_or_recorded_series_and_carry_runbooks():
    props = MonitoringStackProps()
    known = scraped_series() | recorded_series(props.slos)
    for group in props.rule_groups():
        for rule in group["rules"]:
            assert series_names(rule["expr"]) <= known, (rule.get("alert") or rule["record"])
            if "alert" in rule:
                assert rule["annotations"]["runbook_url"].startswith(props.runbook_base_url)
                assert rule["labels"]["severity"] in {*props.severity_receivers, "none"}


def test_every_platform_alert_the_issue_lists_exists():
    names = {r["alert"] for g in platform_alert_groups("https://x") for r in g["rules"]}
    assert {"ApiReplicasUnavailable", "HpaAtMaxReplicas", "PodCrashLooping", "PostgresDown", "PostgresNoLeader",
            "PostgresReplicationLag", "RedisDown", "RedisNoMasterSeenBySentinels", "RedisReplicaLag", "TargetDown",
            "PersistentVolumeFillingUp", "Watchdog"} <= names


def test_alertmanager_groups_one_incident_per_alert_and_service_and_critical_mutes_warning():
    config = yaml.safe_load(alertmanager_config(MonitoringStackProps()))
    assert config["route"]["group_by"] == ["alertname", "service"]
    assert config["inhibit_rules"] == [{"source_matchers": ['severity="critical"'],
                                        "target_matchers": ['severity="warning"'], "equal": ["alertname", "service"]}]
    assert config["route"]["routes"][0]["matchers"] == ['alertname="Watchdog"']


# --- bad props ------------------------------------------------------------------------


@pytest.mark.parametrize("objective", [0, 1, 1.5, -0.1])
def test_fails_when_objective_is_outside_zero_and_one(objective):
    with pytest.raises(PropsError, match=rf"SLO.objective: got {objective!r}: must be a ratio strictly between 0 and 1"):
        SLO.build(name="x", service="leanvibe-api", sli=SLI.errors(), objective=objective)


def test_fails_with_a_hint_when_objective_is_given_in_percent():
    with pytest.raises(PropsError, match=r"for 99.9% write 0.999"):
        SLO.build(name="x", service="leanvibe-api", sli=SLI.errors(), objective=99.9)


@pytest.mark.parametrize("window", ["30 days", "1h30", "30D", "m5", "", "0", "1m1h"])
def test_fails_when_a_window_is_not_a_prometheus_duration(window):
    with pytest.raises(PropsError, match=r"SLO.window: got .*is not a duration Prometheus can parse|must be a positive"):
        SLO.build(name="x", service="leanvibe-api", sli=SLI.errors(), window=window)


def test_fails_when_retention_is_not_a_prometheus_duration():
    with pytest.raises(PropsError, match=r"MonitoringStackProps.retention: got '2 weeks'"):
        MonitoringStackProps.build(retention="2 weeks")


def test_fails_when_the_slo_window_is_shorter_than_the_slowest_alert_window():
    with pytest.raises(PropsError, match=r"window \(1d\) must be at least 3d"):
        SLO.build(name="x", service="leanvibe-api", sli=SLI.errors(), window="1d")


def test_fails_when_a_severity_has_no_receiver():
    urgent = SLO(name="x", service="leanvibe-api", sli=SLI.errors(), page_severity="urgent")
    with pytest.raises(PropsError, match=r"severity 'urgent' \(alerts \['LeanvibeApiXErrorBudgetBurn'\]\) has no "
                                         r"receiver.*add 'urgent'"):
        MonitoringStackProps.build(slos=(urgent,))


def test_fails_when_a_severity_is_routed_to_pagerduty_without_a_routing_key():
    with pytest.raises(PropsError, match=r"maps 'critical' to 'pagerduty' but pagerduty_routing_key is None"):
        MonitoringStackProps.build(pagerduty_routing_key=None)


def test_fails_when_a_dashboard_references_an_unknown_metric():
    dashboard = {"title": "Queue", "panels": [
        {"title": "Depth", "type": "timeseries", "targets": [{"refId": "A", "expr": "sum(celery_queue_length)"}]}]}
    with pytest.raises(PropsError, match=r"extra_dashboards\['queue'\] panel 'Depth' queries \['celery_queue_length'\]"):
        MonitoringStackProps.build(extra_dashboards={"queue": dashboard})
    # Declaring the series (a workload that exposes it) makes the same dashboard acceptable.
    props = MonitoringStackProps.build(extra_dashboards={"queue": dashboard}, extra_series=("celery_queue_length",))
    assert "queue" in dashboards(props.slos, props.extra_dashboards)


def test_fails_when_an_slo_reads_a_metric_nothing_scrapes():
    slo = SLO(name="x", service="leanvibe-api", sli=SLI.errors(metric="requests_total"))
    with pytest.raises(PropsError, match=r"reads \['requests_total'\], which no scraped construct exposes"):
        MonitoringStackProps.build(slos=(slo,))


def test_fails_on_a_two_member_alertmanager_cluster():
    with pytest.raises(PropsError, match=r"alertmanager_replicas \(2\) must be 1 or at least 3"):
        MonitoringStackProps.build(alertmanager_replicas=2)


def test_fails_when_scrape_timeout_exceeds_the_interval():
    with pytest.raises(PropsError, match=r"scrape_timeout \(1m\) must be <= scrape_interval \(30s\)"):
        MonitoringStackProps.build(scrape_timeout="1m")


def test_fails_on_a_malformed_label_matcher():
    with pytest.raises(PropsError, match=r"SLI.error_matchers: got 'code=5xx'"):
        SLI.errors(error_matchers="code=5xx")


# --- snapshot -------------------------------------------------------------------------


def test_production_manifests_match_the_snapshot(yaml_snapshot):
    # Literal blocks keep the embedded prometheus.yml, rules and alertmanager.yml reviewable.
    assert "---\n".join(dump_yaml(obj) for obj in build()) == yaml_snapshot
