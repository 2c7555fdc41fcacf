"""`leanvibe validate` checks: each has a passing and a failing manifest, and the bugs
other checkers have (AND selectors, maxUnavailable budgets, topology spread, StatefulSet
budgets) are tests here."""

from __future__ import annotations

from pathlib import Path

import pytest

from leanvibe_constructs.validate import (
    CHECKS,
    CHECKS_BY_ID,
    Inventory,
    ManifestError,
    Severity,
    load_manifests,
    parse_documents,
    run_checks,
)
from leanvibe_constructs.validate.checks_availability import desired_healthy, scaled
from leanvibe_constructs.validate.prometheus import relabel, scraped_ports
from leanvibe_constructs.validate.selectors import parse_selector_string, selector_matches

from .manifests import DIST
from .schemas import crd_schema, validate_object

FIXTURES = Path(__file__).parent / "fixtures" / "validate"
PASSING = sorted(p for c in CHECKS for p in (FIXTURES / c.id).glob("pass*.yaml"))
FAILING = sorted(p for c in CHECKS for p in (FIXTURES / c.id).glob("fail*.yaml"))

# Every finding each failing fixture must produce, exactly: "<object>: <message>".
EXPECTED = {
    "probes/fail.yaml": ["StatefulSet shop/db: container 'exporter' has no livenessProbe"],
    "startup-probe/fail.yaml": ["DaemonSet shop/agent: container 'agent' has no startupProbe"],
    "resources/fail.yaml": [
        "Deployment shop/web: container 'web' sets no limits.memory",
        "Deployment shop/web: container 'proxy' requests more memory (256Mi) than its limit (128Mi); "
        "the API server rejects this",
    ],
    "cpu-limit/fail.yaml": ["Deployment shop/web: container 'web' has no CPU limit"],
    "security-context/fail.yaml": [
        "DaemonSet shop/agent: hostNetwork is true",
        "DaemonSet shop/agent: volume 'logs' is of type hostPath",
        "DaemonSet shop/agent: pod sets unsafe sysctls ['net.core.somaxconn']",
        "DaemonSet shop/agent: container 'setup' does not set runAsNonRoot: true (pod or container)",
        "DaemonSet shop/agent: container 'setup' runAsUser is 0 (root)",
        "DaemonSet shop/agent: container 'setup' has seccompProfile unset (needs RuntimeDefault or Localhost)",
        "DaemonSet shop/agent: container 'agent' adds capabilities ['SYS_ADMIN']",
        "DaemonSet shop/agent: container 'agent' has seccompProfile unset (needs RuntimeDefault or Localhost)",
    ],
    "read-only-root/fail.yaml": ["Deployment shop/web: container 'web' has a writable root filesystem"],
    "image-pinned/fail.yaml": [
        "Deployment shop/web: container 'web' image 'registry.example:5000/shop/web' has no tag (means 'latest')",
        "Deployment shop/web: container 'proxy' image 'example/proxy:latest' uses the moving tag 'latest'",
    ],
    "image-digest/fail.yaml": [
        "Deployment shop/web: container 'web' image 'example/web:1.0.0' is pinned by tag only, not by digest"
    ],
    "service-account/fail.yaml": [
        "Deployment shop/web: pods run as the namespace's 'default' service account",
        "Deployment shop/worker: service account 'shared' is shared with Deployment scheduler",
        "Deployment shop/scheduler: service account 'shared' is shared with Deployment worker",
    ],
    "service-account-token/fail.yaml": [
        "Deployment shop/web: pods mount a token for service account 'web', which no RoleBinding or "
        "ClusterRoleBinding grants anything: the token is of use only to an attacker"
    ],
    "replicas/fail.yaml": [
        "Deployment shop/web: spec.replicas is omitted (defaults to 1) and no HorizontalPodAutoscaler targets it",
        "Deployment shop/worker: HorizontalPodAutoscaler worker may scale it down to 1 replica",
    ],
    "spread/fail.yaml": [
        "Deployment shop/worker: no podAntiAffinity or topologySpreadConstraints: replicas may all land on one node",
        "Deployment shop/api: its podAntiAffinity/topologySpreadConstraints select other pods, not its own: "
        "replicas may all land on one node",
    ],
    "pdb/fail.yaml": [
        "Deployment shop/web: runs up to 3 replicas but no PodDisruptionBudget selects its pods (all of a "
        "budget's matchLabels and matchExpressions must match): a drain may evict them all",
        "StatefulSet shop/db: runs up to 3 replicas but no PodDisruptionBudget selects its pods (all of a "
        "budget's matchLabels and matchExpressions must match): a drain may evict them all",
        "Rollout shop/api: runs up to 5 replicas but no PodDisruptionBudget selects its pods (all of a "
        "budget's matchLabels and matchExpressions must match): a drain may evict them all",
    ],
    "pdb-overlap/fail.yaml": [
        "Deployment shop/web: selected by 2 PodDisruptionBudgets (web, everything): the eviction API refuses "
        "pods with more than one budget, so drains hang"
    ],
    "pdb-drain/fail.yaml": [
        "PodDisruptionBudget shop/api: minAvailable 80% of 3 pods (Deployment api: 3 (HPA minReplicas)) keeps 3: "
        "no pod may ever be evicted, so every node drain blocks",
        "PodDisruptionBudget shop/db: maxUnavailable 0 of 3 pods (StatefulSet db: 3) keeps 3: no pod may ever "
        "be evicted, so every node drain blocks",
        "PodDisruptionBudget shop/web: minAvailable 2 of 2 pods (Deployment web: 2) keeps 2: no pod may ever be "
        "evicted, so every node drain blocks",
    ],
    "pdb-selector/fail.yaml": [
        "PodDisruptionBudget shop/web: selector app=web,tier in (back) matches no pod template in namespace shop "
        "(matchLabels and matchExpressions must all match)",
        "PodDisruptionBudget shop/orphan: has no selector: in policy/v1 a null selector selects no pods",
    ],
    "hpa-target/fail.yaml": [
        "HorizontalPodAutoscaler shop/web: its target Deployment shop/web sets spec.replicas (5): every apply "
        "resets the count the autoscaler chose",
        "HorizontalPodAutoscaler shop/worker: scaleTargetRef Deployment shop/wroker is not in these manifests",
    ],
    "network-policy/fail.yaml": [
        "Deployment shop/web: its pods are selected by no NetworkPolicy of type Egress"
    ],
    "default-deny/fail.yaml": [
        "Namespace shop: namespace shop has no default-deny NetworkPolicy for Egress (podSelector {} with no rules)"
    ],
    "pod-security-labels/fail.yaml": [
        "Namespace shop: has no pod-security.kubernetes.io/enforce label: pods are admitted without Pod "
        "Security checks",
        "Namespace tools: pod-security.kubernetes.io/enforce='restrictd' is not one of privileged, baseline, "
        "restricted",
    ],
    "pod-security-restricted/fail.yaml": [
        "Namespace shop: enforces the 'baseline' Pod Security level, not 'restricted'"
    ],
    "namespace-defined/fail.yaml": [
        "Deployment default/web: namespace default is not defined in these manifests; its Pod Security labels "
        "go unchecked"
    ],
    "rbac-wildcard/fail.yaml": [
        "ClusterRole operator: rule 1 grants '*' in apiGroups, verbs",
        "ClusterRoleBinding operator-admin: binds cluster-admin, which grants '*' on everything",
    ],
    "secret-data/fail.yaml": [
        "Secret shop/web-db: carries secret material in the manifest (keys: password; values not shown)",
        "Deployment shop/web: container 'web' sets API_TOKEN as a literal value (not shown); read it from a Secret",
        "ConfigMap shop/tls: data key 'key.pem' contains a private key",
    ],
    "metrics-port/fail.yaml": ["StatefulSet shop/db: no container port is named 'metrics'"],
    "metrics-scraped/fail.yaml": [
        "Deployment shop/worker: no scrape job selects its metrics port 9090",
        "Deployment jobs/reports: no scrape job selects its metrics port 9090",
    ],
    "metrics-scraped/fail-no-config.yaml": [
        "Deployment shop/web: no Prometheus scrape configuration in these manifests (a ConfigMap with a "
        "prometheus.yml holding scrape_configs, or a PodMonitor/ServiceMonitor), so nothing scrapes its "
        "metrics port"
    ],
    "slo-burn-rate-alerts/fail.yaml": [
        "Deployment shop/web: alert WebSlowBurn uses slo:sli_error:ratio_rate30m, slo:sli_error:ratio_rate6h, "
        "which no recording rule records: it can never fire",
        "Deployment shop/web: no slow-burn alert (long window over 1h): a steady leak of error budget never alerts",
    ],
    "slo-burn-rate-alerts/fail-other-service.yaml": [
        "Deployment shop/web: no alert rule uses slo:sli_error:ratio_rate* burn-rate series for this API "
        "(looked for label values web in alerts and their recording rules)"
    ],
}


