"""The generated alertmanager.yml, run through the real amtool.

The routing key and chat webhook URL are files mounted from Secrets in the
pod; here they point at files in a temp dir (only those paths are rewritten,
and the test asserts nothing else changed).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from leanvibe_constructs.monitoring import MonitoringStackProps, alertmanager_config
from leanvibe_constructs.monitoring.alertmanager_config import secret_files
from leanvibe_constructs.monitoring.slo import default_slos

from .conftest import require_binary

pytestmark = pytest.mark.integration

INSTALL = "apt-get install prometheus-alertmanager   (Debian/Ubuntu; provides amtool)"
SLO_ALERT = default_slos()[0].alert


@pytest.fixture(scope="module")
def amtool() -> str:
    return require_binary("amtool", INSTALL)


def local_config(props: MonitoringStackProps, tmp_path: Path) -> Path:
    shipped = alertmanager_config(props)
    text = shipped
    for in_pod, secret in secret_files(props).items():
        local = tmp_path / "secrets" / secret / Path(in_pod).name
        local.parent.mkdir(parents=True, exist_ok=True)
        local.write_text("not-a-real-secret\n")
        text = text.replace(in_pod, str(local))
    # Only the secret file paths differ from what ships.
    rewritten = yaml.safe_load(text)
    restored = text
    for in_pod, secret in secret_files(props).items():
        restored = restored.replace(str(tmp_path / "secrets" / secret / Path(in_pod).name), in_pod)
    assert yaml.safe_load(restored) == yaml.safe_load(shipped)
    assert rewritten != yaml.safe_load(shipped) or not secret_files(props)
    path = tmp_path / "alertmanager.yml"
    path.write_text(text)
    return path


def amtool_run(amtool: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([amtool, *args], capture_output=True, text=True, timeout=60)


def routes_test(amtool: str, config: Path, *labels: str) -> str:
    result = amtool_run(amtool, "config", "routes", "test", f"--config.file={config}", *labels)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.mark.parametrize("environment", ["production", "dev"])
def test_generated_alertmanager_yml_passes_amtool_check_config(amtool, tmp_path, environment):
    config = local_config(MonitoringStackProps.for_environment(environment), tmp_path)
    result = amtool_run(amtool, "check-config", str(config))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
    assert "1 inhibit rules" in result.stdout


def test_critical_slo_alert_pages_pagerduty_and_a_warning_does_not(amtool, tmp_path):
    config = local_config(MonitoringStackProps(), tmp_path)
    page = routes_test(amtool, config, f"alertname={SLO_ALERT}", "service=leanvibe-api", "severity=critical",
                       "sloth_severity=page")
    ticket = routes_test(amtool, config, f"alertname={SLO_ALERT}", "service=leanvibe-api", "severity=warning",
                         "sloth_severity=ticket")
    assert page == "pagerduty"
    assert ticket == "chat"
    verified = amtool_run(amtool, "config", "routes", "test", f"--config.file={config}",
                          "--verify.receivers=pagerduty", "severity=warning", f"alertname={SLO_ALERT}")
    assert verified.returncode != 0, "a warning must not reach PagerDuty"


def test_watchdog_and_unknown_severities_never_page(amtool, tmp_path):
    config = local_config(MonitoringStackProps(), tmp_path)
    assert routes_test(amtool, config, "alertname=Watchdog", "severity=none") == "watchdog"
    assert routes_test(amtool, config, "alertname=Something", "severity=info") == "blackhole"
    assert routes_test(amtool, config, "alertname=Something") == "chat"


def test_dev_sends_critical_alerts_to_chat_instead_of_paging(amtool, tmp_path):
    config = local_config(MonitoringStackProps.for_environment("dev"), tmp_path)
    assert routes_test(amtool, config, f"alertname={SLO_ALERT}", "severity=critical") == "chat"
    assert "pagerduty" not in config.read_text()
