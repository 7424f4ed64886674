"""A seeded, deterministic little world that feeds opswatch with realistic events, faults included.

Where this sits in the flow: **source** -> validate -> detect -> incident -> rule -> sink. The
simulator stands in for the fridge gateways, vehicle trackers, tills, stock system and supplier
portal of a small business, so the monitor can be demonstrated and tested end to end.

- ``world``: what exists (sites, fridges, vehicles, SKUs, suppliers) and how each behaves minute by
  minute in normal operation, with daily seasonality.
- ``scenarios``: disruptions injected on top of normal operation (fridge failure, truck breakdown,
  stockout, supplier late), each with the ``GroundTruth`` incident the monitor should open, plus
  deliberately malformed messages for dead-letter demos.
- ``clock``: the simulated local business day and the live sim-time/wall-time mapping.
- ``producer``: ``Simulation`` turns the world into Kafka messages for a time range;
  ``run_simulation`` sends them to a broker (backfill first, then live).

Same seed, same start: the same bytes, always.
"""

from simulators.base import Disruption, GroundTruth
from simulators.producer import Simulation, SimulationStats, run_simulation
from simulators.scenarios import (
    FridgeFailure,
    StockoutSpike,
    SupplierLate,
    TruckBreakdown,
    default_disruptions,
)
from simulators.world import World

__all__ = [
    "Disruption",
    "FridgeFailure",
    "GroundTruth",
    "Simulation",
    "SimulationStats",
    "StockoutSpike",
    "SupplierLate",
    "TruckBreakdown",
    "World",
    "default_disruptions",
    "run_simulation",
]
