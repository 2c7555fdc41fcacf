"""The GitHub Actions workflow the library generates for a platform repository.

Three jobs, each on self-hosted runners in the cluster (see ``runners.py``):

- ``test``: install, run the test suite with a JUnit report, publish it as an
  artifact and in the job summary, and fail below ``min_pass_rate``;
- ``synth``: synthesize, fail on drift against the committed dist/, run
  ``leanvibe validate`` and strict schema validation, and write the
  object-level ``leanvibe diff`` against the base commit into the summary;
- ``deploy`` (push to the main branch only, behind the GitHub environment's
  protection rules): server-side apply of the namespaced objects, rollout
  status with a timeout, then either
  - rolling: watch the SLO error ratio; ``kubectl rollout undo`` on failure, or
  - blue-green: deploy the idle colour, smoke-test it through the preview
    Service, switch the live Service, watch the SLO error ratio, and switch
    back on failure; only after a clean watch is the old colour scaled to
    its idle floor.

Generated text comes from :func:`workflow` (a dict) and :func:`workflow_yaml`;
:func:`write_workflow` and the :class:`Pipeline` construct write it to a path.

Third-party actions: exactly one, ``actions/upload-artifact``, pinned by the
commit SHA of its v4.6.2 release (verified: the upstream repository's
package.json at that commit says 4.6.2). The checkout is a plain ``git
fetch`` of the commit instead of ``actions/checkout``: its SHA could not be
verified against the upstream repository here, and the deploy job holds
cluster credentials, so it runs no action code at all.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from constructs import Construct
from pydantic import Field, field_validator, model_validator

from .._props import DnsLabel, HttpPath, Props
from ..ha_api_deployment import COLOUR_LABEL, RELEASE_ROLE_LABEL
from ..monitoring.prometheus_config import prometheus_url as stack_prometheus_url
from .release import parse_duration

UPLOAD_ARTIFACT = "actions/upload-artifact@ea165f8d65b6e75b540449e92b4886f43607fa02"  # v4.6.2

_RUNNER_LABEL = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"
_KUBE_VERSION = re.compile(r"^1\.[0-9]{2}\.[0-9]+$")


def _check_duration(value: str) -> str:
    try:
        if parse_duration(value) <= 0:
            raise ValueError
    except ValueError:
        raise ValueError("must be a positive duration such as '90s', '10m' or '1h30m'") from None
    return value


class PipelineProps(Props):
    """Props of the generated workflow. Every field has a default fit for this repository."""

    workflow_name: str = Field("delivery", min_length=1, description="Workflow name. Default: 'delivery'.")
    environment: DnsLabel = Field(
        "production",
        description="dist/ folder to deploy and the GitHub environment whose protection rules (required "
        "reviewers, wait timer, branch policy) guard the deploy job. Default: 'production'.",
    )
    release: Literal["rolling", "blue_green"] = Field(
        "rolling", description="How the deploy job releases; must match the API's `release` prop. Default: 'rolling'."
    )
    runs_on: str = Field(
        "leanvibe-ci",
        pattern=_RUNNER_LABEL,
        description="runs-on of the test and synth jobs: the name of a runner scale set without cluster "
        "rights. Default: 'leanvibe-ci'.",
    )
    deploy_runs_on: str = Field(
        "leanvibe-deploy",
        pattern=_RUNNER_LABEL,
        description="runs-on of the deploy job: the runner scale set whose ServiceAccount may apply to the "
        "namespace. Separate from runs_on so that pull-request code never runs with deploy rights. "
        "Default: 'leanvibe-deploy'.",
    )
    main_branch: str = Field("main", min_length=1, description="Branch that deploys. Default: 'main'.")
    min_pass_rate: float = Field(
        100.0,
        gt=0,
        le=100,
        description="Percent of executed tests that must pass. Default: 100 (a lower gate, such as 94.4, "
        "is an explicit choice, never a default).",
    )
    install_command: str = Field(
        "make .venv/.installed", min_length=1, description="Installs the toolchain. Default: 'make .venv/.installed'."
    )
    test_command: str = Field(
        ".venv/bin/python -m pytest -q -p no:cacheprovider --junitxml=reports/junit.xml",
        min_length=1,
        description="Runs the tests and writes `junit_path`. Default: pytest with --junitxml=reports/junit.xml.",
    )
    junit_path: str = Field("reports/junit.xml", min_length=1, description="JUnit report. Default: 'reports/junit.xml'.")
    synth_command: str = Field("make synth", min_length=1, description="Writes dist/. Default: 'make synth'.")
    python: str = Field(".venv/bin/python", min_length=1, description="Python with the library. Default: '.venv/bin/python'.")
    leanvibe: str = Field(".venv/bin/leanvibe", min_length=1, description="The leanvibe CLI. Default: '.venv/bin/leanvibe'.")
    dist_dir: str = Field("dist", min_length=1, description="Folder of the committed manifests. Default: 'dist'.")
    kubernetes_versions: tuple[str, ...] = Field(
        ("1.27.0", "1.37.0"),
        min_length=1,
        description="Versions every manifest is validated against (strict). Default: 1.27.0 and 1.37.0.",
    )
    namespace: DnsLabel = Field("leanvibe", description="Namespace the deploy job writes to. Default: 'leanvibe'.")
    api_name: DnsLabel = Field("leanvibe-api", description="The API's `name` prop. Default: 'leanvibe-api'.")
    field_manager: DnsLabel = Field(
        "leanvibe-deploy", description="Server-side apply field manager. Default: 'leanvibe-deploy'."
    )
    rollout_timeout: str = Field(
        "10m", description="kubectl rollout status --timeout per Deployment. Default: '10m'."
    )
    smoke_test_paths: tuple[HttpPath, ...] = Field(
        ("/health/ready",),
        min_length=1,
        description="Paths that must answer 2xx through the preview Service before the switch. "
        "Default: ('/health/ready',).",
    )
    watch_window: str = Field("10m", description="How long the SLO is watched after a release. Default: '10m'.")
    watch_interval: str = Field("15s", description="Time between two samples of the watch. Default: '15s'.")
    max_error_ratio: float = Field(
        0.01,
        gt=0,
        lt=1,
        description="Share of 5xx answers above which the release is rolled back. Default: 0.01, ten times "
        "the error budget rate of a 99.9% SLO.",
    )
    prometheus_url: str = Field(
        stack_prometheus_url(),
        pattern=r"^https?://",
        description="Prometheus base URL, reachable from the deploy runner. Default: the MonitoringStack's "
        "Prometheus Service with its default props, 'http://leanvibe-prometheus.leanvibe.svc:9090'.",
    )
    test_timeout_minutes: int = Field(60, ge=1, le=360, description="Timeout of the test job. Default: 60.")
    synth_timeout_minutes: int = Field(20, ge=1, le=360, description="Timeout of the synth job. Default: 20.")
    deploy_timeout_minutes: int = Field(45, ge=1, le=360, description="Timeout of the deploy job. Default: 45.")

    @field_validator("rollout_timeout", "watch_window", "watch_interval")
    @classmethod
    def _check_durations(cls, value: str) -> str:
        return _check_duration(value)

    @field_validator("kubernetes_versions")
    @classmethod
    def _check_versions(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for version in value:
            if not _KUBE_VERSION.match(version):
                raise ValueError(f"{version!r} is not a full Kubernetes version such as '1.27.0'")
        return value

    @model_validator(mode="after")
    def _check_windows(self) -> PipelineProps:
        if parse_duration(self.watch_interval) * 2 > parse_duration(self.watch_window):
            raise ValueError(
                f"watch_window ({self.watch_window}) must hold at least two samples of watch_interval "
                f"({self.watch_interval}): one bad sample is never enough to roll back"
            )
        if self.runs_on == self.deploy_runs_on:
            raise ValueError(
                f"runs_on ({self.runs_on}) and deploy_runs_on ({self.deploy_runs_on}) must differ: pull-request "
                "code runs on runs_on and must not get the deploy job's cluster rights"
            )
        needed = parse_duration(self.rollout_timeout) * 2 + parse_duration(self.watch_window)
        if needed > self.deploy_timeout_minutes * 60:
            raise ValueError(
                f"deploy_timeout_minutes ({self.deploy_timeout_minutes}) must cover two rollouts of "
                f"rollout_timeout ({self.rollout_timeout}) and the watch_window ({self.watch_window})"
            )
        return self


class _Script(str):
    """A multi-line shell script, dumped as a YAML literal block."""


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(
    _Script, lambda dumper, data: dumper.represent_scalar("tag:yaml.org,2002:str", str(data), style="|")
)


def _script(*lines: str) -> _Script:
    return _Script("\n".join(lines) + "\n")


def _checkout(fetch_base: bool = False) -> dict[str, Any]:
    """Fetch exactly the commit under test with the job's read-only token; no action code runs."""
    fetch = ['git fetch --quiet --no-tags --depth=1 origin "$GITHUB_SHA"']
    if fetch_base:
        # The synth job diffs against the commit before this one (push) or the PR base.
        fetch.append(
            'if [ -n "$BASE_SHA" ] && [ "$BASE_SHA" != "0000000000000000000000000000000000000000" ]; then '
            'git fetch --quiet --no-tags --depth=1 origin "$BASE_SHA"; fi'
        )
    env: dict[str, str] = {"GITHUB_TOKEN": "${{ github.token }}"}
    if fetch_base:
        env["BASE_SHA"] = "${{ github.event.pull_request.base.sha || github.event.before }}"
    return {
        "name": "Check out the commit",
        "env": env,
        "run": _script(
            "set -euo pipefail",
            'echo "checkout: $GITHUB_REPOSITORY@$GITHUB_SHA"',
            "git init --quiet .",
            'git remote add origin "$GITHUB_SERVER_URL/$GITHUB_REPOSITORY"',
            # The token lives only in this step's environment, never in .git/config.
            'auth="$(printf \'x-access-token:%s\' "$GITHUB_TOKEN" | base64 -w0)"',
            "export GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=http.extraHeader",
            'export GIT_CONFIG_VALUE_0="Authorization: basic $auth"',
            *fetch,
            'git checkout --quiet --detach "$GITHUB_SHA"',
        ),
    }


