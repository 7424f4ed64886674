"""Inventory watch: sales rates against stock on hand (``stockout_risk``).

The sales rate per store and SKU is an exponentially time-decayed count of units sold (units per
hour, time constant ``rate_tau_h``), in event time. A store is at risk of stockout when its stock
on hand will not last the replenishment lead time at that rate. The watch keeps every site's stock,
location and free cold capacity for the transfer and chilled-goods rules.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime

from streams.events import PosSale, StockLevel, StockMovement
from streams.watch import Emit, Watch

KIND = "stockout_risk"
SPIKE_KIND = "demand_spike"
BASELINE_TAU_H = 24.0
MAX_COVER_DAYS = 365.0


@dataclass
class StockState:
    on_hand: int = 0
    lead_time_h: float = 24.0
    rate_per_h: float = 0.0
    rate_ts: datetime | None = None
    ts: datetime | None = None
    chilled: bool = False
    base_rate_per_h: float = 0.0  # the same decayed count over a day: the demand baseline
    first_sale: datetime | None = None

    def decay_to(self, ts: datetime, tau_h: float) -> None:
        if self.rate_ts is not None and ts > self.rate_ts:
            dt_h = (ts - self.rate_ts).total_seconds() / 3600
            self.rate_per_h *= math.exp(-dt_h / tau_h)
            self.base_rate_per_h *= math.exp(-dt_h / BASELINE_TAU_H)
        if self.rate_ts is None or ts > self.rate_ts:
            self.rate_ts = ts

    def cover_h(self) -> float:
        if self.rate_per_h <= 1e-9:
            return MAX_COVER_DAYS * 24
        return min(self.on_hand / self.rate_per_h, MAX_COVER_DAYS * 24)


@dataclass
class SiteState:
    lat: float | None = None
    lon: float | None = None
    cold_capacity_free: int | None = None


@dataclass
class InventoryWatch(Watch):
    kinds = ("pos_sale", "stock_level", "stock_movement")
    rate_tau_h: float = 2.0
    clear_leadtimes: float = 1.25
    spike_ratio: float = 5.0
    spike_min_per_h: float = 5.0
    stock: dict[tuple[str, str], StockState] = field(default_factory=dict)
    sites: dict[str, SiteState] = field(default_factory=dict)
    #: the per-entity dicts, for incremental checkpoints: (attribute, how a key names its entity)
    keyed_state = (("stock", "site:sku"), ("sites", "entity"))

    def _state(self, site: str, sku: str) -> StockState:
        st = self.stock.get((site, sku))
        if st is None:
            st = self.stock[(site, sku)] = StockState()
        return st

    def handle(self, ev, emit: Emit) -> None:
        if isinstance(ev, PosSale):
            self._sale(ev, emit)
        elif isinstance(ev, StockLevel):
            self._level(ev, emit)
        elif isinstance(ev, StockMovement):
            st = self._state(ev.site, ev.sku)
            st.on_hand = max(0, st.on_hand + ev.quantity)
            if emit.incidents.get(KIND, f"{ev.site}:{ev.sku}") is not None:
                self._judge(ev.site, ev.sku, st, ev.ts, emit)  # a receipt can end the risk at once

    def _sale(self, ev: PosSale, emit: Emit) -> None:
        emit.point("sales", {"store": ev.store, "sku": ev.sku},
                   {"quantity": ev.quantity, "revenue": ev.quantity * ev.unit_price}, ev.ts)
        st = self._state(ev.store, ev.sku)
        st.decay_to(ev.ts, self.rate_tau_h)
        st.rate_per_h += max(ev.quantity, 0) / self.rate_tau_h
        st.base_rate_per_h += max(ev.quantity, 0) / BASELINE_TAU_H
        if st.first_sale is None:
            st.first_sale = ev.ts
        self._judge_spike(ev.store, ev.sku, st, ev.ts, emit)
        if st.ts is not None:
            # sales and stock counts come on different topics and may arrive in any order: a sale
            # after the last count lowers the stock on hand (one before it is already in the count),
            # and the risk is judged at every sale too, with the rate as now known, so a late sale
            # still counts and a shelf that has stopped selling is not waiting for its next count
            if ev.ts > st.ts:
                st.on_hand = max(0, st.on_hand - ev.quantity)
            self._judge(ev.store, ev.sku, st, max(ev.ts, st.ts), emit)

    def _judge_spike(self, store: str, sku: str, st: StockState, ts: datetime, emit: Emit) -> None:
        """Sales far above the day's baseline: info for the buyer (reorder), not a page."""
        history_h = (ts - st.first_sale).total_seconds() / 3600 if st.first_sale else 0.0
        if history_h < BASELINE_TAU_H:
            return  # the baseline is not known yet
        # an exponentially decayed count under-reads a young series by (1 - exp(-T/tau))
        base = st.base_rate_per_h / (1 - math.exp(-history_h / BASELINE_TAU_H))
        rate = st.rate_per_h / (1 - math.exp(-history_h / self.rate_tau_h))
        active = rate >= self.spike_min_per_h and rate > self.spike_ratio * base
        emit.observe(SPIKE_KIND, f"{store}:{sku}", ts, active, site=store, severity="info",
                     summary=f"{sku} at {store} sells {rate:.1f}/h, {rate / max(base, 1e-9):.1f}x its daily "
                             f"baseline of {base:.1f}/h",
                     evidence={"observed_rate_per_h": round(rate, 2), "expected_rate_per_h": round(base, 2),
                               "on_hand": st.on_hand, "lead_time_h": st.lead_time_h, "sku": sku})

    def _level(self, ev: StockLevel, emit: Emit) -> None:
        site = self.sites.setdefault(ev.site, SiteState())
        if ev.lat is not None and ev.lon is not None:
            site.lat, site.lon = ev.lat, ev.lon
        if ev.cold_capacity_free is not None:
            site.cold_capacity_free = ev.cold_capacity_free
        st = self._state(ev.site, ev.sku)
        st.decay_to(ev.ts, self.rate_tau_h)
        st.on_hand, st.lead_time_h, st.ts, st.chilled = ev.on_hand, ev.lead_time_h, ev.ts, ev.chilled
        emit.point("stock", {"site": ev.site, "sku": ev.sku},
                   {"on_hand": ev.on_hand, "days_of_cover": st.cover_h() / 24, "lat": ev.lat, "lon": ev.lon},
                   ev.ts)
        self._judge(ev.site, ev.sku, st, ev.ts, emit)

    def _judge(self, site: str, sku: str, st: StockState, ts: datetime, emit: Emit) -> None:
        entity = f"{site}:{sku}"
        cover_h = st.cover_h()
        # hysteresis: opens below one lead time of cover, clears only above clear_leadtimes of it
        is_open = emit.incidents.get(KIND, entity) is not None
        limit = st.lead_time_h * (self.clear_leadtimes if is_open else 1.0)
        active = st.rate_per_h > 0 and cover_h < limit
        emit.observe(
            KIND, entity, ts, active, site=site,
            severity="critical" if cover_h < st.lead_time_h / 2 else "warning",
            summary=(f"{sku} at {site}: {st.on_hand} on hand lasts {cover_h:.1f} h at "
                     f"{st.rate_per_h:.1f}/h, replenishment takes {st.lead_time_h:.0f} h"),
            evidence={"observed_cover_h": round(cover_h, 2), "expected_min_cover_h": st.lead_time_h,
                      "on_hand": st.on_hand, "sales_rate_per_h": round(st.rate_per_h, 3), "sku": sku},
        )

    def evict(self, entities: set[str]) -> None:
        for key in [k for k in self.stock if f"{k[0]}:{k[1]}" in entities]:
            del self.stock[key]
