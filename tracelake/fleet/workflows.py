"""The simulated agents: four workflows from the seed, each a planner, an executor and a verifier.

A workflow is a function of a :class:`Step` context; it emits events through
the real SDK ``Run`` and moves the simulated clock by each step's duration.
What goes wrong, and how often, comes from the version's :class:`Profile`:
tools that time out, return bad shapes or get invalid arguments, policy
gates (green: allow; yellow: approval with realistic waits; red: blocked),
approvals, escalations and safe fallbacks pointing at their trigger,
post-condition checks and budget halts. Prompts and tool payloads carry
fake personal data and, now and then, a leaked secret; system prompts repeat
as they do in production.
"""

from __future__ import annotations

import json
import random
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from tracelake.fleet import fakedata
from tracelake.fleet.clock import SimClock
from tracelake.fleet.models import LARGE, SMALL, Model
from tracelake.sdk import Run


@dataclass(frozen=True, slots=True)
class Profile:
    """How a workflow version behaves. Probabilities are per tool call or per run."""

    invalid_args: float = 0.03
    tool_timeout: float = 0.03
    bad_shape: float = 0.02
    check_fail: float = 0.02
    large_share: float = 0.25
    token_scale: float = 1.0
    budget_usd: float = 0.08
    runaway: float = 0.003  # the executor loops on the model until the budget stops it (rare: a cost outlier)
    secret_leak: float = 0.03
    # Control failures (docs/controls.md), per gate or per refund: the agent approves its own yellow-tier action,
    # a red-tier action goes ahead without a human (the policy allows it, nobody approves), a refund is issued
    # twice under one idempotency key.
    self_approval: float = 0.01
    red_without_human: float = 0.05
    double_refund: float = 0.01


BASELINE = Profile()
# The injected regression: the new prompt makes the executor call tools with
# wrong arguments and reach for the large model; runs fail more and cost more.
REGRESSED = Profile(invalid_args=0.22, check_fail=0.12, large_share=0.8, token_scale=1.5, tool_timeout=0.05,
                    runaway=0.04, double_refund=0.08)


@dataclass(frozen=True, slots=True)
class ToolOutcome:
    event_id: str
    failure: str | None  # None, "timeout", "invalid_args" or "bad_shape"

    @property
    def ok(self) -> bool:
        return self.failure is None


