"""Run the generated Redis/Sentinel configuration with the real servers on loopback.

Used by tests/test_redis_integration.py and benchmarks/redis_failover.py.

:func:`loopback_rewrite` is the only change made to the generated files: pod
DNS names become 127.0.0.1 with a free port each, the pod paths (ConfigMap,
data volume, runtime dirs) become folders of a temporary directory, and the
listen address becomes 127.0.0.1. :func:`loopback_revert` undoes exactly
that, so a test can assert nothing else changed.

:class:`SentinelLab` starts 3 data nodes and 3 sentinels by running the
generated start-up scripts with ``sh``, as the pods do, and
:func:`run_failover_scenario` performs and measures the failover.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from leanvibe_constructs.redis_config import (
    AUTH_DIR,
    CONFIG_DIR,
    DATA_DIR,
    LISTEN_ALL,
    RUN_DIR,
    SENTINEL_RUN_DIR,
    Address,
    RedisLayout,
)

LOOPBACK = "127.0.0.1"
REDIS_INSTALL_HINT = "apt-get install redis-server redis-sentinel (Debian/Ubuntu)"


# --- a minimal RESP client: enough for SET/WAIT/INFO/SENTINEL, no dependency -----


class RespError(Exception):
    """An error reply from the server (e.g. NOREPLICAS, READONLY)."""


class RespClient:
    def __init__(self, host: str, port: int, password: str | None, timeout: float = 1.0):
        self.address = f"{host}:{port}"
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.settimeout(timeout)
        self.reader = self.sock.makefile("rb")
        if password:
            self.call("AUTH", password)

    def call(self, *args: Any) -> Any:
        parts = [f"*{len(args)}\r\n".encode()]
        for arg in args:
            data = arg if isinstance(arg, bytes) else str(arg).encode()
            parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
        self.sock.sendall(b"".join(parts))
        return self._read()

    def _read(self) -> Any:
        line = self.reader.readline()
        if not line:
            raise ConnectionError(f"{self.address} closed the connection")
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RespError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            size = int(rest)
            if size < 0:
                return None
            data = self.reader.read(size + 2)[:-2]
            return data.decode()
        if kind == b"*":
            size = int(rest)
            return None if size < 0 else [self._read() for _ in range(size)]
        raise ConnectionError(f"{self.address}: unexpected reply {line!r}")

    def close(self) -> None:
        try:
            self.reader.close()
            self.sock.close()
        except OSError:
            pass

    def __enter__(self) -> RespClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def pairs(reply: list[Any]) -> dict[str, Any]:
    """A flat [field, value, ...] reply (SENTINEL MASTER) as a dict."""
    return dict(zip(reply[::2], reply[1::2], strict=True))


def info(reply: str) -> dict[str, str]:
    fields = {}
    for line in reply.splitlines():
        if ":" in line and not line.startswith("#"):
            key, _, value = line.partition(":")
            fields[key] = value
    return fields


def free_ports(count: int) -> list[int]:
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind((LOOPBACK, 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def wait_until(condition: Callable[[], Any], timeout: float, what: str, interval: float = 0.05) -> Any:
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = condition()
            if result:
                return result
        except (OSError, RespError, ValueError, KeyError) as error:
            last_error = error
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout} s waiting for {what} (last error: {last_error})")


# --- the loopback rewrite ---------------------------------------------------------


@dataclass(frozen=True)
class LoopbackPlan:
    """Where each pod of a layout runs on loopback."""

    layout: RedisLayout
    node_ports: tuple[int, ...]
    sentinel_ports: tuple[int, ...]
    root: Path

    def node_address(self, i: int) -> Address:
        return Address(LOOPBACK, self.node_ports[i])

    def sentinel_address(self, i: int) -> Address:
        return Address(LOOPBACK, self.sentinel_ports[i])

    def process_dir(self, process: str) -> Path:
        return self.root / process

    def replacements(self, process: str) -> list[tuple[str, str]]:
        """(generated token, loopback token) pairs for one process's files."""
        folder = self.process_dir(process)
        tokens = [(str(a), str(self.node_address(i))) for i, a in enumerate(self.layout.nodes)]
        tokens += [(str(a), str(self.sentinel_address(i))) for i, a in enumerate(self.layout.sentinels)]
        tokens += [
            (CONFIG_DIR, str(folder / "etc")),
            (AUTH_DIR, str(folder / "auth")),
            (DATA_DIR, str(folder / "data")),
            (RUN_DIR, str(folder / "run-redis")),
            (SENTINEL_RUN_DIR, str(folder / "run-sentinel")),
            (f"bind {LISTEN_ALL}", f"bind {LOOPBACK}"),
        ]
        return tokens


