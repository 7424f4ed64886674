"""Incremental checkpoints: a restore always gives back exactly the state of the last save.

The property test runs random batches of a simulated business (fridges, vans, tills, stock counts,
shipments, disruptions, malformed messages, ids with ':' in them) through a core, ticks it (silent
devices and sites, evictions), saves, kills it (restore into a fresh core) or rolls it back (restore
in place) at random points, and checks that what comes back equals the state when it was saved:
every per-entity dict (open incidents and their counters, every watch's state, last seen), the
offsets and the detectors.
"""

from __future__ import annotations

import functools
import pickle
import sqlite3
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulators import Simulation, World, default_disruptions
from simulators.scenarios import SiteSilent
from streams.checkpoint import Checkpoint
from streams.core import OperationsCore
from streams.playbook import Playbook, StateConfig
from streams.records import RawMessage
from tests.flows import fridge, normal_fridge_day, run_flow

LIVE = datetime(2026, 3, 2, 13, 30, 15, tzinfo=UTC)
PLAYBOOK = Playbook(state=StateConfig(evict_after_h=1.0))  # idle for an hour: evicted


def _synthetic(start: datetime) -> list[tuple[datetime, str, dict]]:
    """Ids that trip naive key handling: ':' inside site and sku ids (two stock keys, one entity
    "a:b:c"), a fridge named like a site, entities that fall quiet and get evicted."""
    out = []
    for i in range(0, 240, 7):
        t = start + timedelta(minutes=i)
        ts = t.isoformat()
        out.append((t, "stock", {"kind": "stock_level", "site": "a:b", "sku": "c", "on_hand": 40 - i // 10,
                                 "lead_time_h": 12, "ts": ts, "lat": 51.0, "lon": 3.7, "cold_capacity_free": 5}))
        out.append((t, "stock", {"kind": "stock_level", "site": "a", "sku": "b:c", "on_hand": 5, "ts": ts}))
        out.append((t, "pos", {"kind": "pos_sale", "store": "a", "sku": "b:c", "quantity": 3, "unit_price": 1.0,
                               "ts": ts}))
        if i < 120:  # then it stops: silent, and later evicted
            out.append((t, "coldchain", {"kind": "cold_chain", "site": "x:1", "fridge": "wh-1", "ts": ts,
                                         "temp_c": 4.0 + (i % 5) / 10 + (6 if 60 < i < 100 else 0)}))
            out.append((t, "coldchain", {"kind": "cold_chain", "site": "x:1", "fridge": "x:1:f2", "ts": ts,
                                         "temp_c": 3.0}))
    return out


@functools.lru_cache(maxsize=1)
def _stream() -> tuple[tuple[RawMessage, ...], tuple[datetime, ...]]:
    world = World.generate(seed=3, stores=2, vehicles=2, fridges_per_site=2, skus=3)
    disruptions = default_disruptions(LIVE, timedelta(hours=3)) + [
        SiteSilent(start=LIVE + timedelta(minutes=40), end=LIVE + timedelta(minutes=80))]
    sim = Simulation(world, LIVE - timedelta(hours=1), seed=3, disruptions=disruptions, malformed_every=97,
                     live_start=LIVE)
    items = [(m.ts, m.topic, m.value) for m in sim.messages_between(sim.start, LIVE + timedelta(hours=4))]
    items += [(t, topic, orjson.dumps(doc)) for t, topic, doc in _synthetic(LIVE - timedelta(minutes=30))]
    items.sort(key=lambda x: x[0])
    offsets: dict[str, int] = {}
    out = []
    for _, topic, value in items:
        off = offsets[topic] = offsets.get(topic, -1) + 1
        out.append(RawMessage(value, f"opswatch.{topic}", 0, off, None))
    return tuple(out), tuple(t for t, _, _ in items)


def stream() -> tuple[RawMessage, ...]:
    """About five simulated hours of a small business, with disruptions, in time order."""
    return _stream()[0]


