"""The policy engine on its own: precedence, defaults, scopes, conditions, globs."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest
from pydantic import ValidationError

from aos.governance_model import PolicyDocument, PolicyRecord, Verdict
from aos.kernel.policy import PolicyInput, PolicySet


def compiled(*docs: tuple[str, dict[str, Any]]) -> PolicySet:
    now = datetime(2025, 1, 1, tzinfo=timezone.utc)
    return PolicySet.compile([PolicyRecord(tenant="t", name=n, version=1, document=PolicyDocument.model_validate(d),
                                           updated_at=now) for n, d in docs])


def req(action: str, role: str = "agent", **kw: Any) -> PolicyInput:
    return PolicyInput(action, role, **kw)


def test_no_policy_allows_and_a_tenant_default_deny_denies_unmatched_actions() -> None:
    assert compiled().decide(req("message.send")).verdict is Verdict.ALLOW
    ps = compiled(("base", {"default": "deny", "rules": [
        {"id": "ok", "actions": ["event.emit"], "effect": "allow"}]}))
    assert ps.decide(req("event.emit")).verdict is Verdict.ALLOW
    denied = ps.decide(req("message.send"))
    assert (denied.verdict, denied.policy, denied.rule) == (Verdict.DENY, "base", "default")


def test_deny_wins_over_allow_and_approval_whatever_the_order() -> None:
    ps = compiled(
        ("a-allow", {"rules": [{"id": "yes", "actions": ["message.send"], "effect": "allow"}]}),
        ("b-hold", {"rules": [{"id": "ask", "actions": ["message.*"], "effect": "require_approval"}]}),
        ("c-deny", {"rules": [{"id": "no", "actions": ["*"], "effect": "deny", "reason": "frozen",
                               "when": {"targets": ["billing"]}}]}),
    )
    d = ps.decide(req("message.send", target="billing"))
    assert (d.verdict, d.policy, d.rule, d.reason) == (Verdict.DENY, "c-deny", "no", "frozen")
    assert ps.decide(req("message.send", target="other")).verdict is Verdict.REQUIRE_APPROVAL


def test_scopes_agent_and_label_selector() -> None:
    ps = compiled(
        ("one", {"scope": {"agent": "bob"}, "rules": [{"id": "r", "actions": ["event.emit"], "effect": "deny"}]}),
        ("lab", {"scope": {"labels": {"tier": "untrusted"}},
                 "rules": [{"id": "r", "actions": ["tool.call:*"], "effect": "deny"}]}),
    )
    assert ps.decide(req("event.emit", agent_id="bob")).verdict is Verdict.DENY
    assert ps.decide(req("event.emit", agent_id="alice")).verdict is Verdict.ALLOW
    assert ps.decide(req("tool.call:web", agent_id="x", labels={"tier": "untrusted"})).verdict is Verdict.DENY
    assert ps.decide(req("tool.call:web", agent_id="x", labels={"tier": "core"})).verdict is Verdict.ALLOW
    assert ps.needs_labels


@pytest.mark.parametrize(("cond", "payload", "expected"), [
    ({"amount": {"gt": 100}}, {"amount": 150}, Verdict.DENY),
    ({"amount": {"gt": 100}}, {"amount": 50}, Verdict.ALLOW),
    ({"amount": {"gt": 100}}, {"amount": "lots"}, Verdict.ALLOW),
    ({"customer.tier": "gold"}, {"customer": {"tier": "gold"}}, Verdict.DENY),
    ({"customer.tier": {"in": ["gold", "vip"]}}, {"customer": {"tier": "vip"}}, Verdict.DENY),
    ({"secret": {"exists": True}}, {"other": 1}, Verdict.ALLOW),
])
def test_payload_conditions(cond: dict[str, Any], payload: Any, expected: Verdict) -> None:
    ps = compiled(("p", {"rules": [{"id": "r", "actions": ["event.emit"], "effect": "deny", "when": {"payload": cond}}]}))
    assert ps.decide(req("event.emit", payload=payload)).verdict is expected


@pytest.mark.parametrize(("cond", "words"), [
    ({"gt": "abc"}, "gt compares numbers"),
    ({"lte": None}, "lte compares numbers"),
    ({"lt": True}, "lt compares numbers"),
    ({"gte": [1]}, "gte compares numbers"),
    ({"in": "abc"}, "in needs a list"),
    ({"exists": "no"}, "exists is true or false"),
])
def test_payload_operators_with_values_they_cannot_compare_are_refused(cond: dict[str, Any], words: str) -> None:
    doc = {"rules": [{"id": "r", "actions": ["events.publish"], "effect": "deny", "when": {"payload": {"n": cond}}}]}
    with pytest.raises(ValidationError, match=f"payload 'n': {words}"):
        PolicyDocument.model_validate(doc)


def test_a_stored_document_with_such_an_operator_never_raises_at_decision_time() -> None:
    from aos.governance_model import PAYLOAD_OPS, Conditions, Rule
    from aos.kernel.policy.conditions import _OPS

    assert set(_OPS) == set(PAYLOAD_OPS)
    # as a document stored before the check would be: built without validation
    rule = Rule(id="r", actions=["event.emit"], effect=Verdict.DENY,
                when=Conditions.model_construct(payload={"amount": {"gt": "abc"}}))
    now = datetime(2025, 1, 1, tzinfo=timezone.utc)
    record = PolicyRecord(tenant="t", name="old", version=1, updated_at=now,
                          document=PolicyDocument.model_construct(rules=[rule], scope=PolicyDocument().scope,
                                                                  enabled=True, default=None, budgets=[],
                                                                  approval_timeout_s=3600, description=""))
    assert PolicySet.compile([record]).decide(req("event.emit", payload={"amount": 5})).verdict is Verdict.ALLOW


def test_a_document_read_back_from_storage_is_not_held_to_checks_added_since() -> None:
    from aos.governance_model import STORED

    raw = PolicyRecord(tenant="t", name="old", version=1, updated_at=datetime(2025, 1, 1, tzinfo=timezone.utc),
                       document=PolicyDocument()).model_dump(mode="json")
    raw["document"]["rules"] = [{"id": "r", "actions": ["event.emit"], "effect": "deny",
                                 "when": {"payload": {"amount": {"gt": "abc"}}}}]  # saved before the PUT check
    with pytest.raises(ValidationError, match="gt compares numbers"):
        PolicyRecord.model_validate(raw)  # as new input: refused
    stored = PolicyRecord.model_validate(raw, context=STORED)  # as the stores read it: it loads
    assert PolicySet.compile([stored]).decide(req("event.emit", payload={"amount": 5})).verdict is Verdict.ALLOW


def test_roles_event_types_and_time_windows() -> None:
    ps = compiled(("p", {"rules": [
        {"id": "readers", "actions": ["events.publish"], "effect": "deny", "when": {"roles": ["reader", "agent"]}},
        {"id": "pay", "actions": ["event.emit"], "effect": "deny", "when": {"event_types": ["payment.*"]}},
        {"id": "night", "actions": ["message.send"], "effect": "deny",
         "when": {"time": {"days": ["sat", "sun"], "start": "22:00", "end": "06:00"}}},
    ]}))
    assert ps.decide(req("events.publish", role="agent")).verdict is Verdict.DENY
    assert ps.decide(req("events.publish", role="operator")).verdict is Verdict.ALLOW
    assert ps.decide(req("event.emit", event_type="payment.sent")).verdict is Verdict.DENY
    assert ps.decide(req("event.emit", event_type="payment")).verdict is Verdict.ALLOW
    assert ps.decide(req("message.send", weekday=5, minute=23 * 60)).verdict is Verdict.DENY
    assert ps.decide(req("message.send", weekday=5, minute=3 * 60)).verdict is Verdict.DENY
    assert ps.decide(req("message.send", weekday=5, minute=12 * 60)).verdict is Verdict.ALLOW
    assert ps.decide(req("message.send", weekday=2, minute=23 * 60)).verdict is Verdict.ALLOW


def test_disabled_policies_are_ignored_and_bad_documents_are_refused() -> None:
    ps = compiled(("off", {"enabled": False, "rules": [{"id": "r", "actions": ["*"], "effect": "deny"}]}))
    assert ps.decide(req("agents.register")).verdict is Verdict.ALLOW
    with pytest.raises(ValidationError):
        PolicyDocument.model_validate({"rules": [{"id": "r", "actions": ["launch missiles"], "effect": "deny"}]})
    with pytest.raises(ValidationError):
        PolicyDocument.model_validate({"scope": {"agent": "a"}, "default": "deny"})
    with pytest.raises(ValidationError):
        PolicyDocument.model_validate({"rules": [{"id": "r", "actions": ["*"], "effect": "maybe"}]})
