"""Dynamic reallocation rules: when an incident opens, recommend the move that limits the damage.

Where this sits in the flow: ... -> incident -> **rule** -> sink.

- ``stockout_risk``        -> ``stock_transfer`` from the site with the most days of cover, nearest first
- ``vehicle_stopped``      -> ``delivery_reassignment`` of the remaining stops to moving vehicles with capacity
- ``cold_chain_excursion`` -> ``chilled_stock_move`` to the nearest site with free cold capacity, before
                              the time-above-limit budget runs out
- ``supplier_late``        -> ``supplier_switch`` of the order to the alternate supplier

Each recommendation says what, from where, to where, how much, by when, the expected benefit and the
evidence.
"""

from __future__ import annotations

import abc
import math
from dataclasses import dataclass
from datetime import timedelta

from streams.coldchain import ColdChainWatch
from streams.fleet import FleetWatch
from streams.incidents import IncidentChange
from streams.inventory import InventoryWatch
from streams.records import Recommendation
from streams.suppliers import SupplierWatch


def km_between(lat1: float | None, lon1: float | None, lat2: float | None, lon2: float | None) -> float:
    """Great-circle distance; unknown positions sort last."""
    if None in (lat1, lon1, lat2, lon2):
        return math.inf
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(min(1.0, a)))


@dataclass
class Operations:
    """The state the rules read: what every watch knows."""

    coldchain: ColdChainWatch
    fleet: FleetWatch
    inventory: InventoryWatch
    suppliers: SupplierWatch


class Rule(abc.ABC):
    incident_kind: str

    @abc.abstractmethod
    def recommend(self, change: IncidentChange, ops: Operations) -> list[Recommendation]: ...


def _rec(kind: str, change: IncidentChange, **kw) -> Recommendation:
    inc = change.incident
    return Recommendation(recommendation_id=f"{kind}:{inc.incident_id}", kind=kind,
                          incident_id=inc.incident_id, entity=inc.entity, evidence=inc.evidence,
                          ts=change.ts.isoformat(), **kw)


@dataclass
class StockTransferRule(Rule):
    incident_kind = "stockout_risk"
    target_cover_leadtimes: float = 1.5  # top the store up to this many lead times of cover
    donor_keep_leadtimes: float = 2.0  # a donor keeps at least this many of its own lead times

    def recommend(self, change, ops):
        store, _, sku = change.incident.entity.partition(":")
        inv = ops.inventory
        need_st = inv.stock.get((store, sku))
        if need_st is None:
            return []
        here = inv.sites.get(store)
        need = math.ceil(need_st.rate_per_h * need_st.lead_time_h * self.target_cover_leadtimes) - need_st.on_hand
        need = max(need, 1)
        donors = []
        for (site, s), st in inv.stock.items():
            if s != sku or site == store:
                continue
            surplus = st.on_hand - math.ceil(st.rate_per_h * st.lead_time_h * self.donor_keep_leadtimes)
            if surplus <= 0:
                continue
            there = inv.sites.get(site)
            dist = km_between(here and here.lat, here and here.lon, there and there.lat, there and there.lon)
            donors.append((-math.floor(st.cover_h() / 24), dist, site, surplus, st))
        if not donors:
            return []
        donors.sort(key=lambda d: (d[0], d[1], d[2]))
        _, dist, site, surplus, st = donors[0]
        qty = min(need, surplus)
        by = change.ts + timedelta(hours=need_st.cover_h())
        return [_rec("stock_transfer", change,
                     action=f"Transfer {qty} x {sku} from {site} to {store}",
                     from_site=site, to_site=store, quantity=float(qty), unit="units", by=by.isoformat(),
                     benefit=(f"covers {qty / max(need_st.rate_per_h, 1e-9):.1f} h more sales at {store}; "
                              f"{site} keeps {st.on_hand - qty} units"),
                     details={"distance_km": None if math.isinf(dist) else round(dist, 1),
                              "donor_cover_days": round(st.cover_h() / 24, 1)})]


@dataclass
class DeliveryReassignmentRule(Rule):
    incident_kind = "vehicle_stopped"
    fresh_min: float = 30.0  # candidates must have reported within this many minutes

    def recommend(self, change, ops):
        fleet = ops.fleet
        broken = fleet.vehicles.get(change.incident.entity)
        if broken is None or broken.stops_remaining <= 0:
            return []
        cands = []
        for vid, v in fleet.vehicles.items():
            if vid == change.incident.entity or v.capacity_free <= 0 or v.stopped_since is not None:
                continue
            if (change.ts - v.ts) > timedelta(minutes=self.fresh_min):
                continue
            cands.append((km_between(broken.lat, broken.lon, v.lat, v.lon), vid, v))
        if not cands:
            return []
        cands.sort(key=lambda c: (c[0], c[1]))
        left, plan = broken.stops_remaining, []
        for dist, vid, v in cands:
            take = min(left, v.capacity_free)
            if take > 0:
                plan.append({"vehicle": vid, "stops": take, "distance_km": round(dist, 1)})
                left -= take
            if left == 0:
                break
        assigned = broken.stops_remaining - left
        to = ", ".join(f"{p['vehicle']} ({p['stops']})" for p in plan)
        return [_rec("delivery_reassignment", change,
                     action=f"Reassign {assigned} remaining stops of {change.incident.entity} to {to}",
                     from_site=change.incident.entity, to_site=plan[0]["vehicle"], quantity=float(assigned),
                     unit="stops", by=(change.ts + timedelta(minutes=30)).isoformat(),
                     benefit=f"{assigned} of {broken.stops_remaining} deliveries still made today"
                             + (f"; {left} stops have no vehicle" if left else ""),
                     details={"plan": plan, "unassigned_stops": left})]


