"""Checkpoints of the core's state, so a restarted worker resumes where it stopped.

The worker saves the core's state after every batch, before the batch's offsets are acked: the
incidents, the watches and the last input offset processed per partition, every batch, in one
transaction; the detectors (the bulk of the bytes) within ``detectors_every_s`` seconds of their
change. A restored detector may have missed the last seconds of samples, which does not matter to a
detector; incidents and offsets are never behind. A worker killed at any moment restarts from its
last checkpoint; messages Kafka delivers again that the checkpoint already covers are skipped by
offset, so no event is counted twice and an open incident stays open (and is not paged again).

Saves are incremental, so a batch costs what it touched, not what the worker knows. The core's
state is per entity (a fridge, a vehicle, ``site:sku``, a shipment, a site): every stateful part
declares its dicts keyed by entity (``keyed_state``), and the core records which entities a batch
or a tick touched (``OperationsCore.take_changes``). The checkpoint is one SQLite database (WAL, one
transaction per save, so a save is atomic):

- ``log``: the small state as a log of records, one per save: the entities that changed and all
  their dict entries (an entity listed without entries is gone), which replace what earlier
  records held for them. Replaying the records in order gives the state. Records are cleaned
  oldest first: once the log holds ``clean_factor`` times the live entities, a save also re-writes
  the still-current entities of the oldest records (at most ``clean_factor`` times as many as
  changed) and deletes the records it has passed, so the log stays about twice the live state and
  every save is one sequential append (re-writing random rows of a table re-writes most of its pages).
- ``detectors``: one row per (entity, metric), re-written only when its detector has changed, and
  at the latest ``detectors_every_s`` seconds after; the writes are paced over that interval
  (oldest change first), so a worker with 100,000 fridges writes a share of its detectors every
  batch instead of stalling on all of them at once. Evicted detectors are deleted at once.
- ``meta``: the offsets, every save.

As a safety net every save checks that what the checkpoint holds has as many entries as the core's
dicts; a mismatch (a new incident kind or metric, or an unrecorded change) re-writes what differs.
Plain dataclasses among the saved values (the watches' per-entity states, heartbeats, incidents)
are pickled as their field values, about twice as fast as pickle's default (``_plain_reducer``,
registered with ``copyreg`` for the process once the checkpoint meets the class).

State is per worker (``OPSWATCH_WORKER__DATA_DIR``): give each worker its own persistent volume
(the Kubernetes StatefulSet does).
"""

from __future__ import annotations

import copyreg
import dataclasses
import gc
import itertools
import logging
import math
import operator
import pickle
import sqlite3
import time
from collections import Counter, deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger("opswatch.checkpoint")

FORMAT = 2
_P = pickle.HIGHEST_PROTOCOL

#: the key forms a component's ``keyed_state`` may declare, by how a key names its entity
ENTITY = "entity"  # the key is the entity (or site) itself
JOINED = "site:sku"  # (a, b) for the entity f"{a}:{b}"
ENTITY_FIRST = "entity,*"  # (entity, part), the parts few (metrics)
ENTITY_SECOND = "*,entity"  # (part, entity), the parts few (incident kinds)
FORMS = (ENTITY, JOINED, ENTITY_FIRST, ENTITY_SECOND)


class Keyed:
    """One dict of per-entity state: finds the keys that belong to an entity without a scan."""

    __slots__ = ("form", "name", "parts")

    def __init__(self, name: str, form: str, parts: set | None = None):
        if form not in FORMS:
            raise ValueError(f"{name}: unknown key form {form!r}; one of {FORMS}")
        self.name, self.form = name, FORMS[FORMS.index(form)]  # the constant itself: compared by identity
        self.parts: set = set(parts or ())  # the parts seen so far of the pair forms

    def keys(self, entity: str, d: dict) -> list:
        form = self.form
        if form is ENTITY:
            return [entity] if entity in d else []
        if form is ENTITY_SECOND:
            return [k for p in self.parts if (k := (p, entity)) in d]
        if form is ENTITY_FIRST:
            return [k for p in self.parts if (k := (entity, p)) in d]
        out = []  # JOINED: an id may hold ':' too, so every split is a candidate
        i = entity.find(":")
        while i >= 0:
            if (k := (entity[:i], entity[i + 1:])) in d:
                out.append(k)
            i = entity.find(":", i + 1)
        return out

    def counts(self, entities, d: dict) -> dict[str, int]:
        """How many keys of ``d`` each of ``entities`` has (a pair form's few parts probed)."""
        parts = tuple(self.parts)
        if self.form is ENTITY_FIRST and len(parts) == 1:
            p = parts[0]
            return {e: 1 if (e, p) in d else 0 for e in entities}
        if self.form is ENTITY_FIRST:
            return {e: sum((e, p) in d for p in parts) for e in entities}
        return {e: len(self.keys(e, d)) for e in entities}

    def entity(self, key: Any) -> str:
        form = self.form
        if form is ENTITY:
            return key
        if form is ENTITY_SECOND:
            return key[1]
        if form is ENTITY_FIRST:
            return key[0]
        return f"{key[0]}:{key[1]}"

    def learn(self, d: dict) -> set[str]:
        """Learn the parts of the pair forms in ``d``; return the entities of keys with new parts."""
        if self.form not in (ENTITY_FIRST, ENTITY_SECOND):
            return set()
        i = 1 if self.form is ENTITY_FIRST else 0
        new = {k[i] for k in d} - self.parts
        if not new:
            return set()
        self.parts |= new
        return {self.entity(k) for k in d if k[i] in new}


