"""Build the ingest chain's parts from the one :class:`~tracelake.settings.Settings` object."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING

from tracelake.ingest.metrics import Counters
from tracelake.ingest.pipeline import PipelineParts
from tracelake.ingest.sinks import DeadLetterSink
from tracelake.lake.lake import Lake
from tracelake.lake.tables import DEAD_LETTERS, EVENTS
from tracelake.settings import Settings
from tracelake.transforms.pricing import load_prices

if TYPE_CHECKING:
    from tracelake.transforms.redact import Redactor
    from tracelake.transforms.redact_batch import BatchRedactor


def make_redactor(settings: Settings) -> Redactor:
    from tracelake.transforms.redact import RedactionConfig, Redactor

    key = settings.pseudonym_key.encode() if settings.pseudonym_key else None
    return Redactor(RedactionConfig(model=settings.spacy_model, pseudonym_key=key,
                                    max_ner_tokens=settings.redaction_max_ner_tokens))


def make_parts(settings: Settings, dlq: DeadLetterSink | None = None,
               redactor: BatchRedactor | None = None, *, lake: Lake | None = None) -> PipelineParts:
    """The pipeline's parts, writing to ``lake`` (the entry point's :class:`~tracelake.lake.lake.Lake`; built
    from ``settings`` when not given). Raises ``OSError``/``ValueError`` for an unreadable prices file."""
    lake = lake or Lake.from_settings(settings)
    the_lake = lake

    def refresh_rollup() -> object:
        from tracelake.ingest.derived import refresh_derived_isolated

        return refresh_derived_isolated(the_lake, timedelta(hours=settings.run_max_duration_h),
                                        settings.controls_config_file)

    return PipelineParts(
        redactor=redactor or make_redactor(settings),
        events=lake.writer(EVENTS),
        dead_letters=lake.writer(DEAD_LETTERS),
        prices=load_prices(settings.prices_file),
        counters=Counters(),
        dlq=dlq,
        max_batch=settings.batch_max_events,
        max_batch_age_s=settings.batch_max_age_s,
        max_event_bytes=settings.max_event_bytes,
        refresh_rollup=refresh_rollup,
        rollup_interval_s=settings.rollup_interval_s,
        seal_chain=_sealer(lake, settings),
        seal_interval_s=settings.chain_seal_interval_s,
    )


def _sealer(lake: Lake, settings: Settings) -> Callable[[], object] | None:
    """Seals ``lake``'s new commits with the configured chain key; None without one. The key is loaded here, so
    a bad key file stops the consumer at start (one line), not at its first seal."""
    from tracelake.governance.seal import seal_lake
    from tracelake.governance.signing import configured_key

    key = configured_key(settings.chain_key_file, None if lake.is_remote else lake.resolved)
    return None if key is None else partial(seal_lake, lake, key)