def _install(p: PipelineProps) -> dict[str, Any]:
    return {"name": "Install the toolchain", "env": {"INSTALL": p.install_command}, "run": 'eval "$INSTALL"'}


def test_job(p: PipelineProps) -> dict[str, Any]:
    return {
        "name": "Test",
        "runs-on": p.runs_on,
        "timeout-minutes": p.test_timeout_minutes,
        "permissions": {"contents": "read"},
        # Code from forks never runs on in-cluster runners.
        "if": "github.event_name == 'push' || github.event.pull_request.head.repo.full_name == github.repository",
        "steps": [
            _checkout(),
            _install(p),
            {
                "name": "Run the test suite",
                "id": "tests",
                "env": {"TEST_COMMAND": p.test_command, "JUNIT": p.junit_path},
                "run": _script(
                    'mkdir -p "$(dirname "$JUNIT")"',
                    "# The gate below decides pass or fail from the JUnit report, so a failing test",
                    "# does not stop the job here (a runner crash leaves no report and fails the gate).",
                    'status=0; eval "$TEST_COMMAND" || status=$?',
                    'echo "tests: test command exited $status"',
                ),
            },
            {
                "name": "Publish the JUnit report",
                "if": "always()",
                "uses": UPLOAD_ARTIFACT,
                "with": {"name": "junit", "path": p.junit_path, "if-no-files-found": "error", "retention-days": 30},
            },
            {
                "name": f"Gate: pass rate >= {p.min_pass_rate:g}%",
                "env": {"PYTHON": p.python, "JUNIT": p.junit_path, "MIN_PASS_RATE": f"{p.min_pass_rate:g}"},
                "run": _script(
                    '"$PYTHON" -m leanvibe_constructs.delivery.junit "$JUNIT" '
                    '--min-pass-rate "$MIN_PASS_RATE" --summary "$GITHUB_STEP_SUMMARY"',
                ),
            },
        ],
    }


