"""Quality floors on the honest corpus's TEST split (tests/transforms/redact/honest): never tuned on.

Goals (issue 13): names >= 0.95, every pattern type >= 0.995, keep >= 0.98. Where a goal is not
reached the floor is what was measured (bench/redaction.py, docs/redaction.md "Quality"), so the
test catches regressions; raising a floor must come from work on the tuning split, never from
reading this split's misses.
"""

from __future__ import annotations

from tests.transforms.redact.honest import TEST_LOCALES, TUNING_LOCALES, honest_corpus, score, templates
from tracelake.transforms.redact import Redactor
from tracelake.transforms.redact.names import HELD_OUT_LOCALES

GOALS = {"PERSON": 0.95, "PHONE_NUMBER": 0.995, "CREDIT_CARD": 0.995, "EMAIL_ADDRESS": 0.995,
         "IBAN_CODE": 0.995, "IP_ADDRESS": 0.995, "US_SSN": 0.995}
# Measured on 1 200 test texts (bench/redaction.py): PERSON 0.984 (0.973 for the held-out locales' names),
# PHONE_NUMBER 1.000 (0.976 before the phone shapes worked out on the phone development set,
# honest/dev_phones.py), LOCATION 0.682, keep 0.982; every other type 1.000. PERSON and PHONE_NUMBER meet their goals.
FLOORS = {"PERSON": 0.98, "PHONE_NUMBER": 0.995, "CREDIT_CARD": 0.995, "EMAIL_ADDRESS": 0.995, "IBAN_CODE": 0.995,
          "IP_ADDRESS": 0.995, "US_SSN": 0.995, "LOCATION": 0.67}
KEEP_FLOOR = 0.98


def test_recall_per_type_and_keep_rate_on_the_test_split(redactor: Redactor) -> None:
    samples = honest_corpus("test", 1200)
    outputs = [text for text, _ in redactor.redact_texts([s.text for s in samples])]
    recall, (kept, total) = score(samples, outputs)
    rates = {kind: found / planted for kind, (found, planted) in recall.items()}
    low = {kind: round(rate, 3) for kind, rate in rates.items() if rate < FLOORS[kind]}
    assert not low, f"recall under the floor: {low}"
    assert kept / total >= KEEP_FLOOR


def test_splits_are_disjoint_and_deterministic() -> None:
    tuning = {t for _, t in templates("tuning")}
    test = {t for _, t in templates("test")}
    assert tuning and test and not tuning & test
    assert not set(TUNING_LOCALES) & set(TEST_LOCALES)
    assert set(TEST_LOCALES) >= HELD_OUT_LOCALES
    assert [s.text for s in honest_corpus("test", 30)] == [s.text for s in honest_corpus("test", 30)]
    assert [s.text for s in honest_corpus("tuning", 30)] != [s.text for s in honest_corpus("test", 30)]


def test_partial_name_counts_as_a_miss() -> None:
    from tests.transforms.redact.honest import Sample

    sample = Sample(text="ask Jamal Okafor", planted=[("PERSON", "Jamal Okafor")])
    assert score([sample], ["ask Jamal <PERSON>"])[0]["PERSON"] == (0, 1)
    assert score([sample], ["ask <PERSON>"])[0]["PERSON"] == (1, 1)
