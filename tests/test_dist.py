"""dist/ is what reviewers read and users apply: it must be fresh, valid and readable."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from .manifests import DIST, dist_objects, load_manifests
from .schemas import validate_object

ENVIRONMENTS = ("production", "dev")
COMMITTED = sorted(DIST.glob("*/*.k8s.yaml"))
STANDARD_LABELS = {
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/component",
    "app.kubernetes.io/part-of",
    "app.kubernetes.io/managed-by",
    "app.kubernetes.io/version",
}
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet"}


def _files(root: Path) -> dict[Path, bytes]:
    return {p.relative_to(root): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_dist_matches_a_fresh_synth(fresh_dist):
    # Every file: the manifests and the generated CI workflow (dist/ci/deploy.yml).
    fresh = _files(fresh_dist)
    committed = _files(DIST)
    assert sorted(fresh) == sorted(committed), "charts added or removed: run `make synth` and commit dist/"
    stale = [str(name) for name in fresh if fresh[name] != committed[name]]
    assert not stale, f"dist/ is stale for {stale}: run `make synth` and commit dist/"


def test_synth_is_deterministic(fresh_dist, tmp_path):
    from leanvibe_constructs.platform import synth

    synth(tmp_path)
    for path in fresh_dist.glob("*/*.k8s.yaml"):
        assert (tmp_path / path.relative_to(fresh_dist)).read_bytes() == path.read_bytes()


@pytest.mark.parametrize("path", COMMITTED, ids=[f"{p.parent.name}-{p.stem.removesuffix('.k8s')}" for p in COMMITTED])
def test_chart_snapshot(path: Path, fresh_dist, yaml_snapshot):
    assert (fresh_dist / path.relative_to(DIST)).read_text() == yaml_snapshot


@pytest.mark.parametrize("environment", ENVIRONMENTS)
@pytest.mark.parametrize("kubernetes_version", ["1.27.0", "1.37.0"])
def test_every_object_validates_strictly(environment, kubernetes_version):
    problems = []
    for obj in dist_objects(environment):
        error = validate_object(obj, kubernetes_version)
        if error:
            problems.append(f"{obj['kind']}/{obj['metadata']['name']}: {error}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_every_object_carries_the_standard_labels(environment):
    missing = [
        f"{o['kind']}/{o['metadata']['name']}: {sorted(STANDARD_LABELS - set(o['metadata'].get('labels', {})))}"
        for o in dist_objects(environment)
        if not STANDARD_LABELS <= set(o["metadata"].get("labels", {}))
    ]
    assert not missing, "\n".join(missing)


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_selectors_are_the_labels_minus_version(environment):
    for obj in dist_objects(environment):
        if obj["kind"] not in WORKLOAD_KINDS:
            continue
        labels = obj["spec"]["template"]["metadata"]["labels"]
        selector = obj["spec"]["selector"]["matchLabels"]
        expected = {k: v for k, v in labels.items() if k in STANDARD_LABELS - {"app.kubernetes.io/version"}}
        assert selector == expected, obj["metadata"]["name"]


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_names_are_readable_without_hash_suffixes(environment):
    hashed = re.compile(r"-[0-9a-f]{8}$|c8[0-9a-f]{40}")
    names = [o["metadata"]["name"] for o in dist_objects(environment)]
    assert not [n for n in names if hashed.search(n)]
    for obj in dist_objects(environment):
        assert "cdk8s.io/metadata.addr" not in obj["metadata"].get("labels", {})


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_names_are_unique_per_kind_and_namespace(environment):
    keys = [(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]) for o in dist_objects(environment)]
    assert len(keys) == len(set(keys)), sorted(k for k in keys if keys.count(k) > 1)


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_no_secret_material_in_dist(environment):
    for obj in dist_objects(environment):
        if obj["kind"] == "Secret":
            assert not obj.get("data") and not obj.get("stringData"), obj["metadata"]["name"]
    text = "\n".join(p.read_text() for p in (DIST / environment).glob("*.k8s.yaml"))
    assert not re.search(r"-----BEGIN [A-Z ]*PRIVATE KEY-----", text)
    assert not re.search(r"(?i)(password|passwd|secret|token|routing_key)\s*[:=]\s*['\"]?[A-Za-z0-9+/]{12,}", text)


def test_load_manifests_reads_every_committed_file():
    assert load_manifests(COMMITTED), "dist/ is empty: run `make synth`"


def test_cdk8s_cli_synth_writes_the_same_files_as_main_py(tmp_path):
    import os
    import subprocess

    from .conftest import require_binary
    from .manifests import REPO

    cli = REPO / "node_modules" / ".bin" / "cdk8s"
    if not cli.exists():
        require_binary("cdk8s", "make synth  (installs the pinned cdk8s-cli into node_modules/)")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    subprocess.run(
        [str(cli if cli.exists() else "cdk8s"), "synth", "--no-check-upgrade", "--output", str(tmp_path)],
        cwd=REPO, env=env, check=True, timeout=300, capture_output=True,
    )
    produced = {p.relative_to(tmp_path): p.read_bytes() for p in tmp_path.glob("*/*.k8s.yaml")}
    committed = {p.relative_to(DIST): p.read_bytes() for p in COMMITTED}
    assert produced == committed
