"""Print the scaling scenario figures quoted in the README (SmartAutoscaler section).

Each scenario synthesizes the HPA with SmartAutoscaler and replays a load trace
through leanvibe_constructs.scaling_simulator. "best-worst" is the spread over
the 15 whole-second phases of the HPA sync loop relative to the load step.

    .venv/bin/python benchmarks/scaling_scenarios.py [--table] [--csv-dir DIR]
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import leanvibe_constructs  # noqa: F401, I001  (selects the Node.js runtime before cdk8s loads)
import cdk8s
from leanvibe_constructs import HAApiDeployment
from leanvibe_constructs.autoscaling import CapacityModel, SmartAutoscaler
from leanvibe_constructs.scaling_simulator import LoadTrace, Workload, simulate, sync_offsets, without_behavior

IMAGE = "ghcr.io/leanvibe/agent-hive-api:2.4.1"


def synthesized_hpa(**props) -> dict:
    app = cdk8s.App()
    chart = cdk8s.Chart(app, "bench", disable_resource_name_hashes=True)
    SmartAutoscaler(chart, "Scaling", target=HAApiDeployment(chart, "Api", image=IMAGE), **props)
    return next(o for o in chart.to_json() if o["kind"] == "HorizontalPodAutoscaler")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--table", action="store_true", help="also print the per-15 s table of each scenario")
    parser.add_argument("--csv-dir", type=Path, help="write one CSV per scenario here")
    args = parser.parse_args()

    print("Capacity model (seed figures):")
    print("  " + CapacityModel().plan().explain().replace("\n", "\n  "))
    print()

    rps_hpa = synthesized_hpa(requests_per_second_metric="http_requests_per_second")
    cpu_hpa = synthesized_hpa()
    base = Workload(startup_seconds=20, metric_lag_seconds=15, node_provision_seconds=120, preemption_seconds=2)
    reserve = replace(base, reserve_pods=20)
    step = LoadTrace.step(867.5, 15000, at=60, duration=600)
    ramp = LoadTrace.ramp(867.5, 15000, at=60, seconds=120, duration=600)
    scenarios = [
        ("step, CPU + req/s HPA, 20-pod reserve (production)", rps_hpa, step, reserve),
        ("step, CPU-only HPA, 20-pod reserve", cpu_hpa, step, reserve),
        ("step, CPU + req/s HPA, no reserve", rps_hpa, step, base),
        ("step, CPU + req/s HPA, Kubernetes default behaviour, no reserve", without_behavior(rps_hpa), step, base),
        ("step, CPU-only HPA, Kubernetes default behaviour, no reserve", without_behavior(cpu_hpa), step, base),
        ("ramp to 15,000 over 120 s, production", rps_hpa, ramp, reserve),
        ("ramp to 15,000 over 120 s, CPU-only, default behaviour, no reserve", without_behavior(cpu_hpa), ramp, base),
    ]
    print("Step 867.5 -> 15,000 req/s at t=60 s; 20 s pod start-up, 15 s metric lag, 2 s preemption, 120 s for a node")
    print(f"{'scenario':<70} {'to capacity':>14} {'worst phase':>11} {'overload s':>10} {'dropped req':>12}")
    for index, (name, hpa, trace, workload) in enumerate(scenarios, 1):
        result = simulate(hpa, trace, workload)
        phases = [simulate(hpa, trace, w).time_to_capacity for w in sync_offsets(workload)]
        worst = "never" if None in phases else f"{max(phases):g} s"
        ttc = "never" if result.time_to_capacity is None else f"{result.time_to_capacity:g} s"
        print(f"{name:<70} {ttc:>14} {worst:>11} {result.overload_seconds:>10g} {result.dropped_requests:>12,.0f}")
        if args.table:
            print(result.table())
        if args.csv_dir:
            args.csv_dir.mkdir(parents=True, exist_ok=True)
            result.write_csv(args.csv_dir / f"scenario-{index}.csv")


if __name__ == "__main__":
    main()
