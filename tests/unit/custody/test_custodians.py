"""provenance.custody.custodians: the chain of custody read from the log's entries."""

from __future__ import annotations

from typing import Any

from provenance.custody.custodians import chain_of_custody
from provenance.signing.statements import Entry, Prev

PREV = Prev(0, bytes(32))


def entry(seq: int, actor: str, action: str, **details: Any) -> Entry:
    return Entry(seq, f"2026-01-0{seq}T00:00:00Z", actor, action, (), PREV, details)


def test_a_transfer_accepted_hands_custody_over_with_a_gap_in_transit() -> None:
    chain = chain_of_custody(
        [
            entry(1, "ed25519:a", "init", keyName="alice"),
            entry(2, "ed25519:a", "snapshot"),
            entry(3, "ed25519:a", "transfer", to="ed25519:b", note="to the lab"),
            entry(4, "ed25519:x", "accepted"),  # not the recipient: not a handover
            entry(5, "ed25519:b", "accepted", name="bob"),
            entry(6, "ed25519:b", "disposition", reason="archived"),
        ]
    )
    report = chain.as_json()
    assert report["schema"] == "prov/custody-report/v1"
    alice, bob = report["periods"]
    assert (alice["custodian"], alice["name"], alice["until"]) == (
        "ed25519:a",
        "alice",
        "2026-01-03T00:00:00Z",
    )
    assert alice["actions"] == {"snapshot": 1, "transfer": 1}
    assert alice["endedBy"] == "transfer #3"
    assert (bob["name"], bob["endedBy"], bob["until"]) == (
        "bob",
        "disposition",
        "2026-01-06T00:00:00Z",
    )
    assert report["gaps"] == [
        {
            "from": "2026-01-03T00:00:00Z",
            "until": "2026-01-05T00:00:00Z",
            "between": ["ed25519:a", "ed25519:b"],
            "reason": "in transit",
        }
    ]
    assert report["actionsByOthers"] == [
        {"seq": 4, "time": "2026-01-04T00:00:00Z", "actor": "ed25519:x", "action": "accepted"}
    ]
    assert report["pendingTransfer"] is None
    assert report["disposition"] == {"seq": 6, "time": "2026-01-06T00:00:00Z", "reason": "archived"}


def test_a_transfer_not_yet_accepted_is_pending_and_entries_before_init_are_ignored() -> None:
    chain = chain_of_custody(
        [
            entry(1, "ed25519:z", "snapshot"),
            entry(2, "ed25519:a", "init"),
            entry(3, "ed25519:a", "transfer", to="ed25519:b"),
        ]
    )
    assert [p.custodian for p in chain.periods] == ["ed25519:a"]
    assert chain.periods[0].end is None
    assert chain.pending is not None and chain.pending["to"] == "ed25519:b"
    assert chain.others == []
