"""Contract of `Mailbox`: delivery, dedupe, steps and the journal, work discovery, purge, the event log."""

from __future__ import annotations

from datetime import timedelta

import pytest

from aos.adapters.embedded import ManualClock
from aos.errors import Conflict, NotFound
from aos.model import Decision, EmitEffect, Event, NoteEffect, StepStatus
from aos.ports import Mailbox, Stores

pytestmark = pytest.mark.anyio

A = "acme/alpha"
B = "acme/beta"


def ev(event_id: str, type_: str = "ticket.created", **extra: object) -> Event:
    fields: dict[str, object] = {"data": {"n": event_id}, **extra}
    return Event(id=event_id, source="/tests", type=type_, **fields)


def decision(text: str) -> Decision:
    return Decision(effects=[NoteEffect(text=text), EmitEffect(type="x.y", data={"t": text})], summary=text)


async def fill(mailbox: Mailbox, key: str, count: int, prefix: str = "e") -> list[str]:
    ids = [f"{prefix}{i}" for i in range(count)]
    for event_id in ids:
        await mailbox.deliver("acme", ev(event_id), [key])
    return ids


async def test_deliver_appends_to_every_key_and_reports_them(stores: Stores) -> None:
    got = await stores.mailbox.deliver("acme", ev("e1", aostarget="alpha"), [A, B, A])
    assert got.duplicate is False
    assert got.agent_keys == (A, B)
    claim = await stores.mailbox.begin_step(A, "alpha", 10)
    assert claim is not None
    assert [e.id for e in claim.events] == ["e1"]
    assert claim.events[0] == ev("e1", aostarget="alpha")  # extensions survive storage
    assert await stores.mailbox.pending(B) == 1


async def test_redelivering_an_accepted_id_is_a_duplicate_and_changes_nothing(stores: Stores) -> None:
    await stores.mailbox.deliver("acme", ev("e1"), [A])
    again = await stores.mailbox.deliver("acme", ev("e1", data={"other": True}), [A, B])
    assert again.duplicate is True
    assert again.agent_keys == (A,)
    assert await stores.mailbox.pending(A) == 1
    assert await stores.mailbox.pending(B) == 0
    assert len(await stores.mailbox.events("acme")) == 1


async def test_deliver_many_is_deliver_of_each_in_order(stores: Stores) -> None:
    await stores.mailbox.deliver("acme", ev("e0"), [A])
    got = await stores.mailbox.deliver_many("acme", [
        (ev("e1"), [A, B, A]), (ev("e0"), [B]), (ev("e2"), [B]), (ev("e1", data={"again": True}), [B]),
    ])
    assert [(d.duplicate, d.agent_keys) for d in got] == [
        (False, (A, B)), (True, (A,)), (False, (B,)), (True, (A, B)),  # a repeat in the batch: its first wins
    ]
    assert await stores.mailbox.pending(A) == 2 and await stores.mailbox.pending(B) == 2
    assert [a.event.id for a in await stores.mailbox.events("acme")] == ["e2", "e1", "e0"]
    claim = await stores.mailbox.begin_step(B, "beta", 10)
    assert claim is not None and [e.id for e in claim.events] == ["e1", "e2"]
    assert claim.events[0] == ev("e1")


async def test_event_ids_are_deduplicated_per_tenant(stores: Stores) -> None:
    await stores.mailbox.deliver("acme", ev("e1"), [A])
    other = await stores.mailbox.deliver("globex", ev("e1"), ["globex/alpha"])
    assert other.duplicate is False
    assert await stores.mailbox.pending("globex/alpha") == 1


async def test_same_event_to_same_key_is_a_no_op_even_after_processing(stores: Stores) -> None:
    await stores.mailbox.deliver("acme", ev("e1"), [A])
    claim = await stores.mailbox.begin_step(A, "alpha", 10)
    assert claim is not None
    await stores.mailbox.complete_step(A, claim.seq)
    # Another tenant-level acceptance of the same id (e.g. relayed through another tenant) must not re-queue it.
    await stores.mailbox.deliver("globex", ev("e1"), [A])
    assert await stores.mailbox.pending(A) == 0
    assert await stores.mailbox.begin_step(A, "alpha", 10) is None


