"""What the processing core takes in and gives out, independent of Kafka or Faust."""

from __future__ import annotations

from dataclasses import dataclass, field

from streams.errors import DeadLetter
from streams.incidents import IncidentChange
from streams.metrics import MetricPoint


@dataclass(slots=True)
class RawMessage:
    """One message as it came off a source: bytes plus where it came from."""

    value: bytes | None
    topic: str | None = None
    partition: int | None = None
    offset: int | None = None
    key: bytes | None = None
    source: str = "kafka"


@dataclass(slots=True)
class Recommendation:
    """A reallocation the rules recommend: what, from where, to where, how much, by when, why."""

    recommendation_id: str
    kind: str  # stock_transfer, delivery_reassignment, chilled_stock_move, supplier_switch, reorder
    incident_id: str
    entity: str
    action: str
    from_site: str | None
    to_site: str | None
    quantity: float | None
    unit: str
    by: str | None  # ISO timestamp
    benefit: str
    evidence: dict
    ts: str
    details: dict = field(default_factory=dict)

    def record(self) -> dict:
        return {
            "recommendation_id": self.recommendation_id, "kind": self.kind,
            "incident_id": self.incident_id, "entity": self.entity, "action": self.action,
            "from_site": self.from_site, "to_site": self.to_site, "quantity": self.quantity,
            "unit": self.unit, "by": self.by, "benefit": self.benefit, "evidence": self.evidence,
            "ts": self.ts, "details": self.details,
        }


@dataclass(slots=True)
class CoreOutput:
    """Everything one batch produced; the edge (Faust, replay, tests) decides where it goes."""

    processed: int = 0
    points: list[MetricPoint] = field(default_factory=list)
    incidents: list[IncidentChange] = field(default_factory=list)
    recommendations: list[Recommendation] = field(default_factory=list)
    deadletters: list[DeadLetter] = field(default_factory=list)

    def extend(self, other: "CoreOutput") -> None:
        self.processed += other.processed
        self.points += other.points
        self.incidents += other.incidents
        self.recommendations += other.recommendations
        self.deadletters += other.deadletters