def synth_job(p: PipelineProps) -> dict[str, Any]:
    dist = f"{p.dist_dir}/{p.environment}"
    return {
        "name": "Synth and review",
        "runs-on": p.runs_on,
        "needs": "test",
        "timeout-minutes": p.synth_timeout_minutes,
        "permissions": {"contents": "read"},
        "steps": [
            _checkout(fetch_base=True),
            _install(p),
            {"name": "Synthesize", "env": {"SYNTH": p.synth_command}, "run": 'eval "$SYNTH"'},
            {
                "name": "Fail on drift against the committed manifests",
                "env": {"DIST": p.dist_dir},
                "run": _script(
                    "set -euo pipefail",
                    'if ! git diff --quiet -- "$DIST" || [ -n "$(git status --porcelain -- "$DIST")" ]; then',
                    '  echo "::error::$DIST is stale: synthesize and commit it"',
                    '  git status --short -- "$DIST"',
                    '  git diff --stat -- "$DIST"',
                    "  exit 1",
                    "fi",
                    'echo "drift: $DIST matches a fresh synth"',
                ),
            },
            {
                "name": "leanvibe validate",
                "env": {"LEANVIBE": p.leanvibe, "DIST": dist},
                "run": '"$LEANVIBE" validate "$DIST"',
            },
            {
                "name": "Validate against the Kubernetes schemas",
                "env": {"PYTHON": p.python, "DIST": dist, "VERSIONS": " ".join(p.kubernetes_versions)},
                "run": _script(
                    "set -euo pipefail",
                    "# Built-in kinds, strictly; custom resources are checked against crds/ by the test suite.",
                    "for version in $VERSIONS; do",
                    '  echo "schemas: Kubernetes $version (strict)"',
                    '  "$PYTHON" -m kubernetes_validate --strict --quiet -k "$version" "$DIST"/*.k8s.yaml',
                    "done",
                ),
            },
            {
                "name": "Object diff into the job summary",
                "env": {
                    "LEANVIBE": p.leanvibe,
                    "ENVIRONMENT": p.environment,
                    "DIST": p.dist_dir,
                    "BASE_SHA": "${{ github.event.pull_request.base.sha || github.event.before }}",
                },
                "run": _script(
                    "set -uo pipefail",
                    '{ echo "## Manifest changes ($ENVIRONMENT)"; echo; echo \'```text\'; } >> "$GITHUB_STEP_SUMMARY"',
                    'if [ -z "$BASE_SHA" ] || [ "$BASE_SHA" = "0000000000000000000000000000000000000000" ]; then',
                    '  echo "no base commit (first push): nothing to diff against" >> "$GITHUB_STEP_SUMMARY"',
                    "  status=0",
                    "else",
                    '  "$LEANVIBE" diff --against "$BASE_SHA" --outdir "$DIST" --env "$ENVIRONMENT" '
                    '>> "$GITHUB_STEP_SUMMARY"; status=$?',
                    "fi",
                    'echo \'```\' >> "$GITHUB_STEP_SUMMARY"',
                    "# leanvibe diff exits 1 when objects differ (expected in a change) and 2 on an error.",
                    'echo "diff: leanvibe diff exited $status"',
                    '[ "$status" -le 1 ]',
                ),
            },
        ],
    }


