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
from typing import TYPE_CHECKING, Any, ClassVar, Self

import orjson

from simulators.base import Disruption, GroundTruth

if TYPE_CHECKING:  # pragma: no cover
    from simulators.world import World

__all__ = [
    "CORRUPTIONS",
    "DISRUPTIONS",
    "DemandSurge",
    "Disruption",
    "DoorLeftOpen",
    "FridgeFailure",
    "GroundTruth",
    "PosOutage",
    "RegionalClosure",
    "RouteDelay",
    "SensorDrift",
    "SensorStuck",
    "SiteSilent",
    "StockoutSpike",
    "SupplierLate",
    "TruckBreakdown",
    "corrupt_message",
    "default_disruptions",
]


@dataclass(frozen=True, kw_only=True)
class _OnFridge(Disruption):
    """A disruption of one fridge; ``auto`` picks one in the store ``AUTO_FRIDGE`` (world order).
    The ground truth ends ``RECOVERY`` after the disruption and names ``METRIC`` when the fault is
    only visible in a detector's score."""

    AUTO_FRIDGE: ClassVar[int] = 0
    RECOVERY: ClassVar[timedelta] = timedelta(0)
    METRIC: ClassVar[str | None] = None

    fridge: str | None = None

    @property
    def entity(self) -> str:
        return _bound(self, self.fridge)

    def bind(self, world: World) -> Self:
        if self.fridge is not None:
            world.fridge(self.fridge)
            return self
        return replace(self, fridge=_auto_fridge(world, self.AUTO_FRIDGE))

    def ground_truth(self, world: World) -> GroundTruth:
        return GroundTruth(entity=self.entity, kind=self.incident_kind, start=self.start,
                           end=self.end + self.RECOVERY, site=world.fridge(self.entity).site, metric=self.METRIC,
                           disruption=self.name)


@dataclass(frozen=True, kw_only=True)
class _OnVehicle(Disruption):
    """A disruption of one van; ``auto`` picks the van at ``AUTO_VEHICLE`` (world order)."""

    AUTO_VEHICLE: ClassVar[int] = 0

    vehicle: str | None = None

    @property
    def entity(self) -> str:
        return _bound(self, self.vehicle)

    def bind(self, world: World) -> Self:
        if self.vehicle is not None:
            world.vehicle(self.vehicle)
            return self
        return replace(self, vehicle=world.vehicles[self.AUTO_VEHICLE % len(world.vehicles)].id)

    def ground_truth(self, world: World) -> GroundTruth:
        return GroundTruth(entity=self.entity, kind=self.incident_kind, start=self.start, end=self.end,
                           site=world.vehicle(self.entity).depot, disruption=self.name)


@dataclass(frozen=True, kw_only=True)
class FridgeFailure(_OnFridge):
    """The compressor stops: the fridge warms ~0.3-0.5 °C/min toward ambient until ``end``, then
    the compressor restarts and it is back to normal within ~10 minutes (the ground truth covers
    that recovery: the excursion is over when the temperature is)."""

    incident_kind: ClassVar[str] = "cold_chain_excursion"
    name: ClassVar[str] = "fridge_failure"
    RECOVERY: ClassVar[timedelta] = timedelta(minutes=10)

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


@dataclass(frozen=True, kw_only=True)
class TruckBreakdown(_OnVehicle):
    """A van breaks down on its route: speed 0 for the whole window with its drops still to do;
    the engine overheats for a few minutes and is switched off, then it carries on after ``end``."""

    incident_kind: ClassVar[str] = "vehicle_stopped"
    AUTO_VEHICLE: ClassVar[int] = 1
    name: ClassVar[str] = "truck_breakdown"


@dataclass(frozen=True, kw_only=True)
class StockoutSpike(Disruption):
    """A demand spike for one SKU at one store with no replenishment: the shelf heads for empty.

    ``demand_multiplier`` None sizes the spike so the shelf would be empty at ~70% of the window
    (at least x5): with a window of a few business hours that is x5-x8. At ``end`` the van
    delivers and a receipt restores the stock.
    """

    incident_kind: ClassVar[str] = "stockout_risk"
    name: ClassVar[str] = "stockout"

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
                           site=self.store, disruption=self.name)


@dataclass(frozen=True, kw_only=True)
class SupplierLate(Disruption):
    """A shipment to the warehouse, promised for mid-window, is reported ``delayed`` at ``start``
    with its eta pushed ``delay`` past the promise; it is finally delivered at ``end``."""

    incident_kind: ClassVar[str] = "supplier_late"
    name: ClassVar[str] = "supplier_delay"

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
                           site=world.warehouse.id, disruption=self.name)


