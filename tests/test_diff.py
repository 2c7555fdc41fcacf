"""`leanvibe diff`: object-level changes with field paths, secrets redacted, exit 1 on any change."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from leanvibe_constructs.cli import app
from leanvibe_constructs.diff import (
    MISSING,
    DiffError,
    diff_files,
    field_changes,
    read_folder,
    read_git_folder,
)

FIXTURES = Path(__file__).parent / "fixtures" / "validate" / "diff"
runner = CliRunner()


@pytest.fixture
def fixture_diff():
    return diff_files(read_folder(FIXTURES / "before"), read_folder(FIXTURES / "after"))


def _lines(result) -> list[str]:
    return [line for change in result.changed for c in change.changes for line in c.describe()]


def test_finds_the_changed_replica_count(fixture_diff):
    deployment = next(c for c in fixture_diff.changed if c.ref == "Deployment shop/web")
    replicas = next(c for c in deployment.changes if c.path == "spec.replicas")
    assert (replicas.old, replicas.new) == (3, 5)
    assert "spec.replicas: 3 -> 5" in _lines(fixture_diff)


def test_finds_the_new_and_the_removed_object(fixture_diff):
    assert [m.ref for m in fixture_diff.added] == ["PodDisruptionBudget shop/web"]
    assert [m.ref for m in fixture_diff.removed] == ["Service shop/web-legacy"]


def test_containers_are_matched_by_name_not_position(fixture_diff):
    lines = _lines(fixture_diff)
    assert 'spec.template.spec.containers[web].image: "example/web:1.0.0" -> "example/web:1.1.0"' in lines
    assert 'spec.template.spec.containers (order): ["web", "proxy"] -> ["proxy", "web"]' in lines
    assert not any("containers[proxy]" in line for line in lines)


def test_label_keys_with_dots_are_quoted_in_paths(fixture_diff):
    assert 'metadata.labels["app.kubernetes.io/version"]: "1.0.0" -> "1.1.0"' in _lines(fixture_diff)


def test_secret_values_are_redacted(fixture_diff):
    secret = next(c for c in fixture_diff.changed if c.ref == "Secret shop/web-db")
    assert [line for c in secret.changes for line in c.describe()] == ["stringData.password: changed (value redacted)"]
    everything = repr(fixture_diff) + "\n".join(_lines(fixture_diff))
    assert "old-secret-value" not in everything and "new-secret-value" not in everything


def test_generated_config_text_is_shown_as_a_unified_diff(fixture_diff):
    lines = _lines(fixture_diff)
    assert 'data["app.conf"]: text changed' in lines
    assert "    -workers = 4" in lines and "    +workers = 8" in lines


def test_field_changes_of_added_and_removed_fields():
    changes = field_changes({"a": 1, "b": {"c": 2}}, {"b": {"c": 2, "d": [1]}})
    assert [(c.path, c.old, c.new) for c in changes] == [("a", 1, MISSING), ("b.d", MISSING, [1])]
    assert changes[0].describe() == ["a: removed (was 1)"]


def test_same_objects_in_another_order_still_count_as_a_difference():
    text = (FIXTURES / "before" / "api.yaml").read_text()
    documents = text.split("---\n")
    result = diff_files({"api.yaml": text}, {"api.yaml": "---\n".join(reversed(documents))})
    assert not (result.added or result.removed or result.changed)
    assert result.reformatted == ["api.yaml"] and not result.empty


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path) -> Path:
    """A git repository whose committed dist/ is the 'before' fixture."""
    root = tmp_path / "repo"
    shutil.copytree(FIXTURES / "before", root / "dist" / "production")
    _git(root, "init", "-q")
    _git(root, "add", ".")
    _git(root, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "before")
    return root


def test_reads_a_committed_folder_from_a_git_ref(repo):
    (repo / "dist" / "production" / "api.yaml").write_text("changed: in the working tree\n")
    committed = read_git_folder("HEAD", repo / "dist" / "production")
    assert committed == {"api.yaml": (FIXTURES / "before" / "api.yaml").read_text()}
    result = diff_files(committed, read_folder(FIXTURES / "after"))
    assert "spec.replicas: 3 -> 5" in _lines(result)


def test_an_unknown_git_ref_is_one_line(repo):
    with pytest.raises(DiffError) as error:
        read_git_folder("no-such-branch", repo / "dist" / "production")
    assert "\n" not in str(error.value) and str(error.value).startswith("git rev-parse")


# --- the command, against a real synthesis ------------------------------------------------------


def _copy_dist(fresh_dist: Path, target: Path) -> Path:
    shutil.copytree(fresh_dist / "production", target / "production")
    return target


def _edit_api_chart(outdir: Path) -> None:
    """Change a Deployment's replica count and drop one object, as a stale dist/ would have.

    The API Deployment leaves its count to the HPA, so the capacity reserve's is changed.
    """
    path = outdir / "production" / "20-api.k8s.yaml"
    documents = [d for d in yaml.safe_load_all(path.read_text()) if d]
    deployment = next(d for d in documents if d["kind"] == "Deployment" and "replicas" in d["spec"])
    deployment["spec"]["replicas"] = 7
    dropped = next(d for d in documents if d["kind"] == "Service")
    documents.remove(dropped)
    path.write_text(yaml.safe_dump_all(documents, sort_keys=False))


@pytest.mark.slow
def test_diff_command_is_clean_against_a_fresh_synth(fresh_dist, tmp_path):
    outdir = _copy_dist(fresh_dist, tmp_path / "dist")
    result = runner.invoke(app, ["diff", "--env", "production", "--outdir", str(outdir)])
    assert result.exit_code == 0, result.output
    assert "no changes" in result.stdout


@pytest.mark.slow
def test_diff_command_reports_replicas_and_a_new_object_and_exits_one(fresh_dist, tmp_path):
    outdir = _copy_dist(fresh_dist, tmp_path / "dist")
    _edit_api_chart(outdir)
    result = runner.invoke(app, ["diff", "--env", "production", "--outdir", str(outdir)])
    assert result.exit_code == 1, result.output
    fresh = next(d for d in yaml.safe_load_all((fresh_dist / "production" / "20-api.k8s.yaml").read_text())
                 if d and d["kind"] == "Deployment" and "replicas" in d["spec"])
    assert f"spec.replicas: 7 -> {fresh['spec']['replicas']}" in result.stdout
    assert "+ Service leanvibe/leanvibe-api" in result.stdout


@pytest.mark.slow
def test_diff_command_against_a_git_ref(fresh_dist, tmp_path):
    root = tmp_path / "repo"
    outdir = _copy_dist(fresh_dist, root / "dist")
    _edit_api_chart(outdir)
    _git(root, "init", "-q")
    _git(root, "add", ".")
    _git(root, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "stale dist")
    shutil.rmtree(outdir / "production")  # only the committed version is read
    result = runner.invoke(app, ["diff", "--against", "HEAD", "--env", "production", "--outdir", str(outdir)])
    assert result.exit_code == 1, result.output
    assert "spec.replicas: 7 ->" in result.stdout
    bad = runner.invoke(app, ["diff", "--against", "nope", "--env", "production", "--outdir", str(outdir)])
    assert bad.exit_code == 2 and len(bad.stderr.strip().splitlines()) == 1
