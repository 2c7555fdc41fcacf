"""The generated Prometheus configuration and rules, run through the real promtool.

``promtool test rules`` replays synthetic request counters through the SLO
rules for a 99.9% objective and checks when the burn-rate alerts fire: the
timings are the Google SRE workbook's, derived here from the same numbers the
rules use (not typed in), so a wrong factor or window shows up as a wrong
minute.

Debian's promtool is built without Kubernetes service discovery (its
NEWS.Debian, 1.5.0: "Kubernetes support has been completely removed"), so
``promtool check config`` sees each ``kubernetes_sd_configs`` block swapped
for an equivalent ``file_sd_configs`` block; the test asserts that nothing
else changed, and ``test_monitoring_prometheus_config`` checks the discovery
blocks themselves.
"""

from __future__ import annotations

import copy
import math
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from leanvibe_constructs.monitoring import (
    MonitoringStackProps,
    SLI,
    SLO,
    platform_alert_groups,
    prometheus_config,
    rule_files,
)
from leanvibe_constructs.monitoring._yaml import dump_yaml
from leanvibe_constructs.monitoring.prometheus_config import IN_POD_PATHS
from leanvibe_constructs.monitoring.slo import WORKBOOK_WINDOWS, alert_rules, slo_rule_groups

from .conftest import require_binary

pytestmark = pytest.mark.integration

INSTALL = "apt-get install prometheus   (Debian/Ubuntu; provides promtool)"
RUNBOOKS = "https://runbooks.leanvibe.example"
SERVICE = "leanvibe-api"
AVAILABILITY = SLO(name="requests-availability", service=SERVICE, sli=SLI.errors(), objective=0.999)
BUDGET = 1 - AVAILABILITY.objective
PAGE_SHORT, PAGE_LONG = WORKBOOK_WINDOWS[0], WORKBOOK_WINDOWS[0].long
GOOD = f'http_requests_total{{service="{SERVICE}", code="200"}}'
BAD = f'http_requests_total{{service="{SERVICE}", code="500"}}'


@pytest.fixture(scope="module")
def promtool() -> str:
    return require_binary("promtool", INSTALL)


