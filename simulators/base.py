"""Abstract pieces of the simulator: processes that evolve the world, disruptions, ground truth.

Where this sits in the flow: **source** -> validate -> detect -> incident -> rule -> sink. A
``Process`` owns one part of the world (fridges, fleet, shelves, supply) and, stepped once per
simulated minute, says what its devices would send. A ``Disruption`` is a fault injected into that
normal behaviour; processes look up the disruptions that concern them in a ``DisruptionSchedule``
and each disruption states the ``GroundTruth`` incident the monitor is expected to open.
"""

from __future__ import annotations

import abc
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, ClassVar, TypeVar

from streams.events import Event

if TYPE_CHECKING:  # pragma: no cover
    from simulators.world import World

MINUTE = timedelta(minutes=1)


@dataclass(frozen=True)
class GroundTruth:
    """An incident the monitor should open: on which entity, of which kind, and when.

    ``kind`` is the incident kind (``cold_chain_excursion``, ``vehicle_stopped``, ``stockout_risk``,
    ``demand_spike``, ``supplier_late``, ``device_silent``, ``site_silent``); ``entity`` is the id
    the monitor keys it by (fridge id, vehicle id, ``"store:sku"``, shipment id, device id, site
    id). ``end`` is when conditions are back to normal (None: never).

    ``kind`` ``sensor_fault`` is the one that is not an incident: a probe that lies about a fridge
    that is fine. It is detected by the detector's anomaly score on ``metric`` of ``entity`` (or by
    any incident the lie causes on that entity). ``disruption`` names the scenario kind that
    caused it (``fridge_failure``, ``door_left_open``...), for per-disruption reports.
    """

    entity: str
    kind: str
    start: datetime
    end: datetime | None
    site: str | None
    metric: str | None = None
    disruption: str | None = None

    def covers(self, t: datetime) -> bool:
        return self.start <= t and (self.end is None or t < self.end)


@dataclass(frozen=True)
class Outgoing:
    """What one device sends in one message: a single event, or a gateway batch of events."""

    topic: str  # topic suffix, e.g. "coldchain"
    key: str
    ts: datetime
    events: tuple[Event, ...]
    gateway: str | None = None  # set: send as a GatewayBatch envelope
    site: str | None = None  # the site whose network carries it (None: the device's own link)

    @property
    def is_batch(self) -> bool:
        return self.gateway is not None


@dataclass(frozen=True, kw_only=True)
class Disruption(abc.ABC):
    """A fault injected into normal operation between ``start`` and ``end`` (simulated UTC time).

    Subclasses name their target (``fridge``, ``vehicle``...) as an optional field; ``bind``
    fills a missing target from the world, so a scenario can be written before the world exists.
    """

    incident_kind: ClassVar[str]
    #: the name scenario files and reports use for this kind of disruption (``fridge_failure``)
    name: ClassVar[str] = ""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        for name in ("start", "end"):
            value = getattr(self, name)
            if not isinstance(value, datetime) or value.tzinfo is None:
                raise ValueError(f"{type(self).__name__}.{name} must be a timezone-aware datetime; got {value!r}")
        if self.end <= self.start:
            raise ValueError(
                f"{type(self).__name__}.end must be after start; got start={self.start.isoformat()} "
                f"end={self.end.isoformat()}"
            )

    def active(self, t: datetime) -> bool:
        return self.start <= t < self.end

    @property
    @abc.abstractmethod
    def entity(self) -> str:
        """The id of the entity the incident is about; only valid once bound."""

    @abc.abstractmethod
    def bind(self, world: World) -> Disruption:
        """Return a copy with every target resolved against ``world`` (and checked to exist)."""

    @abc.abstractmethod
    def ground_truth(self, world: World) -> GroundTruth:
        """The incident the monitor should open for this disruption."""

    def ground_truths(self, world: World) -> list[GroundTruth]:
        """Every incident the monitor should open (a regional closure closes several sites)."""
        return [self.ground_truth(world)]


D = TypeVar("D", bound=Disruption)


@dataclass
class DisruptionSchedule:
    """The bound disruptions of one simulation, looked up by type and target entity."""

    disruptions: Sequence[Disruption] = field(default_factory=tuple)

    def of_type(self, kind: type[D]) -> list[D]:
        return [d for d in self.disruptions if isinstance(d, kind)]

    def active(self, kind: type[D], entity: str, t: datetime) -> D | None:
        for d in self.disruptions:
            if isinstance(d, kind) and d.entity == entity and d.active(t):
                return d
        return None

    def for_entity(self, kind: type[D], entity: str) -> list[D]:
        return [d for d in self.disruptions if isinstance(d, kind) and d.entity == entity]


class Process(abc.ABC):
    """One part of the world that evolves once per simulated minute.

    ``step`` is called for consecutive minutes only, so a process may keep state; everything it
    draws at random comes from generators seeded by the simulation seed and the entity id.
    """

    @abc.abstractmethod
    def step(self, t: datetime) -> Iterable[Outgoing]:
        """Advance over the minute starting at ``t`` and return what was sent during it."""


def entity_rng(seed: int, *names: object) -> random.Random:
    """A random generator private to one entity, so adding an entity does not reshuffle the others."""
    # random.Random seeds a str through SHA-512: stable across runs and PYTHONHASHSEED.
    return random.Random(":".join(str(n) for n in (seed, *names)))
