"""DuckDB views, metric definitions, the SQL sandbox and drift alerts.

Imports as ``tracelake.queries``. Built by the analytics issue.
"""
