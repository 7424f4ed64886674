"""The simulated business: what exists (``World``) and how it behaves normally, minute by minute.

Where this sits in the flow: **source** (simulator) -> validate -> detect -> incident -> rule -> sink.

``World`` is static and generated from a seed: a city with a warehouse (the vans' depot) and a few
stores, fridges and cold rooms at each site, vans, SKUs and the suppliers that deliver them. The
processes below own the moving parts and are stepped once per simulated minute:

- ``ColdChainProcess``: fridge temperatures with a compressor cycle and door openings; sends one
  ``GatewayBatch`` per site per minute.
- ``FleetProcess``: vans that drive delivery routes in the day and park at the depot at night.
- ``RetailProcess``: till sales with daily and weekly seasonality (``WEEKDAY_DEMAND``, by the
  business clock's local weekday) and weekly promotions, shelf stock, replenishment, stock counts.
- ``SupplyProcess``: open supplier orders to the warehouse and their status.

Normal operation is tuned to stay clear of every incident rule (no fridge above 7 °C, no van
stopped more than 10 minutes with stops remaining, no store below 2x lead-time cover); only the
disruptions in ``simulators.scenarios`` cross those lines. Processes look disruptions up by type,
so the scenario classes are imported here, not the other way round.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from datetime import datetime, timedelta

from simulators.base import MINUTE, DisruptionSchedule, Outgoing, Process, entity_rng
from simulators.clock import (
    PROFILE_MEAN,
    PROFILE_PEAK,
    SHIFT_END_H,
    SHIFT_START_H,
    BusinessClock,
    shop_demand_profile,
    traffic_speed_factor,
)
from simulators.scenarios import (
    DemandSurge,
    DoorLeftOpen,
    FridgeFailure,
    PosOutage,
    RegionalClosure,
    RouteDelay,
    SensorDrift,
    SensorStuck,
    StockoutSpike,
    SupplierLate,
    TruckBreakdown,
)
from streams.events import (
    ColdChainReading,
    PosSale,
    ShipmentStatus,
    StockLevel,
    StockMovement,
    VehicleTelemetry,
)

KM_PER_DEG_LAT = 111.32
STORE_LEAD_TIME_H = 2.0  # vans restock a store from the warehouse within two hours
WAREHOUSE_LEAD_TIME_H = 48.0  # suppliers deliver to the warehouse within two days
#: Stores are topped up whenever cover at the *peak* sales rate drops below REORDER_COVER x lead
#: time, so cover measured at any rate never nears the 2x lead time the stockout rule watches.
REORDER_COVER = 5.0
ORDER_UP_TO_COVER = 8.0
QUANTITY_WEIGHTS = ((1, 0.6), (2, 0.3), (3, 0.1))
MEAN_QUANTITY = sum(q * w for q, w in QUANTITY_WEIGHTS)

_SKU_CATALOG = (  # id suffix, unit price, chilled, relative popularity
    ("milk", 1.19, True, 1.6),
    ("yoghurt", 0.89, True, 1.1),
    ("bread", 2.49, False, 1.4),
    ("water", 0.59, False, 1.2),
    ("cheese", 3.99, True, 0.7),
    ("eggs", 2.99, False, 0.9),
    ("bananas", 1.49, False, 1.0),
    ("salad", 1.79, True, 0.8),
    ("coffee", 5.49, False, 0.5),
    ("juice", 2.29, True, 0.8),
)
_SUPPLIERS = ("dairyco", "bakehouse", "freshfarm", "bevworks")
#: Demand by local weekday (Monday first): a busy Friday and Saturday, a quiet Sunday.
WEEKDAY_DEMAND = (1.0, 1.0, 1.0, 1.0, 1.15, 1.3, 0.8)
TILLS_PER_STORE = 2
#: Scale presets for ``World.preset``: from a corner shop to a regional chain.
PRESETS: dict[str, dict[str, int]] = {
    "corner_shop": {"stores": 1, "vehicles": 1, "fridges_per_site": 1, "skus": 5},
    "small": {"stores": 3, "vehicles": 3, "fridges_per_site": 2, "skus": 5},
    "chain": {"stores": 25, "vehicles": 10, "fridges_per_site": 3, "skus": 10},
    "regional": {"stores": 300, "vehicles": 60, "fridges_per_site": 4, "skus": 10},
}


# --------------------------------------------------------------------------------------------
# Static world


@dataclass(frozen=True)
class Site:
    id: str
    kind: str  # "store" or "warehouse"
    lat: float
    lon: float
    gateway: str  # the IoT gateway that batches this site's fridge readings
    lead_time_h: float
    cold_capacity: int  # units of chilled goods the site's fridges hold


@dataclass(frozen=True)
class Fridge:
    id: str
    site: str
    setpoint_c: float
    cycle_min: float  # compressor cycle period
    cycle_phase: float  # in [0, 1)
    amplitude_c: float
    warm_rate_c_per_min: float  # how fast it warms with the compressor stopped
    ambient_c: float = 18.0
    limit_c: float = 8.0


@dataclass(frozen=True)
class Vehicle:
    id: str
    depot: str
    capacity: int
    cruise_kmh: float
    shift_offset_min: int


@dataclass(frozen=True)
class Supplier:
    id: str


@dataclass(frozen=True)
class Sku:
    id: str
    unit_price: float
    chilled: bool
    supplier: str
    alternate_supplier: str


@dataclass(frozen=True)
class Promotion:
    """A weekly promotion: every store sells ``uplift`` times more of ``sku`` on ``weekdays``."""

    sku: str
    weekdays: tuple[int, ...]  # local weekdays, Monday = 0
    uplift: float


@dataclass(frozen=True)
class Shelf:
    """Stock policy of one SKU at one site."""

    site: str
    sku: str
    demand_per_open_h: float  # mean units sold per opening hour (0 at the warehouse)
    reorder_point: int
    order_up_to: int
    initial: int


@dataclass(frozen=True)
class World:
    """Everything that exists in the simulated business; immutable and generated from a seed."""

    seed: int
    center: tuple[float, float]
    sites: tuple[Site, ...]
    fridges: tuple[Fridge, ...]
    vehicles: tuple[Vehicle, ...]
    suppliers: tuple[Supplier, ...]
    skus: tuple[Sku, ...]
    shelves: tuple[Shelf, ...]
    promotions: tuple[Promotion, ...] = ()

    @classmethod
    def preset(cls, name: str, seed: int = 7) -> World:
        """A world of a named size: ``corner_shop``, ``small``, ``chain`` or ``regional``
        (300 stores, 1,204 fridges and cold rooms, 60 vans)."""
        if name not in PRESETS:
            raise ValueError(f"preset must be one of {', '.join(PRESETS)}; got {name!r}")
        return cls.generate(seed=seed, **PRESETS[name])

    @classmethod
    def generate(cls, seed: int = 7, stores: int = 3, vehicles: int = 3, fridges_per_site: int = 1,
                 skus: int = 5, promotions: int = 1) -> World:
        """A business around one city: one warehouse/depot plus ``stores`` stores.

        The city grows with the number of stores (7 km radius up to 10 stores, then by the square
        root), and ``promotions`` SKUs are on a weekly end-of-week promotion in every store.
        """
        for name, value, low in (("stores", stores, 1), ("vehicles", vehicles, 1),
                                 ("fridges_per_site", fridges_per_site, 0), ("skus", skus, 1),
                                 ("promotions", promotions, 0)):
            if not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be an int >= {low}; got {value!r}")
        rng = random.Random(f"{seed}:world")
        center = (51.0543, 3.7174)

        def place(min_km: float, max_km: float) -> tuple[float, float]:
            r = rng.uniform(min_km, max_km)
            a = rng.uniform(0, 2 * math.pi)
            return _offset(center, r * math.cos(a), r * math.sin(a))

        suppliers = tuple(Supplier(f"sup-{_SUPPLIERS[i % len(_SUPPLIERS)]}" + (f"-{i // len(_SUPPLIERS) + 1}"
                                                                              if i >= len(_SUPPLIERS) else ""))
                          for i in range(max(2, min(len(_SUPPLIERS), (skus + 1) // 2))))
        sku_list = []
        popularity = {}
        for i in range(skus):
            name, price, chilled, pop = _SKU_CATALOG[i % len(_SKU_CATALOG)]
            sid = f"sku-{name}" if i < len(_SKU_CATALOG) else f"sku-{name}-{i // len(_SKU_CATALOG) + 1}"
            sup = suppliers[i % len(suppliers)]
            alt = suppliers[(i + 1) % len(suppliers)]
            sku_list.append(Sku(sid, price, chilled, sup.id, alt.id))
            popularity[sid] = pop

        store_ids = [f"store-{i + 1}" for i in range(stores)]
        store_size = {s: rng.uniform(1.2, 2.2) for s in store_ids}
        peak_factor = PROFILE_PEAK / PROFILE_MEAN
        shelves = []
        for s in store_ids:
            for sku in sku_list:
                rate = round(store_size[s] * popularity[sku.id] * rng.uniform(0.85, 1.15), 3)
                peak = rate * peak_factor
                rop = math.ceil(REORDER_COVER * STORE_LEAD_TIME_H * peak)
                out = math.ceil(ORDER_UP_TO_COVER * STORE_LEAD_TIME_H * peak)
                shelves.append(Shelf(s, sku.id, rate, rop, out, rng.randint(rop + (out - rop) // 3, out)))
        wh = "wh-1"
        for sku in sku_list:
            daily = sum(sh.demand_per_open_h for sh in shelves if sh.sku == sku.id) * 16
            stock = math.ceil(daily * rng.uniform(8, 11))
            shelves.append(Shelf(wh, sku.id, 0.0, math.ceil(daily * 5), math.ceil(daily * 12), stock))

        city_km = 7.0 * max(1.0, math.sqrt(stores / 10))
        sites = [Site(wh, "warehouse", *place(3, 5), gateway=f"{wh}-gw", lead_time_h=WAREHOUSE_LEAD_TIME_H,
                      cold_capacity=100_000)]
        for s in store_ids:
            chilled_max = sum(sh.order_up_to for sh in shelves
                              if sh.site == s and next(k for k in sku_list if k.id == sh.sku).chilled)
            sites.append(Site(s, "store", *place(1, city_km), gateway=f"{s}-gw", lead_time_h=STORE_LEAD_TIME_H,
                              cold_capacity=int(chilled_max * 2) + 40))

        fridges = []
        for site in sites:
            label = "coldroom" if site.kind == "warehouse" else "fridge"
            for j in range(fridges_per_site):
                fridges.append(Fridge(
                    id=f"{site.id}-{label}-{j + 1}", site=site.id,
                    setpoint_c=round(rng.uniform(3.0, 3.2), 2), cycle_min=round(rng.uniform(20, 40), 1),
                    cycle_phase=rng.random(), amplitude_c=round(rng.uniform(0.8, 0.9), 2),
                    warm_rate_c_per_min=round(rng.uniform(0.3, 0.5), 2),
                ))
        vans = tuple(Vehicle(f"van-{i + 1}", wh, capacity=120, cruise_kmh=round(rng.uniform(50, 58), 1),
                             shift_offset_min=7 * i) for i in range(vehicles))
        # Promotions draw from their own generator so adding them reshuffles nothing else; they
        # run Friday to Sunday, and an uplift of at most x1.6 stays well inside the shelves' cover.
        promo_rng = random.Random(f"{seed}:promotions")
        promoted = promo_rng.sample([k.id for k in sku_list], min(promotions, len(sku_list)))
        promos = tuple(Promotion(k, (4, 5, 6), round(promo_rng.uniform(1.3, 1.6), 2)) for k in promoted)
        return cls(seed=seed, center=center, sites=tuple(sites), fridges=tuple(fridges), vehicles=vans,
                   suppliers=suppliers, skus=tuple(sku_list), shelves=tuple(shelves), promotions=promos)

    # -- lookups ---------------------------------------------------------------------------
    # Indexed once (cached on the instance, outside the dataclass fields): a regional world has
    # thousands of shelves and fridges, looked up every simulated minute.

    @cached_property
    def _index(self) -> dict[str, dict]:
        fridges_at: dict[str, list[Fridge]] = {}
        for f in self.fridges:
            fridges_at.setdefault(f.site, []).append(f)
        return {"site": {s.id: s for s in self.sites}, "fridge": {f.id: f for f in self.fridges},
                "shelf": {(sh.site, sh.sku): sh for sh in self.shelves},
                "fridges_at": {k: tuple(v) for k, v in fridges_at.items()}}

    @cached_property
    def warehouse(self) -> Site:
        return next(s for s in self.sites if s.kind == "warehouse")

    @cached_property
    def stores(self) -> tuple[Site, ...]:
        return tuple(s for s in self.sites if s.kind == "store")

    def site(self, site_id: str) -> Site:
        s = self._index["site"].get(site_id)
        if s is None:
            raise KeyError(f"no site {site_id!r}; sites are {[s.id for s in self.sites][:20]}")
        return s

    def fridge(self, fridge_id: str) -> Fridge:
        f = self._index["fridge"].get(fridge_id)
        if f is None:
            raise KeyError(f"no fridge {fridge_id!r}; fridges are {[f.id for f in self.fridges][:20]}")
        return f

    def tills_at(self, store_id: str) -> tuple[str, ...]:
        if self.site(store_id).kind != "store":
            raise ValueError(f"only stores have tills; {store_id!r} is a {self.site(store_id).kind}")
        return tuple(f"{store_id}-till-{i + 1}" for i in range(TILLS_PER_STORE))

    def till_store(self, till_id: str) -> str:
        """The store a till belongs to (tills are ``<store>-till-<n>``)."""
        store, sep, n = till_id.rpartition("-till-")
        if not sep or store not in self._index["site"] or till_id not in self.tills_at(store):
            raise KeyError(f"no till {till_id!r}; tills are <store>-till-1..{TILLS_PER_STORE}")
        return store

    def demand_factor(self, sku_id: str, weekday: int) -> float:
        """Weekly seasonality times any promotion running on that local weekday."""
        f = WEEKDAY_DEMAND[weekday]
        for p in self.promotions:
            if p.sku == sku_id and weekday in p.weekdays:
                f *= p.uplift
        return f

    def vehicle(self, vehicle_id: str) -> Vehicle:
        for v in self.vehicles:
            if v.id == vehicle_id:
                return v
        raise KeyError(f"no vehicle {vehicle_id!r}; vehicles are {[v.id for v in self.vehicles]}")

    def sku(self, sku_id: str) -> Sku:
        for k in self.skus:
            if k.id == sku_id:
                return k
        raise KeyError(f"no SKU {sku_id!r}; SKUs are {[k.id for k in self.skus]}")

    def supplier(self, supplier_id: str) -> Supplier:
        for s in self.suppliers:
            if s.id == supplier_id:
                return s
        raise KeyError(f"no supplier {supplier_id!r}; suppliers are {[s.id for s in self.suppliers]}")

    def shelf(self, site_id: str, sku_id: str) -> Shelf:
        sh = self._index["shelf"].get((site_id, sku_id))
        if sh is None:
            raise KeyError(f"no shelf for {site_id}:{sku_id}")
        return sh

    def fridges_at(self, site_id: str) -> tuple[Fridge, ...]:
        return self._index["fridges_at"].get(site_id, ())


def _offset(origin: tuple[float, float], east_km: float, north_km: float) -> tuple[float, float]:
    lat, lon = origin
    return (lat + north_km / KM_PER_DEG_LAT, lon + east_km / (KM_PER_DEG_LAT * math.cos(math.radians(lat))))


def km_between(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Distance in km, flat-earth: fine at city scale."""
    return math.hypot(*_km_between(a, b))


