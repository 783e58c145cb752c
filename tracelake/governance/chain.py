"""The commit chain: signed, hash-linked entries, one per sealed Delta commit, stored in the lake's ``_chain`` table.

An entry records one commit of one table (``docs/governance.md``, "Tamper evidence"):

- ``seq`` (0, 1, 2, … over the whole lake), ``table``, ``version``, ``kind``: ``commit``, ``snapshot``
  when the table's earlier commit files were already gone when it was first sealed (the entry then lists
  every live file of that version), or ``orphans``: files in the table folder no commit references, seen
  when sealing (``version``: the table's last sealed one; ``commit_sha256`` null);
- ``commit_sha256``: SHA-256 of the commit file ``<table>/_delta_log/<version>.json``;
- ``adds``: each data file the commit adds → ``{"sha256", "size"}`` (``sha256`` null when the file was
  already gone when sealed: a later commit removed it and vacuum deleted it); ``removes``: paths removed;
- ``sealed_at``, ``key_id``; ``prev_hash``: the previous entry's ``entry_hash`` (64 zeros for ``seq`` 0);
- ``entry_hash``: SHA-256 of the canonical JSON of all the fields above (:func:`canonical`);
  ``signature``: Ed25519 over the 32 bytes of ``entry_hash``.

Storage (:class:`ChainStore`): a Delta table of its own at ``<lake>/_chain``, one append per seal, each
carrying the application transaction ``tracelake.chain`` → the last ``seq`` it appends. Two sealers that
read the same head race for the same app id: delta-rs refuses the loser's commit (``CommitFailedError``),
which re-reads the chain and starts again, on local disk and on S3 alike (the mechanism the ingest writer's
exactly-once offsets use, :mod:`tracelake.lake.delta`). The chain table's own commits are not chained: its
integrity is the entries' links and signatures; the recorded app-transaction ``seq`` also shows rows
deleted from its tail.

Failure modes: ``OSError`` when the storage refuses; :class:`ChainRace` when another sealer appended first.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import pyarrow as pa

from tracelake.lake.delta import storage_error
from tracelake.lake.lake import Lake

CHAIN_DIR = "_chain"
APP_ID = "tracelake.chain"
GENESIS = "0" * 64
# Checkpoint the chain's own log every this many versions: opening it stays cheap as seals accumulate.
CHECKPOINT_EVERY = 100

SCHEMA = pa.schema([
    ("seq", pa.int64()), ("table", pa.string()), ("version", pa.int64()), ("kind", pa.string()),
    ("commit_sha256", pa.string()), ("adds", pa.string()), ("removes", pa.string()),
    ("sealed_at", pa.string()), ("key_id", pa.string()), ("prev_hash", pa.string()),
    ("entry_hash", pa.string()), ("signature", pa.string()),
])


class ChainRace(Exception):
    """Another sealer appended to the chain first: re-read it and seal what is left."""


def canonical(value: Any) -> bytes:
    """The canonical JSON of ``value``: sorted keys, no spaces, UTF-8 (what hashes and signatures cover)."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


@dataclass(frozen=True)
class Entry:
    """One chain entry (see the module docstring)."""

    seq: int
    table: str
    version: int
    kind: str
    commit_sha256: str | None
    adds: dict[str, dict[str, Any]]
    removes: tuple[str, ...]
    sealed_at: str
    key_id: str
    prev_hash: str
    entry_hash: str = ""
    signature: str = ""

    def body(self) -> dict[str, Any]:
        """Every field the entry hash covers."""
        return {"seq": self.seq, "table": self.table, "version": self.version, "kind": self.kind,
                "commit_sha256": self.commit_sha256, "adds": self.adds, "removes": list(self.removes),
                "sealed_at": self.sealed_at, "key_id": self.key_id, "prev_hash": self.prev_hash}

    def computed_hash(self) -> str:
        return hashlib.sha256(canonical(self.body())).hexdigest()

    def as_dict(self) -> dict[str, Any]:
        return {**self.body(), "entry_hash": self.entry_hash, "signature": self.signature}

    @classmethod
    def from_dict(cls, row: dict[str, Any]) -> Entry:
        """An entry from :meth:`as_dict` output; ``ValueError`` / ``KeyError`` / ``TypeError`` when malformed."""
        return cls(int(row["seq"]), str(row["table"]), int(row["version"]), str(row["kind"]),
                   row["commit_sha256"], dict(row["adds"]), tuple(row["removes"]), str(row["sealed_at"]),
                   str(row["key_id"]), str(row["prev_hash"]), str(row["entry_hash"]), str(row["signature"]))


