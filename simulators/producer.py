"""Turn the simulated world into Kafka messages, in memory (``Simulation``) or to a broker.

Where this sits in the flow: **source** -> validate -> detect -> incident -> rule -> sink.

``Simulation`` steps the world's processes minute by minute and serialises what they send into
``(topic_suffix, key, value)`` triples: the exact bytes a real gateway, tracker, till or supplier
portal would put on the input topics. It is pure and deterministic (same world, start, seed and
disruptions: same bytes), so most tests run against it in memory.

``run_simulation`` sends those messages with kafka-python: first ``backfill`` of history as fast as
the broker takes it (so detectors are warm), then live, with simulated time running ``speed``
times faster than the wall clock. Simulated time equals wall time at the live start.

Business hours: the world's local clock is anchored so that the live start reads 12:30 local
(``LIVE_LOCAL_TIME``), whatever the real hour is. With the default 6 h backfill the history covers
06:30-12:30 (shops open at 06:00, vans leave from 06:00), and with the default 10 sim-hours of a
run (10 wall-minutes at 60x) the disruptions fall in the afternoon, while shops are busy and vans
are out.
"""

from __future__ import annotations

import logging
import threading
import time as _time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta

import orjson

from simulators.base import MINUTE, Disruption, DisruptionSchedule, GroundTruth, Outgoing, entity_rng
from simulators.clock import BusinessClock, LiveClock
from simulators.scenarios import RegionalClosure, SiteSilent, corrupt_message, default_disruptions
from simulators.world import ColdChainProcess, FleetProcess, RetailProcess, Stockroom, SupplyProcess, World

log = logging.getLogger(__name__)

#: Local time of the simulated world at the moment a run goes live.
LIVE_LOCAL_TIME = time(12, 30)
#: When a run has no duration, disruptions are placed as if it lasted this many wall seconds.
PLANNED_WALL_S_WITHOUT_DURATION = 600.0
DEFAULT_BACKFILL = timedelta(hours=6)


@dataclass(frozen=True)
class SimMessage:
    """One Kafka message of the simulation, with what it carries for the stats."""

    topic: str  # suffix, e.g. "coldchain"
    key: bytes | None
    value: bytes
    ts: datetime
    events: int  # valid events in it (items of a batch counted one by one)
    malformed: int  # deliberately malformed messages/items in it

    def as_tuple(self) -> tuple[str, bytes | None, bytes]:
        return self.topic, self.key, self.value


