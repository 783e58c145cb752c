"""Redaction opens no socket: not while importing, loading the model, nor redacting (tldextract included)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

SCRIPT = textwrap.dedent(
    """
    import sys

    attempts = []

    def audit(event, args):
        if event in ("socket.connect", "socket.getaddrinfo", "socket.gethostbyname", "urllib.Request"):
            attempts.append((event, repr(args)[:120]))
            raise OSError("network is off in this test")

    sys.addaudithook(audit)
    sys.path.insert(0, sys.argv[1])
    from tests.transforms.redact.corpus import corpus
    from tracelake.transforms.redact import Redactor

    redactor = Redactor()
    outputs = redactor.redact_texts([s.text for s in corpus(200, seed=5)])
    assert all(not isinstance(o, Exception) for o in outputs), outputs
    # Presidio's stock e-mail recognizer asks tldextract, which would fetch the public-suffix list
    import tldextract
    assert tldextract.extract("mail.example.co.uk").suffix == "co.uk"
    print("attempts", len(attempts), attempts[:3])
    sys.exit(1 if attempts else 0)
    """
)


def test_no_socket_is_opened_during_redaction() -> None:
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(ROOT)], capture_output=True, text=True, timeout=180,
                          check=False)
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    assert "attempts 0" in done.stdout
