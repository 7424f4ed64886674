"""A clean stop saves every detector; a stop in the middle of a batch leaves the last checkpoint."""

from __future__ import annotations

import asyncio
import pickle
import sqlite3

import orjson
import pytest

from connectors.filestore import LineProtocolFile
from streams.checkpoint import Checkpoint
from streams.core import OperationsCore
from streams.pipeline import BatchPipeline, ListOutbox
from streams.records import RawMessage
from tests.flows import fridge


class FakeClock:
    t = 1000.0

    def __call__(self):
        return self.t


def _batch(minute: int, offset0: int) -> list[RawMessage]:
    return [RawMessage(orjson.dumps(fridge(minute, 4.0 + f / 10, f"F{f}", "S1")), "t.coldchain", 0, offset0 + f)
            for f in range(50)]


def _saved(path) -> dict:
    with sqlite3.connect(path) as db:
        return {(e, m): blob for e, m, blob in db.execute("SELECT entity, metric, blob FROM detectors")}


def _pipeline(tmp_path, outbox=None) -> BatchPipeline:
    cp = Checkpoint(tmp_path / "w.checkpoint", detectors_every_s=30, clock=FakeClock())
    return BatchPipeline(OperationsCore(), LineProtocolFile(tmp_path / "m.lp"), outbox or ListOutbox(),
                         checkpoint=cp)


def test_a_clean_stop_writes_every_paced_detector(tmp_path):
    p = _pipeline(tmp_path)
    for minute in range(4):
        asyncio.run(p.handle(_batch(minute, 50 * minute)))
        p.checkpoint.clock.t += 1
    live = {k: pickle.dumps(d, pickle.HIGHEST_PROTOCOL) for k, d in p.core.detectors.detectors.items()}
    assert sum(_saved(p.checkpoint.path).get(k) != v for k, v in live.items()) > 25  # paced: most wait
    assert p.save_on_shutdown()
    assert _saved(p.checkpoint.path) == live


def test_a_stop_in_the_middle_of_a_batch_keeps_the_last_checkpoint(tmp_path):
    class BrokenOutbox(ListOutbox):
        fail = False

        async def send(self, topic, key, value):
            if self.fail:
                raise ConnectionError("the broker went away")
            await super().send(topic, key, value)

    outbox = BrokenOutbox()
    p = _pipeline(tmp_path, outbox)
    asyncio.run(p.handle(_batch(0, 0)))
    before = dict(p.core.offsets)
    outbox.fail = True
    bad = _batch(1, 50)
    bad[0] = RawMessage(b"not json", "t.coldchain", 0, 50)  # a dead letter to send: the send fails
    with pytest.raises(ConnectionError):
        asyncio.run(p.handle(bad))
    assert not p.save_on_shutdown()  # the core holds a batch whose outputs never left
    fresh = OperationsCore()
    assert Checkpoint(p.checkpoint.path).restore_core(fresh)
    assert fresh.offsets == before
    p.rollback()  # back to the checkpoint: consistent again, so a stop may save
    assert p.save_on_shutdown()