class Simulation:
    """The world's messages for any simulated time range, deterministic for a seed.

    ``start`` is where simulated history begins (the start of the backfill). ``live_start`` is
    the instant the local clock is anchored to ``live_local_time`` (default: ``start`` + 6 h,
    which makes ``start`` 06:30 local). ``malformed_every=N`` replaces every Nth message by a
    malformed copy of itself (broken JSON, a missing ``ts``, ``"NaN"`` readings, wrong types, naive
    timestamps, out-of-range values, unknown kinds), for dead-letter demos.
    """

    def __init__(self, world: World, start: datetime, seed: int = 7,
                 disruptions: Sequence[Disruption] | None = None, malformed_every: int = 0, *,
                 live_start: datetime | None = None, live_local_time: time = LIVE_LOCAL_TIME):
        if not isinstance(world, World):
            raise TypeError(f"world must be a simulators.world.World; got {type(world).__name__}")
        if not isinstance(start, datetime) or start.tzinfo is None:
            raise ValueError(f"start must be a timezone-aware datetime; got {start!r}")
        if not isinstance(malformed_every, int) or malformed_every < 0:
            raise ValueError(f"malformed_every must be an int >= 0 (0 = never); got {malformed_every!r}")
        self.world = world
        self.start = start.astimezone(UTC)
        self.seed = seed
        self.malformed_every = malformed_every
        self.live_start = (live_start or self.start + DEFAULT_BACKFILL).astimezone(UTC)
        self.clock = BusinessClock.anchored(self.live_start, live_local_time)
        bound = [d.bind(world) for d in (disruptions or ())]
        self.disruptions: list[Disruption] = bound
        self.schedule = DisruptionSchedule(tuple(bound))
        self.ground_truth: list[GroundTruth] = [g for d in bound for g in d.ground_truths(world)]
        self._silencers = [d for d in bound if isinstance(d, (SiteSilent, RegionalClosure))]
        self._reset()

    def _reset(self) -> None:
        stock = Stockroom.opening(self.world)
        args = (self.world, self.schedule, self.clock, self.seed)
        self._processes = [
            ColdChainProcess(*args),
            FleetProcess(*args),
            RetailProcess(*args, stock),
            SupplyProcess(*args, stock, self.start),
        ]
        self._fault_rng = entity_rng(self.seed, "malformed")
        self._sent = 0
        self._generated_until = self.start  # minutes before this have been stepped
        self._buffer: list[SimMessage] = []  # stepped but not yet handed out, in time order
        self._handed_out_until = self.start

    # -- public ---------------------------------------------------------------------------

    def events_between(self, t0: datetime, t1: datetime) -> list[tuple[str, bytes | None, bytes]]:
        """``(topic_suffix, key, value)`` of every message with sim time in [t0, t1), in time order."""
        return [m.as_tuple() for m in self.messages_between(t0, t1)]

    def messages_between(self, t0: datetime, t1: datetime) -> list[SimMessage]:
        """Like ``events_between`` with timestamps and counts; any chunking gives the same stream."""
        for name, value in (("t0", t0), ("t1", t1)):
            if not isinstance(value, datetime) or value.tzinfo is None:
                raise ValueError(f"{name} must be a timezone-aware datetime; got {value!r}")
        if t1 <= t0:
            return []
        if t0 < self._handed_out_until:
            self._reset()  # going back in time: replay from the start, the result is the same
        while self._generated_until < t1:
            self._buffer.extend(self._step(self._generated_until))
            self._generated_until += MINUTE
        keep, out = [], []
        for m in self._buffer:
            if m.ts < t1:
                if m.ts >= t0:
                    out.append(m)
            else:
                keep.append(m)
        self._buffer = keep
        self._handed_out_until = t1
        return out

    # -- internals -------------------------------------------------------------------------

    def _step(self, t: datetime) -> list[SimMessage]:
        outgoing: list[Outgoing] = []
        for process in self._processes:
            outgoing.extend(process.step(t))
        outgoing.sort(key=lambda o: o.ts)  # stable: ties keep process order
        silent = [d for d in self._silencers if d.active(t)]
        if silent:  # the site's network is down: what happens there is real but never arrives
            outgoing = [o for o in outgoing if o.site is None or not any(d.silences(o.site) for d in silent)]
        return [self._serialise(o) for o in outgoing]

    def _serialise(self, o: Outgoing) -> SimMessage:
        items = [e.model_dump(mode="json", exclude_none=True) for e in o.events]
        self._sent += 1
        key = o.key.encode()
        if self.malformed_every and self._sent % self.malformed_every == 0:
            value, good, bad = corrupt_message(items, o.gateway, self._fault_rng)
            return SimMessage(o.topic, key, value, o.ts, good, bad)
        if o.is_batch:
            value = orjson.dumps({"kind": "batch", "gateway": o.gateway, "events": items})
        else:
            value = orjson.dumps(items[0])
        return SimMessage(o.topic, key, value, o.ts, len(items), 0)


# --------------------------------------------------------------------------------------------
# Sending to Kafka


@dataclass
class SimulationStats:
    """What a run produced. ``per_topic`` counts messages by full topic name."""

    messages: int = 0
    events: int = 0
    malformed: int = 0
    ground_truth: list[GroundTruth] = field(default_factory=list)
    per_topic: dict[str, int] = field(default_factory=dict)
    phase: str = "backfill"  # backfill | live | done
    sim_time: datetime | None = None
    live_start: datetime | None = None

    def add(self, topic: str, m: SimMessage) -> None:
        self.messages += 1
        self.events += m.events
        self.malformed += m.malformed
        self.per_topic[topic] = self.per_topic.get(topic, 0) + 1


class ProduceError(RuntimeError):
    """The broker refused or lost messages; carries how many and the first error."""

    def __init__(self, message: str, failed: int):
        super().__init__(message)
        self.failed = failed


def _kafka_producer(servers: list[str], **overrides):
    try:
        from kafka import KafkaProducer
        from kafka import errors as kafka_errors
    except ImportError as exc:  # pragma: no cover - a core dependency
        raise ImportError("the simulator needs kafka-python: pip install opswatch") from exc
    # kafka-python 2.x says NoBrokersAvailable, 3.x times out bootstrapping
    unreachable = tuple(e for e in (getattr(kafka_errors, "NoBrokersAvailable", None),
                                    getattr(kafka_errors, "KafkaTimeoutError", None)) if e is not None)
    config = {"bootstrap_servers": servers, "acks": "all", "linger_ms": 5, "retries": 5,
              "client_id": "opswatch-simulator", **overrides}
    try:
        return KafkaProducer(**config)
    except unreachable as exc:
        raise ConnectionError(f"simulator: no Kafka broker reachable at {','.join(servers)}: {exc}") from None