def _km_between(a: tuple[float, float], b: tuple[float, float]) -> tuple[float, float]:
    """(east_km, north_km) from a to b, flat-earth: fine at city scale."""
    north = (b[0] - a[0]) * KM_PER_DEG_LAT
    east = (b[1] - a[1]) * KM_PER_DEG_LAT * math.cos(math.radians(a[0]))
    return east, north


def _poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def _event_id(seed: int, short: str, entity: str, ts: datetime, n: int = 0) -> str:
    return f"s{seed}.{short}.{entity}.{ts:%Y%m%dT%H%M%S}.{n}"


# --------------------------------------------------------------------------------------------
# Shared stock ledger


@dataclass
class Stockroom:
    """On-hand stock per (site, sku), shared by the retail and supply processes."""

    on_hand: dict[tuple[str, str], int] = field(default_factory=dict)

    @classmethod
    def opening(cls, world: World) -> Stockroom:
        return cls({(sh.site, sh.sku): sh.initial for sh in world.shelves})

    def chilled_on_hand(self, world: World, site_id: str) -> int:
        chilled = {k.id for k in world.skus if k.chilled}
        return sum(q for (s, sku), q in self.on_hand.items() if s == site_id and sku in chilled)


# --------------------------------------------------------------------------------------------
# Cold chain


