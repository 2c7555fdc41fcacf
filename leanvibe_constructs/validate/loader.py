"""Read manifests from files and folders, failing with one clear line."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import yaml

from .model import YAML_LOADER, Manifest

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")


class ManifestError(Exception):
    """A path or document that cannot be read as Kubernetes manifests; str() is one line."""


def manifest_files(paths: Iterable[str | Path]) -> list[Path]:
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise ManifestError(f"{raw}: no such file or directory")
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in MANIFEST_SUFFIXES)
            if not found:
                raise ManifestError(f"{raw}: folder contains no .yaml, .yml or .json files")
            files.extend(found)
        else:
            files.append(path)
    return files


def load_manifests(paths: Iterable[str | Path]) -> list[Manifest]:
    manifests: list[Manifest] = []
    for path in manifest_files(paths):
        manifests.extend(load_file(path))
    return manifests


def load_file(path: Path) -> list[Manifest]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ManifestError(f"{path}: not a UTF-8 text file") from None
    except OSError as error:
        raise ManifestError(f"{path}: cannot read: {error.strerror or error}") from None
    return parse_documents(text, str(path))


def parse_documents(text: str, source: str) -> list[Manifest]:
    try:
        documents = list(yaml.load_all(text, Loader=YAML_LOADER))
    except yaml.YAMLError as error:
        raise ManifestError(f"{source}: malformed YAML: {_yaml_problem(error)}") from None
    manifests: list[Manifest] = []
    for number, doc in enumerate(documents, start=1):
        if doc is None:
            continue
        where = f"{source}#{number}"
        if not isinstance(doc, dict) or "kind" not in doc or "apiVersion" not in doc:
            raise ManifestError(f"{where}: not a Kubernetes object (a mapping with apiVersion and kind)")
        if doc["kind"] == "List" or str(doc["kind"]).endswith("List") and isinstance(doc.get("items"), list):
            for item_number, item in enumerate(doc.get("items") or [], start=1):
                if not isinstance(item, dict) or "kind" not in item:
                    raise ManifestError(f"{where} item {item_number}: not a Kubernetes object")
                manifests.append(Manifest(item, f"{where}.{item_number}"))
            continue
        manifests.append(Manifest(doc, where))
    return manifests


def _yaml_problem(error: yaml.YAMLError) -> str:
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    if mark is not None:
        return f"line {mark.line + 1}, column {mark.column + 1}: {problem}"
    return problem
