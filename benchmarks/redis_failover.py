"""Redis Sentinel failover figures quoted in the README (RedisSentinel section).

Runs the generated configuration of RedisSentinel (default props) with the real
redis-server and redis-sentinel on loopback, as tests/test_redis_integration.py
does, for --runs rounds of each scenario, and prints min / median / max:

- crash failover: kill -9 the master while a client writes with SET + WAIT 1;
  seconds until the sentinels name a new master and until a client that asks
  the sentinels gets an acknowledged write; acknowledged writes lost; then the
  old master restarted with redis-start.sh and one sentinel restarted;
- quick restart: the master killed and restarted 0.5 s later (a kubelet
  restart), before the sentinels notice;
- planned handover: the master's preStop hook (redis-prestop.sh), then SIGTERM;
- frozen master: the master is stopped (SIGSTOP, as cut off by a partition)
  until the failover, then resumed while a client still holds a connection
  to it; with and without min-replicas-to-write (failover-timeout 10 s, the
  time the sentinels give the resumed master before demoting it).

Targets (issue 4): failover under 10 s with the defaults, 0 lost acknowledged writes.
Usage: .venv/bin/python benchmarks/redis_failover.py [--runs 3] [--scenario crash|quick|handover|frozen|all]
Needs: redis-server, redis-sentinel, redis-cli (apt-get install redis-server redis-sentinel).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import leanvibe_constructs  # noqa: E402, F401  (selects the Node.js runtime before cdk8s loads)
import cdk8s  # noqa: E402
from leanvibe_constructs import RedisSentinel  # noqa: E402
from tests.redis_harness import (  # noqa: E402
    REDIS_INSTALL_HINT,
    SentinelLab,
    run_failover_scenario,
    run_frozen_master_scenario,
    run_handover_scenario,
    run_quick_restart_scenario,
)


def generated(**props):
    app = cdk8s.App()
    chart = cdk8s.Chart(app, "bench", disable_resource_name_hashes=True)
    redis = RedisSentinel(chart, "Redis", **props)
    config_map = next(o for o in chart.to_json() if o["kind"] == "ConfigMap")
    return redis.layout, config_map["data"]


def spread(values: list[float], unit: str = "s") -> str:
    if len(values) == 1:
        return f"{values[0]:.2f} {unit}"
    return (
        f"min {min(values):.2f} / median {statistics.median(values):.2f} / max {max(values):.2f} {unit} "
        f"(n={len(values)})"
    )


def run(scenario, runs: int, verbose: bool, **props) -> list:
    layout, files = generated(**props)
    reports = []
    for i in range(runs):
        with SentinelLab(files, layout) as lab:
            lab.start_all()
            report = scenario(lab)
        reports.append(report)
        if verbose:
            for line in report.lines():
                print(f"  run {i + 1}: {line}")
    return reports


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="rounds per scenario (default 3)")
    parser.add_argument("--scenario", choices=["crash", "quick", "handover", "frozen", "all"], default="all")
    parser.add_argument("--quiet", action="store_true", help="only the summary, not each run")
    args = parser.parse_args()
    for binary in ("redis-server", "redis-sentinel", "redis-cli"):
        if shutil.which(binary) is None:
            print(f"{binary} is not installed; install it with: {REDIS_INSTALL_HINT}", file=sys.stderr)
            return 2
    layout, _ = generated()
    print(
        f"RedisSentinel defaults: {len(layout.nodes)} data nodes, {len(layout.sentinels)} sentinels, "
        f"quorum {layout.quorum}, down-after {layout.down_after_milliseconds} ms, "
        f"min-replicas-to-write {layout.min_replicas_to_write}, min-replicas-max-lag "
        f"{layout.min_replicas_max_lag_seconds} s"
    )
    ok = True
    if args.scenario in ("crash", "all"):
        print("crash failover (kill -9 of the master under SET + WAIT 1 writes):")
        reports = run(run_failover_scenario, args.runs, not args.quiet)
        lost = sum(r.acknowledged_lost + r.lost_on_rejoined_old_master for r in reports)
        print(f"  promotion (sentinels name a new master): {spread([r.promotion_seconds for r in reports])}")
        print(f"  writable again (acknowledged write via sentinels): {spread([r.writable_seconds for r in reports])}")
        print(f"  acknowledged writes: {sum(r.acknowledged_total for r in reports)}, lost: {lost}")
        print(f"  old master restart -> replica of the new master: "
              f"{spread([r.old_master_rejoin_seconds for r in reports])}; split brain: "
              f"{sum(len(r.masters_after_rejoin) > 1 for r in reports)} of {len(reports)}")
        print(f"  sentinel restart -> agrees and sees all peers: {spread([r.sentinel_rejoin_seconds for r in reports])}")
        ok &= lost == 0 and max(r.writable_seconds for r in reports) < 10
    if args.scenario in ("quick", "all"):
        print("quick restart (master killed and restarted 0.5 s later):")
        reports = run(run_quick_restart_scenario, args.runs, not args.quiet)
        lost = sum(r.acknowledged_lost for r in reports)
        print(f"  restarted master replicating from the new master after: {spread([r.rejoin_seconds for r in reports])}")
        print(f"  acknowledged writes: {sum(r.acknowledged_total for r in reports)}, lost: {lost}; "
              f"split brain: {sum(len(r.masters_after) > 1 for r in reports)} of {len(reports)}")
        ok &= lost == 0
    if args.scenario in ("handover", "all"):
        print("planned handover (preStop hook, then SIGTERM):")
        reports = run(run_handover_scenario, args.runs, not args.quiet)
        lost = sum(r.acknowledged_lost for r in reports)
        print(f"  writable again on the new master: {spread([r.writable_seconds for r in reports])}")
        print(f"  acknowledged writes: {sum(r.acknowledged_total for r in reports)}, lost: {lost}")
        ok &= lost == 0
    if args.scenario in ("frozen", "all"):
        for min_replicas in (1, 0):
            print(f"frozen master, min-replicas-to-write {min_replicas} (SIGSTOP until the failover, then SIGCONT):")
            reports = run(
                run_frozen_master_scenario, args.runs, not args.quiet,
                failover_timeout_milliseconds=10000, min_replicas_to_write=min_replicas,
            )
            attempts = sum(r.stale_attempts for r in reports)
            accepted = sum(r.stale_accepted for r in reports)
            kept = sum(r.stale_accepted_kept for r in reports)
            lost = sum(r.acknowledged_lost for r in reports)
            print(f"  stale client writes to the resumed old master: {attempts}, accepted {accepted} "
                  f"(lost {accepted - kept}), acknowledged by WAIT 1: {sum(r.stale_acknowledged for r in reports)}")
            print(f"  acknowledged writes (SET + WAIT 1 via sentinels): {sum(r.acknowledged_total for r in reports)}, "
                  f"lost: {lost}")
            ok &= lost == 0
    print("targets met" if ok else "TARGETS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