@dataclass
class ChainState:
    """The chain as read: entries in ``seq`` order, and the last ``seq`` the chain table's app transaction
    records (-1: none)."""

    entries: list[Entry] = field(default_factory=list)
    recorded_seq: int = -1

    @property
    def head(self) -> str:
        return self.entries[-1].entry_hash if self.entries else GENESIS

    @property
    def next_seq(self) -> int:
        return self.entries[-1].seq + 1 if self.entries else 0


def _delta() -> Any:
    import deltalake

    return deltalake


class ChainStore:
    """The ``_chain`` Delta table of one lake."""

    def __init__(self, lake: Lake) -> None:
        self.lake = lake
        self.uri = f"{lake.uri.rstrip('/')}/{CHAIN_DIR}"
        self.options = dict(lake.storage_options) or None
        # The table version :meth:`read` read: :meth:`append` commits against exactly it, so a sealer that read
        # an older head than the chain's loses the race instead of appending after entries it never saw.
        self._read_at: Any | None = None

    def _open(self) -> Any | None:
        deltalake = _delta()
        if not self.lake.is_remote and not (self.lake.resolved / CHAIN_DIR / "_delta_log").is_dir():
            return None
        try:
            return deltalake.DeltaTable(self.uri, storage_options=self.options)
        except deltalake.exceptions.TableNotFoundError:
            return None
        except deltalake.exceptions.DeltaError as exc:
            if self.lake.is_remote and not deltalake.DeltaTable.is_deltatable(self.uri, storage_options=self.options):
                return None
            raise storage_error(exc) from exc

    def read(self) -> ChainState:
        """Every entry in ``seq`` order (rows that cannot be decoded raise ``ValueError``)."""
        delta = self._open()
        self._read_at = delta
        if delta is None:
            return ChainState()
        recorded = delta.transaction_version(APP_ID)
        rows = pa.table(delta.to_pyarrow_table()).sort_by("seq").to_pylist()
        entries = []
        for row in rows:
            row["adds"] = orjson.loads(row["adds"])
            row["removes"] = orjson.loads(row["removes"])
            entries.append(Entry.from_dict(row))
        return ChainState(entries, -1 if recorded is None else int(recorded))

    def append(self, entries: Sequence[Entry]) -> None:
        """Append ``entries`` (consecutive ``seq``, computed from the last :meth:`read`) as one commit against
        the table version that read saw; :class:`ChainRace` when another sealer appended since, ``OSError`` when
        the storage refuses."""
        deltalake = _delta()
        rows = [{**e.as_dict(), "adds": canonical(e.adds).decode(), "removes": canonical(list(e.removes)).decode()}
                for e in entries]
        data = pa.Table.from_pylist(rows, schema=SCHEMA)
        try:
            delta = self._read_at
            self._read_at = None  # one append per read
            if delta is None and entries[0].seq > 0:
                raise ChainRace("the chain was read before it existed; read it again")
            if delta is None:
                if not self.lake.is_remote:
                    (self.lake.resolved / CHAIN_DIR).mkdir(parents=True, exist_ok=True)
                delta = deltalake.DeltaTable.create(self.uri, schema=SCHEMA, mode="ignore",
                                                    storage_options=self.options)
                if delta.version() != 0:  # another sealer created it and appended first
                    raise ChainRace("another sealer started the chain first")
            deltalake.write_deltalake(
                delta, data, mode="append",
                commit_properties=deltalake.CommitProperties(
                    custom_metadata={"tracelake.chain": f"seq {entries[0].seq}-{entries[-1].seq}"},
                    app_transactions=[deltalake.Transaction(APP_ID, entries[-1].seq)]))
        except deltalake.exceptions.CommitFailedError as exc:
            raise ChainRace(str(exc)) from None
        except deltalake.exceptions.DeltaError as exc:
            raise storage_error(exc) from exc
        try:
            delta.update_incremental()
            if delta.version() % CHECKPOINT_EVERY == 0:
                delta.create_checkpoint()
        except deltalake.exceptions.DeltaError:
            pass  # a checkpoint only speeds reading; the next one will be written
