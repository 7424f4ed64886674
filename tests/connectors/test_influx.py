"""The InfluxDB sink against a real store: VictoriaMetrics' InfluxDB v2 write endpoint."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from connectors.base import to_line
from connectors.filestore import LineProtocolFile, count_points
from connectors.influx import InfluxSink
from streams.metrics import point
from tests.servers import victoria_export

T = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def _points(n: int, fridge: str = "F1"):
    return [point("cold_chain", {"site": "S1", "fridge": fridge}, {"temp_c": 4.0 + i / 10, "door_open": 0},
                  T + timedelta(minutes=i)) for i in range(n)]


def test_points_written_with_influxdb_client_can_be_read_back(victoria, tmp_path):
    sink = InfluxSink(f"http://127.0.0.1:{victoria.port}", "token", "org", "bucket", spool_dir=tmp_path)
    sink.setup()
    sink.add(_points(50, "F-read"))
    assert sink.flush() == 50
    series = victoria_export(victoria.port, '{__name__="cold_chain_temp_c",fridge="F-read"}')
    assert len(series) == 1
    assert series[0]["metric"]["site"] == "S1"
    assert len(series[0]["values"]) == 50
    assert series[0]["values"][:3] == [4.0, 4.1, 4.2]
    assert series[0]["timestamps"][0] == int(T.timestamp() * 1000)


def test_replayed_points_overwrite_themselves(victoria, tmp_path):
    sink = InfluxSink(f"http://127.0.0.1:{victoria.port}", "", "org", "bucket", spool_dir=tmp_path)
    sink.setup()
    for _ in range(3):
        sink.add(_points(10, "F-idem"))
        sink.flush()
    series = victoria_export(victoria.port, '{__name__="cold_chain_temp_c",fridge="F-idem"}')
    assert len(series[0]["values"]) == 10


def test_failed_batch_is_spooled_then_delivered(victoria, tmp_path):
    from connectors.broker import free_port

    dead = InfluxSink(f"http://127.0.0.1:{free_port()}", "", "org", "bucket", spool_dir=tmp_path,
                      max_retries=1, backoff_s=0.01, timeout_ms=500)
    dead.setup()
    dead.add(_points(20, "F-spool"))
    dead.flush()  # the store is down: nothing lost, the batch is on disk
    assert dead.write_errors == 1 and dead.spooled_points == 20 and dead.points_written == 0
    assert len(dead.spool_files()) == 1
    # the store comes back (same spool dir, now pointing at a live store)
    live = InfluxSink(f"http://127.0.0.1:{victoria.port}", "", "org", "bucket", spool_dir=tmp_path)
    live.setup()
    live.add(_points(5, "F-spool-new"))
    live.flush()
    assert live.spool_files() == []
    assert len(victoria_export(victoria.port, '{__name__="cold_chain_temp_c",fridge="F-spool"}')[0]["values"]) == 20
    assert live.points_written == 25


def test_arguments_are_checked_in_init():
    with pytest.raises(ValueError, match=r"url must be an http:// or https:// URL; got 'localhost:8086'"):
        InfluxSink("localhost:8086", "", "o", "b")


def test_file_store_appends_line_protocol(tmp_path):
    sink = LineProtocolFile(tmp_path / "m.lp")
    sink.setup()
    sink.add(_points(7))
    sink.flush()
    sink.add(_points(3))
    sink.flush()
    assert count_points(tmp_path / "m.lp") == 10
    first = (tmp_path / "m.lp").read_text().splitlines()[0]
    assert first == to_line(_points(1)[0])
    assert first.startswith("cold_chain,fridge=F1,site=S1 door_open=0") and first.endswith(
        str(int(T.timestamp()) * 10**9))
