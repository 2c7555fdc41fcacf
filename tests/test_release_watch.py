"""The rollback decision (`leanvibe release watch`) against a fake metrics source, and its Prometheus client."""

from __future__ import annotations

import inspect
import io
import json
import re
import subprocess
import urllib.error

import pytest
import yaml
from typer.testing import CliRunner

from leanvibe_constructs.delivery.pipeline import PipelineProps, workflow
from leanvibe_constructs.delivery.release import (
    MetricsUnavailable,
    PrometheusSource,
    error_ratio_query,
    parse_duration,
    parse_instant_value,
    plan,
    watch,
)
from leanvibe_constructs.delivery.release_cli import release_app, watch_command
from leanvibe_constructs.ha_api_deployment import HAApiDeployment, HAApiDeploymentProps
from leanvibe_constructs.monitoring import SLI, MonitoringStack
from leanvibe_constructs.monitoring._promql import parse_matchers
from leanvibe_constructs.validate.model import Inventory
from leanvibe_constructs.validate.prometheus import pod_role_targets, relabel

from .conftest import require_binary
from .manifests import find, synth_chart


class FakeSource:
    """Answers a scripted sequence of ratios (None = no data, an exception = Prometheus down)."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.queries = []

    def error_ratio(self, query):
        self.queries.append(query)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def run(source, *, max_error_ratio=0.01, window_seconds=60, interval_seconds=15, consecutive_breaches=2):
    clock = FakeClock()
    lines = []
    verdict = watch(source, "q", max_error_ratio=max_error_ratio, window_seconds=window_seconds,
                    interval_seconds=interval_seconds, consecutive_breaches=consecutive_breaches,
                    clock=clock, sleep=clock.sleep, log=lines.append)
    return verdict, lines, clock.now


def test_healthy_release_is_watched_for_the_whole_window():
    verdict, lines, elapsed = run(FakeSource(0.0, 0.002, 0.001, 0.0, 0.0))
    assert verdict.healthy
    assert [s.elapsed_seconds for s in verdict.samples] == [0, 15, 30, 45, 60]
    assert elapsed == 60
    assert "worst error ratio 0.002" in verdict.reason


def test_two_breaches_in_a_row_roll_back_at_once():
    verdict, lines, elapsed = run(FakeSource(0.0, 0.05, 0.08, 0.0))
    assert not verdict.healthy
    assert elapsed == 30  # decided at the third sample, not at the end of the window
    assert "for 2 samples in a row (last 0.08 at t=30s)" in verdict.reason
    assert any("breach 2/2" in line for line in lines)


def test_a_single_spike_is_not_a_rollback():
    verdict, _, _ = run(FakeSource(0.0, 0.5, 0.0, 0.5, 0.0))
    assert verdict.healthy


def test_threshold_is_inclusive():
    verdict, _, _ = run(FakeSource(0.01), max_error_ratio=0.01)
    assert verdict.healthy


def test_one_breach_is_enough_when_configured():
    verdict, _, elapsed = run(FakeSource(0.0, 0.02), consecutive_breaches=1)
    assert not verdict.healthy and elapsed == 15


def test_no_data_for_the_whole_window_fails_closed():
    verdict, lines, _ = run(FakeSource(None))
    assert not verdict.healthy
    assert "no data for the whole window (5 samples)" in verdict.reason
    assert "no data (no requests or no series)" in lines[1]


def test_prometheus_down_all_window_fails_closed_and_says_why():
    verdict, lines, _ = run(FakeSource(MetricsUnavailable("Prometheus at http://p did not answer: refused")))
    assert not verdict.healthy
    assert "did not answer: refused" in lines[1]


def test_gaps_do_not_hide_a_healthy_release_or_bridge_two_breaches():
    assert run(FakeSource(None, 0.0, None, 0.0, None))[0].healthy
    # breach, gap, breach: not two in a row
    assert run(FakeSource(0.5, None, 0.5, 0.0, 0.0))[0].healthy


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"max_error_ratio": 1.0}, r"max_error_ratio \(1.0\) must be in \[0, 1\)"),
        ({"window_seconds": 0}, r"window \(0s\) and interval \(15s\) must be positive"),
        ({"consecutive_breaches": 0}, r"consecutive_breaches \(0\) must be >= 1"),
    ],
)
def test_bad_watch_arguments_fail(kwargs, expected):
    with pytest.raises(ValueError, match=expected):
        run(FakeSource(0.0), **kwargs)


# --- Prometheus HTTP API -------------------------------------------------------------


def vector(*values):
    return {"status": "success", "data": {"resultType": "vector",
                                          "result": [{"metric": {}, "value": [1.7e9, v]} for v in values]}}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (vector("0.0125"), 0.0125),
        (vector(), None),  # no series
        (vector("NaN"), None),  # 0/0: no requests in the rate window
        ({"status": "success", "data": {"resultType": "scalar", "result": [1.7e9, "0.5"]}}, 0.5),
    ],
)
def test_instant_query_values(body, expected):
    assert parse_instant_value(body) == expected


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (vector("0.1", "0.2"), "returned 2 series; aggregate it"),
        ({"status": "error", "errorType": "bad_data", "error": "parse error"}, "bad_data: parse error"),
        ({"status": "success", "data": {"resultType": "matrix", "result": []}}, "must be instant"),
    ],
)
def test_unusable_answers_raise(body, expected):
    with pytest.raises(MetricsUnavailable, match=expected):
        parse_instant_value(body)


class FakeResponse(io.BytesIO):
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_prometheus_source_sends_an_instant_query():
    requests = []

    def opener(url, timeout):
        requests.append((url, timeout))
        return FakeResponse(json.dumps(vector("0.003")).encode())

    source = PrometheusSource("http://prometheus:9090/", timeout_seconds=3, opener=opener)
    assert source.error_ratio('sum(rate(x{code=~"5.."}[1m]))') == 0.003
    url, timeout = requests[0]
    assert url.startswith("http://prometheus:9090/api/v1/query?query=sum%28rate%28x%7Bcode%3D~%225..%22")
    assert timeout == 3


def test_prometheus_http_errors_become_metrics_unavailable():
    def bad_query(url, timeout):
        raise urllib.error.HTTPError(url, 400, "Bad Request", {},
                                     io.BytesIO(b'{"status":"error","error":"1:5: parse error"}'))

    with pytest.raises(MetricsUnavailable, match=r"HTTP 400: 1:5: parse error"):
        PrometheusSource("http://p", opener=bad_query).error_ratio("sum(")

    def refused(url, timeout):
        raise urllib.error.URLError("Connection refused")

    with pytest.raises(MetricsUnavailable, match="did not answer"):
        PrometheusSource("http://p", opener=refused).error_ratio("q")


def test_default_query_is_the_live_services_5xx_share():
    query = error_ratio_query("leanvibe-api", "leanvibe")
    assert query == (
        'sum(rate(http_requests_total{namespace="leanvibe",service="leanvibe-api",code=~"5.."}[1m]))'
        ' / sum(rate(http_requests_total{namespace="leanvibe",service="leanvibe-api"}[1m]))'
    )


def test_blue_green_query_judges_one_colour():
    assert ',colour="green",code=~"5.."' in error_ratio_query("leanvibe-api", "leanvibe", colour="green")


# --- the queries read the series the MonitoringStack's scrape produces -----------------------

API_IMAGE = "ghcr.io/leanvibe/agent-hive-api:2.4.1"


def platform(**api_props):
    """The API and the MonitoringStack scraping it, synthesized together."""

    def compose(chart):
        api = HAApiDeployment(chart, "Api", image=API_IMAGE, **api_props)
        MonitoringStack(chart, "Monitoring").scrape(api)

    return synth_chart(compose)


def scraped_labels(objects, workload_name):
    """The target labels Prometheus gives the series of one workload's pod, under the stack's own scrape config.

    Service discovery and relabelling are simulated by the validator's
    implementation (the documented __meta_kubernetes_pod_* labels, each
    job's relabel_configs in order); exactly one job must keep exactly one
    port of the pod.
    """
    config = yaml.safe_load(find(objects, "ConfigMap", "leanvibe-prometheus-config")["data"]["prometheus.yml"])
    workload = next(w for w in Inventory.of(objects).workloads if w.name == workload_name)
    kept = []
    for job in config["scrape_configs"]:
        if not any(sd["role"] == "pod" for sd in job.get("kubernetes_sd_configs", [])):
            continue
        for target in pod_role_targets(workload):
            labels = relabel({"job": job["job_name"], **target.labels}, job["relabel_configs"])
            if labels is not None:
                labels.setdefault("instance", labels["__address__"])
                kept.append({name: value for name, value in labels.items() if not name.startswith("__")})
    assert len(kept) == 1, kept
    return kept[0]


def selectors(query, metric="http_requests_total"):
    """The label matchers of every ``metric{...}`` selector in ``query``."""
    found = [parse_matchers(body) for body in re.findall(rf"{metric}\{{([^}}]*)\}}", query)]
    assert found, query
    return found


def selects(matchers, labels):
    for name, op, value in matchers:
        actual = labels.get(name, "")
        hit = actual == value if op in ("=", "!=") else re.fullmatch(value, actual) is not None
        if hit is (op in ("!=", "!~")):
            return False
    return True


# The one label the API sets itself: the SLO's own error matcher reads it too.
API_OWN_LABELS = {name for name, _, _ in parse_matchers(SLI.errors().error_matchers)}


def test_blue_green_watch_query_uses_the_target_labels_the_monitoring_scrape_sets():
    objects = platform(release="blue_green")
    blue, green = scraped_labels(objects, "leanvibe-api-blue"), scraped_labels(objects, "leanvibe-api-green")
    assert API_OWN_LABELS == {"code"}
    for colour, own, other in (("blue", blue, green), ("green", green, blue)):
        for matchers in selectors(error_ratio_query("leanvibe-api", "leanvibe", colour=colour)):
            target_matchers = [m for m in matchers if m[0] not in API_OWN_LABELS]
            assert {name for name, _, _ in target_matchers} <= set(own), (matchers, own)
            assert selects(target_matchers, own), (matchers, own)
            # Both colours share `service`: only `colour` keeps the idle one out.
            assert not selects(target_matchers, other), (matchers, other)
    for matchers in selectors(error_ratio_query("leanvibe-api", "leanvibe")):
        target_matchers = [m for m in matchers if m[0] not in API_OWN_LABELS]
        assert selects(target_matchers, blue) and selects(target_matchers, green)


def test_rolling_watch_query_selects_the_api_pods():
    labels = scraped_labels(platform(), "leanvibe-api")
    assert "colour" not in labels
    for matchers in selectors(error_ratio_query("leanvibe-api", "leanvibe")):
        assert selects([m for m in matchers if m[0] not in API_OWN_LABELS], labels), (matchers, labels)


def test_argo_analysis_queries_the_stacks_prometheus_with_labels_its_scrape_sets():
    objects = platform(release="blue_green", argo_rollouts=True)
    analysis = find(objects, "AnalysisTemplate", "leanvibe-api-error-ratio")
    prometheus = analysis["spec"]["metrics"][0]["provider"]["prometheus"]
    labels = scraped_labels(objects, "leanvibe-api")
    for matchers in selectors(prometheus["query"]):
        target_matchers = [m for m in matchers if m[0] not in API_OWN_LABELS]
        assert {name for name, _, _ in target_matchers} <= set(labels), (matchers, labels)
        assert selects(target_matchers, labels), (matchers, labels)
    service = find(objects, "Service", "leanvibe-prometheus")
    port = service["spec"]["ports"][0]["port"]
    assert prometheus["address"] == f"http://{service['metadata']['name']}.{service['metadata']['namespace']}.svc:{port}"


def test_every_default_prometheus_url_is_the_monitoring_stacks_service():
    holder = {}

    def compose(chart):
        holder["stack"] = MonitoringStack(chart, "Monitoring")

    objects = synth_chart(compose)
    service = find(objects, "Service", "leanvibe-prometheus")
    expected = (f"http://{service['metadata']['name']}.{service['metadata']['namespace']}.svc:"
                f"{service['spec']['ports'][0]['port']}")
    assert holder["stack"].prometheus_url == expected
    assert PipelineProps().prometheus_url == expected
    assert HAApiDeploymentProps(image=API_IMAGE).argo_prometheus_url == expected
    assert inspect.signature(watch_command).parameters["prometheus_url"].default == expected
    # The pipeline hands it to the watch step.
    deploy_env = workflow(PipelineProps())["jobs"]["deploy"]["env"]
    assert deploy_env["PROMETHEUS_URL"] == expected


@pytest.mark.integration
def test_watch_query_on_series_labelled_like_the_scrape_judges_only_the_live_colour(tmp_path):
    """promtool evaluates the blue-green watch query on counters carrying the scrape's target labels."""
    promtool = require_binary("promtool", "apt-get install prometheus   (Debian/Ubuntu; provides promtool)")
    objects = platform(release="blue_green")

    def series(workload, code):
        labels = {**scraped_labels(objects, workload), "code": code}
        return "http_requests_total{" + ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"

    # Per 15 s: blue answers 90 x 200 and 10 x 500 (10% errors), green 50 and 50.
    input_series = [
        {"series": series("leanvibe-api-blue", "200"), "values": "1000+90x40"},
        {"series": series("leanvibe-api-blue", "500"), "values": "1000+10x40"},
        {"series": series("leanvibe-api-green", "200"), "values": "1000+50x40"},
        {"series": series("leanvibe-api-green", "500"), "values": "1000+50x40"},
    ]
    tests = [
        (error_ratio_query("leanvibe-api", "leanvibe", colour="blue"), 0.1),
        (error_ratio_query("leanvibe-api", "leanvibe", colour="green"), 0.5),
        (error_ratio_query("leanvibe-api", "leanvibe"), 0.3),
    ]
    (tmp_path / "empty.yaml").write_text("groups: []\n")
    (tmp_path / "test.yaml").write_text(yaml.safe_dump({
        "rule_files": ["empty.yaml"],
        "evaluation_interval": "15s",
        "tests": [{
            "interval": "15s",
            "input_series": input_series,
            "promql_expr_test": [
                # promtool compares exactly; rate()'s float division leaves 0.09999999999999999.
                {"expr": f"round({query}, 0.001)", "eval_time": "5m", "exp_samples": [{"labels": "{}", "value": value}]}
                for query, value in tests
            ],
        }],
    }, sort_keys=False))
    result = subprocess.run([promtool, "test", "rules", "test.yaml"], cwd=tmp_path, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(("text", "seconds"), [("90s", 90), ("10m", 600), ("1h30m", 5400), ("45", 45)])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "10 minutes", "1d", "m"])