def run(promtool: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([promtool, *args], cwd=cwd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"promtool {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result


# --- promtool check rules / check config ------------------------------------------------


def test_every_generated_rule_file_passes_promtool_check_rules(promtool, tmp_path):
    files = rule_files(MonitoringStackProps())
    assert set(files) >= {"slo-leanvibe-api-requests-availability.yaml", "platform.yaml"}
    for name, text in files.items():
        (tmp_path / name).write_text(text)
        output = run(promtool, "check", "rules", name, cwd=tmp_path).stdout
        assert "SUCCESS" in output


def _swap_kubernetes_sd(config: dict[str, Any], sd_file: Path) -> dict[str, Any]:
    swapped = copy.deepcopy(config)
    for job in swapped["scrape_configs"]:
        if "kubernetes_sd_configs" in job:
            del job["kubernetes_sd_configs"]
            job["file_sd_configs"] = [{"files": [str(sd_file)]}]
    return swapped


def _relocate(text: str, tmp_path: Path) -> str:
    for in_pod, local in IN_POD_PATHS.items():
        text = text.replace(in_pod, str(tmp_path / local))
    return text


@pytest.mark.parametrize("environment", ["production", "dev"])
def test_generated_prometheus_yml_passes_promtool_check_config(promtool, tmp_path, environment):
    props = MonitoringStackProps.for_environment(environment)
    shipped = prometheus_config(props)
    # Give every in-pod path (rule files, service account token and CA) a local home.
    for local in IN_POD_PATHS.values():
        (tmp_path / local).mkdir(parents=True, exist_ok=True)
    for name, text in rule_files(props).items():
        (tmp_path / IN_POD_PATHS["/etc/prometheus/rules"] / name).write_text(text)
    (tmp_path / IN_POD_PATHS["/var/run/secrets/kubernetes.io/serviceaccount"] / "token").write_text("token")
    (tmp_path / IN_POD_PATHS["/var/run/secrets/kubernetes.io/serviceaccount"] / "ca.crt").write_text("")
    sd_file = tmp_path / "targets.json"
    sd_file.write_text("[]")

    local_config = _swap_kubernetes_sd(yaml.safe_load(_relocate(shipped, tmp_path)), sd_file)
    (tmp_path / "prometheus.yml").write_text(dump_yaml(local_config))

    # Only the paths and the discovery mechanism differ from what ships.
    shipped_config = yaml.safe_load(shipped)
    assert yaml.safe_load(_relocate(dump_yaml(_swap_kubernetes_sd(shipped_config, sd_file)), tmp_path)) == (
        local_config
    )
    output = run(promtool, "check", "config", "prometheus.yml", cwd=tmp_path).stdout
    assert f"SUCCESS: {len(rule_files(props))} rule files found" in output, output
    assert "is valid prometheus config file syntax" in output, output


# --- promtool test rules: burn-rate alert timing ---------------------------------------


def _counter(start: float, per_minute: float, minutes: int) -> str:
    return f"{start:g}+{per_minute:g}x{minutes}"


def _series(segments: list[tuple[int, float, float]]) -> tuple[str, str]:
    """Good and bad request counters for (minutes, requests per minute, error ratio) segments."""
    good, bad = 100_000.0, 1_000.0  # nonzero starts: rate() never extrapolates below zero
    good_parts, bad_parts = [], []
    first = True
    for minutes, per_minute, error_ratio in segments:
        bad_step, good_step = per_minute * error_ratio, per_minute * (1 - error_ratio)
        count = minutes if first else minutes - 1
        start_good = good if first else good + good_step
        start_bad = bad if first else bad + bad_step
        good_parts.append(_counter(start_good, good_step, count))
        bad_parts.append(_counter(start_bad, bad_step, count))
        good, bad = start_good + good_step * count, start_bad + bad_step * count
        first = False
    return " ".join(good_parts), " ".join(bad_parts)


def _alert(severity: str) -> dict[str, Any]:
    """The labels and annotations promtool must report for the page or ticket alert."""
    rule = next(r for r in alert_rules(AVAILABILITY, RUNBOOKS)["rules"] if r["labels"]["sloth_severity"] == severity)
    return {"exp_labels": {**AVAILABILITY.sloth_labels(), **rule["labels"]}, "exp_annotations": rule["annotations"]}


def _group_order(slo: SLO) -> list[str]:
    # Without an explicit order promtool evaluates groups in map order, so an alert
    # could see the previous minute's recordings in one run and this minute's in the
    # next. Recordings first, as they are listed, makes the timings exact and stable.
    return [group["name"] for group in slo_rule_groups(slo, RUNBOOKS)]


def _test_rules(tmp_path: Path, promtool: str, segments, alert_tests, expr_tests=()) -> None:
    (tmp_path / "slo.yaml").write_text(dump_yaml({"groups": slo_rule_groups(AVAILABILITY, RUNBOOKS)}))
    good, bad = _series(segments)
    test = {
        "rule_files": ["slo.yaml"],
        "evaluation_interval": "1m",
        "group_eval_order": _group_order(AVAILABILITY),
        "tests": [
            {
                "interval": "1m",
                "input_series": [{"series": GOOD, "values": good}, {"series": BAD, "values": bad}],
                "alert_rule_test": list(alert_tests),
                "promql_expr_test": list(expr_tests),
            }
        ],
    }
    (tmp_path / "test.yaml").write_text(dump_yaml(test))
    run(promtool, "test", "rules", "test.yaml", cwd=tmp_path)


def _never_fired(severity: str, by_minute: int) -> dict[str, Any]:
    # ALERTS is written by the rule evaluation itself; none over the whole range means never.
    return {
        "expr": f'count_over_time(ALERTS{{alertname="{AVAILABILITY.alert}", severity="{severity}"}}[{by_minute}m])',
        "eval_time": f"{by_minute}m",
        "exp_samples": [],
    }


# Seven clean hours before any incident: every window up to 6h starts full, as in a
# running system (a shorter history would make the 6h window behave like a short one).
CLEAN = 7 * 60


def _fired(severity: str, at_minute: int) -> dict[str, Any]:
    """ALERTS carries the firing page/ticket alert at ``at_minute`` (proves _never_fired can see alerts)."""
    labels = {"alertname": AVAILABILITY.alert, "alertstate": "firing", **_alert(severity)["exp_labels"]}
    matcher = ", ".join(f'{k}="{v}"' for k, v in labels.items())
    return {"expr": f"ALERTS{{{matcher}}}", "eval_time": f"{at_minute}m", "exp_samples": [{"labels": f"ALERTS{{{matcher}}}", "value": 1}]}


def test_total_outage_pages_within_five_minutes(promtool, tmp_path):
    # A total outage burns every window at once: the ticket alert fires too.
    _test_rules(
        tmp_path,
        promtool,
        [(CLEAN, 1000, 0.0), (120, 1000, 1.0)],
        [
            {"eval_time": f"{CLEAN}m", "alertname": AVAILABILITY.alert, "exp_alerts": []},
            {"eval_time": f"{CLEAN + 5}m", "alertname": AVAILABILITY.alert,
             "exp_alerts": [_alert("page"), _alert("ticket")]},
        ],
        [_fired("page", CLEAN + 5), _never_fired("critical", CLEAN)],
    )


def test_two_percent_errors_page_once_the_one_hour_window_crosses_14_4x_and_not_before(promtool, tmp_path):
    error_ratio = 0.02
    factor = PAGE_SHORT.factor(AVAILABILITY.window)
    assert factor == 14.4
    # After m minutes of errors following a clean hour, the 1h error ratio is error_ratio * m / 60.
    crossing = math.floor(60 * factor * BUDGET / error_ratio) + 1  # 44: the first whole minute above 14.4x
    assert crossing == 44
    # 2% is 20x the budget: the slower ticket windows (1x over 6h and 3d) cross first, after
    # about 19 minutes; the page waits for the 1h window.
    _test_rules(
        tmp_path,
        promtool,
        [(CLEAN, 1000, 0.0), (120, 1000, error_ratio)],
        [
            {"eval_time": f"{CLEAN + crossing - 1}m", "alertname": AVAILABILITY.alert,
             "exp_alerts": [_alert("ticket")]},
            {"eval_time": f"{CLEAN + crossing}m", "alertname": AVAILABILITY.alert,
             "exp_alerts": [_alert("page"), _alert("ticket")]},
        ],
        [_never_fired("critical", CLEAN + crossing - 1)],
    )


@pytest.mark.slow
def test_errors_below_the_objective_fire_nothing_over_three_days(promtool, tmp_path):
    three_days = 3 * 24 * 60
    _test_rules(
        tmp_path,
        promtool,
        [(three_days, 10_000, 0.0005)],
        [{"eval_time": f"{three_days}m", "alertname": AVAILABILITY.alert, "exp_alerts": []}],
        [_never_fired("critical", three_days), _never_fired("warning", three_days)],
    )


@pytest.mark.slow
def test_half_a_percent_errors_for_a_day_opens_a_ticket_and_never_pages(promtool, tmp_path):
    day = 24 * 60
    _test_rules(
        tmp_path,
        promtool,
        [(60, 10_000, 0.0), (day, 10_000, 0.005)],
        [{"eval_time": f"{60 + day - 1}m", "alertname": AVAILABILITY.alert, "exp_alerts": [_alert("ticket")]}],
        [_never_fired("critical", 60 + day - 1)],
    )


# --- platform alerts -------------------------------------------------------------------


def test_watchdog_always_fires_and_postgres_without_leader_pages(promtool, tmp_path):
    groups = platform_alert_groups(RUNBOOKS)
    (tmp_path / "platform.yaml").write_text(dump_yaml({"groups": groups}))
    rules = {r["alert"]: r for g in groups for r in g["rules"] if "alert" in r}
    no_leader = rules["PostgresNoLeader"]
    test = {
        "rule_files": ["platform.yaml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    # A three-member Patroni cluster loses its leader lock at minute 10.
                    *(
                        {
                            "series": f'patroni_cluster_unlocked{{namespace="leanvibe", service="leanvibe-postgres", '
                            f'pod="leanvibe-postgres-{i}", component="database"}}',
                            "values": "0x10 1x30",
                        }
                        for i in range(3)
                    ),
                ],
                "alert_rule_test": [
                    {"eval_time": "5m", "alertname": "Watchdog", "exp_alerts": [{
                        "exp_labels": rules["Watchdog"]["labels"],
                        "exp_annotations": rules["Watchdog"]["annotations"],
                    }]},
                    {"eval_time": "10m", "alertname": "PostgresNoLeader", "exp_alerts": []},
                    {"eval_time": "25m", "alertname": "PostgresNoLeader", "exp_alerts": [{
                        "exp_labels": {**no_leader["labels"], "namespace": "leanvibe", "service": "leanvibe-postgres"},
                        "exp_annotations": {
                            **no_leader["annotations"],
                            "description": no_leader["annotations"]["description"]
                            .replace("{{ $labels.service }}", "leanvibe-postgres")
                            .replace("{{ $labels.namespace }}", "leanvibe"),
                        },
                    }]},
                ],
            }
        ],
    }
    (tmp_path / "test.yaml").write_text(dump_yaml(test))
    run(promtool, "test", "rules", "test.yaml", cwd=tmp_path)


