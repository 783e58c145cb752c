"""The thin FastAPI service of ``shared/contract/api.md``.

Imports as ``tracelake.api``. Built by the API issue.
"""
