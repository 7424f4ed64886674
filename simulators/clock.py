"""Simulated time: the world's local business day, and the live mapping of wall time to sim time.

Where this sits in the flow: **source** (simulator) -> validate -> detect -> incident -> rule -> sink.

Event timestamps are always the simulated UTC time. The business day (shop opening hours, van
shifts, the lunch and evening rush) runs on a *local* clock that is the UTC sim time shifted by a
fixed offset. The offset is not a real time zone: it is chosen so that a chosen instant falls at a
chosen local time, which is how a demo started at any hour of the real day still goes live at
mid-day in the simulated world (see ``BusinessClock.anchored``).
"""

from __future__ import annotations

import math
import time as _time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta

DAY = timedelta(days=1)


@dataclass(frozen=True)
class BusinessClock:
    """Local wall-clock of the simulated world: ``local = utc + offset``."""

    offset: timedelta = timedelta(0)

    @classmethod
    def anchored(cls, instant: datetime, local: time) -> BusinessClock:
        """The clock on which ``instant`` reads ``local`` (offset normalised to [0, 24 h))."""
        if instant.tzinfo is None:
            raise ValueError(f"instant must be timezone-aware; got {instant!r}")
        utc_tod = timedelta(hours=instant.hour, minutes=instant.minute, seconds=instant.second,
                            microseconds=instant.microsecond)
        want = timedelta(hours=local.hour, minutes=local.minute, seconds=local.second)
        return cls(offset=(want - utc_tod) % DAY)

    def local(self, t: datetime) -> datetime:
        """Naive local datetime (naive on purpose: it must never be mistaken for a UTC timestamp)."""
        return (t + self.offset).replace(tzinfo=None)

    def hour(self, t: datetime) -> float:
        """Local hour of day as a float in [0, 24)."""
        lt = self.local(t)
        return lt.hour + lt.minute / 60 + lt.second / 3600

    def day(self, t: datetime) -> str:
        """Local calendar day as YYYYMMDD, used for route ids."""
        return self.local(t).strftime("%Y%m%d")


#: Shops are open OPEN_H..CLOSE_H local time; vans run their routes SHIFT_START_H..SHIFT_END_H.
OPEN_H = 6.0
CLOSE_H = 22.0
SHIFT_START_H = 6.0
SHIFT_END_H = 20.0


def shop_demand_profile(hour: float) -> float:
    """Relative footfall at a local hour: 0 when closed, a lunch peak and a bigger evening peak."""
    if not OPEN_H <= hour < CLOSE_H:
        return 0.0
    return (0.35 + 0.8 * math.exp(-(((hour - 12.5) / 1.4) ** 2))
            + 1.0 * math.exp(-(((hour - 17.5) / 1.8) ** 2)))


def _profile_stats(steps_per_hour: int = 60) -> tuple[float, float]:
    values = [shop_demand_profile(i / steps_per_hour) for i in range(24 * steps_per_hour)]
    open_values = [v for v in values if v > 0]
    return sum(open_values) / len(open_values), max(values)


#: Mean of the profile over opening hours, and its peak: demand rates are "units per open hour".
PROFILE_MEAN, PROFILE_PEAK = _profile_stats()


def traffic_speed_factor(hour: float) -> float:
    """Road speed relative to free flow at a local hour (rush hours are slower)."""
    jam = 0.45 * math.exp(-(((hour - 8.25) / 0.9) ** 2)) + 0.5 * math.exp(-(((hour - 17.5) / 1.1) ** 2))
    return 1.0 - jam


@dataclass
class LiveClock:
    """Sim time that advances ``speed`` sim-seconds per wall-second from ``sim_start``.

    ``monotonic`` is injectable so tests can drive the clock without sleeping.
    """

    sim_start: datetime
    speed: float
    monotonic: Callable[[], float] = _time.monotonic

    def __post_init__(self) -> None:
        if not self.speed > 0:
            raise ValueError(f"speed must be > 0 sim-seconds per wall-second; got {self.speed!r}")
        self._wall0 = self.monotonic()

    def elapsed_wall_s(self) -> float:
        return self.monotonic() - self._wall0

    def now(self) -> datetime:
        return self.sim_start + timedelta(seconds=self.elapsed_wall_s() * self.speed)
