"""The distribution users `pip install` works on its own, outside this checkout."""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

import pytest

from .manifests import DIST, REPO

SCRIPT = """
import sys
from pathlib import Path
import leanvibe_constructs
assert "site-packages" in leanvibe_constructs.__file__, leanvibe_constructs.__file__
from leanvibe_constructs.platform import synth
for folder in synth(Path(sys.argv[1])):
    print(folder)
"""


@pytest.mark.slow
def test_wheel_installed_in_a_fresh_venv_synthesizes_the_committed_dist(tmp_path: Path):
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(wheels), str(REPO)],
        check=True, timeout=300,
    )
    (wheel,) = wheels.glob("leanvibe_constructs-*.whl")
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    subprocess.run([python, "-m", "pip", "install", "--quiet", str(wheel)], check=True, timeout=600)

    outside = tmp_path / "elsewhere"
    outside.mkdir()
    subprocess.run([python, "-c", SCRIPT, str(outside / "dist")], cwd=outside, check=True, timeout=300)

    produced = {p.relative_to(outside / "dist"): p.read_bytes() for p in (outside / "dist").glob("*/*.k8s.yaml")}
    committed = {p.relative_to(DIST): p.read_bytes() for p in DIST.glob("*/*.k8s.yaml")}
    assert produced == committed
