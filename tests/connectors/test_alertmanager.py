"""Paging against a real Alertmanager routing to a local webhook receiver."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from connectors.alertmanager import AlertmanagerPager, alert_for
from connectors.base import SinkError
from streams.incidents import IncidentBook
from streams.records import Recommendation

T = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def wait_for(pred, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.1)
    return pred()


def _open_and_resolve():
    book = IncidentBook()
    ev = {"observed_temp_c": 9.1, "expected_temp_c": 3.5, "limit_c": 8.0}
    opened = [book.observe("cold_chain_excursion", "F1", T.replace(minute=m), True, site="S1",
                           severity="critical", summary="Fridge F1 at S1 is 9.1 °C", evidence=ev)
              for m in range(2)]
    resolved = [book.observe("cold_chain_excursion", "F1", T.replace(minute=10 + m), False, site="S1")
                for m in range(3)]
    return [c for c in opened if c][0], [c for c in resolved if c][0]


def test_alert_text_says_what_where_since_evidence_and_action():
    opened, _ = _open_and_resolve()
    rec = Recommendation("r1", "chilled_stock_move", opened.incident.incident_id, "F1",
                         "Move 120 units of chilled stock from S1 to cold room at WH", "S1", "WH", 120.0,
                         "units", "2026-03-02T10:00:00+00:00", "saves 120 units", {}, T.isoformat())
    alert = alert_for(opened.record(), [rec.record()], ends_at=None, now=T)
    assert alert["labels"]["alertname"] == "ColdChainExcursion"
    assert alert["labels"]["team"] == "cold-chain" and alert["labels"]["severity"] == "critical"
    d = alert["annotations"]["description"]
    assert "Fridge F1 at S1" in d and "Since: 2026-03-02T08:00:00+00:00" in d
    assert "observed temp_c=9.1" in d and "expected temp_c=3.5" in d
    assert "Move 120 units of chilled stock" in d and "by 2026-03-02T10:00" in d


def test_one_firing_and_one_resolved_notification_per_incident(oncall):
    pager = AlertmanagerPager(oncall.url, resend_s=0.5)
    pager.setup()
    opened, resolved = _open_and_resolve()
    iid = opened.incident.incident_id
    pager.add([opened], [])
    pager.flush()
    assert wait_for(lambda: oncall.receiver.notifications(iid) == [("firing", iid)])
    for _ in range(4):  # re-sends keep it alive and page nobody again
        time.sleep(0.6)
        pager.flush()
    assert oncall.receiver.notifications(iid) == [("firing", iid)]
    pager.add([resolved], [])
    pager.flush()
    assert wait_for(lambda: len(oncall.receiver.notifications(iid)) == 2)
    time.sleep(2.5)
    assert oncall.receiver.notifications(iid) == [("firing", iid), ("resolved", iid)]


def test_a_restarted_pager_adopts_open_incidents_without_paging_again(oncall):
    opened, resolved = _open_and_resolve()
    iid = opened.incident.incident_id
    first = AlertmanagerPager(oncall.url, resend_s=0.0)
    first.setup()
    first.add([opened], [])
    first.flush()
    assert wait_for(lambda: oncall.receiver.notifications(iid) == [("firing", iid)])
    # the worker dies; a new one restores the open incident from its checkpoint
    second = AlertmanagerPager(oncall.url, resend_s=0.0)
    second.setup()
    second.restore([opened.record()])
    second.flush()
    time.sleep(2.5)
    assert oncall.receiver.notifications(iid) == [("firing", iid)]
    second.add([resolved], [])
    second.flush()
    assert wait_for(lambda: oncall.receiver.notifications(iid) == [("firing", iid), ("resolved", iid)])


def test_info_incidents_are_not_paged_and_unreachable_alertmanager_keeps_alerts():
    from connectors.broker import free_port

    book = IncidentBook()
    info = [book.observe("demand_spike", "S1:MILK", T.replace(minute=m), True, site="S1", severity="info")
            for m in range(2)]
    pager = AlertmanagerPager(f"http://127.0.0.1:{free_port()}", max_retries=0, timeout_s=0.5)
    pager.setup()
    pager.add([c for c in info if c], [])
    assert not pager.due()
    opened, _ = _open_and_resolve()
    pager.add([opened], [])
    with pytest.raises(SinkError, match="unreachable"):
        pager.flush()
    assert pager.due()  # kept for the next try


def test_url_is_checked():
    with pytest.raises(ValueError, match="url must be an http"):
        AlertmanagerPager("alertmanager:9093")
