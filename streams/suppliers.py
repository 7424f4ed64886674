"""Supplier watch: shipments running late against their promised arrival (``supplier_late``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from streams.events import STATUS_CODES, ShipmentStatus
from streams.watch import Emit, Watch

KIND = "supplier_late"


@dataclass
class SupplierWatch(Watch):
    kinds = ("shipment",)
    grace_min: float = 60.0
    shipments: dict[str, ShipmentStatus] = field(default_factory=dict)
    #: the per-entity dicts, for incremental checkpoints: (attribute, how a key names its entity)
    keyed_state = (("shipments", "entity"),)

    def handle(self, ev: ShipmentStatus, emit: Emit) -> None:
        self.shipments[ev.shipment] = ev
        eta = ev.eta or ev.promised_at
        delay_min = (eta - ev.promised_at).total_seconds() / 60
        emit.point("shipment", {"shipment": ev.shipment, "supplier": ev.supplier,
                                "destination": ev.destination},
                   {"delay_min": delay_min, "status_code": STATUS_CODES[ev.status]}, ev.ts)
        finished = ev.status in ("delivered", "cancelled")
        active = not finished and (ev.status == "delayed" or delay_min > self.grace_min)
        emit.observe(
            KIND, ev.shipment, ev.ts, active, site=ev.destination,
            severity="critical" if delay_min > 8 * self.grace_min else "warning",
            summary=(f"Shipment {ev.shipment} from {ev.supplier} to {ev.destination} is "
                     f"{delay_min / 60:.1f} h late (status {ev.status})"),
            evidence={"observed_eta": eta.isoformat(), "expected_by": ev.promised_at.isoformat(),
                      "delay_min": round(delay_min, 1), "supplier": ev.supplier,
                      "alternate_supplier": ev.alternate_supplier, "sku": ev.sku, "quantity": ev.quantity},
        )

    def evict(self, entities: set[str]) -> None:
        for e in entities & self.shipments.keys():
            del self.shipments[e]