@dataclass
class Step:
    """What a workflow function works with."""

    run: Run
    rng: random.Random
    clock: SimClock
    profile: Profile
    system_prompt: str
    cost: float = 0.0
    # What the run's outcome will be (the SDK derives it the same way from the events).
    outcome: str = "success"
    # State the fleet keeps across the runs of one (tenant, workflow version): a refund left for a later run
    # to issue again under its key (a double refund across two runs).
    carry: dict[str, Any] = field(default_factory=dict)

    def _mark(self, outcome: str) -> None:
        if self.outcome == "success" or outcome == "halted":
            self.outcome = outcome

    # -- primitives ----------------------------------------------------------------------
    def _emit(self, method: Callable[..., str], duration_ms: float, **fields: Any) -> str:
        event_id = method(duration_ms=round(duration_ms, 1), **fields) if duration_ms else method(**fields)
        self.clock.advance(duration_ms + self.rng.uniform(5, 60))
        return event_id

    def llm(self, role: str, user: str, completion: str, *, tokens: int = 900, out: int = 120,
            model: Model | None = None) -> str:
        model = model or (LARGE if role == "executor" and self.rng.random() < self.profile.large_share else SMALL)
        scale = self.profile.token_scale
        call = model.call(self.rng, int(tokens * scale * self.rng.uniform(0.8, 1.3)),
                          int(out * scale * self.rng.uniform(0.7, 1.4)), cached_share=0.5)
        self.cost += float(call["cost_usd"])
        duration = float(call.pop("duration_ms"))
        return self._emit(self.run.llm_call, duration, agent=role, prompt=self.system_prompt, completion=completion,
                          attributes={"messages": [{"role": "user", "content": user}]}, **call)

    def key(self, name: str, args: dict[str, Any]) -> str:
        """The idempotency key of a mutating call: one key per intended effect (the tool, the run, the args)."""
        digest = zlib.crc32(json.dumps(args, sort_keys=True, default=str).encode())
        return f"{name}:{self.run.run_id}:{digest:08x}"

    def tool(self, name: str, args: dict[str, Any], result: Any, *, mutating: bool = False,
             role: str = "executor", can_fail: bool = True, key: str | None = None) -> ToolOutcome:
        """One tool call. Timeouts, bad shapes and invalid arguments happen as the profile says. A mutating
        call carries ``key`` as its idempotency key (default: :meth:`key`)."""
        roll = self.rng.random() if can_fail else 1.0
        p = self.profile
        fields: dict[str, Any] = {"agent": role, "tool_args": args, "mutating": mutating}
        if mutating:
            fields["idempotency_key"] = key or self.key(name, args)
        if roll < p.tool_timeout:
            return ToolOutcome(self._emit(
                self.run.tool_call, 5000 + self.rng.uniform(0, 50), tool_name=name, schema_valid=True, success=False,
                status="error", error={"type": "TimeoutError", "message": f"{name} timed out after 5000 ms"},
                **fields), "timeout")
        if roll < p.tool_timeout + p.invalid_args:
            bad = {**args, "amount": str(args["amount"])} if "amount" in args else {**args, "unexpected": True}
            fields["tool_args"] = bad
            return ToolOutcome(self._emit(
                self.run.tool_call, self.rng.uniform(5, 30), tool_name=name, schema_valid=False, success=False,
                status="error", error={"type": "SchemaValidationError", "message": f"{name}: arguments do not match"},
                **fields), "invalid_args")
        if roll < p.tool_timeout + p.invalid_args + p.bad_shape:
            return ToolOutcome(self._emit(
                self.run.tool_call, self.rng.uniform(40, 400), tool_name=name, schema_valid=True, success=False,
                tool_result={"unexpected": "<html>502 Bad Gateway</html>"}, status="error",
                error={"type": "BadResponseShape", "message": f"{name} returned HTML"}, **fields), "bad_shape")
        return ToolOutcome(self._emit(self.run.tool_call, self.rng.uniform(40, 600), tool_name=name,
                                      schema_valid=True, success=True, tool_result=result, **fields), None)

    def over_budget(self) -> bool:
        """Checked after the expensive steps; a runaway executor loop ends here too."""
        if self.rng.random() < self.profile.runaway:
            for attempt in range(60):  # bounded: the budget stops it long before
                if self.cost > self.profile.budget_usd:
                    break
                self.llm("executor", f"Retry {attempt + 1}: the previous answer did not parse.",
                         "Let me try again.", tokens=3000, out=400, model=LARGE)
        if self.cost <= self.profile.budget_usd:
            return False
        self.run.budget_exceeded("cost", limit=self.profile.budget_usd, used=round(self.cost, 6))
        self._mark("halted")
        return True

    def gate(self, action: str, amount_or_tier: float | str, rule: str, approver: str) -> str | None:
        """Policy decision (+ approval when yellow). Returns None when the action may go ahead,
        else the outcome already handled (escalated or failed)."""
        tier = amount_or_tier if isinstance(amount_or_tier, str) else (
            "green" if amount_or_tier < 50 else "yellow" if amount_or_tier < 500 else "red")
        decision = {"green": "allow", "yellow": "require_approval", "red": "block"}[tier]
        if tier == "red" and self.rng.random() < self.profile.red_without_human:
            decision = "allow"  # a misconfigured policy: the red action goes ahead, no human involved
        gate_id = self._emit(self.run.policy_decision, self.rng.uniform(2, 15), action=action, risk_tier=tier,
                             decision=decision, rule=rule)
        if decision == "block":
            self.escalate(gate_id, "policy_block", f"{action} blocked by {rule}; handed to a human reviewer")
            return "escalated"
        if decision == "require_approval" and self.rng.random() < self.profile.self_approval:
            approver = "executor"  # the agent that will act approves its own action
        if decision == "require_approval":
            wait = self.rng.lognormvariate(11.5, 0.6)  # median ~100 s, tail of several minutes
            roll = self.rng.random()
            verdict = "approved" if roll < 0.85 else "rejected" if roll < 0.95 else "expired"
            self.clock.advance(wait)
            approval_id = self._emit(self.run.approval, 0, action=action, decision=verdict, approver=approver,
                                     wait_ms=round(wait, 1))
            if verdict == "rejected":
                self.run.finish("failure", outcome_reason=f"{action} rejected by the approver")
                self._mark("failure")
                return "failure"
            if verdict == "expired":
                self.escalate(approval_id, "approval_expired", "no approver answered within the window")
                return "escalated"
        return None

    def retrieval(self, query: str, references: list[dict[str, Any]]) -> str:
        return self._emit(self.run.retrieval, self.rng.uniform(30, 200), query=query, references=references,
                          agent="planner")

    def recover(self, failed: ToolOutcome, detail: str) -> None:
        """After a failed tool call: wrong arguments go to a human (escalation); an unavailable or
        misbehaving tool takes the safe fallback. Either way the trigger is the failed call."""
        if failed.failure == "invalid_args":
            self.escalate(failed.event_id, "invalid_tool_args", detail)
        else:
            self.fall_back(failed.event_id, "tool_unavailable", detail)

    def _notice(self) -> None:
        """The agent takes a while to give up: retries, back-off, a confused turn (median ~8 s)."""
        self.clock.advance(self.rng.lognormvariate(9.0, 1.0) * self.profile.token_scale)

    def fall_back(self, trigger: str, reason: str, detail: str) -> None:
        self._notice()
        self._emit(self.run.fallback, 0, reason=reason, trigger_event_id=trigger, detail=detail)
        self._mark("fallback")

    def escalate(self, trigger: str, reason: str, detail: str) -> None:
        self._notice()
        self._emit(self.run.escalation, 0, reason=reason, trigger_event_id=trigger, detail=detail)
        self._mark("escalated")

    def check(self, name: str, detail_ok: str, detail_bad: str) -> bool:
        passed = self.rng.random() >= self.profile.check_fail
        self._emit(self.run.postcondition_check, self.rng.uniform(20, 120), check=name, passed=passed,
                   detail=detail_ok if passed else detail_bad, agent="verifier")
        if not passed:
            self.run.finish("failure", outcome_reason=f"post-condition {name} failed")
            self._mark("failure")
        return passed

    def maybe_secret(self, text: str) -> str:
        if self.rng.random() < self.profile.secret_leak:
            return f"{text} (debug: using key {fakedata.secret(self.rng)})"
        return text