def findings_of(check_id: str, path: Path) -> list[str]:
    inventory = Inventory(load_manifests([path]))
    return [f"{subject.ref}: {message}" for subject, message in CHECKS_BY_ID[check_id].function(inventory)]


def _id(path: Path) -> str:
    return f"{path.parent.name}/{path.name}"


@pytest.mark.parametrize("check", CHECKS, ids=[c.id for c in CHECKS])
def test_every_check_has_a_passing_and_a_failing_fixture(check):
    folder = FIXTURES / check.id
    assert list(folder.glob("pass*.yaml")), f"add {folder}/pass.yaml"
    assert list(folder.glob("fail*.yaml")), f"add {folder}/fail.yaml"
    assert all(_id(p) in EXPECTED for p in folder.glob("fail*.yaml")), "state the expected findings in EXPECTED"


@pytest.mark.parametrize("path", PASSING, ids=[_id(p) for p in PASSING])
def test_passing_fixture_has_no_finding(path):
    assert findings_of(path.parent.name, path) == []


@pytest.mark.parametrize("path", FAILING, ids=[_id(p) for p in FAILING])
def test_failing_fixture_yields_exactly_the_expected_findings(path):
    assert findings_of(path.parent.name, path) == EXPECTED[_id(path)]


def test_check_ids_are_unique_and_every_check_has_a_fix_hint():
    assert len(CHECKS_BY_ID) == len(CHECKS)
    assert all(c.hint and c.title and c.category in {"workload", "availability", "security", "observability"}
               for c in CHECKS)


