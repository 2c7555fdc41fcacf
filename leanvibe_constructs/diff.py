"""Object-level diff of synthesized manifests (``leanvibe diff``).

Objects are matched by API group, kind, namespace and name, so a review shows
"Deployment leanvibe/leanvibe-api: spec.replicas 5 -> 3" instead of a wall of
YAML. Secret values are never shown, not even their old values. Multi-line
strings (generated config files in ConfigMaps) are shown as unified diffs.
"""

from __future__ import annotations

import difflib
import json
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from .validate.loader import ManifestError, parse_documents
from .validate.model import Manifest

REDACTED = "<redacted>"
_SECRET_FIELDS = ("data", "stringData")
_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


class DiffError(Exception):
    """A folder or git revision that cannot be read; str() is one line."""


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


MISSING: Any = _Missing()


@dataclass(frozen=True)
class FieldChange:
    path: str
    old: Any
    new: Any
    redacted: bool = False

    def describe(self) -> list[str]:
        """The change as display lines (the first names the path)."""
        if self.redacted:
            what = "added" if self.old is MISSING else "removed" if self.new is MISSING else "changed"
            return [f"{self.path}: {what} (value redacted)"]
        if self.old is MISSING:
            return [f"{self.path}: added {_show(self.new)}"]
        if self.new is MISSING:
            return [f"{self.path}: removed (was {_show(self.old)})"]
        if isinstance(self.old, str) and isinstance(self.new, str) and ("\n" in self.old or "\n" in self.new):
            lines = difflib.unified_diff(
                self.old.splitlines(), self.new.splitlines(), "old", "new", n=1, lineterm=""
            )
            return [f"{self.path}: text changed"] + ["    " + line for line in list(lines)[2:]]
        return [f"{self.path}: {_show(self.old)} -> {_show(self.new)}"]


@dataclass(frozen=True)
class ObjectChange:
    ref: str
    source: str
    changes: list[FieldChange]


@dataclass
class DiffResult:
    added: list[Manifest] = field(default_factory=list)
    removed: list[Manifest] = field(default_factory=list)
    changed: list[ObjectChange] = field(default_factory=list)
    # Files whose bytes differ although every object is equal (order, formatting, or an object moved file).
    reformatted: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed or self.reformatted)

    def summary(self) -> str:
        text = f"{len(self.added)} added, {len(self.removed)} removed, {len(self.changed)} changed"
        if self.reformatted:
            text += f", {len(self.reformatted)} file(s) differ only in order or formatting"
        return text


def object_key(m: Manifest) -> tuple[str, str, str, str]:
    return (m.group, m.kind, m.namespace or "", m.name)


def _show(value: Any, limit: int = 160) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _child(path: str, key: str) -> str:
    if _PLAIN_KEY.match(key):
        return f"{path}.{key}" if path else key
    return f'{path}["{key}"]'


def _named(items: list[Any]) -> bool:
    names = [i.get("name") for i in items if isinstance(i, dict)]
    return len(names) == len(items) and None not in names and len(set(names)) == len(names)


def field_changes(old: Any, new: Any, path: str = "") -> list[FieldChange]:
    """Leaf-level changes between two parsed values; lists of named items are matched by name."""
    if isinstance(old, dict) and isinstance(new, dict):
        changes: list[FieldChange] = []
        for key in list(old) + [k for k in new if k not in old]:
            changes += field_changes(old.get(key, MISSING), new.get(key, MISSING), _child(path, str(key)))
        return changes
    if isinstance(old, list) and isinstance(new, list) and old != new:
        if _named(old) and _named(new):
            old_by, new_by = {i["name"]: i for i in old}, {i["name"]: i for i in new}
            changes = []
            for name in list(old_by) + [n for n in new_by if n not in old_by]:
                changes += field_changes(old_by.get(name, MISSING), new_by.get(name, MISSING), f"{path}[{name}]")
            common = [n for n in old_by if n in new_by]
            if common != [n for n in new_by if n in old_by]:  # order matters for initContainers, env...
                changes.append(FieldChange(f"{path} (order)", [i["name"] for i in old], [i["name"] for i in new]))
            return changes
        changes = []
        for index in range(max(len(old), len(new))):
            changes += field_changes(
                old[index] if index < len(old) else MISSING,
                new[index] if index < len(new) else MISSING,
                f"{path}[{index}]",
            )
        return changes
    if old == new:
        return []
    return [FieldChange(path, old, new)]


