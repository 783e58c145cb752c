-- One row per (tenant, run_id) that an outcome_confirmed event settles (events.md "Confirmed outcomes"):
-- the confirmation state of the run's latest matching outcome_confirmed (ts, then event_id), so a reversal after
-- a confirmation wins. A confirmation matches the run with its run_id and every run with a mutating tool_call
-- carrying its idempotency_key (same tenant). Its fields are stored in `attributes` (tables.py
-- CONTRACT_FIELD_MAPPINGS). Columns c_tenant, c_run_id (named apart from the runs' own, so a metric's group and
-- filter columns stay unambiguous), confirmation, amount. Spliced into the confirmed metrics (their confirmations slot); reads the `events` view, which
-- must reach the confirmations' days (metrics.py: MetricSpec.confirmations widens the connection's window).
SELECT tenant AS c_tenant, run_id AS c_run_id, confirmation, amount
FROM (
    SELECT m.tenant, m.run_id, m.confirmation, m.amount,
           row_number() OVER (PARTITION BY m.tenant, m.run_id ORDER BY m.ts DESC, m.event_id DESC) AS _latest
    FROM (
        SELECT c.tenant, c.run_id, c.ts, c.event_id,
               json_extract_string(c.attributes, '$.confirmation') AS confirmation,
               CAST(json_extract_string(c.attributes, '$.amount') AS DOUBLE) AS amount
        FROM events c
        WHERE c.event_type = 'outcome_confirmed'
        UNION ALL
        SELECT t.tenant, t.run_id, c.ts, c.event_id,
               json_extract_string(c.attributes, '$.confirmation') AS confirmation,
               CAST(json_extract_string(c.attributes, '$.amount') AS DOUBLE) AS amount
        FROM events c
        JOIN events t ON t.tenant = c.tenant AND t.idempotency_key = c.idempotency_key
        WHERE c.event_type = 'outcome_confirmed' AND c.idempotency_key IS NOT NULL
          AND t.event_type = 'tool_call' AND t.mutating AND t.run_id <> c.run_id
    ) m
) latest
WHERE _latest = 1