def _auto_fridge(world: World, store_index: int) -> str:
    if not world.fridges:
        raise ValueError("this disruption needs a fridge; the world has none (fridges_per_site=0)")
    stores = world.stores
    site = stores[store_index % len(stores)]
    return (world.fridges_at(site.id) or world.fridges)[0].id


@dataclass(frozen=True, kw_only=True)
class DoorLeftOpen(_OnFridge):
    """A fridge door is left ajar: readings say ``door_open`` for the whole window and the air
    warms ``warm_rate_c_per_min`` toward ambient (slower than a dead compressor); shut at ``end``,
    it is back to normal within ~10 minutes. The monitor ignores door-open readings as anomalies
    (a door opens every day), so it can only see this once the limit is crossed."""

    incident_kind: ClassVar[str] = "cold_chain_excursion"
    name: ClassVar[str] = "door_left_open"
    RECOVERY: ClassVar[timedelta] = timedelta(minutes=10)

    warm_rate_c_per_min: float = 0.15

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0 < self.warm_rate_c_per_min <= 2:
            raise ValueError(f"DoorLeftOpen.warm_rate_c_per_min must be in (0, 2]; got {self.warm_rate_c_per_min!r}")


@dataclass(frozen=True, kw_only=True)
class RouteDelay(_OnVehicle):
    """A van is held up on its route (road closure, accident queue): it crawls at under
    ``max_speed_kmh`` with its drops still to do for the whole window, engine running, then
    carries on. To the monitor that is a van stopped on its route."""

    incident_kind: ClassVar[str] = "vehicle_stopped"
    AUTO_VEHICLE: ClassVar[int] = 2
    name: ClassVar[str] = "route_delay"

    max_speed_kmh: float = 2.5

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0 <= self.max_speed_kmh < 20:
            raise ValueError(f"RouteDelay.max_speed_kmh must be in [0, 20); got {self.max_speed_kmh!r}")


@dataclass(frozen=True, kw_only=True)
class PosOutage(Disruption):
    """A till (POS terminal) is down: it records no sales in the window. Customers queue at the
    store's other till if one works; with every till down the sales are lost.

    The ground truth is ``device_silent`` on the till, which is what an operator wants to hear.
    The processing core tracks only fridges and vehicles as devices, and a till is idle every night
    anyway, so it cannot see this today: backtests report it as missed.
    """

    incident_kind: ClassVar[str] = "device_silent"
    name: ClassVar[str] = "pos_outage"

    till: str | None = None

    @property
    def entity(self) -> str:
        return _bound(self, self.till)

    def bind(self, world: World) -> PosOutage:
        till = self.till or world.tills_at(world.stores[0].id)[0]
        world.till_store(till)
        return replace(self, till=till)

    def ground_truth(self, world: World) -> GroundTruth:
        return GroundTruth(entity=self.entity, kind=self.incident_kind, start=self.start, end=self.end,
                           site=world.till_store(self.entity), disruption=self.name)


@dataclass(frozen=True, kw_only=True)
class DemandSurge(Disruption):
    """Demand for one SKU at one store jumps ``demand_multiplier`` times (a local event, a viral
    post) while vans keep the shelf stocked: an information for the buyer, not a stockout.
    Needs a day of sales history before it for the monitor to know the baseline."""

    incident_kind: ClassVar[str] = "demand_spike"
    name: ClassVar[str] = "demand_spike"

    store: str | None = None
    sku: str | None = None
    demand_multiplier: float = 6.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 1 <= self.demand_multiplier <= 100:
            raise ValueError(f"DemandSurge.demand_multiplier must be in [1, 100]; got {self.demand_multiplier!r}")

    @property
    def entity(self) -> str:
        return f"{_bound(self, self.store)}:{_bound(self, self.sku)}"

    def bind(self, world: World) -> DemandSurge:
        store = self.store if self.store is not None else world.stores[-1].id
        sku = self.sku if self.sku is not None else world.skus[1 % len(world.skus)].id
        if world.site(store).kind != "store":
            raise ValueError(f"DemandSurge.store must be a store; got {store!r} ({world.site(store).kind})")
        world.sku(sku)
        return replace(self, store=store, sku=sku)

    def ground_truth(self, world: World) -> GroundTruth:
        return GroundTruth(entity=self.entity, kind=self.incident_kind, start=self.start, end=self.end,
                           site=self.store, disruption=self.name)


@dataclass(frozen=True, kw_only=True)
class SensorStuck(_OnFridge):
    """A fridge's probe freezes: it keeps sending the reading it had at ``start`` while the fridge
    itself runs normally. Not an incident (the goods are fine) but a data-quality fault: the
    ground truth is ``sensor_fault``, detected by the anomaly score on ``temp_c``."""

    incident_kind: ClassVar[str] = "sensor_fault"
    AUTO_FRIDGE: ClassVar[int] = 2
    METRIC: ClassVar[str | None] = "temp_c"
    name: ClassVar[str] = "sensor_stuck"


