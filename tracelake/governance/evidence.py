"""An evidence bundle for one run: its redacted timeline, its decisions, the chain entries that cover it, signed.

:func:`build_bundle` (``tracelake audit export``, ``GET /v1/runs/{id}/evidence``) returns::

    {"format": "tracelake.evidence/1",
     "body": {"run_id", "tenant", "generated_at", "run", "events", "decisions",
              "files": [{"table", "path", "sha256", "size", "seq"}],
              "chain": {"entries": [...], "head", "seq", "key_id"}},
     "body_sha256", "key_id", "signature"}

- ``run`` / ``events``: the run's row and its timeline exactly as ``GET /v1/runs/{id}`` gives them
  (:func:`tracelake.queries.runs.run_timeline`: already redacted in the lake, tenant-scoped by the connection).
- ``controls``: the run's verdict per control with the event ids that decided it (docs/controls.md).
- ``decisions``: the timeline's events by kind (:data:`DECISION_TYPES`): policy decisions, approvals,
  escalations, fallbacks, post-condition checks, budget stops.
- ``files``: the live ``events`` files that hold the run's rows, each with the SHA-256 the chain sealed and
  the ``seq`` of the entry that added it (``seq`` null, ``sha256`` computed now: a file not sealed yet).
- ``chain``: those entries, complete with their hashes and signatures, and the chain's head when exported.
- ``signature``: Ed25519 by the chain key over ``body_sha256`` = SHA-256 of the canonical JSON of ``body``
  (sorted keys, no spaces: :func:`tracelake.governance.chain.canonical`); null when no key is configured.

:func:`check_bundle` (``tracelake audit verify``) checks a bundle offline with only the public key.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import orjson

from tracelake.api.responses import dumps as json_dumps
from tracelake.governance.chain import Entry, canonical
from tracelake.governance.chain_files import LakeObjects
from tracelake.governance.signing import PublicKey, SigningKey
from tracelake.governance.verify import read_chain
from tracelake.lake.delta import relative_path
from tracelake.lake.lake import Lake, _filesystem, _fs_path
from tracelake.lake.tables import EVENTS
from tracelake.queries.engine import LakeConnection
from tracelake.queries.runs import run_timeline

FORMAT = "tracelake.evidence/1"
# The timeline's decision events, by the bundle's name for each kind.
DECISION_TYPES = {"policy_decisions": "policy_decision", "approvals": "approval", "escalations": "escalation",
                  "fallbacks": "fallback", "postcondition_checks": "postcondition_check",
                  "budget_stops": "budget_exceeded"}


def build_bundle(lake: Lake, con: LakeConnection, run_id: str, key: SigningKey | None,
                 tenant: str | None = None) -> dict[str, Any] | None:
    """The evidence bundle of ``run_id`` as seen through ``con`` (its views decide the tenant; ``tenant``
    also limits the files searched); None when the connection holds no such run. ``OSError`` from storage."""
    timeline = run_timeline(con, run_id)
    if timeline is None:
        return None
    events: list[dict[str, Any]] = timeline["events"]
    decisions = {name: [e for e in events if e.get("event_type") == kind] for name, kind in DECISION_TYPES.items()}
    days = {_day(e["ts"]) for e in events if e.get("ts") is not None}
    state = read_chain(lake)
    added_by: dict[tuple[str, str], Entry] = {}
    for entry in state.entries:
        for path in entry.adds:
            added_by[(entry.table, path)] = entry
    files, covering = [], {}
    objects = LakeObjects(lake)
    for path in _files_with_run(lake, run_id, days, tenant or timeline["run"].get("tenant")):
        adder = added_by.get((EVENTS.name, path))
        if adder is None:
            digest, size = objects.sha256(f"{EVENTS.name}/{path}")
            files.append({"table": EVENTS.name, "path": path, "sha256": digest, "size": size, "seq": None})
            continue
        info = adder.adds[path]
        files.append({"table": EVENTS.name, "path": path, "sha256": info.get("sha256"), "size": info.get("size"),
                      "seq": adder.seq})
        covering[adder.seq] = adder.as_dict()
    body = {"run_id": run_id, "tenant": timeline["run"].get("tenant"),
            "generated_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "run": timeline["run"], "events": events, "decisions": decisions,
            # the run's verdict per control (docs/controls.md), as the run timeline gives them
            "controls": timeline.get("controls", []), "files": files,
            "chain": {"entries": [covering[s] for s in sorted(covering)], "head": state.head,
                      "seq": state.next_seq - 1, "key_id": state.entries[-1].key_id if state.entries else None}}
    # Through JSON once, encoded as the API answers (UTC times with Z, decimals as numbers): the body signed is
    # exactly what a reader of the file parses, and its events equal GET /v1/runs/{id}'s.
    body = orjson.loads(json_dumps(body))
    digest = hashlib.sha256(canonical(body)).hexdigest()
    return {"format": FORMAT, "body": body, "body_sha256": digest,
            "key_id": key.key_id if key else None,
            "signature": key.sign(bytes.fromhex(digest)) if key else None}


def _day(ts: Any) -> date:
    when = ts if isinstance(ts, datetime) else datetime.fromisoformat(str(ts))
    return when.astimezone(UTC).date()


def _files_with_run(lake: Lake, run_id: str, days: set[date], tenant: str | None) -> list[str]:
    """The live ``events`` files of ``days`` that hold a row of ``run_id`` (of ``tenant`` when given), relative."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    filesystem: Any = _filesystem(lake)
    wanted = pc.field("run_id") == run_id
    if tenant is not None:
        wanted = wanted & (pc.field("tenant") == tenant)
    out = []
    for item in lake.data_files(EVENTS):
        if item.day not in days:
            continue
        where = _fs_path(item.uri) if filesystem is not None else item.uri
        rows = pq.read_table(where, columns=["run_id", "tenant"], filters=wanted, filesystem=filesystem)
        if rows.num_rows:
            out.append(relative_path(lake, EVENTS, item))
    return sorted(out)