@dataclass
class ChilledStockMoveRule(Rule):
    incident_kind = "cold_chain_excursion"
    budget_min: float = 120.0  # time chilled goods may spend above their limit

    def recommend(self, change, ops):
        fridge = ops.coldchain.fridges.get(change.incident.entity)
        if fridge is None:
            return []
        inv = ops.inventory
        units = sum(st.on_hand for (site, _), st in inv.stock.items() if site == fridge.site and st.chilled)
        here = inv.sites.get(fridge.site)
        cands = []
        for site, ss in inv.sites.items():
            if site == fridge.site or not ss.cold_capacity_free:
                continue
            cands.append((km_between(here and here.lat, here and here.lon, ss.lat, ss.lon), site, ss))
        if not cands:
            return []
        cands.sort(key=lambda c: (c[0], c[1]))
        dist, site, ss = cands[0]
        qty = min(units, ss.cold_capacity_free) if units else ss.cold_capacity_free
        spent = change.incident.evidence.get("minutes_above_limit") or 0.0
        by = change.ts + timedelta(minutes=max(self.budget_min - spent, 0))
        return [_rec("chilled_stock_move", change,
                     action=f"Move {qty} units of chilled stock from {fridge.site} to cold room at {site}",
                     from_site=fridge.site, to_site=site, quantity=float(qty), unit="units", by=by.isoformat(),
                     benefit=f"saves up to {qty} chilled units from spoiling "
                             f"({self.budget_min:.0f} min above-limit budget)",
                     details={"distance_km": None if math.isinf(dist) else round(dist, 1),
                              "chilled_units_at_site": units, "target_cold_capacity_free": ss.cold_capacity_free})]


@dataclass
class SupplierSwitchRule(Rule):
    incident_kind = "supplier_late"

    def recommend(self, change, ops):
        sh = ops.suppliers.shipments.get(change.incident.entity)
        if sh is None or not sh.alternate_supplier:
            return []
        return [_rec("supplier_switch", change,
                     action=f"Switch order {sh.shipment} ({sh.quantity or '?'} x {sh.sku or 'goods'}) "
                            f"from {sh.supplier} to {sh.alternate_supplier}",
                     from_site=sh.supplier, to_site=sh.destination,
                     quantity=float(sh.quantity) if sh.quantity is not None else None, unit="units",
                     by=sh.promised_at.isoformat(),
                     benefit=f"{sh.destination} receives the goods from {sh.alternate_supplier} instead of "
                             f"waiting for {sh.supplier}",
                     details={"alternate_supplier": sh.alternate_supplier, "sku": sh.sku})]


@dataclass
class ReorderRule(Rule):
    """A demand spike: raise the next order by the extra demand over the lead time, and pull it forward."""

    incident_kind = "demand_spike"

    def recommend(self, change, ops):
        ev = change.incident.evidence
        store, _, sku = change.incident.entity.partition(":")
        extra = math.ceil((ev["observed_rate_per_h"] - ev["expected_rate_per_h"]) * ev["lead_time_h"])
        if extra <= 0:
            return []
        return [_rec("reorder", change,
                     action=f"Raise the next order of {sku} for {store} by {extra} units and pull it forward",
                     from_site=None, to_site=store, quantity=float(extra), unit="units",
                     by=(change.ts + timedelta(hours=ev["lead_time_h"] / 2)).isoformat(),
                     benefit=f"covers the extra demand of {ev['observed_rate_per_h'] - ev['expected_rate_per_h']:.1f}"
                             f"/h over the {ev['lead_time_h']:.0f} h lead time",
                     details={"sku": sku})]


DEFAULT_RULES: tuple[type[Rule], ...] = (StockTransferRule, DeliveryReassignmentRule, ChilledStockMoveRule,
                                         SupplierSwitchRule, ReorderRule)


@dataclass
class RuleBook:
    rules: list[Rule]

    @classmethod
    def default(cls) -> "RuleBook":
        return cls([r() for r in DEFAULT_RULES])

    @classmethod
    def from_playbook(cls, playbook) -> "RuleBook":
        """The rules the playbook enables, with its parameters."""
        r = playbook.rules
        rules: list[Rule] = []
        if r.stock_transfer.enabled:
            rules.append(StockTransferRule(r.stock_transfer.target_cover_leadtimes,
                                           r.stock_transfer.donor_keep_leadtimes))
        if r.delivery_reassignment.enabled:
            rules.append(DeliveryReassignmentRule(r.delivery_reassignment.fresh_min))
        if r.chilled_stock_move.enabled:
            rules.append(ChilledStockMoveRule(r.chilled_stock_move.budget_min))
        if r.supplier_switch.enabled:
            rules.append(SupplierSwitchRule())
        if r.reorder.enabled:
            rules.append(ReorderRule())
        return cls(rules)

    def recommend(self, change: IncidentChange, ops: Operations) -> list[Recommendation]:
        if change.state != "open":
            return []
        out = []
        for rule in self.rules:
            if rule.incident_kind == change.incident.kind:
                out.extend(rule.recommend(change, ops))
        return out