@dataclass
class _FridgeState:
    rng: random.Random
    temp_c: float | None = None
    excess_c: float = 0.0  # warmth left over from a failure, decays once the compressor runs
    door_bump_c: float = 0.0
    door_open_left_min: int = 0
    humidity_pct: float = 55.0
    door_days: dict[str, set[int]] = field(default_factory=dict)
    stuck_at: tuple[float, float] | None = None  # (temp_c, humidity_pct) a frozen probe repeats


class ColdChainProcess(Process):
    """Fridge and cold-room sensors, one reading per fridge per minute, batched per site gateway."""

    RECOVERY_TAU_MIN = 2.5
    #: With the door shut again the air is back within a minute or two. Normal readings with the
    #: door shut stay under 5 °C (limit minus the monitor's 3 °C early-warning margin), so an
    #: early warning only ever comes from a real fault.
    DOOR_DECAY_TAU_MIN = 1.0
    MAX_DOOR_BUMP_C = 1.5
    NOISE_C = 0.2

    def __init__(self, world: World, schedule: DisruptionSchedule, clock: BusinessClock, seed: int):
        self.world, self.schedule, self.clock, self.seed = world, schedule, clock, seed
        self._state = {f.id: _FridgeState(entity_rng(seed, "fridge", f.id)) for f in world.fridges}

    def _door_minutes(self, fridge: Fridge, st: _FridgeState, day: str) -> set[int]:
        # A few openings per local day (restocking, cleaning), during opening hours only.
        if day not in st.door_days:
            n = st.rng.randint(3, 6)
            st.door_days = {day: {st.rng.randint(7 * 60, 21 * 60) for _ in range(n)}}
        return st.door_days[day]

    def normal_temp(self, fridge: Fridge, t: datetime) -> float:
        phase = (t.timestamp() / 60.0 / fridge.cycle_min + fridge.cycle_phase) % 1.0
        # Compressor off: slow warm-up over 3/4 of the cycle; on: quick pull-down.
        wave = -1 + 2 * phase / 0.75 if phase < 0.75 else 1 - 2 * (phase - 0.75) / 0.25
        return fridge.setpoint_c + fridge.amplitude_c * wave

    def step(self, t: datetime) -> Iterable[Outgoing]:
        out = []
        local = self.clock.local(t)
        minute_of_day = local.hour * 60 + local.minute
        for site in self.world.sites:
            readings = []
            for fridge in self.world.fridges_at(site.id):
                st = self._state[fridge.id]
                noise = max(-self.NOISE_C, min(self.NOISE_C, st.rng.gauss(0, 0.08)))
                normal = self.normal_temp(fridge, t) + noise
                if minute_of_day in self._door_minutes(fridge, st, self.clock.day(t)):
                    st.door_open_left_min = st.rng.randint(1, 2)
                door_open = st.door_open_left_min > 0
                st.door_open_left_min = max(0, st.door_open_left_min - 1)
                failure = self.schedule.active(FridgeFailure, fridge.id, t)
                left_open = self.schedule.active(DoorLeftOpen, fridge.id, t)
                door_open = door_open or left_open is not None
                warming = failure is not None or left_open is not None
                if warming:
                    rate = fridge.warm_rate_c_per_min if failure is not None else left_open.warm_rate_c_per_min
                    temp = st.temp_c if st.temp_c is not None else normal
                    temp += min(rate, 0.1 * (fridge.ambient_c - temp))
                    temp += noise * 0.3
                    st.excess_c = temp - normal
                else:
                    st.excess_c *= math.exp(-1 / self.RECOVERY_TAU_MIN)
                    if abs(st.excess_c) < 0.02:
                        st.excess_c = 0.0
                    if door_open:
                        st.door_bump_c = min(self.MAX_DOOR_BUMP_C, st.door_bump_c + st.rng.uniform(0.7, 1.0))
                    else:
                        st.door_bump_c *= math.exp(-1 / self.DOOR_DECAY_TAU_MIN)
                    temp = normal + st.excess_c + st.door_bump_c
                st.temp_c = temp
                st.humidity_pct += 0.2 * (55 - st.humidity_pct) + st.rng.gauss(0, 1.0)
                humidity = st.humidity_pct + (6 if door_open else 0) + (min(10.0, st.excess_c) if warming else 0)
                reported = (round(temp, 2), round(max(40.0, min(70.0, humidity)), 1))
                # A faulty probe lies about a fridge that is fine: the fridge's state above is real.
                if self.schedule.active(SensorStuck, fridge.id, t) is not None:
                    if st.stuck_at is None:
                        st.stuck_at = reported
                    reported = st.stuck_at
                else:
                    st.stuck_at = None
                    drift = self.schedule.active(SensorDrift, fridge.id, t)
                    if drift is not None:
                        reported = (round(temp + drift.offset_c(t), 2), reported[1])
                readings.append(ColdChainReading(
                    event_id=_event_id(self.seed, "cc", fridge.id, t), ts=t, site=site.id, fridge=fridge.id,
                    temp_c=reported[0], humidity_pct=reported[1], door_open=door_open, limit_c=fridge.limit_c,
                ))
            if readings:
                out.append(Outgoing("coldchain", site.gateway, t, tuple(readings), gateway=site.gateway,
                                    site=site.id))
        return out


