"""Findings rendered as a rich table, JSON, or JUnit XML."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any
from xml.etree import ElementTree as ET

from rich.console import Console
from rich.table import Table
from rich.text import Text

from .model import Severity
from .registry import CHECKS, Finding

_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}


def summary(findings: list[Finding], objects: int) -> dict[str, int]:
    counts = Counter(f.severity.value for f in findings)
    return {"objects": objects, "errors": counts["error"], "warnings": counts["warning"], "info": counts["info"]}


def summary_line(findings: list[Finding], objects: int) -> str:
    s = summary(findings, objects)
    return f"{s['errors']} errors, {s['warnings']} warnings, {s['info']} info in {objects} objects"


def print_table(findings: list[Finding], objects: int, console: Console) -> None:
    if findings:
        table = Table(header_style="bold", show_lines=True, expand=False)
        table.add_column("Severity", no_wrap=True)
        table.add_column("Check", no_wrap=True)
        table.add_column("Object, finding and fix", overflow="fold")
        for f in findings:
            cell = Text()
            cell.append(f.object, style="bold")
            cell.append(f"\n{f.message}\n")
            cell.append(f"fix: {f.hint}", style="dim")
            table.add_row(Text(f.severity.value, style=_STYLE[f.severity]), f.check, cell)
        console.print(table)
    style = "bold red" if any(f.severity is Severity.ERROR for f in findings) else "bold green"
    console.print(Text(summary_line(findings, objects), style=style))


def to_json(findings: list[Finding], objects: int) -> str:
    document: dict[str, Any] = {
        "summary": summary(findings, objects),
        "findings": [f.to_dict() for f in findings],
    }
    return json.dumps(document, indent=2)


def to_junit(findings: list[Finding], objects: int, skipped: tuple[str, ...] = ()) -> str:
    """One test case per check: it fails on error findings; warnings and info go to system-out."""
    by_check: dict[str, list[Finding]] = {}
    for f in findings:
        by_check.setdefault(f.check, []).append(f)
    errors = sum(1 for c in CHECKS if any(f.severity is Severity.ERROR for f in by_check.get(c.id, [])))
    suite = ET.Element(
        "testsuite",
        name="leanvibe validate",
        tests=str(len(CHECKS)),
        failures=str(errors),
        errors="0",
        skipped=str(len(skipped)),
    )
    ET.SubElement(ET.SubElement(suite, "properties"), "property", name="objects", value=str(objects))
    for check in CHECKS:
        case = ET.SubElement(suite, "testcase", classname=f"leanvibe.validate.{check.category}", name=check.id)
        if check.id in skipped:
            ET.SubElement(case, "skipped", message="skipped with --skip")
            continue
        found = by_check.get(check.id, [])
        failing = [f for f in found if f.severity is Severity.ERROR]
        if failing:
            failure = ET.SubElement(
                case, "failure", message=f"{len(failing)} finding(s): {check.title}", type=check.severity.value
            )
            failure.text = "\n".join(f"{f.object} ({f.source}): {f.message}" for f in failing) + f"\nFix: {check.hint}"
        notes = [f for f in found if f.severity is not Severity.ERROR]
        if notes:
            ET.SubElement(case, "system-out").text = "\n".join(
                f"{f.severity.value}: {f.object}: {f.message}" for f in notes
            )
    ET.indent(suite)
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"
