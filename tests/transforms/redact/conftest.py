from __future__ import annotations

import pytest

from tracelake.transforms.redact import Engine, RedactionConfig, Redactor


@pytest.fixture(scope="session")
def engine() -> Engine:
    return Engine(RedactionConfig())


@pytest.fixture
def redactor(engine: Engine) -> Redactor:
    """A fresh cache per test over the session's loaded model."""
    return Redactor(RedactionConfig(), engine=engine)
