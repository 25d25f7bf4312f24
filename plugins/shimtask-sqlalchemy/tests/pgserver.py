"""A throwaway PostgreSQL server for the tests: initdb + pg_ctl in a temporary directory.

It listens on 127.0.0.1 only, on a free port, with password (SCRAM) authentication
for every connection: no trust, no Unix socket outside its own directory. initdb and
the server refuse to run as root, so as root they run as the unprivileged ``nobody``
(the data directory is created for it); as anyone else they run as that user.

The binaries come from Debian's ``postgresql`` package (``/usr/lib/postgresql/<v>/bin``,
the newest version) or from PATH. ``.ci/run`` installs the package when they are missing.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

SUPERUSER = "postgres"
UNPRIVILEGED = "nobody"
_TOOLS = ("initdb", "pg_ctl")


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL binaries on this machine (install Debian's ``postgresql`` package)."""


@dataclass(frozen=True)
class PostgresServer:
    """A running server: where it listens and the superuser's password."""

    host: str
    port: int
    password: str
    data_dir: Path
    log_file: Path

    def url(self, user: str = SUPERUSER, password: str | None = None,
            database: str = "postgres", driver: str = "psycopg") -> str:
        secret = self.password if password is None and user == SUPERUSER else password
        auth = user if secret is None else f"{user}:{secret}"
        return f"postgresql+{driver}://{auth}@{self.host}:{self.port}/{database}"

    def conninfo(self, database: str = "postgres") -> str:
        return (f"host={self.host} port={self.port} dbname={database} user={SUPERUSER} "
                f"password={self.password}")

    def log(self) -> str:
        try:
            return self.log_file.read_text(errors="replace")
        except OSError:
            return ""


def find_bindir() -> Path:
    """The directory holding initdb and pg_ctl: Debian's newest version, else PATH."""
    versions = []
    for candidate in Path("/usr/lib/postgresql").glob("*/bin"):
        with contextlib.suppress(ValueError):
            versions.append((float(candidate.parent.name), candidate))
    for _, bindir in sorted(versions, reverse=True):
        if all((bindir / tool).exists() for tool in _TOOLS):
            return bindir
    found = [shutil.which(tool) for tool in _TOOLS]
    if all(found):
        return Path(os.path.realpath(str(found[0]))).parent
    raise PostgresUnavailable(
        "PostgreSQL's initdb and pg_ctl were found neither under /usr/lib/postgresql/*/bin nor "
        "on PATH: apt-get install postgresql (.ci/run does it)")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run_as() -> dict[str, object]:
    """subprocess arguments that drop root to the unprivileged user (nothing otherwise)."""
    if os.geteuid() != 0:
        return {}
    try:
        user = pwd.getpwnam(UNPRIVILEGED)
    except KeyError:
        raise PostgresUnavailable(
            f"running as root and there is no user {UNPRIVILEGED!r} to run PostgreSQL as "
            f"(initdb refuses root)") from None
    return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}


def _chown(path: Path, run_as: dict[str, object]) -> None:
    if run_as:
        os.chown(path, int(str(run_as["user"])), int(str(run_as["group"])))


@contextlib.contextmanager
def running_server(password: str = "pg-super-secret") -> Iterator[PostgresServer]:
    """Create a cluster in a temporary directory, start it, yield it, stop and delete it."""
    bindir = find_bindir()
    run_as = _run_as()
    root = Path(tempfile.mkdtemp(prefix="shimtask-pg-"))
    _chown(root, run_as)
    data, log_file, pwfile = root / "data", root / "server.log", root / "pwfile"
    pwfile.write_text(password + "\n")
    _chown(pwfile, run_as)
    env = {"PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}", "LC_ALL": "C",
           "HOME": str(root), "TZ": "UTC"}

    def run(*args: str) -> None:
        done = subprocess.run([str(bindir / args[0]), *args[1:]], cwd=root, env=env,
                              capture_output=True, text=True, timeout=120, check=False,
                              **run_as)  # type: ignore[call-overload]
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args[:2])} failed ({done.returncode}):\n"
                               f"{done.stdout}\n{done.stderr}\n{_read(log_file)}")

    started = False
    try:
        run("initdb", "-D", str(data), "-U", SUPERUSER, f"--pwfile={pwfile}",
            "--auth=scram-sha-256", "--no-locale", "--encoding=UTF8", "--no-sync")
        pwfile.unlink()
        for attempt in range(5):  # the free port may be taken between probe and bind
            port = free_port()
            options = (f"-c listen_addresses=127.0.0.1 -p {port} "
                       f"-c unix_socket_directories={data} -c fsync=off "
                       f"-c synchronous_commit=off -c full_page_writes=off "
                       f"-c max_connections=40 -c timezone=UTC")
            try:
                run("pg_ctl", "-D", str(data), "-l", str(log_file), "-o", options,
                    "-w", "-t", "60", "start")
            except RuntimeError:
                if attempt == 4 or "already in use" not in _read(log_file):
                    raise
                continue
            started = True
            break
        yield PostgresServer("127.0.0.1", port, password, data, log_file)
    finally:
        if started:
            with contextlib.suppress(Exception):
                run("pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")[-4000:]
    except OSError:
        return ""


def wait_until_gone(port: int, timeout: float = 10.0) -> None:
    """Wait until nothing listens on 127.0.0.1:port (after a stop)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) != 0:
                return
        time.sleep(0.05)
