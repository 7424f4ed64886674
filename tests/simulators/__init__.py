"""Tests of the simulator; ``run_day`` is the shared in-memory run most of them look at."""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta

from simulators import Simulation, World, default_disruptions
from simulators.producer import SimMessage
from streams.events import Event, parse_message

#: Live start of the reference runs; the backfill starts 6 h earlier (06:30 local, 12:30 at LIVE).
LIVE = datetime(2026, 3, 2, 13, 30, 15, tzinfo=UTC)
BACKFILL = timedelta(hours=6)


def simulation(seed: int = 7, live_duration: timedelta = timedelta(hours=10), disruptions: bool = True,
               malformed_every: int = 0, **world) -> Simulation:
    return Simulation(World.generate(seed=seed, **world), LIVE - BACKFILL, seed=seed,
                      disruptions=default_disruptions(LIVE, live_duration) if disruptions else None,
                      malformed_every=malformed_every, live_start=LIVE)


@functools.lru_cache(maxsize=8)
def run_day(seed: int = 7, live_hours: float = 10.0, disruptions: bool = True, tail_hours: float = 8.0
            ) -> tuple[Simulation, list[SimMessage], list[Event]]:
    """Backfill, live part and a tail into the night, as messages and as the parsed events."""
    sim = simulation(seed, timedelta(hours=live_hours), disruptions)
    msgs = sim.messages_between(sim.start, LIVE + timedelta(hours=live_hours + tail_hours))
    events: list[Event] = []
    for m in msgs:
        evs, errors = parse_message(m.value)
        assert errors == [], (m, errors)
        events.extend(evs)
    return sim, msgs, events
