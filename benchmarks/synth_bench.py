"""Synthesis speed: cold `python main.py` against the cdk8s baseline, and the cost per HAApiDeployment.

Prints, in one run on one machine:
- the wall time of a cold `python main.py` (both environments), median of --runs;
- the baseline: a cold process that imports cdk8s + cdk8s-plus-27 and synthesizes an empty app;
- the marginal cost of one HAApiDeployment when building 1, 10 and 100 of them in one chart.

Targets (issue 2): full synth <= 1.5x the baseline; marginal cost <= 10 ms per service.
Usage: python benchmarks/synth_bench.py [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

BASELINE = """
import leanvibe_constructs._node as n; n.use_wheel_node()
import cdk8s, cdk8s_plus_27
app = cdk8s.App(outdir={outdir!r})
cdk8s.Chart(app, "empty")
app.synth()
"""

MARGINAL = """
import json, sys, time
import leanvibe_constructs
from leanvibe_constructs import HAApiDeployment
import cdk8s
def build_and_synth(count):
    app = cdk8s.App(outdir={outdir!r})
    chart = cdk8s.Chart(app, "c", disable_resource_name_hashes=True)
    start = time.perf_counter()
    for i in range(count):
        HAApiDeployment(chart, f"Api{{i}}", image="ghcr.io/leanvibe/api:1.0.0", name=f"api-{{i}}")
    app.synth()
    return time.perf_counter() - start

build_and_synth(3)  # first-call costs (class loading, jsii type registration)
results = {{}}
for count in {counts!r}:
    # marginal = (T(n) - T(0)) / n: the fixed cost of synthesizing an app is the baseline's
    # small counts are within run-to-run noise, so they get more samples
    runs = 15 if count < 10 else 5
    samples = sorted((build_and_synth(count) - build_and_synth(0)) / count for _ in range(runs))
    results[count] = samples[runs // 2]
print(json.dumps(results))
"""


def cold_run(args: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(args, cwd=cwd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def median_of(runs: int, args: list[str], cwd: Path) -> float:
    return statistics.median(cold_run(args, cwd) for _ in range(runs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="cold runs per measurement (median reported)")
    args = parser.parse_args()
    python = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        full = median_of(args.runs, [python, str(REPO / "main.py")], Path(tmp))
        baseline = median_of(args.runs, [python, "-c", BASELINE.format(outdir=str(Path(tmp) / "base"))], REPO)
        out = subprocess.run(
            [python, "-c", MARGINAL.format(counts=[1, 10, 100], outdir=str(Path(tmp) / "marginal"))],
            cwd=REPO, check=True, capture_output=True, text=True,
        ).stdout
        marginal = {int(k): v for k, v in json.loads(out.strip().splitlines()[-1]).items()}

    print(f"cold `python main.py` (production + dev): {full * 1000:8.0f} ms  (median of {args.runs})")
    print(f"baseline (import cdk8s + cdk8s-plus-27, synth empty app): {baseline * 1000:8.0f} ms")
    ratio = full / baseline
    print(f"full / baseline: {ratio:.2f}x  (target <= 1.5x: {'met' if ratio <= 1.5 else 'MISSED'})")
    for count, seconds in marginal.items():
        ms = seconds * 1000
        print(f"marginal cost per HAApiDeployment at {count:3d}: {ms:6.2f} ms  "
              f"(target <= 10 ms: {'met' if ms <= 10 else 'MISSED'})")


if __name__ == "__main__":
    main()