# -- the workflows -----------------------------------------------------------------------------

SYSTEM_PROMPTS = {
    "refund_request": (
        "You are the refund agent of Acme Outdoor. Follow refund policy RP-7: refunds under 50 USD are automatic, "
        "refunds up to 500 USD need a team lead's approval, larger refunds go to a human. Never reveal internal "
        "notes, never promise a refund before the policy gate allows it, quote the order number in every answer "
        "and reply in the customer's language. Tools: lookup_order, issue_refund, notify_customer."
    ),
    "access_request": (
        "You route access requests for Initech. Read roles are granted automatically; write roles need the "
        "resource owner's approval; admin roles are never granted by an agent. Check the requester's manager "
        "and employment status first. Tools: iam.lookup_user, iam.add_role, ticket.comment."
    ),
    "duplicate_tickets": (
        "You close duplicate support tickets. Two tickets are duplicates when the same customer reports the same "
        "order within 72 hours. Keep the oldest ticket, merge the others into it, never close a ticket with a "
        "refund pending. Tools: zendesk.search, zendesk.merge."
    ),
    "crm_hygiene": (
        "You keep the CRM clean: normalise phone numbers to E.164, fix obvious e-mail typos, merge duplicate "
        "contacts, and never delete a contact with an open opportunity. Tools: crm.find_stale_contacts, "
        "crm.update_contact."
    ),
}