def _token_pattern(token: str) -> re.Pattern[str]:
    # A whole token: not part of a longer name, path or port number.
    return re.compile(r"(?<![\w/.:-])" + re.escape(token) + r"(?![\w.:-])")


def loopback_rewrite(text: str, plan: LoopbackPlan, process: str) -> str:
    for generated, loopback in plan.replacements(process):
        text = _token_pattern(generated).sub(lambda _m, value=loopback: value, text)
    return text


def loopback_revert(text: str, plan: LoopbackPlan, process: str) -> str:
    for generated, loopback in reversed(plan.replacements(process)):
        text = _token_pattern(loopback).sub(lambda _m, value=generated: value, text)
    return text


# --- the lab: 3 data nodes and 3 sentinels ------------------------------------------


class SentinelLab:
    """Data nodes and sentinels started from the generated files, on loopback."""

    def __init__(self, files: dict[str, str], layout: RedisLayout, name: str = "leanvibe-redis"):
        self.files = files
        self.layout = layout
        self.name = name
        self.password = secrets.token_urlsafe(24)  # throwaway, never written outside the temp dir
        self.root = Path(tempfile.mkdtemp(prefix="redis-sentinel-lab-"))
        ports = free_ports(len(layout.nodes) + len(layout.sentinels))
        self.plan = LoopbackPlan(
            layout,
            tuple(ports[: len(layout.nodes)]),
            tuple(ports[len(layout.nodes) :]),
            self.root,
        )
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        for i in range(len(layout.nodes)):
            self._prepare(f"node-{i}", ("redis.conf", "redis-start.sh", "redis-prestop.sh"))
        for i in range(len(layout.sentinels)):
            self._prepare(f"sentinel-{i}", ("sentinel.conf", "sentinel-monitor.conf", "sentinel-start.sh"))

    def _prepare(self, process: str, keys: tuple[str, ...]) -> None:
        folder = self.plan.process_dir(process)
        for sub in ("etc", "auth", "data", "run-redis", "run-sentinel"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        # The auth Secret as the pods see it: one file, readable by the process only.
        password_file = folder / "auth" / "password"
        password_file.write_text(self.password)
        password_file.chmod(0o400)
        for key in keys:
            (folder / "etc" / key).write_text(loopback_rewrite(self.files[key], self.plan, process))

    # processes

    def _start(self, process: str, script: str, pod_name: str) -> None:
        folder = self.plan.process_dir(process)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "POD_NAME": pod_name}
        log = open(folder / "log", "ab")  # noqa: SIM115 (owned by the process)
        self.processes[process] = subprocess.Popen(
            ["sh", str(folder / "etc" / script)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: teardown kills timeout/redis-cli children too
        )
        log.close()

    def start_node(self, i: int) -> None:
        self._start(f"node-{i}", "redis-start.sh", f"{self.name}-{i}")

    def start_sentinel(self, i: int) -> None:
        self._start(f"sentinel-{i}", "sentinel-start.sh", f"{self.name}-sentinel-{i}")

    def run_prestop(self, i: int, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        """Run node i's preStop hook as the kubelet would before stopping the pod."""
        folder = self.plan.process_dir(f"node-{i}")
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "POD_NAME": f"{self.name}-{i}",
        }
        return subprocess.run(
            ["sh", str(folder / "etc" / "redis-prestop.sh")],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def kill(self, process: str, sig: int = signal.SIGKILL) -> None:
        proc = self.processes.pop(process)
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)

    def log(self, process: str) -> str:
        path = self.plan.process_dir(process) / "log"
        return path.read_text(errors="replace") if path.exists() else ""

    def close(self) -> None:
        for process in list(self.processes):
            try:
                self.kill(process)
            except subprocess.TimeoutExpired:
                pass
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> SentinelLab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # clients

    def node(self, i: int, timeout: float = 1.0) -> RespClient:
        return RespClient(LOOPBACK, self.plan.node_ports[i], self.password, timeout)

    def sentinel(self, i: int, timeout: float = 1.0) -> RespClient:
        return RespClient(LOOPBACK, self.plan.sentinel_ports[i], self.password, timeout)

    def node_index(self, address: str) -> int:
        return self.plan.node_ports.index(int(address.rsplit(":", 1)[1]))

    def role(self, i: int) -> dict[str, str]:
        with self.node(i) as client:
            return info(client.call("INFO", "replication"))

    def master_seen_by(self, j: int) -> str | None:
        with self.sentinel(j, timeout=0.5) as client:
            reply = client.call("SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.layout.master_name)
        return f"{reply[0]}:{reply[1]}" if reply else None

    def sentinel_master(self, j: int) -> dict[str, Any]:
        with self.sentinel(j, timeout=0.5) as client:
            return pairs(client.call("SENTINEL", "MASTER", self.layout.master_name))

    def master_from_sentinels(self) -> str:
        """What a Sentinel-aware client does: ask the sentinels in turn, take the first answer."""
        for j in range(len(self.layout.sentinels)):
            try:
                address = self.master_seen_by(j)
            except (OSError, RespError):
                continue
            if address:
                return address
        raise ConnectionError("no sentinel answered")

    def start_all(self, timeout: float = 30) -> None:
        for j in range(len(self.layout.sentinels)):
            self.start_sentinel(j)
        for i in range(len(self.layout.nodes)):
            self.start_node(i)
        replicas = len(self.layout.nodes) - 1
        wait_until(
            lambda: self.role(0).get("role") == "master" and int(self.role(0)["connected_slaves"]) == replicas,
            timeout,
            f"node 0 to be master with {replicas} replicas",
        )
        self.wait_for_sentinels(timeout)

    def wait_for_sentinels(self, timeout: float) -> None:
        """Every sentinel knows the master, every replica and every other sentinel."""
        replicas = len(self.layout.nodes) - 1
        others = len(self.layout.sentinels) - 1

        def settled() -> bool:
            for j in range(len(self.layout.sentinels)):
                state = self.sentinel_master(j)
                if int(state["num-slaves"]) != replicas or int(state["num-other-sentinels"]) != others:
                    return False
            return True

        wait_until(settled, timeout, "the sentinels to discover every replica and each other", interval=0.2)


# --- the failover scenario -----------------------------------------------------------


@dataclass
class Write:
    index: int
    acknowledged: bool
    at: float  # time.monotonic() when the reply arrived
    master: str


class AcknowledgedWriter(threading.Thread):
    """Writes unique keys with SET + WAIT 1 through the master the sentinels name.

    A write counts as acknowledged only when WAIT reports at least one
    replica has it; errors (connection refused, NOREPLICAS, READONLY) make it
    ask the sentinels again, as a Sentinel-aware client library does.
    """

    def __init__(self, lab: SentinelLab, pause: float = 0.002):
        super().__init__(daemon=True)
        self.lab = lab
        self.pause = pause
        self.writes: list[Write] = []
        self.errors: list[tuple[float, str]] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        client: RespClient | None = None
        index = 0
        while not self.stopping.is_set():
            try:
                if client is None:
                    address = self.lab.master_from_sentinels()
                    host, port = address.rsplit(":", 1)
                    client = RespClient(host, int(port), self.lab.password, timeout=1.0)
                client.call("SET", f"ack:{index}", index)
                replicas = client.call("WAIT", 1, 500)
                self.writes.append(Write(index, replicas >= 1, time.monotonic(), client.address))
                index += 1
                time.sleep(self.pause)
            except (OSError, RespError) as error:
                self.errors.append((time.monotonic(), str(error)[:80]))
                index += 1  # never reuse a key whose SET may have landed
                if client is not None:
                    client.close()
                    client = None
                time.sleep(0.05)
        if client is not None:
            client.close()

    def acknowledged(self) -> list[Write]:
        return [w for w in self.writes if w.acknowledged]



def writable_again(writer: Any, old_master: Any, *, since: float, timeout: float) -> float:
    """Seconds from ``since`` until a write through a master other than ``old_master`` is acknowledged.

    Replies to writes in flight at the kill may arrive just after it; only a
    write through another master shows the client can write again. The writer
    then keeps going for 100 more acknowledged writes before anything is counted.
    """
    first_write = wait_until(
        lambda: next((w for w in writer.acknowledged() if w.at > since and w.master != old_master), None),
        timeout,
        "an acknowledged write through the new master",
        interval=0.02,
    )
    wait_until(
        lambda: len([w for w in writer.acknowledged() if w.at > first_write.at]) >= 100,
        10,
        "100 more acknowledged writes",
    )
    return first_write.at - since

def missing_keys(lab: SentinelLab, node: int, indexes: list[int]) -> list[int]:
    missing = []
    with lab.node(node, timeout=5) as client:
        for start in range(0, len(indexes), 1000):
            chunk = indexes[start : start + 1000]
            values = client.call("MGET", *[f"ack:{i}" for i in chunk])
            missing += [i for i, value in zip(chunk, values, strict=True) if value != str(i)]
    return missing


@dataclass
class FailoverReport:
    replicated_keys_checked: int = 0
    replication_seconds: float = 0.0
    old_master: str = ""
    new_master: str = ""
    promotion_seconds: float = 0.0  # kill -9 -> the sentinels name another master
    writable_seconds: float = 0.0  # kill -9 -> first acknowledged write through the new master
    acknowledged_before_kill: int = 0
    acknowledged_total: int = 0
    acknowledged_lost: int = 0
    unacknowledged_writes: int = 0
    write_errors: int = 0
    old_master_rejoined_as_replica_of: str = ""
    old_master_rejoin_seconds: float = 0.0
    masters_after_rejoin: list[str] = field(default_factory=list)
    lost_on_rejoined_old_master: int = 0
    sentinel_restart_agrees_on: str = ""
    sentinel_views_after_restart: list[str] = field(default_factory=list)
    other_sentinels_seen_after_restart: list[int] = field(default_factory=list)
    sentinel_rejoin_seconds: float = 0.0
    views_after_all_sentinels_restart: list[str] = field(default_factory=list)
    masters_after_all_sentinels_restart: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        return [
            f"replication: {self.replicated_keys_checked} keys on every replica in {self.replication_seconds:.3f} s",
            f"failover: promotion {self.promotion_seconds:.2f} s, writable again {self.writable_seconds:.2f} s "
            f"after kill -9 of {self.old_master} (new master {self.new_master})",
            f"acknowledged writes (SET + WAIT 1): {self.acknowledged_total}, lost {self.acknowledged_lost}; "
            f"unacknowledged {self.unacknowledged_writes}, client errors {self.write_errors}",
            f"old master restarted with redis-start.sh: replica of {self.old_master_rejoined_as_replica_of} "
            f"after {self.old_master_rejoin_seconds:.2f} s; masters: {self.masters_after_rejoin}; "
            f"acknowledged writes missing on it: {self.lost_on_rejoined_old_master}",
            f"sentinel restarted with sentinel-start.sh: names {self.sentinel_restart_agrees_on} after "
            f"{self.sentinel_rejoin_seconds:.2f} s; all sentinels: {self.sentinel_views_after_restart}; "
            f"other sentinels each knows: {self.other_sentinels_seen_after_restart}",
            f"every sentinel restarted at once: they name {self.views_after_all_sentinels_restart}; "
            f"masters: {self.masters_after_all_sentinels_restart}",
        ]


def run_failover_scenario(lab: SentinelLab, restart_sentinel: int = 0) -> FailoverReport:
    """Steps 1-4 of the issue, measured. The lab must have been started with ``start_all``."""
    report = FailoverReport()
    replicas = range(1, len(lab.layout.nodes))

    # 1. Replication: keys written on the master appear on every replica.
    with lab.node(0) as master:
        started = time.monotonic()
        for i in range(200):
            master.call("SET", f"replicated:{i}", i)
        assert master.call("WAIT", len(replicas), 5000) == len(replicas)
    for r in replicas:
        with lab.node(r) as replica:
            values = replica.call("MGET", *[f"replicated:{i}" for i in range(200)])
            assert values == [str(i) for i in range(200)], f"node {r} is missing replicated keys"
    report.replication_seconds = time.monotonic() - started
    report.replicated_keys_checked = 200

    # 2. kill -9 the master while a client writes with WAIT 1.
    old = lab.master_from_sentinels()
    report.old_master = old
    old_index = lab.node_index(old)
    writer = AcknowledgedWriter(lab)
    writer.start()
    try:
        wait_until(lambda: len(writer.acknowledged()) >= 200, 10, "200 acknowledged writes before the kill")
        killed_at = time.monotonic()
        lab.kill(f"node-{old_index}")
        report.acknowledged_before_kill = len([w for w in writer.acknowledged() if w.at <= killed_at])

        def promoted() -> str | None:
            views = {lab.master_seen_by(j) for j in range(len(lab.layout.sentinels))}
            views.discard(old)
            return views.pop() if views else None

        report.new_master = wait_until(promoted, 60, "the sentinels to promote a replica", interval=0.02)
        report.promotion_seconds = time.monotonic() - killed_at
        report.writable_seconds = writable_again(writer, old, since=killed_at, timeout=60)
    finally:
        writer.stopping.set()
        writer.join(timeout=10)
    acknowledged = [w.index for w in writer.acknowledged()]
    report.acknowledged_total = len(acknowledged)
    report.unacknowledged_writes = len([w for w in writer.writes if not w.acknowledged])
    report.write_errors = len(writer.errors)
    new_index = lab.node_index(report.new_master)
    report.acknowledged_lost = len(missing_keys(lab, new_index, acknowledged))

    # 3. Restart the old master with the generated start-up script.
    restarted_at = time.monotonic()
    lab.start_node(old_index)

    def rejoined() -> str | None:
        state = lab.role(old_index)
        if state.get("role") == "slave" and state.get("master_link_status") == "up":
            return f"{state['master_host']}:{state['master_port']}"
        return None

    report.old_master_rejoined_as_replica_of = wait_until(
        rejoined, 60, "the old master to come back as a replica", interval=0.1
    )
    report.old_master_rejoin_seconds = time.monotonic() - restarted_at
    report.masters_after_rejoin = [
        str(lab.plan.node_address(i)) for i in range(len(lab.layout.nodes)) if lab.role(i).get("role") == "master"
    ]
    with lab.node(new_index) as master:
        master.call("WAIT", len(lab.layout.nodes) - 1, 5000)
    report.lost_on_rejoined_old_master = len(missing_keys(lab, old_index, acknowledged))

    # 4. Restart one sentinel: it must rejoin and agree on the current master.
    lab.kill(f"sentinel-{restart_sentinel}")
    restarted_at = time.monotonic()
    lab.start_sentinel(restart_sentinel)
    report.sentinel_restart_agrees_on = wait_until(
        lambda: lab.master_seen_by(restart_sentinel), 30, "the restarted sentinel to answer", interval=0.1
    )
    lab.wait_for_sentinels(30)
    report.sentinel_rejoin_seconds = time.monotonic() - restarted_at
    report.sentinel_views_after_restart = [lab.master_seen_by(j) or "" for j in range(len(lab.layout.sentinels))]
    report.other_sentinels_seen_after_restart = [
        int(lab.sentinel_master(j)["num-other-sentinels"]) for j in range(len(lab.layout.sentinels))
    ]

    # 5. Restart every sentinel at once (all sentinel pods rescheduled): with no
    # peer to ask, they must find the current master among the data pods, not
    # fall back to pod 0 of the first deployment.
    for j in range(len(lab.layout.sentinels)):
        lab.kill(f"sentinel-{j}")
    for j in range(len(lab.layout.sentinels)):
        lab.start_sentinel(j)
    wait_until(
        lambda: all(lab.master_seen_by(j) for j in range(len(lab.layout.sentinels))),
        30,
        "every restarted sentinel to answer",
        interval=0.1,
    )
    lab.wait_for_sentinels(30)
    report.views_after_all_sentinels_restart = [
        lab.master_seen_by(j) or "" for j in range(len(lab.layout.sentinels))
    ]
    report.masters_after_all_sentinels_restart = [
        str(lab.plan.node_address(i)) for i in range(len(lab.layout.nodes)) if lab.role(i).get("role") == "master"
    ]
    return report


@dataclass
class QuickRestartReport:
    old_master: str = ""
    restarted_after_seconds: float = 0.0
    new_master: str = ""
    rejoined_as_replica_of: str = ""
    rejoin_seconds: float = 0.0  # kill -9 -> old master replicating from the new one
    masters_after: list[str] = field(default_factory=list)
    acknowledged_total: int = 0
    acknowledged_lost: int = 0
    waited_for_failover: bool = False

    def lines(self) -> list[str]:
        return [
            f"quick restart: old master {self.old_master} restarted {self.restarted_after_seconds:.1f} s after "
            f"kill -9; waited for the failover: {self.waited_for_failover}; replica of {self.rejoined_as_replica_of} "
            f"after {self.rejoin_seconds:.2f} s; masters: {self.masters_after}; acknowledged writes "
            f"{self.acknowledged_total}, lost {self.acknowledged_lost}",
        ]


def run_quick_restart_scenario(lab: SentinelLab, restart_after: float = 0.5) -> QuickRestartReport:
    """kill -9 the master and restart it at once, before the sentinels notice (a kubelet restart).

    The sentinels still name it master; the start-up script must not serve
    its stale copy as master but wait for the promotion and follow the new one.
    """
    report = QuickRestartReport()
    old = lab.master_from_sentinels()
    report.old_master = old
    old_index = lab.node_index(old)
    writer = AcknowledgedWriter(lab)
    writer.start()
    try:
        wait_until(lambda: len(writer.acknowledged()) >= 200, 10, "200 acknowledged writes before the kill")
        killed_at = time.monotonic()
        lab.kill(f"node-{old_index}")
        time.sleep(restart_after)
        lab.start_node(old_index)
        report.restarted_after_seconds = time.monotonic() - killed_at

        def rejoined() -> str | None:
            state = lab.role(old_index)
            if state.get("role") == "slave" and state.get("master_link_status") == "up":
                return f"{state['master_host']}:{state['master_port']}"
            return None

        report.rejoined_as_replica_of = wait_until(rejoined, 90, "the restarted master to follow a new master")
        report.rejoin_seconds = time.monotonic() - killed_at
        report.new_master = lab.master_from_sentinels()
        wait_until(
            lambda: len([w for w in writer.acknowledged() if w.master != old]) >= 100,
            30,
            "100 acknowledged writes through the new master",
        )
    finally:
        writer.stopping.set()
        writer.join(timeout=10)
    report.masters_after = [
        str(lab.plan.node_address(i)) for i in range(len(lab.layout.nodes)) if lab.role(i).get("role") == "master"
    ]
    report.waited_for_failover = "waiting up to" in lab.log(f"node-{old_index}")
    acknowledged = [w.index for w in writer.acknowledged()]
    report.acknowledged_total = len(acknowledged)
    report.acknowledged_lost = len(missing_keys(lab, lab.node_index(report.new_master), acknowledged))
    return report


@dataclass
class HandoverReport:
    old_master: str = ""
    new_master: str = ""
    prestop_seconds: float = 0.0  # preStop start -> the sentinels name another master
    writable_seconds: float = 0.0  # preStop start -> first acknowledged write through the new master
    acknowledged_total: int = 0
    acknowledged_lost: int = 0
    prestop_log: str = ""
    rejoined_as_replica_of: str = ""
    masters_after: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        return [
            f"planned handover (preStop): {self.old_master} -> {self.new_master}; sentinels switched after "
            f"{self.prestop_seconds:.2f} s, writable again after {self.writable_seconds:.2f} s; acknowledged writes "
            f"{self.acknowledged_total}, lost {self.acknowledged_lost}; restarted old master follows "
            f"{self.rejoined_as_replica_of}; masters: {self.masters_after}",
        ]


def run_handover_scenario(lab: SentinelLab) -> HandoverReport:
    """A rollout or drain stopping the master: preStop, SIGTERM, restart with the start-up script."""
    report = HandoverReport()
    old = lab.master_from_sentinels()
    report.old_master = old
    old_index = lab.node_index(old)
    writer = AcknowledgedWriter(lab)
    writer.start()
    try:
        wait_until(lambda: len(writer.acknowledged()) >= 200, 10, "200 acknowledged writes before the handover")
        started = time.monotonic()
        result = lab.run_prestop(old_index)
        report.prestop_log = (result.stdout + result.stderr).strip()
        report.new_master = lab.master_from_sentinels()
        report.prestop_seconds = time.monotonic() - started
        lab.kill(f"node-{old_index}", signal.SIGTERM)  # what the kubelet does once preStop returns
        report.writable_seconds = writable_again(writer, old, since=started, timeout=30)
    finally:
        writer.stopping.set()
        writer.join(timeout=10)
    acknowledged = [w.index for w in writer.acknowledged()]
    report.acknowledged_total = len(acknowledged)
    report.acknowledged_lost = len(missing_keys(lab, lab.node_index(report.new_master), acknowledged))

    lab.start_node(old_index)

    def rejoined() -> str | None:
        state = lab.role(old_index)
        if state.get("role") == "slave" and state.get("master_link_status") == "up":
            return f"{state['master_host']}:{state['master_port']}"
        return None

    report.rejoined_as_replica_of = wait_until(rejoined, 60, "the stopped master to come back as a replica")
    report.masters_after = [
        str(lab.plan.node_address(i)) for i in range(len(lab.layout.nodes)) if lab.role(i).get("role") == "master"
    ]
    return report


@dataclass
class FrozenMasterReport:
    old_master: str = ""
    new_master: str = ""
    promotion_seconds: float = 0.0  # SIGSTOP -> the sentinels name another master
    stale_attempts: int = 0  # writes sent to the resumed old master by a client still connected to it
    stale_accepted: int = 0  # ... that it executed (SET replied OK)
    stale_acknowledged: int = 0  # ... that WAIT 1 reported as replicated
    stale_errors: dict[str, int] = field(default_factory=dict)
    stale_accepted_kept: int = 0  # accepted stale writes still present once the old master follows the new one
    acknowledged_total: int = 0
    acknowledged_lost: int = 0
    demoted_seconds: float = 0.0  # SIGCONT -> the old master replicates from the new one

    def lines(self) -> list[str]:
        return [
            f"frozen master (SIGSTOP until the failover, then SIGCONT): promotion {self.promotion_seconds:.2f} s; "
            f"stale client wrote {self.stale_attempts} times to the resumed old master: accepted "
            f"{self.stale_accepted} (kept {self.stale_accepted_kept}), acknowledged {self.stale_acknowledged}, "
            f"errors {self.stale_errors}; demoted to replica {self.demoted_seconds:.1f} s after resuming; "
            f"acknowledged writes {self.acknowledged_total}, lost {self.acknowledged_lost}",
        ]


def run_frozen_master_scenario(lab: SentinelLab, stale_seconds: float = 2.0) -> FrozenMasterReport:
    """The Jepsen case: the master is cut off (frozen), a replica is promoted, the old master comes back.

    A client that still holds a connection to the old master keeps writing to
    it. With min-replicas-to-write the old master refuses those writes
    (NOREPLICAS) until the sentinels demote it; without it, it accepts them
    and they are lost when it becomes a replica.
    """
    report = FrozenMasterReport()
    old = lab.master_from_sentinels()
    report.old_master = old
    old_index = lab.node_index(old)
    stale = lab.node(old_index, timeout=5)
    writer = AcknowledgedWriter(lab)
    writer.start()
    process = lab.processes[f"node-{old_index}"]
    stale_indexes: list[int] = []
    try:
        wait_until(lambda: len(writer.acknowledged()) >= 200, 10, "200 acknowledged writes before the freeze")
        frozen_at = time.monotonic()
        os.kill(process.pid, signal.SIGSTOP)
        try:
            views = lambda: {lab.master_seen_by(j) for j in range(len(lab.layout.sentinels))}  # noqa: E731
            report.new_master = wait_until(
                lambda: next(iter(views() - {old}), None) if len(views()) == 1 else None,
                60,
                "every sentinel to name the new master",
                interval=0.05,
            )
            report.promotion_seconds = time.monotonic() - frozen_at
            new_index = lab.node_index(report.new_master)
            replicas = len(lab.layout.nodes) - 2  # every other replica follows the new master
            wait_until(
                lambda: int(lab.role(new_index)["connected_slaves"]) >= replicas, 30, "the replicas to follow"
            )
        finally:
            os.kill(process.pid, signal.SIGCONT)
        resumed_at = time.monotonic()
        errors: dict[str, int] = {}
        while time.monotonic() - resumed_at < stale_seconds:
            index = report.stale_attempts
            report.stale_attempts += 1
            try:
                stale.call("SET", f"stale:{index}", index)
                report.stale_accepted += 1
                stale_indexes.append(index)
                if stale.call("WAIT", 1, 100) >= 1:
                    report.stale_acknowledged += 1
            except RespError as error:
                kind = str(error).split()[0]
                errors[kind] = errors.get(kind, 0) + 1
            time.sleep(0.01)
        report.stale_errors = errors
        wait_until(
            lambda: lab.role(old_index).get("master_link_status") == "up",
            lab.layout.failover_timeout_milliseconds / 1000 + 30,
            "the sentinels to demote the old master",
            interval=0.2,
        )
        report.demoted_seconds = time.monotonic() - resumed_at
    finally:
        stale.close()
        writer.stopping.set()
        writer.join(timeout=10)
    acknowledged = [w.index for w in writer.acknowledged()]
    report.acknowledged_total = len(acknowledged)
    new_index = lab.node_index(report.new_master)
    report.acknowledged_lost = len(missing_keys(lab, new_index, acknowledged))
    with lab.node(new_index) as master:
        values = master.call("MGET", *[f"stale:{i}" for i in stale_indexes]) if stale_indexes else []
    report.stale_accepted_kept = sum(1 for v in values if v is not None)
    return report
