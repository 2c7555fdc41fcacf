"""Failover of PostgresHA's generated Patroni configuration, measured with the real servers on loopback.

Starts etcd and a 3-member Patroni cluster (Debian's patroni and PostgreSQL)
from the construct's production defaults, with only the Kubernetes DCS,
addresses, paths and passwords replaced (tests/patroni_cluster.py), then for
each round:

- a client inserts one row per commit and records every acknowledged commit;
- the primary's Patroni and every PostgreSQL process get kill -9 (a lost node);
- measured: seconds until a new primary acknowledges a commit, and acknowledged
  commits missing on the new primary afterwards;
- the killed member is restarted and must come back as a streaming replica
  (pg_rewind) on its own; measured: seconds until it streams.

Targets (issue 3): 0 lost commits with synchronous mode; failover < 45 s with
ttl 30 / loop_wait 10 / retry_timeout 10. The failover time is bounded by the
leader key's TTL: a replica may take over only once the dead primary's key
expires, 20-30 s after the kill (the key was last renewed up to loop_wait
before it), plus the promotion itself.

Usage (as root, servers run as the postgres user; or as any non-root user):
    python benchmarks/patroni_failover.py [--rounds 3] [--json results.json]
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import platform
import shutil
import statistics
import sys
import time
from dataclasses import asdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from leanvibe_constructs import PostgresHAProps  # noqa: E402
from tests.patroni_cluster import (  # noqa: E402
    INSTALL_HINT,
    POSTGRES_BIN_GLOB,
    FailoverResult,
    LoopbackCluster,
    run_failover,
    wait_for,
)


def find_binaries() -> tuple[str, str, str]:
    patroni, etcd = shutil.which("patroni"), shutil.which("etcd")
    candidates = sorted(glob.glob(f"{POSTGRES_BIN_GLOB}/postgres"), reverse=True)
    postgres = os.path.realpath(shutil.which("postgres") or (candidates[0] if candidates else ""))
    if not (patroni and etcd and os.path.exists(postgres)):
        sys.exit(f"patroni, etcd and PostgreSQL are required: {INSTALL_HINT}")
    return patroni, etcd, os.path.dirname(postgres)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="failovers to run in one cluster (default 3)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()

    patroni, etcd, bin_dir = find_binaries()
    props = PostgresHAProps()
    print(
        f"PostgresHA defaults: {props.members} members, synchronous_mode={props.synchronous_mode}, "
        f"ttl={props.ttl_seconds} loop_wait={props.loop_wait_seconds} retry_timeout={props.retry_timeout_seconds}"
    )
    print(f"servers: {bin_dir}, {patroni}, {etcd}; {platform.node()} ({os.cpu_count()} cores)\n")

    results: list[FailoverResult] = []
    started = time.monotonic()
    with LoopbackCluster(props, patroni=patroni, etcd=etcd, bin_dir=bin_dir) as cluster:
        cluster.start()
        print(f"cluster bootstrapped and replicating in {time.monotonic() - started:.1f} s\n")
        for round_number in range(1, args.rounds + 1):
            result = run_failover(cluster, rejoin=True, table=f"failover_round_{round_number}")
            results.append(result)
            print(f"round {round_number}: {result.report()}\n")
            # The next round starts from a healthy cluster with a synchronous standby again.
            wait_for("all replicas streaming", lambda: cluster.streaming_replicas() == props.members - 1, 60)
            wait_for("a synchronous standby", cluster.sync_standbys, 60)

    times = [r.failover_seconds for r in results]
    summary = {
        "rounds": len(results),
        "failover_seconds": {"min": min(times), "median": statistics.median(times), "max": max(times)},
        "lost_commits_total": sum(r.lost for r in results),
        "acknowledged_commits_total": sum(r.acknowledged for r in results),
        "rejoin_seconds_max": max(r.rejoin_seconds or 0 for r in results),
        "pg_rewind_ran": sum(1 for r in results if r.rewound),
    }
    print(
        f"summary over {len(results)} failovers: failover {min(times):.1f} / {statistics.median(times):.1f} / "
        f"{max(times):.1f} s (min / median / max); lost {summary['lost_commits_total']} of "
        f"{summary['acknowledged_commits_total']} acknowledged commits; rejoin <= {summary['rejoin_seconds_max']:.1f} s; "
        f"pg_rewind ran in {summary['pg_rewind_ran']} of {len(results)} rejoins"
    )
    if args.json:
        args.json.write_text(json.dumps({"summary": summary, "rounds": [asdict(r) for r in results]}, indent=2))


if __name__ == "__main__":
    main()
