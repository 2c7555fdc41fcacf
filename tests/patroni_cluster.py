"""Run the generated Patroni configuration with the real Patroni, PostgreSQL and etcd on loopback.

One helper, :func:`loopback_config`, turns the configuration the pods get
into one a process on this machine can run. It changes only what cannot exist
outside Kubernetes: the DCS section (Kubernetes -> etcd3 on 127.0.0.1), the
member name and addresses (in a pod they come from PATRONI_* variables), the
directories, and the passwords (in a pod they come from the Secret). Every
other setting (timings, synchronous mode, pg_rewind, slots, parameters,
pg_hba, the post-bootstrap script) is exactly what the pods run, and
tests/test_patroni_integration.py asserts so.

:class:`LoopbackCluster` starts etcd and the members as the ``postgres`` user
(PostgreSQL refuses root) in a private temp directory, and always kills every
process and removes the directory when it stops. Used by the integration test
and by benchmarks/patroni_failover.py.
"""

from __future__ import annotations

import copy
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pg8000.native
import yaml

from leanvibe_constructs._labels import Identity
from leanvibe_constructs.postgres_ha import PostgresHAProps, config_files

POSTGRES_BIN_GLOB = "/usr/lib/postgresql/*/bin"
INSTALL_HINT = "apt-get install postgresql patroni etcd-server"


# --- the one place where the generated config is adapted to loopback -------------


@dataclass(frozen=True)
class LoopbackMember:
    name: str
    pg_port: int
    api_port: int
    home: Path  # this member's directory: data, socket, pgpass, log

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def socket_dir(self) -> Path:
        return self.home / "run"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"


def loopback_config(
    config: dict[str, Any],
    member: LoopbackMember,
    *,
    etcd_hosts: list[str],
    bin_dir: str,
    post_bootstrap: str,
    passwords: dict[str, str],
) -> dict[str, Any]:
    """The generated ``patroni.yml`` with only the Kubernetes-specific values replaced."""
    out = copy.deepcopy(config)
    del out["kubernetes"]
    out["etcd3"] = {"hosts": etcd_hosts}
    out["name"] = member.name  # in a pod: PATRONI_NAME from metadata.name
    out["restapi"]["listen"] = f"127.0.0.1:{member.api_port}"
    out["restapi"]["connect_address"] = f"127.0.0.1:{member.api_port}"  # PATRONI_RESTAPI_CONNECT_ADDRESS
    out["bootstrap"]["post_bootstrap"] = post_bootstrap
    pg = out["postgresql"]
    pg["listen"] = f"127.0.0.1:{member.pg_port}"
    pg["connect_address"] = f"127.0.0.1:{member.pg_port}"  # PATRONI_POSTGRESQL_CONNECT_ADDRESS
    pg["data_dir"] = str(member.data_dir)
    pg["bin_dir"] = bin_dir
    pg["pgpass"] = str(member.home / "pgpass")
    pg["parameters"]["unix_socket_directories"] = str(member.socket_dir)
    for user in ("superuser", "replication"):  # PATRONI_SUPERUSER_PASSWORD, PATRONI_REPLICATION_PASSWORD
        pg["authentication"][user]["password"] = passwords[user]
    out["restapi"]["authentication"]["password"] = passwords["restapi"]  # PATRONI_RESTAPI_PASSWORD
    return out


def changed_paths(before: Any, after: Any, prefix: str = "") -> set[str]:
    """Dotted paths of every value added, removed or changed between two nested dicts."""
    if isinstance(before, dict) and isinstance(after, dict):
        paths: set[str] = set()
        for key in before.keys() | after.keys():
            path = f"{prefix}.{key}" if prefix else str(key)
            if key not in before or key not in after:
                paths.add(path)
            else:
                paths |= changed_paths(before[key], after[key], path)
        return paths
    return set() if before == after else {prefix}


# --- processes ---------------------------------------------------------------------