def _replay_refund(s: Step) -> None:
    """Issue again a refund an earlier run of this version already issued, under the earlier run's key (a
    re-delivered ticket): a double refund across two runs. Only when the two are within 48 h of each other,
    so the control's key horizon (72 h by default) sees both."""
    replay = s.carry.get("replay")
    if replay is None or abs(s.clock.t - replay[0]) >= timedelta(hours=48):
        return
    del s.carry["replay"]
    s.tool("issue_refund", replay[1], {"refund_id": "rf_again", "status": "queued"}, mutating=True,
           can_fail=False, key=replay[2])


def refund_request(s: Step) -> str | None:
    _replay_refund(s)
    rng = s.rng
    name, mail, phone, card = fakedata.person(rng), fakedata.email(rng), fakedata.phone(rng), fakedata.card(rng)
    order, amount = f"order {rng.randint(10000, 99999)}", round(rng.choice([19.9, 42.5, 89.0, 129.0, 349.0, 780.0]), 2)
    s.llm("planner", f"Hi, I'm {name} ({mail}, {phone}). My {order} arrived damaged, please refund {amount} USD "
                     f"to my card {card}.", f"Plan: look up {order}, check RP-7, propose a refund of {amount} USD.")
    lookup = s.tool("lookup_order", {"order_id": order}, {
        "order_id": order, "status": "delivered", "amount_usd": amount, "sku": f"SKU-{rng.randint(1000, 9999)}-BLK",
        "customer": {"name": name, "email": mail, "phone": phone}}, role="planner")
    if not lookup.ok:  # one retry, then the safe fallback
        lookup = s.tool("lookup_order", {"order_id": order}, {"order_id": order, "status": "delivered"},
                        role="planner")
        if not lookup.ok:
            s.recover(lookup, f"{order}: lookup failed twice; queued for a human agent")
            return None
    s.retrieval("refund policy for damaged items", [{"id": "RP-7", "version": "2026-03"}])
    s.llm("executor", f"Customer {name} asks a refund for {order}.", f"Propose refund of {amount} USD for {order}.",
          tokens=1600, out=200)
    if s.over_budget():
        return None
    gated = s.gate("issue_refund", amount, "RP-7", approver="team-lead-payments")
    if gated:
        return gated
    call = s.tool("issue_refund", {"order_id": order, "amount": amount, "currency": "USD", "card_number": card},
                  {"refund_id": f"rf_{rng.randint(10**6, 10**7)}", "status": "queued"}, mutating=True)
    if not call.ok:
        s.recover(call, f"issue_refund failed for {order}; the customer is told a person will follow up")
        return None
    if rng.random() < s.profile.double_refund:  # a confused retry of a refund that had gone through
        args = {"order_id": order, "amount": amount, "currency": "USD", "card_number": card}
        s.carry["doubles"] = s.carry.get("doubles", 0) + 1
        if s.carry["doubles"] % 2:  # in this run
            s.tool("issue_refund", args, {"refund_id": f"rf_{rng.randint(10**6, 10**7)}", "status": "queued"},
                   mutating=True, can_fail=False)
        else:  # a later run of this version picks the request up again (_replay_refund)
            s.carry["replay"] = (s.clock.t, args, s.key("issue_refund", args))
    s.llm("verifier", s.maybe_secret(f"Confirm the refund for {order} is in the ledger."), "Ledger shows the refund.",
          tokens=500, out=40, model=SMALL)
    if not s.check("refund_recorded", f"refund for {order} recorded", f"no ledger entry for {order}"):
        return "failure"
    s.run.output = f"Refunded {amount} USD for {order}; confirmation sent to {mail}."
    return None


