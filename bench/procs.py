"""Processes for benchmarks, fault scripts and the tests that drive them: the production
commands (gunicorn, Celery worker, beat) and private PostgreSQL and Redis servers, each in its
own process group so that it can be killed whole, plus /proc readings (RSS, CPU, children).

Private servers live in a temporary folder and on a port of their own; they never touch the
shared servers, and `stop()` removes them (also at interpreter exit).
"""

import atexit
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _pg_bin() -> Path:
    """REPORTIN_PG_BIN, else the newest /usr/lib/postgresql/<version>/bin (Debian's layout)."""
    if os.environ.get("REPORTIN_PG_BIN"):
        return Path(os.environ["REPORTIN_PG_BIN"])
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0)
    return found[-1].parent if found else Path("/usr/lib/postgresql/15/bin")


PG_BIN = _pg_bin()


# --- /proc ----------------------------------------------------------------------------------


def rss_mb(pid: int) -> float:
    """Resident memory of one process in MB (0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0.0


def _parents() -> dict[int, int]:
    """pid -> parent pid of every process (one pass over /proc)."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    return parents


def children(pid: int) -> list[int]:
    """Direct children of a process."""
    return [child for child, parent in _parents().items() if parent == pid]


def tree(pid: int) -> list[int]:
    """A process and all its descendants."""
    by_parent: dict[int, list[int]] = {}
    for child, parent in _parents().items():
        by_parent.setdefault(parent, []).append(child)
    pids, queue = [], [pid]
    while queue:
        current = queue.pop()
        pids.append(current)
        queue.extend(by_parent.get(current, []))
    return pids


def tree_rss_mb(pid: int) -> float:
    return sum(rss_mb(p) for p in tree(pid))


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of these processes, in seconds."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


# --- ports ----------------------------------------------------------------------------------


def port_open(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def free_port(first: int, last: int) -> int:
    for port in range(first, last + 1):
        if not port_open(port):
            return port
    raise RuntimeError(f"no free port in {first}-{last}")


def wait_until(predicate, *, timeout: float, interval: float = 0.2, what: str = "a condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


# --- process groups -------------------------------------------------------------------------


class Proc:
    """A command in its own session (process group), its output in a log file."""

    def __init__(self, name: str, argv: list[str], *, env: dict, log_path: Path, cwd: Path = ROOT):
        self.name, self.argv, self.env, self.log_path, self.cwd = name, argv, env, log_path, cwd
        self.process: subprocess.Popen | None = None
        self._log = None
        _started.append(self)

    def start(self) -> "Proc":
        self._log = self.log_path.open("a")
        self.process = subprocess.Popen(
            self.argv, cwd=self.cwd, env=self.env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )
        return self

    @property
    def pid(self) -> int:
        return self.process.pid

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def signal_group(self, sig: int) -> None:
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, sig)

    def kill(self) -> None:
        """SIGKILL the whole group: no chance to clean up, as in a crash or an OOM kill."""
        self.signal_group(signal.SIGKILL)
        if self.process is not None:
            self.process.wait(timeout=30)

    def stop(self, timeout: float = 30) -> None:
        if not self.running():
            if self._log:
                self._log.close()
            return
        self.signal_group(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.signal_group(signal.SIGKILL)
            self.process.wait(timeout=30)
        if self._log:
            self._log.close()


_started: list[Proc] = []
_servers: list = []


@atexit.register
def _cleanup() -> None:
    for proc in reversed(_started):
        with contextlib.suppress(Exception):
            proc.stop(timeout=10)
    for server in reversed(_servers):
        with contextlib.suppress(Exception):
            server.stop()


def worker(env: dict, log_path: Path, *, queues: str = "scoring,default,long", concurrency: int = 1, name: str = "worker", extra: list[str] = ()) -> Proc:
    """The production worker command."""
    argv = [
        sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", queues, "--concurrency", str(concurrency),
        "-l", "INFO", "--without-gossip", "--without-mingle", "--hostname", f"{name}-{os.getpid()}@%h", *extra,
    ]
    return Proc(name, argv, env=env, log_path=log_path)


def beat(env: dict, log_path: Path, schedule: Path) -> Proc:
    return Proc("beat", [sys.executable, "-m", "celery", "-A", "config", "beat", "-l", "INFO", "-s", str(schedule)], env=env, log_path=log_path)


def gunicorn(env: dict, log_path: Path, *, port: int) -> Proc:
    return Proc(
        "web",
        [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.conf.py", "--bind", f"127.0.0.1:{port}"],
        env=env,
        log_path=log_path,
    )


def wait_worker_ready(proc: Proc, *, timeout: float = 90, since: int = 0) -> None:
    wait_until(lambda: "ready." in proc.log()[since:] or not proc.running(), timeout=timeout, what=f"{proc.name} to start")
    if not proc.running():
        raise RuntimeError(f"{proc.name} exited at start:\n{proc.log()[-3000:]}")


# --- private servers ------------------------------------------------------------------------


class PrivateRedis:
    """A Redis of our own on `port`, in a temporary folder. `appendonly` as production has it
    (docker-compose.yml): queued messages survive a restart."""

    def __init__(self, port: int, *, appendonly: bool = True):
        self.port = port
        self.dir = Path(tempfile.mkdtemp(prefix=f"reportin-redis-{port}-"))
        self.appendonly = appendonly
        self.process: subprocess.Popen | None = None
        _servers.append(self)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def start(self) -> "PrivateRedis":
        if port_open(self.port):
            raise RuntimeError(f"port {self.port} is taken")
        log = (self.dir / "redis.log").open("a")
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir), "--save", "",
             "--appendonly", "yes" if self.appendonly else "no", "--appendfsync", "everysec"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        wait_until(lambda: port_open(self.port), timeout=20, what=f"redis on {self.port}")
        return self

    def stop(self, *, remove: bool = True) -> None:
        """Stop (SIGTERM: Redis finishes its append-only file, as `docker stop` would)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)
        if remove:
            shutil.rmtree(self.dir, ignore_errors=True)


class PrivatePostgres:
    """A PostgreSQL cluster of our own on `port` (initdb in a temporary folder, trust auth,
    run as the `postgres` user when we are root, as initdb requires)."""

    def __init__(self, port: int):
        self.port = port
        self.dir = Path(tempfile.mkdtemp(prefix=f"reportin-pg-{port}-"))
        self.data = self.dir / "data"
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.as_user:
            shutil.chown(self.dir, "postgres", "postgres")
        self.started = False
        _servers.append(self)

    def url(self, dbname: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{dbname}"

    def _run(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run([*self.as_user, *argv], check=check, capture_output=True, text=True, timeout=120)

    def init(self) -> "PrivatePostgres":
        self._run(str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(f"\nport = {self.port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{self.dir}'\n"
                       "max_connections = 200\nfsync = on\nshared_buffers = 64MB\n")
        return self

    def start(self) -> "PrivatePostgres":
        if port_open(self.port):
            raise RuntimeError(f"port {self.port} is taken")
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.dir / "pg.log"), "-w", "-t", "60", "start")
        self.started = True
        return self

    def stop_server(self, mode: str = "fast") -> None:
        """pg_ctl stop: `fast` disconnects clients and shuts down cleanly, `immediate` is a crash
        (recovery replays the WAL at the next start)."""
        if self.started:
            self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop", check=False)
            self.started = False

    def createdb(self, name: str) -> None:
        self._run(str(PG_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name)

    def stop(self) -> None:
        self.stop_server("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)
