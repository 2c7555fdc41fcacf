from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode

from leanvibe_constructs.platform import synth


class YamlSnapshot(SingleFileSnapshotExtension):
    """One readable .yaml file per snapshot, so reviewers diff plain manifests."""

    _write_mode = WriteMode.TEXT
    file_extension = "yaml"


@pytest.fixture
def yaml_snapshot(snapshot):
    return snapshot.use_extension(YamlSnapshot)


@pytest.fixture(scope="session")
def fresh_dist(tmp_path_factory) -> Path:
    """A fresh synthesis of every environment, made once per test session."""
    outdir = tmp_path_factory.mktemp("dist")
    synth(outdir)
    return outdir


def require_binary(name: str, install_hint: str, extra_dirs: tuple[str, ...] = ()) -> str:
    """Path of a binary an integration test needs.

    In CI (CI=true) a missing binary fails the test: a green run must mean the
    real server ran. Elsewhere the test is skipped, visibly, with the command
    that installs it. ``extra_dirs`` are searched after PATH (globs allowed,
    e.g. "/usr/lib/postgresql/*/bin").
    """
    path = shutil.which(name)
    if path:
        return path
    for pattern in extra_dirs:
        for folder in sorted(Path("/").glob(pattern.lstrip("/")), reverse=True):
            candidate = folder / name
            if candidate.exists():
                return str(candidate)
    message = f"{name} is not installed; install it with: {install_hint}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)
