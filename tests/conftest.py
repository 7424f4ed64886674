"""Shared fixtures: real servers on loopback (broker, VictoriaMetrics, Mosquitto) and flow helpers."""

from __future__ import annotations

import pytest

from connectors.broker import BrokerUnavailable, LocalBroker
from tests.servers import start_mosquitto, start_victoria


@pytest.fixture(scope="session")
def broker(tmp_path_factory):
    """A Tansu Kafka-protocol broker on a free loopback port."""
    try:
        b = LocalBroker(log_path=tmp_path_factory.mktemp("tansu") / "broker.log").start()
    except BrokerUnavailable as exc:
        pytest.skip(str(exc))
    yield b
    b.stop()


@pytest.fixture(scope="session")
def victoria(tmp_path_factory):
    """VictoriaMetrics, the real store behind the InfluxDB v2 write API in tests."""
    server = start_victoria(tmp_path_factory.mktemp("victoria"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def mosquitto(tmp_path_factory):
    server = start_mosquitto(tmp_path_factory.mktemp("mosquitto"))
    yield server
    server.stop()


@pytest.fixture
def oncall(tmp_path):
    """A real Alertmanager routing every alert to a local webhook receiver (the on-call phone)."""
    from tests.servers import WebhookReceiver, start_alertmanager

    receiver = WebhookReceiver()
    am = start_alertmanager(tmp_path, receiver.url)
    am.receiver = receiver
    am.url = f"http://127.0.0.1:{am.port}"
    yield am
    am.stop()
    receiver.stop()
