"""Production-readiness checks over Kubernetes manifests (``leanvibe validate``).

Checks are plain functions over parsed objects, registered in one table
(:data:`CHECKS`) with an id, a severity and a fix hint. Works on any
manifests, not only this library's::

    from leanvibe_constructs.validate import load_manifests, run_checks
    findings = run_checks(load_manifests(["dist/production"]))
"""

from .loader import ManifestError, load_manifests, parse_documents
from .model import Inventory, Manifest, Severity
from .registry import CHECKS, CHECKS_BY_ID, Check, CheckError, Finding, run_checks

__all__ = [
    "CHECKS",
    "CHECKS_BY_ID",
    "Check",
    "CheckError",
    "Finding",
    "Inventory",
    "Manifest",
    "ManifestError",
    "Severity",
    "load_manifests",
    "parse_documents",
    "run_checks",
]
