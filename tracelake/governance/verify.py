"""``tracelake verify``: check the commit chain, the Delta logs and every live data file against each other.

Three verdicts (:attr:`VerifyReport.status`, exit codes in :data:`EXIT_CODES`):

- ``tampered`` (1): the chain or the lake contradicts a signed entry. Kinds: ``chain_link`` (an entry's
  ``prev_hash`` is not the previous entry's hash), ``entry_altered`` (an entry's fields do not hash to its
  ``entry_hash``), ``signature`` (not signed by the key), ``chain_gap`` (a ``seq`` or a table's version
  skipped), ``chain_truncated`` (the chain ends before a head it recorded or the anchored ``expect_head``),
  ``rewritten`` (a commit file's hash differs from the sealed one), ``commit_missing`` (a sealed commit
  file deleted while no checkpoint covers it), ``altered`` (a live file's hash differs), ``missing`` (a live
  file is gone from storage), ``added`` (a live file no sealed commit added, or a file in the table folder
  no commit references), ``removed`` (a file the chain says is live that the log no longer lists),
  ``table_missing`` (a sealed table whose log is gone), ``log_unreadable``, ``published_key`` (the lake's
  ``_tracelake/chain.pub`` is not a public key).
- ``unverifiable`` (3): nothing contradicts the chain but something is not covered by it: ``unsealed``
  (a commit after the table's sealed head: sealing has not run yet, or the chain's tail was cut and no
  anchor says so), ``unhashed`` (a live file that was already gone when sealed), ``no_public_key``,
  ``unreferenced`` (a file no commit references, written less than :data:`UNREFERENCED_GRACE_S` ago and
  not recorded by a seal: an append in flight or one that lost a commit race — or a file slipped in, which
  turns into ``added`` once the grace has passed).
- ``clean`` (0): every entry links, hashes and verifies; every commit file is the one sealed; every live
  file is one a sealed commit added, with the sealed hash; every other file in a table folder was referenced by
  a sealed commit or recorded by a seal as an orphan.

``expired`` findings are information: a sealed commit file that log cleanup deleted under a checkpoint
(``tracelake compact``); the files it added are still checked.

Order matters for a lake that is being written: table folders are listed *before* the logs are read, so a
file an append writes meanwhile is either committed by then (``unsealed``) or not listed. A file written
by an append that has not committed by the time the log is read is ``unreferenced`` (see above).

Failure modes: ``OSError`` when the storage cannot be read (callers: :class:`tracelake.errors.Unavailable`).
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import pyarrow as pa

from tracelake.errors import ConfigError
from tracelake.governance.chain import GENESIS, ChainState, ChainStore, Entry
from tracelake.governance.chain_files import LakeObjects
from tracelake.governance.chain_log import list_log, log_path, parse_commit, stored_files, table_names
from tracelake.governance.seal import PUBLIC_KEY_PATH, live_paths
from tracelake.governance.signing import PublicKey, parse_public_key
from tracelake.lake.lake import Lake

TAMPERED, UNVERIFIABLE, INFO = "tampered", "unverifiable", "info"
# A file no commit references and no seal recorded is "unverifiable" while younger than this, "added" (tampered)
# after: an append in flight, or one that lost a commit race, leaves such a file until the next seal records it
# (the consumer seals every minute; compaction uses the same hour before it deletes unreferenced files).
UNREFERENCED_GRACE_S = 3600.0
EXIT_CODES = {"clean": 0, TAMPERED: 1, UNVERIFIABLE: 3}


@dataclass(frozen=True)
class Finding:
    """One thing verify found: its kind, how bad (``tampered``, ``unverifiable``, ``info``), where, and why."""

    kind: str
    severity: str
    table: str | None = None
    version: int | None = None
    path: str | None = None
    detail: str = ""

    def line(self) -> str:
        where = " ".join(p for p in (self.table or "", "" if self.version is None else f"v{self.version}",
                                     self.path or "") if p)
        detail = f" ({self.detail})" if self.detail else ""
        return f"{self.severity}: {self.kind}{': ' + where if where else ''}{detail}"


@dataclass
class VerifyReport:
    """Everything verify found, plus what it covered."""

    findings: list[Finding] = field(default_factory=list)
    entries: int = 0
    head: str = GENESIS
    seq: int = -1
    tables: list[str] = field(default_factory=list)
    files_checked: int = 0
    bytes_hashed: int = 0
    key_id: str | None = None
    seconds: float = 0.0

    @property
    def status(self) -> str:
        severities = {f.severity for f in self.findings}
        return TAMPERED if TAMPERED in severities else UNVERIFIABLE if UNVERIFIABLE in severities else "clean"

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.status]

    def kinds(self) -> set[str]:
        return {f.kind for f in self.findings}

    def add(self, kind: str, severity: str, table: str | None = None, version: int | None = None,
            path: str | None = None, detail: str = "") -> None:
        self.findings.append(Finding(kind, severity, table, version, path, detail))

    def as_dict(self) -> dict[str, Any]:
        return {"status": self.status, "head": self.head, "seq": self.seq, "entries": self.entries,
                "tables": self.tables, "files_checked": self.files_checked, "bytes_hashed": self.bytes_hashed,
                "key_id": self.key_id, "seconds": round(self.seconds, 3),
                "findings": [asdict(f) for f in self.findings]}


def published_key(objects: LakeObjects) -> PublicKey | None:
    """The public key the lake publishes (``_tracelake/chain.pub``); None when it publishes none."""
    if not objects.exists(PUBLIC_KEY_PATH):
        return None
    return parse_public_key(objects.read(PUBLIC_KEY_PATH), f"{objects.lake}/{PUBLIC_KEY_PATH}")


def read_chain(lake: Lake) -> ChainState:
    """The lake's chain (``OSError`` from the storage; ``ValueError`` for rows that do not decode)."""
    return ChainStore(lake).read()


