"""A seeded, deterministic little world that feeds opswatch with realistic events, faults included.

Where this sits in the flow: **source** -> validate -> detect -> incident -> rule -> sink. The
simulator stands in for the fridge gateways, vehicle trackers, tills, stock system and supplier
portal of a small business, so the monitor can be demonstrated and tested end to end.

- ``world``: what exists (sites, fridges, vehicles, SKUs, suppliers) and how each behaves minute by
  minute in normal operation, with daily and weekly seasonality and promotions; ``World.preset``
  sizes it from a corner shop to 300 stores with 1,200 fridges.
- ``scenarios``: disruptions injected on top of normal operation (fridge failure, door left open,
  truck breakdown, route delay, till outage, demand spike, stockout, supplier delay, stuck and
  drifting probes, a silent site, a regional closure), each with the ``GroundTruth`` the monitor
  is measured against, plus deliberately malformed messages for dead-letter demos.
- ``library``: scenario YAML files (checked, composable) and the built-in scenario library.
- ``clock``: the simulated local business day and the live sim-time/wall-time mapping.
- ``producer``: ``Simulation`` turns the world into Kafka messages for a time range;
  ``run_simulation`` sends them to a broker (backfill first, then live).
- ``recording`` and ``adapters``: topics to JSON Lines and back (into Kafka or the core), and CSV
  exports (NAB-style series, POS sales) as input events.
- ``backtest`` and ``report``: scenarios or labelled recordings through the real core, scored
  (detected, delay, false incidents per entity-day) into JSON and an HTML report.
- ``cli``: ``opswatch record``, ``replay`` and ``backtest`` (``register(app)``).

Same seed, same start: the same bytes, always.
"""

from simulators.base import Disruption, GroundTruth
from simulators.producer import Simulation, SimulationStats, run_simulation
from simulators.scenarios import (
    DemandSurge,
    DoorLeftOpen,
    FridgeFailure,
    PosOutage,
    RegionalClosure,
    RouteDelay,
    SensorDrift,
    SensorStuck,
    SiteSilent,
    StockoutSpike,
    SupplierLate,
    TruckBreakdown,
    default_disruptions,
)
from simulators.world import World

__all__ = [
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
    "Simulation",
    "SimulationStats",
    "SiteSilent",
    "StockoutSpike",
    "SupplierLate",
    "TruckBreakdown",
    "World",
    "default_disruptions",
    "run_simulation",
]
