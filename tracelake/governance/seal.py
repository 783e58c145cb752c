"""Seal a lake: append a signed chain entry for every Delta commit not sealed yet (:func:`seal_lake`).

For each table of the lake (every folder with a ``_delta_log`` whose name does not start with ``_``:
``events``, ``dead_letters``, ``alerts``, the ``runs`` rollup, governance tables), the sealer reads the commit
files newer than the table's last sealed version, hashes each commit file and every data file it adds
(streaming SHA-256), and appends the entries in one chain commit (:class:`~tracelake.governance.chain.ChainStore`).

Who calls it: the consumer after its lake writes (``ingest/strategies/seal.py``), ``tracelake compact``,
retention and erasure after their commits, the scheduler, and ``tracelake chain seal``. Any number may run at
once: a sealer that loses the race for the chain's head re-reads it and seals only what is left
(:data:`MAX_ATTEMPTS` rounds).

- A table first sealed after log cleanup deleted its early commit files gets a ``snapshot`` entry at its
  latest version: every live file, hashed (what was deleted before cannot be proven; docs/governance.md).
- An added file already gone when sealed (removed by a later commit, then vacuumed) is recorded with a null
  hash: it is not live, so nothing needs it.
- Files in a table folder that no commit references (an append that lost a commit race or crashed) are
  recorded, hashed, in an ``orphans`` entry (the table's last sealed version): no reader reads them, and
  verify can then tell them from a file slipped in later.
- The published public key ``<lake>/_tracelake/chain.pub`` is written once the first entries are in; a lake
  that publishes another key is refused (:class:`tracelake.errors.ConfigError`): one lake, one signing key.

No key (``key`` None): nothing is sealed; the report says so. Failure modes: ``OSError`` when the storage
refuses; :class:`tracelake.errors.Unavailable` when other sealers keep winning.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from tracelake.errors import ConfigError, Unavailable
from tracelake.governance.chain import ChainRace, ChainState, ChainStore, Entry
from tracelake.governance.chain_files import LakeObjects
from tracelake.governance.chain_log import list_log, log_path, parse_commit, stored_files, table_names
from tracelake.governance.signing import SigningKey, parse_public_key
from tracelake.lake.lake import Lake

log = logging.getLogger("tracelake.governance")

PUBLIC_KEY_PATH = "_tracelake/chain.pub"
MAX_ATTEMPTS = 10


@dataclass
class SealReport:
    """What one seal did: entries appended, per table the versions sealed, bytes hashed, the new head."""

    sealed: int = 0
    tables: dict[str, list[int]] = field(default_factory=dict)
    bytes_hashed: int = 0
    head: str = ""
    seq: int = -1
    seconds: float = 0.0
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"sealed": self.sealed, "tables": {t: _span(v) for t, v in self.tables.items()},
                "bytes_hashed": self.bytes_hashed, "head": self.head, "seq": self.seq,
                "seconds": round(self.seconds, 3), "note": self.note}


def _span(versions: list[int]) -> str:
    return f"{versions[0]}-{versions[-1]}" if len(versions) > 1 else str(versions[0])


def seal_lake(lake: Lake, key: SigningKey | None) -> SealReport:
    """Seal every commit of ``lake`` not sealed yet with ``key`` (see the module docstring)."""
    started = time.perf_counter()
    if key is None:
        return SealReport(note="no chain key configured (TRACELAKE_CHAIN_KEY_FILE): nothing sealed")
    objects = LakeObjects(lake)
    published = publish_key(objects, key, check_only=True)
    store = ChainStore(lake)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        state = store.read()
        report = SealReport()
        entries = _pending(objects, state, key, report)
        if entries:
            try:
                store.append(entries)
            except ChainRace as exc:
                log.info("chain seal lost a race (%s); re-reading the chain (attempt %d)", exc, attempt)
                continue
        if (entries or state.entries) and not published:
            # After the first entries are in, never before: a published key promises a chain (verify reads a
            # lake that publishes one but holds no chain as a deleted chain).
            publish_key(objects, key)
        last = entries[-1] if entries else None
        report.sealed = len(entries)
        report.head, report.seq = (last.entry_hash, last.seq) if last else (state.head, state.next_seq - 1)
        report.seconds = time.perf_counter() - started
        return report
    raise Unavailable(f"could not seal the lake after {MAX_ATTEMPTS} attempts: other sealers keep winning")


def publish_key(objects: LakeObjects, key: SigningKey, *, check_only: bool = False) -> bool:
    """Whether the lake publishes ``key``, after writing it there when it publishes none (unless
    ``check_only``); :class:`ConfigError` for a lake that publishes another key."""
    if objects.exists(PUBLIC_KEY_PATH):
        published = parse_public_key(objects.read(PUBLIC_KEY_PATH), PUBLIC_KEY_PATH)
        if published.key_id != key.key_id:
            raise ConfigError(f"the lake publishes chain key {published.key_id} ({PUBLIC_KEY_PATH}) but the "
                              f"configured key is {key.key_id}; seal with the lake's key")
        return True
    if check_only:
        return False
    objects.write(PUBLIC_KEY_PATH, key.public.pem())
    return True


def _pending(objects: LakeObjects, state: ChainState, key: SigningKey, report: SealReport) -> list[Entry]:
    """The entries sealing every unsealed commit would append (signed, linked from the chain's head)."""
    sealed: dict[str, int] = {}
    known: dict[str, set[str]] = {}
    for entry in state.entries:
        sealed[entry.table] = entry.version
        known.setdefault(entry.table, set()).update(entry.adds, entry.removes)
    entries: list[Entry] = []
    prev, seq = state.head, state.next_seq
    now = datetime.now(UTC).isoformat(timespec="milliseconds")
    for table in table_names(objects):
        # Listed before the log is read: a file of an append in flight is then either committed (sealed with its
        # commit) or recorded as an orphan below (harmless: the next seal seals its commit).
        stored = stored_files(objects, table)
        listing = list_log(objects, table)
        last = sealed.get(table, -1)
        versions = [v for v in sorted(listing.commits) if v > last]
        new: list[Entry] = []
        if versions and versions[0] != last + 1:
            # The commit files after the last sealed version were deleted by log cleanup before sealing (or
            # the table is new to the chain and its early log is gone): start again from a snapshot.
            new.append(_snapshot(objects, table, versions[-1], seq, prev, now, key, report))
        else:
            for version in versions:
                new.append(_commit_entry(objects, table, version, seq + len(new),
                                         new[-1].entry_hash if new else prev, now, key, report))
        for entry in new:
            known.setdefault(table, set()).update(entry.adds, entry.removes)
        orphans = sorted(set(stored) - known.get(table, set()))
        if orphans and (new or table in sealed):
            # Files no commit references (an append that lost a commit race or crashed; vacuum deletes them
            # later): recorded, so verify can tell them from a file slipped in after this seal.
            version = new[-1].version if new else sealed[table]
            adds = _hashes(objects, table, orphans, report)
            new.append(_signed(Entry(seq + len(new), table, version, "orphans", None, adds, (), now, key.key_id,
                                     new[-1].entry_hash if new else prev), key))
        if new:
            entries += new
            prev, seq = new[-1].entry_hash, seq + len(new)
            report.tables[table] = [e.version for e in new if e.kind != "orphans"] or [new[-1].version]
    return entries


def _hashes(objects: LakeObjects, table: str, paths: tuple[str, ...] | list[str],
            report: SealReport) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    hashed = objects.sha256_many([f"{table}/{path}" for path in paths])
    for path in paths:
        found = hashed[f"{table}/{path}"]
        if found is None:
            out[path] = {"sha256": None, "size": None}
            continue
        report.bytes_hashed += found[1]
        out[path] = {"sha256": found[0], "size": found[1]}
    return out


def _signed(entry: Entry, key: SigningKey) -> Entry:
    digest = entry.computed_hash()
    return replace(entry, entry_hash=digest, signature=key.sign(bytes.fromhex(digest)))


def _commit_entry(objects: LakeObjects, table: str, version: int, seq: int, prev: str, now: str,
                  key: SigningKey, report: SealReport) -> Entry:
    where = log_path(table, version)
    data = objects.read(where)
    commit = parse_commit(data, where)
    adds = _hashes(objects, table, commit.adds, report)
    return _signed(Entry(seq, table, version, "commit", hashlib.sha256(data).hexdigest(), adds,
                         commit.removes, now, key.key_id, prev), key)


def _snapshot(objects: LakeObjects, table: str, version: int, seq: int, prev: str, now: str,
              key: SigningKey, report: SealReport) -> Entry:
    live = live_paths(objects.lake, table, version)
    data = objects.read(log_path(table, version))
    adds = _hashes(objects, table, sorted(live), report)
    return _signed(Entry(seq, table, version, "snapshot", hashlib.sha256(data).hexdigest(), adds, (), now,
                         key.key_id, prev), key)


def live_paths(lake: Lake, table: str, version: int | None = None) -> set[str]:
    """The live data files of ``table`` (at ``version``; None: the latest) as the Delta log says, relative
    and decoded; ``OSError`` when the log cannot be read."""
    from urllib.parse import unquote

    import deltalake
    import pyarrow as pa

    from tracelake.lake.delta import storage_error

    uri = f"{lake.uri.rstrip('/')}/{table}"
    try:
        delta = deltalake.DeltaTable(uri, version=version, storage_options=dict(lake.storage_options) or None)
        adds = pa.table(delta.get_add_actions(flatten=True))
    except deltalake.exceptions.DeltaError as exc:
        raise storage_error(exc) from exc
    return {unquote(p) for p in adds.column("path").to_pylist()} if adds.num_rows else set()