def verify_lake(lake: Lake, public_key: PublicKey | None = None, expect_head: str | None = None) -> VerifyReport:
    """Verify ``lake`` (see the module docstring); ``public_key`` None: the key the lake publishes."""
    started = time.perf_counter()
    report = VerifyReport()
    objects = LakeObjects(lake)
    # Whether the lake publishes a key, looked at before the chain is read: a seal publishes it only after its
    # first entries are in, so a key seen here means the chain read below must hold entries.
    try:
        published = published_key(objects)
    except ConfigError as exc:
        report.add("published_key", TAMPERED, path=PUBLIC_KEY_PATH, detail=exc.message)
        published = None
    key = public_key or published
    if key is None:
        report.add("no_public_key", UNVERIFIABLE, detail="no --public-key given and the lake publishes none")
    else:
        report.key_id = key.key_id
    discovered = table_names(objects)
    # Listed before any log is read (module docstring: a concurrent append is then committed or not listed).
    stored = {table: stored_files(objects, table) for table in discovered}
    try:
        state = read_chain(lake)
    except (ValueError, KeyError, TypeError, FileNotFoundError, pa.ArrowException) as exc:
        # Rows that do not decode, or a chain data file gone or not Parquet: the chain was changed. (Any other
        # OSError is the storage refusing: the caller's "cannot read the lake".)
        report.add("chain_unreadable", TAMPERED, detail=str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        state = ChainState()
    report.entries, report.head, report.seq = len(state.entries), state.head, state.next_seq - 1
    if not state.entries and published is not None:
        # The key is published by the first seal: a lake that publishes one but holds no chain lost it.
        report.add("chain_truncated", TAMPERED, detail=f"the lake publishes a chain key ({PUBLIC_KEY_PATH}) "
                                                       "but holds no chain entries")
    _check_links(state, key, expect_head, report)
    by_table: dict[str, list[Entry]] = {}
    for entry in state.entries:
        by_table.setdefault(entry.table, []).append(entry)
    report.tables = sorted(set(discovered) | set(by_table))
    for table in report.tables:
        _check_table(objects, table, by_table.get(table, []), stored.get(table, {}), table in discovered, report)
    report.seconds = time.perf_counter() - started
    return report


def _check_links(state: ChainState, key: PublicKey | None, expect_head: str | None, report: VerifyReport) -> None:
    prev = GENESIS
    last_version: dict[str, int] = {}
    for index, entry in enumerate(state.entries):
        if entry.seq != index:
            report.add("chain_gap", TAMPERED, entry.table, entry.version,
                       detail=f"entry seq {entry.seq} where {index} was expected")
        if entry.prev_hash != prev:
            report.add("chain_link", TAMPERED, entry.table, entry.version,
                       detail=f"seq {entry.seq} links to {entry.prev_hash[:12]}…, the previous entry is {prev[:12]}…")
        if entry.computed_hash() != entry.entry_hash:
            report.add("entry_altered", TAMPERED, entry.table, entry.version,
                       detail=f"seq {entry.seq}: its fields do not hash to its entry_hash")
        if key is not None and not _signed_by(key, entry):
            report.add("signature", TAMPERED, entry.table, entry.version,
                       detail=f"seq {entry.seq} is not signed by key {key.key_id} (entry names {entry.key_id})")
        before = last_version.get(entry.table)
        if before is not None and entry.version != before + 1 and not (
                (entry.kind == "snapshot" and entry.version > before)
                or (entry.kind == "orphans" and entry.version == before)):
            report.add("chain_gap", TAMPERED, entry.table, entry.version,
                       detail=f"follows sealed version {before}")
        last_version[entry.table] = entry.version
        prev = entry.entry_hash
    if state.recorded_seq > state.next_seq - 1:
        report.add("chain_truncated", TAMPERED,
                   detail=f"the chain table recorded entries up to seq {state.recorded_seq}; "
                          f"it holds {state.next_seq}")
    if expect_head is not None and expect_head not in {e.entry_hash for e in state.entries}:
        report.add("chain_truncated", TAMPERED,
                   detail=f"the anchored head {expect_head[:16]}… is not in the chain (cut or rewritten)")


def _signed_by(key: PublicKey, entry: Entry) -> bool:
    try:
        return key.check(bytes.fromhex(entry.entry_hash), entry.signature)
    except ValueError:
        return False


@dataclass
class _Expected:
    """A table's files as the chain (then the unsealed commits) says: live files and every path ever named."""

    live: dict[str, str | None] = field(default_factory=dict)  # path → sealed sha256 (None: unhashed)
    unsealed: set[str] = field(default_factory=set)
    known: set[str] = field(default_factory=set)


def _replay(entries: list[Entry]) -> _Expected:
    out = _Expected()
    for entry in entries:
        if entry.kind == "orphans":
            out.known.update(entry.adds)
            continue
        if entry.kind == "snapshot":
            out.live = {}
        for path in entry.removes:
            out.live.pop(path, None)
            out.known.add(path)
        for path, info in entry.adds.items():
            out.live[path] = info.get("sha256")
            out.known.add(path)
    return out


def _check_table(objects: LakeObjects, table: str, entries: list[Entry], stored: dict[str, float], has_log: bool,
                 report: VerifyReport) -> None:
    if entries and not has_log:
        report.add("table_missing", TAMPERED, table, detail="sealed, but the table's Delta log is gone")
        return
    listing = list_log(objects, table)
    expected = _replay(entries)
    head = entries[-1].version if entries else -1
    for entry in entries:
        if entry.kind == "orphans":
            continue
        digest: str | None = None
        if entry.version in listing.commits:
            # Deleted since the listing: judged below like a commit file that was never listed.
            with contextlib.suppress(FileNotFoundError):
                digest = hashlib.sha256(objects.read(log_path(table, entry.version))).hexdigest()
        if digest is not None:
            if digest != entry.commit_sha256:
                report.add("rewritten", TAMPERED, table, entry.version, log_path(table, entry.version),
                           "the commit file's SHA-256 differs from the sealed one")
        elif entry.version <= listing.checkpoint:
            report.add("expired", INFO, table, entry.version, detail="commit file removed by log cleanup under "
                       f"checkpoint {listing.checkpoint}")
        else:
            report.add("commit_missing", TAMPERED, table, entry.version, log_path(table, entry.version),
                       "a sealed commit file is gone and no checkpoint covers it")
    for version in sorted(listing.commits):
        if version <= head:
            continue  # sealed, or from before the chain began for this table (a snapshot entry)
        where = log_path(table, version)
        report.add("unsealed", UNVERIFIABLE, table, version, where, "committed after the table's sealed head")
        try:
            commit = parse_commit(objects.read(where), where)
        except (ValueError, FileNotFoundError):
            continue
        for path in commit.removes:
            expected.live.pop(path, None)
            expected.known.add(path)
        for path in commit.adds:
            expected.live[path] = None
            expected.unsealed.add(path)
            expected.known.add(path)
    if not listing.commits and listing.checkpoint < 0:
        return
    try:
        # At the newest version listed above, not the latest: a commit landing meanwhile is not half-seen.
        actual = live_paths(objects.lake, table, listing.latest)
    except OSError as exc:
        report.add("log_unreadable", TAMPERED if entries else UNVERIFIABLE, table, detail=str(exc).splitlines()[0])
        return
    for path in sorted(actual - set(expected.live)):
        report.add("added", TAMPERED, table, path=path, detail="live, but no sealed commit added it")
    for path in sorted(set(expected.live) - actual):
        report.add("removed", TAMPERED, table, path=path,
                   detail="the chain says it is live; the table's log no longer lists it")
    checked = sorted(path for path in actual & set(expected.live) if path not in expected.unsealed)
    hashed = objects.sha256_many([f"{table}/{path}" for path in checked])
    for path in checked:
        sealed = expected.live[path]
        report.files_checked += 1
        found = hashed[f"{table}/{path}"]
        if found is None:
            report.add("missing", TAMPERED, table, path=path, detail="live and sealed, but gone from storage")
            continue
        digest, size = found
        report.bytes_hashed += size
        if sealed is None:
            report.add("unhashed", UNVERIFIABLE, table, path=path, detail="it was already gone when sealed")
        elif digest != sealed:
            report.add("altered", TAMPERED, table, path=path, detail="its SHA-256 differs from the sealed one")
    now = time.time()
    for path in sorted(set(stored) - expected.known - actual):
        if now - stored[path] < UNREFERENCED_GRACE_S:
            report.add("unreferenced", UNVERIFIABLE, table, path=path,
                       detail="a recent file no commit references: an append in flight or one that lost a commit "
                              "race (the next seal records it), or a file slipped in")
        else:
            report.add("added", TAMPERED, table, path=path, detail="in the table's folder, referenced by no commit "
                                                                   "and not seen by any seal")
