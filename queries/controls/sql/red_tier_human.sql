-- red_tier_human: a red-tier mutation happens only in a run a human initiated, and only with an approval.
-- Item: a mutating tool_call whose latest policy_decision before it is risk_tier = 'red'.
-- Passes when the run's run_started says initiator = 'human' and an `approval` of the gate's action with
-- decision 'approved' exists at or before the call.
-- Evidence: the call, its policy_decision, the run_started (when there is one) and the approvals.
SELECT r.tenant, r.run_id,
       coalesce(i.initiator = 'human', false) AND count(a.event_id) > 0 AS passed,
       list_filter([r.event_id, r.gate_id, i.started_event], x -> x IS NOT NULL)
           || coalesce(list(a.event_id) FILTER (WHERE a.event_id IS NOT NULL), []) AS evidence
FROM mutations r
LEFT JOIN initiators i ON i.tenant = r.tenant AND i.run_id = r.run_id
LEFT JOIN ev a
  ON a.tenant = r.tenant AND a.run_id = r.run_id AND a.event_type = 'approval' AND a.decision = 'approved'
 AND a.action = r.gate_action AND a.ts <= r.ts
WHERE r.gate_tier = 'red'
GROUP BY r.tenant, r.run_id, r.event_id, r.gate_id, i.initiator, i.started_event