def free_ports(count: int) -> list[int]:
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _run_as() -> tuple[int, int] | None:
    """(uid, gid) of the postgres user when running as root, else None (run as ourselves)."""
    if os.geteuid() != 0:
        return None
    entry = pwd.getpwnam("postgres")
    return entry.pw_uid, entry.pw_gid


def wait_for(what: str, check: Callable[[], Any], timeout: float, interval: float = 0.25) -> Any:
    """Poll ``check`` until it returns something truthy; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except Exception as error:  # a server that is still starting refuses connections
            last_error = error
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what} (last error: {last_error!r})")


def get_json(url: str, timeout: float = 2.0) -> Any:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as error:  # Patroni answers 503 with a JSON body for non-primaries
        return json.loads(error.read())


def _descendants(pids: set[int]) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = set(pids), list(pids)
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _kill(pids: set[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@dataclass
class Credentials:
    superuser: str = field(default_factory=lambda: secrets.token_urlsafe(18))
    replication: str = field(default_factory=lambda: secrets.token_urlsafe(18))
    restapi: str = field(default_factory=lambda: secrets.token_urlsafe(18))
    app: str = field(default_factory=lambda: secrets.token_urlsafe(18))


class LoopbackCluster:
    """etcd plus N Patroni members on 127.0.0.1, from the construct's generated files."""

    def __init__(
        self,
        props: PostgresHAProps,
        *,
        patroni: str,
        etcd: str,
        bin_dir: str,
    ):
        self.props = props
        self.identity = Identity("postgresql", props.name, "database", props.part_of, "loopback")
        self.patroni, self.etcd, self.bin_dir = patroni, etcd, bin_dir
        self.credentials = Credentials()
        self.run_as = _run_as()
        self.workdir = Path(tempfile.mkdtemp(prefix="leanvibe-patroni-"))
        os.chmod(self.workdir, 0o700)
        ports = free_ports(2 + 2 * props.members)
        self.etcd_client_port, self.etcd_peer_port = ports[:2]
        self.members = [
            LoopbackMember(f"{props.name}-{i}", ports[2 + 2 * i], ports[3 + 2 * i], self.workdir / f"member-{i}")
            for i in range(props.members)
        ]
        self.files = config_files(props, self.identity)
        self.generated = yaml.safe_load(self.files["patroni.yml"])
        self.configs: dict[str, dict[str, Any]] = {}
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._logs: list[Any] = []
        self._lock = threading.Lock()

    # -- lifecycle --

    def __enter__(self) -> LoopbackCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self, timeout: float = 120) -> None:
        self._write_files()
        self._start_etcd()
        self.start_member(self.members[0])
        wait_for("the first member to bootstrap as primary", lambda: self.leader() == self.members[0].name, 60)
        for member in self.members[1:]:
            self.start_member(member)
        wait_for(
            f"{len(self.members) - 1} replicas to stream",
            lambda: self.streaming_replicas() == len(self.members) - 1,
            timeout,
        )
        if self.props.synchronous_mode:
            wait_for("a synchronous standby", lambda: self.sync_standbys(), 30)

    def stop(self) -> None:
        """Stop everything, gently then with SIGKILL, and remove the temp dir. Safe to call twice."""
        with self._lock:
            patronis = {name: p for name, p in self._procs.items() if name != "etcd"}
            for proc in patronis.values():
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 20
            for proc in patronis.values():
                try:
                    proc.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    pass
            pids = {p.pid for p in self._procs.values() if p.poll() is None}
            pids |= {pid for m in self.members if (pid := self.postmaster_pid(m))}
            _kill(_descendants(pids))
            for proc in self._procs.values():
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    pass
            self._procs.clear()
            for handle in self._logs:
                handle.close()
            self._logs.clear()
            shutil.rmtree(self.workdir, ignore_errors=True)

    def _chown(self, path: Path) -> None:
        if self.run_as:
            os.chown(path, *self.run_as)

    def _write_files(self) -> None:
        scripts = self.workdir / "etc"
        scripts.mkdir()
        post_bootstrap = scripts / "post-bootstrap.sh"
        post_bootstrap.write_text(self.files["post-bootstrap.sh"])
        post_bootstrap.chmod(0o555)
        for path in (self.workdir, scripts, post_bootstrap):
            self._chown(path)
        etcd_hosts = [f"127.0.0.1:{self.etcd_client_port}"]
        passwords = {
            "superuser": self.credentials.superuser,
            "replication": self.credentials.replication,
            "restapi": self.credentials.restapi,
        }
        for member in self.members:
            for path in (member.home, member.socket_dir):
                path.mkdir(mode=0o700)
                self._chown(path)
            config = loopback_config(
                self.generated, member, etcd_hosts=etcd_hosts, bin_dir=self.bin_dir,
                post_bootstrap=str(post_bootstrap), passwords=passwords,
            )
            self.configs[member.name] = config
            path = member.home / "patroni.yml"
            path.write_text(yaml.safe_dump(config, sort_keys=False))
            path.chmod(0o600)  # holds the throwaway passwords
            self._chown(path)

    def _spawn(self, name: str, argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
        handle = open(log, "ab")
        self._logs.append(handle)
        kwargs: dict[str, Any] = {}
        if self.run_as:
            kwargs.update(user=self.run_as[0], group=self.run_as[1], extra_groups=[])
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=handle, stderr=subprocess.STDOUT, env=env,
            cwd=self.workdir, start_new_session=True, **kwargs,
        )
        self._procs[name] = proc
        return proc

    def _base_env(self, home: Path) -> dict[str, str]:
        return {"PATH": f"{self.bin_dir}:/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}

    def _start_etcd(self) -> None:
        data = self.workdir / "etcd"
        data.mkdir(mode=0o700)
        self._chown(data)
        client = f"http://127.0.0.1:{self.etcd_client_port}"
        peer = f"http://127.0.0.1:{self.etcd_peer_port}"
        self._spawn(
            "etcd",
            [
                self.etcd, "--name", "loopback", "--data-dir", str(data),
                "--listen-client-urls", client, "--advertise-client-urls", client,
                "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                "--initial-cluster", f"loopback={peer}", "--initial-cluster-state", "new",
                "--listen-metrics-urls", "",
            ],
            self._base_env(self.workdir),
            self.workdir / "etcd.log",
        )
        wait_for("etcd to serve", lambda: get_json(f"{client}/health").get("health") == "true", 30)

    def start_member(self, member: LoopbackMember) -> None:
        env = {
            **self._base_env(member.home),
            # What the pod gets from the environment: the post-bootstrap script's inputs.
            "APP_USERNAME": self.props.app_username,
            "APP_DATABASE": self.props.app_database,
            "APP_PASSWORD": self.credentials.app,
        }
        self._spawn(member.name, [self.patroni, str(member.home / "patroni.yml")], env, member.home / "patroni.log")

    # -- failures --

    def postmaster_pid(self, member: LoopbackMember) -> int | None:
        try:
            return int((member.data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None

    def kill_member(self, member: LoopbackMember) -> None:
        """kill -9 the member's Patroni, its postmaster and every PostgreSQL process: a lost node."""
        proc = self._procs.pop(member.name)
        pids = {proc.pid}
        if (postmaster := self.postmaster_pid(member)) is not None:
            pids.add(postmaster)
        _kill(_descendants(pids))
        proc.wait(timeout=10)

    # -- state --

    def member(self, name: str) -> LoopbackMember:
        return next(m for m in self.members if m.name == name)

    def status(self, member: LoopbackMember) -> dict[str, Any]:
        return get_json(f"{member.api_url}/patroni")

    def cluster(self) -> list[dict[str, Any]]:
        for member in self.members:
            if member.name in self._procs:
                try:
                    return get_json(f"{member.api_url}/cluster")["members"]
                except (OSError, KeyError, ValueError):
                    continue
        return []

    def leader(self) -> str | None:
        """The member that is the leader and accepts connections."""
        for m in self.cluster():
            if m["role"] == "leader" and m["state"] == "running":
                return m["name"]
        return None

    def sync_standbys(self) -> list[str]:
        return [m["name"] for m in self.cluster() if m["role"] == "sync_standby"]

    def streaming_replicas(self) -> int:
        count = 0
        for member in self.members:
            if member.name not in self._procs:
                continue
            try:
                status = self.status(member)
            except OSError:
                continue
            if status.get("role") == "replica" and status.get("state") == "running" and self._is_streaming(member):
                count += 1
        return count

    def _is_streaming(self, member: LoopbackMember) -> bool:
        rows = self.sql(member, "SELECT status FROM pg_stat_wal_receiver", database="postgres", superuser=True)
        return bool(rows) and rows[0][0] == "streaming"

    def log(self, member: LoopbackMember) -> str:
        path = member.home / "patroni.log"
        return path.read_text(errors="replace") if path.exists() else ""

    # -- clients --

    def connect(self, member: LoopbackMember, *, superuser: bool = False, database: str | None = None,
                timeout: float = 5) -> pg8000.native.Connection:
        user = self.props.superuser_username if superuser else self.props.app_username
        password = self.credentials.superuser if superuser else self.credentials.app
        return pg8000.native.Connection(
            user, host="127.0.0.1", port=member.pg_port, password=password,
            database=database or self.props.app_database, timeout=timeout,
        )

    def sql(self, member: LoopbackMember, query: str, *, superuser: bool = False, database: str | None = None,
            **params: Any) -> list[list[Any]]:
        conn = self.connect(member, superuser=superuser, database=database)
        try:
            return conn.run(query, **params)
        finally:
            conn.close()

    def psql_as_os_user(self, member: LoopbackMember, user: str, query: str) -> subprocess.CompletedProcess[str]:
        """psql over the member's Unix socket as the OS user of the servers (peer authentication)."""
        kwargs: dict[str, Any] = {}
        if self.run_as:
            kwargs.update(user=self.run_as[0], group=self.run_as[1], extra_groups=[])
        return subprocess.run(
            [f"{self.bin_dir}/psql", "-X", "-At", "-h", str(member.socket_dir), "-p", str(member.pg_port),
             "-U", user, "-d", "postgres", "-c", query],
            capture_output=True, text=True, timeout=15, env=self._base_env(self.workdir), cwd=self.workdir, **kwargs,
        )


# --- the failover scenario ------------------------------------------------------------


@dataclass
class FailoverResult:
    old_primary: str
    new_primary: str
    failover_seconds: float  # kill -9 of the primary -> first commit acknowledged by the new primary
    acknowledged: int  # commits acknowledged to the client over the whole run
    acknowledged_before_kill: int
    lost: int  # acknowledged commits missing on the new primary afterwards
    rejoin_seconds: float | None = None  # restart of the old primary -> streaming from the new one
    rewound: bool | None = None  # whether Patroni ran pg_rewind on the old primary

    def report(self) -> str:
        lines = [
            f"failover: {self.old_primary} killed (kill -9 of Patroni and PostgreSQL), {self.new_primary} promoted",
            f"  time until the new primary accepted a write: {self.failover_seconds:.1f} s",
            f"  acknowledged commits: {self.acknowledged} ({self.acknowledged_before_kill} by the old primary)",
            f"  acknowledged commits lost: {self.lost}",
        ]
        if self.rejoin_seconds is not None:
            lines.append(
                f"  old primary rejoined as a streaming replica after {self.rejoin_seconds:.1f} s "
                f"(pg_rewind {'ran' if self.rewound else 'was not needed'})"
            )
        return "\n".join(lines)


class Writer(threading.Thread):
    """A client that inserts one row per commit and records the ids whose commit was acknowledged.

    It finds the primary the way a libpq client with several hosts and
    target_session_attrs=read-write does: try each member, keep the one that is
    not in recovery.
    """

    def __init__(self, cluster: LoopbackCluster, table: str):
        super().__init__(daemon=True)
        self.cluster, self.table = cluster, table
        # (id, monotonic time of the acknowledgement, member that acknowledged it)
        self.acknowledged: list[tuple[int, float, str]] = []
        self.stop_event = threading.Event()
        self.errors = 0

    def _connect(self) -> tuple[pg8000.native.Connection, str] | None:
        for member in self.cluster.members:
            try:
                conn = self.cluster.connect(member, timeout=2)
            except Exception:
                continue
            try:
                if conn.run("SELECT pg_is_in_recovery()")[0][0] is False:
                    return conn, member.name
            except Exception:
                pass
            conn.close()
        return None

    def run(self) -> None:
        conn, primary, next_id = None, "", 1
        while not self.stop_event.is_set():
            if conn is None:
                found = self._connect()
                if found is None:
                    time.sleep(0.1)
                    continue
                conn, primary = found
            try:
                conn.run(f"INSERT INTO {self.table} (id) VALUES (:id)", id=next_id)
                self.acknowledged.append((next_id, time.monotonic(), primary))
            except Exception:
                self.errors += 1
                try:
                    conn.close()
                except Exception:
                    pass
                conn = None
            next_id += 1  # an id whose commit failed is never retried: it may or may not exist
        if conn is not None:
            conn.close()


def run_failover(
    cluster: LoopbackCluster, *, rejoin: bool = True, timeout: float = 90, table: str = "failover_probe"
) -> FailoverResult:
    """Kill -9 the primary under a write load; measure failover time and lost commits; optionally rejoin."""
    old_name = wait_for("a leader", cluster.leader, 30)
    old = cluster.member(old_name)
    cluster.sql(old, f"CREATE TABLE IF NOT EXISTS {table} (id bigint PRIMARY KEY, at timestamptz DEFAULT now())")
    writer = Writer(cluster, table)
    writer.start()
    try:
        writing_since = time.monotonic()
        # At least 200 commits and 3 s of steady synchronous writes before the kill.
        wait_for(
            "the writer to commit 200 rows over 3 s",
            lambda: len(writer.acknowledged) >= 200 and time.monotonic() - writing_since >= 3,
            30,
            0.05,
        )
        killed_at = time.monotonic()
        cluster.kill_member(old)
        def first_commit_after_kill() -> float | None:
            times = [t for _, t, member in list(writer.acknowledged) if member != old_name]
            return min(times) if times else None

        first_after = wait_for("a new primary to accept a write", first_commit_after_kill, timeout, 0.05)
        # Keep writing for a while on the new primary, then stop the client.
        wait_for("more writes on the new primary", lambda: time.monotonic() - first_after > 3, 10)
    finally:
        writer.stop_event.set()
        writer.join(timeout=15)
    new_name = wait_for("the new leader", lambda: (leader := cluster.leader()) != old_name and leader, 30)
    new = cluster.member(new_name)
    present = {row[0] for row in cluster.sql(new, f"SELECT id FROM {table}")}
    acknowledged = {i for i, _, _ in writer.acknowledged}
    result = FailoverResult(
        old_primary=old_name,
        new_primary=new_name,
        failover_seconds=first_after - killed_at,
        acknowledged=len(acknowledged),
        acknowledged_before_kill=sum(1 for _, _, member in writer.acknowledged if member == old_name),
        lost=len(acknowledged - present),
    )
    if rejoin:
        restarted_at = time.monotonic()
        cluster.start_member(old)
        wait_for(
            f"{old_name} to stream from {new_name}",
            lambda: cluster.status(old).get("role") == "replica" and cluster._is_streaming(old),
            120,
        )
        result.rejoin_seconds = time.monotonic() - restarted_at
        result.rewound = "pg_rewind" in cluster.log(old) and "running pg_rewind" in cluster.log(old)
    return result
