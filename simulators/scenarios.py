"""Disruptions injected into the simulated world, the incidents they should cause, and bad data.

Where this sits in the flow: **source** (simulator) -> validate -> detect -> incident -> rule -> sink.

Each disruption is a frozen dataclass with a window (``start``, ``end``, simulated UTC) and an
optional target; a missing target is picked from the world by ``bind``. The processes in
``simulators.world`` look the disruptions up and change behaviour inside the window; the
disruption itself only states *what* goes wrong and the ``GroundTruth`` incident the monitor
should open, so adding a scenario never means touching the normal-operation code of another.

``corrupt_message`` produces the deliberately malformed messages used for dead-letter demos.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

import orjson

from simulators.base import Disruption, GroundTruth

if TYPE_CHECKING:  # pragma: no cover
    from simulators.world import World

__all__ = [
    "CORRUPTIONS",
    "Disruption",
    "FridgeFailure",
    "GroundTruth",
    "StockoutSpike",
    "SupplierLate",
    "TruckBreakdown",
    "corrupt_message",
    "default_disruptions",
]


@dataclass(frozen=True, kw_only=True)
class FridgeFailure(Disruption):
    """The compressor stops: the fridge warms ~0.3-0.5 °C/min toward ambient until ``end``, then
    the compressor restarts and it is back to normal within ~10 minutes (the ground truth covers
    that recovery: the excursion is over when the temperature is)."""

    incident_kind: ClassVar[str] = "cold_chain_excursion"
    RECOVERY: ClassVar[timedelta] = timedelta(minutes=10)

    fridge: str | None = None

    @property
    def entity(self) -> str:
        return _bound(self, self.fridge)

    def bind(self, world: World) -> FridgeFailure:
        if self.fridge is not None:
            world.fridge(self.fridge)
            return self
        if not world.fridges:
            raise ValueError("FridgeFailure needs a fridge; the world has none (fridges_per_site=0)")
        stores = world.stores
        site = stores[1 % len(stores)]
        fridges = world.fridges_at(site.id) or world.fridges
        return replace(self, fridge=fridges[0].id)

    def ground_truth(self, world: World) -> GroundTruth:
        return GroundTruth(entity=self.entity, kind=self.incident_kind, start=self.start,
                           end=self.end + self.RECOVERY, site=world.fridge(self.entity).site)


@dataclass(frozen=True, kw_only=True)
class TruckBreakdown(Disruption):
    """A van breaks down on its route: speed 0 for the whole window with its drops still to do;
    the engine overheats for a few minutes and is switched off, then it carries on after ``end``."""

    incident_kind: ClassVar[str] = "vehicle_stopped"

    vehicle: str | None = None

    @property
    def entity(self) -> str:
        return _bound(self, self.vehicle)

    def bind(self, world: World) -> TruckBreakdown:
        if self.vehicle is not None:
            world.vehicle(self.vehicle)
            return self
        return replace(self, vehicle=world.vehicles[1 % len(world.vehicles)].id)

    def ground_truth(self, world: World) -> GroundTruth:
        return GroundTruth(entity=self.entity, kind=self.incident_kind, start=self.start, end=self.end,
                           site=world.vehicle(self.entity).depot)


@dataclass(frozen=True, kw_only=True)
class StockoutSpike(Disruption):
    """A demand spike for one SKU at one store with no replenishment: the shelf heads for empty.

    ``demand_multiplier`` None sizes the spike so the shelf would be empty at ~70% of the window
    (at least x5): with a window of a few business hours that is x5-x8. At ``end`` the van
    delivers and a receipt restores the stock.
    """

    incident_kind: ClassVar[str] = "stockout_risk"

    store: str | None = None
    sku: str | None = None
    demand_multiplier: float | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.demand_multiplier is not None and not self.demand_multiplier >= 1:
            raise ValueError(f"StockoutSpike.demand_multiplier must be >= 1 or None; got {self.demand_multiplier!r}")

    @property
    def entity(self) -> str:
        return f"{_bound(self, self.store)}:{_bound(self, self.sku)}"

    def bind(self, world: World) -> StockoutSpike:
        store = self.store if self.store is not None else world.stores[0].id
        sku = self.sku if self.sku is not None else world.skus[0].id
        if world.site(store).kind != "store":
            raise ValueError(f"StockoutSpike.store must be a store; got {store!r} ({world.site(store).kind})")
        world.sku(sku)
        return replace(self, store=store, sku=sku)

    def ground_truth(self, world: World) -> GroundTruth:
        return GroundTruth(entity=self.entity, kind=self.incident_kind, start=self.start, end=self.end,
                           site=self.store)


@dataclass(frozen=True, kw_only=True)
class SupplierLate(Disruption):
    """A shipment to the warehouse, promised for mid-window, is reported ``delayed`` at ``start``
    with its eta pushed ``delay`` past the promise; it is finally delivered at ``end``."""

    incident_kind: ClassVar[str] = "supplier_late"

    supplier: str | None = None
    shipment: str | None = None
    delay: timedelta = timedelta(hours=4)

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.delay > timedelta(0):
            raise ValueError(f"SupplierLate.delay must be a positive timedelta; got {self.delay!r}")

    @property
    def entity(self) -> str:
        return _bound(self, self.shipment)

    def bind(self, world: World) -> SupplierLate:
        supplier = self.supplier if self.supplier is not None else world.skus[0].supplier
        world.supplier(supplier)
        if not any(k.supplier == supplier for k in world.skus):
            raise ValueError(f"SupplierLate.supplier must supply at least one SKU; {supplier!r} supplies none")
        shipment = self.shipment or f"PO-{supplier.removeprefix('sup-')}-{self.start:%y%m%d-%H%M}"
        return replace(self, supplier=supplier, shipment=shipment)

    def ground_truth(self, world: World) -> GroundTruth:
        return GroundTruth(entity=self.entity, kind=self.incident_kind, start=self.start, end=self.end,
                           site=world.warehouse.id)


def _bound(d: Disruption, value: str | None) -> str:
    if value is None:
        raise ValueError(f"{type(d).__name__} has no target yet; call bind(world) first")
    return value


def default_disruptions(live_start: datetime, duration: timedelta) -> list[Disruption]:
    """The demo's four incidents, staggered inside the live part of a run.

    Each starts at 15-25% of ``duration`` after ``live_start`` and ends by 65% of it, leaving a
    quiet tail to watch incidents close. Windows have a floor so a short run still shows each
    fault: fridge 20 min (time to warm past the limit), van and supplier 30 min (a van counts as
    stopped after 15), stockout 60 min (the monitor's sales rate is a 2-hour moving average, read
    at 15-minute stock counts). Below ~2.5 sim-hours of duration the floors push ends past 65%.
    """
    if live_start.tzinfo is None:
        raise ValueError(f"live_start must be timezone-aware; got {live_start!r}")
    if not duration > timedelta(0):
        raise ValueError(f"duration must be a positive timedelta; got {duration!r}")

    def window(a: float, b: float, floor_min: int) -> dict[str, datetime]:
        start = _whole_second(live_start + duration * a)
        end = max(_whole_second(live_start + duration * b), start + timedelta(minutes=floor_min))
        return {"start": start, "end": end}

    return [
        FridgeFailure(**window(0.15, 0.45, 20)),
        TruckBreakdown(**window(0.18, 0.50, 30)),
        StockoutSpike(**window(0.20, 0.60, 60)),
        SupplierLate(**window(0.25, 0.65, 30)),
    ]


def _whole_second(t: datetime) -> datetime:
    return t.replace(microsecond=0)


# --------------------------------------------------------------------------------------------
# Malformed messages

#: Ways a device or gateway gets a message wrong; each must be refused by ``parse_message``.
CORRUPTIONS = ("bad_json", "missing_field", "nan_value", "wrong_type", "naive_ts", "out_of_range", "unknown_kind")

_NUMERIC_FIELD = {"cold_chain": "temp_c", "vehicle": "speed_kmh", "pos_sale": "unit_price",
                  "stock_level": "on_hand", "stock_movement": "quantity", "shipment": "quantity"}
_ID_FIELD = {"cold_chain": "fridge", "vehicle": "vehicle", "pos_sale": "sku", "stock_level": "sku",
             "stock_movement": "sku", "shipment": "shipment"}
_OUT_OF_RANGE = {"cold_chain": ("temp_c", 999.0), "vehicle": ("speed_kmh", 999.0),
                 "pos_sale": ("quantity", 50_000), "stock_level": ("on_hand", -5),
                 "stock_movement": ("quantity", 10**9), "shipment": ("quantity", -1)}


def _corrupt_item(item: dict[str, Any], how: str) -> dict[str, Any]:
    bad = dict(item)
    kind = bad.get("kind")
    if how == "missing_field":
        bad.pop("ts", None)
    elif how == "nan_value":
        bad[_NUMERIC_FIELD[kind]] = "NaN"  # what a gateway sends when the sensor read fails
    elif how == "wrong_type":
        bad[_ID_FIELD[kind]] = 12345
    elif how == "naive_ts":
        bad["ts"] = str(bad["ts"]).removesuffix("Z").removesuffix("+00:00")
    elif how == "out_of_range":
        name, value = _OUT_OF_RANGE[kind]
        bad[name] = value
    elif how == "unknown_kind":
        bad["kind"] = f"{kind}_v0"
    else:  # pragma: no cover - guarded by CORRUPTIONS
        raise ValueError(f"unknown corruption {how!r}; expected one of {CORRUPTIONS}")
    return bad


def corrupt_message(items: list[dict[str, Any]], gateway: str | None, rng: random.Random,
                    how: str | None = None) -> tuple[bytes, int, int]:
    """A malformed version of one message: ``(value, valid_items, malformed_items)``.

    A single event is broken as a whole; a gateway batch keeps its other readings and breaks one,
    unless the corruption is broken JSON, which takes the whole message down. ``how`` picks the
    corruption (one of ``CORRUPTIONS``); None draws one from ``rng``.
    """
    if how is None:
        how = rng.choice(CORRUPTIONS)
    elif how not in CORRUPTIONS:
        raise ValueError(f"how must be one of {', '.join(CORRUPTIONS)}; got {how!r}")
    if gateway is None:
        good = orjson.dumps(items[0])
        if how == "bad_json":
            return good[: len(good) // 2], 0, 1
        return orjson.dumps(_corrupt_item(items[0], how)), 0, 1
    doc = {"kind": "batch", "gateway": gateway, "events": list(items)}
    if how == "bad_json":
        good = orjson.dumps(doc)
        return good[: len(good) // 2], 0, 1
    idx = rng.randrange(len(items))
    doc["events"][idx] = _corrupt_item(items[idx], how)
    return orjson.dumps(doc), len(items) - 1, 1
