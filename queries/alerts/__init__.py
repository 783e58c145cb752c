"""Drift alerts and canary verdicts (``metrics.md`` "Drift alerts").

- :mod:`.stats`: the statistical tests, pure functions.
- :mod:`.rules`: rule model, the default rules, the TOML rules file.
- :mod:`.evaluate`: metrics of two windows (or two versions) → test outcomes → alerts.
- :mod:`.store`: the lake's ``alerts`` table (deterministic ids, atomic Parquet writes).
- :mod:`.sinks`: JSON on stdout and a Slack-compatible webhook with retries.
- :mod:`.schedule`: cron-driven evaluation in a long-running process.
- :mod:`.canary`: promote / hold / rollback between two workflow versions.
"""