def _last_ts(start: int, end: int) -> datetime:
    """When the last of messages [start, end) was sent (simulated time)."""
    return _stream()[1][max(min(end, len(_stream()[1])) - 1, 0)]


def state(core: OperationsCore) -> dict:
    """What a checkpoint must give back, as a deep copy: every per-entity dict, offsets, detectors."""
    s = {name: dict(d) for name, d, _ in core.keyed_state()}
    s = pickle.loads(pickle.dumps(s))
    s["offsets"] = dict(core.offsets)
    s["detectors"] = {k: pickle.dumps(v) for k, v in core.detectors.detectors.items()}
    return s


def assert_same(got: dict, want: dict) -> None:
    assert got.keys() == want.keys()
    for name, entries in want.items():
        assert got[name].keys() == entries.keys(), name
        for k, v in entries.items():
            assert got[name][k] == v, (name, k)


def _fresh_core() -> OperationsCore:
    return OperationsCore(playbook=PLAYBOOK)


OPS = st.one_of(
    st.tuples(st.just("batch"), st.integers(1, 150), st.booleans()),  # n messages, save after?
    st.tuples(st.just("tick"), st.integers(0, 120), st.booleans()),  # minutes after the last event
    st.tuples(st.just("evict"), st.just(0), st.booleans()),  # a day later: the idle are forgotten
    st.tuples(st.just("crash"), st.just(0), st.just(False)),  # SIGKILL: restore into a fresh core
    st.tuples(st.just("rollback"), st.just(0), st.just(False)),  # restore in place (a failed batch)
)


def _check_bookkeeping(cp: Checkpoint) -> None:
    assert cp.resyncs == 0  # the core reported every change: the safety net never had to catch one
    seqs = [r[0] for r in cp.db.execute("SELECT seq FROM log ORDER BY seq")]
    assert seqs == [r[0] for r in cp._records]
    assert cp._stored == sum(len(r[1]) - r[2] for r in cp._records)
    assert cp._entries == sum(n for _, n in cp._live.values())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(OPS, min_size=3, max_size=40), clean_factor=st.sampled_from([1.0, 1.5, 2.0]))
def test_restore_gives_back_the_state_of_the_last_save(tmp_path_factory, ops, clean_factor):
    msgs = stream()
    path = tmp_path_factory.mktemp("cp") / "w.checkpoint"
    cp = Checkpoint(path, detectors_every_s=0, clean_factor=clean_factor)
    core = _fresh_core()
    cursor = saved_cursor = 0
    last_ts = LIVE - timedelta(hours=1)
    saved = None

    def save():
        nonlocal saved, saved_cursor
        cp.save_core(core)
        saved, saved_cursor = state(core), cursor
        _check_bookkeeping(cp)

    for op, n, do_save in ops:
        if op == "batch":
            batch = msgs[cursor:cursor + n]
            cursor += len(batch)
            last_ts = max(last_ts, _last_ts(cursor - len(batch), cursor))
            core.process(batch)
        elif op in ("tick", "evict"):
            core.tick(last_ts + (timedelta(minutes=n) if op == "tick" else timedelta(hours=25)))
        elif saved is not None:  # crash or rollback, to the last save
            if op == "crash":
                cp.close()
                cp, core = Checkpoint(path, detectors_every_s=0, clean_factor=clean_factor), _fresh_core()
            assert cp.restore_core(core)
            assert_same(state(core), saved)
            cursor = saved_cursor  # Kafka delivers again what the last save did not cover
        if do_save:
            save()
    save()
    fresh = _fresh_core()
    again = Checkpoint(path)
    assert again.restore_core(fresh)
    assert_same(state(fresh), saved)
    # and the restored core carries on exactly as the saved one does
    rest = msgs[cursor:cursor + 300]
    a, b = core.process(rest), fresh.process(rest)
    assert sorted(orjson.dumps(c.record()) for c in a.incidents) == \
        sorted(orjson.dumps(c.record()) for c in b.incidents)
    assert (a.processed, len(a.points), len(a.recommendations)) == (b.processed, len(b.points),
                                                                     len(b.recommendations))
    assert_same(state(fresh), state(core))


