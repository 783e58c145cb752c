-- approval_wait_slo: an approval is answered within the SLO of its action's risk tier.
-- Item: an `approval` that reports wait_ms. Its tier is the risk_tier of the latest policy_decision of the
-- same action at or before it in the run (none: the "default" SLO). Passes when wait_ms <= the tier's SLO
-- ({slo_green_ms}, {slo_yellow_ms}, {slo_red_ms}, {slo_default_ms} ms).
-- Evidence: the approval and its policy_decision.
SELECT a.tenant, a.run_id,
       a.wait_ms <= CASE arg_max(p.risk_tier, (p.ts, p.event_id))
                        WHEN 'green' THEN {slo_green_ms} WHEN 'yellow' THEN {slo_yellow_ms}
                        WHEN 'red' THEN {slo_red_ms} ELSE {slo_default_ms} END AS passed,
       list_filter([a.event_id, arg_max(p.event_id, (p.ts, p.event_id))], x -> x IS NOT NULL) AS evidence
FROM ev a
LEFT JOIN ev p
  ON p.tenant = a.tenant AND p.run_id = a.run_id AND p.event_type = 'policy_decision' AND p.action = a.action
 AND p.ts <= a.ts
WHERE a.event_type = 'approval' AND a.wait_ms IS NOT NULL
GROUP BY a.tenant, a.run_id, a.event_id, a.wait_ms
