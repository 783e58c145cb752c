"""What the local servers share: Java check, Maven fetch into the cache, loopback ports, child JVMs.

Used by :mod:`tracelake.localkafka` (Apache Kafka) and :mod:`tracelake.locals3`
(S3Proxy): both are Java programs from Maven Central, fetched once into
:func:`cache_dir` by ``mvn dependency:copy-dependencies`` and run by the
machine's Java on 127.0.0.1 as a child process that dies with its parent.

Contract:

- :func:`require_java` returns the ``java`` executable or raises the caller's
  error class with a one-line message that says what to install.
- :func:`maven_fetch` is idempotent and safe to call from several processes (a
  file lock serialises the download); a cache hit costs a file check and does
  not need ``mvn``. It raises the caller's error class when ``mvn`` is missing
  (one line) or the resolution fails (Maven's last lines).
- :class:`ChildJvm` starts a process with ``PR_SET_PDEATHSIG`` (SIGTERM when
  the thread that started it dies), stops it with SIGTERM then SIGKILL, and
  stops every running child at interpreter exit.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import fcntl
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import weakref
from collections.abc import Sequence
from pathlib import Path

log = logging.getLogger("tracelake.localjvm")

MIN_JAVA = 17

_RUNNING: weakref.WeakSet[ChildJvm] = weakref.WeakSet()


def cache_dir() -> Path:
    """``$TRACELAKE_CACHE_DIR`` or ``~/.cache/tracelake``: where fetched servers are kept."""
    root = os.environ.get("TRACELAKE_CACHE_DIR") or os.path.join(Path.home(), ".cache", "tracelake")
    return Path(root)


def java_major(java: str = "java") -> int | None:
    """The major version of ``java``, or None when it is not installed."""
    exe = shutil.which(java)
    if exe is None:
        return None
    try:
        out = subprocess.run([exe, "-version"], capture_output=True, text=True, timeout=30).stderr
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    if not match:
        return None
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major


def require_java(needed_by: str, alternative: str, error: type[Exception]) -> str:
    """The ``java`` executable (Java :data:`MIN_JAVA` or newer), else ``error`` with a one-line message.

    ``needed_by`` names the server ("the local Kafka broker"); ``alternative``
    ends the message with what to do instead ("use --bootstrap HOST:PORT ...").
    """
    major = java_major()
    if major is None or major < MIN_JAVA:
        found = "none" if major is None else f"Java {major}"
        raise error(
            f"{needed_by} needs Java {MIN_JAVA} or newer on PATH (found: {found}); "
            f"install one (e.g. apt-get install openjdk-17-jre-headless) or {alternative}"
        )
    return shutil.which("java") or "java"


def maven_fetch(
    pom: str,
    dest: Path,
    marker: str,
    what: str,
    alternative: str,
    error: type[Exception],
    timeout: float = 900.0,
) -> Path:
    """Resolve the runtime dependencies of ``pom`` into ``dest`` once; return ``dest``.

    ``marker`` is a file name that exists in ``dest`` once the fetch is
    complete (the main jar): its presence is the cache hit. The download goes
    to a temporary directory beside ``dest`` and is renamed into place, so a
    crash mid-download never leaves a half cache. ``what`` ("Apache Kafka
    4.3.1") and ``alternative`` appear in the error messages.
    """
    if (dest / marker).exists():
        return dest
    base = dest.parent
    base.mkdir(parents=True, exist_ok=True)
    with open(base / ".install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (dest / marker).exists():
            return dest  # another process finished it while we waited
        mvn = shutil.which("mvn")
        if mvn is None:
            raise error(
                f"Apache Maven (mvn) is needed once to fetch {what} from Maven Central; "
                f"install it (e.g. apt-get install maven) or {alternative}"
            )
        work = Path(tempfile.mkdtemp(prefix="resolve-", dir=base))
        try:
            (work / "pom.xml").write_text(pom)
            log.info("fetching %s from Maven Central into %s", what, dest)
            proc = subprocess.run(
                [mvn, "-q", "-B", "dependency:copy-dependencies",
                 f"-DoutputDirectory={work / 'libs'}", "-DincludeScope=runtime"],
                cwd=work, capture_output=True, text=True, timeout=timeout,
            )
            if proc.returncode != 0 or not (work / "libs" / marker).exists():
                tail = (proc.stdout + proc.stderr).strip().splitlines()[-15:]
                raise error(f"could not fetch {what} with Maven (exit {proc.returncode}):\n" + "\n".join(tail))
            shutil.rmtree(dest, ignore_errors=True)
            os.replace(work / "libs", dest)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return dest


def free_port() -> int:
    """A TCP port that was free on 127.0.0.1 a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def die_with_parent() -> None:
    """``preexec_fn``: the child gets SIGTERM when its parent dies (``PR_SET_PDEATHSIG``)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)


class ChildJvm:
    """A server process owned by this one: started with die-with-parent, stopped at exit.

    Subclasses call :meth:`_spawn` and implement their own readiness check.
    """

    _proc: subprocess.Popen[bytes] | None = None

    def _spawn(self, cmd: Sequence[str], stdout_path: Path, cwd: Path | None = None) -> subprocess.Popen[bytes]:
        """Start ``cmd`` with stdout and stderr appended to ``stdout_path``."""
        stdout = open(stdout_path, "ab")  # noqa: SIM115 - owned by the child
        try:
            self._proc = subprocess.Popen(
                list(cmd),
                stdout=stdout,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=cwd,
                preexec_fn=die_with_parent,
            )
        finally:
            stdout.close()
        _RUNNING.add(self)
        return self._proc

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs."""
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def stop(self, timeout: float = 30.0) -> None:
        """End the process: SIGTERM, then SIGKILL after ``timeout``; data stays."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        _RUNNING.discard(self)

    def kill(self) -> None:
        """SIGKILL the process (a crash, for tests)."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait(10)
        self._proc = None
        _RUNNING.discard(self)


@atexit.register
def _stop_all() -> None:
    for child in list(_RUNNING):
        with contextlib.suppress(Exception):
            child.stop(timeout=10)