# --- the known bugs of other checkers ---------------------------------------------------------


def test_pdb_selector_labels_combine_with_and():
    labels = {"app": "web", "tier": "front"}
    assert selector_matches({"matchLabels": {"app": "web", "tier": "front"}}, labels)
    assert not selector_matches({"matchLabels": {"app": "web", "tier": "back"}}, labels)
    assert not selector_matches(
        {"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "tier", "operator": "In", "values": ["back"]}]},
        labels,
    )
    # ...and so a Deployment whose only budget requires an extra label has no budget.
    assert "Deployment shop/web" in " ".join(findings_of("pdb", FIXTURES / "pdb" / "fail.yaml"))


def test_a_pdb_with_max_unavailable_is_a_budget_and_is_judged_for_drains():
    passing = FIXTURES / "pdb" / "pass.yaml"
    assert findings_of("pdb", passing) == []  # the web Deployment's budget uses maxUnavailable: 1
    assert desired_healthy({"maxUnavailable": 1}, 3) == 2
    assert desired_healthy({"maxUnavailable": 0}, 3) == 3  # blocks
    assert any("maxUnavailable 0" in f for f in findings_of("pdb-drain", FIXTURES / "pdb-drain" / "fail.yaml"))


def test_topology_spread_counts_as_anti_affinity():
    manifests = parse_documents((FIXTURES / "spread" / "pass.yaml").read_text(), "spread")
    web = next(m for m in manifests if m.name == "web")
    assert "affinity" not in web.spec["template"]["spec"]
    assert findings_of("spread", FIXTURES / "spread" / "pass.yaml") == []


def test_statefulsets_need_a_pdb_too():
    assert "StatefulSet shop/db: runs up to 3 replicas" in " ".join(findings_of("pdb", FIXTURES / "pdb" / "fail.yaml"))


@pytest.mark.parametrize(
    ("value", "total", "expected"),
    [("80%", 5, 4), ("80%", 3, 3), ("66%", 3, 2), ("10%", 3, 1), ("50%", 3, 2), ("0%", 3, 0), (2, 5, 2)],
)
def test_percentages_round_up_as_the_disruption_controller_does(value, total, expected):
    assert scaled(value, total) == expected


def test_a_percentage_budget_that_fits_the_declared_replicas_blocks_at_the_hpa_minimum():
    """80% keeps 4 of 5 replicas but all 3 of an HPA's minimum: judged at the minimum."""
    findings = findings_of("pdb-drain", FIXTURES / "pdb-drain" / "fail.yaml")
    assert findings[0].startswith("PodDisruptionBudget shop/api: minAvailable 80% of 3 pods")


# --- selectors and Prometheus semantics --------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "labels", "matches"),
    [
        ({"key": "tier", "operator": "NotIn", "values": ["back"]}, {}, True),
        ({"key": "tier", "operator": "In", "values": ["back"]}, {}, False),
        ({"key": "tier", "operator": "Exists"}, {"tier": ""}, True),
        ({"key": "tier", "operator": "DoesNotExist"}, {"tier": "front"}, False),
    ],
)
def test_match_expressions_follow_kubernetes_semantics(expression, labels, matches):
    assert selector_matches({"matchExpressions": [expression]}, labels) is matches


