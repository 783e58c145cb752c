"""The lake: its tables, their layout on disk, and the one object every stage reaches it through.

Stage-neutral: the ingest stage writes through it, the analytics stage reads
through it, the CLI, the API, the demo and the alert scheduler build one
:class:`tracelake.lake.lake.Lake` from the settings and hand it down. Nothing
here imports a stage (``tracelake.ingest``, ``tracelake.queries``, …).

- :mod:`tracelake.lake.tables`: one :class:`~tracelake.lake.tables.Table`
  declaration per table (name, Arrow schema, partition column, JSON-encoded
  columns, identity), checked against the contract model.
- :mod:`tracelake.lake.layout`: partition and file naming (``event_date=…``),
  and the refusal of a URL-shaped lake location. Imports nothing heavy.
- :mod:`tracelake.lake.files`: listing, footer checks and quarantine of the
  Parquet files.
- :mod:`tracelake.lake.writer`: the durable Parquet writer.
- :mod:`tracelake.lake.lake`: :class:`~tracelake.lake.lake.Lake`.

This package's ``__init__`` imports nothing, so ``tracelake --help`` (which
must not load pyarrow) can import :mod:`tracelake.lake.layout`.
"""
