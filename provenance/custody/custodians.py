"""Who had control of the evidence, when, and what they did (Berkeley Protocol, para. 167).

Custody passes by a ``transfer`` entry, signed by the current custodian and naming the
recipient's key, completed by an ``accepted`` entry signed by that recipient. Between the
two the evidence is in transit: a gap the report shows. A ``disposition`` entry records how
custody ended (returned, archived, released to a court, ...).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from provenance.signing.statements import Entry


@dataclass
class Period:
    custodian: str
    name: str | None
    start: str
    end: str | None = None
    actions: Counter[str] = field(default_factory=Counter)
    ended_by: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"custodian": self.custodian, "name": self.name, "from": self.start,
                "until": self.end, "actions": dict(sorted(self.actions.items())),
                "endedBy": self.ended_by}


@dataclass
class CustodyChain:
    periods: list[Period] = field(default_factory=list)
    gaps: list[dict[str, Any]] = field(default_factory=list)
    others: list[dict[str, Any]] = field(default_factory=list)  # entries by non-custodians
    pending: dict[str, Any] | None = None
    disposition: dict[str, Any] | None = None

    def as_json(self) -> dict[str, Any]:
        return {"schema": "prov/custody-report/v1",
                "periods": [p.as_json() for p in self.periods], "gaps": self.gaps,
                "actionsByOthers": self.others, "pendingTransfer": self.pending,
                "disposition": self.disposition}


def chain_of_custody(entries: Iterable[Entry]) -> CustodyChain:
    chain = CustodyChain()
    current: Period | None = None
    for e in entries:
        if e.action == "init":
            current = Period(e.actor, e.details.get("keyName"), e.time)
            chain.periods.append(current)
        elif current is None:
            continue
        elif e.action == "transfer":
            current.actions[e.action] += 1
            chain.pending = {"seq": e.seq, "from": e.actor, "to": e.details.get("to"),
                             "time": e.time, "note": e.details.get("note")}
        elif e.action == "accepted" and chain.pending and e.actor == chain.pending["to"]:
            pending = chain.pending
            current.end, current.ended_by = pending["time"], f"transfer #{pending['seq']}"
            chain.gaps.append({"from": pending["time"], "until": e.time,
                               "between": [pending["from"], e.actor], "reason": "in transit"})
            current = Period(e.actor, e.details.get("name"), e.time)
            current.actions[e.action] += 1
            chain.periods.append(current)
            chain.pending = None
        elif e.action == "disposition":
            current.actions[e.action] += 1
            current.end, current.ended_by = e.time, "disposition"
            chain.disposition = {"seq": e.seq, "time": e.time, **dict(e.details)}
        elif e.actor == current.custodian:
            current.actions[e.action] += 1
        else:
            chain.others.append({"seq": e.seq, "time": e.time, "actor": e.actor,
                                 "action": e.action})
    return chain
