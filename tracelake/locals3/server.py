"""A real S3-compatible server on this machine, without Docker: S3Proxy on 127.0.0.1.

The server is S3Proxy (``org.gaul:s3proxy``, Apache-2.0) from Maven Central:
its self-contained ``jar-with-dependencies`` (55 MB) is fetched once by
``mvn dependency:copy-dependencies`` into the cache (``$TRACELAKE_CACHE_DIR``
or ``~/.cache/tracelake``, beside the Kafka broker) and run by the machine's
Java 17+ with the ``filesystem-nio2`` backend (buckets are directories under
``data_dir/store``) or ``transient-nio2`` (in memory). Requests are checked
against fixed credentials with AWS signatures v2 or v4
(``s3proxy.authorization=aws-v2-or-v4``); the region is not checked.

What Delta Lake needs, measured here with S3Proxy 4.1.0 and deltalake 1.6:

- **Put-if-absent: yes.** ``PutObject`` with ``If-None-Match: *`` answers 412
  when the key exists, and of 16 concurrent conditional PUTs of one new key
  exactly one succeeds and 15 get 412 (20-30 rounds, filesystem and transient
  backends): the atomic create Delta's log needs.
- **Storage options for delta-rs** (:meth:`LocalS3.storage_options`):
  ``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
  ``AWS_REGION``, ``AWS_ALLOW_HTTP=true`` and ``AWS_CONDITIONAL_PUT=etag``
  (delta-rs 1.x turns conditional put on for S3 by itself; it is set
  explicitly so a library default can never turn it off). No DynamoDB, no
  ``AWS_S3_ALLOW_UNSAFE_RENAME``.
- **Concurrent writers:** three processes appending 10 (or 15) commits each to
  one table at once: 30 (45) new versions, every commit present exactly once;
  delta-rs reports 8-13 retries per run of 30 (a commit that loses the race
  for a log version gets 412 and is retried on the next one).
- **Start time:** about 1.6 s from spawn to the first signed answer on an
  idle 2-core machine, 1-2.5 s under load (the JVM start; Jetty itself is up
  in ~90 ms; C1-only JIT and the serial GC shave ~0.5 s), ~120 MB resident.

Contract:

- :func:`install` is idempotent and safe from several processes; a cache hit
  needs neither ``mvn`` nor the network. Without Java 17+ or ``mvn`` it raises
  :class:`LocalS3Error` with a one-line message.
- :meth:`LocalS3.start` returns once a signed ``ListBuckets`` answers 200; it
  raises :class:`LocalS3Error` with the server's log tail if the JVM exits or
  does not answer within ``timeout``.
- :meth:`LocalS3.stop` ends the JVM (SIGTERM, then SIGKILL) and keeps the
  data: ``start`` again serves the same buckets on the same port.
  :meth:`LocalS3.close` also removes a data directory it created.
- No orphan JVMs: the JVM gets SIGTERM when the thread that started it dies
  (``PR_SET_PDEATHSIG``), and running servers are stopped at exit.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import http.client
import logging
import shutil
import tempfile
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

from tracelake.errors import Unavailable
from tracelake.localjvm import ChildJvm, cache_dir, free_port, maven_fetch, require_java

log = logging.getLogger("tracelake.locals3")

S3PROXY_VERSION = "4.1.0"
ACCESS_KEY = "tracelake"
SECRET_KEY = "tracelake-local-secret"  # a fixed test credential for a loopback server, not a secret
REGION = "us-east-1"
BACKENDS = {"filesystem": "filesystem-nio2", "transient": "transient-nio2"}

_POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>dev.tracelake</groupId>
  <artifactId>local-s3</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <!-- The runnable, self-contained jar: its own dependencies are inside it. -->
    <dependency>
      <groupId>org.gaul</groupId>
      <artifactId>s3proxy</artifactId>
      <version>{version}</version>
      <classifier>jar-with-dependencies</classifier>
      <exclusions>
        <exclusion><groupId>*</groupId><artifactId>*</artifactId></exclusion>
      </exclusions>
    </dependency>
  </dependencies>
</project>
"""

_NO_SERVER = "point the lake at another S3 endpoint (AWS_ENDPOINT_URL)"


class LocalS3Error(Unavailable, RuntimeError):
    """The local S3 server cannot be installed, started or asked; the message says why and what to do."""