def _deploy_env(p: PipelineProps) -> dict[str, str]:
    return {
        "NAMESPACE": p.namespace,
        "API": p.api_name,
        "DIST": f"{p.dist_dir}/{p.environment}",
        "FIELD_MANAGER": p.field_manager,
        "ROLLOUT_TIMEOUT": p.rollout_timeout,
        "LEANVIBE": p.leanvibe,
        "PROMETHEUS_URL": p.prometheus_url,
        "MAX_ERROR_RATIO": f"{p.max_error_ratio:g}",
        "WATCH_WINDOW": p.watch_window,
        "WATCH_INTERVAL": p.watch_interval,
    }


_APPLY = 'kubectl apply --server-side --force-conflicts --field-manager="$FIELD_MANAGER" -f "$RUNNER_TEMP/release.yaml"'


def _plan_step() -> dict[str, Any]:
    return {
        "name": "Plan: namespaced objects to apply",
        "id": "plan",
        "run": _script(
            "set -euo pipefail",
            '"$LEANVIBE" release plan "$DIST" --namespace "$NAMESPACE" --service "$API" '
            '--output "$RUNNER_TEMP/release.yaml" | tee -a "$GITHUB_OUTPUT"',
        ),
    }


def _watch_step(blue_green: bool = False) -> dict[str, Any]:
    command = (
        '"$LEANVIBE" release watch --prometheus-url "$PROMETHEUS_URL" --namespace "$NAMESPACE" '
        '--service "$API" --max-error-ratio "$MAX_ERROR_RATIO" --window "$WATCH_WINDOW" '
        '--interval "$WATCH_INTERVAL"'
    )
    step: dict[str, Any] = {"name": "Watch the SLO error ratio", "id": "watch"}
    if blue_green:
        # Both colours share the `service` label; judge the one that now takes the traffic.
        step["env"] = {"NEW": "${{ steps.colours.outputs.new }}"}
        command += ' --colour "$NEW"'
    step["run"] = _script(command)
    return step


