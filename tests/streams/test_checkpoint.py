"""Checkpoints: the small state every batch, the detectors when due, both restored together."""

from __future__ import annotations

from streams.checkpoint import Checkpoint
from streams.core import OperationsCore
from tests.flows import fridge, normal_fridge_day, run_flow


def test_restore_gives_back_incidents_offsets_and_detectors(tmp_path):
    docs = normal_fridge_day(240) + [fridge(240 + i, 4.0 + 0.5 * i) for i in range(20)]
    _, core = run_flow(docs)
    cp = Checkpoint(tmp_path / "w.checkpoint", detectors_every_s=3600)
    cp.save_core(core)
    fresh = OperationsCore()
    assert Checkpoint(tmp_path / "w.checkpoint").restore_core(fresh)
    assert fresh.offsets == core.offsets
    assert fresh.incidents.get("cold_chain_excursion", "F1") is not None
    assert fresh.detectors.detectors.keys() == core.detectors.detectors.keys()
    x = {"value": 4.2, "ts": 1.7e9}
    key = next(iter(core.detectors.detectors))
    assert fresh.detectors.detectors[key].score_one(x) == core.detectors.detectors[key].score_one(x)


def test_detectors_are_saved_only_when_due_and_small_state_every_time(tmp_path):
    import pickle

    _, core = run_flow(normal_fridge_day(60))
    cp = Checkpoint(tmp_path / "w.checkpoint", detectors_every_s=3600)
    cp.save_core(core)
    first = pickle.dumps(core.detectors.detectors)
    run_flow(normal_fridge_day(70)[60:], core=core, start_offset=60)
    cp.save_core(core)
    assert pickle.dumps(core.detectors.detectors) != first
    fresh = OperationsCore()
    Checkpoint(tmp_path / "w.checkpoint").restore_core(fresh)
    assert pickle.dumps(fresh.detectors.detectors) == first  # not due yet
    assert max(fresh.offsets.values()) == 69  # the small state is always current


def test_no_checkpoint_means_a_fresh_start(tmp_path):
    assert not Checkpoint(tmp_path / "none").restore_core(OperationsCore())
