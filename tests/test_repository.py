"""The repository stands alone: no tracked file refers to a path outside it.

A user's clone has nothing beside it, so code, tests, docs and scripts may only
name files inside the repository: no sibling folders, no paths of a developer's
machine, no Markdown link that leaves the tree or points at nothing, and no
``Path(__file__).parents[N]`` that climbs above the root.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path, PurePosixPath

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Spelled in pieces so that this file does not match its own patterns.
OUTSIDE = [
    re.compile(r"\.\./" + "shared"),
    re.compile("shared" + r"/contract"),
    re.compile(r"(?<![\w.~-])/(?:" + "work|root|home" + r")/[\w.]"),  # a developer's or CI's absolute paths
]
MD_LINK = re.compile(r"\]\((?!https?:|mailto:|#)([^)\s]+)\)")
PARENTS = re.compile(r"Path\(__file__\)\.resolve\(\)\.parents\[(\d+)\]")


def tracked_text_files() -> list[Path]:
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    names = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    files = []
    for name in names.decode().split("\0"):
        path = ROOT / name
        if not name or not path.is_file():
            continue
        data = path.read_bytes()
        if b"\0" not in data[:8192]:  # text only
            files.append(path)
    return files


def test_the_checks_see_the_tree() -> None:
    files = {p.relative_to(ROOT).as_posix() for p in tracked_text_files()}
    assert {"README.md", "pyproject.toml", "docs/contract/examples.jsonl", "tests/test_repository.py"} <= files


@pytest.mark.parametrize("pattern", OUTSIDE, ids=["sibling-shared", "shared-contract", "absolute-home"])
def test_no_tracked_file_names_a_path_outside_the_repository(pattern: re.Pattern[str]) -> None:
    offenders = []
    for path in tracked_text_files():
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), start=1):
            if pattern.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()[:120]}")
    assert not offenders, "\n".join(offenders)


def test_markdown_links_stay_inside_and_exist() -> None:
    broken = []
    for path in tracked_text_files():
        if path.suffix != ".md":
            continue
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            for target in MD_LINK.findall(line):
                relative = PurePosixPath(target.split("#", 1)[0])
                if not str(relative) or str(relative) == ".":
                    continue
                resolved = (path.parent / relative).resolve()
                if not resolved.is_relative_to(ROOT) or not resolved.exists():
                    broken.append(f"{path.relative_to(ROOT)}:{number}: {target}")
    assert not broken, "\n".join(broken)


def test_no_python_file_climbs_above_the_root() -> None:
    climbing = []
    for path in tracked_text_files():
        if path.suffix != ".py":
            continue
        depth = len(path.relative_to(ROOT).parts) - 1  # parents[depth] is the root itself
        for match in PARENTS.finditer(path.read_text()):
            if int(match.group(1)) > depth:
                climbing.append(f"{path.relative_to(ROOT)}: parents[{match.group(1)}] (root is parents[{depth}])")
    assert not climbing, "\n".join(climbing)


def test_the_checks_catch_an_outside_reference(tmp_path: Path) -> None:
    # The patterns themselves must fire, or the tests above could never fail.
    bad = "see " + ".." + "/shared/" + "contract/events.md and /" + "root/.cache/x"
    assert OUTSIDE[0].search(bad) and OUTSIDE[1].search(bad) and OUTSIDE[2].search(bad)
    assert MD_LINK.findall("[x](../../elsewhere.md) [y](https://example.org)") == ["../../elsewhere.md"]
    assert PARENTS.search("Path(__file__).resolve()" + ".parents[4]")


def test_every_setting_is_documented_in_the_cli_contract() -> None:
    from tracelake.settings import Settings

    page = (ROOT / "docs" / "contract" / "cli.md").read_text()
    names = [f"TRACELAKE_{name.upper()}" for name in Settings.model_fields]
    missing = [name for name in names if f"`{name}`" not in page]
    assert not missing, f"docs/contract/cli.md does not list: {', '.join(missing)}"