def test_bad_durations(text):
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


# --- the CLI ----------------------------------------------------------------------------


def test_cli_watch_exits_1_to_roll_back(monkeypatch):
    answers = iter([0.3, 0.3])
    monkeypatch.setattr(PrometheusSource, "error_ratio", lambda self, query: next(answers))
    monkeypatch.setattr("time.sleep", lambda seconds: None)
    result = CliRunner().invoke(release_app, ["watch", "--max-error-ratio", "0.01", "--window", "60s",
                                              "--interval", "1s"])
    assert result.exit_code == 1, result.output
    assert "ROLL BACK" in result.output


def test_cli_watch_rejects_a_bad_window():
    result = CliRunner().invoke(release_app, ["watch", "--max-error-ratio", "0.01", "--window", "soon"])
    assert result.exit_code == 2
    assert "not a duration: 'soon'" in result.output


def test_plan_keeps_namespaced_objects_and_reads_the_live_colour():
    objects = [
        {"kind": "Namespace", "metadata": {"name": "leanvibe"}},
        {"kind": "Deployment", "metadata": {"name": "leanvibe-api-blue", "namespace": "leanvibe"}},
        {"kind": "Service", "metadata": {"name": "leanvibe-api", "namespace": "leanvibe",
                                         "labels": {"leanvibe.dev/release-role": "live"}},
         "spec": {"selector": {"leanvibe.dev/colour": "blue"}}},
        {"kind": "ServiceMonitor", "metadata": {"name": "api", "namespace": "monitoring"}},
    ]
    release = plan(objects, namespace="leanvibe", service="leanvibe-api")
    assert [o["metadata"]["name"] for o in release.objects] == ["leanvibe-api-blue", "leanvibe-api"]
    assert release.skipped == ["Namespace/leanvibe (cluster-scoped)", "ServiceMonitor/api (namespace monitoring)"]
    assert (release.strategy, release.live_colour, release.deployments) == ("blue_green", "blue", ["leanvibe-api-blue"])


def test_plan_of_the_committed_production_dist_is_rolling(tmp_path):
    from .manifests import DIST

    result = CliRunner().invoke(release_app, ["plan", str(DIST / "production"), "--output", str(tmp_path / "r.yaml")])
    assert result.exit_code == 0, result.output
    assert "strategy=rolling" in result.output and "deployments=leanvibe-api" in result.output


def test_release_commands_are_registered_in_the_leanvibe_cli():
    from leanvibe_constructs.cli import app

    result = CliRunner().invoke(app, ["release", "--help"])
    assert result.exit_code == 0
    assert "watch" in result.output and "plan" in result.output
