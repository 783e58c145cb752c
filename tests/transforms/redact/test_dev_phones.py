"""The phone development set (honest/dev_phones.py): in neither split; the floors are what was reached."""

from __future__ import annotations

from tests.transforms.redact.honest import TEST_LOCALES, TUNING_LOCALES, score
from tests.transforms.redact.honest.dev_phones import TEST_REGION_LOCALES, UNSEEN_LOCALES, dev_phone_corpus
from tracelake.transforms.redact import Redactor

# Measured on 2 000 texts per group: 0.993 (locales of neither split), 0.994 (the test split's phone providers).
FLOORS = {"unseen": 0.99, "test_regions": 0.99}


def test_dev_set_is_in_neither_split() -> None:
    assert not set(UNSEEN_LOCALES) & (set(TUNING_LOCALES) | set(TEST_LOCALES))
    assert not set(TEST_REGION_LOCALES) & set(TUNING_LOCALES)
    assert [s.text for s in dev_phone_corpus(20)] == [s.text for s in dev_phone_corpus(20)]


def test_phone_recall_and_keep_on_the_dev_set(redactor: Redactor) -> None:
    for group, floor in FLOORS.items():
        samples = dev_phone_corpus(600, group)
        outputs = [text for text, _ in redactor.redact_texts([s.text for s in samples])]
        recall, (kept, total) = score(samples, outputs)
        found, planted = recall["PHONE_NUMBER"]
        assert found / planted >= floor, (group, found, planted)
        assert kept / total >= 0.99, (group, kept, total)
