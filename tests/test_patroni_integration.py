"""The generated Patroni configuration, run by the real Patroni, PostgreSQL and etcd on loopback.

A 3-member cluster from PostgresHA's production defaults (synchronous mode,
ttl 30 / loop_wait 10 / retry_timeout 10, pg_rewind, slots, the generated
pg_hba and post-bootstrap script). Only what cannot exist outside Kubernetes
is replaced, by tests/patroni_cluster.loopback_config, and the first test
proves nothing else changed. Then:

1. a row written on the primary is readable on both replicas;
2. the primary is killed (kill -9 of Patroni and every PostgreSQL process)
   while a client writes; the time until a new primary accepts writes and
   the acknowledged commits missing afterwards are measured and printed;
3. the old primary comes back as a streaming replica (pg_rewind) with no
   manual step.

benchmarks/patroni_failover.py runs the same scenario on its own.
"""

from __future__ import annotations

import base64
import os
import urllib.error
import urllib.request

import pytest
import yaml

from leanvibe_constructs import PostgresHAProps
from leanvibe_constructs._labels import Identity
from leanvibe_constructs.postgres_ha import config_files

from .conftest import require_binary
from .patroni_cluster import (
    INSTALL_HINT,
    POSTGRES_BIN_GLOB,
    LoopbackCluster,
    LoopbackMember,
    changed_paths,
    loopback_config,
    run_failover,
    wait_for,
)

# The target for the default timings.
FAILOVER_TARGET_SECONDS = 45


def production_props() -> PostgresHAProps:
    """The construct's production defaults, exactly: nothing is tuned for the test."""
    return PostgresHAProps()


def test_loopback_config_replaces_only_what_cannot_exist_outside_kubernetes(tmp_path):
    props = production_props()
    identity = Identity("postgresql", props.name, "database", props.part_of, "4.0-p3")
    generated = yaml.safe_load(config_files(props, identity)["patroni.yml"])
    member = LoopbackMember("m0", 15432, 18008, tmp_path)
    config = loopback_config(
        generated, member, etcd_hosts=["127.0.0.1:2379"], bin_dir="/usr/lib/postgresql/15/bin",
        post_bootstrap=str(tmp_path / "post-bootstrap.sh"), passwords={"superuser": "s", "replication": "r", "restapi": "p"},
    )
    assert changed_paths(generated, config) == {
        # The DCS: Kubernetes ConfigMaps in a pod, a local etcd here.
        "kubernetes", "etcd3",
        # Per-pod values that PATRONI_* environment variables set in a pod.
        "name", "restapi.connect_address", "postgresql.connect_address",
        "postgresql.authentication.superuser.password", "postgresql.authentication.replication.password",
        "restapi.authentication.password",
        # Addresses and paths of this machine.
        "restapi.listen", "postgresql.listen", "postgresql.data_dir", "postgresql.bin_dir", "postgresql.pgpass",
        "postgresql.parameters.unix_socket_directories", "bootstrap.post_bootstrap",
    }
    # Everything that decides failover behaviour is untouched.
    assert config["bootstrap"]["dcs"] == generated["bootstrap"]["dcs"]
    assert config["postgresql"]["pg_hba"] == generated["postgresql"]["pg_hba"]


# --- the real servers ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def binaries() -> dict[str, str]:
    found = {
        "patroni": require_binary("patroni", INSTALL_HINT),
        "etcd": require_binary("etcd", INSTALL_HINT),
        "postgres": require_binary("postgres", INSTALL_HINT, (POSTGRES_BIN_GLOB,)),
        "pg_rewind": require_binary("pg_rewind", INSTALL_HINT, (POSTGRES_BIN_GLOB,)),
    }
    # Patroni needs the whole server bin directory (initdb, pg_ctl, pg_controldata, pg_rewind);
    # a `postgres` on PATH may be a symlink into it.
    found["bin_dir"] = os.path.dirname(os.path.realpath(found["postgres"]))
    return found


@pytest.fixture(scope="module")
def cluster(binaries):
    with LoopbackCluster(
        production_props(), patroni=binaries["patroni"], etcd=binaries["etcd"], bin_dir=binaries["bin_dir"]
    ) as running:
        try:
            running.start()
        except Exception:
            for member in running.members:
                print(f"--- {member.name} log (tail) ---\n{running.log(member)[-4000:]}")
            raise
        yield running


@pytest.fixture(scope="module")
def failover(cluster):
    return run_failover(cluster, rejoin=True)