def check_java() -> str:
    """The ``java`` executable, or :class:`LocalS3Error` saying to install Java 17+ (one line)."""
    return require_java("the local S3 server (S3Proxy)", _NO_SERVER, LocalS3Error)


def _jar_name(version: str) -> str:
    return f"s3proxy-{version}-jar-with-dependencies.jar"


def install(version: str = S3PROXY_VERSION, root: Path | None = None) -> Path:
    """Fetch S3Proxy into the cache (once); return the path of its runnable jar."""
    libs = maven_fetch(
        _POM.format(version=version),
        (root or cache_dir()) / f"s3proxy-{version}" / "libs",
        marker=_jar_name(version),
        what=f"S3Proxy {version}",
        alternative=_NO_SERVER,
        error=LocalS3Error,
    )
    return libs / _jar_name(version)


@dataclass(frozen=True)
class S3Response:
    """One HTTP answer of the server."""

    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def error_code(self) -> str | None:
        """The S3 error code (``PreconditionFailed``, ``NoSuchKey`` …) of an error answer."""
        start = self.body.find(b"<Code>")
        end = self.body.find(b"</Code>")
        return self.body[start + 6:end].decode() if 0 <= start < end else None


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def sign_v4(
    method: str, host: str, path: str, query: str, headers: dict[str, str], body: bytes,
    access_key: str, secret_key: str, region: str, now: datetime.datetime | None = None,
) -> dict[str, str]:
    """``headers`` plus ``host``, ``x-amz-date``, ``x-amz-content-sha256`` and an AWS SigV4 ``authorization``.

    ``path`` is already URL-encoded; ``query`` is the canonical query string
    (sorted ``k=v`` pairs, encoded) or ``""``.
    """
    now = now or datetime.datetime.now(datetime.UTC)
    amz_date, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    signed = {k.lower(): v.strip() for k, v in headers.items()}
    signed.update({"host": host, "x-amz-date": amz_date, "x-amz-content-sha256": hashlib.sha256(body).hexdigest()})
    names = sorted(signed)
    canonical = "\n".join([
        method, path, query, "".join(f"{n}:{signed[n]}\n" for n in names), ";".join(names),
        signed["x-amz-content-sha256"],
    ])
    scope = f"{day}/{region}/s3/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = ("AWS4" + secret_key).encode()
    for part in (day, region, "s3", "aws4_request"):
        key = _hmac(key, part)
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    signed["authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, SignedHeaders={';'.join(names)}, Signature={signature}"
    )
    return signed