async def test_begin_step_claims_oldest_first_in_numbered_steps(stores: Stores) -> None:
    ids = await fill(stores.mailbox, A, 5)
    first = await stores.mailbox.begin_step(A, "alpha", 3)
    assert first is not None
    assert (first.seq, [e.id for e in first.events], first.decision, first.attempts) == (1, ids[:3], None, 1)
    await stores.mailbox.complete_step(A, first.seq)
    second = await stores.mailbox.begin_step(A, "alpha", 3)
    assert second is not None
    assert (second.seq, [e.id for e in second.events]) == (2, ids[3:])
    await stores.mailbox.complete_step(A, second.seq)
    assert await stores.mailbox.begin_step(A, "alpha", 3) is None


async def test_begin_step_returns_none_for_an_empty_or_unknown_key(stores: Stores) -> None:
    assert await stores.mailbox.begin_step("acme/nobody", "nobody", 10) is None


async def test_unfinished_step_is_returned_again_with_attempts_and_decision(stores: Stores) -> None:
    await fill(stores.mailbox, A, 2)
    first = await stores.mailbox.begin_step(A, "alpha", 1)
    assert first is not None
    await stores.mailbox.deliver("acme", ev("late"), [A])

    again = await stores.mailbox.begin_step(A, "alpha", 10)
    assert again is not None
    assert (again.seq, again.events, again.decision, again.attempts) == (first.seq, first.events, None, 2)

    journaled = await stores.mailbox.record_decision(A, first.seq, decision("first"))
    assert journaled == decision("first")
    third = await stores.mailbox.begin_step(A, "alpha", 10)
    assert third is not None
    assert (third.seq, third.decision, third.attempts) == (first.seq, decision("first"), 3)
    assert [e.id for e in third.events] == ["e0"]


async def test_first_decision_wins(stores: Stores) -> None:
    await fill(stores.mailbox, A, 1)
    claim = await stores.mailbox.begin_step(A, "alpha", 10)
    assert claim is not None
    assert await stores.mailbox.record_decision(A, claim.seq, decision("one")) == decision("one")
    assert await stores.mailbox.record_decision(A, claim.seq, decision("two")) == decision("one")
    await stores.mailbox.complete_step(A, claim.seq)
    assert await stores.mailbox.record_decision(A, claim.seq, decision("three")) == decision("one")
    [step] = await stores.mailbox.steps(A)
    assert step.decision == decision("one")


async def test_finish_step_journals_and_completes_at_once_and_is_idempotent(stores: Stores) -> None:
    await fill(stores.mailbox, A, 2)
    claim = await stores.mailbox.begin_step(A, "alpha", 10)
    assert claim is not None
    await stores.mailbox.finish_step(A, claim.seq, decision("done"))
    await stores.mailbox.finish_step(A, claim.seq, decision("done"))  # a retry of the same write
    assert await stores.mailbox.pending(A) == 0
    assert await stores.mailbox.keys_with_work() == []
    [step] = await stores.mailbox.steps(A)
    assert step.status == StepStatus.DONE and step.decision == decision("done")
    with pytest.raises(Conflict):  # another decision never replaces the journaled one
        await stores.mailbox.finish_step(A, claim.seq, decision("other"))
    assert (await stores.mailbox.steps(A))[0].decision == decision("done")


