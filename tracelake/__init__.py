"""tracelake: the evidence layer for AI agents in production.

Importing this package loads nothing heavy; each stage is its own subpackage
(``tracelake.sdk``, ``tracelake.ingest``, ``tracelake.transforms``,
``tracelake.queries``, ``tracelake.api``).
"""

__version__ = "0.1.0"