def _rebuild(cls: type, names: tuple[str, ...], values: tuple):
    """Unpickle what ``_plain_reducer`` saved: the fields set by name, as a default unpickle does."""
    obj = cls.__new__(cls)
    for name, value in zip(names, values):
        object.__setattr__(obj, name, value)
    return obj


def _plain_reducer(cls: type):
    """A pickle reducer for a plain dataclass, saving (class, field names, values), about twice as
    fast as the default, which builds a state dict for every object; None for any other class."""
    if not dataclasses.is_dataclass(cls) or type(cls) is not type or cls in copyreg.dispatch_table:
        return None
    if any(getattr(cls, m, None) is not getattr(object, m, None) for m in
           ("__reduce__", "__reduce_ex__", "__getstate__", "__setstate__", "__getnewargs__", "__getnewargs_ex__")):
        return None  # it pickles its own way
    names = tuple(f.name for f in dataclasses.fields(cls))
    slots = {s for c in cls.__mro__ for s in c.__dict__.get("__slots__", ())} - {"__dict__", "__weakref__"}
    if not names or not slots <= set(names):
        return None
    getter = operator.attrgetter(*names)
    one = len(names) == 1

    def reduce(obj):
        d = getattr(obj, "__dict__", None)
        if d is None or len(d) == len(names):
            try:
                values = getter(obj)
                return _rebuild, (cls, names, (values,) if one else values)
            except AttributeError:
                pass
        return object.__reduce_ex__(obj, _P)  # more, or less, than its fields: pickled as usual
    return reduce


_registered: set[type] = set()


def _register_plain(values) -> None:
    """Pickle the plain dataclasses among ``values`` the fast way (for the whole process: copyreg)."""
    for v in values:
        cls = type(v)
        if cls not in _registered:
            _registered.add(cls)
            reducer = _plain_reducer(cls)
            if reducer is not None:
                copyreg.pickle(cls, reducer)