def _rolling_steps() -> list[dict[str, Any]]:
    return [
        _plan_step(),
        {
            "name": "Apply (server-side)",
            "id": "apply",
            "run": _script("set -euo pipefail", 'echo "release: applying to $NAMESPACE"', _APPLY),
        },
        {
            "name": "Wait for the rollout",
            "env": {"DEPLOYMENTS": "${{ steps.plan.outputs.deployments }}"},
            "run": _script(
                "set -euo pipefail",
                "for deployment in $DEPLOYMENTS; do",
                '  echo "release: waiting for deployment/$deployment (timeout $ROLLOUT_TIMEOUT)"',
                '  kubectl rollout status "deployment/$deployment" -n "$NAMESPACE" --timeout="$ROLLOUT_TIMEOUT"',
                "done",
            ),
        },
        _watch_step(),
        {
            "name": "Roll back: kubectl rollout undo",
            "if": "failure() && steps.apply.outcome == 'success'",
            "env": {"DEPLOYMENTS": "${{ steps.plan.outputs.deployments }}"},
            "run": _script(
                "set -uo pipefail",
                'echo "::error::release failed: undoing the rollout in $NAMESPACE"',
                "status=0",
                "for deployment in $DEPLOYMENTS; do",
                '  echo "rollback: kubectl rollout undo deployment/$deployment"',
                '  kubectl rollout undo "deployment/$deployment" -n "$NAMESPACE" || status=1',
                '  kubectl rollout status "deployment/$deployment" -n "$NAMESPACE" --timeout="$ROLLOUT_TIMEOUT" '
                "|| status=1",
                "done",
                'echo "rollback: finished (status $status); revert the commit so dist/ matches the cluster again"',
                'exit "$status"',
            ),
        },
    ]


