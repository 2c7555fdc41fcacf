"""checkov's Kubernetes checks pass on dist/production; every exception is written on the object it excuses.

checkov runs from its own virtualenv (``make test`` creates .venv-tools/checkov:
checkov pins ``packaging`` and conflicts with pytest 9 in the main venv). A
check may only be skipped by a ``checkov.io/skip<N>: CKV_..=<why>`` annotation
on the object, with a one-line justification, never by a command-line skip,
and the README lists every skip.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import require_binary
from .manifests import DIST, REPO, dist_objects

CHECKOV_DIR = REPO / ".venv-tools" / "checkov" / "bin"
SKIP_ANNOTATION = re.compile(r"^checkov\.io/skip[0-9]+$")
SKIP_VALUE = re.compile(r"^(?P<check>CKV2?_K8S_[0-9]+)=(?P<why>[^\n=]{20,300})$")


def run_checkov(directory: Path) -> dict[str, Any]:
    binary = require_binary("checkov", "make test (creates .venv-tools/checkov)", extra_dirs=(str(CHECKOV_DIR),))
    completed = subprocess.run(
        [binary, "--framework", "kubernetes", "--directory", str(directory), "--output", "json",
         # No network: no policy metadata download, no version check.
         "--skip-download", "--soft-fail"],
        capture_output=True, text=True, timeout=600, cwd=directory,
        env={**os.environ, "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false", "LOG_LEVEL": "ERROR"},
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    report = json.loads(completed.stdout)
    if isinstance(report, list):
        (report,) = [r for r in report if r.get("check_type") == "kubernetes"]
    assert report.get("check_type") == "kubernetes", f"checkov found nothing to scan: {report}"
    return report


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    return run_checkov(DIST / "production")


def test_checkov_scanned_the_manifests(report):
    assert report["summary"]["parsing_errors"] == 0
    assert report["summary"]["passed"] > 0


def test_no_failed_checks(report):
    failed = [
        f"{c['check_id']} {c['check_name']}: {c['resource']} ({c['file_path']})"
        for c in report["results"]["failed_checks"]
    ]
    assert not failed, "\n".join(failed)


def test_every_skip_is_an_annotation_with_a_one_line_justification():
    problems = []
    for obj in dist_objects("production"):
        for key, value in (obj["metadata"].get("annotations") or {}).items():
            if key.startswith("checkov.io/") and not (SKIP_ANNOTATION.match(key) and SKIP_VALUE.match(value)):
                problems.append(f"{obj['kind']}/{obj['metadata']['name']}: {key}: {value!r}")
    assert not problems, "expected 'checkov.io/skipN: CKV_K8S_NN=<20-300 characters why>':\n" + "\n".join(problems)


def test_skipped_checks_carry_their_justification(report):
    unexplained = [
        f"{c['check_id']} on {c['resource']}"
        for c in report["results"]["skipped_checks"]
        if len(c["check_result"].get("suppress_comment") or "") < 20
    ]
    assert not unexplained, unexplained


def test_readme_lists_every_skipped_check(report):
    readme = (REPO / "README.md").read_text()
    missing = sorted({c["check_id"] for c in report["results"]["skipped_checks"]} - set(re.findall(r"CKV2?_K8S_\d+", readme)))
    assert not missing, f"README.md does not list the skipped checks {missing}"


@pytest.fixture(scope="module")
def harness(tmp_path_factory) -> dict[str, Any]:
    """One checkov run over objects with known answers (one run: checkov takes seconds to start)."""
    from leanvibe_constructs import HAApiDeployment
    from leanvibe_constructs._k8s import checkov_skips
    from leanvibe_constructs._pod import image_checkov_skips

    from .manifests import synth_chart

    folder = tmp_path_factory.mktemp("checkov-harness")

    def privileged_pod(name: str, annotations: dict[str, str] | None = None) -> dict[str, Any]:
        return {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "x", **({"annotations": annotations} if annotations else {})},
            "spec": {"containers": [{"name": "c", "image": "example:1", "securityContext": {"privileged": True}}]},
        }

    (folder / "failing.yaml").write_text(yaml.safe_dump(privileged_pod("failing"), sort_keys=False))
    skipped = privileged_pod("skipped", {"checkov.io/skip1": "CKV_K8S_16=the harness test needs one skipped check"})
    (folder / "skipped.yaml").write_text(yaml.safe_dump(skipped, sort_keys=False))
    image = "ghcr.io/leanvibe/agent-hive-api:2.4.1"
    objects = synth_chart(lambda chart: HAApiDeployment(chart, "Api", image=image))
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    deployment["metadata"]["annotations"] = checkov_skips(image_checkov_skips(image))
    (folder / "api.yaml").write_text(yaml.safe_dump(deployment, sort_keys=False))
    return run_checkov(folder)["results"]


def _checks(results: list[dict[str, Any]], resource_part: str) -> set[str]:
    return {c["check_id"] for c in results if resource_part in c["resource"]}


def test_a_failing_object_is_reported_and_an_annotation_skips_it(harness):
    assert "CKV_K8S_16" in _checks(harness["failed_checks"], "Pod.x.failing")
    assert "CKV_K8S_16" not in _checks(harness["failed_checks"], "Pod.x.skipped")
    assert {(c["check_id"], c["check_result"]["suppress_comment"]) for c in harness["skipped_checks"]
            if "Pod.x.skipped" in c["resource"]} == {("CKV_K8S_16", "the harness test needs one skipped check")}


def test_image_skips_excuse_a_tag_pinned_image_and_vanish_with_a_digest(harness):
    from leanvibe_constructs._pod import image_checkov_skips

    assert {"CKV_K8S_15", "CKV_K8S_43"} <= _checks(harness["skipped_checks"], "Deployment.leanvibe.leanvibe-api")
    assert not {"CKV_K8S_15", "CKV_K8S_43"} & _checks(harness["failed_checks"], "Deployment.leanvibe.leanvibe-api")
    assert image_checkov_skips("ghcr.io/leanvibe/agent-hive-api:2.4.1@sha256:" + "0" * 64) == {}


@pytest.mark.parametrize(
    ("skips", "message"),
    [
        ({"CKV_AWS_1": "a reason long enough to be read"}, "not a Kubernetes check id"),
        ({"CKV_K8S_8": "too short"}, "one line of 20 to 300 characters"),
        ({"CKV_K8S_8": "two lines\nof reason, which checkov would cut"}, "one line"),
        ({"CKV_K8S_8": "a reason with key=value in it crashes checkov"}, "without '='"),
    ],
)
def test_checkov_skips_refuses_bad_ids_and_reasons(skips, message):
    from leanvibe_constructs._k8s import checkov_skips

    with pytest.raises(ValueError, match=message):
        checkov_skips(skips)