def _redact(kind: str, changes: list[FieldChange]) -> list[FieldChange]:
    if kind != "Secret":
        return changes
    return [
        FieldChange(c.path, REDACTED if c.old is not MISSING else MISSING,
                    REDACTED if c.new is not MISSING else MISSING, redacted=True)
        if c.path.split(".")[0].split("[")[0] in _SECRET_FIELDS
        else c
        for c in changes
    ]


def diff_manifests(old: list[Manifest], new: list[Manifest]) -> DiffResult:
    old_by = {object_key(m): m for m in old}
    new_by = {object_key(m): m for m in new}
    result = DiffResult()
    result.removed = [old_by[k] for k in sorted(set(old_by) - set(new_by))]
    result.added = [new_by[k] for k in sorted(set(new_by) - set(old_by))]
    for key in sorted(set(old_by) & set(new_by)):
        changes = _redact(key[1], field_changes(old_by[key].obj, new_by[key].obj))
        if changes:
            result.changed.append(ObjectChange(new_by[key].ref, new_by[key].source, changes))
    return result


def diff_files(old_files: dict[str, str], new_files: dict[str, str]) -> DiffResult:
    """Compare two sets of manifest files (relative name -> text)."""
    old = [m for name in sorted(old_files) for m in parse_documents(old_files[name], name)]
    new = [m for name in sorted(new_files) for m in parse_documents(new_files[name], name)]
    result = diff_manifests(old, new)
    if not (result.added or result.removed or result.changed):
        result.reformatted = sorted(
            name for name in set(old_files) | set(new_files) if old_files.get(name) != new_files.get(name)
        )
    return result


def read_folder(folder: Path) -> dict[str, str]:
    """Every *.yaml file under ``folder`` (relative name -> text); empty when the folder does not exist."""
    if not folder.is_dir():
        return {}
    return {
        str(p.relative_to(folder)): p.read_text(encoding="utf-8")
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.suffix in (".yaml", ".yml")
    }


def _git(args: list[str], cwd: Path) -> str:
    try:
        completed = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    except FileNotFoundError:
        raise DiffError("git is not installed") from None
    if completed.returncode != 0:
        message = (completed.stderr.strip().splitlines() or ["failed"])[-1]
        raise DiffError(f"git {' '.join(args[:2])}: {message}")
    return completed.stdout


def read_git_folder(ref: str, folder: Path) -> dict[str, str]:
    """The *.yaml files under ``folder`` as committed at ``ref`` (relative name -> text)."""
    folder = folder.resolve()
    anchor = next(p for p in (folder, *folder.parents) if p.exists())
    root = Path(_git(["rev-parse", "--show-toplevel"], anchor).strip())
    try:
        relative = folder.relative_to(root).as_posix()
    except ValueError:
        raise DiffError(f"{folder} is not inside the git repository {root}") from None
    _git(["rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], root)
    listing = _git(["ls-tree", "-r", "--name-only", "--full-tree", ref, "--", relative], root)
    files = {}
    for path in listing.splitlines():
        if path.endswith((".yaml", ".yml")):
            files[path[len(relative) + 1:] if relative != "." else path] = _git(["show", f"{ref}:{path}"], root)
    return files


def print_diff(title: str, result: DiffResult, console: Console) -> None:
    def line(text: str, style: str | None = None) -> None:
        # markup off: paths like containers[api] are not rich markup; no wrapping, for copy and paste.
        console.print(text, style=style, markup=False, highlight=False, soft_wrap=True)

    line(f"{title}: {result.summary() if not result.empty else 'no changes'}",
         "bold" if result.empty else "bold yellow")
    for m in result.added:
        line(f"  + {m.ref}  ({_file(m.source)})", "green")
    for m in result.removed:
        line(f"  - {m.ref}  ({_file(m.source)})", "red")
    for change in result.changed:
        line(f"  ~ {change.ref}  ({_file(change.source)})", "yellow")
        for field_change in change.changes:
            for text in field_change.describe():
                line(f"      {text}")
    for name in result.reformatted:
        line(f"  * {name}: same objects, different bytes (order or formatting)", "yellow")


def _file(source: str) -> str:
    return source.split("#")[0]


__all__ = [
    "DiffError",
    "DiffResult",
    "FieldChange",
    "ManifestError",
    "ObjectChange",
    "diff_files",
    "diff_manifests",
    "field_changes",
    "print_diff",
    "read_folder",
    "read_git_folder",
]