# --------------------------------------------------------------------------------------------
# Fleet


@dataclass
class _VanState:
    rng: random.Random
    pos: tuple[float, float]
    mode: str = "parked"  # parked | driving | at_stop | returning | broken
    target: tuple[float, float] | None = None
    dwell_min: int = 0
    stops_remaining: int = 0
    route: str | None = None
    route_day: str | None = None
    fuel_pct: float = 90.0
    engine_temp_c: float = 20.0
    load: int = 0
    broken_for_min: int = 0
    resume_mode: str = "driving"


class FleetProcess(Process):
    """Delivery vans: morning to evening on a multi-drop route, parked at the depot at night."""

    STOP_DWELL_MIN = (3, 8)  # a normal drop never keeps a van still for more than 10 minutes
    CITY_RADIUS_KM = 9.0
    ENGINE_OFF_AFTER_BREAKDOWN_MIN = 6

    def __init__(self, world: World, schedule: DisruptionSchedule, clock: BusinessClock, seed: int):
        self.world, self.schedule, self.clock, self.seed = world, schedule, clock, seed
        self._state = {}
        for v in world.vehicles:
            depot = world.site(v.depot)
            rng = entity_rng(seed, "vehicle", v.id)
            self._state[v.id] = _VanState(rng=rng, pos=(depot.lat, depot.lon), fuel_pct=rng.uniform(70, 95),
                                          load=0)

    def _next_stop(self, st: _VanState) -> tuple[float, float]:
        r = self.CITY_RADIUS_KM * math.sqrt(st.rng.random())
        a = st.rng.uniform(0, 2 * math.pi)
        return _offset(self.world.center, r * math.cos(a), r * math.sin(a))

    def _must_be_out(self, v: Vehicle, t: datetime) -> bool:
        # A breakdown or a hold-up is something that happens on the road: make sure the van is out.
        return any(b.start - timedelta(minutes=30) <= t < b.end
                   for kind in (TruckBreakdown, RouteDelay) for b in self.schedule.for_entity(kind, v.id))

    def _start_route(self, v: Vehicle, st: _VanState, t: datetime) -> None:
        st.route = f"{v.id}-{self.clock.day(t)}"
        st.route_day = self.clock.day(t)
        st.stops_remaining = st.rng.randint(50, 60)  # a multi-drop day that lasts into the evening
        st.load = v.capacity - st.rng.randint(8, 16)
        if st.fuel_pct < 60:
            st.fuel_pct = st.rng.uniform(88, 100)  # refuelled overnight
        st.engine_temp_c = 86.0
        st.target = self._next_stop(st)
        st.mode = "driving"

    def _drive(self, v: Vehicle, st: _VanState, t: datetime) -> tuple[float, bool]:
        """Move toward the target for one minute; return (speed_kmh, arrived)."""
        speed = v.cruise_kmh * traffic_speed_factor(self.clock.hour(t)) * st.rng.uniform(0.85, 1.15)
        speed = max(20.0, min(70.0, speed))
        east, north = _km_between(st.pos, st.target)
        dist = math.hypot(east, north)
        step = speed / 60.0
        st.fuel_pct = max(5.0, st.fuel_pct - 0.12 * min(step, dist))
        if dist <= step:
            st.pos = st.target
            return speed, True
        st.pos = _offset(st.pos, east * step / dist, north * step / dist)
        return speed, False

    def step(self, t: datetime) -> Iterable[Outgoing]:
        out = []
        hour = self.clock.hour(t)
        for v in self.world.vehicles:
            st = self._state[v.id]
            speed = 0.0
            must_be_out = self._must_be_out(v, t)
            breakdown = self.schedule.active(TruckBreakdown, v.id, t)
            if breakdown is not None:
                if st.mode == "parked":  # only when the schedule gave no time to leave the depot
                    self._start_route(v, st, t)
                elif st.stops_remaining <= 0:
                    st.stops_remaining, st.mode, st.target = st.rng.randint(3, 6), "driving", self._next_stop(st)
                if st.mode != "broken":
                    st.resume_mode = "at_stop" if st.mode == "at_stop" else st.mode
                    st.mode, st.broken_for_min = "broken", 0
                st.broken_for_min += 1
                if st.broken_for_min <= self.ENGINE_OFF_AFTER_BREAKDOWN_MIN:
                    st.engine_temp_c = min(115.0, st.engine_temp_c + st.rng.uniform(2.0, 4.0))
            else:
                if st.mode == "broken":  # repaired on the spot: carry on with the route
                    st.mode = "driving" if st.resume_mode != "returning" else "returning"
                    st.engine_temp_c = 88.0
                    if st.mode == "driving" and st.target is None:
                        st.target = self._next_stop(st)
                if st.mode == "returning" and must_be_out:
                    # heading home early: dispatch sends it back out with a few more drops
                    st.stops_remaining, st.mode, st.target = st.rng.randint(3, 6), "driving", self._next_stop(st)
                if st.mode == "parked":
                    start_h = SHIFT_START_H + v.shift_offset_min / 60
                    if must_be_out or (start_h <= hour < SHIFT_END_H - 2 and st.route_day != self.clock.day(t)):
                        self._start_route(v, st, t)
                held = self.schedule.active(RouteDelay, v.id, t)
                if held is not None and st.mode in ("driving", "returning", "at_stop"):
                    # queueing behind a closure: crawling, drops still to do, the route unchanged
                    if st.mode == "at_stop" or st.target is None:
                        st.target = self._next_stop(st)
                    st.mode = "driving"
                    st.stops_remaining = max(1, st.stops_remaining)
                    speed = round(st.rng.uniform(0.0, held.max_speed_kmh), 1)
                    st.fuel_pct = max(5.0, st.fuel_pct - 0.02)
                elif st.mode in ("driving", "returning"):
                    speed, arrived = self._drive(v, st, t)
                    if arrived and st.mode == "driving":
                        st.mode, st.dwell_min = "at_stop", st.rng.randint(*self.STOP_DWELL_MIN)
                    elif arrived:
                        st.mode, st.route, st.target, st.stops_remaining = "parked", None, None, 0
                elif st.mode == "at_stop":
                    st.fuel_pct = max(5.0, st.fuel_pct - 0.01)
                    st.dwell_min -= 1
                    if st.dwell_min <= 0:
                        st.stops_remaining -= 1
                        st.load = max(0, st.load - st.rng.randint(1, 3))
                        if st.stops_remaining <= 0 and must_be_out:
                            st.stops_remaining = 3  # extra drops picked up on the way
                        if st.stops_remaining <= 0 or (hour >= SHIFT_END_H and not must_be_out):
                            depot = self.world.site(v.depot)
                            st.mode, st.target, st.stops_remaining = "returning", (depot.lat, depot.lon), 0
                        else:
                            st.mode, st.target = "driving", self._next_stop(st)
            engine_on = st.mode in ("driving", "returning", "at_stop") or (
                st.mode == "broken" and st.broken_for_min <= self.ENGINE_OFF_AFTER_BREAKDOWN_MIN)
            if engine_on and st.mode != "broken":
                st.engine_temp_c += 0.3 * (90.0 - st.engine_temp_c) + st.rng.gauss(0, 0.8)
                st.engine_temp_c = max(85.0, min(95.0, st.engine_temp_c))
            ts = t + timedelta(seconds=10 + self.world.vehicles.index(v))
            out.append(Outgoing("vehicles", v.id, ts, (VehicleTelemetry(
                event_id=_event_id(self.seed, "veh", v.id, ts), ts=ts, vehicle=v.id, depot=v.depot,
                lat=round(st.pos[0], 6), lon=round(st.pos[1], 6), speed_kmh=round(speed, 1),
                fuel_pct=round(st.fuel_pct, 2), engine_temp_c=round(st.engine_temp_c, 1) if engine_on else None,
                engine_on=engine_on, route=st.route, stops_remaining=max(0, st.stops_remaining),
                capacity_free=max(1, v.capacity - st.load),
            ),)))
        return out