def run_simulation(
    bootstrap_servers: list[str] | str,
    *,
    seed: int = 7,
    speed: float = 60.0,
    duration_s: float | None = None,
    backfill: timedelta = DEFAULT_BACKFILL,
    topic_prefix: str = "opswatch",
    malformed_every: int = 0,
    stop_event: threading.Event | None = None,
    on_progress: Callable[[SimulationStats], None] | None = None,
    world: World | None = None,
    disruptions: Sequence[Disruption] | None = None,
    producer_config: dict | None = None,
    progress_every_s: float = 1.0,
) -> SimulationStats:
    """Produce ``backfill`` of history as fast as possible, then run live until stopped.

    The live start is the wall-clock moment the run starts (sim time == wall time there); the
    history before it is sent first, as fast as the broker takes it, and the live part then
    catches up with the sim clock, which advances ``speed`` sim-seconds per wall-second. Each
    message is sent once its sim time has come. The run stops after ``duration_s`` wall seconds
    of live time (None: when ``stop_event`` is set), flushes and returns the stats.

    ``disruptions`` defaults to ``default_disruptions`` over the planned live duration
    (``duration_s`` x ``speed``; 10 wall-minutes' worth if ``duration_s`` is None). ``world``
    defaults to ``World.generate(seed)``. ``on_progress(stats)`` is called about every
    ``progress_every_s`` and once at the end (``stats.phase`` is then ``"done"``).
    """
    servers = [s.strip() for s in bootstrap_servers.split(",")] if isinstance(bootstrap_servers, str) \
        else list(bootstrap_servers)
    if not servers or not all(servers):
        raise ValueError(f"bootstrap_servers must name at least one host:port; got {bootstrap_servers!r}")
    if not speed > 0:
        raise ValueError(f"speed must be > 0 sim-seconds per wall-second; got {speed!r}")
    if duration_s is not None and not duration_s >= 0:
        raise ValueError(f"duration_s must be >= 0 or None; got {duration_s!r}")
    if not isinstance(backfill, timedelta) or backfill < timedelta(0):
        raise ValueError(f"backfill must be a timedelta >= 0; got {backfill!r}")
    stop = stop_event or threading.Event()

    producer = _kafka_producer(servers, **(producer_config or {}))
    failures: list[BaseException] = []
    wall0 = _time.monotonic()
    try:
        live_start = datetime.now(UTC).replace(microsecond=0)
        clock = LiveClock(live_start, speed)
        planned = timedelta(seconds=(duration_s or PLANNED_WALL_S_WITHOUT_DURATION) * speed)
        if disruptions is None:
            disruptions = default_disruptions(live_start, planned)
        sim = Simulation(world or World.generate(seed=seed), live_start - backfill, seed=seed,
                         disruptions=disruptions, malformed_every=malformed_every, live_start=live_start)
        stats = SimulationStats(ground_truth=list(sim.ground_truth), live_start=live_start)
        last_progress = _time.monotonic()

        def send(messages: list[SimMessage]) -> None:
            nonlocal last_progress
            for m in messages:
                topic = f"{topic_prefix}.{m.topic}"
                future = producer.send(topic, key=m.key, value=m.value,
                                       timestamp_ms=int(m.ts.timestamp() * 1000))
                future.add_errback(failures.append)
                stats.add(topic, m)
            if on_progress is not None and _time.monotonic() - last_progress >= progress_every_s:
                last_progress = _time.monotonic()
                on_progress(stats)

        t = sim.start
        while t < live_start and not stop.is_set():
            t1 = min(t + timedelta(minutes=10), live_start)
            send(sim.messages_between(t, t1))
            stats.sim_time = t = t1
        log.info("simulator backfill: %d messages, %d events, sim %s .. %s in %.1fs", stats.messages,
                 stats.events, sim.start.isoformat(), live_start.isoformat(), _time.monotonic() - wall0)
        stats.phase = "live"
        cursor = live_start
        while not stop.is_set():
            done = duration_s is not None and clock.elapsed_wall_s() >= duration_s
            now = live_start + timedelta(seconds=duration_s * speed) if done else clock.now()
            send(sim.messages_between(cursor, now))
            stats.sim_time = cursor = now
            if done:
                break
            stop.wait(0.05)
    finally:
        producer.flush()
        producer.close()
    stats.phase = "done"
    log.info("simulator done: %d messages (%d events, %d malformed), sim %s .. %s, %.1fs wall", stats.messages,
             stats.events, stats.malformed, sim.start.isoformat(), stats.sim_time.isoformat(),
             _time.monotonic() - wall0)
    if on_progress is not None:
        on_progress(stats)
    if failures:
        raise ProduceError(f"simulator: {len(failures)} of {stats.messages} messages not delivered to "
                           f"{','.join(servers)}; first error: {failures[0]!r}", failed=len(failures))
    return stats


__all__ = ["ProduceError", "SimMessage", "Simulation", "SimulationStats", "run_simulation"]