def test_empty_selector_selects_everything_and_a_null_one_nothing():
    assert selector_matches({}, {"any": "pod"})
    assert not selector_matches(None, {"any": "pod"})


def test_selector_strings_parse_like_kubectl():
    selector = parse_selector_string("app=web,tier!=back,env in (prod, staging),!canary")
    assert selector_matches(selector, {"app": "web", "tier": "front", "env": "prod"})
    assert not selector_matches(selector, {"app": "web", "env": "prod", "canary": "1"})
    assert not selector_matches(selector, {"app": "web", "env": "dev"})


def test_relabel_regexes_are_anchored():
    keep_metrics = [{"source_labels": ["port"], "regex": "metric", "action": "keep"}]
    assert relabel({"port": "metrics"}, keep_metrics) is None
    assert relabel({"port": "metric"}, keep_metrics) == {"port": "metric"}


def test_relabel_replace_expands_groups_and_deletes_on_empty():
    rules = [
        {"source_labels": ["__address__", "port"], "regex": r"([^:]+)(?::\d+)?;(\d+)",
         "replacement": "$1:$2", "target_label": "__address__"},
        {"source_labels": ["missing"], "target_label": "team"},
        {"action": "labelmap", "regex": "__meta_pod_label_(.+)"},
        {"source_labels": ["__address__"], "modulus": 4, "target_label": "shard", "action": "hashmod"},
    ]
    result = relabel({"__address__": "10.0.0.1:8000", "port": "9090", "team": "x", "__meta_pod_label_app": "web"},
                     rules)
    assert result["__address__"] == "10.0.0.1:9090"
    assert "team" not in result  # an empty replacement deletes the target label
    assert result["app"] == "web"
    assert result["shard"] in {"0", "1", "2", "3"}


def test_the_api_pod_annotations_are_understood_by_an_annotation_based_job():
    """The classic prometheus.io/scrape + prometheus.io/port job, role pod, on the real API Deployment."""
    config = """
apiVersion: v1
kind: ConfigMap
metadata: {name: prometheus, namespace: monitoring}
data:
  prometheus.yml: |
    scrape_configs:
      - job_name: annotated-pods
        kubernetes_sd_configs: [{role: pod}]
        relabel_configs:
          - source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_scrape]
            regex: "true"
            action: keep
          - source_labels: [__address__, __meta_kubernetes_pod_annotation_prometheus_io_port]
            regex: '([^:]+)(?::\\d+)?;(\\d+)'
            replacement: $1:$2
            target_label: __address__
"""
    manifests = load_manifests([FIXTURES / "complete" / "api.yaml"]) + parse_documents(config, "config")
    inventory = Inventory(manifests)
    api = next(w for w in inventory.workloads if w.name == "leanvibe-api")
    assert {s.port for s in scraped_ports(inventory, api)} == {9090}


# --- whole runs --------------------------------------------------------------------------------


def test_a_complete_production_shape_passes_every_check():
    findings = run_checks(load_manifests([FIXTURES / "complete"]))
    assert [(f.check, f.severity) for f in findings] == [("image-digest", Severity.INFO)]


def test_findings_never_show_secret_values():
    findings = run_checks(load_manifests([FIXTURES / "secret-data" / "fail.yaml"]))
    text = " ".join(f.message for f in findings)
    assert "hunter2" not in text and "s3cr3t" not in text and "not-a-real-key" not in text


def test_skipped_checks_do_not_run_and_unknown_ids_are_refused():
    path = FIXTURES / "image-digest" / "fail.yaml"
    assert "image-digest" not in {f.check for f in run_checks(load_manifests([path]), skip=("image-digest",))}
    with pytest.raises(ValueError, match="unknown check id"):
        run_checks([], skip=("no-such-check",))


