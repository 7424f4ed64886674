"""Simulation output as bytes (deterministic, valid, chunk-independent) and a real run to a broker."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from simulators import Simulation, World, run_simulation
from simulators.producer import SimulationStats
from streams.events import GatewayBatch, parse_message
from streams.topics import INPUT_TOPICS
from tests.simulators import LIVE, run_day, simulation


def test_same_seed_same_bytes_other_seed_other_bytes():
    a = simulation(seed=11).events_between(LIVE - timedelta(hours=6), LIVE + timedelta(hours=2))
    b = simulation(seed=11).events_between(LIVE - timedelta(hours=6), LIVE + timedelta(hours=2))
    c = simulation(seed=12).events_between(LIVE - timedelta(hours=6), LIVE + timedelta(hours=2))
    assert a == b
    assert a != c
    assert all(isinstance(t, str) and isinstance(k, bytes) and isinstance(v, bytes) for t, k, v in a)


def test_any_chunking_gives_the_same_stream():
    t0, t1 = LIVE - timedelta(hours=1), LIVE + timedelta(hours=1)
    whole = simulation().events_between(t0, t1)
    sim, chunks, t = simulation(), [], t0
    for step_s in [7, 61, 3600, 13, 900, 120] * 20:
        if t >= t1:
            break
        nxt = min(t1, t + timedelta(seconds=step_s))
        chunks.extend(sim.events_between(t, nxt))
        t = nxt
    assert chunks == whole
    assert sim.events_between(t0, t1) == whole  # going back replays the same world


def test_messages_are_valid_time_ordered_keyed_by_entity_and_uniquely_identified():
    sim, msgs, events = run_day()
    assert [m.ts for m in msgs] == sorted(m.ts for m in msgs)
    assert {m.topic for m in msgs} == set(INPUT_TOPICS.values())
    ids = [e.event_id for e in events]
    assert len(ids) == len(set(ids)) and all(ids)
    for m in msgs:
        evs, _ = parse_message(m.value)
        assert all(INPUT_TOPICS[e.kind] == m.topic and e.ts.utcoffset() == timedelta(0) for e in evs)
        doc = orjson.loads(m.value)
        if doc.get("kind") == "batch":
            assert m.topic == "coldchain" and GatewayBatch.model_validate(doc).gateway == m.key.decode()
            assert {e.site for e in evs} == {sim.world.site(m.key.decode().removesuffix("-gw")).id}
        else:
            assert evs[0].entity == m.key.decode()
        assert doc.get("ts", doc.get("events", [{}])[0].get("ts")).endswith("Z")
    # one fridge batch per site per minute
    assert Counter(m.topic for m in msgs)["coldchain"] == len(sim.world.sites) * 24 * 60


def test_simulation_checks_its_arguments():
    with pytest.raises(ValueError, match="start must be a timezone-aware datetime"):
        Simulation(World.generate(), datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="malformed_every must be an int >= 0"):
        Simulation(World.generate(), LIVE, malformed_every=-1)
    sim = Simulation(World.generate(), LIVE)
    assert sim.ground_truth == [] and sim.events_between(LIVE, LIVE) == []
    assert sim.clock.local(LIVE).strftime("%H:%M") == "06:30"  # history starts in the morning


# -- against a real Kafka-protocol broker (Tansu) --------------------------------------------


@pytest.mark.servers
def test_run_simulation_produces_every_message_to_the_broker(broker):
    from kafka import KafkaConsumer

    prefix = f"simtest{uuid.uuid4().hex[:8]}"
    progress: list[SimulationStats] = []
    started = time.monotonic()
    stats = run_simulation([broker.bootstrap], seed=5, speed=600.0, duration_s=2.0,
                           backfill=timedelta(minutes=30), topic_prefix=prefix, malformed_every=25,
                           on_progress=progress.append, progress_every_s=0.2)
    assert time.monotonic() - started < 30
    assert stats.messages == sum(stats.per_topic.values()) > 0
    assert stats.malformed > 0 and stats.events + stats.malformed >= stats.messages
    assert set(stats.per_topic) == {f"{prefix}.{s}" for s in set(INPUT_TOPICS.values())}
    assert len(stats.ground_truth) == 4 and progress and progress[-1].phase == "done"
    # 30 min of backfill + 2 wall-seconds at 600x = 20 sim-minutes live
    assert stats.sim_time - stats.live_start == timedelta(minutes=20)

    consumer = KafkaConsumer(*stats.per_topic, bootstrap_servers=[broker.bootstrap],
                             auto_offset_reset="earliest", enable_auto_commit=False, group_id=None)
    got: Counter = Counter()
    valid = malformed = 0
    deadline = time.monotonic() + 60
    while sum(got.values()) < stats.messages and time.monotonic() < deadline:
        for records in consumer.poll(timeout_ms=500).values():
            for rec in records:
                got[rec.topic] += 1
                events, errors = parse_message(rec.value)
                valid += len(events)
                malformed += len(errors)
    extra = consumer.poll(timeout_ms=500)  # and nothing more than that
    consumer.close()
    assert not any(extra.values())
    assert dict(got) == stats.per_topic
    assert (valid, malformed) == (stats.events, stats.malformed)


@pytest.mark.servers
def test_run_simulation_stops_on_the_event_and_live_runs_at_speed(broker):
    stop = threading.Event()
    timer = threading.Timer(1.5, stop.set)
    timer.start()
    started = time.monotonic()
    stats = run_simulation(broker.bootstrap, speed=60.0, duration_s=None, backfill=timedelta(0),
                           topic_prefix=f"simstop{uuid.uuid4().hex[:8]}", stop_event=stop)
    wall = time.monotonic() - started
    assert wall < 10
    assert stats.phase == "done" and stats.messages > 0
    # sim time == wall time at live start, then 60 sim-seconds per wall-second
    assert stats.live_start <= datetime.now(UTC)
    lag = (stats.sim_time - stats.live_start).total_seconds()
    assert 0.5 * 60 <= lag <= wall * 60 + 1


def test_run_simulation_fails_clearly_without_a_broker():
    with pytest.raises(ConnectionError, match="no Kafka broker reachable at 127.0.0.1:1"):
        run_simulation(["127.0.0.1:1"], duration_s=0.1, backfill=timedelta(0),
                       producer_config={"bootstrap_timeout_ms": 1000})
