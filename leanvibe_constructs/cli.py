"""The ``leanvibe`` command: synthesize, validate and diff the platform's manifests.

Exit codes: 0 success; 1 findings (validate: an error-severity finding;
diff: anything differs); 2 bad input (a missing path, malformed YAML, an
unknown option value), reported as one line on stderr.
"""

from __future__ import annotations

import enum
import functools
import sys
import tempfile
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console

from .scaling_simulator import simulate_command

app = typer.Typer(
    name="leanvibe",
    help="Synthesize, validate and review the LeanVibe platform's Kubernetes manifests.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,  # locals may hold secret values
    context_settings={"help_option_names": ["-h", "--help"]},
)

USAGE_ERROR = 2


def fail(message: str) -> NoReturn:
    """Report bad input as one line on stderr and exit 2."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(USAGE_ERROR)


def _console() -> Console:
    return Console(soft_wrap=False, highlight=False)


def _environments(requested: list[str] | None) -> tuple[str, ...]:
    from .platform import ENVIRONMENTS

    if not requested:
        return ENVIRONMENTS
    unknown = [e for e in requested if e not in ENVIRONMENTS]
    if unknown:
        fail(f"unknown environment {unknown[0]!r}; choose from {', '.join(ENVIRONMENTS)}")
    return tuple(dict.fromkeys(requested))


EnvOption = Annotated[
    list[str] | None,
    typer.Option(
        "--env", "-e", metavar="ENV", help="Environment to synthesize (repeatable): production, dev. Default: all."
    ),
]
OutdirOption = Annotated[
    Path, typer.Option("--outdir", "-o", metavar="DIR", help="Folder holding one sub-folder per environment.")
]


@app.command()
def synth(env: EnvOption = None, outdir: OutdirOption = Path("dist")) -> None:
    """Synthesize the platform into OUTDIR/<environment>/*.k8s.yaml."""
    from .platform import synth as synth_platform

    for folder in synth_platform(outdir, _environments(env)):
        typer.echo(f"synthesized {folder}")


class ReportFormat(str, enum.Enum):
    table = "table"
    json = "json"
    junit = "junit"


@app.command()
def validate(
    paths: Annotated[list[Path], typer.Argument(help="Manifest files or folders (searched recursively).",
                                                metavar="PATH", show_default=False)],
    format: Annotated[ReportFormat, typer.Option("--format", "-f", help="Report format.")] = ReportFormat.table,
    skip: Annotated[
        list[str] | None,
        typer.Option("--skip", metavar="CHECK", help="Check id to skip (repeatable); see `leanvibe checks`."),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", metavar="FILE", help="Write the report to this file instead of stdout.")
    ] = None,
) -> None:
    """Check manifests for production readiness; exit 1 on any error finding."""
    from .validate import CheckError, ManifestError, Severity, load_manifests, run_checks
    from .validate.report import print_table, summary_line, to_json, to_junit

    try:
        manifests = load_manifests(paths)
        findings = run_checks(manifests, skip=tuple(skip or ()))
    except (ManifestError, CheckError, ValueError) as error:
        fail(str(error))
    if format is ReportFormat.table:
        if output:
            with output.open("w", encoding="utf-8") as handle:
                print_table(findings, len(manifests), Console(file=handle, width=200, soft_wrap=False))
        else:
            print_table(findings, len(manifests), _console())
    else:
        text = to_json(findings, len(manifests)) if format is ReportFormat.json else to_junit(
            findings, len(manifests), tuple(skip or ())
        )
        if output:
            output.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
            typer.echo(summary_line(findings, len(manifests)), err=True)
        else:
            typer.echo(text)
    if any(f.severity is Severity.ERROR for f in findings):
        raise typer.Exit(1)


@app.command()
def checks() -> None:
    """List the checks `validate` runs, with their ids, severities and fix hints."""
    from rich.table import Table

    from .validate import CHECKS

    table = Table(header_style="bold")
    for column in ("Id", "Category", "Severity", "Checks that", "Fix"):
        table.add_column(column, overflow="fold")
    for check in CHECKS:
        table.add_row(check.id, check.category, check.severity.value, check.title, check.hint)
    _console().print(table)


@app.command()
def diff(
    against: Annotated[
        str | None,
        typer.Option("--against", "-a", metavar="REF", help="Git revision whose committed OUTDIR to compare with. "
                     "Default: the OUTDIR files on disk."),
    ] = None,
    outdir: OutdirOption = Path("dist"),
    env: EnvOption = None,
) -> None:
    """Synthesize into a temporary folder and diff objects against OUTDIR; exit 1 when anything differs."""
    from .diff import DiffError, diff_files, print_diff, read_folder, read_git_folder
    from .platform import synth as synth_platform
    from .validate import ManifestError

    environments = _environments(env)
    console = _console()
    differs = False
    with tempfile.TemporaryDirectory(prefix="leanvibe-diff-") as tmp:
        synth_platform(tmp, environments)
        for environment in environments:
            fresh = read_folder(Path(tmp) / environment)
            try:
                if against:
                    committed = read_git_folder(against, outdir / environment)
                    title = f"{environment} ({against}:{outdir / environment} -> synthesized)"
                else:
                    committed = read_folder(outdir / environment)
                    title = f"{environment} ({outdir / environment} -> synthesized)"
                result = diff_files(committed, fresh)
            except (DiffError, ManifestError) as error:
                fail(str(error))
            print_diff(title, result, console)
            differs = differs or not result.empty
    if differs:
        raise typer.Exit(1)


@app.command("simulate-scaling")
@functools.wraps(simulate_command)
def simulate_scaling(*args: Any, **kwargs: Any) -> None:
    try:
        simulate_command(*args, **kwargs)
    except ValueError as error:
        fail(str(error))


# `leanvibe release plan|watch`: the release steps of the generated deploy job.
from .delivery.release_cli import release_app  # noqa: E402

app.add_typer(release_app, name="release")


def main() -> None:
    app(prog_name="leanvibe")


if __name__ == "__main__":
    sys.exit(main())
