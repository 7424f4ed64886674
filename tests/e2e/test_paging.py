"""On-call pages end to end: simulator -> Tansu -> Faust worker -> real Alertmanager -> webhook.

Each injected disruption gives exactly one firing and one resolved notification and nothing else
pages; killing the worker with SIGKILL while incidents are open and starting it again adds no
notification.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from kafka import KafkaProducer

from connectors.broker import free_port
from connectors.kafka import ensure_topics
from simulators import Simulation, World, default_disruptions
from streams.local_worker import LocalWorker
from streams.settings import KafkaSettings

pytestmark = pytest.mark.servers

LIVE = datetime(2026, 3, 4, 11, 0, tzinfo=UTC)
SPAN = timedelta(hours=3)


def _produce(bootstrap, prefix, messages):
    p = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    for suffix, key, value in messages:
        p.send(f"{prefix}.{suffix}", key=key, value=value)
    p.flush()
    p.close()


def _wait(pred, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.5)
    return pred()


def test_one_page_and_one_resolve_per_disruption_across_a_sigkill(broker, oncall, tmp_path):
    prefix = f"page{free_port()}"
    ensure_topics(KafkaSettings(bootstrap_servers=broker.bootstrap, topic_prefix=prefix, partitions=2))
    worker = LocalWorker(broker.bootstrap, prefix, tmp_path / "data", tmp_path / "worker.log", settings={
        "OPSWATCH_KAFKA__PARTITIONS": "2", "OPSWATCH_WORKER__TICK_S": "1", "OPSWATCH_WORKER__BATCH_WITHIN_S": "0.1",
        "OPSWATCH_ALERTMANAGER__URL": oncall.url, "OPSWATCH_ALERTMANAGER__RESEND_S": "2",
        "OPSWATCH_INFLUX__FILE_STORE": str(tmp_path / "m.lp")})
    sim = Simulation(World.generate(seed=7), LIVE - timedelta(hours=6), seed=7,
                     disruptions=default_disruptions(LIVE, SPAN), live_start=LIVE)
    truth = {(g.kind, g.entity) for g in sim.ground_truth}
    assert {k for k, _ in truth} >= {"cold_chain_excursion", "vehicle_stopped", "stockout_risk"}
    # first part: history and the start of every disruption (all open at LIVE + 80 min)
    cut = LIVE + timedelta(minutes=80)
    first = sim.events_between(LIVE - timedelta(hours=6), cut)
    rest = sim.events_between(cut, LIVE + SPAN)
    worker.start()
    try:
        _produce(broker.bootstrap, prefix, first)
        assert _wait(lambda: len({i for s, i in oncall.receiver.notifications() if s == "firing"}) >= len(truth),
                     120), oncall.receiver.notifications()
        firing_before = oncall.receiver.notifications()
        # the worker dies hard while every incident is open, and comes back
        worker.kill()
        worker.start()
        time.sleep(8)  # re-sends of the open alerts reach Alertmanager; they must page nobody
        assert oncall.receiver.notifications() == firing_before
        _produce(broker.bootstrap, prefix, rest)
        assert _wait(lambda: sum(s == "resolved" for s, _ in oncall.receiver.notifications()) >= len(truth), 120)
        time.sleep(4)
        stats = worker.stats()
    finally:
        worker.stop()
    notes = oncall.receiver.notifications()
    print(f"disruptions={len(truth)} notifications={len(notes)} "
          f"firing={sum(s == 'firing' for s, _ in notes)} resolved={sum(s == 'resolved' for s, _ in notes)} "
          f"after-restart stats={stats}")
    by_incident: dict[str, list[str]] = {}
    for status, iid in notes:
        by_incident.setdefault(iid, []).append(status)
    assert all(v == ["firing", "resolved"] for v in by_incident.values()), by_incident
    paged = {(iid.split(":")[0], iid.split(":", 1)[1].rsplit(":", 1)[0]) for iid in by_incident}
    assert paged == truth