def _blue_green_steps(p: PipelineProps) -> list[dict[str, Any]]:
    live = f"{RELEASE_ROLE_LABEL}=live"
    switch = "steps.colours.outputs.switch == 'true'"
    smoke = " ".join(p.smoke_test_paths)
    return [
        _plan_step(),
        {
            "name": "Colours: live in the cluster, live in the commit",
            "id": "colours",
            "env": {"TARGET": "${{ steps.plan.outputs.live_colour }}"},
            "run": _script(
                "set -euo pipefail",
                'current="$(kubectl get service "$API" -n "$NAMESPACE" --ignore-not-found '
                f"-o jsonpath='{{.spec.selector.{COLOUR_LABEL.replace('.', chr(92) + '.')}}}')\"",
                'if [ -z "$TARGET" ]; then echo "::error::$API has no colour selector in $DIST: '
                'is the API release blue_green?"; exit 1; fi',
                'if [ -n "$current" ] && [ "$current" != "$TARGET" ]; then switch=true; else switch=false; fi',
                'echo "release: cluster serves ${current:-nothing yet}, commit asks for $TARGET, switch=$switch"',
                '{ echo "old=$current"; echo "new=$TARGET"; echo "switch=$switch"; } >> "$GITHUB_OUTPUT"',
            ),
        },
        {
            "name": "Deploy the idle colour",
            "id": "apply",
            "env": {"OLD": "${{ steps.colours.outputs.old }}", "SWITCH": "${{ steps.colours.outputs.switch }}"},
            "run": _script(
                "set -euo pipefail",
                'if [ "$SWITCH" = "true" ]; then',
                "  # Everything but the two Services and the live colour's Deployment: the live",
                "  # colour keeps serving, at full size, until the switch has proved itself.",
                '  echo "release: deploying $API-$(test "$OLD" = blue && echo green || echo blue), '
                'leaving $API-$OLD and the Services as they are"',
                f'  {_APPLY} -l "{COLOUR_LABEL}!=$OLD,{RELEASE_ROLE_LABEL} notin (live,preview)"',
                "else",
                '  echo "release: no colour switch; applying everything"',
                f"  {_APPLY}",
                "fi",
            ),
        },
        {
            "name": "Wait for the rollout",
            "env": {"NEW": "${{ steps.colours.outputs.new }}"},
            "run": _script(
                "set -euo pipefail",
                'echo "release: waiting for deployment/$API-$NEW (timeout $ROLLOUT_TIMEOUT)"',
                'kubectl rollout status "deployment/$API-$NEW" -n "$NAMESPACE" --timeout="$ROLLOUT_TIMEOUT"',
            ),
        },
        {
            "name": "Smoke test through the preview Service",
            "if": switch,
            "env": {"NEW": "${{ steps.colours.outputs.new }}", "SMOKE_PATHS": smoke},
            "run": _script(
                "set -euo pipefail",
                "# The preview Service selects the idle colour; point it at the one being released.",
                f"kubectl patch service \"$API-preview\" -n \"$NAMESPACE\" --type=merge "
                f"-p \"{{\\\"spec\\\":{{\\\"selector\\\":{{\\\"{COLOUR_LABEL}\\\":\\\"$NEW\\\"}}}}}}\"",
                "for path in $SMOKE_PATHS; do",
                '  url="http://$API-preview.$NAMESPACE.svc$path"',
                '  echo "smoke: GET $url"',
                '  curl --fail --silent --show-error --max-time 5 --retry 5 --retry-delay 3 --retry-all-errors '
                '-o /dev/null -w "smoke: %{http_code} in %{time_total}s\\n" "$url"',
                "done",
            ),
        },
        {
            "name": "Switch the live Service",
            "id": "switch",
            "if": switch,
            "env": {"NEW": "${{ steps.colours.outputs.new }}"},
            "run": _script(
                "set -euo pipefail",
                'echo "release: switching service/$API to $NEW"',
                f'{_APPLY} -l "{live}"',
            ),
        },
        _watch_step(blue_green=True),
        {
            "name": "Finish: scale the old colour to its idle floor",
            "if": switch,
            "env": {"OLD": "${{ steps.colours.outputs.old }}"},
            "run": _script(
                "set -euo pipefail",
                'echo "release: healthy; applying the rest ($API-$OLD at its idle size, preview -> $OLD)"',
                _APPLY,
            ),
        },
        {
            "name": "Roll back: switch the live Service back",
            "if": "failure() && steps.switch.outcome == 'success'",
            "env": {"OLD": "${{ steps.colours.outputs.old }}", "NEW": "${{ steps.colours.outputs.new }}"},
            "run": _script(
                "set -euo pipefail",
                'echo "::error::release of $NEW failed: switching service/$API back to $OLD"',
                f"kubectl patch service \"$API\" -n \"$NAMESPACE\" --type=merge "
                f"-p \"{{\\\"spec\\\":{{\\\"selector\\\":{{\\\"{COLOUR_LABEL}\\\":\\\"$OLD\\\"}}}}}}\"",
                "kubectl get service \"$API\" -n \"$NAMESPACE\" "
                "-o jsonpath='rollback: service/{.metadata.name} now selects {.spec.selector}{\"\\n\"}'",
                'echo "rollback: $API-$OLD serves again; revert the commit so dist/ matches the cluster"',
            ),
        },
        {
            "name": "Roll back: undo an in-place rollout",
            "if": f"failure() && steps.apply.outcome == 'success' && !({switch})",
            "env": {"NEW": "${{ steps.colours.outputs.new }}"},
            "run": _script(
                "set -euo pipefail",
                'echo "::error::release failed without a colour switch: undoing deployment/$API-$NEW"',
                'kubectl rollout undo "deployment/$API-$NEW" -n "$NAMESPACE"',
                'kubectl rollout status "deployment/$API-$NEW" -n "$NAMESPACE" --timeout="$ROLLOUT_TIMEOUT"',
            ),
        },
    ]


