"""Import rules between the stages and the lake module, checked by reading the source (no import side effects)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports, at any depth (inside functions and TYPE_CHECKING blocks too)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def offenders(folder: str, forbidden: tuple[str, ...]) -> list[str]:
    out = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        for module in sorted(imported_modules(path)):
            if module in forbidden or module.startswith(tuple(f"{f}." for f in forbidden)):
                out.append(f"{path.relative_to(ROOT)} imports {module}")
    return out


def test_the_checks_see_the_sources() -> None:
    assert "tracelake.lake.lake" in imported_modules(ROOT / "queries" / "engine.py")


def test_queries_do_not_reach_into_ingest() -> None:
    assert offenders("queries", ("tracelake.ingest",)) == []


@pytest.mark.parametrize("stage", ["tracelake.ingest", "tracelake.queries", "tracelake.api", "tracelake.cli",
                                   "tracelake.transforms"])
def test_the_lake_module_imports_no_stage(stage: str) -> None:
    assert offenders("tracelake/lake", (stage,)) == []


def test_the_partition_naming_is_spelled_only_in_the_layout_module() -> None:
    # The partition directory's spelling appears in code only in the lake's layout module.
    spelled = []
    for folder in ("ingest", "queries", "api", "transforms", "tracelake"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path.is_relative_to(ROOT / "tracelake" / "lake") or "redact" in path.parts:
                continue
            tree = ast.parse(path.read_text())
            for node in ast.walk(tree):
                # Code spells it as a bare literal ("event_date=*", f"event_date={day}"); prose has spaces.
                if (isinstance(node, ast.Constant) and isinstance(node.value, str) and "event_date=" in node.value
                        and not any(c.isspace() for c in node.value) and "``" not in node.value):
                    spelled.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert spelled == []