@dataclass(frozen=True, kw_only=True)
class SensorDrift(_OnFridge):
    """A fridge's probe drifts: it reads ``drift_c_per_h`` warmer every hour from ``start`` while
    the fridge is fine; recalibrated at ``end``. Ground truth ``sensor_fault`` on ``temp_c``; a
    drift that reads past the limit also opens a cold-chain excursion, the right call from where
    the monitor stands (someone has to go and look)."""

    incident_kind: ClassVar[str] = "sensor_fault"
    METRIC: ClassVar[str | None] = "temp_c"
    name: ClassVar[str] = "sensor_drift"

    drift_c_per_h: float = 1.5

    def __post_init__(self) -> None:
        super().__post_init__()
        if not -20 <= self.drift_c_per_h <= 20 or self.drift_c_per_h == 0:
            raise ValueError(f"SensorDrift.drift_c_per_h must be non-zero, within +-20; got {self.drift_c_per_h!r}")

    def offset_c(self, t: datetime) -> float:
        return self.drift_c_per_h * (t - self.start).total_seconds() / 3600


@dataclass(frozen=True, kw_only=True)
class SiteSilent(Disruption):
    """A site's network goes down: nothing from its fridge gateway, tills or stock system reaches
    the monitor, while the shop trades as usual (sales and stock changes are real, just unseen).
    Vans are not site devices (their trackers have their own SIM), so pick a store, not the depot:
    at the depot the vans keep talking and the monitor sees silent cold rooms, not a silent site.
    The monitor calls a site silent only when it has at least ``site_min_devices`` (2) devices, so
    use ``fridges_per_site >= 2`` (the ``small`` preset); with one fridge it sees a silent device."""

    incident_kind: ClassVar[str] = "site_silent"
    name: ClassVar[str] = "site_silent"

    site: str | None = None

    @property
    def entity(self) -> str:
        return _bound(self, self.site)

    def bind(self, world: World) -> SiteSilent:
        site = self.site if self.site is not None else world.stores[-1].id
        world.site(site)
        return replace(self, site=site)

    def silences(self, site: str) -> bool:
        return site == self.site

    def ground_truth(self, world: World) -> GroundTruth:
        return GroundTruth(entity=self.entity, kind=self.incident_kind, start=self.start, end=self.end,
                           site=self.site, disruption=self.name)


@dataclass(frozen=True, kw_only=True)
class RegionalClosure(Disruption):
    """A regional event (flood, power cut, police cordon) closes every store within ``radius_km``
    of ``site``: no customers, no data (the fridges ride it out on backup power). A
    business-continuity drill: one ``site_silent`` incident per closed store."""

    incident_kind: ClassVar[str] = "site_silent"
    name: ClassVar[str] = "regional_closure"

    site: str | None = None
    radius_km: float = 1.5
    sites: tuple[str, ...] = ()  # filled by bind: the stores inside the radius

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0 <= self.radius_km <= 500:
            raise ValueError(f"RegionalClosure.radius_km must be in [0, 500]; got {self.radius_km!r}")

    @property
    def entity(self) -> str:
        return _bound(self, self.site)

    def bind(self, world: World) -> RegionalClosure:
        from simulators.world import km_between

        centre = world.site(self.site if self.site is not None else world.stores[0].id)
        if centre.kind != "store":
            raise ValueError(f"RegionalClosure.site must be a store; got {centre.id!r} ({centre.kind})")
        closed = tuple(s.id for s in world.stores
                       if km_between((centre.lat, centre.lon), (s.lat, s.lon)) <= self.radius_km)
        return replace(self, site=centre.id, sites=closed)

    def silences(self, site: str) -> bool:
        return site in self.sites

    def ground_truth(self, world: World) -> GroundTruth:
        return self.ground_truths(world)[0]

    def ground_truths(self, world: World) -> list[GroundTruth]:
        return [GroundTruth(entity=s, kind=self.incident_kind, start=self.start, end=self.end, site=s,
                            disruption=self.name) for s in self.sites]


#: Every disruption by the name scenario files use.
DISRUPTIONS: dict[str, type[Disruption]] = {c.name: c for c in (
    FridgeFailure, DoorLeftOpen, TruckBreakdown, RouteDelay, PosOutage, DemandSurge, StockoutSpike, SupplierLate,
    SensorStuck, SensorDrift, SiteSilent, RegionalClosure)}


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