def test_latency_slo_pages_when_every_request_is_slow_and_stays_quiet_below_budget(promtool, tmp_path):
    latency = SLO(name="requests-latency", service=SERVICE, sli=SLI.latency(threshold_le="0.5"), objective=0.99)
    (tmp_path / "slo.yaml").write_text(dump_yaml({"groups": slo_rule_groups(latency, RUNBOOKS)}))
    rules = {r["labels"]["sloth_severity"]: r for r in alert_rules(latency, RUNBOOKS)["rules"]}
    page, ticket = (
        {"exp_labels": {**latency.sloth_labels(), **rules[s]["labels"]}, "exp_annotations": rules[s]["annotations"]}
        for s in ("page", "ticket")
    )
    # With a 1% budget the page needs 14.4% slow requests over the last hour: when every
    # request is slow, that is 8.64 minutes in (minute 9), the ticket (1x over 6h) comes first.
    crossing = math.floor(60 * PAGE_SHORT.factor(latency.window) * 0.01 / 1.0) + 1
    assert crossing == 9

    def histogram(slow_share: float) -> list[dict[str, str]]:
        # 1000 requests a minute; those within 0.5 s land in the le="0.5" bucket.
        fast = 1000 * (1 - slow_share)
        count = f"{_counter(100_000, 1000, CLEAN)} {_counter(100_000 + 1000 * (CLEAN + 1), 1000, 59)}"
        bucket = f"{_counter(99_000, 1000, CLEAN)} {_counter(99_000 + 1000 * CLEAN + fast, fast, 59)}"
        return [
            {"series": f'http_request_duration_seconds_count{{service="{SERVICE}"}}', "values": count},
            {"series": f'http_request_duration_seconds_bucket{{service="{SERVICE}", le="0.5"}}', "values": bucket},
        ]

    def case(slow_share: float, before: list[dict[str, Any]], after: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "interval": "1m",
            "input_series": histogram(slow_share),
            "alert_rule_test": [
                {"eval_time": f"{CLEAN + crossing - 1}m", "alertname": latency.alert, "exp_alerts": before},
                {"eval_time": f"{CLEAN + crossing}m", "alertname": latency.alert, "exp_alerts": after},
                {"eval_time": f"{CLEAN + 59}m", "alertname": latency.alert, "exp_alerts": after},
            ],
        }

    test = {
        "rule_files": ["slo.yaml"],
        "evaluation_interval": "1m",
        "group_eval_order": _group_order(latency),
        # 0.5% slow is half the budget: nothing fires.
        "tests": [case(1.0, [ticket], [page, ticket]), case(0.005, [], [])],
    }
    (tmp_path / "test.yaml").write_text(dump_yaml(test))
    run(promtool, "test", "rules", "test.yaml", cwd=tmp_path)