def access_request(s: Step) -> str | None:
    rng = s.rng
    name, mail = fakedata.person(rng), fakedata.email(rng)
    role, tier = rng.choice([("read", "green")] * 5 + [("write", "yellow")] * 3 + [("admin", "red")])
    resource = rng.choice(["billing-db", "payroll", "crm-prod", "analytics"])
    s.llm("planner", s.maybe_secret(f"{name} <{mail}> requests {role} access to {resource}, ticket "
                                    f"IT-{rng.randint(1000, 9999)}."), f"Check {mail} in IAM, then apply AP-2.")
    lookup = s.tool("iam.lookup_user", {"email": mail}, {"name": name, "manager": fakedata.person(rng),
                                                        "status": "active", "ip_last_login": fakedata.ip(rng)})
    if not lookup.ok:
        s.recover(lookup, "IAM lookup failed; request parked for the service desk")
        return None
    gated = s.gate(f"grant_{role}", tier, "AP-2", approver=f"owner-{resource}")
    if gated:
        return gated
    call = s.tool("iam.add_role", {"user": mail, "role": f"{resource}:{role}"}, {"granted": True}, mutating=True)
    if not call.ok:
        s.recover(call, f"could not grant {role} on {resource}; nothing changed")
        return None
    if not s.check("role_granted", f"{resource}:{role} present", f"{resource}:{role} missing after grant"):
        return "failure"
    s.run.output = f"Granted {role} on {resource}."
    return None


def duplicate_tickets(s: Step) -> str | None:
    rng = s.rng
    name, mail = fakedata.person(rng), fakedata.email(rng)
    order = f"order {rng.randint(10000, 99999)}"
    tickets = [{"id": f"T-{rng.randint(10000, 99999)}", "requester": name, "email": mail,
                "text": f"{order} never arrived, call me on {fakedata.phone(rng)}"} for _ in range(rng.randint(2, 4))]
    search = s.tool("zendesk.search", {"query": f"requester:{mail} {order}"}, {"tickets": tickets}, role="planner")
    if not search.ok:
        s.recover(search, "ticket search failed; nothing merged")
        return None
    s.llm("executor", f"Are these tickets duplicates? {tickets}", f"Yes: keep {tickets[0]['id']}, merge the rest.",
          tokens=1200, out=80)
    if s.over_budget():
        return None
    call = s.tool("zendesk.merge", {"keep": tickets[0]["id"], "merge": [t["id"] for t in tickets[1:]]},
                  {"merged": len(tickets) - 1}, mutating=True)
    if not call.ok:
        s.recover(call, "merge failed; tickets left open")
        return None
    if not s.check("no_refund_ticket_closed", "no pending refund among merged tickets",
                   "a merged ticket had a refund pending"):
        return "failure"
    s.run.output = f"Merged {len(tickets) - 1} duplicate ticket(s) into {tickets[0]['id']}."
    return None


def crm_hygiene(s: Step) -> str | None:
    rng = s.rng
    contacts = [{"name": fakedata.person(rng), "email": fakedata.email(rng), "phone": fakedata.phone(rng),
                 "address": fakedata.street(rng)} for _ in range(rng.randint(1, 3))]
    found = s.tool("crm.find_stale_contacts", {"older_than_days": 365}, {"contacts": contacts}, role="planner")
    if not found.ok:
        s.recover(found, "CRM search failed; no contact changed")
        return None
    s.llm("executor", f"Normalise these contacts: {contacts}", "Normalised phones to E.164.", tokens=1400, out=260)
    for contact in contacts:
        call = s.tool("crm.update_contact", {"email": contact["email"], "phone": contact["phone"],
                                            "note": f"normalised for {contact['name']}"}, {"updated": True},
                      mutating=True)
        if not call.ok:
            s.recover(call, "contact update refused; flagged for the data steward")
            return None
        if s.over_budget():
            return None
    if not s.check("email_valid", "every updated e-mail is deliverable", "an updated e-mail bounces"):
        return "failure"
    s.run.output = f"Cleaned {len(contacts)} contact(s)."
    return None


@dataclass(frozen=True, slots=True)
class Workflow:
    name: str
    team: str
    version: str
    release: str
    weight: float
    body: Callable[[Step], str | None]


WORKFLOWS: dict[str, Workflow] = {
    w.name: w for w in (
        Workflow("refund_request", "payments-ops", "v3", "2026.11.2", 0.35, refund_request),
        Workflow("access_request", "it-security", "v7", "2026.11.2", 0.25, access_request),
        Workflow("duplicate_tickets", "support-ops", "v2", "2026.11.2", 0.2, duplicate_tickets),
        Workflow("crm_hygiene", "sales-ops", "v5", "2026.11.2", 0.2, crm_hygiene),
    )
}
