"""The test job's quality gate: the pass rate of a JUnit XML report.

pytest (``--junitxml``), and most other runners, write JUnit XML: a
``<testsuites>`` or a single ``<testsuite>`` with ``tests``, ``failures``,
``errors`` and ``skipped`` counts. The pass rate is passed / (tests - skipped):
a skipped test neither passes nor fails the gate, and a report in which
nothing ran fails it, since a gate that passes on nothing gates nothing.

Run as ``python -m leanvibe_constructs.delivery.junit REPORT --min-pass-rate 100
[--summary FILE]``; exit 0 at or above the gate, 1 below it, 2 for an
unreadable report.
"""

from __future__ import annotations

import argparse
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class JUnitTotals:
    tests: int
    failures: int
    errors: int
    skipped: int

    @property
    def executed(self) -> int:
        return self.tests - self.skipped

    @property
    def passed(self) -> int:
        return self.executed - self.failures - self.errors

    @property
    def pass_rate(self) -> float:
        """Percent of executed tests that passed; 0 when nothing ran."""
        return 100.0 * self.passed / self.executed if self.executed else 0.0


def junit_totals(xml_text: str) -> JUnitTotals:
    root = ET.fromstring(xml_text)
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    if root.tag not in {"testsuite", "testsuites"}:
        raise ValueError(f"not a JUnit report: root element <{root.tag}>")
    totals = [0, 0, 0, 0]
    for suite in suites:
        for index, name in enumerate(("tests", "failures", "errors", "skipped")):
            totals[index] += int(suite.get(name, "0"))
    return JUnitTotals(*totals)


def gate(totals: JUnitTotals, min_pass_rate: float) -> tuple[bool, str]:
    if totals.executed <= 0:
        return False, f"no test ran ({totals.tests} collected, {totals.skipped} skipped)"
    ok = totals.pass_rate >= min_pass_rate
    verdict = "passes" if ok else "FAILS"
    return ok, (
        f"pass rate {totals.pass_rate:.2f}% ({totals.passed}/{totals.executed} executed; "
        f"{totals.failures} failed, {totals.errors} errors, {totals.skipped} skipped) "
        f"{verdict} the gate of {min_pass_rate:g}%"
    )


def summary_markdown(totals: JUnitTotals, min_pass_rate: float, ok: bool, message: str) -> str:
    return (
        "## Tests\n\n"
        "| passed | failed | errors | skipped | pass rate | gate |\n"
        "| ---: | ---: | ---: | ---: | ---: | :--- |\n"
        f"| {totals.passed} | {totals.failures} | {totals.errors} | {totals.skipped} | "
        f"{totals.pass_rate:.2f}% | {'passed' if ok else 'FAILED'} (>= {min_pass_rate:g}%) |\n\n"
        f"{message}\n"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m leanvibe_constructs.delivery.junit", description=__doc__)
    parser.add_argument("report", type=Path, help="JUnit XML report")
    parser.add_argument("--min-pass-rate", type=float, default=100.0, help="percent; default 100")
    parser.add_argument("--summary", type=Path, help="append a Markdown table here (e.g. $GITHUB_STEP_SUMMARY)")
    args = parser.parse_args(argv)
    if not 0 < args.min_pass_rate <= 100:
        parser.error(f"--min-pass-rate ({args.min_pass_rate}) must be in (0, 100]")
    try:
        totals = junit_totals(args.report.read_text(encoding="utf-8"))
    except (OSError, ET.ParseError, ValueError) as err:
        print(f"test gate: cannot read {args.report}: {err}", file=sys.stderr)
        return 2
    ok, message = gate(totals, args.min_pass_rate)
    print(f"test gate: {message}")
    if args.summary:
        with args.summary.open("a", encoding="utf-8") as handle:
            handle.write(summary_markdown(totals, args.min_pass_rate, ok, message))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