def deploy_job(p: PipelineProps) -> dict[str, Any]:
    steps = _rolling_steps() if p.release == "rolling" else _blue_green_steps(p)
    return {
        "name": f"Deploy {p.environment} ({p.release.replace('_', '-')})",
        "runs-on": p.deploy_runs_on,
        "needs": ["test", "synth"],
        "if": f"github.event_name == 'push' && github.ref == 'refs/heads/{p.main_branch}'",
        "environment": p.environment,
        "timeout-minutes": p.deploy_timeout_minutes,
        "permissions": {"contents": "read"},
        # One release at a time; a queued one waits rather than cancelling a release mid-switch.
        "concurrency": {"group": f"deploy-{p.environment}", "cancel-in-progress": False},
        "env": _deploy_env(p),
        "steps": [_checkout(), _install(p), *steps],
    }


def workflow(props: PipelineProps | None = None, **kwargs: Any) -> dict[str, Any]:
    """The workflow as a dict (validated props; PropsError on bad input)."""
    p = PipelineProps.build(props, **kwargs)
    return {
        "name": p.workflow_name,
        "on": {"push": {"branches": [p.main_branch]}, "pull_request": {"branches": [p.main_branch]}},
        "permissions": {},
        "concurrency": {
            "group": "${{ github.workflow }}-${{ github.ref }}",
            # Superseded pull-request runs are cancelled; runs on the main branch never are.
            "cancel-in-progress": "${{ github.event_name == 'pull_request' }}",
        },
        "jobs": {"test": test_job(p), "synth": synth_job(p), "deploy": deploy_job(p)},
    }


HEADER = "# Generated by leanvibe_constructs.delivery.pipeline; edit the PipelineProps, not this file.\n"


def workflow_yaml(props: PipelineProps | None = None, **kwargs: Any) -> str:
    text = yaml.dump(workflow(props, **kwargs), Dumper=_Dumper, sort_keys=False, width=1000, default_flow_style=False)
    # YAML dumpers drop comments; the tag a SHA stands for is written back by hand.
    return HEADER + text.replace(f"uses: {UPLOAD_ARTIFACT}\n", f"uses: {UPLOAD_ARTIFACT} # v4.6.2\n")


def write_workflow(path: str | Path, props: PipelineProps | None = None, **kwargs: Any) -> Path:
    """Write the workflow to ``path`` (e.g. ``.github/workflows/delivery.yml``); returns the path."""
    text = workflow_yaml(props, **kwargs)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


class Pipeline(Construct):
    """Writes the workflow at synthesis time, next to the manifests.

    ``Pipeline(app, "Pipeline", path="dist/ci/deploy.yml", release="blue_green")``;
    the file is written when the construct is created, so ``synth`` and a
    plain script produce the same bytes.
    """

    def __init__(self, scope: Construct, id: str, *, path: str | Path, props: PipelineProps | None = None,
                 **kwargs: Any):
        super().__init__(scope, id)
        self.props = PipelineProps.build(props, **kwargs)
        self.path = write_workflow(path, self.props)
