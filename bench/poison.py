"""What one hostile message costs the consumer: decode/validate + redaction of that message alone.

    python bench/poison.py [--limit-s 120] [--cases brackets_raw_200k,...]

Each case is one Kafka message value, run through the consumer's own steps
(``decode_validate`` then ``redact_batch``, the work between poll and write)
in a forked child with a wall-clock limit, so a case that would run for an
hour is reported as "> limit" instead of stalling the benchmark. The spaCy
model is loaded once, before the timer, in the parent. Cases:

- ``brackets_raw_200k``: 200 000 ``(`` (not JSON: a dead letter whose payload is redacted as free text);
- ``brackets_field_200k``: a valid event whose ``tool_result`` is 200 000 ``(``;
- ``long_token_60k``: a valid event whose ``tool_result`` is one 60 000-character token (``AAAA…``);
- ``base64_60k``: the same with a 60 000-character base64 blob followed by an e-mail address and a name;
- ``mixed_punct_1m``: 1 000 000 random punctuation and letters without spaces, not JSON;
- ``mixed_punct_field_900k``: the same shape (900 000 characters) inside a valid event;
- ``oversized_5m``: a 5 MiB message (over ``max_event_bytes``);
- ``near_cap_event``: the most NER work an accepted event may need: ``A a `` repeated to
  49 000 tokens, just under the default ``max_ner_tokens`` (50 000);
- ``regex_only_900k``: 900 000 characters of lower-case words, digits, ``@`` and ``=`` (every
  pattern recognizer's gate open, no NER): the pattern recognizers' worst case.

It also prints the spaCy tokenizer's own cost on a run of brackets (2 000,
4 000, 8 000 characters) to show the quadratic shape the engine avoids.
Figures go to docs/benchmarks.md ("Hostile input").
"""

from __future__ import annotations

import argparse
import base64
import multiprocessing as mp
import random
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import orjson

from tracelake.transforms.metadata import MessageMeta
from tracelake.transforms.processor import Accepted, decode_validate
from tracelake.transforms.redact import Redactor
from tracelake.transforms.redact_batch import redact_batch

PUNCT = "()[]{}<>!?.,;:-_=+*&^%$#@~/|'`"


def _event(tool_result: str) -> bytes:
    return orjson.dumps({
        "schema_version": "1", "event_id": "poison-1", "event_type": "tool_call", "ts": "2026-11-24T10:00:00Z",
        "run_id": "run-1", "workflow": "w", "workflow_version": "1", "tool_name": "fetch",
        "tool_result": tool_result,
    })


def cases() -> dict[str, bytes]:
    rng = random.Random(7)
    token = base64.b64encode(rng.randbytes(45_000)).decode()  # 60 000 characters, no whitespace
    mixed = "".join(rng.choice(PUNCT + "abcXYZ") for _ in range(1_000_000))
    return {
        "brackets_raw_200k": b"(" * 200_000,
        "brackets_field_200k": _event("(" * 200_000),
        "long_token_60k": _event("A" * 60_000),
        "base64_60k": _event(token + " mail maria.garcia@example.com, signed Maria Garcia"),
        "mixed_punct_1m": mixed.encode(),
        "mixed_punct_field_900k": _event(mixed[:900_000]),
        "oversized_5m": b"x" * (5 * 1024 * 1024),
        "near_cap_event": _event("A a " * 24_500),
        "regex_only_900k": _event(" ".join(rng.choice(["a@b", "x=1", "555", "12-3", "tok", "v.2", "ip", "sk-"])
                                           for _ in range(200_000))[:900_000]),
    }


def _run(redactor: Redactor, value: bytes, out: Any) -> None:
    meta = MessageMeta(source="kafka", topic="bench", partition=0, offset=0, received_at=datetime.now(UTC))
    start = time.perf_counter()
    item = decode_validate(value, meta)
    result = redact_batch(redactor, [item])[0]
    elapsed = time.perf_counter() - start
    if isinstance(result, Accepted):
        verdict = f"stored ({sum((result.redactions or {}).values())} redactions)"
    else:
        verdict = f"dead letter: {result.reason[:70]}"
    out.send((elapsed, verdict))


def timed(redactor: Redactor, value: bytes, limit_s: float) -> tuple[float | None, str]:
    """(seconds, verdict), or (None, "...") when the case ran past ``limit_s`` and was killed."""
    ctx = mp.get_context("fork")  # the child inherits the loaded model
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_run, args=(redactor, value, child))
    proc.start()
    if parent.poll(limit_s):
        elapsed, verdict = parent.recv()
        proc.join()
        return elapsed, verdict
    proc.kill()
    proc.join()
    return None, f"still running after {limit_s:.0f} s (killed)"


def tokenizer_curve(redactor: Redactor) -> list[tuple[int, float]]:
    nlp = redactor.engine.nlp
    out = []
    for n in (2_000, 4_000, 8_000):
        start = time.perf_counter()
        nlp.make_doc("(" * n)
        out.append((n, time.perf_counter() - start))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--limit-s", type=float, default=120.0, help="wall-clock limit per case")
    parser.add_argument("--cases", default="", help="comma-separated case names (default: all)")
    parser.add_argument("--no-curve", action="store_true", help="skip the raw tokenizer curve")
    args = parser.parse_args()
    redactor = Redactor()
    redactor.redact_text("warm up Maria Garcia")
    chosen = [c for c in args.cases.split(",") if c] or list(cases())
    print(f"{'case':<26} {'bytes':>10} {'seconds':>9}  verdict")
    for name, value in cases().items():
        if name not in chosen:
            continue
        elapsed, verdict = timed(redactor, value, args.limit_s)
        shown = f"{elapsed:9.2f}" if elapsed is not None else f"{'>' + format(args.limit_s, '.0f'):>9}"
        print(f"{name:<26} {len(value):>10} {shown}  {verdict}", flush=True)
    if not args.no_curve:
        print("\nspaCy tokenizer alone (nlp.make_doc) on one run of '(':")
        for n, seconds in tokenizer_curve(redactor):
            print(f"  {n:>6} chars {seconds:7.2f} s", flush=True)


if __name__ == "__main__":
    main()
