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
