"""Fleet watch: vehicles stopped on a route (``vehicle_stopped``), from breakdown or blockage.

A vehicle with stops remaining that has not moved for longer than ``max_stop_min`` (a normal
delivery stop is shorter) is stopped. The watch also keeps each vehicle's last position and free
capacity for the reassignment rule.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from streams.events import VehicleTelemetry
from streams.watch import Emit, Watch

KIND = "vehicle_stopped"


@dataclass
class VehicleState:
    depot: str | None
    lat: float
    lon: float
    speed_kmh: float
    stops_remaining: int
    capacity_free: int
    ts: datetime
    stopped_since: datetime | None = None
    route: str | None = None


@dataclass
class FleetWatch(Watch):
    kinds = ("vehicle",)
    max_stop_min: float = 15.0
    moving_kmh: float = 3.0
    vehicles: dict[str, VehicleState] = field(default_factory=dict)
    #: the per-entity dicts, for incremental checkpoints: (attribute, how a key names its entity)
    keyed_state = (("vehicles", "entity"),)

    def handle(self, ev: VehicleTelemetry, emit: Emit) -> None:
        emit.point("vehicle", {"vehicle": ev.vehicle, "depot": ev.depot},
                   {"speed_kmh": ev.speed_kmh, "fuel_pct": ev.fuel_pct, "engine_temp_c": ev.engine_temp_c,
                    "lat": ev.lat, "lon": ev.lon}, ev.ts)
        s = emit.score("vehicle", ev.vehicle, ev.depot, "engine_temp_c", ev.engine_temp_c, ev.ts)
        st = self.vehicles.get(ev.vehicle)
        if st is None:
            st = self.vehicles[ev.vehicle] = VehicleState(ev.depot, ev.lat, ev.lon, ev.speed_kmh,
                                                          ev.stops_remaining, ev.capacity_free, ev.ts)
        on_route = ev.stops_remaining > 0
        stopped = ev.speed_kmh < self.moving_kmh
        if stopped and on_route:
            if st.stopped_since is None:
                st.stopped_since = ev.ts
        else:
            st.stopped_since = None
        st.depot, st.lat, st.lon, st.speed_kmh = ev.depot, ev.lat, ev.lon, ev.speed_kmh
        st.stops_remaining, st.capacity_free, st.ts, st.route = (ev.stops_remaining, ev.capacity_free,
                                                                 ev.ts, ev.route)
        stopped_min = (ev.ts - st.stopped_since).total_seconds() / 60 if st.stopped_since else 0.0
        active = stopped_min > self.max_stop_min
        emit.observe(
            KIND, ev.vehicle, ev.ts, active, site=ev.depot,
            severity="critical" if stopped_min > 2 * self.max_stop_min else "warning",
            summary=(f"Vehicle {ev.vehicle} stopped for {stopped_min:.0f} min with "
                     f"{ev.stops_remaining} stops remaining (normal stops last under "
                     f"{self.max_stop_min:.0f} min)"),
            evidence={"observed_stopped_min": round(stopped_min, 1), "expected_max_stop_min": self.max_stop_min,
                      "lat": ev.lat, "lon": ev.lon, "stops_remaining": ev.stops_remaining,
                      "engine_temp_c": ev.engine_temp_c, "engine_on": ev.engine_on,
                      "engine_temp_score": s.score if s else None},
        )

    def evict(self, entities: set[str]) -> None:
        for e in entities & self.vehicles.keys():
            del self.vehicles[e]
