"""The README is part of the product: its props tables are the real defaults."""

from __future__ import annotations

from leanvibe_constructs._docs import render_readme

from .manifests import REPO


def test_readme_props_tables_match_the_props_models():
    text = (REPO / "README.md").read_text()
    assert render_readme(text) == text, "README props tables are stale: run `python -m leanvibe_constructs._docs --write README.md`"


def test_readme_opens_with_the_two_setup_commands():
    text = (REPO / "README.md").read_text()
    setup = text.index("## Set up")
    assert text.index("make synth", setup) < text.index("make test", setup) < text.index("## Quick start")


def test_quick_start_example_runs_as_written(tmp_path):
    import re

    text = (REPO / "README.md").read_text()
    first_python_block = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    # The jsii runtime already runs, so CDK8S_OUTDIR cannot redirect it: name the folder instead.
    assert "app = cdk8s.App()" in first_python_block
    code = first_python_block.replace("cdk8s.App()", f"cdk8s.App(outdir={str(tmp_path)!r})")
    exec(compile(code, "README.md quick start", "exec"), {})
    (manifest,) = tmp_path.glob("*.k8s.yaml")
    assert "kind: Deployment" in manifest.read_text()