def test_dist_production_has_no_errors():
    """The platform as shipped passes validation; what remains names the construct that owns it."""
    findings = run_checks(load_manifests([DIST / "production"]))
    errors = [f"{f.check}: {f.object}: {f.message}" for f in findings if f.severity is Severity.ERROR]
    assert not errors, "\n".join(errors)


def test_an_annotated_exception_keeps_the_finding_as_info_with_its_reason():
    text = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: kube-state-metrics
  namespace: shop
  annotations:
    validate.leanvibe.io/skip-replicas: "a second replica doubles every series"
    validate.leanvibe.io/skip-spread: ""
spec:
  replicas: 1
  selector: {matchLabels: {app: ksm}}
  template:
    metadata: {labels: {app: ksm}}
    spec: {containers: [{name: ksm, image: example/ksm:2.13.0}]}
"""
    findings = {f.check: f for f in run_checks(parse_documents(text, "ksm"))}
    waived = findings["replicas"]
    assert waived.severity is Severity.INFO
    assert waived.message == "waived (a second replica doubles every series): runs 1 replica: a single node or pod " \
                             "failure is an outage"
    assert findings["probes"].severity is Severity.ERROR  # only the named check is waived


@pytest.mark.slow
@pytest.mark.parametrize("kubernetes_version", ["1.27.0", "1.37.0"])
def test_fixtures_are_real_kubernetes_objects(kubernetes_version):
    """Failing fixtures are wrong in what they say, never in their schema."""
    problems = []
    for path in sorted(FIXTURES.rglob("*.yaml")):
        if path.parent.name in ("malformed", "unusual"):
            continue
        for m in load_manifests([path]):
            if m.group == "monitoring.coreos.com" and crd_schema(m.api_version, m.kind) is None:
                continue  # no CRD in crds/ to validate against
            error = validate_object(m.obj, kubernetes_version)
            if error:
                problems.append(f"{_id(path)}: {m.ref}: {error}")
    assert not problems, "\n".join(problems)


def test_objects_missing_fields_or_invalid_are_reported_not_crashed_on():
    findings = run_checks(load_manifests([FIXTURES / "unusual"]))
    by_check = {(f.check, f.object): f.message for f in findings}
    assert by_check[("pdb-drain", "PodDisruptionBudget default/p")] == (
        "its budget cannot be evaluated: 'abc%' is neither an integer nor a percentage (the API server rejects it)"
    )
    assert by_check[("hpa-target", "HorizontalPodAutoscaler default/h")] == "has no scaleTargetRef kind and name"
    assert by_check[("metrics-scraped", "ConfigMap default/cm")].startswith(
        "prometheus.yml: job x: relabel regex '(' does not compile"
    )


def test_a_check_that_fails_is_one_line_naming_the_check(monkeypatch):
    from leanvibe_constructs.validate import CheckError, registry

    def broken(inventory):
        raise KeyError("spec")
        yield

    broken_check = registry.Check("probes", "workload", Severity.ERROR, "t", "h", broken)
    monkeypatch.setattr(registry, "CHECKS", (broken_check,))
    with pytest.raises(CheckError, match=r"^check probes failed on these manifests: KeyError: 'spec'$"):
        run_checks([])


# --- loading -----------------------------------------------------------------------------------


def test_malformed_yaml_is_one_line_naming_file_and_line():
    with pytest.raises(ManifestError) as error:
        load_manifests([FIXTURES / "malformed"])
    message = str(error.value)
    assert "\n" not in message
    assert "broken.yaml: malformed YAML: line " in message


def test_a_missing_path_and_a_non_object_document_are_one_line_errors(tmp_path):
    with pytest.raises(ManifestError, match=r"^nowhere\.yaml: no such file or directory$"):
        load_manifests(["nowhere.yaml"])
    (tmp_path / "list.yaml").write_text("- just\n- a list\n")
    with pytest.raises(ManifestError, match=r"list\.yaml#1: not a Kubernetes object"):
        load_manifests([tmp_path / "list.yaml"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ManifestError, match="folder contains no .yaml"):
        load_manifests([tmp_path / "empty"])


def test_kind_list_documents_are_expanded():
    text = "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Namespace, metadata: {name: a}}\n"
    assert [m.ref for m in parse_documents(text, "list")] == ["Namespace a"]