# --------------------------------------------------------------------------------------------
# Retail: sales, shelves, replenishment, stock counts


class RetailProcess(Process):
    """Till sales by store and SKU, shelf stock, van replenishment and 15-minute stock counts."""

    STOCK_COUNT_EVERY_MIN = 15
    #: Auto-sized demand spikes aim to empty the shelf at this fraction of the disruption window.
    SPIKE_DRAIN_AT = 0.7
    SPIKE_MULTIPLIER_RANGE = (5.0, 20.0)

    def __init__(self, world: World, schedule: DisruptionSchedule, clock: BusinessClock, seed: int,
                 stock: Stockroom):
        self.world, self.schedule, self.clock, self.seed, self.stock = world, schedule, clock, seed, stock
        self._rng = {(sh.site, sh.sku): entity_rng(seed, "shelf", sh.site, sh.sku) for sh in world.shelves}
        self._minute = 0
        self._spike_multiplier: dict[int, float] = {}

    def spike_multiplier(self, spike: StockoutSpike, shelf: Shelf) -> float:
        """Demand multiplier of a spike, fixed at its first minute from the stock then on the shelf."""
        key = id(spike)
        if key not in self._spike_multiplier:
            if spike.demand_multiplier is not None:
                self._spike_multiplier[key] = spike.demand_multiplier
            else:
                expected, t = 0.0, spike.start
                while t < spike.end:
                    expected += shelf.demand_per_open_h * shop_demand_profile(self.clock.hour(t)) / PROFILE_MEAN / 60
                    t += MINUTE
                on_hand = self.stock.on_hand[(shelf.site, shelf.sku)]
                lo, hi = self.SPIKE_MULTIPLIER_RANGE
                m = on_hand / (self.SPIKE_DRAIN_AT * expected) if expected > 0 else lo
                self._spike_multiplier[key] = round(max(lo, min(hi, m)), 2)
        return self._spike_multiplier[key]

    def step(self, t: datetime) -> Iterable[Outgoing]:
        out: list[Outgoing] = []
        wh = self.world.warehouse
        if self._minute % self.STOCK_COUNT_EVERY_MIN == 0:
            out.extend(self._stock_counts(t))
        self._minute += 1
        profile = shop_demand_profile(self.clock.hour(t)) / PROFILE_MEAN
        weekday = self.clock.local(t).weekday()
        closures = [c for c in self.schedule.of_type(RegionalClosure) if c.active(t)]
        outages = {d.till for d in self.schedule.of_type(PosOutage) if d.active(t)}
        for store_index, store in enumerate(self.world.stores):
            closed = any(c.silences(store.id) for c in closures)
            tills = self.world.tills_at(store.id)
            tills_up = [k for k in tills if k not in outages]
            for sku in self.world.skus:
                shelf = self.world.shelf(store.id, sku.id)
                entity = f"{store.id}:{sku.id}"
                rng = self._rng[(store.id, sku.id)]
                spike = self.schedule.active(StockoutSpike, entity, t)
                multiplier = self.spike_multiplier(spike, shelf) if spike else 1.0
                surge = self.schedule.active(DemandSurge, entity, t)
                if surge is not None:
                    multiplier *= surge.demand_multiplier
                lam = shelf.demand_per_open_h * profile * multiplier * self.world.demand_factor(sku.id, weekday) \
                    / 60 / MEAN_QUANTITY
                n = 0 if closed else _poisson(rng, lam)
                offsets = sorted(rng.randint(0, 58_999) for _ in range(n))
                for i, ms in enumerate(offsets):
                    qty = rng.choices([q for q, _ in QUANTITY_WEIGHTS], [w for _, w in QUANTITY_WEIGHTS])[0]
                    qty = min(qty, self.stock.on_hand[(store.id, sku.id)])
                    if qty <= 0 or not tills_up:
                        break  # empty shelf or every till down: the sale is lost
                    till = tills[(i + ms) % len(tills)]
                    if till in outages:  # the customer queues at a till that works
                        till = tills_up[(i + ms) % len(tills_up)]
                    self.stock.on_hand[(store.id, sku.id)] -= qty
                    ts = t + timedelta(milliseconds=ms)
                    out.append(Outgoing("pos", entity, ts, (PosSale(
                        event_id=_event_id(self.seed, "sale", entity, ts, i), ts=ts, store=store.id, sku=sku.id,
                        quantity=qty, unit_price=sku.unit_price, till=till),), site=store.id))
                # Vans top the shelf up from the warehouse; a stockout spike is exactly the case
                # where that replenishment fails to happen.
                on_hand = self.stock.on_hand[(store.id, sku.id)]
                target, emergency = shelf.order_up_to, False
                if spike is not None and t + MINUTE >= spike.end:
                    # The van finally arrives in the spike's last minute. The rush is not over, so
                    # it brings enough for twice the lead time at the spike's peak rate: the shelf
                    # is safe again from the end of the window on.
                    peak = shelf.demand_per_open_h * PROFILE_PEAK / PROFILE_MEAN
                    target = max(target, math.ceil(2 * store.lead_time_h * peak * multiplier))
                    spike, emergency = None, True
                if spike is None and (on_hand < shelf.reorder_point or emergency):
                    qty = min(target - on_hand, self.stock.on_hand[(wh.id, sku.id)])
                    if qty > 0:
                        ts = t + timedelta(seconds=59)
                        self.stock.on_hand[(store.id, sku.id)] += qty
                        self.stock.on_hand[(wh.id, sku.id)] -= qty
                        out.append(Outgoing("stock", entity, ts, (StockMovement(
                            event_id=_event_id(self.seed, "mov", entity, ts), ts=ts, site=store.id, sku=sku.id,
                            quantity=qty, reason="receipt"),), site=store.id))
                        wh_entity = f"{wh.id}:{sku.id}"
                        out.append(Outgoing("stock", wh_entity, ts, (StockMovement(
                            event_id=_event_id(self.seed, "mov", wh_entity, ts, 10 + store_index), ts=ts, site=wh.id,
                            sku=sku.id, quantity=-qty, reason="transfer_out"),), site=wh.id))
        return out

    def _stock_counts(self, t: datetime) -> list[Outgoing]:
        out = []
        for site in self.world.sites:
            cold_free = None
            if self.world.fridges_at(site.id):
                cold_free = max(0, site.cold_capacity - self.stock.chilled_on_hand(self.world, site.id))
            for sku in self.world.skus:
                entity = f"{site.id}:{sku.id}"
                out.append(Outgoing("stock", entity, t, (StockLevel(
                    event_id=_event_id(self.seed, "lvl", entity, t), ts=t, site=site.id, sku=sku.id,
                    on_hand=self.stock.on_hand[(site.id, sku.id)], lead_time_h=site.lead_time_h,
                    lat=round(site.lat, 6), lon=round(site.lon, 6), cold_capacity_free=cold_free,
                    chilled=sku.chilled),), site=site.id))
        return out