class LocalS3(ChildJvm):
    """One S3Proxy server on 127.0.0.1 (see the module docstring)."""

    def __init__(
        self,
        data_dir: str | Path | None = None,
        port: int | None = None,
        access_key: str = ACCESS_KEY,
        secret_key: str = SECRET_KEY,
        region: str = REGION,
        backend: str = "filesystem",
        version: str = S3PROXY_VERSION,
        heap: str = "256m",
    ) -> None:
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {sorted(BACKENDS)}, not {backend!r}")
        self._own_data = data_dir is None
        self.data_dir = Path(data_dir) if data_dir else Path(tempfile.mkdtemp(prefix="tracelake-s3-"))
        self.port = port or free_port()
        self.access_key = access_key
        self.secret_key = secret_key
        self.region = region
        self.backend = backend
        self.version = version
        self.heap = heap
        self.started_in: float | None = None  # seconds from spawn to the first signed answer

    @property
    def endpoint(self) -> str:
        """``http://127.0.0.1:<port>``: the value of ``AWS_ENDPOINT_URL``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "s3proxy.log"

    def storage_options(self) -> dict[str, str]:
        """The delta-rs / object_store ``storage_options`` for this server (safe concurrent commits)."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_REGION": self.region,
            "AWS_ALLOW_HTTP": "true",
            "AWS_CONDITIONAL_PUT": "etag",
        }

    def env(self) -> dict[str, str]:
        """The same settings as environment variables (delta-rs, DuckDB's httpfs and AWS tools read them)."""
        return self.storage_options()

    def _properties(self) -> str:
        props = {
            "s3proxy.endpoint": self.endpoint,
            "s3proxy.authorization": "aws-v2-or-v4",
            "s3proxy.identity": self.access_key,
            "s3proxy.credential": self.secret_key,
            "jclouds.provider": BACKENDS[self.backend],
            "jclouds.filesystem.basedir": str(self.data_dir / "store"),
        }
        return "".join(f"{k}={v}\n" for k, v in props.items())

    def start(self, timeout: float = 60.0) -> LocalS3:
        """Start the server and wait until a signed request answers (see the module docstring)."""
        if self.running:
            return self
        java = check_java()
        jar = install(self.version)
        (self.data_dir / "store").mkdir(parents=True, exist_ok=True)
        conf = self.data_dir / "s3proxy.conf"
        conf.write_text(self._properties())
        started = time.monotonic()
        self._spawn(
            [java, f"-Xmx{self.heap}", "-Xms64m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
             "-Djava.awt.headless=true", "-jar", str(jar), "--properties", str(conf)],
            self.log_file,
        )
        self._wait_ready(started, timeout)
        return self

    def _wait_ready(self, started: float, timeout: float) -> None:
        deadline = started + timeout
        last_error: object = None
        while time.monotonic() < deadline:
            if self._proc is None or self._proc.poll() is not None:
                raise LocalS3Error(f"the S3Proxy JVM exited during start-up:\n{self.log_tail()}")
            try:
                answer = self.request("GET", "/", timeout=2.0)
                if answer.status == 200:
                    self.started_in = time.monotonic() - started
                    log.info("S3Proxy up on %s in %.2fs", self.endpoint, self.started_in)
                    return
                last_error = f"HTTP {answer.status} {answer.error_code}"
            except OSError as exc:  # not listening yet
                last_error = exc
            time.sleep(0.05)
        self.stop()
        raise LocalS3Error(
            f"S3Proxy did not answer on {self.endpoint} within {timeout:.0f}s ({last_error}):\n{self.log_tail()}"
        )

    def request(
        self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None,
        query: dict[str, str] | None = None, timeout: float = 30.0,
    ) -> S3Response:
        """One SigV4-signed request to the server; ``path`` is ``/bucket/key`` (not yet encoded).

        Raises ``OSError`` when the server cannot be reached; HTTP errors are
        answers (check :attr:`S3Response.status`).
        """
        host = f"127.0.0.1:{self.port}"
        quoted = urllib.parse.quote(path, safe="/~")
        canonical_query = "&".join(
            f"{urllib.parse.quote(k, safe='~')}={urllib.parse.quote(v, safe='~')}"
            for k, v in sorted((query or {}).items())
        )
        signed = sign_v4(method, host, quoted, canonical_query, headers or {}, body,
                         self.access_key, self.secret_key, self.region)
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, quoted + (f"?{canonical_query}" if canonical_query else ""), body=body,
                         headers=signed)
            resp = conn.getresponse()
            return S3Response(resp.status, resp.read(), {k.lower(): v for k, v in resp.getheaders()})
        finally:
            conn.close()

    def create_bucket(self, name: str) -> None:
        """Create bucket ``name``; a bucket this server already has is fine. Other refusals: :class:`LocalS3Error`."""
        answer = self.request("PUT", f"/{name}")
        if answer.status != 200 and answer.error_code != "BucketAlreadyOwnedByYou":
            raise LocalS3Error(f"creating bucket {name!r} failed: HTTP {answer.status} {answer.error_code}")

    def put_object(self, bucket: str, key: str, body: bytes, if_none_match: bool = False) -> bool:
        """Write an object; with ``if_none_match`` only if the key is absent (``If-None-Match: *``).

        True when written, False when the condition failed (412 or 409: the
        key exists or a concurrent create won); other refusals raise
        :class:`LocalS3Error`.
        """
        answer = self.request("PUT", f"/{bucket}/{key}", body, {"If-None-Match": "*"} if if_none_match else None)
        if answer.status == 200:
            return True
        if if_none_match and answer.status in (409, 412):
            return False
        raise LocalS3Error(f"PUT {bucket}/{key} failed: HTTP {answer.status} {answer.error_code}")

    def get_object(self, bucket: str, key: str) -> bytes:
        """The object's bytes; :class:`LocalS3Error` when absent or refused."""
        answer = self.request("GET", f"/{bucket}/{key}")
        if answer.status != 200:
            raise LocalS3Error(f"GET {bucket}/{key} failed: HTTP {answer.status} {answer.error_code}")
        return answer.body

    def log_tail(self, lines: int = 25) -> str:
        if not self.log_file.exists():
            return ""
        return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])

    def close(self) -> None:
        """Stop and remove the data directory if this object created it."""
        self.stop()
        if self._own_data:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> LocalS3:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
