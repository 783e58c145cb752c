"""Entry point of the ``tracelake`` console script, safe in an SDK-only install.

``pip install tracelake`` installs the emitter SDK and the contract (what an
agent needs) and, because console scripts cannot depend on an extra, the
``tracelake`` command too. Everything the command runs (consumer, lake,
analytics, API) needs the ``pipeline`` extra. Without it the command says so
in one line on stderr and exits 2, instead of a ``ModuleNotFoundError``
traceback from deep inside a subcommand.

Which distributions the extra needs is read from the installed package's own
metadata (``Requires-Dist: …; extra == "pipeline"``), so the list is declared
once, in ``pyproject.toml``. Run from a source tree that is not installed,
there is no metadata and nothing is checked.
"""

from __future__ import annotations

import re
import sys
from importlib import metadata

EXTRA = "pipeline"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_ONLY_THE_EXTRA = re.compile(r"""^extra\s*==\s*["']([\w.-]+)["']$""")


def missing_for_extra(extra: str = EXTRA, dist: str = "tracelake") -> list[str]:
    """Distributions that ``dist[extra]`` requires and this environment lacks.

    Only requirements guarded by nothing but the extra are checked (one with a
    platform marker as well, such as uvloop's, may rightly be absent).
    Returns an empty list when ``dist`` itself is not installed.
    """
    try:
        requirements = metadata.requires(dist) or []
    except metadata.PackageNotFoundError:
        return []
    missing = []
    for requirement in requirements:
        spec, _, marker = requirement.partition(";")
        guard = _ONLY_THE_EXTRA.match(marker.strip())
        name = _NAME.match(spec.strip())
        if not guard or guard.group(1) != extra or not name:
            continue
        try:
            metadata.version(name.group(0))
        except metadata.PackageNotFoundError:
            missing.append(name.group(0))
    return missing


def main(argv: list[str] | None = None) -> int:
    """Run the command, or say in one line which extra to install (exit 2)."""
    missing = missing_for_extra()
    if missing:
        shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
        print(f"tracelake: error: the tracelake command needs the '{EXTRA}' extra (missing {shown}); "
              f"install it with: pip install 'tracelake[{EXTRA}]'", file=sys.stderr)
        return 2
    from tracelake.cli.main import main as run

    return run(argv)


if __name__ == "__main__":
    sys.exit(main())