async def test_finish_step_refuses_a_step_with_another_journaled_decision(stores: Stores) -> None:
    await fill(stores.mailbox, A, 1)
    claim = await stores.mailbox.begin_step(A, "alpha", 10)
    assert claim is not None
    await stores.mailbox.record_decision(A, claim.seq, decision("first"))
    with pytest.raises(Conflict):
        await stores.mailbox.finish_step(A, claim.seq, decision("second"))
    assert await stores.mailbox.pending(A) == 1  # not completed: the journaled decision is still to apply
    await stores.mailbox.finish_step(A, claim.seq, decision("first"))  # the journaled one completes it
    assert await stores.mailbox.pending(A) == 0
    await fill(stores.mailbox, A, 1, prefix="f")
    failed = await stores.mailbox.begin_step(A, "alpha", 10)
    assert failed is not None
    await stores.mailbox.fail_step(A, failed.seq, "brain down")
    with pytest.raises(Conflict):
        await stores.mailbox.finish_step(A, failed.seq, decision("late"))


async def test_decision_for_unknown_or_finished_undecided_step_raises(stores: Stores) -> None:
    with pytest.raises(NotFound):
        await stores.mailbox.record_decision(A, 1, decision("x"))
    await fill(stores.mailbox, A, 1)
    claim = await stores.mailbox.begin_step(A, "alpha", 10)
    assert claim is not None
    await stores.mailbox.fail_step(A, claim.seq, "brain down")
    with pytest.raises(Conflict):
        await stores.mailbox.record_decision(A, claim.seq, decision("late"))


async def test_complete_step_is_idempotent_and_marks_events_processed(
    stores: Stores, clock: ManualClock
) -> None:
    await fill(stores.mailbox, A, 2)
    claim = await stores.mailbox.begin_step(A, "alpha", 10)
    assert claim is not None
    assert await stores.mailbox.pending(A) == 2  # claimed by an unfinished step still counts
    await stores.mailbox.record_decision(A, claim.seq, decision("d"))
    clock.advance(timedelta(seconds=5))
    await stores.mailbox.complete_step(A, claim.seq)
    await stores.mailbox.complete_step(A, claim.seq)
    assert await stores.mailbox.pending(A) == 0
    [step] = await stores.mailbox.steps(A)
    assert step.status == StepStatus.DONE
    assert step.finished_at is not None and step.finished_at - step.started_at == timedelta(seconds=5)
    with pytest.raises(Conflict):
        await stores.mailbox.fail_step(A, claim.seq, "too late")
    with pytest.raises(NotFound):
        await stores.mailbox.complete_step(A, claim.seq + 1)


async def test_fail_step_is_idempotent_and_dead_letters_its_events(stores: Stores) -> None:
    await fill(stores.mailbox, A, 2)
    claim = await stores.mailbox.begin_step(A, "alpha", 10)
    assert claim is not None
    await stores.mailbox.fail_step(A, claim.seq, "boom")
    await stores.mailbox.fail_step(A, claim.seq, "boom again")
    assert await stores.mailbox.pending(A) == 0
    assert await stores.mailbox.keys_with_work() == []
    [step] = await stores.mailbox.steps(A)
    assert (step.status, step.error, [e.id for e in step.events]) == (StepStatus.FAILED, "boom", ["e0", "e1"])
    with pytest.raises(Conflict):
        await stores.mailbox.complete_step(A, claim.seq)
    with pytest.raises(NotFound):
        await stores.mailbox.fail_step(B, 1, "never begun")
    await stores.mailbox.deliver("acme", ev("e0"), [A])  # a dead-lettered id is still remembered
    assert await stores.mailbox.pending(A) == 0


async def test_keys_with_work_lists_pending_and_unfinished_keys_only(stores: Stores) -> None:
    assert await stores.mailbox.keys_with_work() == []
    await stores.mailbox.deliver("acme", ev("e1"), [A, B])
    await stores.mailbox.deliver("acme", ev("e2"), ["acme/gamma"])
    assert await stores.mailbox.keys_with_work() == [A, B, "acme/gamma"]
    assert await stores.mailbox.keys_with_work(limit=2) == [A, B]

    claim = await stores.mailbox.begin_step(A, "alpha", 10)
    assert claim is not None
    assert A in await stores.mailbox.keys_with_work()  # unfinished step
    await stores.mailbox.complete_step(A, claim.seq)
    assert await stores.mailbox.keys_with_work() == [B, "acme/gamma"]