def _connect(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    for attempt in (1, 2):
        db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")  # a commit is on disk, as the fsync of old was
            db.execute("PRAGMA journal_size_limit=67108864")  # a big first save leaves no big WAL behind
            db.executescript("""
                CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value BLOB);
                CREATE TABLE IF NOT EXISTS log (seq INTEGER PRIMARY KEY, blob BLOB NOT NULL);
                CREATE TABLE IF NOT EXISTS detectors (entity TEXT NOT NULL, metric TEXT NOT NULL,
                                                      blob BLOB NOT NULL, PRIMARY KEY (entity, metric));
            """)
            row = db.execute("SELECT value FROM meta WHERE name = 'format'").fetchone()
            if row is None:
                db.execute("INSERT INTO meta VALUES ('format', ?)", (FORMAT,))
            elif row[0] != FORMAT:
                raise sqlite3.DatabaseError(f"checkpoint format {row[0]}, not {FORMAT}")
            return db
        except sqlite3.DatabaseError as exc:
            db.close()
            if attempt == 2:
                raise
            # a checkpoint of another format (the single-pickle files of old): keep it aside, start afresh
            aside = path.with_name(path.name + ".old")
            log.warning("%s is not a checkpoint of this version (%s); moved to %s, starting afresh",
                        path, exc, aside)
            path.replace(aside)
            for suffix in ("-wal", "-shm"):
                path.with_name(path.name + suffix).unlink(missing_ok=True)
    raise AssertionError("unreachable")


class Checkpoint:
    def __init__(self, path: Path | str, detectors_every_s: float = 30.0, clean_factor: float = 2.0,
                 clock: Callable[[], float] = time.monotonic):
        self.path = Path(path)
        self.clock = clock
        self.detectors_every_s = detectors_every_s
        self.clean_factor = clean_factor
        self.saves = 0
        self.last_bytes = 0  # bytes the last save wrote
        self.resyncs = 0  # saves that found changes the core had not reported (should stay 0)
        self.learned = 0  # saves that met a new incident kind or metric (and looked for its keys)
        self._db: sqlite3.Connection | None = None
        self._core = None  # the core whose changes this checkpoint follows
        self._reset()

    # -- bookkeeping of what the database holds -------------------------------------------------
    def _reset(self) -> None:
        self._keyed: dict[str, Keyed] = {}
        self._seq = 0
        self._live: dict[str, tuple[int, int]] = {}  # entity -> (seq of its current bundle, entries)
        self._entries = 0  # dict entries the current bundles hold
        self._records: deque[list] = deque()  # [seq, entities, cursor], oldest first
        self._stored = 0  # bundles in the records past their cursors, current or not
        self._det_keyed = Keyed("detectors", ENTITY_FIRST)
        self._det_n: dict[str, int] = {}  # entity -> its detectors, as last seen
        self._det_entries = 0
        self._pending: dict[str, float] = {}  # entity -> when its detectors changed unsaved (oldest first)
        self._buckets: dict[int, int] = {}  # pending entities by when they changed, in 1/32 of every_s
        self._det_credit = 0.0
        self._det_saved_at: float | None = None

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            self._db = _connect(self.path)
        return self._db

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def _specs(self, core) -> list[tuple[Keyed, dict]]:
        out = []
        for name, d, form in core.keyed_state():
            k = self._keyed.get(name)
            if k is None:
                k = self._keyed[name] = Keyed(name, form, core.known_parts(name))
            out.append((k, d))
        return out

    @staticmethod
    def _items(specs: list[tuple[Keyed, dict]], ents: set[str]) -> tuple[dict, Counter]:
        """The entries of ``ents``: {dict name: (form, {key: value})}, and how many each entity has.

        A dict keyed by pairs is probed with each of its parts, or scanned if that is cheaper (the
        incident book, usually small).
        """
        items: dict[str, tuple[str, dict]] = {}
        counts: Counter = Counter()
        for k, d in specs:
            if not d:
                continue
            form = k.form
            if form is ENTITY:
                sub = {e: d[e] for e in ents if e in d}
                counts.update(iter(sub))
            else:
                probes = len(ents) * (len(k.parts) if form is not JOINED else 1)
                if len(d) <= probes:
                    if form is ENTITY_SECOND:
                        sub = {key: v for key, v in d.items() if key[1] in ents}
                    elif form is ENTITY_FIRST:
                        sub = {key: v for key, v in d.items() if key[0] in ents}
                    else:
                        sub = {key: v for key, v in d.items() if f"{key[0]}:{key[1]}" in ents}
                else:
                    sub = {key: d[key] for e in ents if form is not JOINED or ":" in e for key in k.keys(e, d)}
                counts.update(k.entity(key) for key in sub)
            if sub:
                items[k.name] = (form, sub)
                _register_plain(itertools.islice(sub.values(), 1))  # a dict's values are of one class
        return items, counts

    # -- save -----------------------------------------------------------------------------------
    def save_core(self, core, *, flush_detectors: bool = False) -> None:
        """Save after a batch: what it changed, in one transaction with the offsets.

        ``flush_detectors``: write every changed detector now rather than paced (a clean shutdown).
        """
        now = self.clock()
        fresh = self._core is not core
        if fresh:  # a core this checkpoint has not restored: write all of it, in place of what is there
            self._reset()
            core.track_changes()
            dirty = core.all_entities()
            dirty_det = {e for e, _ in core.detectors.detectors}
            core.take_changes()
        else:
            dirty, dirty_det = core.take_changes()
        try:
            self._save(core, dirty, dirty_det, now, fresh, flush_detectors)
        except BaseException:
            if fresh:
                self._reset()
                self._core = None
            else:  # nothing of it was recorded: the next save writes it
                core.untake_changes(dirty, dirty_det)
            raise
        self._core = core
        self.saves += 1

    def _save(self, core, dirty: set[str], dirty_det: set[str], now: float, fresh: bool,
              flush_detectors: bool = False) -> None:
        specs = self._specs(core)
        live = self._live
        ents = set(dirty)
        # clean the oldest records once the log holds clean_factor x the current bundles: re-write the
        # current ones of them, drop a record once passed (at most clean_factor x what this save writes)
        excess = self._stored + len(dirty) - self.clean_factor * len(live)
        budget = min(math.ceil(excess), math.ceil(self.clean_factor * len(dirty))) if excess > 0 else 0
        cursors: list[tuple[list, int]] = []
        dropped = 0
        for rec in self._records:
            if budget <= 0:
                break
            seq, names, cur = rec
            end = min(len(names), cur + budget)
            for e in names[cur:end]:
                lv = live.get(e)
                if lv is not None and lv[0] == seq:
                    ents.add(e)
            budget -= end - cur
            cursors.append((rec, end))
            if end < len(names):
                break
            dropped += 1
        items, counts = self._items(specs, ents)
        # the safety net: the checkpoint must hold as many entries as the core's dicts
        entries = self._entries + sum(counts.values()) - sum(live[e][1] for e in ents if e in live)
        if entries != sum(len(d) for _, d in specs):
            extra = set().union(*(k.learn(d) for k, d in specs))
            self.learned += bool(extra)
            if not extra:
                self.resyncs += 1
                log.error("checkpoint: the core changed entries it did not report; re-writing all of them")
                extra = core.all_entities()
            else:
                log.info("checkpoint: new keys of %d entities (new incident kinds?)", len(extra))
            ents |= extra
            items, counts = self._items(specs, ents)
        written_ents = [e for e in ents if e in counts or e in live]  # a tombstone only over a bundle held
        det_writes, det_deletes, det_changes = self._detectors_due(core, dirty_det, now, fresh or flush_detectors)

        seq = self._seq + 1
        db = self.db
        written = 0
        db.execute("BEGIN IMMEDIATE")
        try:
            if fresh:
                db.execute("DELETE FROM log")
                db.execute("DELETE FROM detectors")
            if written_ents:
                blob = pickle.dumps((written_ents, items), _P)
                written += len(blob)
                db.execute("INSERT INTO log VALUES (?, ?)", (seq, blob))
            if dropped:
                db.execute("DELETE FROM log WHERE seq <= ?", (self._records[dropped - 1][0],))
            offsets = pickle.dumps(core.offsets, _P)
            written += len(offsets)
            db.execute("INSERT OR REPLACE INTO meta VALUES ('offsets', ?)", (offsets,))
            if det_deletes:
                db.executemany("DELETE FROM detectors WHERE entity = ? AND metric = ?", det_deletes)
            if det_writes:
                written += sum(len(r[2]) for r in det_writes)
                db.executemany("INSERT INTO detectors VALUES (?, ?, ?) ON CONFLICT (entity, metric) "
                               "DO UPDATE SET blob = excluded.blob", det_writes)
            db.execute("COMMIT")
        except BaseException:
            try:
                db.execute("ROLLBACK")
            except sqlite3.Error:  # SQLite rolled it back itself (disk full, I/O error)
                pass
            raise
        # committed: now the bookkeeping follows
        self.last_bytes = written
        for rec, end in cursors:
            self._stored -= end - rec[2]
            rec[2] = end
        for _ in range(dropped):
            self._records.popleft()
        if written_ents:
            self._seq = seq
            self._records.append([seq, written_ents, 0])
            self._stored += len(written_ents)
            for e in written_ents:
                old = live.pop(e, None)
                if old:
                    self._entries -= old[1]
                n = counts.get(e)
                if n:
                    live[e] = (seq, n)
                    self._entries += n
        det_changes()

    def _bucket(self, since: float) -> int:
        return int(since // (self.detectors_every_s / 32))

    def _unpend(self, e: str) -> None:
        b = self._bucket(self._pending.pop(e))
        if self._buckets[b] == 1:
            del self._buckets[b]
        else:
            self._buckets[b] -= 1

    def _detectors_due(self, core, dirty_det: set[str], now: float, fresh: bool):
        """The detector rows this save writes and deletes, and a callable recording them once committed.

        An entity's detectors are written at the latest ``detectors_every_s`` after they changed. To
        spread the writes, each save writes, oldest change first, its share at the least steady rate
        that meets every such deadline (the changes counted in 32 buckets of time), rather than all
        at once when they fall due: 100,000 fridges changing together are written over 30 s.
        """
        dets = core.detectors.detectors
        keyed, det_n, pending = self._det_keyed, self._det_n, self._pending
        counts = keyed.counts(dirty_det, dets)
        if self._det_entries + sum(n - det_n.get(e, 0) for e, n in counts.items()) != len(dets):
            new = keyed.learn(dets)  # a new metric: learn it and look at its entities again
            self.learned += bool(new)
            counts.update(keyed.counts(new, dets))
            if self._det_entries + sum(n - det_n.get(e, 0) for e, n in counts.items()) != len(dets):
                self.resyncs += 1
                log.error("checkpoint: detectors changed that were not reported; re-writing all of them")
                counts = keyed.counts({e for e, _ in dets} | det_n.keys(), dets)
        every = self.detectors_every_s
        paced = every > 0 and not fresh and self._det_saved_at is not None
        deletes: list[tuple[str, str]] = []
        gone = [e for e, n in counts.items() if n == 0 and (e in det_n or e in pending)]
        for e in gone:  # evicted: their rows go at once (on a failed save, they are gone again next time)
            deletes.extend((e, m) for m in keyed.parts)
            if e in pending:
                self._unpend(e)
        for e, n in counts.items():
            if n and e not in pending:  # kept on a failed save too: they have changed either way
                pending[e] = now
                if every > 0:
                    b = self._bucket(now)
                    self._buckets[b] = self._buckets.get(b, 0) + 1
        if paced:
            dt = max(now - self._det_saved_at, 1e-3)
            width, rate, waiting = every / 32, 0.0, 0
            for b in sorted(self._buckets):
                waiting += self._buckets[b]
                rate = max(rate, waiting / max(b * width + every - now, dt))
            credit = self._det_credit + rate * dt
            n_due = int(credit)
            credit -= n_due
        else:
            n_due, credit = len(pending), 0.0
        writes: list[tuple[str, str, bytes]] = []
        done: list[str] = []
        for i, (e, since) in enumerate(pending.items()):
            if i >= n_due and now - since < every:
                break
            keys = keyed.keys(e, dets)
            for key in keys:
                writes.append((e, key[1], pickle.dumps(dets[key], _P)))
            have = {key[1] for key in keys}
            deletes.extend((e, m) for m in keyed.parts if m not in have)
            done.append(e)

        def committed() -> None:
            for e, n in counts.items():
                self._det_entries += n - det_n.pop(e, 0)
                if n:
                    det_n[e] = n
            for e in done:
                if every > 0:
                    self._unpend(e)
                else:
                    del pending[e]
            self._det_credit = credit
            self._det_saved_at = now
        return writes, deletes, committed

    # -- restore --------------------------------------------------------------------------------
    def restore_core(self, core) -> bool:
        """Load the checkpoint into ``core`` (in place); False if there is none."""
        if not self.path.exists():
            return False
        db = self.db
        if db.execute("SELECT 1 FROM meta WHERE name = 'offsets'").fetchone() is None:
            return False
        collecting = gc.isenabled()
        gc.disable()  # unpickling creates millions of objects, none of them garbage: twice as fast
        try:
            self._restore(core, db)
        finally:
            if collecting:
                gc.enable()
        return True

    def _restore(self, core, db: sqlite3.Connection) -> None:
        self._reset()
        state: dict[str, dict] = {}  # dict name -> {key: value}
        owned: dict[str, list[tuple[str, Any]]] = {}  # entity -> its (dict name, key)
        for seq, blob in db.execute("SELECT seq, blob FROM log ORDER BY seq"):
            ents, items = pickle.loads(blob)
            for e in ents:  # their bundles are replaced by this record's
                for name, key in owned.pop(e, ()):
                    del state[name][key]
                self._live.pop(e, None)
            for name, (form, sub) in items.items():
                entity = Keyed(name, form).entity
                into = state.setdefault(name, {})
                for key, value in sub.items():
                    into[key] = value
                    owned.setdefault(entity(key), []).append((name, key))
            for e in ents:
                if e in owned:
                    self._live[e] = (seq, len(owned[e]))
            self._records.append([seq, ents, 0])
            self._stored += len(ents)
            self._seq = seq
        self._entries = sum(n for _, n in self._live.values())
        offsets = pickle.loads(db.execute("SELECT value FROM meta WHERE name = 'offsets'").fetchone()[0])
        detectors = {(e, m): pickle.loads(blob) for e, m, blob in db.execute("SELECT * FROM detectors")}
        core.load_state(((name, key, value) for name, sub in state.items() for key, value in sub.items()),
                        offsets, detectors)
        core.track_changes()
        core.take_changes()
        for k, d in self._specs(core):
            k.learn(d)
        self._det_keyed.learn(detectors)
        for e, _ in detectors:
            self._det_n[e] = self._det_n.get(e, 0) + 1
        self._det_entries = len(detectors)
        self._core = core
