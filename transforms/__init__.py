"""Pure batch transforms (Arrow tables / polars frames); never imports Kafka or FastAPI.

Imports as ``tracelake.transforms``. Built by the ingest issue.
"""