@dataclass
class BundleCheck:
    """What :func:`check_bundle` found: ``problems`` (the bundle was altered or does not hold together) and
    ``notes`` (what it cannot prove, e.g. unsealed files). Status: ``tampered``, ``unverifiable``, ``valid``."""

    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        return "tampered" if self.problems else "unverifiable" if self.notes else "valid"

    @property
    def exit_code(self) -> int:
        return {"valid": 0, "tampered": 1, "unverifiable": 3}[self.status]


def check_bundle(bundle: Any, key: PublicKey) -> BundleCheck:
    """Check ``bundle`` (parsed JSON) offline: the body hash, the signature, every chain entry's hash and
    signature, every file's hash against its entry, and the events against the run id."""
    out = BundleCheck()
    if not isinstance(bundle, dict) or bundle.get("format") != FORMAT or not isinstance(bundle.get("body"), dict):
        out.problems.append(f"not a {FORMAT} bundle")
        return out
    body = bundle["body"]
    digest = hashlib.sha256(canonical(body)).hexdigest()
    if digest != bundle.get("body_sha256"):
        out.problems.append("body: its SHA-256 differs from body_sha256 (the body was changed)")
    if not bundle.get("signature"):
        out.notes.append("the bundle is not signed (no chain key where it was exported)")
    elif not key.check(bytes.fromhex(digest), str(bundle["signature"])):
        out.problems.append(f"signature: not key {key.key_id}'s signature of the body")
    try:
        _check_body(body, key, out)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        out.problems.append(f"body: malformed ({type(exc).__name__}: {exc})")
    return out


def _check_body(body: dict[str, Any], key: PublicKey, out: BundleCheck) -> None:
    entries: dict[int, Entry] = {}
    for row in body["chain"]["entries"]:
        entry = Entry.from_dict(row)
        entries[entry.seq] = entry
        if entry.computed_hash() != entry.entry_hash:
            out.problems.append(f"chain entry {entry.seq}: its fields do not hash to its entry_hash")
        elif not key.check(bytes.fromhex(entry.entry_hash), entry.signature):
            out.problems.append(f"chain entry {entry.seq}: not signed by key {key.key_id}")
        if entry.seq > int(body["chain"]["seq"]):
            out.problems.append(f"chain entry {entry.seq} is after the head the bundle names")
    for item in body["files"]:
        if item["seq"] is None:
            out.notes.append(f"{item['table']}/{item['path']}: not sealed when exported")
            continue
        found = entries.get(int(item["seq"]))
        sealed = found.adds.get(item["path"]) if found is not None and found.table == item["table"] else None
        if sealed is None:
            out.problems.append(f"{item['table']}/{item['path']}: no bundled chain entry adds it")
        elif sealed.get("sha256") != item["sha256"]:
            out.problems.append(f"{item['table']}/{item['path']}: its hash differs from its chain entry's")
    ids = {e.get("event_id") for e in body["events"]}
    for event in body["events"]:
        if event.get("run_id") != body["run_id"]:
            out.problems.append(f"event {event.get('event_id')}: of run {event.get('run_id')}, not {body['run_id']}")
    for name, decisions in body["decisions"].items():
        for event in decisions:
            if event.get("event_id") not in ids:
                out.problems.append(f"decisions.{name}: event {event.get('event_id')} is not in the timeline")


def dumps(bundle: dict[str, Any]) -> bytes:
    """The bundle as the file ``tracelake audit export`` writes (indented JSON)."""
    return orjson.dumps(bundle, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
