"""The browser test's skip rule: skipped without chromium on a developer's machine, never in CI."""

from __future__ import annotations

import pytest

from tests.api.dashboard import kit


def test_a_missing_chromium_skips_only_outside_ci(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setattr(kit, "CHROMIUM", str(tmp_path / "no-chromium"))
    monkeypatch.delenv("CI", raising=False)
    assert "apt-get install chromium" in (kit.chromium_missing_reason() or "")
    monkeypatch.setenv("CI", "true")
    assert kit.chromium_missing_reason() is None  # CI runs the test, which then fails at launch
    monkeypatch.setattr(kit, "CHROMIUM", str(tmp_path))  # exists
    monkeypatch.delenv("CI")
    assert kit.chromium_missing_reason() is None
