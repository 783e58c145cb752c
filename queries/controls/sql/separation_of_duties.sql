-- separation_of_duties: every mutating action gated at the yellow tier is approved, before it happens, by an
-- approver other than whoever initiated it.
-- Item: a mutating tool_call whose latest policy_decision before it is risk_tier = 'yellow'.
-- Passes when an `approval` of the gate's action with decision 'approved' exists at or before the call, and
-- none of those approvals is a self-approval: approver missing, or equal to the agent that made the call,
-- to the agent that started the run, or to the run's initiator.
-- Evidence: the call, its policy_decision and the approvals of its action.
SELECT y.tenant, y.run_id,
       count(a.event_id) > 0
           AND count(a.event_id) FILTER (
               WHERE a.approver IS NULL OR a.approver = y.agent OR a.approver = i.initiating_agent
                  OR a.approver = i.initiator) = 0 AS passed,
       list_filter([y.event_id, y.gate_id], x -> x IS NOT NULL)
           || coalesce(list(a.event_id) FILTER (WHERE a.event_id IS NOT NULL), []) AS evidence
FROM mutations y
LEFT JOIN initiators i ON i.tenant = y.tenant AND i.run_id = y.run_id
LEFT JOIN ev a
  ON a.tenant = y.tenant AND a.run_id = y.run_id AND a.event_type = 'approval' AND a.decision = 'approved'
 AND a.action = y.gate_action AND a.ts <= y.ts
WHERE y.gate_tier = 'yellow'
GROUP BY y.tenant, y.run_id, y.event_id, y.gate_id, y.agent, i.initiating_agent, i.initiator