async def test_steps_page_newest_first_with_events_and_decisions(stores: Stores) -> None:
    await fill(stores.mailbox, A, 5)
    for i in range(5):
        claim = await stores.mailbox.begin_step(A, "alpha", 1)
        assert claim is not None
        await stores.mailbox.record_decision(A, claim.seq, decision(f"d{i}"))
        await stores.mailbox.complete_step(A, claim.seq)
    page = await stores.mailbox.steps(A, limit=2)
    assert [(s.seq, s.agent_id, [e.id for e in s.events]) for s in page] == [
        (5, "alpha", ["e4"]),
        (4, "alpha", ["e3"]),
    ]
    assert page[0].decision == decision("d4")
    older = await stores.mailbox.steps(A, limit=10, before=page[-1].seq)
    assert [s.seq for s in older] == [3, 2, 1]
    assert await stores.mailbox.steps(A, before=1) == []
    assert await stores.mailbox.steps(B) == []


async def test_purge_removes_everything_for_the_key_only(stores: Stores) -> None:
    await fill(stores.mailbox, A, 3)
    await stores.mailbox.deliver("acme", ev("shared"), [A, B])
    claim = await stores.mailbox.begin_step(A, "alpha", 2)
    assert claim is not None
    await stores.mailbox.complete_step(A, claim.seq)
    await stores.mailbox.begin_step(A, "alpha", 1)

    removed = await stores.mailbox.purge(A)
    assert removed == 4 + 2  # four mailbox rows, two steps
    assert await stores.mailbox.purge(A) == 0
    assert await stores.mailbox.pending(A) == 0
    assert await stores.mailbox.steps(A) == []
    assert await stores.mailbox.keys_with_work() == [B]
    assert await stores.mailbox.pending(B) == 1
    # The agent's dedupe memory went with it: a new agent under the same key starts clean at step 1.
    await stores.mailbox.deliver("globex", ev("e0"), [A])
    fresh = await stores.mailbox.begin_step(A, "alpha", 10)
    assert fresh is not None and (fresh.seq, [e.id for e in fresh.events]) == (1, ["e0"])


async def test_events_log_pages_newest_first_and_filters_by_type_prefix(
    stores: Stores, clock: ManualClock
) -> None:
    types = ["ticket.created", "invoice.paid", "ticket.closed", "ticket_x", "ticket.created"]
    for i, type_ in enumerate(types):
        clock.advance(1)
        await stores.mailbox.deliver("acme", ev(f"e{i}", type_), [A] if i % 2 else [])
    await stores.mailbox.deliver("globex", ev("g0"), [])

    log = await stores.mailbox.events("acme")
    assert [a.event.id for a in log] == ["e4", "e3", "e2", "e1", "e0"]
    assert [a.pos for a in log] == sorted((a.pos for a in log), reverse=True)
    assert log[3].delivered_to == (A,) and log[4].delivered_to == ()
    assert log[0].accepted_at - log[4].accepted_at == timedelta(seconds=4)

    first = await stores.mailbox.events("acme", limit=2)
    rest = await stores.mailbox.events("acme", limit=10, before=first[-1].pos)
    assert [a.event.id for a in first + rest] == ["e4", "e3", "e2", "e1", "e0"]

    tickets = await stores.mailbox.events("acme", type_prefix="ticket.")
    assert [a.event.id for a in tickets] == ["e4", "e2", "e0"]  # `_` in `ticket_x` is not a wildcard
    older = await stores.mailbox.events("acme", type_prefix="ticket.", before=tickets[0].pos, limit=1)
    assert [a.event.id for a in older] == ["e2"]
    assert [a.event.id for a in await stores.mailbox.events("globex")] == ["g0"]