def test_the_property_run_reaches_what_it_means_to_test():
    """The stream behind the property test has incidents of every kind, site silence, evictions and
    keys with ':' in them, or the test proves less than it says."""
    core = _fresh_core()
    kinds = set()
    msgs = stream()
    last = LIVE
    for i in range(0, len(msgs), 100):
        batch = msgs[i:i + 100]
        out = core.process(batch)
        last = max(last, _last_ts(i, i + 100))
        out.extend(core.tick(last + timedelta(minutes=2)))
        kinds |= {c.incident.kind for c in out.incidents}
    assert {"cold_chain_excursion", "vehicle_stopped", "stockout_risk", "supplier_late", "device_silent",
            "site_silent"} <= kinds
    assert core.evicted > 0
    assert {("a:b", "c"), ("a", "b:c")} <= core.ops.inventory.stock.keys()


def test_every_piece_of_state_is_declared_per_entity():
    """What the checkpoint does not save is configuration: after a day's run, every attribute of the
    stateful parts outside their ``keyed_state`` is as a fresh core has it."""
    core, fresh = _fresh_core(), _fresh_core()
    msgs = stream()
    for i in range(0, len(msgs), 200):
        core.process(msgs[i:i + 200])
        core.tick(LIVE + timedelta(minutes=i // 10))
    for (name, part), (_, part0) in zip(core._stateful(), fresh._stateful(), strict=True):
        keyed = {attr for attr, _ in part.keyed_state}
        assert all(isinstance(getattr(part, a), dict) for a in keyed), name
        for attr, value in vars(part).items():
            if attr not in keyed:
                assert value == getattr(part0, attr), f"{name}.{attr} changes but is not saved"
    assert {attr for attr in vars(core.detectors)} == {"factory", "threshold", "detectors"}


# -- cost: what a save writes follows what the batch touched --------------------------------------

def _fridges(n: int, minute: int) -> list[dict]:
    return [fridge(minute, 4.0 + (f % 7) / 10, f"F{f}", f"S{f % 50}") for f in range(n)]


@pytest.mark.parametrize("entities", [200, 5000])
def test_a_save_writes_what_the_batch_touched_not_what_the_core_knows(tmp_path, entities):
    docs = _fridges(entities, 0) + _fridges(entities, 1)
    _, core = run_flow(docs, batch=1000)
    cp = Checkpoint(tmp_path / "w.checkpoint", detectors_every_s=3600)
    cp.save_core(core)
    sizes = []
    for minute in range(2, 8):  # the same 50 fridges each batch
        run_flow(_fridges(50, minute), core=core, start_offset=len(docs) + 50 * minute)
        cp.save_core(core)
        sizes.append(cp.last_bytes)
        # the 50 fridges (and their sites), and at most twice as many cold ones carried forward
        assert len(cp._records[-1][1]) <= 3 * 50
    assert max(sizes) < 25_000, sizes  # ~150 bytes a fridge, whether the core knows 200 or 5,000
    fresh = OperationsCore()
    assert Checkpoint(tmp_path / "w.checkpoint").restore_core(fresh)
    assert_same({k: v for k, v in state(fresh).items() if k != "detectors"},
                {k: v for k, v in state(core).items() if k != "detectors"})


def test_the_log_stays_about_twice_the_live_state(tmp_path):
    _, core = run_flow(_fridges(300, 0), batch=300)
    cp = Checkpoint(tmp_path / "w.checkpoint", detectors_every_s=3600)
    cp.save_core(core)
    for minute in range(1, 200):  # a few hot fridges, the rest cold: the cold ones are carried forward
        docs = [fridge(minute, 4.0, f"F{f}", "S1") for f in range(minute % 7, 300, 37)]
        run_flow(docs, core=core, start_offset=1000 * minute)
        cp.save_core(core)
        # a pass over the log carries each live bundle forward at most once and writes half as many
        # new ones as it passes: the log converges to twice the live state and never tops three times
        assert cp._stored <= 3 * len(cp._live) + 3 * len(docs)
    assert cp._stored <= 2.2 * len(cp._live)
    assert cp.db.execute("SELECT count(*) FROM log").fetchone()[0] == len(cp._records) < 60
    fresh = OperationsCore()
    assert Checkpoint(tmp_path / "w.checkpoint").restore_core(fresh)
    assert fresh.ops.coldchain.fridges == core.ops.coldchain.fridges


# -- detectors: paced, evictions at once ----------------------------------------------------------

class FakeClock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


def _saved_detectors(path) -> dict:
    with sqlite3.connect(path) as db:
        return {(e, m): blob for e, m, blob in db.execute("SELECT entity, metric, blob FROM detectors")}


def test_detectors_are_written_paced_and_never_later_than_every_s(tmp_path):
    clock = FakeClock()
    docs = _fridges(100, 0)
    _, core = run_flow(docs, batch=100)
    cp = Checkpoint(tmp_path / "w.checkpoint", detectors_every_s=30, clock=clock)
    cp.save_core(core)  # the first save writes everything
    assert len(_saved_detectors(cp.path)) == 100
    changed_at = {}
    written = []
    for step in range(1, 61):  # every fridge reports every second, a save every second
        clock.t += 1
        run_flow(_fridges(100, step), core=core, batch=100, start_offset=100 * step)
        before = _saved_detectors(cp.path)
        for f in range(100):
            changed_at.setdefault(f"F{f}", clock.t)
        cp.save_core(core)
        after = _saved_detectors(cp.path)
        fresh = [k for k in after if after[k] != before.get(k)]
        written.append(len(fresh))
        for e, _ in fresh:
            assert clock.t - changed_at.pop(e) < 30 + 1e-9  # never later than every_s after its change
        for e, since in changed_at.items():
            assert clock.t - since < 30, e
    assert max(written[5:]) <= 12  # about 100 / 30 a second, not all 100 at once
    assert sum(written) >= 150  # each fridge about every 30 s


def test_a_flush_writes_every_pending_detector_at_once(tmp_path):
    """A clean shutdown writes the paced detectors now: the restarted worker relearns nothing."""
    clock = FakeClock()
    _, core = run_flow(_fridges(100, 0), batch=100)
    cp = Checkpoint(tmp_path / "w.checkpoint", detectors_every_s=30, clock=clock)
    cp.save_core(core)
    for step in range(1, 4):
        clock.t += 1
        run_flow(_fridges(100, step), core=core, batch=100, start_offset=100 * step)
        cp.save_core(core)
    live = {k: pickle.dumps(d, pickle.HIGHEST_PROTOCOL) for k, d in core.detectors.detectors.items()}
    assert sum(_saved_detectors(cp.path)[k] != v for k, v in live.items()) > 50  # most still pending
    cp.save_core(core, flush_detectors=True)
    assert _saved_detectors(cp.path) == live


def test_evicted_detectors_are_deleted_at_once(tmp_path):
    docs = normal_fridge_day(60, "F1") + normal_fridge_day(60, "F2")
    _, core = run_flow(docs)
    cp = Checkpoint(tmp_path / "w.checkpoint", detectors_every_s=3600)
    cp.save_core(core)
    assert {e for e, _ in _saved_detectors(cp.path)} == {"F1", "F2"}
    core.tick(datetime.fromisoformat(fridge(60, 4)["ts"]) + timedelta(days=30))
    assert not core.detectors.detectors
    cp.save_core(core)
    assert _saved_detectors(cp.path) == {}
    fresh = OperationsCore()
    assert Checkpoint(cp.path).restore_core(fresh)
    assert not fresh.last_seen and not fresh.ops.coldchain.fridges and not fresh.detectors.detectors


# -- failures and formats -------------------------------------------------------------------------

def test_a_failed_save_is_written_by_the_next(tmp_path, monkeypatch):
    _, core = run_flow(normal_fridge_day(30))
    cp = Checkpoint(tmp_path / "w.checkpoint", detectors_every_s=0)
    cp.save_core(core)
    run_flow([fridge(30 + i, 9.0 + i) for i in range(10)], core=core, start_offset=30)
    real = cp._db
    db = cp.db

    class Failing:
        def execute(self, sql, *a):
            if sql == "COMMIT":
                raise sqlite3.OperationalError("disk I/O error")
            return db.execute(sql, *a)

        def executemany(self, *a):
            return db.executemany(*a)

    cp._db = Failing()
    with pytest.raises(sqlite3.OperationalError):
        cp.save_core(core)
    cp._db = real
    fresh = OperationsCore()
    assert Checkpoint(cp.path).restore_core(fresh)
    assert max(fresh.offsets.values()) == 29  # the failed save left nothing behind
    cp.save_core(core)  # nothing new happened since, yet this writes what the failed save could not
    fresh = OperationsCore()
    assert Checkpoint(cp.path).restore_core(fresh)
    assert_same(state(fresh), state(core))


def test_a_checkpoint_of_the_old_format_is_moved_aside(tmp_path):
    path = tmp_path / "w.checkpoint"
    path.write_bytes(pickle.dumps(("an", "old", "checkpoint")))
    core = OperationsCore()
    cp = Checkpoint(path)
    assert not cp.restore_core(core)
    assert (tmp_path / "w.checkpoint.old").exists()
    run_flow(normal_fridge_day(5), core=core)
    cp.save_core(core)
    assert Checkpoint(path).restore_core(OperationsCore())


def test_a_checkpoint_written_for_another_core_starts_afresh(tmp_path):
    path = tmp_path / "w.checkpoint"
    _, first = run_flow(normal_fridge_day(30, "F1"))
    Checkpoint(path).save_core(first)
    _, second = run_flow(normal_fridge_day(30, "F2"))
    Checkpoint(path).save_core(second)  # not restored from it: replaces what is there
    fresh = OperationsCore()
    assert Checkpoint(path).restore_core(fresh)
    assert set(fresh.last_seen) == {"F2"} and {e for e, _ in fresh.detectors.detectors} == {"F2"}


def test_restore_in_place_keeps_the_watches_the_core_routes_to(tmp_path):
    """A restore fills the core's own dicts: events after it reach the restored state."""
    _, core = run_flow(normal_fridge_day(30))
    cp = Checkpoint(tmp_path / "w.checkpoint")
    cp.save_core(core)
    fresh = OperationsCore()
    fridges = fresh.ops.coldchain.fridges
    assert Checkpoint(cp.path).restore_core(fresh)
    assert fresh.ops.coldchain.fridges is fridges and "F1" in fridges
    fresh.restore(core.snapshot())
    assert fresh.ops.coldchain.fridges is fridges and "F1" in fridges


def test_plain_dataclasses_pickle_fast_and_exactly_others_as_usual():
    from dataclasses import dataclass, field

    from streams.checkpoint import _plain_reducer

    @dataclass(slots=True)
    class Slotted:
        a: int
        b: list = field(default_factory=list)

    @dataclass(frozen=True)
    class Frozen:
        a: int

    @dataclass
    class Custom:
        a: int

        def __getstate__(self):
            return {"a": self.a}

    for obj in (Slotted(1, [2]), Frozen(3)):
        reduce = _plain_reducer(type(obj))
        fn, args = reduce(obj)
        assert fn(*args) == obj
    assert _plain_reducer(Custom) is None and _plain_reducer(int) is None

    @dataclass
    class Plain:
        a: int

    extra = Plain(1)
    extra.note = "not a field"  # more than its fields: pickled the usual way, with it
    fn, args, *rest = _plain_reducer(Plain)(extra)
    assert fn is not None and rest[0]["note"] == "not a field"