# --------------------------------------------------------------------------------------------
# Supply


@dataclass
class _Order:
    id: str
    supplier: str
    alternate_supplier: str
    sku: str
    quantity: int
    promised_at: datetime
    eta: datetime
    status: str = "ordered"
    late: SupplierLate | None = None
    last_sent: datetime | None = None


class SupplyProcess(Process):
    """Supplier orders to the warehouse: one open order per SKU, status every 30 minutes."""

    STATUS_EVERY = timedelta(minutes=30)

    def __init__(self, world: World, schedule: DisruptionSchedule, clock: BusinessClock, seed: int,
                 stock: Stockroom, start: datetime):
        self.world, self.schedule, self.clock, self.seed, self.stock = world, schedule, clock, seed, stock
        self._rng = entity_rng(seed, "supply")
        self._start = start
        self._n = 0
        self.orders: list[_Order] = []
        for sku in world.skus:
            promised = _floor_minute(start + timedelta(hours=self._rng.uniform(4, 40)))
            self._open(sku, promised)
        for late in schedule.of_type(SupplierLate):
            sku = next(k for k in world.skus if k.supplier == late.supplier)
            promised = _floor_minute(late.start + (late.end - late.start) / 2)
            self.orders.append(_Order(
                id=late.shipment, supplier=late.supplier, alternate_supplier=sku.alternate_supplier,
                sku=sku.id, quantity=self._quantity(sku.id), promised_at=promised,
                eta=promised - timedelta(minutes=30), status="in_transit", late=late))

    def _quantity(self, sku_id: str) -> int:
        # Order what brings the warehouse back up to its target once everything open has arrived,
        # so stock neither drains nor piles up over a multi-day run.
        shelf = self.world.shelf(self.world.warehouse.id, sku_id)
        open_qty = sum(o.quantity for o in self.orders
                       if o.sku == sku_id and o.status not in ("delivered", "cancelled"))
        want = shelf.order_up_to - self.stock.on_hand[(shelf.site, sku_id)] - open_qty
        return max(shelf.order_up_to // 6, want)

    def _open(self, sku: Sku, promised: datetime) -> _Order:
        self._n += 1
        order = _Order(
            id=f"PO-{self._start:%y%m%d}-{self._n:03d}", supplier=sku.supplier,
            alternate_supplier=sku.alternate_supplier, sku=sku.id, quantity=self._quantity(sku.id),
            promised_at=promised, eta=promised - timedelta(minutes=self._rng.randint(0, 90)))
        self.orders.append(order)
        return order

    @staticmethod
    def _normal_status(order: _Order, t: datetime) -> str:
        if t >= order.eta:
            return "delivered"
        if t >= order.eta - timedelta(hours=8):
            return "in_transit"
        if t >= order.eta - timedelta(hours=20):
            return "dispatched"
        return "ordered"

    def step(self, t: datetime) -> Iterable[Outgoing]:
        out = []
        wh = self.world.warehouse
        for order in list(self.orders):
            if order.status in ("delivered", "cancelled"):
                continue
            if order.late is not None:
                if order.late.active(t):
                    if order.status != "delayed":
                        order.eta = order.promised_at + order.late.delay
                    status = "delayed"
                elif t >= order.late.end:
                    status = "delivered"
                else:
                    status = order.status
            else:
                status = self._normal_status(order, t)
            changed = status != order.status
            order.status = status
            if changed or order.last_sent is None or t - order.last_sent >= self.STATUS_EVERY:
                order.last_sent = t
                ts = t + timedelta(seconds=50)
                out.append(Outgoing("shipments", order.id, ts, (ShipmentStatus(
                    event_id=_event_id(self.seed, "shp", order.id, ts), ts=ts, shipment=order.id,
                    supplier=order.supplier, destination=wh.id, status=status, promised_at=order.promised_at,
                    eta=order.eta, sku=order.sku, quantity=order.quantity,
                    alternate_supplier=order.alternate_supplier),)))
            if status == "delivered":
                ts = t + timedelta(seconds=55)
                entity = f"{wh.id}:{order.sku}"
                self.stock.on_hand[(wh.id, order.sku)] += order.quantity
                out.append(Outgoing("stock", entity, ts, (StockMovement(
                    event_id=_event_id(self.seed, "rcv", order.id, ts), ts=ts, site=wh.id, sku=order.sku,
                    quantity=order.quantity, reason="receipt"),), site=wh.id))
                if order.late is None:
                    promised = _floor_minute(t + timedelta(hours=self._rng.uniform(30, 48)))
                    self._open(self.world.sku(order.sku), promised)
        return out


def _floor_minute(t: datetime) -> datetime:
    return t.replace(second=0, microsecond=0)
