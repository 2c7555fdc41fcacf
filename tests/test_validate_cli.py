"""The `leanvibe` command line, through Typer's test runner."""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from typer.testing import CliRunner

from leanvibe_constructs.cli import app
from leanvibe_constructs.validate import CHECKS

FIXTURES = Path(__file__).parent / "fixtures" / "validate"
COMPLETE = str(FIXTURES / "complete")
FAILING = str(FIXTURES / "pdb-drain" / "fail.yaml")

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args), env={"COLUMNS": "120", "NO_COLOR": "1"})


def assert_one_line_error(result, *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    for fragment in fragments:
        assert fragment in lines[0]
    assert "Traceback" not in result.output


def test_help_lists_every_command():
    result = invoke("--help")
    assert result.exit_code == 0
    for command in ("synth", "validate", "checks", "diff"):
        assert command in result.stdout


def test_validate_help_explains_formats_and_paths():
    result = invoke("validate", "--help")
    assert result.exit_code == 0
    assert "table|json|junit" in result.stdout
    assert "Manifest files or folders" in result.stdout


def test_a_clean_set_exits_zero_with_a_summary():
    result = invoke("validate", COMPLETE)
    assert result.exit_code == 0, result.output
    assert "0 errors, 0 warnings, 1 info in 11 objects" in result.stdout


def test_an_error_finding_exits_one_and_shows_check_object_and_fix():
    result = invoke("validate", FAILING)
    assert result.exit_code == 1
    assert "pdb-drain" in result.stdout
    assert "PodDisruptionBudget shop/api" in result.stdout
    assert "fix: Keep minAvailable below" in result.stdout


def test_json_report_carries_summary_and_findings():
    result = invoke("validate", "--format", "json", FAILING)
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["summary"]["errors"] == len([f for f in report["findings"] if f["severity"] == "error"]) > 0
    drain = [f for f in report["findings"] if f["check"] == "pdb-drain"]
    assert {f["object"]["name"] for f in drain} == {"api", "db", "web"}
    assert all(f["hint"] and f["object"]["source"].endswith(("fail.yaml#3", "fail.yaml#5", "fail.yaml#7"))
               for f in drain)


def test_junit_report_has_one_case_per_check_and_fails_on_errors():
    result = invoke("validate", "--format", "junit", FAILING)
    assert result.exit_code == 1
    suite = ET.fromstring(result.stdout.split("?>", 1)[1])
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert list(cases) == [c.id for c in CHECKS]
    assert cases["pdb-drain"].find("failure") is not None
    assert "PodDisruptionBudget shop/api" in cases["pdb-drain"].find("failure").text
    assert cases["rbac-wildcard"].find("failure") is None  # nothing to find in that file
    assert int(suite.get("failures")) == sum(1 for c in cases.values() if c.find("failure") is not None)


def test_report_can_be_written_to_a_file(tmp_path):
    out = tmp_path / "report.xml"
    result = invoke("validate", "--format", "junit", "--output", str(out), COMPLETE)
    assert result.exit_code == 0
    assert ET.parse(out).getroot().get("failures") == "0"
    assert "0 errors" in result.stderr


def test_skip_removes_a_check():
    result = invoke("validate", "--skip", "pdb-drain", "--skip", "replicas", FAILING)
    assert "pdb-drain" not in result.stdout


def test_checks_lists_the_registry():
    result = invoke("checks")
    assert result.exit_code == 0
    for check in CHECKS:
        assert check.id in result.stdout


def test_a_missing_path_is_one_line(tmp_path):
    assert_one_line_error(invoke("validate", str(tmp_path / "nope")), "nope: no such file or directory")


def test_malformed_yaml_is_one_line():
    assert_one_line_error(invoke("validate", str(FIXTURES / "malformed")), "broken.yaml: malformed YAML: line")


def test_an_unknown_check_is_one_line():
    assert_one_line_error(invoke("validate", "--skip", "bogus", COMPLETE), "unknown check id(s): bogus")


def test_an_unknown_environment_is_one_line(tmp_path):
    assert_one_line_error(invoke("synth", "--env", "staging", "--outdir", str(tmp_path)),
                          "unknown environment 'staging'")


@pytest.mark.slow
def test_synth_writes_the_requested_environment_and_validate_reads_it(tmp_path):
    result = invoke("synth", "--env", "production", "--outdir", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert f"synthesized {tmp_path / 'production'}" in result.stdout
    assert not (tmp_path / "dev").exists()
    files = sorted(p.name for p in (tmp_path / "production").glob("*.k8s.yaml"))
    assert "00-platform.k8s.yaml" in files
    report = json.loads(invoke("validate", "--format", "json", str(tmp_path / "production")).stdout)
    assert report["summary"]["objects"] > 0