@pytest.mark.integration
def test_row_written_on_the_primary_is_readable_on_both_replicas(cluster):
    leader = cluster.member(cluster.leader())
    replicas = [m for m in cluster.members if m is not leader]
    assert len(replicas) == 2
    # The application role and database exist: the generated post-bootstrap script ran.
    cluster.sql(leader, "CREATE TABLE replication_probe (id int PRIMARY KEY, note text)")
    cluster.sql(leader, "INSERT INTO replication_probe VALUES (1, :note)", note="written on the primary")
    for replica in replicas:
        assert cluster.sql(replica, "SELECT pg_is_in_recovery()") == [[True]]
        rows = wait_for(
            f"the row on {replica.name}",
            lambda r=replica: cluster.sql(r, "SELECT note FROM replication_probe WHERE id = 1"),
            10,
        )
        assert rows == [["written on the primary"]]


@pytest.mark.integration
def test_commits_wait_for_a_synchronous_replica(cluster):
    leader = cluster.member(cluster.leader())
    [[names]] = cluster.sql(leader, "SHOW synchronous_standby_names", superuser=True)
    assert cluster.sync_standbys() and cluster.sync_standbys()[0] in names


@pytest.mark.integration
def test_exporter_role_logs_in_by_peer_and_reads_replication_state(cluster):
    if cluster.run_as is None:
        pytest.skip("peer authentication maps the OS user 'postgres'; run as root so the servers run as postgres")
    leader = cluster.member(cluster.leader())
    result = cluster.psql_as_os_user(leader, "monitor", "SELECT count(*) FROM pg_stat_replication")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "2"
    denied = cluster.psql_as_os_user(leader, "postgres", "SELECT 1")  # peer login as the superuser is not allowed
    assert denied.returncode != 0


@pytest.mark.integration
def test_patroni_rest_api_refuses_unsafe_calls_without_the_password(cluster):
    leader = cluster.member(cluster.leader())
    anonymous = urllib.request.Request(f"{leader.api_url}/restart", data=b"{}", method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(anonymous, timeout=5)
    assert refused.value.code == 401
    # With the password from the Secret an unsafe call goes through (a harmless reload).
    token = base64.b64encode(f"patroni:{cluster.credentials.restapi}".encode()).decode()
    reload = urllib.request.Request(
        f"{leader.api_url}/reload", data=b"", method="POST", headers={"Authorization": f"Basic {token}"})
    with urllib.request.urlopen(reload, timeout=5) as response:
        assert response.status == 202
    # Probes and Prometheus read without credentials.
    with urllib.request.urlopen(f"{leader.api_url}/readiness", timeout=5) as response:
        assert response.status == 200
    with urllib.request.urlopen(f"{leader.api_url}/metrics", timeout=5) as response:
        assert "patroni_primary" in response.read().decode()


@pytest.mark.integration
def test_failover_after_kill_9_of_the_primary_loses_no_acknowledged_commit(failover, capsys, record_property):
    with capsys.disabled():
        print("\n" + failover.report())
    record_property("failover_seconds", round(failover.failover_seconds, 1))
    record_property("lost_commits", failover.lost)
    assert failover.new_primary != failover.old_primary
    assert failover.acknowledged > failover.acknowledged_before_kill > 0
    assert failover.lost == 0
    assert failover.failover_seconds < FAILOVER_TARGET_SECONDS


@pytest.mark.integration
def test_old_primary_rejoins_as_a_streaming_replica_without_manual_steps(cluster, failover):
    old, new = cluster.member(failover.old_primary), cluster.member(failover.new_primary)
    assert failover.rejoin_seconds is not None
    assert cluster.status(old)["role"] == "replica"
    assert cluster.status(old)["timeline"] == cluster.status(new)["timeline"]
    # Everything acknowledged after the failover has reached the old primary too.
    [[on_new]] = cluster.sql(new, "SELECT count(*) FROM failover_probe")
    wait_for(
        f"{old.name} to replay the new primary's commits",
        lambda: cluster.sql(old, "SELECT count(*) FROM failover_probe") == [[on_new]],
        20,
    )
    if failover.rewound:  # the usual case: the killed primary had WAL its replicas never received
        assert "pg_rewind exit code=0" in cluster.log(old)
    # Every member follows the new primary again.
    wait_for("all replicas streaming", lambda: cluster.streaming_replicas() == 2, 60)
