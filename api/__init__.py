"""The thin FastAPI service of ``docs/contract/api.md``.

Imports as ``tracelake.api``. Built by the API issue.
"""
