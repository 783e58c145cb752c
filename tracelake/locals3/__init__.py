"""A real S3-compatible server (S3Proxy from Maven Central) on 127.0.0.1, for tests, the demo and newcomers."""

from tracelake.locals3.server import (
    ACCESS_KEY,
    REGION,
    S3PROXY_VERSION,
    SECRET_KEY,
    LocalS3,
    LocalS3Error,
    S3Response,
    check_java,
    install,
)

__all__ = [
    "ACCESS_KEY", "REGION", "S3PROXY_VERSION", "SECRET_KEY", "LocalS3", "LocalS3Error", "S3Response", "check_java",
    "install",
]