def test_latency_regression_against_last_week_warns_after_thirty_minutes(promtool, tmp_path):
    groups = platform_alert_groups(RUNBOOKS)
    (tmp_path / "platform.yaml").write_text(dump_yaml({"groups": groups}))
    rule = next(r for g in groups for r in g["rules"] if r.get("alert") == "ApiLatencyRegression")
    week = 7 * 24 * 6  # samples at a 10-minute interval
    per_sample = 6000
    # Cumulative share of requests within each bucket: a week of healthy latency
    # (p95 about 183 ms), then a release that moves the tail (p95 about 438 ms).
    healthy = {"0.1": 0.90, "0.25": 0.99, "0.5": 1.0, "+Inf": 1.0}
    regressed = {"0.1": 0.50, "0.25": 0.80, "0.5": 1.0, "+Inf": 1.0}
    series = []
    for le in healthy:
        before, after = per_sample * healthy[le], per_sample * regressed[le]
        values = f"0+{before:g}x{week} {before * week + after:g}+{after:g}x11"
        series.append({"series": f'http_request_duration_seconds_bucket{{service="{SERVICE}", le="{le}"}}',
                       "values": values})
    test = {
        "rule_files": ["platform.yaml"],
        "evaluation_interval": "10m",
        "tests": [
            {
                "interval": "10m",
                "input_series": series,
                "alert_rule_test": [
                    {"eval_time": f"{week * 10}m", "alertname": "ApiLatencyRegression", "exp_alerts": []},
                    # Regressed from minute week+10; 30m of 'for' after the 30m rate window fills.
                    {"eval_time": f"{week * 10 + 30}m", "alertname": "ApiLatencyRegression", "exp_alerts": []},
                    {"eval_time": f"{week * 10 + 110}m", "alertname": "ApiLatencyRegression", "exp_alerts": [
                        {"exp_labels": rule["labels"], "exp_annotations": {
                            **rule["annotations"],
                            "description": rule["annotations"]["description"].replace(
                                "{{ $value | humanizeDuration }}", "437.5ms"),
                        }},
                    ]},
                ],
            }
        ],
    }
    (tmp_path / "test.yaml").write_text(dump_yaml(test))
    run(promtool, "test", "rules", "test.yaml", cwd=tmp_path)
