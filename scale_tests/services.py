"""Start and stop the scale-out services for tests on loopback: Azurite (blob, in memory), Redis, Postgres.

Each starter returns a Service whose stop() ends exactly the process it started (by pid). Binaries
come from scripts/scale-setup.sh: Azurite in .scale/node, Redis and PostgreSQL from Debian.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
AZURITE = REPO / ".scale" / "node" / "node_modules" / ".bin" / "azurite-blob"
# Azurite's documented development account (a public, well-known emulator key, not a secret)
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[0]} exited with {proc.returncode} before listening on {port}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"{proc.args[0]} did not listen on {port} within {timeout}s")


@dataclass
class Service:
    name: str
    proc: subprocess.Popen | None
    env: dict[str, str] = field(default_factory=dict)
    cleanup: list = field(default_factory=list)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        for step in self.cleanup:
            step()


def start_azurite(log_dir: Path) -> Service:
    if not AZURITE.exists():
        raise RuntimeError(f"{AZURITE} is missing: run scripts/scale-setup.sh")
    port = free_port()
    log = open(log_dir / "azurite.log", "wb")
    proc = subprocess.Popen(
        [str(AZURITE), "--blobHost", "127.0.0.1", "--blobPort", str(port), "--inMemoryPersistence",
         "--disableTelemetry", "--skipApiVersionCheck", "--loose"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    wait_port(port, proc)
    conn = (f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
            f"BlobEndpoint=http://127.0.0.1:{port}/{AZURITE_ACCOUNT};")
    return Service("azurite", proc, {"AZURE_STORAGE_CONNECTION_STRING": conn}, [log.close])


def start_redis(log_dir: Path) -> Service:
    port = free_port()
    log = open(log_dir / "redis.log", "wb")
    proc = subprocess.Popen(
        [shutil.which("redis-server") or "/usr/bin/redis-server", "--port", str(port), "--bind", "127.0.0.1",
         "--save", "", "--appendonly", "no", "--dir", str(log_dir)],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    wait_port(port, proc)
    return Service("redis", proc, {"HUNTHOUSE_BROKER_URL": f"redis://127.0.0.1:{port}/0"}, [log.close])


def _pg_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise RuntimeError("PostgreSQL server binaries are missing: run scripts/scale-setup.sh")
    return Path(found[-1]).parent


def start_postgres(log_dir: Path) -> Service:
    """A throwaway cluster in a temp dir, run as the postgres user (initdb refuses root), on a free port."""
    bin_dir = _pg_bin()
    data = Path(tempfile.mkdtemp(prefix="hh-pg-"))
    shutil.chown(data, "postgres", "postgres")
    as_pg = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    subprocess.run([*as_pg, str(bin_dir / "initdb"), "--no-sync", "-A", "trust", "-U", "postgres", "-D", str(data)],
                   check=True, stdout=subprocess.DEVNULL)
    port = free_port()
    log = open(log_dir / "postgres.log", "wb")
    proc = subprocess.Popen(
        [*as_pg, str(bin_dir / "postgres"), "-D", str(data), "-p", str(port), "-h", "127.0.0.1", "-k", str(data),
         "-c", "fsync=off", "-c", "max_connections=100"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    wait_port(port, proc)
    for _ in range(100):
        done = subprocess.run([*as_pg, str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U",
                               "postgres", "dagster"], capture_output=True)
        if done.returncode == 0:
            break
        time.sleep(0.1)
    else:
        raise RuntimeError(f"createdb failed: {done.stderr.decode()}")
    url = f"postgresql+psycopg2://postgres@127.0.0.1:{port}/dagster"
    return Service("postgres", proc, {"HUNTHOUSE_PG_URL": url},
                   [log.close, lambda: shutil.rmtree(data, ignore_errors=True)])
