"""Storage the fault suite can break: a small tmpfs for the books' SQLite file (filled to
the last byte, then freed) and a PostgreSQL server of the lab's own (stopped, started
again). Both are taken down on exit, also when the run fails; neither touches the
project's shared PostgreSQL cluster (other test runs use it while this one runs).
Root only (mount, and `runuser` to the postgres user)."""

from __future__ import annotations

import errno
import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from helpers.controller_harness import REPO, free_port

CHUNK = 64 * 1024


class SmallFilesystem:
    """A tmpfs of `size_mb` MiB mounted at `mountpoint` for as long as the context lasts."""

    def __init__(self, mountpoint: Path, size_mb: int = 32):
        self.mountpoint, self.size_mb = mountpoint, size_mb
        self.filler = mountpoint / "filler"

    def __enter__(self) -> "SmallFilesystem":
        self.mountpoint.mkdir(parents=True, exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={self.size_mb}m,mode=0750", "pbxctl-faults",
                        str(self.mountpoint)], check=True, capture_output=True, timeout=10)
        return self

    def __exit__(self, *exc) -> None:
        # Lazy: a service still holding the database open must not keep the mount alive.
        subprocess.run(["umount", "-l", str(self.mountpoint)], capture_output=True, timeout=10)

    def fill(self) -> int:
        """Write until the filesystem refuses (ENOSPC); the bytes written."""
        written = 0
        block = b"\0" * CHUNK
        with open(self.filler, "ab", buffering=0) as fh:
            for size in (CHUNK, 4096, 512):
                while True:
                    try:
                        written += fh.write(block[:size])
                    except OSError as exc:
                        if exc.errno != errno.ENOSPC:
                            raise
                        break
        return written

    def free(self) -> None:
        self.filler.unlink(missing_ok=True)

    def available(self) -> int:
        st = os.statvfs(self.mountpoint)
        return st.f_bavail * st.f_frsize


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        # scripts/postgres installs Debian's server when it is missing (CI's fresh machine).
        subprocess.run([str(REPO / "scripts" / "postgres"), "start"], check=True, capture_output=True, timeout=900)
        found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1]


class PrivatePostgres:
    """A throw-away PostgreSQL cluster (Debian's binaries, run as the postgres user) on
    127.0.0.1:<free port>, trust authentication, removed on exit."""

    def __init__(self):
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="pbxctl-faults-pg-"))
        self.data = self.dir / "data"
        shutil.chown(self.dir, "postgres", "postgres")
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _as_postgres(self, *argv: str, timeout: float = 60) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", *argv], check=True, capture_output=True, timeout=timeout)

    def __enter__(self) -> "PrivatePostgres":
        try:
            self._as_postgres(_pg_bin("initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")
            self.start()
        except BaseException:
            self.__exit__()
            raise
        return self

    def start(self) -> None:
        self._as_postgres(_pg_bin("pg_ctl"), "-D", str(self.data), "-w", "-l", str(self.dir / "server.log"),
                          "-o", f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off", "start")

    def stop(self) -> None:
        self._as_postgres(_pg_bin("pg_ctl"), "-D", str(self.data), "-w", "-m", "fast", "stop")

    def __exit__(self, *exc) -> None:
        if (self.data / "postmaster.pid").exists():
            subprocess.run(["runuser", "-u", "postgres", "--", _pg_bin("pg_ctl"), "-D", str(self.data), "-w",
                            "-m", "immediate", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(self.dir, ignore_errors=True)
